"""Nearest neighbours, the near-copy share and the membership-inference AUC, on cases with known answers."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from course_lib.data import load_digits_split
from course_lib.metrics import (
    membership_auc,
    near_copy_share,
    near_copy_threshold,
    nearest_distances,
    nearest_neighbours,
    roc_auc,
)


def test_nearest_neighbours_match_brute_force():
    rng = np.random.default_rng(0)
    queries, pool = rng.normal(size=(40, 5)), rng.normal(size=(70, 5))
    dist, idx = nearest_neighbours(queries, pool)
    full = cdist(queries, pool)
    np.testing.assert_allclose(dist, full.min(1), rtol=1e-9)
    np.testing.assert_array_equal(idx, full.argmin(1))
    np.testing.assert_allclose(nearest_distances(queries, pool), dist)


def test_exclude_self_skips_the_row_but_not_a_duplicate():
    x = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0], [3.0, 5.0]])
    np.testing.assert_allclose(nearest_distances(x, x), 0.0, atol=1e-12)
    np.testing.assert_allclose(nearest_distances(x, x, exclude_self=True), [0.0, 0.0, 1.0, 1.0], atol=1e-12)
    with pytest.raises(ValueError, match="same set"):
        nearest_distances(x, x[:3], exclude_self=True)


def _gaussian_splits(seed, dim=10):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(800, dim)), rng.normal(size=(400, dim)), rng


def test_copies_of_training_points_are_near_copies_and_fresh_draws_are_not():
    train, test, rng = _gaussian_splits(1)
    copies = train[rng.integers(0, len(train), 300)] + 0.01 * rng.normal(size=(300, 10))
    fresh = rng.normal(size=(2000, 10))
    assert near_copy_share(copies, train, test) == 1.0
    assert near_copy_share(fresh, train, test) < 0.03  # about the 1 % false-alarm rate of the rule
    assert near_copy_share(copies[:150].tolist() + fresh[:150].tolist(), train, test) == pytest.approx(0.5, abs=0.02)


def test_the_test_split_scores_its_quantile():
    train, test, _ = _gaussian_splits(2)
    for q in (0.01, 0.05):
        assert near_copy_share(test, train, test, quantile=q) == pytest.approx(q, abs=1.5 / len(test))


def test_held_out_digits_are_rarely_near_copies():
    split = load_digits_split()
    share = near_copy_share(split.val, split.train, split.test)
    assert share < 0.06  # measured 3.7 %: validation digits are new images, like the test digits
    assert near_copy_share(split.train[:200], split.train, split.test) == 1.0


def test_threshold_is_the_quantile_of_test_to_train_distances():
    train, test, _ = _gaussian_splits(3, dim=3)
    want = np.quantile(cdist(test, train).min(1), 0.2)
    assert near_copy_threshold(torch.as_tensor(train), torch.as_tensor(test), 0.2) == pytest.approx(want)
    with pytest.raises(ValueError, match="quantile"):
        near_copy_share(test, train, test, quantile=1.0)


def test_membership_auc_scores_members_as_positives():
    rng = np.random.default_rng(4)
    members, non_members = rng.normal(1.0, 1.0, 500), rng.normal(0.0, 1.0, 700)
    auc = membership_auc(members, non_members)
    assert auc == pytest.approx(roc_auc(non_members, members))
    assert 0.7 < auc < 0.8  # Phi(1 / sqrt 2) = 0.760
    assert membership_auc(non_members, members) == pytest.approx(1 - auc)
    assert membership_auc(np.zeros(5), np.zeros(9)) == 0.5  # a constant score leaks nothing
