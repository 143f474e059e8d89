"""The Fréchet distance (course_lib.metrics.frechet): zero for identical sets, closed forms, an independent
eigenvalue formula, torchmetrics' FID with a custom feature module, near-singular covariances, the floor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.data import load_digits_split
from course_lib.metrics.frechet import (
    fit_gaussian,
    frechet_distance,
    frechet_distance_digits,
    frechet_distance_features,
    frechet_floor,
)


def _eigen_fd(mu1, cov1, mu2, cov2) -> float:
    """Independent formula: tr (C1 C2)^{1/2} = sum sqrt(eig(C1^{1/2} C2 C1^{1/2})), via symmetric eigh only."""
    w, v = np.linalg.eigh(cov1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = np.linalg.eigvalsh(root1 @ cov2 @ root1)
    root_trace = np.sqrt(np.clip(middle, 0, None)).sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * root_trace)


def _random_cov(d: int, rng: np.random.Generator, rank: int | None = None) -> np.ndarray:
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / d


def test_zero_for_identical_sets():
    x = np.random.default_rng(0).normal(size=(300, 12))
    assert frechet_distance_features(x, x) == pytest.approx(0.0, abs=1e-8)
    split = load_digits_split()
    assert frechet_distance_digits(split.test, split.test) == pytest.approx(0.0, abs=1e-6)


def test_closed_form_for_diagonal_covariances():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    a, b = rng.uniform(0.1, 3, size=5), rng.uniform(0.1, 3, size=5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance([0.0], [[4.0]], [1.0], [[1.0]]) == pytest.approx(1.0 + (2 - 1) ** 2)


def test_matches_the_eigenvalue_formula_for_full_and_near_singular_covariances():
    rng = np.random.default_rng(2)
    for rank in (None, 3):  # full rank, then rank 3 of 8: singular covariances
        cov1, cov2 = _random_cov(8, rng, rank), _random_cov(8, rng, rank)
        mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
        fd = frechet_distance(mu1, cov1, mu2, cov2)
        assert np.isfinite(fd) and fd >= 0
        assert fd == pytest.approx(_eigen_fd(mu1, cov1, mu2, cov2), rel=1e-4, abs=1e-6)


def test_fewer_samples_than_features_gives_a_finite_real_number():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(10, 30)), rng.normal(size=(12, 30))
    fd = frechet_distance_features(x, y)
    assert isinstance(fd, float) and np.isfinite(fd)
    assert fd == pytest.approx(_eigen_fd(*fit_gaussian(x), *fit_gaussian(y)), rel=1e-3)


def test_rejects_what_is_not_a_covariance():
    with pytest.raises(ValueError, match="imaginary"):
        frechet_distance(np.zeros(2), np.array([[1.0, 0.0], [0.0, -1.0]]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match=r"\(F, F\)"):
        frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="N >= 2"):
        fit_gaussian(np.zeros((1, 4)))


class _Identity(nn.Module):
    """A feature 'extractor' for torchmetrics: the features are the inputs themselves."""

    num_features = 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_agrees_with_torchmetrics_fid_with_a_custom_feature_module():
    fid_module = pytest.importorskip("torchmetrics.image.fid", reason="torchmetrics is a test-only dependency")
    rng = np.random.default_rng(4)
    real = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    fake = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 0.5
    metric = fid_module.FrechetInceptionDistance(feature=_Identity(), normalize=False)
    metric.update(torch.from_numpy(real), real=True)
    metric.update(torch.from_numpy(fake), real=False)
    assert frechet_distance_features(fake, real) == pytest.approx(float(metric.compute()), rel=1e-5)


def test_the_floor_and_a_baseline_far_above_it():
    split = load_digits_split()
    floor = frechet_floor()
    assert floor > 0 and floor == pytest.approx(frechet_distance_digits(split.train, split.test))
    rng = np.random.default_rng(0)  # independent pixels: each pixel drawn from its own training marginal
    x = split.train.numpy()
    independent = np.stack([x[rng.integers(0, len(x), 1000), j] for j in range(64)], axis=1)
    assert frechet_distance_digits(independent, split.test) > 5 * floor
