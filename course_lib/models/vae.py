"""Variational autoencoder (VAE) for 8x8 digits, with an optional label condition (a conditional VAE).

Generative model: z ~ N(0, I), x | z ~ prod_i p(x_i | z), where each pixel is Bernoulli (binarised digits,
``data="digits2"``) or categorical over the 17 grey levels 0..16 (``data="digits17"``). Inference model:
q(z | x) = N(mu(x), diag(exp(logvar(x)))). Training maximises the evidence lower bound

    ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z))  <=  log p(x),

with the reparameterisation z = mu + exp(logvar / 2) * eps, eps ~ N(0, I).
Kingma and Welling, 2014, arXiv:1312.6114; Rezende et al., 2014, arXiv:1401.4082. The conditional version
feeds a one-hot label to the encoder and the decoder (Sohn et al., 2015). The importance-weighted estimate of
log p(x) is Burda et al., 2016, arXiv:1509.00519.

A VAE has no exact ``log_prob``: ``elbo(x)`` is a lower bound and ``importance_weighted_log_likelihood`` an
estimate (a stochastic lower bound that tightens as k grows).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.metrics import importance_weighted_log_likelihood, log_mean_exp  # noqa: F401 (re-exported)
from course_lib.nn import count_parameters  # noqa: F401 (re-exported)

_LOG_2PI = math.log(2 * math.pi)
NUM_LEVELS = 17  # grey levels 0..16 of scikit-learn's digits


# ---- the formulas of the VAE, as plain functions ----

def gaussian_kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in nats, summed over the last axis.

    mu, logvar: (..., d). Returns (...). Closed form: 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2).
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor | None = None,
                   generator: torch.Generator | None = None) -> Tensor:
    """z = mu + sigma * eps with sigma = exp(logvar / 2); eps ~ N(0, I) is drawn if not given.

    Gradients flow to mu and logvar because the randomness sits in eps. Shapes broadcast:
    mu, logvar (B, d) with eps (k, B, d) give k samples per example.
    """
    if eps is None:
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) summed over the last axis. z: (..., d) -> (...)."""
    return -0.5 * (z.pow(2) + _LOG_2PI).sum(-1)


