"""Chapter 02's parametric models: each normalises, recovers known parameters from its own samples, and
EM never decreases the training log-likelihood."""

import math

import numpy as np
import pytest
import torch

from course_lib.config import torch_threads
from course_lib.distributions import (
    Gaussian,
    GaussianMixture,
    GaussianMixtureSGD,
    IndependentCategorical,
    MixtureOfCategoricals,
    smoothed_counts_pmf,
)


def _grid_integral(log_prob, lim=12.0, n=401):
    """Riemann sum of exp(log_prob) over [-lim, lim]^2."""
    t = torch.linspace(-lim, lim, n, dtype=torch.float64)
    xx, yy = torch.meshgrid(t, t, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], -1)
    return (log_prob(pts).exp().sum() * (t[1] - t[0]) ** 2).item()


def _toy_mixture():
    return GaussianMixture(
        torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64),
        torch.tensor([[-3.0, 0.0], [2.0, 2.0], [1.0, -3.0]], dtype=torch.float64),
        torch.tensor([[[1.0, 0.3], [0.3, 0.5]], [[0.6, 0.0], [0.0, 0.6]], [[1.5, -0.4], [-0.4, 0.4]]],
                     dtype=torch.float64),
    )


def test_gaussian_normalises_and_matches_torch():
    cov = torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=torch.float64)
    g = Gaussian(torch.tensor([0.5, -1.0], dtype=torch.float64), cov)
    assert _grid_integral(g.log_prob) == pytest.approx(1.0, abs=1e-4)
    x = torch.randn(20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ref = torch.distributions.MultivariateNormal(g.mean, cov).log_prob(x)
    torch.testing.assert_close(g.log_prob(x), ref)
    diag = Gaussian(g.mean, torch.tensor([2.0, 0.5], dtype=torch.float64), diagonal=True)
    assert _grid_integral(diag.log_prob) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("diagonal", [False, True])
def test_gaussian_recovers_parameters(diagonal):
    cov = torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=torch.float64)
    if diagonal:
        cov = torch.diagonal(cov).clone()
    true = Gaussian(torch.tensor([0.5, -1.0], dtype=torch.float64), cov, diagonal=diagonal)
    fit = Gaussian.fit(true.sample(50_000, generator=torch.Generator().manual_seed(1)), diagonal=diagonal)
    torch.testing.assert_close(fit.mean, true.mean, atol=0.03, rtol=0)
    torch.testing.assert_close(fit.covariance, true.covariance, atol=0.05, rtol=0)


def test_gaussian_mle_variance_is_biased():
    x = torch.tensor([[1.0], [2.0], [4.0]], dtype=torch.float64)
    assert Gaussian.fit(x, diagonal=True).covariance.item() == pytest.approx(x.var(unbiased=False).item())


def test_gaussian_mixture_normalises_and_samples_have_its_moments():
    gmm = _toy_mixture()
    assert _grid_integral(gmm.log_prob) == pytest.approx(1.0, abs=1e-4)
    x = gmm.sample(100_000, generator=torch.Generator().manual_seed(0))
    mean = (gmm.weights[:, None] * gmm.means).sum(0)
    torch.testing.assert_close(x.mean(0), mean, atol=0.03, rtol=0)


def test_gaussian_mixture_em_recovers_parameters_and_increases_likelihood():
    true = _toy_mixture()
    x = true.sample(6000, generator=torch.Generator().manual_seed(2))
    with torch_threads(1):
        fit = GaussianMixture.fit(x, 3, restarts=3, seed=0, num_iterations=300)
    order = torch.argsort(fit.means[:, 0])  # components are found in any order
    true_order = torch.argsort(true.means[:, 0])
    torch.testing.assert_close(fit.weights[order], true.weights[true_order], atol=0.03, rtol=0)
    torch.testing.assert_close(fit.means[order], true.means[true_order], atol=0.1, rtol=0)
    torch.testing.assert_close(fit.covariances[order], true.covariances[true_order], atol=0.12, rtol=0)
    assert all(b >= a - 1e-9 for a, b in zip(fit.history, fit.history[1:], strict=False))


