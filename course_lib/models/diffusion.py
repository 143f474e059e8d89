"""Denoising diffusion: a hierarchical VAE whose encoder is a fixed Gaussian noising chain.

Forward process (Sohl-Dickstein et al., 2015; Ho et al., 2020, arXiv:2006.11239), latents t = 0 .. T-1:

    q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I),   q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),

with abar_t = prod_{s <= t} (1 - beta_s). Index convention (the one of diffusers' schedulers): ``x0`` is the
data, ``betas[t]`` and ``alphas_cumprod[t]`` belong to the latent at index t = 0 .. T-1, so even the first
latent is slightly noisy and the reverse step out of t = 0 returns an estimate of the data, with no noise.

Reverse model: p(x_{t-1} | x_t) = N(mu(x_t, t), sigma_t^2 I) with mu from the noise prediction eps_hat(x_t, t)
(``reverse_step``); sigma_t^2 = beta_t (``variance="beta"``) or the posterior variance of q(x_{t-1} | x_t, x_0)
(``variance="posterior"``). DDIM (Song, Meng and Ermon, 2021, arXiv:2010.02502) steps on a sub-sequence of
the times; with eta = 0 it is deterministic.

The discrete bound on the 17-level digits (``GaussianDiffusion(num_levels=17)``): pixel level k sits at
v_k = -1 + 2k / (K - 1), z_t ~ q(z_t | v_x), and for every x

    log P(x) >= E_q[log p(x | z_0)]                                           (reconstruction)
                - sum_{t=1}^{T-1} E_q KL(q(z_{t-1} | z_t, x) || p(z_{t-1} | z_t))   (diffusion)
                - KL(q(z_{T-1} | x) || N(0, I))                                 (prior)

(Jensen's inequality on log P(x) = log E_q[p(x, z_{0:T-1}) / q(z_{0:T-1} | x)], the ELBO of a hierarchical
VAE with the encoder q). p(x | z_0) is a categorical over the K levels per pixel, so P sums to one over the
K^D images and the bound is on the discrete probability itself. The reverse model uses the posterior
variance, so each KL is 1/2 (SNR(t-1) - SNR(t)) ||v_x - xhat(z_t, t)||^2 with SNR = abar / (1 - abar)
(Kingma et al., 2021, arXiv:2107.00630). The denoiser's mean xhat is the mean of a per-pixel categorical
over the levels whose logits are the network's plus the Gaussian log-likelihood log q(z_t | level k): at low
noise it recovers the level exactly, and the same categorical at t = 0 is the decoder p(x | z_0).

Interface: schedules ``linear_beta_schedule``, ``cosine_schedule``, ``log_snr_schedule`` (betas (T,) float64),
``alphas_cumprod(betas)``, ``Schedule(betas)``; ``q_sample(x0, t, alphas_cumprod, noise)``,
``posterior_mean_variance(x0, x_t, t, schedule) -> (mean, variance)``, ``ddpm_loss(model, x0, t, noise,
alphas_cumprod=None)``, ``reverse_step(x_t, t, eps_hat, schedule, z, variance="beta")``,
``ddim_timesteps(T, steps)``, ``ddim_step(x_t, t, t_prev, eps_hat, alphas_cumprod, eta, z)``, samplers
``ddpm_sample`` / ``ddim_sample`` (``trajectory=True`` keeps every step); networks ``ResidualMLPDenoiser``,
``ConvDenoiser``; the model ``GaussianDiffusion`` (``sample``, ``loss``, ``elbo``, ``elbo_parts``, ``elbo_terms``,
``eps``, ``x0_hat``, ``decode``), builders ``diffusion_2d``, ``digits_diffusion``, and ``negative_elbo(model, x,
draws, replicates) -> (mean, standard error)`` for reported bounds (``negative_elbo_terms`` adds the three terms
from the same draws).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.models.base import Model, check_levels
from course_lib.nn import count_parameters  # noqa: F401 (re-exported for the ladder)

__all__ = [
    "linear_beta_schedule", "cosine_schedule", "log_snr_schedule", "alphas_cumprod", "Schedule",
    "q_sample", "posterior_mean_variance", "ddpm_loss", "reverse_step", "ddim_timesteps", "ddim_step",
    "ddpm_sample", "ddim_sample", "TimeEmbedding", "ResidualMLPDenoiser", "ConvDenoiser", "GaussianDiffusion",
    "diffusion_2d", "digits_diffusion", "negative_elbo", "negative_elbo_terms",
]

EpsFn = Callable[[Tensor, Tensor], Tensor]  # eps_hat = eps_fn(x_t (B, ...), t (B,) long)


# ---- schedules ---------------------------------------------------------------------------------------------

def linear_beta_schedule(timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """DDPM's betas, evenly spaced from beta_start to beta_end (Ho et al., 2020). Returns (T,) float64."""
    return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)


