"""Generative adversarial networks: an implicit model x = G(z), z ~ N(0, I), trained against a discriminator.

No likelihood: the generator is trained through a discriminator (or critic) D that tells data from samples.
Goodfellow et al., 2014 (arXiv:1406.2661) for the minimax game and its non-saturating variant; Radford et al.,
2016 (DCGAN, arXiv:1511.06434); Arjovsky et al., 2017 (WGAN, weight clipping, arXiv:1701.07875); Gulrajani
et al., 2017 (WGAN-GP, arXiv:1704.00028); Miyato et al., 2018 (spectral norm, arXiv:1802.05957); Heusel et
al., 2017 (two time-scale learning rates, arXiv:1706.08500); Mirza and Osindero, 2014 (conditional GAN).

Public names:
- losses, each written once, on logits l = D(x) before the sigmoid (D(x) = sigmoid(l)):
  ``discriminator_loss(real_logits, fake_logits)`` = -E[log D(x)] - E[log(1 - D(G(z)))];
  ``generator_loss(fake_logits, kind="non_saturating")``: -E[log D(G(z))], or with ``kind="saturating"``
  the original minimax E[log(1 - D(G(z)))]; ``wasserstein_critic_loss(real_scores, fake_scores)`` =
  E[f(G(z))] - E[f(x)], ``wasserstein_generator_loss(fake_scores)`` = -E[f(G(z))];
  ``gradient_penalty(critic, real, fake, context=None, generator=None, *, eps=None)`` =
  E[(||grad f(x_hat)||_2 - 1)^2] with x_hat = eps x + (1 - eps) G(z), one eps per sample, the norm per sample;
- ``GAN(Model)``: ``train_step(batch, optimizers, clip_grad=None)`` (``n_critic`` discriminator steps, then
  one generator step; two optimisers in a list or a dict, in any order), ``generate(z, context=None)``,
  ``sample(n, context=None, generator=None)``, ``adam_optimizers(lr, betas, lr_discriminator=None)``,
  ``clip_weights()`` (WGAN), ``discriminate(x, context=None)``;
- networks: ``MLPGenerator``, ``MLPDiscriminator`` (2-D toys), ``DCGenerator``, ``DCDiscriminator`` (digits);
- builders: ``mlp_gan(...)`` (2-D; options batch norm, spectral norm, the loss, n_critic, gradient penalty,
  weight clipping), ``dcgan(...)`` (8x8 digits on [-1, 1]: noise 32 -> 128x2x2 -> 64x4x4 -> 1x8x8, tanh) and
  ``conditional_dcgan(num_classes=10, ...)`` (context = the digit's class).

Digits enter a DCGAN on [-1, 1] (``course_lib.metrics.features.to_gan_range``) as flat (B, 64) rows, like every
digits model of the course; its samples go back to 0..16 with ``from_gan_range`` before any metric.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from course_lib.models.base import Model, Optimizers, as_optimizer_list, optimizer_step

__all__ = ["discriminator_loss", "generator_loss", "wasserstein_critic_loss", "wasserstein_generator_loss",
           "gradient_penalty", "GAN", "MLPGenerator", "MLPDiscriminator", "DCGenerator", "DCDiscriminator",
           "mlp_gan", "dcgan", "conditional_dcgan", "LOSSES"]

LossKind = Literal["non_saturating", "saturating", "wasserstein"]
LOSSES: tuple[str, ...] = ("non_saturating", "saturating", "wasserstein")


# ---- the losses, each written once ----------------------------------------------------------------------------

def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-E[log D(x)] - E[log(1 - D(G(z)))], each expectation the mean over its own batch (nats).

    log D = log sigmoid(l) and log(1 - D) = log sigmoid(-l), computed stably with ``F.logsigmoid`` (the same
    as binary cross-entropy on logits with label 1 for data and 0 for samples, the two terms added).
    real_logits: (B,) or (B, 1); fake_logits: (B',) or (B', 1). Returns a scalar; its minimum over D is
    log 4 - 2 JS(p_data || p_g).
    """
    return -(F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean())


