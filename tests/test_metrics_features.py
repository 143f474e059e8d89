"""The course's fixed digits classifier and its features (course_lib.metrics.features)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import course_lib.metrics.features as features_module
from course_lib.data import load_digits_split
from course_lib.metrics.features import (
    class_histogram,
    classify,
    digit_features,
    digits_classifier,
    from_gan_range,
    to_gan_range,
)

SPLIT = load_digits_split()


def test_classifier_accuracy_on_validation_and_test(capsys):
    val = (classify(SPLIT.val) == SPLIT.val_labels.numpy()).mean()
    test = (classify(SPLIT.test) == SPLIT.test_labels.numpy()).mean()
    with capsys.disabled():
        print(f"\n[digits classifier] accuracy val {val:.3f}, test {test:.3f}")
    assert val >= 0.95 and test >= 0.88


def test_trained_once_cached_and_leaves_the_global_stream_alone():
    features_module._trained_classifier.cache_clear()
    state = torch.get_rng_state()
    first = digits_classifier()
    assert torch.equal(state, torch.get_rng_state())
    assert digits_classifier() is first
    assert not any(p.requires_grad for p in first.parameters())


def test_features_shapes_dtypes_and_layouts():
    f = digit_features(SPLIT.test[:20])
    assert f.shape == (20, 64) and f.dtype == np.float64
    assert np.allclose(digit_features(SPLIT.test[:20].reshape(20, 8, 8)), f)
    assert np.allclose(digit_features(SPLIT.test[:20].numpy().astype(float)), f)
    logits = digits_classifier()(SPLIT.test[:20])
    head = digits_classifier().head
    assert np.allclose(head(torch.from_numpy(f).float()).numpy(), logits.numpy(), atol=1e-5)


def test_class_histogram_is_the_share_of_predictions():
    h = class_histogram(SPLIT.test)
    assert h.shape == (10,) and abs(h.sum() - 1) < 1e-12
    true = np.bincount(SPLIT.test_labels.numpy(), minlength=10) / len(SPLIT.test)
    assert np.abs(h - true).max() < 0.03
    assert class_histogram(SPLIT.train[SPLIT.train_labels == 3])[3] > 0.95


def test_gan_range_round_trip():
    x = SPLIT.train[:50]
    y = to_gan_range(x)
    assert y.min() >= -1 and y.max() <= 1 and y.dtype == torch.float32
    assert torch.equal(from_gan_range(y), x.float())
    assert from_gan_range(torch.tensor([-3.0, 3.0])).tolist() == [0.0, 16.0]


def test_clear_errors():
    with pytest.raises(ValueError, match=r"\(N, 64\) or \(N, 8, 8\)"):
        digit_features(torch.zeros(3, 63))
    with pytest.raises(ValueError, match="from_gan_range"):
        classify(to_gan_range(SPLIT.train[:10]))
    with pytest.raises(ValueError, match="0..16"):
        classify(SPLIT.train[:10] * 4)
