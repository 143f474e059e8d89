"""Seeded 2-D toy distributions: two moons, rings, eight Gaussians, checkerboard, spirals, and the GAN
benchmarks' tight mixtures (a ring of Gaussians, a grid of Gaussians).

Each ``make_*(n, seed=0)`` returns a float32 tensor of shape (n, 2), drawn from its own
``np.random.default_rng(seed)``: the global random streams are never touched.

The mixtures of chapter 05 (Srivastava et al., 2017, VEEGAN, arXiv:1705.07761; Metz et al., 2016, Unrolled
GANs, arXiv:1611.02163): ``make_gaussian_ring(n, seed=0, modes=8, radius=2.0, std=0.02)`` and
``make_gaussian_grid(n, seed=0, side=5, spacing=2.0, std=0.05)``, equal-weight mixtures of isotropic Gaussians
whose means are ``ring_centres(modes, radius)`` and ``grid_centres(side, spacing)``, (K, 2) float32 tensors;
``course_lib.metrics.toy2d`` scores samples against those centres.
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


def ring_centres(modes: int = 8, radius: float = 2.0) -> Tensor:
    """(modes, 2) float32: ``modes`` points evenly spaced on a circle of ``radius``, the first at (radius, 0)."""
    if modes < 1:
        raise ValueError(f"modes must be a positive number of mixture components, got {modes}")
    angle = np.arange(modes) * (2.0 * math.pi / modes)
    return torch.from_numpy((radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)).astype(np.float32))


def grid_centres(side: int = 5, spacing: float = 2.0) -> Tensor:
    """(side ** 2, 2) float32: a ``side`` x ``side`` square grid with ``spacing``, centred on the origin
    (side 5, spacing 2: coordinates -4, -2, 0, 2, 4), in row-major order."""
    if side < 1:
        raise ValueError(f"side must be a positive number of rows, got {side}")
    coords = (np.arange(side) - (side - 1) / 2.0) * spacing
    xx, yy = np.meshgrid(coords, coords, indexing="ij")
    return torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32))


def _mixture(n: int, centres: Tensor, std: float, rng: np.random.Generator) -> Tensor:
    """n points of an equal mixture of isotropic Gaussians N(centre_k, std^2 I)."""
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")
    means = centres.numpy().astype(np.float64)
    which = rng.integers(0, len(means), size=n)
    return torch.from_numpy((means[which] + std * rng.standard_normal((n, 2))).astype(np.float32))


def make_gaussian_ring(n: int, seed: int = 0, modes: int = 8, radius: float = 2.0, std: float = 0.02) -> Tensor:
    """An equal mixture of ``modes`` isotropic Gaussians (standard deviation ``std``) on a circle of ``radius``.

    The default (8 modes, radius 2, std 0.02) is the GAN benchmark of chapter 05; its centres are
    ``ring_centres(modes, radius)``.
    """
    _check_n(n)
    return _mixture(n, ring_centres(modes, radius), std, np.random.default_rng(seed))


def make_gaussian_grid(n: int, seed: int = 0, side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Tensor:
    """An equal mixture of ``side ** 2`` isotropic Gaussians (standard deviation ``std``) on a square grid.

    The default (5 x 5, spacing 2, std 0.05) is the 25-Gaussian GAN benchmark; its centres are
    ``grid_centres(side, spacing)``.
    """
    _check_n(n)
    return _mixture(n, grid_centres(side, spacing), std, np.random.default_rng(seed))


TOYS = {
    "two_moons": make_two_moons,
    "rings": make_rings,
    "eight_gaussians": make_eight_gaussians,
    "checkerboard": make_checkerboard,
    "spirals": make_spirals,
    "gaussian_ring": make_gaussian_ring,
    "gaussian_grid": make_gaussian_grid,
}