def generator_loss(fake_logits: Tensor, kind: str = "non_saturating") -> Tensor:
    """The generator's loss on D's logits for its samples (a scalar, nats).

    ``"non_saturating"``: -E[log D(G(z))] (strong gradients when D rejects the samples: the default);
    ``"saturating"``: E[log(1 - D(G(z)))], the minimax game's own term, minimised (its gradient vanishes as
    D(G(z)) -> 0, early in training).
    """
    if kind == "non_saturating":
        return -F.logsigmoid(fake_logits).mean()
    if kind == "saturating":
        return F.logsigmoid(-fake_logits).mean()
    raise ValueError(f"kind must be 'non_saturating' or 'saturating', got {kind!r}")


def wasserstein_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """E[f(G(z))] - E[f(x)]: minimising it maximises the critic's estimate of the Wasserstein-1 distance."""
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: Tensor) -> Tensor:
    """-E[f(G(z))]: the generator moves its samples up the critic."""
    return -fake_scores.mean()


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor, context: Tensor | None = None,
                     generator: torch.Generator | None = None, *, eps: Tensor | None = None) -> Tensor:
    """E[(||grad_x f(x_hat)||_2 - 1)^2], x_hat = eps * real + (1 - eps) * fake (Gulrajani et al., 2017).

    Args:
        critic: called as ``critic(x_hat)`` or, with ``context``, ``critic(x_hat, context)``; returns (B,) or
            (B, 1) scores.
        real, fake: (B, *event) each; ``fake`` is detached here.
        generator: for the interpolation weights, drawn as ``torch.rand(B, generator=generator)`` (one per
            sample) unless ``eps`` (B,) is given.

    The gradient's norm is taken per sample, over all event dimensions; the penalty is the mean over the batch
    of (norm - 1)^2, with ``create_graph=True`` so that it can be minimised. Multiply by lambda (10) yourself.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if eps is None:
        eps = torch.rand(len(real), generator=generator, device=real.device, dtype=real.dtype)
    if eps.shape != (len(real),):
        raise ValueError(f"eps holds one interpolation weight per sample, shape ({len(real)},); got {tuple(eps.shape)}")
    eps = eps.view(-1, *([1] * (real.dim() - 1)))  # (B, 1, ...): broadcast over the event dimensions
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat) if context is None else critic(x_hat, context)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # sum: sample i's score has grad_i
    norms = grad.flatten(1).norm(dim=1)  # (B,)
    return (norms - 1.0).pow(2).mean()


# ---- the model ----------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """No parameter gradients for ``module`` inside the block (the generator's step does not need D's)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


