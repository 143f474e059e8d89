"""Sample quality from features alone: k-NN precision/recall and density/coverage, and the kernel distance.

All functions take features of shape (N, F), numpy or torch (any trailing shape is flattened, so (N, 8, 8)
digits work in pixel space), and work in float64. Pairwise Euclidean distances are computed in blocks of rows,
||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b (near-duplicates exactly), so 5,000 x 5,000 points never hold more than a
few tens of MB.

- Precision and recall (Kynkaenniemi et al., 2019, arXiv:1904.06991): the real manifold is the union of balls
  around each real point with radius its distance to its k-th nearest other real point; precision is the share
  of fake points inside the real manifold, recall the share of real points inside the fake manifold.
- Density and coverage (Naeem et al., 2020, arXiv:2002.09797): density counts how many real balls hold each fake
  point, divided by k (about 1 for matching distributions, and it can exceed 1); coverage is the share of real
  points whose ball holds at least one fake point. Both use only the real balls, so fake outliers do not inflate
  them.
- Kernel distance, KID (Binkowski et al., 2018, arXiv:1801.01401): the unbiased estimate of the squared maximum
  mean discrepancy with the kernel k(a, b) = (gamma a.b + coef)^degree, averaged over random subsets.

"Inside a ball" is ||x - centre|| <= radius (a closed ball, as in both papers' definitions).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# rows per block of a distance matrix: a block holds at most about this many float64 entries (32 MB)
_BLOCK_ENTRIES = 4_000_000
# a squared distance below this share of ||a||^2 + ||b||^2 is recomputed exactly (see distance_blocks)
_CANCELLATION = 1e-8


def as_features(x, name: str = "features") -> np.ndarray:
    """(N, F) float64 numpy array from numpy, torch or lists; trailing dimensions are flattened."""
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().double().numpy()
    values = np.asarray(x, dtype=np.float64)
    if values.ndim < 2:
        raise ValueError(f"{name} must have shape (N, F), one row of features per example, got shape "
                         f"{values.shape}; for one feature per example pass x[:, None]")
    values = values.reshape(len(values), -1)
    if len(values) == 0:
        raise ValueError(f"{name} is empty: it needs at least one example")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinity; check the model's samples before scoring them")
    return values


def distance_blocks(a: np.ndarray, b: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Euclidean distances between the rows of ``a`` (N, F) and ``b`` (M, F), a block of rows at a time.

    Yields (start, D) with D[i, j] = ||a[start + i] - b[j]||, D of shape (rows, M) float64.
    """
    b_sq = (b * b).sum(1)  # (M,)
    rows = max(1, _BLOCK_ENTRIES // max(1, len(b)))
    for start in range(0, len(a), rows):
        block = a[start : start + rows]
        block_sq = (block * block).sum(1)
        sq = block @ b.T  # (rows, M), turned in place into ||a||^2 + ||b||^2 - 2 a.b
        sq *= -2.0
        sq += block_sq[:, None]
        sq += b_sq[None, :]
        # where the terms nearly cancel (near-duplicates) the expansion loses its digits: a copy would sit at 1e-8
        # instead of 0. Those few entries are recomputed from the differences.
        i, j = np.nonzero(sq <= _CANCELLATION * (block_sq.max() + b_sq.max()))
        if len(i):
            sq[i, j] = ((block[i] - b[j]) ** 2).sum(1)
        np.maximum(sq, 0.0, out=sq)
        yield start, np.sqrt(sq, out=sq)


def _check_k(k: int, n: int, name: str) -> None:
    if not (isinstance(k, (int, np.integer)) and 1 <= k < n):
        raise ValueError(f"k must be an integer with 1 <= k < len({name}) = {n}, got {k!r}: the k-th nearest "
                         "OTHER point must exist")


def knn_radii(features, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest OTHER point of the same set.

    Args:
        features: (N, F) points.
        k: which neighbour, 1 <= k < N. The point itself (distance 0) is not its own neighbour; a duplicate of
            it elsewhere in the set is.

    Returns:
        (N,) float64 radii.
    """
    x = as_features(features)
    _check_k(k, len(x), "features")
    radii = np.empty(len(x))
    for start, dist in distance_blocks(x, x):
        rows = np.arange(len(dist))
        dist[rows, start + rows] = np.inf  # exclude each point itself, by index (not by a zero distance)
        radii[start : start + len(dist)] = np.partition(dist, k - 1, axis=1)[:, k - 1]
    return radii


def _ball_statistics(real: np.ndarray, fake: np.ndarray, r_real: np.ndarray, r_fake: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One pass over the (fake, real) distances, a block of fake rows at a time.

    Returns (for each fake point) the number of real balls holding it, (for each real point) whether some fake
    ball holds it (all False without ``r_fake``), and each real point's distance to its nearest fake point.
    """
    in_real_balls = np.empty(len(fake), dtype=np.int64)
    in_fake_ball = np.zeros(len(real), dtype=bool)
    nearest_fake = np.full(len(real), np.inf)
    for start, dist in distance_blocks(fake, real):  # dist[j, i] = ||fake[start + j] - real[i]||
        in_real_balls[start : start + len(dist)] = (dist <= r_real[None, :]).sum(1)
        if r_fake is not None:
            in_fake_ball |= (dist <= r_fake[start : start + len(dist), None]).any(0)
        np.minimum(nearest_fake, dist.min(0), out=nearest_fake)
    return in_real_balls, in_fake_ball, nearest_fake


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall of ``fake`` against ``real`` (Kynkaenniemi et al., 2019).

    Args:
        real: (N, F) features of real data; fake: (M, F) features of samples; k: neighbours for the radii.

    Returns:
        (precision, recall): the share of fake points within some real point's k-NN ball (quality), and the
        share of real points within some fake point's k-NN ball (diversity), each in [0, 1].
    """
    real, fake = as_features(real, "real"), as_features(fake, "fake")
    _check_k(k, len(real), "real")
    _check_k(k, len(fake), "fake")
    in_real_balls, in_fake_ball, _ = _ball_statistics(real, fake, knn_radii(real, k), knn_radii(fake, k))
    return float((in_real_balls > 0).mean()), float(in_fake_ball.mean())


def density_coverage(real, fake, k: int = 3) -> tuple[float, float]:
    """Density and coverage of ``fake`` against ``real`` (Naeem et al., 2020).

    Returns:
        (density, coverage): the mean number of real k-NN balls holding a fake point, divided by k (about 1
        when fake matches real, more where fakes crowd dense regions); and the share of real points whose ball
        holds at least one fake point, in [0, 1].
    """
    real, fake = as_features(real, "real"), as_features(fake, "fake")
    _check_k(k, len(real), "real")
    radii = knn_radii(real, k)
    in_real_balls, _, nearest_fake = _ball_statistics(real, fake, radii, None)
    return float(in_real_balls.mean() / k), float((nearest_fake <= radii).mean())


def _polynomial_kernel(a: np.ndarray, b: np.ndarray, degree: int, gamma: float, coef: float) -> np.ndarray:
    """(len(a), len(b)) matrix of (gamma a.b + coef)^degree."""
    base = gamma * (a @ b.T) + coef
    out = base.copy()
    for _ in range(degree - 1):  # repeated products: about 40x faster than numpy's ** for a small integer power
        out *= base
    return out


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray, degree: int, gamma: float, coef: float) -> float:
    """Unbiased MMD^2 of two equal-sized sets: the within-set sums leave out the diagonal k(x_i, x_i)."""
    m = len(x)
    k_xx = _polynomial_kernel(x, x, degree, gamma, coef)
    k_yy = _polynomial_kernel(y, y, degree, gamma, coef)
    k_xy = _polynomial_kernel(x, y, degree, gamma, coef)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


def kernel_distance(x, y, degree: int = 3, gamma: float | None = None, coef: float = 1.0, subsets: int = 100,
                    subset_size: int | None = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel (Inception) distance, KID: the unbiased MMD^2 between two feature sets, averaged over subsets.

    Each of ``subsets`` rounds draws ``subset_size`` rows of x and of y without replacement (from its own
    ``np.random.default_rng(seed)``, so the result is reproducible) and computes

        MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (m (m - 1))
                  - 2 sum_{i, j} k(x_i, y_j) / m^2,

    with k(a, b) = (gamma a.b + coef)^degree and gamma = 1 / F by default. Its expectation is the population
    MMD^2, which is 0 when x and y come from one distribution: the estimate can be slightly negative.

    Args:
        x: (N, F) features (the real data, say); y: (M, F) features (the samples).
        subset_size: rows per subset; None (or more than the smaller set holds) uses min(N, M).

    Returns:
        (mean, std): the mean over the subsets, and the standard deviation of one subset's estimate around it.
        The subsets overlap, so std / sqrt(subsets) would understate the uncertainty of the mean; with
        subset_size = min(N, M) = N = M every subset is the whole data and std is 0.
    """
    x, y = as_features(x, "x"), as_features(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same number of features, got {x.shape[1]} and {y.shape[1]}")
    size = min(len(x), len(y)) if subset_size is None else min(int(subset_size), len(x), len(y))
    if size < 2:
        raise ValueError("the unbiased kernel distance needs at least 2 examples in each set")
    if subsets < 1:
        raise ValueError(f"subsets must be at least 1, got {subsets}")
    if not (isinstance(degree, (int, np.integer)) and degree >= 1):
        raise ValueError(f"degree must be a positive integer, got {degree!r}")
    gamma = 1.0 / x.shape[1] if gamma is None else float(gamma)
    rng = np.random.default_rng(seed)
    values = np.array([
        _unbiased_mmd2(x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)],
                       degree, gamma, coef)
        for _ in range(subsets)
    ])
    return float(values.mean()), float(values.std())
