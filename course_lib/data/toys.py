"""Seeded 2-D toy distributions: two moons, rings, eight Gaussians, checkerboard, spirals.

Each ``make_*(n, seed=0)`` returns a float32 tensor of shape (n, 2), drawn from its own
``np.random.default_rng(seed)``: the global random streams are never touched.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def _check_n(n: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer number of points, got {n!r}")


def _to_tensor(points: np.ndarray, rng: np.random.Generator) -> Tensor:
    points = points[rng.permutation(len(points))]  # mix the pieces, so any prefix is a fair sample
    return torch.from_numpy(points.astype(np.float32))


def make_two_moons(n: int, seed: int = 0, noise: float = 0.1) -> Tensor:
    """Two interleaved half circles, centred near the origin (x in about [-1.5, 2.5])."""
    _check_n(n)
    rng = np.random.default_rng(seed)
    n_upper = n // 2
    angle = rng.uniform(0.0, math.pi, size=n)
    upper = np.arange(n) < n_upper
    x = np.where(upper, np.cos(angle), 1.0 - np.cos(angle))
    y = np.where(upper, np.sin(angle), 0.5 - np.sin(angle))
    points = np.stack([x, y], axis=1) + noise * rng.standard_normal((n, 2))
    return _to_tensor(points - np.array([0.5, 0.25]), rng)


def make_rings(n: int, seed: int = 0, radii: tuple[float, ...] = (1.0, 2.0, 3.0), noise: float = 0.08) -> Tensor:
    """Concentric rings with equal numbers of points, radii ``radii``."""
    _check_n(n)
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(radii), size=n)
    radius = np.asarray(radii)[which] + noise * rng.standard_normal(n)
    angle = rng.uniform(0.0, 2.0 * math.pi, size=n)
    return _to_tensor(np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1), rng)


def make_eight_gaussians(n: int, seed: int = 0, radius: float = 2.0, std: float = 0.2) -> Tensor:
    """An equal mixture of eight isotropic Gaussians whose means lie on a circle."""
    _check_n(n)
    rng = np.random.default_rng(seed)
    which = rng.integers(0, 8, size=n)
    angle = which * (2.0 * math.pi / 8)
    means = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return _to_tensor(means + std * rng.standard_normal((n, 2)), rng)


def make_checkerboard(n: int, seed: int = 0, squares: int = 4) -> Tensor:
    """Uniform on the dark squares of a ``squares`` x ``squares`` board covering [-2, 2]^2."""
    _check_n(n)
    rng = np.random.default_rng(seed)
    size = 4.0 / squares
    cells = [(i, j) for i in range(squares) for j in range(squares) if (i + j) % 2 == 0]
    which = rng.integers(0, len(cells), size=n)
    corner = np.array(cells, dtype=float)[which] * size - 2.0
    return _to_tensor(corner + size * rng.uniform(size=(n, 2)), rng)


def make_spirals(n: int, seed: int = 0, turns: float = 1.5, noise: float = 0.1) -> Tensor:
    """Two interleaved spiral arms starting at the origin (radius up to about 3)."""
    _check_n(n)
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(size=n)) * turns * 2.0 * math.pi  # sqrt: even density along the arm
    arm = rng.integers(0, 2, size=n)
    angle = t + math.pi * arm
    radius = t / (turns * 2.0 * math.pi) * 3.0
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return _to_tensor(points + noise * rng.standard_normal((n, 2)), rng)


TOYS = {
    "two_moons": make_two_moons,
    "rings": make_rings,
    "eight_gaussians": make_eight_gaussians,
    "checkerboard": make_checkerboard,
    "spirals": make_spirals,
}
