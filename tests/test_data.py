import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from course_lib import data


def test_digits_split_sizes_values_and_order():
    split = data.load_digits_split()
    assert (len(split.train), len(split.val), len(split.test)) == (1000, 350, 447)
    for x in (split.train, split.val, split.test):
        assert x.dtype == torch.int64 and x.shape[1] == 64
        assert int(x.min()) >= 0 and int(x.max()) <= 16
    reference = load_digits()
    np.testing.assert_array_equal(split.test.numpy(), reference.data[-447:].astype(np.int64))
    np.testing.assert_array_equal(split.train.numpy(), reference.data[:1000].astype(np.int64))
    np.testing.assert_array_equal(split.val_labels.numpy(), reference.target[1000:1350])


def test_digits_views():
    split = data.load_digits_split()
    binary = split.binarized(split.train)
    assert set(binary.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(binary, (split.train >= data.BINARY_THRESHOLD).float())
    scaled = split.as_float(split.train)
    assert scaled.min() >= 0 and scaled.max() == 1.0
    assert split.as_images(split.train).shape == (1000, 8, 8)


def test_split_returns_fresh_tensors():
    a = data.load_digits_split()
    a.train[0, 0] = 99
    assert data.load_digits_split().train[0, 0] != 99


@pytest.mark.parametrize("name", sorted(data.TOYS))
def test_toys_are_seeded_and_shaped(name):
    make = data.TOYS[name]
    state = torch.get_rng_state()
    a, b, c = make(500, seed=1), make(500, seed=1), make(500, seed=2)
    assert torch.equal(state, torch.get_rng_state()), "a toy generator touched torch's global stream"
    assert a.shape == (500, 2) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.isfinite(a).all() and a.abs().max() < 6


def test_toys_reject_bad_sizes():
    with pytest.raises(ValueError, match="positive integer"):
        data.make_two_moons(0)
