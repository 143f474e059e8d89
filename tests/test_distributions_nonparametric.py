"""Histogram and KDE (course_lib.distributions, chapter 01): normalisation, agreement with the plain formulas,
and samples that follow the density (seeded goodness-of-fit tests)."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from course_lib.distributions import KDE, Histogram


def _data_1d(n: int = 400, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(n) < 0.3, rng.normal(-2.0, 0.4, n), rng.normal(1.0, 1.0, n))
    return torch.as_tensor(x, dtype=torch.float32)


def _data_2d(n: int = 300, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.normal(size=(n, 2)) * np.array([1.0, 0.5]) + np.array([0.5, -0.2]),
                           dtype=torch.float32)


def _integral_1d(model, lo: float, hi: float, n: int = 6001) -> float:
    grid = torch.linspace(lo, hi, n, dtype=torch.float64)
    return float(torch.trapezoid(model.log_prob(grid).exp(), grid))


def _integral_2d(model, lo: float, hi: float, n: int = 241) -> float:
    g = torch.linspace(lo, hi, n, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    dens = model.log_prob(torch.stack([xx.ravel(), yy.ravel()], 1)).exp().view(n, n)
    return float(torch.trapezoid(torch.trapezoid(dens, g, dim=1), g))


@pytest.mark.parametrize("bins", [1, 7, 30])
def test_histogram_1d_integrates_to_one(bins):
    model = Histogram(_data_1d(), bins=bins)
    integral = _integral_1d(model, float(model.low) - 1, float(model.high) + 1, 200001)
    assert integral == pytest.approx(1, abs=2e-3)  # the grid straddles each jump: error about 1 / n per jump


@pytest.mark.parametrize("bandwidth", [0.05, 0.3, 2.0])
def test_kde_1d_integrates_to_one(bandwidth):
    assert _integral_1d(KDE(_data_1d(), bandwidth), -15, 15) == pytest.approx(1, abs=1e-4)


def test_histogram_2d_integrates_to_one():
    model = Histogram(_data_2d(), bins=(6, 9), range=[(-4, 5), (-3, 3)])
    # a piecewise-constant density: sum of mass over the cells, and a fine grid as a cross-check
    assert float((model.log_probs_flat.exp()).sum()) == pytest.approx(1, abs=1e-12)
    assert _integral_2d(model, -5, 6, 1101) == pytest.approx(1, abs=2e-2)


@pytest.mark.parametrize("bandwidth", [0.1, 0.5])
def test_kde_2d_integrates_to_one(bandwidth):
    assert _integral_2d(KDE(_data_2d(100), bandwidth), -6, 6) == pytest.approx(1, abs=1e-3)


def test_histogram_matches_numpy_density():
    x = _data_1d().numpy()
    density, edges = np.histogram(x, bins=12, range=(-3.5, 4.0), density=True)
    model = Histogram(torch.as_tensor(x), bins=12, range=(-3.5, 4.0))
    centres = torch.as_tensor((edges[1:] + edges[:-1]) / 2)
    inside = (x >= -3.5) & (x <= 4.0)
    expected = density * inside.mean()  # numpy renormalises over the in-range points; we divide by all N
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(model.log_prob(centres).numpy(), np.log(expected), rtol=1e-6)


def test_histogram_empty_and_outside_are_minus_inf():
    model = Histogram(torch.tensor([0.1, 0.2, 0.9]), bins=4, range=(0.0, 1.0))
    logp = model.log_prob(torch.tensor([-0.1, 0.1, 0.6, 1.0, 1.2]))
    assert torch.isinf(logp[[0, 2, 4]]).all() and (logp[[0, 2, 4]] < 0).all()
    assert logp[1] == pytest.approx(math.log(2 / 3 / 0.25))  # two of three points in a bin of width 1/4
    assert logp[3] == pytest.approx(math.log(1 / 3 / 0.25))  # the top edge belongs to the last bin


def test_histogram_pseudocount_keeps_held_out_finite():
    model = Histogram(torch.tensor([0.1, 0.2, 0.9]), bins=4, range=(0.0, 1.0), pseudocount=1.0)
    assert torch.isfinite(model.log_prob(torch.tensor([0.6]))).all()
    assert float(model.log_probs_flat.exp().sum()) == pytest.approx(1.0)


def test_kde_matches_the_plain_formula_and_survives_small_bandwidths():
    x = _data_2d(50)
    q = torch.tensor([[0.0, 0.0], [1.0, -1.0], [30.0, 30.0]])
    h = 0.4
    kern = torch.exp(-torch.cdist(q.double(), x.double()).square() / (2 * h * h)) / (2 * math.pi * h * h)
    naive = kern.mean(1).log()
    got = KDE(x, h).log_prob(q)
    torch.testing.assert_close(got[:2].double(), naive[:2], rtol=1e-6, atol=1e-8)
    assert torch.isinf(naive[2]) and torch.isfinite(got[2])  # naive exp underflows, log-sum-exp does not


def test_kde_rules_of_thumb():
    x = torch.as_tensor(np.random.default_rng(1).normal(size=1000))
    assert KDE.rule_of_thumb(x, "scott") == pytest.approx(float(x.std()) * 1000 ** -0.2)
    assert KDE(x).bandwidth == pytest.approx(KDE.rule_of_thumb(x, "scott"))
    assert KDE(x, "silverman").bandwidth == pytest.approx(float(x.std()) * (4 / 3000) ** 0.2)


def test_shapes_and_validation():
    x2 = _data_2d(40)
    for model in (Histogram(x2, bins=3), KDE(x2, 0.3)):
        assert model.event_shape == torch.Size([2])
        assert model.log_prob(x2[:5]).shape == (5,)
        assert model.sample(7, generator=torch.Generator().manual_seed(0)).shape == (7, 2)
        with pytest.raises(ValueError, match="shape"):
            model.log_prob(torch.zeros(3, 3))
    for model in (Histogram(x2[:, 0], bins=3), KDE(x2[:, 0], 0.3)):
        assert model.event_shape == torch.Size([])
        assert model.sample(4).shape == (4,)
    with pytest.raises(ValueError, match="bandwidth"):
        KDE(x2, 0.0)


def test_sampling_is_reproducible_with_a_generator():
    model = KDE(_data_1d(), 0.2)
    a = model.sample(10, generator=torch.Generator().manual_seed(3))
    b = model.sample(10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_histogram_samples_follow_the_density():
    model = Histogram(_data_1d(), bins=15)
    s = model.sample(20000, generator=torch.Generator().manual_seed(0))
    counts, _ = np.histogram(s.numpy(), bins=model.edges[0].numpy())
    probs = model.counts.ravel().numpy() / model.num_train
    keep = probs > 0
    assert counts[~keep].sum() == 0  # never a sample in an empty bin
    assert stats.chisquare(counts[keep], probs[keep] * len(s)).pvalue > 1e-3
    # within a bin the samples are uniform
    left, right = model.edges[0][7].item(), model.edges[0][8].item()
    inside = s[(s >= left) & (s < right)].double().numpy()
    assert stats.kstest(inside, stats.uniform(left, right - left).cdf).pvalue > 1e-3


def test_histogram_2d_samples_follow_the_density():
    model = Histogram(_data_2d(), bins=(4, 5))
    s = model.sample(20000, generator=torch.Generator().manual_seed(1)).numpy()
    counts, _, _ = np.histogram2d(s[:, 0], s[:, 1], bins=[e.numpy() for e in model.edges])
    probs = model.counts.numpy() / model.num_train
    keep = probs > 0
    assert counts[~keep].sum() == 0
    assert stats.chisquare(counts[keep], probs[keep] * len(s)).pvalue > 1e-3


def test_kde_1d_samples_follow_the_density():
    model = KDE(_data_1d(200), 0.3)
    s = model.sample(5000, generator=torch.Generator().manual_seed(0)).double().numpy()
    data = model.data[:, 0].numpy()

    def cdf(x):  # the KDE's CDF: an equal mixture of normal CDFs
        return stats.norm.cdf((np.asarray(x)[:, None] - data[None, :]) / model.bandwidth).mean(1)

    assert stats.kstest(s, cdf).pvalue > 1e-3


def test_kde_2d_samples_follow_the_density():
    model = KDE(_data_2d(100), 0.4)
    s = model.sample(20000, generator=torch.Generator().manual_seed(0)).numpy()
    edges = np.linspace(-3, 3, 7)
    counts, _, _ = np.histogram2d(s[:, 0], s[:, 1], bins=[edges, edges])
    # expected mass of each cell: a product of normal CDF differences per kernel, averaged over kernels
    d = model.data.numpy()
    cx = stats.norm.cdf((edges[None, :] - d[:, :1]) / model.bandwidth)  # (N, 7)
    cy = stats.norm.cdf((edges[None, :] - d[:, 1:]) / model.bandwidth)
    mass = np.einsum("ni,nj->ij", np.diff(cx, axis=1), np.diff(cy, axis=1)) / len(d)  # (6, 6)
    keep = mass * len(s) > 5
    observed = np.append(counts[keep], len(s) - counts[keep].sum())
    expected = np.append(mass[keep], 1 - mass[keep].sum()) * len(s)
    assert stats.chisquare(observed, expected).pvalue > 1e-3