def cosine_schedule(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """Nichol and Dhariwal's (2021, arXiv:2102.09672) betas: abar(u) = cos^2((u + s) / (1 + s) * pi / 2),
    beta_t = min(1 - abar((t+1)/T) / abar(t/T), max_beta). Returns (T,) float64."""
    u = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


def log_snr_schedule(timesteps: int, log_snr_max: float = 10.0, log_snr_min: float = -10.0) -> Tensor:
    """Betas whose log signal-to-noise ratio log(abar / (1 - abar)) falls linearly from log_snr_max (t = 0)
    to log_snr_min (t = T-1): the fixed linear log-SNR schedule of variational diffusion models. (T,) float64."""
    log_snr = torch.linspace(log_snr_max, log_snr_min, timesteps, dtype=torch.float64)
    abar = torch.sigmoid(log_snr)
    return 1 - abar / torch.cat([abar.new_ones(1), abar[:-1]])


def alphas_cumprod(betas: Tensor) -> Tensor:
    """abar_t = prod_{s <= t} (1 - beta_s), (T,)."""
    return torch.cumprod(1 - betas, dim=0)


@dataclass(frozen=True)
class Schedule:
    """Everything derived from the betas (T,). ``alphas_cumprod_prev[t]`` is abar_{t-1}, with abar_{-1} = 1."""

    betas: Tensor

    @cached_property
    def alphas(self) -> Tensor:
        return 1 - self.betas

    @cached_property
    def alphas_cumprod(self) -> Tensor:
        return alphas_cumprod(self.betas)

    @cached_property
    def alphas_cumprod_prev(self) -> Tensor:
        return torch.cat([self.betas.new_ones(1), self.alphas_cumprod[:-1]])

    @cached_property
    def posterior_variance(self) -> Tensor:
        """Var of q(x_{t-1} | x_t, x_0): beta_t (1 - abar_{t-1}) / (1 - abar_t); zero at t = 0."""
        return self.betas * (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)

    @cached_property
    def snr(self) -> Tensor:
        """Signal-to-noise ratio abar_t / (1 - abar_t) of q(x_t | x_0)."""
        return self.alphas_cumprod / (1 - self.alphas_cumprod)

    @property
    def timesteps(self) -> int:
        return len(self.betas)


def _schedule(schedule: Schedule | Tensor) -> Schedule:
    return schedule if isinstance(schedule, Schedule) else Schedule(schedule)


def _at(values: Tensor, t: Tensor | int, like: Tensor) -> Tensor:
    """values[t] shaped to broadcast over the event dimensions of ``like`` (B, ...): (B, 1, ..., 1)."""
    t = torch.as_tensor(t, device=values.device).long()
    out = values[t].to(like.dtype)
    return out.reshape(*out.shape, *([1] * (like.dim() - out.dim())))


# ---- the forward process, its posterior, the loss, one reverse step -----------------------------------------

def q_sample(x0: Tensor, t: Tensor | int, alphas_cumprod: Tensor, noise: Tensor) -> Tensor:
    """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise: a draw of q(x_t | x_0). x0, noise (B, ...); t (B,) long."""
    abar = _at(alphas_cumprod, t, x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def posterior_mean_variance(x0: Tensor, x_t: Tensor, t: Tensor | int, schedule: Schedule | Tensor
                            ) -> tuple[Tensor, Tensor]:
    """Mean and variance of q(x_{t-1} | x_t, x_0) (both shaped like x_t), for t = 0 .. T-1.

    mean = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x0 + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t,
    variance = beta_t (1 - abar_{t-1}) / (1 - abar_t). At t = 0 (abar_{-1} = 1) it is x0 with variance 0.
    ``schedule``: a :class:`Schedule` or the betas (T,).
    """
    s = _schedule(schedule)
    abar, abar_prev, beta = (_at(v, t, x_t) for v in (s.alphas_cumprod, s.alphas_cumprod_prev, s.betas))
    mean = (abar_prev.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - abar_prev) * x_t) / (1 - abar)
    return mean, _at(s.posterior_variance, t, x_t).expand_as(mean)


def ddpm_loss(model: Callable[[Tensor, Tensor], Tensor], x0: Tensor, t: Tensor, noise: Tensor,
              alphas_cumprod: Tensor | None = None) -> Tensor:
    """Ho et al.'s noise-prediction loss: mean over the batch of ||noise - model(x_t, t)||^2, summed over the
    event dimensions, with x_t = q_sample(x0, t, alphas_cumprod, noise). Returns a scalar.

    ``model(x_t, t)`` predicts the noise; ``alphas_cumprod`` (T,) defaults to ``model.alphas_cumprod`` (a
    :class:`GaussianDiffusion` has one). Summing over the pixels keeps the ELBO's scale: each KL term of the
    bound is this squared error times a weight that depends only on t.
    """
    if alphas_cumprod is None:
        alphas_cumprod = model.alphas_cumprod
    x_t = q_sample(x0, t, alphas_cumprod, noise)
    return (noise - model(x_t, t)).pow(2).flatten(1).sum(1).mean()


def reverse_step(x_t: Tensor, t: Tensor | int, eps_hat: Tensor, schedule: Schedule | Tensor, z: Tensor,
                 variance: Literal["beta", "posterior"] = "beta") -> Tensor:
    """One ancestral step x_t -> x_{t-1} of p(x_{t-1} | x_t) = N(mu, sigma_t^2 I) (Ho et al., algorithm 2).

    mu = (x_t - beta_t / sqrt(1 - abar_t) eps_hat) / sqrt(alpha_t); sigma_t^2 = beta_t (``"beta"``, Ho et al.'s
    choice) or the posterior variance (``"posterior"``). No noise is added at t = 0: the result is then the
    model's estimate of the data. z ~ N(0, I) shaped like x_t; t an int or (B,) long.
    """
    s = _schedule(schedule)
    beta, abar = _at(s.betas, t, x_t), _at(s.alphas_cumprod, t, x_t)
    mean = (x_t - beta / (1 - abar).sqrt() * eps_hat) / (1 - beta).sqrt()
    if variance not in ("beta", "posterior"):
        raise ValueError(f"variance must be 'beta' or 'posterior', got {variance!r}")
    var = beta if variance == "beta" else _at(s.posterior_variance, t, x_t)
    not_last = (_at(torch.arange(s.timesteps, device=s.betas.device), t, x_t) > 0).to(x_t.dtype)
    return mean + not_last * var.sqrt() * z


def ddim_timesteps(timesteps: int, steps: int) -> Tensor:
    """The "leading" sub-sequence of diffusers' DDIMScheduler: t = k * (T // steps), k = steps-1 .. 0. (steps,)"""
    if not 1 <= steps <= timesteps:
        raise ValueError(f"steps must be in 1..{timesteps}, got {steps}")
    return (torch.arange(steps) * (timesteps // steps)).flip(0)


def ddim_step(x_t: Tensor, t: int, t_prev: int, eps_hat: Tensor, alphas_cumprod: Tensor, eta: float = 0.0,
              z: Tensor | None = None) -> Tensor:
    """One DDIM step x_t -> x_{t_prev} (Song et al., 2021, eq. 12); t_prev < 0 means the data (abar = 1).

    x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t),
    sigma^2 = eta^2 (1 - abar_prev) / (1 - abar_t) (1 - abar_t / abar_prev),
    x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps_hat + sigma z.
    eta = 0 is deterministic; eta = 1 with every step is DDPM's ancestral step with the posterior variance.
    """
    abar = alphas_cumprod[t].to(x_t.dtype)
    abar_prev = alphas_cumprod[t_prev].to(x_t.dtype) if t_prev >= 0 else x_t.new_tensor(1.0)
    x0_hat = (x_t - (1 - abar).sqrt() * eps_hat) / abar.sqrt()
    var = eta ** 2 * (1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)
    out = abar_prev.sqrt() * x0_hat + (1 - abar_prev - var).clamp(min=0).sqrt() * eps_hat
    if eta > 0:
        if z is None:
            raise ValueError("ddim_step with eta > 0 adds noise: pass z ~ N(0, I) shaped like x_t")
        out = out + var.sqrt() * z
    return out


# ---- samplers ---------------------------------------------------------------------------------------------

def _randn(like: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(like.shape, generator=generator, dtype=like.dtype).to(like.device)


def ddpm_sample(eps_fn: EpsFn, x: Tensor, schedule: Schedule | Tensor, generator: torch.Generator | None = None,
                variance: Literal["beta", "posterior"] = "beta", stop: int = -1, trajectory: bool = False
                ) -> Tensor | tuple[Tensor, list[Tensor]]:
    """Ancestral sampling from x = x_{T-1} (pure noise, (B, ...)) down to x_stop (stop = -1: the data estimate).

    ``trajectory=True`` also returns every intermediate x_t (T - 1 - stop tensors, the last one the result).
    """
    s = _schedule(schedule)
    path = []
    for t in range(s.timesteps - 1, stop, -1):
        ts = torch.full((len(x),), t, dtype=torch.long, device=x.device)
        x = reverse_step(x, ts, eps_fn(x, ts), s, _randn(x, generator), variance)
        path.append(x)
    return (x, path) if trajectory else x


def ddim_sample(eps_fn: EpsFn, x: Tensor, alphas_cumprod: Tensor, steps: int, eta: float = 0.0,
                generator: torch.Generator | None = None, stop_at_zero: bool = False, trajectory: bool = False
                ) -> Tensor | tuple[Tensor, list[Tensor]]:
    """DDIM from x = x_{T-1}-like noise over ``ddim_timesteps(T, steps)``; ends at the data estimate, or at
    the latent t = 0 with ``stop_at_zero`` (a discrete model then decodes it)."""
    times = ddim_timesteps(len(alphas_cumprod), steps).tolist()
    nexts = times[1:] + ([] if stop_at_zero else [-1])
    path = []
    for t, t_prev in zip(times, nexts, strict=False):
        ts = torch.full((len(x),), t, dtype=torch.long, device=x.device)
        z = _randn(x, generator) if eta > 0 else None
        x = ddim_step(x, t, t_prev, eps_fn(x, ts), alphas_cumprod, eta, z)
        path.append(x)
    return (x, path) if trajectory else x


# ---- denoiser networks ----------------------------------------------------------------------------------------

class TimeEmbedding(nn.Module):
    """t in [0, 1], (B,) -> (B, dim): sinusoids of t at frequencies 1 .. 1000, then a small MLP."""

    def __init__(self, dim: int, frequencies: int = 16) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.exp(torch.linspace(0.0, math.log(1000.0), frequencies)))
        self.net = nn.Sequential(nn.Linear(2 * frequencies, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        angles = t.to(self.freqs.dtype)[:, None] * self.freqs  # (B, F)
        return self.net(torch.cat([angles.sin(), angles.cos()], dim=1))


class ResidualMLPDenoiser(nn.Module):
    """x (B, D), t (B,) in [0, 1] -> (B, D) (``out_per_dim=None``) or (B, D, out_per_dim) logits.

    Residual blocks LayerNorm -> SiLU -> Linear (+ time embedding) -> SiLU -> Dropout -> Linear.
    """

    def __init__(self, dim: int, hidden: int = 128, blocks: int = 3, out_per_dim: int | None = None,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.dim, self.out_per_dim = dim, out_per_dim
        self.time = TimeEmbedding(hidden)
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(nn.ModuleDict({
            "norm": nn.LayerNorm(hidden), "fc1": nn.Linear(hidden, hidden), "emb": nn.Linear(hidden, hidden),
            "drop": nn.Dropout(dropout), "fc2": nn.Linear(hidden, hidden)}) for _ in range(blocks))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.SiLU(), nn.Linear(hidden, dim * (out_per_dim or 1)))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        h, emb = self.inp(x), self.time(t)
        for b in self.blocks:
            r = b["fc1"](F.silu(b["norm"](h))) + b["emb"](emb)
            h = h + b["fc2"](b["drop"](F.silu(r)))
        out = self.out(h)
        return out if self.out_per_dim is None else out.view(len(x), self.dim, self.out_per_dim)


class _ConvBlock(nn.Module):
    def __init__(self, channels: int, time_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.GroupNorm(8, channels), nn.GroupNorm(8, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.emb, self.drop = nn.Linear(time_dim, 2 * channels), nn.Dropout(dropout)

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)  # FiLM by the time embedding
        r = self.conv1(F.silu(self.norm1(h)))
        r = self.norm2(r) * (1 + scale) + shift
        return h + self.conv2(self.drop(F.silu(r)))


class ConvDenoiser(nn.Module):
    """x (B, side*side), t (B,) in [0, 1] -> (B, side*side) or (B, side*side, out_per_dim) logits.

    A 3x3 stem, ``blocks`` residual blocks (GroupNorm, SiLU, 3x3 conv, FiLM by the time embedding, dropout,
    3x3 conv) at full resolution (8x8 digits: 4 blocks see the whole image), a 1x1 head.
    """

    def __init__(self, side: int = 8, channels: int = 32, blocks: int = 4, out_per_dim: int | None = None,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.side, self.out_per_dim = side, out_per_dim
        self.time = TimeEmbedding(4 * channels)
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.blocks = nn.ModuleList(_ConvBlock(channels, 4 * channels, dropout) for _ in range(blocks))
        self.head = nn.Sequential(nn.GroupNorm(8, channels), nn.SiLU(), nn.Conv2d(channels, out_per_dim or 1, 1))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        h, emb = self.stem(x.view(len(x), 1, self.side, self.side)), self.time(t)
        for block in self.blocks:
            h = block(h, emb)
        out = self.head(h).flatten(2).transpose(1, 2)  # (B, side*side, out)
        return out[..., 0] if self.out_per_dim is None else out


# ---- the model ---------------------------------------------------------------------------------------------------

class GaussianDiffusion(Model):
    """A diffusion model over flat events (D,): continuous data (``num_levels=None``, e.g. 2-D toys) or
    integer levels 0 .. num_levels-1 (the 17-level digits) with the discrete bound of the module docstring.

    Args:
        denoiser: ``denoiser(x_t (B, D), t (B,) in [0, 1])``: the noise (B, D) for continuous data; logits
            (B, D, num_levels) for discrete data (see the module docstring for how they give the mean).
        betas: (T,), e.g. ``linear_beta_schedule(1000)``; kept as a buffer.
        dim: D.
        num_levels: K for discrete data (then ``elbo`` and ``elbo_terms`` exist), None for continuous data.

    ``loss(x)``: continuous data, the noise-prediction loss (``ddpm_loss``); discrete data, the negative
    bound (a dict with its three terms). ``sample(n, generator, method="ddpm"|"ddim", steps=, eta=)``.
    """

    def __init__(self, denoiser: nn.Module, betas: Tensor, dim: int, num_levels: int | None = None) -> None:
        super().__init__((dim,))
        self.denoiser, self.num_levels = denoiser, num_levels
        self.register_buffer("betas", betas.double().clone())
        if num_levels is not None:
            self.register_buffer("levels", torch.linspace(-1.0, 1.0, num_levels))  # v_k, (K,)
            # the distribution q(t) over t = 1 .. T-1 that the bound's Monte Carlo draws t from (uniform
            # unless fit_time_proposal sets it); the estimate KL_t / q(t) is unbiased for any q > 0
            self.register_buffer("time_proposal", torch.full((max(len(betas) - 1, 1),), 1.0 / max(len(betas) - 1, 1),
                                                             dtype=torch.float64))

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.betas)

    @property
    def alphas_cumprod(self) -> Tensor:
        return alphas_cumprod(self.betas)

    @property
    def timesteps(self) -> int:
        return len(self.betas)

    def _dtype(self) -> torch.dtype:
        return next((p.dtype for p in self.parameters() if p.is_floating_point()), torch.float32)

    def validate(self, x: Tensor) -> Tensor:
        """x: (B, D) floats (continuous) or integer levels 0 .. K-1 (discrete; returned as long)."""
        x = super().validate(x)
        return x if self.num_levels is None else check_levels(x, self.num_levels, self)

    # -- the network's predictions --
    def _time(self, t: Tensor) -> Tensor:
        return (t.float() + 1) / self.timesteps  # index 0 .. T-1 -> (0, 1]

    def level_logits(self, x_t: Tensor, t: Tensor) -> Tensor:
        """Discrete data: logits (B, D, K) of the level of each pixel given x_t: the network's plus the
        Gaussian log-likelihood log q(x_t | level k) = -(x_t - sqrt(abar_t) v_k)^2 / (2 (1 - abar_t)) + c."""
        abar = _at(self.alphas_cumprod, t, x_t)[..., None]  # (B, 1, 1)
        log_lik = -(x_t[..., None] - abar.sqrt() * self.levels).pow(2) / (2 * (1 - abar))
        return self.denoiser(x_t, self._time(t)) + log_lik

    def x0_hat(self, x_t: Tensor, t: Tensor) -> Tensor:
        """The denoised mean E[x_0 | x_t] the model predicts, (B, D) (on the [-1, 1] scale for discrete data)."""
        if self.num_levels is None:
            abar = _at(self.alphas_cumprod, t, x_t)
            return (x_t - (1 - abar).sqrt() * self.denoiser(x_t, self._time(t))) / abar.sqrt()
        return F.softmax(self.level_logits(x_t, t), dim=-1) @ self.levels

    def eps(self, x_t: Tensor, t: Tensor) -> Tensor:
        """The predicted noise eps_hat(x_t, t), (B, D): what the samplers and ``ddpm_loss`` use."""
        if self.num_levels is None:
            return self.denoiser(x_t, self._time(t))
        abar = _at(self.alphas_cumprod, t, x_t)
        return (x_t - abar.sqrt() * self.x0_hat(x_t, t)) / (1 - abar).sqrt()

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        """The noise prediction (so that ``ddpm_loss(model, x0, t, noise)`` works on the model itself)."""
        return self.eps(x_t, t)

    # -- the bound (discrete data) --
    def scaled(self, x: Tensor) -> Tensor:
        """Integer levels (B, D) -> v_x on [-1, 1]."""
        return self.levels[x]

    def elbo_terms(self, x: Tensor, generator: torch.Generator | None = None, t: Tensor | None = None
                   ) -> dict[str, Tensor]:
        """The three terms of the bound, each (B,) nats, one Monte Carlo draw (one t, one noise) per image:
        ``prior`` = -KL(q(z_{T-1} | x) || N(0, I)) (exact), ``diffusion`` = -KL_t / q(t) at t ~ q, the
        ``time_proposal`` (uniform: -(T - 1) KL_t; unbiased for the sum of the T - 1 KLs; ``t`` (B,) fixes the
        times, which must then be drawn from q), ``reconstruction`` =
        log p(x | z_0), z_0 ~ q(z_0 | x). Their sum is a one-draw estimate of the bound; every term is <= 0."""
        if self.num_levels is None:
            raise ValueError("elbo_terms is the bound on discrete levels: build the model with num_levels=...")
        x = self.validate(x)
        v, s, b = self.scaled(x), self.schedule, len(x)
        abar_last = s.alphas_cumprod[-1].to(v.dtype)
        prior = -0.5 * (abar_last * v.pow(2) + (1 - abar_last) - 1 - torch.log1p(-abar_last)).sum(1)
        if self.timesteps > 1:
            if t is None:
                t = torch.randint(1, self.timesteps, (b,), generator=generator).to(x.device)
            z_t = q_sample(v, t, s.alphas_cumprod, _randn(v, generator))
            diffusion = -self.diffusion_kl(v, z_t, t) / self.time_proposal[t - 1].to(v.dtype)
        else:
            diffusion = v.new_zeros(b)
        zero = torch.zeros(b, dtype=torch.long, device=x.device)
        z_0 = q_sample(v, zero, s.alphas_cumprod, _randn(v, generator))
        reconstruction = self.log_likelihood(x, z_0)
        return {"prior": prior, "diffusion": diffusion, "reconstruction": reconstruction}

    def stratified_times(self, n: int, stratum: int, strata: int, generator: torch.Generator | None = None,
                         offset: Tensor | None = None) -> Tensor:
        """n times in 1 .. T-1 drawn from ``time_proposal`` by its inverse CDF at u' = (stratum + u) / strata,
        u ~ U(0, 1) per time (or the given ``offset`` u). Averaged over the strata, t follows q(t) exactly, so
        the bound's estimate stays unbiased, with less variance than independent draws."""
        u = torch.rand(n, generator=generator, dtype=torch.float64) if offset is None else offset
        cdf = torch.cumsum(self.time_proposal.cpu(), 0)
        t = 1 + torch.searchsorted(cdf / cdf[-1], (stratum + u) / strata, right=True)
        return t.clamp(1, self.timesteps - 1).to(self.device)

    @torch.no_grad()
    def fit_time_proposal(self, x: Tensor, points: int = 100, uniform_share: float = 0.1,
                          generator: torch.Generator | None = None) -> Tensor:
        """Set ``time_proposal`` q(t) ∝ sqrt(E[KL_t^2]) (the variance-optimal importance distribution),
        measured on the images ``x`` (training data, never the images the bound is reported on) at
        ``points`` times and interpolated, mixed with a ``uniform_share`` of the uniform distribution.
        Returns the new q, (T-1,)."""
        x = self.validate(x)
        v, s = self.scaled(x), self.schedule
        grid = torch.linspace(1, self.timesteps - 1, points).round().long().unique()
        rms = []
        for t in grid.tolist():
            ts = torch.full((len(x),), t, dtype=torch.long, device=x.device)
            kl = self.diffusion_kl(v, q_sample(v, ts, s.alphas_cumprod, _randn(v, generator)), ts)
            rms.append(kl.double().pow(2).mean().sqrt().cpu())
        all_t = torch.arange(1, self.timesteps, dtype=torch.float64)
        curve = torch.from_numpy(np.interp(all_t.numpy(), grid.double().numpy(), torch.stack(rms).numpy()))
        q = (1 - uniform_share) * curve / curve.sum() + uniform_share / len(all_t)
        self.time_proposal.copy_(q.to(self.time_proposal))
        return self.time_proposal

    def elbo(self, x: Tensor, context: Tensor | None = None, draws: int = 1,
             generator: torch.Generator | None = None) -> Tensor:
        """A lower bound on log P(x) of the K-level images, (B,) nats: the mean of ``draws`` one-draw
        estimates whose times are stratified (draw k takes t from the k-th slice of 1 .. T-1), unbiased for
        the bound of the module docstring. More draws, less Monte Carlo noise."""
        self.validate_context(context, len(x))
        return sum(self.elbo_parts(x, draws, generator).values())

    def elbo_parts(self, x: Tensor, draws: int = 1, generator: torch.Generator | None = None
                   ) -> dict[str, Tensor]:
        """The three terms of :meth:`elbo` (``prior``, ``diffusion``, ``reconstruction``), each (B,) nats and
        each the mean over the same ``draws`` stratified draws that ``elbo`` averages: they sum to it."""
        x = self.validate(x)
        parts: dict[str, Tensor] = {}
        for k in range(draws):
            t = self.stratified_times(len(x), k, draws, generator) if self.timesteps > 1 else None
            for name, value in self.elbo_terms(x, generator, t).items():
                parts[name] = parts.get(name, 0) + value / draws
        return parts

    def diffusion_kl(self, v: Tensor, z_t: Tensor, t: Tensor) -> Tensor:
        """KL(q(z_{t-1} | z_t, x) || p(z_{t-1} | z_t)) in nats, (B,), for t >= 1; v = v_x (B, D).

        Both are Gaussians with the posterior variance; their means differ by coef1_t (v - xhat) with
        coef1_t = sqrt(abar_{t-1}) beta_t / (1 - abar_t), so the KL is coef1_t^2 ||v - xhat||^2 / (2 var_t)
        = 1/2 (SNR(t-1) - SNR(t)) ||v - xhat||^2.
        """
        snr = self.schedule.snr
        weight = (snr[t - 1] - snr[t]).to(v.dtype)
        return 0.5 * weight * (v - self.x0_hat(z_t, t)).pow(2).sum(1)

    def log_likelihood(self, x: Tensor, z: Tensor, context: Tensor | None = None) -> Tensor:
        """The decoder log p(x | z_0 = z) in nats, (...): x (B, D) levels, z (..., B, D) broadcasting."""
        z, x = torch.broadcast_tensors(z, x)
        flat_z, flat_x = z.reshape(-1, z.shape[-1]), x.reshape(-1, x.shape[-1])
        zero = torch.zeros(len(flat_z), dtype=torch.long, device=z.device)
        logp = F.log_softmax(self.level_logits(flat_z, zero), dim=-1)  # (N, D, K)
        return logp.gather(-1, flat_x[..., None])[..., 0].sum(-1).view(z.shape[:-1])

    def loss(self, x: Tensor, context: Tensor | None = None) -> dict[str, Tensor]:
        """Discrete data: the mean negative bound with its terms (nats per image); continuous data: the mean
        noise-prediction loss at a uniform t."""
        self.validate_context(context, len(x))
        if self.num_levels is None:
            x = self.validate(x)
            t = torch.randint(0, self.timesteps, (len(x),), device=x.device)
            return {"loss": ddpm_loss(self, x, t, torch.randn_like(x))}
        x = self.validate(x)
        t = None
        if self.timesteps > 1:  # low-discrepancy times over the batch (Kingma et al., 2021): unbiased
            shift = torch.rand(1, dtype=torch.float64).expand(len(x))
            t = self.stratified_times(len(x), 0, 1, offset=(shift + torch.arange(len(x)) / len(x)) % 1.0)
        terms = self.elbo_terms(x, t=t)
        out = {name: -value.mean() for name, value in terms.items()}
        loss = sum(out.values())
        return {"loss": loss, **{name: value.detach() for name, value in out.items()}}

    # -- sampling --
    def _sample(self, n: int, context: Tensor | None, generator: torch.Generator | None, *,
                method: Literal["ddpm", "ddim"] = "ddpm", steps: int | None = None, eta: float = 0.0) -> Tensor:
        x = torch.randn((n, *self.event_shape), generator=generator, dtype=self._dtype()).to(self.device)
        discrete = self.num_levels is not None
        if method == "ddpm":
            x = ddpm_sample(self.eps, x, self.schedule, generator, "posterior" if discrete else "beta",
                            stop=0 if discrete else -1)
        elif method == "ddim":
            x = ddim_sample(self.eps, x, self.alphas_cumprod, steps or self.timesteps, eta, generator,
                            stop_at_zero=discrete)
        else:
            raise ValueError(f"method must be 'ddpm' or 'ddim', got {method!r}")
        return self.decode(x, generator) if discrete else x

    def decode(self, z_0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Discrete data: a draw of x ~ p(x | z_0), (B, D) long levels, from the latent z_0 (B, D)."""
        logits = self.level_logits(z_0, torch.zeros(len(z_0), dtype=torch.long, device=z_0.device))
        probs = F.softmax(logits, -1).reshape(-1, self.num_levels)
        return torch.multinomial(probs, 1, generator=generator).view(len(z_0), -1)


def negative_elbo(model: GaussianDiffusion, x: Tensor, draws: int = 10, replicates: int = 4,
                  batch_size: int = 500, seed: int = 0) -> tuple[float, float]:
    """(mean negative bound over x, its Monte Carlo standard error), nats per image, in eval mode.

    Each image gets ``replicates`` independent estimates ``-model.elbo(x, draws=draws)`` (stratified times);
    the result is their mean, and the standard error of the mean over the N images is
    sqrt(sum_i var_i / replicates) / N with var_i the sample variance of image i's replicates.
    """
    bound, stderr, _ = negative_elbo_terms(model, x, draws, replicates, batch_size, seed)
    return bound, stderr


def negative_elbo_terms(model: GaussianDiffusion, x: Tensor, draws: int = 10, replicates: int = 4,
                        batch_size: int = 500, seed: int = 0) -> tuple[float, float, dict[str, float]]:
    """:func:`negative_elbo` and its three terms as costs (minus each term, nats per image), all from the same
    draws: the terms sum to the bound (up to float rounding)."""
    if replicates < 2:
        raise ValueError("the standard error needs replicates >= 2 independent estimates per image")
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    means, variances, totals = [], [], {}
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                batch = x[start:start + batch_size]
                parts = [model.elbo_parts(batch, draws, generator) for _ in range(replicates)]
                d = torch.stack([-sum(p.values()) for p in parts]).double()  # (R, b)
                means.append(d.mean(0))
                variances.append(d.var(0))
                for p in parts:
                    for name, value in p.items():
                        totals[name] = totals.get(name, 0.0) - value.double().sum().item() / replicates
    finally:
        model.train(was_training)
    mean, var = torch.cat(means), torch.cat(variances)
    terms = {name: total / len(x) for name, total in totals.items()}
    return mean.mean().item(), (var.sum() / replicates).sqrt().item() / len(x), terms


# ---- builders ------------------------------------------------------------------------------------------------

def diffusion_2d(timesteps: int = 200, hidden: int = 128, blocks: int = 3,
                 schedule: Literal["linear", "cosine"] = "linear") -> GaussianDiffusion:
    """A diffusion model for 2-D toy data: a residual MLP predicting the noise.

    ``"linear"``: DDPM's betas rescaled to T steps, from 0.1 / T to 20 / T (Ho et al.'s 1e-4 .. 0.02 at
    T = 1000), so that abar_{T-1} is about 5e-5 for every T. ``"cosine"`` ends with betas near 0.999, where
    an ancestral step divides by sqrt(alpha_t) ~ 0.03: with few steps its DDPM samples suffer (DDIM does not).
    """
    if schedule == "cosine":
        betas = cosine_schedule(timesteps)
    else:
        betas = linear_beta_schedule(timesteps, 0.1 / timesteps, 20.0 / timesteps)
    return GaussianDiffusion(ResidualMLPDenoiser(2, hidden, blocks), betas, dim=2)


def digits_diffusion(timesteps: int = 1000, channels: int = 32, blocks: int = 4, dropout: float = 0.0,
                     log_snr_max: float = 10.0, log_snr_min: float = -10.0, denoiser: str = "conv",
                     num_levels: int = 17, side: int = 8) -> GaussianDiffusion:
    """A diffusion model of the 17-level 8x8 digits with the discrete bound (linear log-SNR schedule)."""
    if denoiser == "conv":
        net: nn.Module = ConvDenoiser(side, channels, blocks, out_per_dim=num_levels, dropout=dropout)
    elif denoiser == "mlp":
        net = ResidualMLPDenoiser(side * side, 4 * channels, blocks, out_per_dim=num_levels, dropout=dropout)
    else:
        raise ValueError(f"denoiser must be 'conv' or 'mlp', got {denoiser!r}")
    return GaussianDiffusion(net, log_snr_schedule(timesteps, log_snr_max, log_snr_min), side * side, num_levels)
