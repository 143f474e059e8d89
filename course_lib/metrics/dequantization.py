"""Bounds on a discrete NLL from a continuous density: dequantisation and the preprocessing it needs.

Integer images x in {0, ..., L-1}^D (the digits: L = 17 levels, D = 64 pixels) are not a continuous variable, so
a density p on them is not a probability. Give every integer vector its unit cell [x, x + 1)^D on the integer
scale (bins of width 1) and define the discrete model

    P(x) = int_{[0,1)^D} p_y(x + u) du .

Its masses sum to at most one (exactly one when p_y puts all its mass in [0, L)^D; mass outside is lost, which
only makes P smaller), and by Jensen's inequality (uniform dequantisation, Theis et al., 2016, arXiv:1511.01844)

    -log P(x) <= E_{u ~ U[0,1)^D} [ -log p_y(x + u) ] ,

or, with any density q(u | x) on [0, 1)^D (variational dequantisation, Ho et al., 2019, arXiv:1902.00275),

    -log P(x) <= E_{u ~ q(u | x)} [ -log p_y(x + u) + log q(u | x) ] .

A flow models a transformed variable, not y = x + u itself. Every map on the way is counted by the change of
variables, log p_y(y) = log p_w(w(y)) + log |det dw/dy|:

- the unit cube, v = y / L:                     log |det| = -D log L   (-64 log 17 = -181.3 nats on the digits);
- the logit, w = logit(a + (1 - 2a) v):         log |det| = sum_i log((1 - 2a) / (s_i (1 - s_i))), s = a + (1 - 2a) v,
  with a small a (``ALPHA``) that keeps w finite at the cube's faces (Dinh et al., 2017, arXiv:1605.08803).

Forgetting the first term reports a density on the unit cube as if it were a probability: the bound then looks
181 nats better than it is (on a [0, 1) scale of 256 levels this is the "64 ln 256" of the literature).
``dequantize`` / ``dequantized_nll_bound`` (chapter 04's PPCA) work on the unit cube and add the D log L there.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

ALPHA = 0.05  # the logit's margin: s = ALPHA + (1 - 2 ALPHA) v stays inside (0, 1)

__all__ = ["ALPHA", "dequantize", "dequantized_nll_bound", "per_example_sum", "to_unit_cube", "from_unit_cube",
           "logit_transform", "logit_inverse", "logit_preprocess", "logit_postprocess", "dequantized_bound"]


def per_example_sum(t: Tensor) -> Tensor:
    """Sum over every dimension but the first: (B, ...) -> (B,)."""
    return t.reshape(len(t), -1).sum(1)


# ---- chapter 04: uniform dequantisation onto the unit cube ------------------------------------------------------

def dequantize(x: Tensor, num_levels: int, copies: int = 1, seed: int = 0,
               generator: torch.Generator | None = None) -> Tensor:
    """Integer levels (N, D) in 0..num_levels-1 -> (copies * N, D) float64 points (x + u) / num_levels, u ~ U[0, 1).

    The noise comes from ``generator`` if given, else from a fresh generator seeded with ``seed``.
    """
    gen = torch.Generator().manual_seed(seed) if generator is None else generator
    x = x.double().repeat(copies, 1)
    return (x + torch.rand(x.shape, generator=gen, dtype=torch.float64)) / num_levels


def dequantized_nll_bound(model, x: Tensor, num_levels: int, copies: int = 8, seed: int = 1) -> float:
    """Upper bound on the discrete NLL of integer images x (N, D), nats per image, from a density on [0, 1)^D.

    ``model`` has ``log_prob(v) -> (B,)``, a density of v = (x + u) / L on the unit cube.
    P(x) = int_{[0,1)^D} p_v((x + u) / L) L^-D du >= exp(E_u log p_v((x + u) / L)) L^-D (Jensen), so
    -log P(x) <= -E_u log p_v((x + u) / L) + D log L, estimated with ``copies`` draws of u per image.
    """
    d = x.shape[1]
    return -model.log_prob(dequantize(x, num_levels, copies, seed)).mean().item() + d * math.log(num_levels)


# ---- the preprocessing of a flow on the digits, each step with its log-determinant ------------------------------

def to_unit_cube(y: Tensor, num_levels: int) -> tuple[Tensor, Tensor]:
    """y on the integer scale [0, L)^D -> (v = y / L, log|det dv/dy| = -D log L per example, (B,))."""
    d = y[0].numel()
    return y / num_levels, torch.full((len(y),), -d * math.log(num_levels), dtype=y.dtype, device=y.device)


def from_unit_cube(v: Tensor, num_levels: int) -> Tensor:
    """The inverse of :func:`to_unit_cube`: v -> v * L."""
    return v * num_levels


def logit_transform(v: Tensor, alpha: float = ALPHA) -> tuple[Tensor, Tensor]:
    """v in [0, 1]^D -> (w = logit(alpha + (1 - 2 alpha) v), log|det dw/dv| per example, (B,)).

    dw_i/dv_i = (1 - 2 alpha) / (s_i (1 - s_i)) with s = alpha + (1 - 2 alpha) v; log s and log(1 - s) are
    computed from w (log s = -softplus(-w), log(1 - s) = -softplus(w)), which stays accurate near the faces.
    """
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha}")
    s = alpha + (1 - 2 * alpha) * v
    w = torch.log(s) - torch.log1p(-s)
    log_det = math.log(1 - 2 * alpha) + F.softplus(-w) + F.softplus(w)  # log(1-2a) - log s - log(1-s)
    return w, per_example_sum(log_det)


def logit_inverse(w: Tensor, alpha: float = ALPHA) -> Tensor:
    """The inverse of :func:`logit_transform`: w -> (sigmoid(w) - alpha) / (1 - 2 alpha)."""
    return (torch.sigmoid(w) - alpha) / (1 - 2 * alpha)


def logit_preprocess(y: Tensor, num_levels: int, alpha: float = ALPHA) -> tuple[Tensor, Tensor]:
    """y on the integer scale [0, L)^D -> (w, log|det dw/dy|) through the unit cube and the logit, (B, ...), (B,).

    log p_y(y) = log p_w(w) + log_det: the two steps' log-determinants, -D log L and the logit's, added.
    """
    v, log_det_cube = to_unit_cube(y, num_levels)
    w, log_det_logit = logit_transform(v, alpha)
    return w, log_det_cube + log_det_logit


def logit_postprocess(w: Tensor, num_levels: int, alpha: float = ALPHA) -> Tensor:
    """The inverse of :func:`logit_preprocess`: w -> y on the integer scale (values outside [0, L) can occur)."""
    return from_unit_cube(logit_inverse(w, alpha), num_levels)


def dequantized_bound(log_density: Callable[[Tensor], Tensor], x: Tensor, u: Tensor,
                      num_levels: int = 17, alpha: float = ALPHA) -> Tensor:
    """Monte Carlo estimate of the uniform-dequantisation bound E_u[-log p_y(x + u)] >= -log P(x), (B,) nats.

    Args:
        log_density: log p_w(w), (B, ...) -> (B,), a density of the preprocessed variable w = logit_preprocess(x + u).
        x: integer levels (B, ...) in 0..num_levels-1 (bins of width 1 on the integer scale).
        u: noise in [0, 1), the shape of x (one draw per example) or (K, *x.shape) (the mean of K draws).

    Returns -log p_w(w) - log|det dw/dy| at y = x + u, averaged over the K draws: its expectation over u is an
    upper bound on -log P(x) by Jensen's inequality (see the module docstring), 64 log 17 nats included.
    """
    if u.shape != x.shape and u.shape[1:] != x.shape:
        raise ValueError(f"u must have the shape of x {tuple(x.shape)} or (K, *x.shape), got {tuple(u.shape)}")
    if u.numel() and (u.min() < 0 or u.max() > 1):
        raise ValueError("u must lie in [0, 1]: the noise is on the integer scale, one unit wide per level")
    draws = u.reshape(-1, *x.shape)  # (K, B, ...)
    y = (x.to(draws.dtype) + draws).reshape(-1, *x.shape[1:])  # (K * B, ...)
    w, log_det = logit_preprocess(y, num_levels, alpha)
    nll = -(log_density(w) + log_det)  # (K * B,)
    return nll.view(len(draws), len(x)).mean(0)
