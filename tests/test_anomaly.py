"""Anomaly scores: the likelihood ratio's direction, the typicality test on both sides, and its bootstrap
epsilon's false-alarm rate; AUROCs come from course_lib.metrics.roc (cross-checked with scikit-learn)."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from course_lib import metrics
from course_lib.metrics import anomaly


def test_names_are_importable_from_metrics():
    assert metrics.likelihood_ratio_score is anomaly.likelihood_ratio_score
    assert metrics.typicality_test is anomaly.typicality_test


def test_likelihood_ratio_flags_what_only_the_background_explains():
    # normal inputs: the model beats the background by ~20 nats; anomalies: simple inputs both models find
    # likely (higher log p than the normal ones), the model only slightly better than the background
    rng = np.random.default_rng(0)
    normal_model = rng.normal(-100, 5, 200)
    normal_background = normal_model - rng.normal(20, 3, 200)
    anomalous_model = rng.normal(-60, 5, 100)
    anomalous_background = anomalous_model - rng.normal(2, 3, 100)
    nll_auc = metrics.roc_auc(anomaly.nll_score(normal_model), anomaly.nll_score(anomalous_model))
    ratio = anomaly.likelihood_ratio_score
    lr_auc = metrics.roc_auc(ratio(normal_model, normal_background), ratio(anomalous_model, anomalous_background))
    assert nll_auc < 0.05  # the plain likelihood ranks these anomalies as the most normal inputs
    assert lr_auc > 0.99
    labels = np.r_[np.zeros(200), np.ones(100)]
    scores = torch.cat([ratio(normal_model, normal_background), ratio(anomalous_model, anomalous_background)])
    assert lr_auc == pytest.approx(roc_auc_score(labels, scores.numpy()), abs=1e-12)


def test_typicality_is_two_sided():
    h, eps = 80.0, 2.0
    typical = torch.tensor([[79.0, 81.5, 80.0, 79.5]])  # mean 80.0
    too_likely = torch.tensor([[74.0, 76.0, 75.0, 77.0]])  # mean 75.5: higher likelihood than any typical batch
    too_unlikely = torch.tensor([[85.0, 86.0, 84.0, 83.0]])  # mean 84.5
    batches = torch.cat([typical, too_likely, too_unlikely])
    assert anomaly.typicality_test(batches, h, eps).tolist() == [False, True, True]
    np.testing.assert_allclose(anomaly.typicality_score(batches, h).numpy(), [0.0, 4.5, 4.5])
    assert anomaly.typicality_score(np.array([70.0]), h).item() == 10.0  # M = 1: a per-input score
    with pytest.raises(ValueError):
        anomaly.typicality_test(batches, h, -1.0)


def test_typicality_epsilon_gives_its_false_alarm_rate():
    rng = np.random.default_rng(1)
    held_out = rng.gamma(5.0, 4.0, 2000) + 50  # skewed in-distribution NLLs
    h = float(held_out.mean())
    eps = anomaly.typicality_epsilon(held_out, h, batch_size=10, false_alarm=0.05, seed=0)
    fresh = torch.as_tensor(rng.gamma(5.0, 4.0, (4000, 10)) + 50)
    rate = anomaly.typicality_test(fresh, h, eps).double().mean().item()
    assert 0.035 < rate < 0.065
    assert anomaly.typicality_epsilon(held_out, h, 40, 0.05) < eps  # larger batches: a tighter test