class GAN(Model):
    """A generator G(z, context) and a discriminator / critic D(x, context) with one of ``LOSSES``.

    Args:
        generator: maps noise (B, noise_dim) (and a context) to (B, *event_shape).
        discriminator: maps (B, *event_shape) (and a context) to (B,) or (B, 1) logits or critic scores.
        noise_dim: the size of z ~ N(0, I).
        event_shape: the shape of one sample.
        loss: ``"non_saturating"`` (default), ``"saturating"`` (the original minimax game) or ``"wasserstein"``.
        n_critic: discriminator steps per generator step (5 for a WGAN), each on the same real batch with
            fresh samples.
        gradient_penalty: lambda of the gradient penalty (10 for WGAN-GP; 0 = none).
        weight_clip: clip every discriminator parameter to [-c, c] after each of its steps (WGAN; None = none).
        num_classes: make the GAN conditional on a class label in 0..num_classes-1 (``context``, (B,) long).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, noise_dim: int,
                 event_shape: Sequence[int], *, loss: LossKind = "non_saturating", n_critic: int = 1,
                 gradient_penalty: float = 0.0, weight_clip: float | None = None,
                 num_classes: int | None = None) -> None:
        super().__init__(event_shape)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if n_critic < 1:
            raise ValueError(f"n_critic must be a positive number of discriminator steps, got {n_critic}")
        if gradient_penalty < 0 or (weight_clip is not None and weight_clip <= 0):
            raise ValueError("gradient_penalty must be >= 0 and weight_clip positive (or None)")
        self.generator, self.discriminator = generator, discriminator
        self.noise_dim, self.loss_kind, self.n_critic = noise_dim, loss, n_critic
        self.gp_weight, self.weight_clip, self.num_classes = float(gradient_penalty), weight_clip, num_classes
        self.conditional = num_classes is not None

    # -- validation -----------------------------------------------------------------------------------------
    def validate_context(self, context: Tensor | None, n: int | None = None) -> Tensor | None:
        context = super().validate_context(context, n)
        if context is None:
            return None
        if context.dim() != 1 or context.is_floating_point():
            raise ValueError(f"context holds one integer class per example, shape (B,), got {tuple(context.shape)} "
                             f"of dtype {context.dtype}; e.g. torch.full((n,), 3) for n samples of class 3")
        if context.numel() and (int(context.min()) < 0 or int(context.max()) >= self.num_classes):
            raise ValueError(f"context classes must lie in 0..{self.num_classes - 1}, got "
                             f"{int(context.min())}..{int(context.max())}")
        return context.long()

    # -- the two networks -----------------------------------------------------------------------------------
    def _call(self, net: nn.Module, x: Tensor, context: Tensor | None) -> Tensor:
        return net(x) if context is None else net(x, context)

    def generate(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """G(z, context): z (B, noise_dim) -> (B, *event_shape), with gradients (``sample`` draws z for you)."""
        if z.dim() != 2 or z.shape[1] != self.noise_dim:
            raise ValueError(f"z must have shape (B, {self.noise_dim}), got {tuple(z.shape)}")
        context = self.validate_context(context, len(z))
        return self._call(self.generator, z, context).reshape(len(z), *self.event_shape)

    def discriminate(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """D's logits (or a critic's scores), (B,), for x (B, *event_shape)."""
        x = self.validate(x)
        return self._call(self.discriminator, x, self.validate_context(context, len(x))).reshape(len(x))

    def _noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.noise_dim, generator=generator, device=self.device)

    def _sample(self, n: int, context: Tensor | None, generator: torch.Generator | None) -> Tensor:
        """G(z) for z ~ N(0, I) from ``generator``; batch norm layers run in the module's current mode."""
        return self.generate(self._noise(n, generator), context)

    # -- training -------------------------------------------------------------------------------------------
    def loss(self, x: Tensor, context: Tensor | None = None) -> dict[str, Tensor]:
        """The game's two losses on data ``x`` against as many fresh samples (z from the global stream).

        Returns {"loss": the discriminator's loss (penalty excluded), "discriminator_loss": the same,
        "generator_loss": ...}. Training does not use it (``train_step`` does); on held-out data it shows a
        discriminator that overfits (its validation loss rises). Lower is not a better generator: to validate
        or stop early, give ``fit`` a ``score=`` (modes covered on a 2-D toy, a Fréchet distance on digits).
        """
        x = self.validate(x)
        context = self.validate_context(context, len(x))
        fake = self.generate(self._noise(len(x)), context)
        real_out = self._call(self.discriminator, x, context).reshape(-1)
        fake_out = self._call(self.discriminator, fake, context).reshape(-1)
        if self.loss_kind == "wasserstein":
            d_loss, g_loss = wasserstein_critic_loss(real_out, fake_out), wasserstein_generator_loss(fake_out)
        else:
            d_loss, g_loss = discriminator_loss(real_out, fake_out), generator_loss(fake_out, self.loss_kind)
        return {"loss": d_loss, "discriminator_loss": d_loss, "generator_loss": g_loss}

    def adam_optimizers(self, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                        lr_discriminator: float | None = None) -> dict[str, torch.optim.Optimizer]:
        """{"generator": Adam, "discriminator": Adam}; a different ``lr_discriminator`` gives two time scales."""
        return {"generator": torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas),
                "discriminator": torch.optim.Adam(self.discriminator.parameters(),
                                                  lr=lr if lr_discriminator is None else lr_discriminator,
                                                  betas=betas)}

    def _split_optimizers(self, optimizers: Optimizers) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        """(discriminator's, generator's) optimiser, told apart by the parameters they hold (any order)."""
        found: dict[str, torch.optim.Optimizer] = {}
        g_params = {id(p) for p in self.generator.parameters()}
        d_params = {id(p) for p in self.discriminator.parameters()}
        for opt in as_optimizer_list(optimizers):
            ids = {id(p) for group in opt.param_groups for p in group["params"]}
            owner = "generator" if ids <= g_params else "discriminator" if ids <= d_params else None
            if owner is None or owner in found:
                raise ValueError("a GAN trains with two optimisers, one over model.generator's parameters and one "
                                 "over model.discriminator's (see model.adam_optimizers()); got optimisers that "
                                 "mix the two or cover one network twice")
            found[owner] = opt
        if len(found) != 2:
            raise ValueError("a GAN needs two optimisers, one per network: pass optimizer=model.adam_optimizers()")
        if isinstance(optimizers, Mapping) and set(optimizers) & {"generator", "discriminator", "critic"}:
            named = optimizers.get("discriminator", optimizers.get("critic"))
            if named is not None and named is not found["discriminator"]:
                raise ValueError("the optimiser named 'discriminator' holds the generator's parameters")
        return found["discriminator"], found["generator"]

    def _d_loss(self, real: Tensor, fake: Tensor, context: Tensor | None) -> tuple[Tensor, dict[str, float]]:
        real_out = self._call(self.discriminator, real, context).reshape(-1)
        fake_out = self._call(self.discriminator, fake, context).reshape(-1)
        if self.loss_kind == "wasserstein":
            loss = wasserstein_critic_loss(real_out, fake_out)
            logs = {"wasserstein_estimate": -loss.item()}
        else:
            loss = discriminator_loss(real_out, fake_out)
            logs = {"d_real": torch.sigmoid(real_out).mean().item(), "d_fake": torch.sigmoid(fake_out).mean().item()}
        if self.gp_weight > 0:
            penalty = gradient_penalty(self.discriminator, real, fake, context)
            loss = loss + self.gp_weight * penalty
            logs["gradient_penalty"] = penalty.item()
        return loss, logs

    def _g_loss(self, fake: Tensor, context: Tensor | None) -> Tensor:
        fake_out = self._call(self.discriminator, fake, context).reshape(-1)
        if self.loss_kind == "wasserstein":
            return wasserstein_generator_loss(fake_out)
        return generator_loss(fake_out, self.loss_kind)

    @torch.no_grad()
    def clip_weights(self) -> None:
        """Clip every discriminator parameter to [-weight_clip, weight_clip] (WGAN's Lipschitz constraint)."""
        if self.weight_clip is not None:
            for p in self.discriminator.parameters():
                p.clamp_(-self.weight_clip, self.weight_clip)

    def train_step(self, batch: Sequence[Tensor], optimizers: Optimizers,
                   clip_grad: float | None = None) -> dict[str, float]:
        """``n_critic`` discriminator steps on the real batch (fresh samples each), then one generator step.

        ``batch`` is (x,) or (x, context); samples for a conditional GAN use the batch's own classes.
        ``clip_grad`` clips each network's gradient norm before its optimiser steps. Returns the numbers to
        log: ``discriminator_loss`` (the last critic step's, penalty included), ``generator_loss``, and
        D's mean output on data and samples (``d_real``, ``d_fake``) or the Wasserstein estimate.
        """
        opt_d, opt_g = self._split_optimizers(optimizers)
        real = self.validate(batch[0])
        context = self.validate_context(batch[1] if len(batch) > 1 and self.conditional else None, len(real))
        logs: dict[str, float] = {}
        for _ in range(self.n_critic):
            with torch.no_grad():
                fake = self.generate(self._noise(len(real)), context)
            d_loss, logs = self._d_loss(real, fake, context)
            norm = optimizer_step(d_loss, opt_d, clip_grad)
            self.clip_weights()
        logs["discriminator_loss"] = d_loss.item()
        if norm is not None:
            logs["discriminator_grad_norm"] = norm
        with _frozen(self.discriminator):
            g_loss = self._g_loss(self.generate(self._noise(len(real)), context), context)
            norm = optimizer_step(g_loss, opt_g, clip_grad)
        logs["generator_loss"] = g_loss.item()
        if norm is not None:
            logs["generator_grad_norm"] = norm
        return logs


