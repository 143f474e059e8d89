"""Augmentation (shifts, rotations, seeded copies), mixing real and synthetic data (each label stays with its
image), and the power-law fit (recovers the exponent of synthetic power-law data, with and without a floor)."""

import numpy as np
import pytest
import torch

from course_lib.applications import augmentation as aug
from course_lib.applications.scaling import PowerLaw, fit_power_law


def _digits(n=5, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).integers(0, 17, (n, 64)))


def test_shift_moves_pixels_and_fills_with_zeros():
    x = torch.arange(64).view(1, 64)
    moved = aug.shift(x, 1, -2).view(8, 8)  # one right, two up
    grid = x.view(8, 8)
    assert torch.equal(moved[:6, 1:], grid[2:, :7].clamp(max=16))
    assert (moved[:, 0] == 0).all() and (moved[6:] == 0).all()
    assert torch.equal(aug.shift(x, 0, 0), x.clamp(max=16))


def test_rotate_keeps_shape_dtype_and_is_exact_at_zero_and_ninety_degrees():
    x = _digits()
    assert torch.equal(aug.rotate(x, 0.0), x)
    turned = aug.rotate(x.view(-1, 8, 8), 90.0)
    assert turned.shape == (5, 8, 8) and turned.dtype == x.dtype
    assert torch.equal(turned, torch.rot90(x.view(-1, 8, 8), 1, dims=(1, 2)))  # counter-clockwise
    small = aug.rotate(x.float(), 10.0)
    assert small.dtype == torch.float32 and 0 <= small.min() and small.max() <= 16


def test_augment_is_seeded_keeps_labels_and_changes_images():
    x, y = _digits(6), torch.arange(6)
    a, b = aug.augment(x, y, copies=3, seed=0), aug.augment(x, y, copies=3, seed=0)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], aug.augment(x, y, copies=3, seed=1)[0])
    new_x, new_y = a
    assert new_x.shape == (24, 64) and torch.equal(new_y, y.repeat(4)) and torch.equal(new_x[:6], x)
    assert (new_x[6:] != x.repeat(3, 1)).any(1).float().mean() > 0.8  # most copies differ from the original
    assert new_x.min() >= 0 and new_x.max() <= 16


def test_mix_synthetic_keeps_each_label_with_its_image():
    real_x, real_y = torch.randn(10, 64), torch.arange(10) % 10
    synth_x = torch.randn(30, 64)
    synth_y = torch.randint(0, 10, (30,))
    x, y = aug.mix_synthetic(real_x, real_y, synth_x, synth_y, ratio=1.5, seed=0)
    assert len(x) == len(y) == 25
    pool = {tuple(row.tolist()): int(label) for row, label in zip(torch.cat([real_x, synth_x]),
                                                                  torch.cat([real_y, synth_y]), strict=True)}
    assert all(pool[tuple(row.tolist())] == int(label) for row, label in zip(x, y, strict=True))
    rows = {tuple(r.tolist()) for r in x}
    assert len(rows) == 25 and all(tuple(r.tolist()) in rows for r in real_x)
    with pytest.raises(ValueError):
        aug.mix_synthetic(real_x, real_y, synth_x, synth_y, ratio=4.0)


@pytest.mark.parametrize("exponent", [0.076, 0.3, 1.0])
def test_power_law_fit_recovers_the_exponent(exponent):
    rng = np.random.default_rng(0)
    sizes = np.logspace(3, 7, 9)
    losses = 20.0 * sizes ** (-exponent) * np.exp(rng.normal(0, 0.02, len(sizes)))
    fit = fit_power_law(sizes, losses)
    assert fit.exponent == pytest.approx(exponent, rel=0.05) and fit.coefficient == pytest.approx(20.0, rel=0.3)
    assert fit.irreducible == 0.0
    np.testing.assert_allclose(fit(sizes), losses, rtol=0.08)


def test_power_law_fit_with_an_irreducible_term():
    sizes = np.logspace(3, 7, 12)
    truth = PowerLaw(coefficient=50.0, exponent=0.35, irreducible=1.7)
    losses = truth(sizes) * np.exp(np.random.default_rng(1).normal(0, 0.003, len(sizes)))
    fit = fit_power_law(sizes, losses, irreducible=True)
    assert fit.exponent == pytest.approx(0.35, rel=0.1) and fit.irreducible == pytest.approx(1.7, rel=0.05)
    plain = fit_power_law(sizes, losses)
    assert plain.exponent < 0.2  # without the floor the fitted exponent is far too small
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1, 2, 3], [1.0, 0.0, 2.0])
