"""Variational autoencoder (VAE) for digits, with an optional label condition (a conditional VAE).

Generative model: z ~ N(0, I), x | z ~ prod_i p(x_i | z), where each pixel is Bernoulli (binarised digits,
``data="digits2"``) or categorical over the 17 grey levels 0..16 (``data="digits17"``). Inference model:
q(z | x) = N(mu(x), diag(exp(logvar(x)))). Training maximises the evidence lower bound

    ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z))  <=  log p(x),

with the reparameterisation z = mu + exp(logvar / 2) * eps, eps ~ N(0, I).
Kingma and Welling, 2014, arXiv:1312.6114; Rezende et al., 2014, arXiv:1401.4082. The conditional version
feeds a one-hot label to the encoder and the decoder (Sohn et al., 2015). The importance-weighted estimate of
log p(x) is Burda et al., 2016, arXiv:1509.00519.

A VAE has no exact ``log_prob``: ``elbo(x, context=None)`` is a lower bound and
``importance_weighted_log_likelihood`` an estimate (a stochastic lower bound that tightens as k grows).
Conditioning (the labels of a conditional VAE) is the ``context`` argument everywhere.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.metrics import importance_weighted_log_likelihood, log_mean_exp  # noqa: F401 (re-exported)
from course_lib.models.base import Model, check_levels
from course_lib.nn import count_parameters, sample_logits  # noqa: F401 (count_parameters re-exported)

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
    """MLP x (B, D) [+ one-hot label] -> (mu, logvar), each (B, latent_dim)."""

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
    """MLP z (N, d) [+ one-hot label] -> logits (N, num_pixels, out_per_pixel)."""

    def __init__(self, in_dim: int, out_per_pixel: int, hidden: int, dropout: float = 0.0,
                 num_pixels: int = 64) -> None:
        super().__init__()
        self.out_per_pixel, self.num_pixels = out_per_pixel, num_pixels
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, num_pixels * out_per_pixel),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(len(z), self.num_pixels, self.out_per_pixel)


class ConvDecoder(nn.Module):
    """Small convolutional decoder: z -> MLP -> (C, S/2, S/2) -> transposed conv to S x S -> two 3x3 convs.

    S is the image side (8 for the digits: (C, 4, 4) -> 8x8). The convolutions share weights across
    positions, which regularises a model trained on 1000 images better than a fully connected output layer.
    Returns logits (N, S*S, out_per_pixel).
    """

    def __init__(self, in_dim: int, out_per_pixel: int, hidden: int, channels: int = 32,
                 dropout: float = 0.0, side: int = 8) -> None:
        super().__init__()
        if side < 2 or side % 2:
            raise ValueError(f"the conv decoder draws square images of an even side, got side {side}")
        self.out_per_pixel, self.channels, self.half = out_per_pixel, channels, side // 2
        self.fc = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, channels * self.half * self.half), nn.ReLU(),
        )
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1), nn.ReLU(), nn.Dropout(dropout),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, out_per_pixel, 3, padding=1),
        )

    def forward(self, z: Tensor) -> Tensor:
        h = self.fc(z).view(len(z), self.channels, self.half, self.half)
        out = self.conv(h)  # (N, out_per_pixel, S, S)
        return out.flatten(2).transpose(1, 2)  # (N, S*S, out_per_pixel)


# ---- the model ----

class VAE(Model):
    """A VAE on flattened digits (event_shape (num_pixels,)); conditional on a label when ``num_classes > 0``.

    Args:
        data: ``"digits17"`` (x: integer levels (B, D) in 0..16, categorical decoder) or ``"digits2"``
            (x: (B, D) in {0, 1}, float or integer, Bernoulli decoder).
        latent_dim: size of z.
        hidden: width of the encoder's and decoder's hidden layers.
        decoder: ``"mlp"`` or ``"conv"`` (see :class:`ConvDecoder`; it needs a square image of an even side).
        dropout: dropout rate inside encoder and decoder (training only).
        channels: channels of the convolutional decoder.
        num_classes: 0 for a plain VAE; 10 for a conditional VAE on digit labels: then every method takes the
            labels, a LongTensor (B,), as ``context``.
        beta: weight of the KL term in ``loss`` (beta-VAE, Higgins et al., 2017); ``elbo`` always uses 1.
        num_pixels: D, the pixels of one flattened image (64 for the 8x8 digits).

    In training mode ``loss`` weighs the KL by ``beta * kl_scale``; ``kl_scale`` is a plain float (1.0 by
    default) that a KL warm-up sets during training (``course_lib.train.KLWarmup``), which keeps the decoder
    from ignoring z early on. In eval mode the weight is ``beta``.
    """

    def __init__(self, data: Literal["digits17", "digits2"] = "digits17", latent_dim: int = 16,
                 hidden: int = 256, decoder: Literal["mlp", "conv"] = "mlp", dropout: float = 0.0,
                 channels: int = 32, num_classes: int = 0, beta: float = 1.0, num_pixels: int = 64) -> None:
        super().__init__((num_pixels,))
        if data not in ("digits17", "digits2"):
            raise ValueError(f"data must be 'digits17' or 'digits2', got {data!r}")
        self.data, self.latent_dim, self.num_classes = data, latent_dim, num_classes
        self.beta, self.kl_scale = beta, 1.0
        out = NUM_LEVELS if data == "digits17" else 1
        self.encoder = GaussianEncoder(num_pixels + num_classes, latent_dim, hidden, dropout)
        if decoder == "conv":
            side = math.isqrt(num_pixels)
            if side * side != num_pixels:
                raise ValueError(f"the conv decoder needs square images; {num_pixels} pixels are not a square")
            self.decoder: nn.Module = ConvDecoder(latent_dim + num_classes, out, hidden, channels, dropout, side)
        elif decoder == "mlp":
            self.decoder = MLPDecoder(latent_dim + num_classes, out, hidden, dropout, num_pixels)
        else:
            raise ValueError(f"decoder must be 'mlp' or 'conv', got {decoder!r}")

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    # -- validation --
    def validate(self, x: Tensor) -> Tensor:
        """x: (B, D) levels 0..16 (digits17, returned as long) or values in {0, 1} (digits2, any real dtype)."""
        x = super().validate(x)
        if self.data == "digits17":
            return check_levels(x, NUM_LEVELS, self)
        if x.numel() and not ((x == 0) | (x == 1)).all():
            raise ValueError("a digits2 VAE models binary pixels: x must hold only 0 and 1 "
                             "(binarise with DigitsSplit.binarized(x))")
        return x

    def validate_context(self, context: Tensor | None, n: int | None = None) -> Tensor | None:
        """The labels of a conditional VAE: (B,) integers in 0..num_classes-1 (None for a plain VAE)."""
        if context is None and self.conditional:
            raise ValueError("this is a conditional VAE: pass the labels as context, e.g. model.elbo(x, labels)"
                             " or model.sample(n, context=torch.full((n,), 3))")
        context = super().validate_context(context, n)
        if context is None:
            return None
        if context.dim() != 1:
            raise ValueError(f"the labels (context) must have shape (B,), got {tuple(context.shape)}")
        return check_levels(context, self.num_classes, self, "labels")

    # -- helpers --
    def _with_label(self, h: Tensor, context: Tensor | None) -> Tensor:
        """Append the one-hot label to h (..., n) if the model is conditional; labels broadcast over leading axes."""
        if not self.num_classes:
            return h
        onehot = F.one_hot(context, self.num_classes).to(h.dtype)  # (B, C)
        return torch.cat([h, onehot.expand(*h.shape[:-1], self.num_classes)], dim=-1)

    def encode(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """q(z | x): x (B, D) -> mu, logvar, each (B, latent_dim)."""
        x = self.validate(x)
        context = self.validate_context(context, len(x))
        h = x.float() / (NUM_LEVELS - 1) if self.data == "digits17" else x.float()
        return self.encoder(self._with_label(h, context))

    def decoder_logits(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """z (..., d) -> logits (..., D, 17) for digits17 or (..., D) for digits2; labels (B,) broadcast."""
        context = self.validate_context(context)
        lead = z.shape[:-1]
        logits = self.decoder(self._with_label(z, context).reshape(-1, z.shape[-1] + self.num_classes))
        logits = logits.view(*lead, self.event_shape[0], -1)
        return logits.squeeze(-1) if self.data == "digits2" else logits

    def log_likelihood(self, x: Tensor, z: Tensor, context: Tensor | None = None) -> Tensor:
        """log p(x | z) in nats, summed over the D pixels. x (B, D), z (..., B, d) -> (..., B)."""
        x = self.validate(x)
        logits = self.decoder_logits(z, context)
        if self.data == "digits2":
            target = x.float().expand_as(logits)
            return -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
        log_p = F.log_softmax(logits, dim=-1)  # (..., B, D, 17)
        index = x.unsqueeze(-1).expand(*logits.shape[:-1], 1)
        return log_p.gather(-1, index).squeeze(-1).sum(-1)

    # -- the interface --
    def elbo_terms(self, x: Tensor, context: Tensor | None = None) -> dict[str, Tensor]:
        """One-sample estimates of the two ELBO terms: ``reconstruction`` E_q log p(x|z) and ``kl``, each (B,)."""
        mu, logvar = self.encode(x, context)
        z = reparameterize(mu, logvar)
        return {"reconstruction": self.log_likelihood(x, z, context),
                "kl": gaussian_kl_to_standard_normal(mu, logvar), "mu": mu, "logvar": logvar}

    def elbo(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """One-sample ELBO in nats per example, (B,). A lower bound on log p(x), not a log-probability."""
        terms = self.elbo_terms(x, context)
        return terms["reconstruction"] - terms["kl"]

    def loss(self, x: Tensor, context: Tensor | None = None) -> dict[str, Tensor]:
        """Mean of -(reconstruction - weight * KL): weight beta * kl_scale in training mode, beta in eval mode."""
        terms = self.elbo_terms(x, context)
        weight = self.beta * self.kl_scale if self.training else self.beta
        loss = -(terms["reconstruction"] - weight * terms["kl"]).mean()
        return {"loss": loss, "reconstruction": -terms["reconstruction"].mean().detach(),
                "kl": terms["kl"].mean().detach()}

    def log_weights(self, x: Tensor, k: int, context: Tensor | None = None,
                    generator: torch.Generator | None = None) -> Tensor:
        """log p(x, z_i) - log q(z_i | x) for k samples z_i ~ q(z | x). x (B, D) -> (k, B)."""
        mu, logvar = self.encode(x, context)
        eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device)
        z = reparameterize(mu, logvar, eps)  # (k, B, d)
        log_q = diagonal_normal_log_prob(z, mu, logvar)
        return self.log_likelihood(x, z, context) + standard_normal_log_prob(z) - log_q

    @torch.no_grad()
    def decode_mean(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """The mean image E[x | z] (N, D): grey levels in [0, 16] for digits17, probabilities for digits2."""
        logits = self.decoder_logits(z, context)
        if self.data == "digits2":
            return torch.sigmoid(logits)
        levels = torch.arange(NUM_LEVELS, device=logits.device, dtype=logits.dtype)
        return (F.softmax(logits, -1) * levels).sum(-1)

    def _sample(self, n: int, context: Tensor | None, generator: torch.Generator | None) -> Tensor:
        """Ancestral samples x ~ p(x | z), z ~ N(0, I): (n, D), long 0..16 (digits17) or float 0/1 (digits2).

        For a conditional VAE, context holds the labels, a LongTensor (n,) (e.g. torch.full((n,), 3)).
        """
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.device)
        logits = self.decoder_logits(z, context)
        if self.data == "digits2":
            u = torch.rand(logits.shape, generator=generator, device=self.device)
            return (u < torch.sigmoid(logits)).float()
        return sample_logits(logits, generator)  # (n, D)


@torch.no_grad()
def grid_log_likelihood(model: VAE, x: Tensor, context: Tensor | None = None, limit: float = 5.0,
                        points: int = 201, batch_size: int = 32, pairs_per_chunk: int = 16384) -> Tensor:
    """Exact log p(x) (up to the quadrature error) for a VAE with a 2-D latent space, (B,) in nats.

    log p(x) = log int p(x | z) p(z) dz, computed by the rectangle rule on a points x points grid over
    [-limit, limit]^2: logsumexp_g [log p(x | z_g) + log p(z_g)] + log(cell area). The prior mass outside
    the square is below 2 exp(-limit^2 / 2) per axis, negligible for limit = 5. The grid is visited in chunks of
    at most ``pairs_per_chunk`` (grid point, image) pairs, so memory stays bounded (a 161 x 161 grid at once
    would build several GB of decoder logits); the chunks' logsumexps combine exactly.
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
        cb = None if context is None else context[start:start + batch_size]
        step = max(1, pairs_per_chunk // len(xb))
        parts = []
        for g in range(0, len(z), step):
            zg = z[g:g + step].unsqueeze(1).expand(-1, len(xb), 2)  # (g, b, 2)
            log_joint = model.log_likelihood(xb, zg, cb) + log_prior[g:g + step].unsqueeze(1)  # (g, b)
            parts.append(torch.logsumexp(log_joint, 0))
        out.append(torch.logsumexp(torch.stack(parts), 0) + log_cell)
    return torch.cat(out)