def test_gaussian_mixture_sgd_normalises_and_matches_em_model():
    torch.manual_seed(0)
    model = GaussianMixtureSGD(3, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.off_diag.normal_(0, 0.5)
        model.logits.normal_()
    assert _grid_integral(lambda p: model.log_prob(p.float()).double()) == pytest.approx(1.0, abs=1e-3)
    x = torch.randn(30, 2)
    torch.testing.assert_close(model.log_prob(x).double(), model.to_em_model().log_prob(x.double()),
                               atol=1e-4, rtol=1e-4)


def test_gaussian_mixture_sgd_learns_a_known_mixture():
    true = _toy_mixture()
    x = true.sample(2000, generator=torch.Generator().manual_seed(3)).float()
    model = GaussianMixtureSGD(3, 2, init_means=true.means + 0.7)  # near the answer: no local optimum
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    with torch_threads(1):
        for _ in range(300):
            opt.zero_grad()
            model.loss(x).backward()
            opt.step()
    best = -true.log_prob(x.double()).mean().item()
    assert model.loss(x).item() < best + 0.02
    fitted = model.to_em_model()
    order = torch.argsort(fitted.means[:, 0])
    true_means = true.means[torch.argsort(true.means[:, 0])]
    torch.testing.assert_close(fitted.means[order], true_means, atol=0.15, rtol=0)


def test_smoothing_formula():
    counts = torch.tensor([[3, 0, 1], [0, 0, 4]])
    p = smoothed_counts_pmf(counts, 1.0)
    torch.testing.assert_close(p[0], torch.tensor([4 / 7, 1 / 7, 2 / 7], dtype=torch.float64))
    torch.testing.assert_close(smoothed_counts_pmf(counts, 0.0)[1], torch.tensor([0, 0, 1.0]).double())


def _all_configurations(dim, num_values):
    return torch.cartesian_prod(*[torch.arange(num_values)] * dim).reshape(-1, dim)


def test_independent_categorical_normalises_and_recovers():
    gen = torch.Generator().manual_seed(0)
    probs = torch.rand(3, 4, generator=gen, dtype=torch.float64) + 0.1
    true = IndependentCategorical(probs / probs.sum(-1, keepdim=True))
    total = true.log_prob(_all_configurations(3, 4)).exp().sum()
    assert total.item() == pytest.approx(1.0, abs=1e-10)
    fit = IndependentCategorical.fit(true.sample(40_000, generator=gen), 4, alpha=0.0)
    torch.testing.assert_close(fit.probs, true.probs, atol=0.01, rtol=0)


def test_independent_categorical_unsmoothed_gives_infinite_nll_on_unseen_values():
    x = torch.tensor([[0, 1], [0, 1], [1, 1]])
    assert torch.isinf(IndependentCategorical.fit(x, 3, alpha=0.0).log_prob(torch.tensor([[2, 1]]))).all()
    assert torch.isfinite(IndependentCategorical.fit(x, 3, alpha=0.5).log_prob(torch.tensor([[2, 1]]))).all()


def test_mixture_of_categoricals_normalises_recovers_and_em_is_monotone():
    gen = torch.Generator().manual_seed(0)
    probs = torch.full((2, 4, 3), 0.05, dtype=torch.float64)
    probs[0, :, 0] = 0.9
    probs[1, :, 2] = 0.9
    true = MixtureOfCategoricals(torch.tensor([0.3, 0.7], dtype=torch.float64), probs)
    assert true.log_prob(_all_configurations(4, 3)).exp().sum().item() == pytest.approx(1.0, abs=1e-10)
    x = true.sample(20_000, generator=gen)
    fit = MixtureOfCategoricals.fit(x, 3, 2, alpha=0.01, seed=0)
    order = torch.argsort(fit.probs[:, 0, 0], descending=True)
    torch.testing.assert_close(fit.weights[order], true.weights, atol=0.02, rtol=0)
    torch.testing.assert_close(fit.probs[order], true.probs, atol=0.02, rtol=0)
    assert all(b >= a - 1e-9 for a, b in zip(fit.objective, fit.objective[1:], strict=False))
    assert fit.log_prob(x).mean().item() == pytest.approx(true.log_prob(x).mean().item(), abs=0.01)


def test_uniform_digits_baseline():
    assert 64 * math.log(17) == pytest.approx(181.33, abs=0.005)


def test_em_widget_moves_through_iterations():
    """course_lib.widgets.em: snapshots have a monotone likelihood; the slider redraws without a browser."""
    from course_lib.data import make_eight_gaussians
    from course_lib.widgets import draw_em_iterations, em_explorer, em_snapshots, slider

    x = make_eight_gaussians(300, seed=0)
    snaps = em_snapshots(x, 4, num_iterations=6, seed=0)
    assert len(snaps) == 7
    ll = [s.log_prob(x.double()).mean().item() for s in snaps]
    assert all(b >= a - 1e-9 for a, b in zip(ll, ll[1:], strict=False))
    widget = em_explorer(x, snaps)
    assert widget.result.iteration == 0
    slider(widget, "iteration").value = 6
    assert widget.result.iteration == 6 and widget.result.log_likelihood == pytest.approx(ll[6])
    assert len(draw_em_iterations(x, snaps, [0, 3, 6]).axes) >= 3


def test_gaussian_mixture_e_and_m_steps_match_a_direct_computation():
    """One EM step against the textbook formulas, written with scipy and explicit loops over components."""
    from scipy.stats import multivariate_normal

    from course_lib.distributions import GaussianMixture

    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 2)) + rng.integers(0, 2, size=(40, 1)) * 3.0
    weights = np.array([0.3, 0.7])
    means = np.array([[0.0, 0.0], [3.0, 3.0]])
    covs = np.array([[[1.0, 0.2], [0.2, 0.8]], [[1.5, -0.3], [-0.3, 1.0]]])
    gmm = GaussianMixture(torch.tensor(weights), torch.tensor(means), torch.tensor(covs))

    joint = np.stack([weights[k] * multivariate_normal(means[k], covs[k]).pdf(x) for k in range(2)], axis=1)
    expected_r = joint / joint.sum(1, keepdims=True)
    log_r = gmm.e_step(torch.tensor(x))
    np.testing.assert_allclose(log_r.exp().numpy(), expected_r, rtol=1e-10)

    gmm.m_step(torch.tensor(x), log_r.exp(), reg=0.0)
    for k in range(2):
        r = expected_r[:, k]
        mu = (r[:, None] * x).sum(0) / r.sum()
        cov = sum(r[n] * np.outer(x[n] - mu, x[n] - mu) for n in range(len(x))) / r.sum()
        np.testing.assert_allclose(gmm.weights[k].item(), r.sum() / len(x), rtol=1e-9)
        np.testing.assert_allclose(gmm.means[k].numpy(), mu, rtol=1e-9)
        np.testing.assert_allclose(gmm.covariances[k].numpy(), cov, rtol=1e-8, atol=1e-12)
