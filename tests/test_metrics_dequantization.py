"""Dequantisation: the preprocessing's log-determinants against autograd, and the bound above the exact NLL."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.metrics import dequantization as dq
from course_lib.metrics import dequantized_bound, logit_postprocess, logit_preprocess, logit_transform, to_unit_cube


def _jacobian_log_det(fn, y: torch.Tensor) -> torch.Tensor:
    """log |det J| of fn at each row of y (B, D), from autograd's Jacobian."""
    return torch.stack([torch.linalg.slogdet(torch.autograd.functional.jacobian(fn, row)).logabsdet for row in y])


def test_preprocess_log_det_equals_autograd_and_inverts():
    y = torch.rand(5, 4, dtype=torch.float64) * 17  # the integer scale [0, 17)
    w, log_det = logit_preprocess(y, 17)
    expected = _jacobian_log_det(lambda row: logit_preprocess(row[None], 17)[0][0], y)
    torch.testing.assert_close(log_det, expected)
    torch.testing.assert_close(logit_postprocess(w, 17), y)
    _, cube = to_unit_cube(y, 17)
    assert cube.tolist() == pytest.approx([-4 * math.log(17)] * 5)  # the D log L term, explicitly


def test_logit_log_det_on_image_batches_sums_every_pixel():
    v = torch.rand(3, 1, 2, 2, dtype=torch.float64)
    _, log_det = logit_transform(v, alpha=0.1)
    _, flat = logit_transform(v.flatten(1), alpha=0.1)
    torch.testing.assert_close(log_det, flat)
    with pytest.raises(ValueError, match="alpha"):
        logit_transform(v, alpha=0.5)


def _gaussian_log_density(mean: float, std: float):
    def log_density(w: torch.Tensor) -> torch.Tensor:
        return torch.distributions.Normal(mean, std).log_prob(w).flatten(1).sum(1)
    return log_density


def _exact_discrete_nll(log_density, levels: int, alpha: float, points: int = 20_000) -> torch.Tensor:
    """-log P(x) for x = 0..levels-1 (one pixel), P(x) = int_0^1 p_y(x + u) du by the midpoint rule."""
    u = (torch.arange(points, dtype=torch.float64) + 0.5) / points
    out = []
    for x in range(levels):
        w, log_det = logit_preprocess((x + u)[:, None], levels, alpha)
        out.append(-(torch.logsumexp(log_density(w) + log_det, 0) - math.log(points)))
    return torch.stack(out)


@pytest.mark.parametrize("alpha", [0.05, 1e-4])
def test_bound_is_above_the_exact_discrete_nll_and_probabilities_sum_to_at_most_one(alpha):
    levels, log_density = 3, _gaussian_log_density(-0.5, 1.5)
    exact = _exact_discrete_nll(log_density, levels, alpha)
    total = torch.logsumexp(-exact, 0).exp().item()
    assert total <= 1 + 1e-6  # mass outside the cells is lost, never gained
    assert alpha > 0.01 or total > 0.99  # a small margin loses almost nothing
    x = torch.arange(levels)[:, None]
    u = torch.rand(4000, levels, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    bound = dequantized_bound(log_density, x, u, levels, alpha)
    assert (bound >= exact - 1e-3).all()
    assert (bound - exact < 1.0).all()  # and not absurdly loose on this smooth density


def test_planted_bug_forgotten_cube_log_det_falls_below_the_exact_nll(monkeypatch):
    levels, alpha, log_density = 3, 0.05, _gaussian_log_density(0.0, 1.0)
    exact = _exact_discrete_nll(log_density, levels, alpha)
    monkeypatch.setattr(dq, "to_unit_cube", lambda y, n: (y / n, torch.zeros(len(y), dtype=y.dtype)))
    u = torch.rand(4000, levels, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    wrong = dequantized_bound(log_density, torch.arange(levels)[:, None], u, levels, alpha)
    assert (wrong < exact - 0.5).all()  # log 3 = 1.1 nats too good per pixel: not a bound any more


def test_bound_checks_the_noise():
    x = torch.zeros(2, 3, dtype=torch.long)
    density = _gaussian_log_density(0.0, 1.0)
    with pytest.raises(ValueError, match="integer scale"):
        dequantized_bound(density, x, torch.full((2, 3), 5.0))
    with pytest.raises(ValueError, match="shape"):
        dequantized_bound(density, x, torch.rand(2, 4))
    one = dequantized_bound(density, x, torch.full((2, 3), 0.5))
    two = dequantized_bound(density, x, torch.full((7, 2, 3), 0.5))  # K = 7 draws, the same value
    torch.testing.assert_close(one, two)
    assert one.shape == (2,)


def test_chapter04_names_still_import_from_ppca():
    from course_lib.models import ppca

    assert ppca.dequantize is dq.dequantize and ppca.dequantized_nll_bound is dq.dequantized_nll_bound
    gen = torch.Generator().manual_seed(3)
    a = dq.dequantize(torch.zeros(2, 2, dtype=torch.long), 4, copies=2, generator=gen)
    assert a.shape == (4, 2) and (a >= 0).all() and (a < 0.25).all()