def diagonal_normal_log_prob(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last axis; shapes broadcast. Returns (...)."""
    return -0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + _LOG_2PI).sum(-1)


# ---- networks ----

class GaussianEncoder(nn.Module):
    """MLP x (B, 64) [+ one-hot label] -> (mu, logvar), each (B, latent_dim)."""

    def __init__(self, in_dim: int, latent_dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 2 * latent_dim),
        )

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.net(h).chunk(2, dim=-1)
        return mu, logvar


class MLPDecoder(nn.Module):
    """MLP z (N, d) [+ one-hot label] -> logits (N, 64, out_per_pixel)."""

    def __init__(self, in_dim: int, out_per_pixel: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.out_per_pixel = out_per_pixel
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 64 * out_per_pixel),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(len(z), 64, self.out_per_pixel)


class ConvDecoder(nn.Module):
    """Small convolutional decoder: z -> MLP -> (C, 4, 4) -> transposed conv to 8x8 -> two 3x3 convs.

    The convolutions share weights across positions, which regularises a model trained on 1000 images
    better than a fully connected output layer. Returns logits (N, 64, out_per_pixel).
    """

    def __init__(self, in_dim: int, out_per_pixel: int, hidden: int, channels: int = 32,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.out_per_pixel, self.channels = out_per_pixel, channels
        self.fc = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, channels * 4 * 4), nn.ReLU(),
        )
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1), nn.ReLU(), nn.Dropout(dropout),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, out_per_pixel, 3, padding=1),
        )

    def forward(self, z: Tensor) -> Tensor:
        h = self.fc(z).view(len(z), self.channels, 4, 4)
        out = self.conv(h)  # (N, out_per_pixel, 8, 8)
        return out.flatten(2).transpose(1, 2)  # (N, 64, out_per_pixel)


# ---- the model ----

class VAE(nn.Module):
    """A VAE on flattened 8x8 digits; conditional on a label when ``num_classes > 0``.

    Args:
        data: ``"digits17"`` (x: LongTensor (B, 64) in 0..16, categorical decoder) or ``"digits2"``
            (x: float (B, 64) in {0, 1}, Bernoulli decoder).
        latent_dim: size of z.
        hidden: width of the encoder's and decoder's hidden layers.
        decoder: ``"mlp"`` or ``"conv"`` (see :class:`ConvDecoder`).
        dropout: dropout rate inside encoder and decoder (training only).
        channels: channels of the convolutional decoder.
        num_classes: 0 for a plain VAE; 10 for a conditional VAE on digit labels (then every method takes y).
        beta: weight of the KL term in ``loss`` (beta-VAE, Higgins et al., 2017); ``elbo`` always uses 1.
        kl_warmup_steps: the KL weight in ``loss`` grows linearly from 0 to ``beta`` over this many training
            steps (calls of ``loss`` in training mode), which keeps the decoder from ignoring z early on.
    """

    def __init__(self, data: Literal["digits17", "digits2"] = "digits17", latent_dim: int = 16,
                 hidden: int = 256, decoder: Literal["mlp", "conv"] = "mlp", dropout: float = 0.0,
                 channels: int = 32, num_classes: int = 0, beta: float = 1.0,
                 kl_warmup_steps: int = 0) -> None:
        super().__init__()
        if data not in ("digits17", "digits2"):
            raise ValueError(f"data must be 'digits17' or 'digits2', got {data!r}")
        self.data, self.latent_dim, self.num_classes = data, latent_dim, num_classes
        self.event_shape = (64,)
        self.beta, self.kl_warmup_steps = beta, kl_warmup_steps
        self.register_buffer("steps_taken", torch.zeros((), dtype=torch.long))
        out = NUM_LEVELS if data == "digits17" else 1
        self.encoder = GaussianEncoder(64 + num_classes, latent_dim, hidden, dropout)
        if decoder == "conv":
            self.decoder: nn.Module = ConvDecoder(latent_dim + num_classes, out, hidden, channels, dropout)
        elif decoder == "mlp":
            self.decoder = MLPDecoder(latent_dim + num_classes, out, hidden, dropout)
        else:
            raise ValueError(f"decoder must be 'mlp' or 'conv', got {decoder!r}")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- helpers --
    def _check(self, x: Tensor, y: Tensor | None) -> None:
        if x.dim() != 2 or x.shape[1:] != self.event_shape:
            raise ValueError(f"expected inputs of shape (B, 64), got {tuple(x.shape)}; "
                             "flatten 8x8 digits with x.view(len(x), -1)")
        if self.num_classes and y is None:
            raise ValueError("this is a conditional VAE: pass the labels y as well, e.g. model.elbo(x, y)")

    def _with_label(self, h: Tensor, y: Tensor | None) -> Tensor:
        """Append the one-hot label to h (..., n) if the model is conditional; y broadcasts over leading axes."""
        if not self.num_classes:
            return h
        onehot = F.one_hot(y.long(), self.num_classes).to(h.dtype)  # (B, C)
        return torch.cat([h, onehot.expand(*h.shape[:-1], self.num_classes)], dim=-1)

    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """q(z | x): x (B, 64) -> mu, logvar, each (B, latent_dim)."""
        self._check(x, y)
        h = x.float() / (NUM_LEVELS - 1) if self.data == "digits17" else x.float()
        return self.encoder(self._with_label(h, y))

    def decoder_logits(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z (..., d) -> logits (..., 64, 17) for digits17 or (..., 64) for digits2."""
        lead = z.shape[:-1]
        logits = self.decoder(self._with_label(z, y).reshape(-1, z.shape[-1] + self.num_classes))
        logits = logits.view(*lead, 64, -1)
        return logits.squeeze(-1) if self.data == "digits2" else logits

    def log_likelihood(self, x: Tensor, z: Tensor, y: Tensor | None = None) -> Tensor:
        """log p(x | z) in nats, summed over the 64 pixels. x (B, 64), z (..., B, d) -> (..., B)."""
        logits = self.decoder_logits(z, y)
        if self.data == "digits2":
            target = x.float().expand_as(logits)
            return -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
        log_p = F.log_softmax(logits, dim=-1)  # (..., B, 64, 17)
        index = x.long().unsqueeze(-1).expand(*logits.shape[:-1], 1)
        return log_p.gather(-1, index).squeeze(-1).sum(-1)

    # -- the interface --
    def elbo_terms(self, x: Tensor, y: Tensor | None = None) -> dict[str, Tensor]:
        """One-sample estimates of the two ELBO terms: ``reconstruction`` E_q log p(x|z) and ``kl``, each (B,)."""
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar)
        return {"reconstruction": self.log_likelihood(x, z, y),
                "kl": gaussian_kl_to_standard_normal(mu, logvar), "mu": mu, "logvar": logvar}

    def elbo(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """One-sample ELBO in nats per example, (B,). A lower bound on log p(x), not a log-probability."""
        terms = self.elbo_terms(x, y)
        return terms["reconstruction"] - terms["kl"]

    def kl_weight(self) -> float:
        """The KL weight ``loss`` uses now: beta, ramped up linearly during the warm-up steps."""
        if self.kl_warmup_steps <= 0:
            return self.beta
        return self.beta * min(1.0, (int(self.steps_taken) + 1) / self.kl_warmup_steps)

    def loss(self, x: Tensor, y: Tensor | None = None) -> dict[str, Tensor]:
        """Mean of -(reconstruction - weight * KL). In eval mode the weight is beta (no warm-up)."""
        terms = self.elbo_terms(x, y)
        weight = self.kl_weight() if self.training else self.beta
        if self.training:
            self.steps_taken += 1
        loss = -(terms["reconstruction"] - weight * terms["kl"]).mean()
        return {"loss": loss, "reconstruction": -terms["reconstruction"].mean().detach(),
                "kl": terms["kl"].mean().detach()}

    def log_weights(self, x: Tensor, k: int, y: Tensor | None = None,
                    generator: torch.Generator | None = None) -> Tensor:
        """log p(x, z_i) - log q(z_i | x) for k samples z_i ~ q(z | x). x (B, 64) -> (k, B)."""
        mu, logvar = self.encode(x, y)
        eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device)
        z = reparameterize(mu, logvar, eps)  # (k, B, d)
        log_q = diagonal_normal_log_prob(z, mu, logvar)
        return self.log_likelihood(x, z, y) + standard_normal_log_prob(z) - log_q

    @torch.no_grad()
    def decode_mean(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """The mean image E[x | z] (N, 64): grey levels in [0, 16] for digits17, probabilities for digits2."""
        logits = self.decoder_logits(z, y)
        if self.data == "digits2":
            return torch.sigmoid(logits)
        levels = torch.arange(NUM_LEVELS, device=logits.device, dtype=logits.dtype)
        return (F.softmax(logits, -1) * levels).sum(-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        """Ancestral samples x ~ p(x | z), z ~ N(0, I): (n, 64), long 0..16 (digits17) or float 0/1 (digits2).

        For a conditional VAE pass y, a LongTensor (n,) of labels (or one int for all n).
        """
        if self.num_classes:
            if y is None:
                raise ValueError("a conditional VAE needs labels: model.sample(n, y=torch.full((n,), 3))")
            y = torch.as_tensor(y, device=self.device).long().expand(n)
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.device)
        logits = self.decoder_logits(z, y)
        if self.data == "digits2":
            u = torch.rand(logits.shape, generator=generator, device=self.device)
            return (u < torch.sigmoid(logits)).float()
        probs = F.softmax(logits, -1).view(-1, NUM_LEVELS)
        return torch.multinomial(probs, 1, generator=generator).view(n, 64)


@torch.no_grad()
def grid_log_likelihood(model: VAE, x: Tensor, y: Tensor | None = None, limit: float = 5.0,
                        points: int = 201, batch_size: int = 32) -> Tensor:
    """Exact log p(x) (up to the quadrature error) for a VAE with a 2-D latent space, (B,) in nats.

    log p(x) = log int p(x | z) p(z) dz, computed by the rectangle rule on a points x points grid over
    [-limit, limit]^2: logsumexp_g [log p(x | z_g) + log p(z_g)] + log(cell area). The prior mass outside
    the square is below 2 exp(-limit^2 / 2) per axis, negligible for limit = 5.
    """
    if model.latent_dim != 2:
        raise ValueError(f"grid integration needs latent_dim == 2, the model has {model.latent_dim}")
    axis = torch.linspace(-limit, limit, points, device=model.device)
    z = torch.cartesian_prod(axis, axis)  # (G, 2)
    log_cell = 2 * math.log(float(axis[1] - axis[0]))
    log_prior = standard_normal_log_prob(z)  # (G,)
    out = []
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        yb = None if y is None else y[start:start + batch_size]
        zg = z.unsqueeze(1).expand(-1, len(xb), 2)  # (G, b, 2)
        log_joint = model.log_likelihood(xb, zg, yb) + log_prior.unsqueeze(1)  # (G, b)
        out.append(torch.logsumexp(log_joint, 0) + log_cell)
    return torch.cat(out)
