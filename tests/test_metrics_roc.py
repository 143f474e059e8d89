"""ROC curve and AUC: against scikit-learn (with ties), known answers, and the curve's area."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from course_lib.metrics import roc_auc, roc_curve


def _sklearn_auc(neg, pos):
    labels = np.r_[np.zeros(len(neg)), np.ones(len(pos))]
    return roc_auc_score(labels, np.r_[neg, pos])


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_sklearn_with_many_ties(seed):
    rng = np.random.default_rng(seed)
    neg = rng.integers(0, 6, size=int(rng.integers(20, 200)))  # integer scores: most pairs tie somewhere
    pos = rng.integers(1, 8, size=int(rng.integers(20, 200)))
    assert roc_auc(neg, pos) == pytest.approx(_sklearn_auc(neg, pos), abs=1e-12)


def test_auc_matches_sklearn_on_continuous_scores():
    rng = np.random.default_rng(10)
    neg, pos = rng.normal(size=300), rng.normal(0.7, 1.3, size=170)
    assert roc_auc(neg, pos) == pytest.approx(_sklearn_auc(neg, pos), abs=1e-12)


def test_known_answers():
    assert roc_auc([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert roc_auc([2.0, 3.0], [0.0, 1.0]) == 0.0
    assert roc_auc([5.0] * 7, [5.0] * 3) == 0.5  # every pair tied: one half each
    assert roc_auc([1.0], [1.0, 2.0]) == 0.75  # one tie (1/2) and one win


def test_shifted_gaussian_auc_is_phi_of_shift_over_root_two():
    rng = np.random.default_rng(1)
    shift = 1.0
    neg, pos = rng.normal(size=40_000), rng.normal(shift, 1.0, size=40_000)
    expected = 0.5 * (1 + math.erf(shift / 2))  # P(N(shift, 2) > 0) = Phi(shift / sqrt 2)
    assert roc_auc(neg, pos) == pytest.approx(expected, abs=0.005)


def test_curve_matches_sklearn_and_its_area_is_the_auc():
    rng = np.random.default_rng(2)
    neg, pos = rng.integers(0, 10, size=80).astype(float), rng.integers(3, 12, size=60).astype(float)
    fpr, tpr = roc_curve(neg, pos)
    labels = np.r_[np.zeros(len(neg)), np.ones(len(pos))]
    sk_fpr, sk_tpr, _ = sk_roc_curve(labels, np.r_[neg, pos], drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(roc_auc(neg, pos), abs=1e-12)


def test_torch_inputs_and_direction():
    neg, pos = torch.tensor([0.1, 0.4, 0.35]), torch.tensor([0.8, 0.4, 0.9])
    auc = roc_auc(neg, pos)
    assert auc == pytest.approx(_sklearn_auc(neg.numpy(), pos.numpy()))
    assert roc_auc(pos, neg) == pytest.approx(1 - auc)


def test_large_inputs_are_quick():
    # the rank formulation is O(n log n): a million scores, far out of reach of the O(n^2) pair count
    rng = np.random.default_rng(3)
    neg, pos = rng.normal(size=500_000), rng.normal(0.5, 1.0, size=500_000)
    assert 0.6 < roc_auc(neg, pos) < 0.7


@pytest.mark.parametrize(("neg", "pos", "message"), [
    ([], [1.0], "empty"),
    ([0.0, float("nan")], [1.0], "NaN"),
    (np.zeros((2, 2)), [1.0], "shape"),
])
def test_bad_inputs_say_what_is_wrong(neg, pos, message):
    with pytest.raises(ValueError, match=message):
        roc_auc(neg, pos)
