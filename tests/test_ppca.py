"""Probabilistic PCA: the closed-form MLE recovers a known model, log_prob is the exact Gaussian density,
the MLE beats perturbed parameters, the posterior and samples are right."""

import math

import torch

from course_lib.models.ppca import PPCA, ppca_mle


def _data(n=20_000, d=6, q=2, sigma=0.3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(d, q, generator=gen, dtype=torch.float64) * 2
    mu = torch.randn(d, generator=gen, dtype=torch.float64)
    z = torch.randn(n, q, generator=gen, dtype=torch.float64)
    x = z @ w.T + mu + sigma * torch.randn(n, d, generator=gen, dtype=torch.float64)
    return x, w, mu, sigma


def test_mle_recovers_a_known_model():
    x, w, mu, sigma = _data()
    m_mu, m_w, m_s2 = ppca_mle(x, 2)
    assert torch.allclose(m_mu, mu, atol=0.05)
    assert abs(m_s2.item() - sigma**2) < 0.01
    assert torch.allclose(m_w @ m_w.T, w @ w.T, atol=0.2, rtol=0.05)


def test_log_prob_is_the_gaussian_density():
    x, *_ = _data(n=500)
    model = PPCA.fit(x, 2)
    ref = torch.distributions.MultivariateNormal(model.mu, covariance_matrix=model.covariance())
    assert torch.allclose(model.log_prob(x[:50]), ref.log_prob(x[:50]))


def test_mle_beats_perturbed_parameters():
    x, *_ = _data(n=400, seed=1)
    mu, w, s2 = ppca_mle(x, 2)
    best = PPCA(mu, w, s2).log_prob(x).mean()
    gen = torch.Generator().manual_seed(2)
    for _ in range(5):
        dw = 0.05 * torch.randn(w.shape, generator=gen, dtype=torch.float64)
        assert PPCA(mu, w + dw, s2).log_prob(x).mean() < best
        assert PPCA(mu + 0.05, w, s2).log_prob(x).mean() < best
    assert PPCA(mu, w, s2 * 1.1).log_prob(x).mean() < best and PPCA(mu, w, s2 * 0.9).log_prob(x).mean() < best


def test_more_components_fit_the_training_data_better():
    x, *_ = _data(n=300, d=8, q=3, seed=3)
    lls = [PPCA.fit(x, q).log_prob(x).mean().item() for q in range(1, 7)]
    assert all(a < b + 1e-9 for a, b in zip(lls, lls[1:], strict=False))


def test_samples_have_the_model_covariance():
    x, *_ = _data(n=300)
    model = PPCA.fit(x, 2)
    s = model.sample(100_000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(torch.cov(s.T), model.covariance(), atol=0.1)


def test_posterior_is_bayes_rule():
    x, *_ = _data(n=300)
    model = PPCA.fit(x, 2)
    mean, cov = model.posterior(x[:3])
    # joint Gaussian (z, x): Cov(z, x) = W^T, Cov(x) = C, so E[z | x] = W^T C^-1 (x - mu), Cov = I - W^T C^-1 W
    c_inv = torch.linalg.inv(model.covariance())
    assert torch.allclose(mean, (x[:3] - model.mu) @ c_inv @ model.w)
    assert torch.allclose(cov, torch.eye(2, dtype=torch.float64) - model.w.T @ c_inv @ model.w, atol=1e-10)
    assert model.reconstruct(x[:3]).shape == (3, 6)
    assert math.isfinite(model.log_prob(x[:1]).item())


def test_dequantised_bound_is_above_the_exact_discrete_nll():
    """D = 2, 4 levels: the exact P(x) integrates the density over the cell [x, x + 1) / 4, on a fine grid."""
    from course_lib.metrics.dequantization import dequantize, dequantized_nll_bound

    gen = torch.Generator().manual_seed(0)
    levels = 4
    x = torch.randint(0, levels, (300, 2), generator=gen)
    x[:, 1] = torch.clamp(x[:, 0] + torch.randint(-1, 2, (300,), generator=gen), 0, levels - 1)
    model = PPCA.fit(dequantize(x, levels, copies=4), 1)
    t = (torch.arange(100, dtype=torch.float64) + 0.5) / 100  # midpoints in [0, 1)
    u = torch.cartesian_prod(t, t)  # (10000, 2)
    exact = []
    for xi in x[:20]:
        lp = model.log_prob((xi.double() + u) / levels)
        exact.append(-(torch.logsumexp(lp, 0) - math.log(len(u)) - 2 * math.log(levels)).item())
    bound = dequantized_nll_bound(model, x[:20], levels, copies=400)
    assert bound >= sum(exact) / 20 - 1e-3
    assert bound - sum(exact) / 20 < 1.0


def test_ppca_ladder_entry_fast():
    from course_lib.data import load_digits_split
    from course_lib.ladder.ch04 import ppca_entry

    (row,) = ppca_entry(load_digits_split(), fast=True, seed=0)
    assert row.kind == "bound" and row.data == "digits17" and 100 < row.test_nll_nats < 64 * math.log(17)
