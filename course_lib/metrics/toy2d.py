"""Sample quality on the 2-D Gaussian mixtures of chapter 05: which mode a sample belongs to, how many modes a
sampler covers, and the share of its samples that are of high quality.

Public names: ``assign_modes``, ``modes_covered``, ``high_quality_share``, ``mode_counts``, ``MIN_SHARE``.

Definitions (the benchmarks of Metz et al., 2016, arXiv:1611.02163 and Srivastava et al., 2017,
arXiv:1705.07761, with the threshold stated here):

- a sample is of **high quality** when it lies within ``radius_in_std`` (3) standard deviations ``std`` of the
  mixture's component, in Euclidean distance to its nearest centre; it is then *assigned* to that centre;
- a mode is **covered** when at least ``min_share`` of all the samples (default ``MIN_SHARE`` = 1 %, counted
  among all N samples, not only the good ones) are high-quality samples assigned to it.

Why 1 %: for a perfect sampler of an isotropic 2-D Gaussian, P(|x - mu| <= 3 std) = 1 - exp(-9/2) = 0.989, so
a mode of the 25-Gaussian grid receives Binomial(N, 0.0396) high-quality samples; with N = 1,000 that is 39.6
on average and P(fewer than 10) = 3e-9 for each mode, so all 25 are covered with probability above
1 - 1e-7 (scipy.stats.binom; with N = 2,500 the margin is larger still; with 8 modes, 124 expected against
10 required). A
sampler that drops a mode, or leaves it a few stray points, does not get it counted. The share of
high-quality samples of a perfect sampler is 0.989, not 1.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

__all__ = ["assign_modes", "mode_counts", "modes_covered", "high_quality_share", "MIN_SHARE"]

MIN_SHARE = 0.01  # a mode is covered when at least 1 % of all samples are high-quality samples of it

Points = Tensor | np.ndarray


def _as_points(x: Points, name: str) -> np.ndarray:
    array = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must be 2-D points of shape (N, 2), got shape {array.shape}")
    return array.astype(np.float64)


def assign_modes(samples: Points, centres: Points, std: float, radius_in_std: float = 3.0) -> np.ndarray:
    """The mode of each sample: the index of its nearest centre when it lies within ``radius_in_std * std``
    of it (Euclidean distance; ``std`` is a standard deviation, not a variance), else -1.

    Args:
        samples: (N, 2) points; centres: (K, 2) the mixture's means; std: each component's standard deviation.

    Returns:
        (N,) int64 numpy array with values in -1 .. K - 1.
    """
    x, c = _as_points(samples, "samples"), _as_points(centres, "centres")
    if std <= 0 or radius_in_std <= 0:
        raise ValueError(f"std and radius_in_std must be positive, got {std} and {radius_in_std}")
    distances = np.linalg.norm(x[:, None, :] - c[None, :, :], axis=-1)  # (N, K)
    nearest = distances.argmin(axis=1)
    close = distances[np.arange(len(x)), nearest] <= radius_in_std * std
    return np.where(close, nearest, -1).astype(np.int64)


def mode_counts(samples: Points, centres: Points, std: float, radius_in_std: float = 3.0) -> np.ndarray:
    """(K,) the number of high-quality samples assigned to each centre."""
    modes = assign_modes(samples, centres, std, radius_in_std)
    return np.bincount(modes[modes >= 0], minlength=len(_as_points(centres, "centres")))


def modes_covered(samples: Points, centres: Points, std: float, radius_in_std: float = 3.0,
                  min_share: float = MIN_SHARE) -> int:
    """How many modes receive at least ``min_share`` of all N samples as high-quality samples (0 .. K).

    A count of modes, not of samples; see the module docstring for why 1 % covers every mode of a perfect
    sampler of 8 or 25 modes with 1,000 samples or more, with near certainty.
    """
    if not 0.0 < min_share <= 1.0:
        raise ValueError(f"min_share is a share of the samples, in (0, 1], got {min_share}")
    counts = mode_counts(samples, centres, std, radius_in_std)
    return int((counts >= min_share * len(_as_points(samples, "samples"))).sum())


def high_quality_share(samples: Points, centres: Points, std: float, radius_in_std: float = 3.0) -> float:
    """The share of samples within ``radius_in_std`` standard deviations of their nearest centre (0 .. 1)."""
    return float((assign_modes(samples, centres, std, radius_in_std) >= 0).mean())