# ---- networks ---------------------------------------------------------------------------------------------------

def _maybe_sn(layer: nn.Module, spectral: bool) -> nn.Module:
    return _spectral_norm(layer) if spectral else layer


class _Conditioned(nn.Module):
    """Appends a one-hot class (B, num_classes) to the input's features when the network is conditional."""

    def __init__(self, num_classes: int | None) -> None:
        super().__init__()
        self.num_classes = num_classes

    def extra_inputs(self) -> int:
        return self.num_classes or 0

    def one_hot(self, context: Tensor | None, like: Tensor) -> Tensor | None:
        if (context is None) != (self.num_classes is None):
            raise ValueError("pass a context exactly when the network is conditional (num_classes set)")
        return None if context is None else F.one_hot(context.long(), self.num_classes).to(like.dtype)


class MLPGenerator(_Conditioned):
    """z (B, noise_dim) -> (B, out_dim): Linear -> [BatchNorm] -> ReLU, ``layers`` times, then Linear."""

    def __init__(self, noise_dim: int = 2, out_dim: int = 2, hidden: int = 128, layers: int = 3,
                 batch_norm: bool = False, num_classes: int | None = None) -> None:
        super().__init__(num_classes)
        sizes, modules = [noise_dim + self.extra_inputs(), *[hidden] * layers], []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            modules += [nn.Linear(a, b), *([nn.BatchNorm1d(b)] if batch_norm else []), nn.ReLU()]
        self.net = nn.Sequential(*modules, nn.Linear(sizes[-1], out_dim))

    def forward(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        onehot = self.one_hot(context, z)
        return self.net(z if onehot is None else torch.cat([z, onehot], dim=1))


class MLPDiscriminator(_Conditioned):
    """x (B, in_dim) -> (B,) logits: Linear -> [BatchNorm, not on the input layer] -> LeakyReLU(0.2), ``layers``
    times, then Linear; ``spectral_norm`` wraps every Linear in a spectral normalisation."""

    def __init__(self, in_dim: int = 2, hidden: int = 128, layers: int = 3, batch_norm: bool = False,
                 spectral_norm: bool = False, num_classes: int | None = None) -> None:
        super().__init__(num_classes)
        sizes, modules = [in_dim + self.extra_inputs(), *[hidden] * layers], []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            norm = [nn.BatchNorm1d(b)] if batch_norm and i > 0 else []
            modules += [_maybe_sn(nn.Linear(a, b), spectral_norm), *norm, nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*modules, _maybe_sn(nn.Linear(sizes[-1], 1), spectral_norm))

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        onehot = self.one_hot(context, x)
        return self.net(x if onehot is None else torch.cat([x, onehot], dim=1)).squeeze(-1)


class DCGenerator(_Conditioned):
    """z (B, noise_dim) -> (B, 64) on [-1, 1]: Linear to 128x2x2, then two stride-2 transposed convolutions
    (128x2x2 -> 64x4x4 -> 1x8x8), batch norm and ReLU between, tanh at the end (Radford et al., 2016)."""

    def __init__(self, noise_dim: int = 32, channels: int = 128, batch_norm: bool = True,
                 num_classes: int | None = None) -> None:
        super().__init__(num_classes)
        c = channels

        def norm(kind: type[nn.Module], size: int) -> list[nn.Module]:
            return [kind(size)] if batch_norm else []

        self.project = nn.Sequential(nn.Linear(noise_dim + self.extra_inputs(), c * 4), *norm(nn.BatchNorm1d, c * 4),
                                     nn.ReLU())
        self.deconv = nn.Sequential(nn.ConvTranspose2d(c, c // 2, 4, stride=2, padding=1),  # (c, 2, 2) -> (c/2, 4, 4)
                                    *norm(nn.BatchNorm2d, c // 2), nn.ReLU(),
                                    nn.ConvTranspose2d(c // 2, 1, 4, stride=2, padding=1),  # -> (1, 8, 8)
                                    nn.Tanh())
        self.channels = c

    def forward(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        onehot = self.one_hot(context, z)
        h = self.project(z if onehot is None else torch.cat([z, onehot], dim=1))
        return self.deconv(h.view(len(z), self.channels, 2, 2)).view(len(z), 64)


class DCDiscriminator(_Conditioned):
    """x (B, 64) on [-1, 1] -> (B,) logits: two stride-2 convolutions (1x8x8 -> 64x4x4 -> 128x2x2), LeakyReLU(0.2),
    batch norm on the second (optional), then Linear; ``spectral_norm`` wraps every layer.

    A conditional one sees its one-hot class as extra constant input channels and adds a projection term
    <embed(y), h> to the logit, h the 512 features before the last layer (Miyato and Koyama, 2018,
    arXiv:1802.05637): the class then acts on the decision directly, not only through the first layer.
    """

    def __init__(self, channels: int = 128, batch_norm: bool = True, spectral_norm: bool = False,
                 num_classes: int | None = None) -> None:
        super().__init__(num_classes)
        c = channels
        self.features = nn.Sequential(
            _maybe_sn(nn.Conv2d(1 + self.extra_inputs(), c // 2, 4, stride=2, padding=1), spectral_norm),
            nn.LeakyReLU(0.2),  # (c/2, 4, 4)
            _maybe_sn(nn.Conv2d(c // 2, c, 4, stride=2, padding=1), spectral_norm),  # (c, 2, 2)
            *([nn.BatchNorm2d(c)] if batch_norm else []), nn.LeakyReLU(0.2), nn.Flatten())
        self.out = _maybe_sn(nn.Linear(c * 4, 1), spectral_norm)
        self.embed = None if num_classes is None else _maybe_sn(nn.Embedding(num_classes, c * 4), spectral_norm)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        image = x.reshape(len(x), 1, 8, 8)
        onehot = self.one_hot(context, x)
        if onehot is not None:
            image = torch.cat([image, onehot[:, :, None, None].expand(-1, -1, 8, 8)], dim=1)
        h = self.features(image)  # (B, 4c)
        logits = self.out(h).squeeze(-1)
        if self.embed is not None:
            logits = logits + (self.embed(context.long()) * h).sum(dim=1)
        return logits


# ---- builders ---------------------------------------------------------------------------------------------------

def mlp_gan(*, noise_dim: int = 2, hidden: int = 128, layers: int = 3, loss: LossKind = "non_saturating",
            batch_norm: bool = False, spectral_norm: bool = False, n_critic: int = 1, gradient_penalty: float = 0.0,
            weight_clip: float | None = None, num_classes: int | None = None) -> GAN:
    """The 2-D GAN of chapter 05: MLPs noise_dim -> hidden x layers -> 2 and 2 -> hidden x layers -> 1.

    ``batch_norm`` goes into both networks (not on D's input layer), ``spectral_norm`` into D only.
    """
    return GAN(MLPGenerator(noise_dim, 2, hidden, layers, batch_norm, num_classes),
               MLPDiscriminator(2, hidden, layers, batch_norm, spectral_norm, num_classes),
               noise_dim, (2,), loss=loss, n_critic=n_critic, gradient_penalty=gradient_penalty,
               weight_clip=weight_clip, num_classes=num_classes)


def dcgan(*, noise_dim: int = 32, channels: int = 128, loss: LossKind = "non_saturating", batch_norm: bool = True,
          spectral_norm: bool = False, n_critic: int = 1, gradient_penalty: float = 0.0,
          weight_clip: float | None = None, num_classes: int | None = None) -> GAN:
    """The digits DCGAN: noise 32 -> 128x2x2 -> 64x4x4 -> 1x8x8 (tanh), samples (B, 64) on [-1, 1].

    Batch norm in both networks by default (D: not on its input layer); a WGAN-GP should turn D's off
    (``batch_norm=False``), since the penalty is per sample and batch norm mixes the samples.
    """
    return GAN(DCGenerator(noise_dim, channels, batch_norm, num_classes),
               DCDiscriminator(channels, batch_norm, spectral_norm, num_classes),
               noise_dim, (64,), loss=loss, n_critic=n_critic, gradient_penalty=gradient_penalty,
               weight_clip=weight_clip, num_classes=num_classes)


def conditional_dcgan(num_classes: int = 10, **options) -> GAN:
    """The DCGAN conditioned on a digit's class (``context``: (B,) long in 0..9), a one-hot fed to both nets."""
    return dcgan(num_classes=num_classes, **options)
