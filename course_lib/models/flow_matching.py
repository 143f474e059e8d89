"""Flow matching / rectified flow: learn a velocity field whose ODE carries noise to data.

Convention: x0 ~ N(0, I) is the noise at t = 0, x1 is a data point at t = 1, and the conditional path is the
straight line x_t = (1 - t) x0 + t x1, whose velocity is u = x1 - x0 (the same at every t). The conditional
flow matching loss

    E_{t ~ U(0, 1), x0, x1} || v(x_t, t) - (x1 - x0) ||^2

has the same minimiser as the regression on the marginal velocity E[x1 - x0 | x_t] (Lipman et al., 2023,
arXiv:2210.02747, with sigma_min = 0; Liu, Gong and Liu, 2023, arXiv:2209.03003; Albergo and Vanden-Eijnden,
2023). Solving dx/dt = v(x, t) from t = 0 to 1 (``ode_solve``: Euler, midpoint or Heun, ``steps=``) maps
N(0, I) to the model's distribution. The probability-flow ODE of a diffusion model is the same kind of object
with another path.

On the 17-level digits the model sees each level k at v_k = -1 + 2k / (K - 1) plus uniform noise over its bin
(dequantisation), and a sample is rounded back to the nearest level. The model has no likelihood here: it is
judged by its samples (chapter 05's Fréchet distance).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from course_lib.models.base import Model, check_levels
from course_lib.models.diffusion import ConvDenoiser, ResidualMLPDenoiser

__all__ = ["flow_matching_target", "conditional_flow_matching_loss", "ode_solve", "FlowMatching",
           "flow_matching_2d", "digits_flow_matching"]

VelocityFn = Callable[[Tensor, Tensor], Tensor]  # v = velocity(x (B, ...), t (B,) in [0, 1])


def _times(t: Tensor | float, like: Tensor) -> Tensor:
    """t as (B, 1, ..., 1) to broadcast over the event dimensions of ``like``."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    t = t.expand(len(like)) if t.dim() == 0 else t
    return t.reshape(len(like), *([1] * (like.dim() - 1)))


def flow_matching_target(x0: Tensor, x1: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """The point x_t = (1 - t) x0 + t x1 on the straight path from noise x0 (t = 0) to data x1 (t = 1), and
    the target velocity there, u = x1 - x0. x0, x1 (B, ...); t (B,) in [0, 1]. Returns (x_t, u), each (B, ...)."""
    tt = _times(t, x0)
    return (1 - tt) * x0 + tt * x1, x1 - x0


def conditional_flow_matching_loss(velocity: VelocityFn, x1: Tensor, t: Tensor, x0: Tensor) -> Tensor:
    """Mean over the batch of ||velocity(x_t, t) - (x1 - x0)||^2, summed over the event dimensions. Scalar."""
    x_t, u = flow_matching_target(x0, x1, t)
    return (velocity(x_t, t) - u).pow(2).flatten(1).sum(1).mean()


def ode_solve(velocity: VelocityFn, x: Tensor, steps: int = 50,
              method: Literal["euler", "midpoint", "heun"] = "midpoint", t0: float = 0.0, t1: float = 1.0,
              trajectory: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
    """Integrate dx/dt = velocity(x, t) from t0 to t1 in ``steps`` equal steps; x (B, ...).

    Euler: one evaluation per step, error O(1/steps); midpoint and Heun (explicit trapezoid): two evaluations
    per step, error O(1/steps^2). ``trajectory=True`` also returns x after every step.
    """
    if steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps}")
    if method not in ("euler", "midpoint", "heun"):
        raise ValueError(f"method must be 'euler', 'midpoint' or 'heun', got {method!r}")
    dt = (t1 - t0) / steps
    path = []
    for i in range(steps):
        t = torch.full((len(x),), t0 + i * dt, dtype=x.dtype, device=x.device)
        k1 = velocity(x, t)
        if method == "euler":
            x = x + dt * k1
        elif method == "midpoint":
            x = x + dt * velocity(x + 0.5 * dt * k1, t + 0.5 * dt)
        else:
            x = x + 0.5 * dt * (k1 + velocity(x + dt * k1, t + dt))
        path.append(x)
    return (x, path) if trajectory else x


class FlowMatching(Model):
    """A flow matching model over flat events (D,): continuous data, or integer levels (``num_levels=K``).

    Args:
        velocity: ``velocity(x (B, D), t (B,) in [0, 1]) -> (B, D)``, e.g. a ResidualMLPDenoiser or a
            ConvDenoiser with ``out_per_dim=None``.
        dim: D.
        num_levels: K for integer data (dequantised for training, rounded when sampling), None otherwise.

    ``loss(x)``: the conditional flow matching loss at t ~ U(0, 1). ``sample(n, generator, steps=50,
    method="midpoint")`` solves the ODE from N(0, I).
    """

    def __init__(self, velocity: nn.Module, dim: int, num_levels: int | None = None) -> None:
        super().__init__((dim,))
        self.velocity, self.num_levels = velocity, num_levels

    def validate(self, x: Tensor) -> Tensor:
        """x: (B, D) floats (continuous) or integer levels 0 .. K-1 (returned as long)."""
        x = super().validate(x)
        return x if self.num_levels is None else check_levels(x, self.num_levels, self)

    def to_continuous(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Integer levels -> v_x + uniform noise over the level's bin, on [-1 - h, 1 + h] (h = 1 / (K - 1))."""
        width = 2.0 / (self.num_levels - 1)
        u = torch.rand(x.shape, generator=generator).to(self.device)
        return -1.0 + width * (x.float() + u - 0.5)

    def to_levels(self, x: Tensor) -> Tensor:
        """The nearest level of each value, (B, D) long."""
        k = torch.round((x + 1.0) * (self.num_levels - 1) / 2.0)
        return k.clamp(0, self.num_levels - 1).long()

    def loss(self, x: Tensor, context: Tensor | None = None) -> dict[str, Tensor]:
        x = self.validate(x)
        self.validate_context(context, len(x))
        x1 = x if self.num_levels is None else self.to_continuous(x)
        t = torch.rand(len(x1), device=x1.device)
        return {"loss": conditional_flow_matching_loss(self.velocity, x1, t, torch.randn_like(x1))}

    def _sample(self, n: int, context: Tensor | None, generator: torch.Generator | None, *, steps: int = 50,
                method: Literal["euler", "midpoint", "heun"] = "midpoint") -> Tensor:
        x = torch.randn((n, *self.event_shape), generator=generator).to(self.device)
        x = ode_solve(self.velocity, x, steps, method)
        return x if self.num_levels is None else self.to_levels(x)


def flow_matching_2d(hidden: int = 128, blocks: int = 3) -> FlowMatching:
    """Flow matching for 2-D toy data with a residual MLP velocity field."""
    return FlowMatching(ResidualMLPDenoiser(2, hidden, blocks), dim=2)


def digits_flow_matching(channels: int = 32, blocks: int = 4, dropout: float = 0.0, denoiser: str = "conv",
                         num_levels: int = 17, side: int = 8) -> FlowMatching:
    """Flow matching on the 17-level 8x8 digits (dequantised), with a small conv (or residual MLP) network."""
    if denoiser == "conv":
        net: nn.Module = ConvDenoiser(side, channels, blocks, dropout=dropout)
    elif denoiser == "mlp":
        net = ResidualMLPDenoiser(side * side, 4 * channels, blocks, dropout=dropout)
    else:
        raise ValueError(f"denoiser must be 'conv' or 'mlp', got {denoiser!r}")
    return FlowMatching(net, side * side, num_levels)
