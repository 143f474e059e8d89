"""The discrete bound of GaussianDiffusion: its terms, its definition, the exact NLL it bounds, its samples.

A tiny model (one pixel, 3 levels, T = 3 latents, a gentle schedule, random weights) has an exact marginal
P(x): the reverse chain's densities are pushed through a fine grid (1-D latents), then the decoder. On it:
- the closed-form terms average to the ELBO computed from its definition E_q[log p(x, z) - log q(z | x)]
  with the forward kernels q(z_t | z_{t-1}) written out here;
- the bound lies above -log P(x) for every x (and the importance-weighted estimate converges to it);
- DDPM samples follow P(x) (a chi-square test).
On the digits, a short run beats the independent-pixel baseline on held-out images.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from course_lib.config import torch_threads
from course_lib.data import load_digits_split
from course_lib.models.diffusion import (
    GaussianDiffusion,
    ResidualMLPDenoiser,
    digits_diffusion,
    log_snr_schedule,
    negative_elbo,
    negative_elbo_terms,
    posterior_mean_variance,
)
from course_lib.train import fit

K, T = 3, 3
SUPPORT = torch.arange(K)[:, None]  # every event of the one-pixel model, (K, 1)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tiny_model(seed: int = 0, timesteps: int = T, dim: int = 1) -> GaussianDiffusion:
    torch.manual_seed(seed)
    net = ResidualMLPDenoiser(dim, hidden=8, blocks=1, out_per_dim=K)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape) * 0.8)
    return GaussianDiffusion(net, log_snr_schedule(timesteps, 2.0, -2.0), dim=dim, num_levels=K).double().eval()


def _normal_log_pdf(x, mean, var):
    return -0.5 * ((x - mean) ** 2 / var + torch.log(2 * math.pi * var))


@torch.no_grad()
def exact_log_marginal(model: GaussianDiffusion, half_width: float = 8.0, points: int = 3201) -> torch.Tensor:
    """log P(x) for every level x, (K,): z_{T-1} ~ N(0, 1) -> p(z_{t-1} | z_t) on a grid -> p(x | z_0)."""
    g = torch.linspace(-half_width, half_width, points, dtype=torch.float64)
    dz = g[1] - g[0]
    mass = _normal_log_pdf(g, 0.0, torch.tensor(1.0, dtype=torch.float64)).exp() * dz  # (G,)
    s = model.schedule
    for t in range(model.timesteps - 1, 0, -1):
        ts = torch.full((points,), t)
        mean, var = posterior_mean_variance(model.x0_hat(g[:, None], ts), g[:, None], ts, s)  # (G, 1)
        kernel = _normal_log_pdf(g[:, None], mean[:, 0][None, :], var[0, 0]).exp() * dz  # (G_to, G_from)
        mass = kernel @ mass
    log_lik = model.log_likelihood(SUPPORT, g[:, None, None])  # (G, K)
    return torch.logsumexp(log_lik + mass.clamp_min(1e-300).log()[:, None], dim=0)


@torch.no_grad()
def log_weights(model: GaussianDiffusion, x: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """log p(x, z) - log q(z | x) at n draws z ~ q, from the definitions: q(z_0 | x) then the forward kernels
    q(z_t | z_{t-1}) = N(sqrt(1 - beta_t) z_{t-1}, beta_t); p(z_{T-1}) N(0, 1), p(z_{t-1} | z_t), p(x | z_0)."""
    g, s = _gen(seed), model.schedule
    x = x.expand(n, -1)
    v = model.scaled(x)
    abar0 = s.alphas_cumprod[0]
    z = abar0.sqrt() * v + (1 - abar0).sqrt() * torch.randn(v.shape, generator=g, dtype=v.dtype)
    logw = model.log_likelihood(x, z) - _normal_log_pdf(z, abar0.sqrt() * v, 1 - abar0).sum(1)
    for t in range(1, model.timesteps):
        beta = s.betas[t]
        z_next = (1 - beta).sqrt() * z + beta.sqrt() * torch.randn(z.shape, generator=g, dtype=z.dtype)
        logw -= _normal_log_pdf(z_next, (1 - beta).sqrt() * z, beta).sum(1)
        ts = torch.full((n,), t)
        mean, var = posterior_mean_variance(model.x0_hat(z_next, ts), z_next, ts, s)
        logw += _normal_log_pdf(z, mean, var).sum(1)
        z = z_next
    return logw + _normal_log_pdf(z, 0.0, torch.tensor(1.0, dtype=z.dtype)).sum(1)


@pytest.fixture(scope="module")
def tiny():
    model = tiny_model()
    return model, exact_log_marginal(model)


def test_the_grid_marginal_is_normalised_and_matches_importance_sampling(tiny):
    model, log_p = tiny
    assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-6)
    for x in SUPPORT:
        w = log_weights(model, x, 400_000, seed=int(x))
        iw = (torch.logsumexp(w, 0) - math.log(len(w))).item()
        assert iw == pytest.approx(log_p[x].item(), abs=0.01)


@pytest.mark.parametrize("dim", [1, 3])
def test_closed_form_terms_average_to_the_definition_of_the_elbo(dim):
    model = tiny_model(dim=dim)
    rows = SUPPORT if dim == 1 else torch.tensor([[0, 2, 1], [2, 2, 0]])  # every level; two 3-pixel images
    for x in rows:
        n = 200_000
        xs = x.expand(n, dim)
        with torch.no_grad():
            terms = model.elbo_terms(xs, _gen(1))
        ours, definition = sum(terms.values()), log_weights(model, x, n, seed=2)
        se = math.sqrt(ours.var().item() / n + definition.var().item() / n)
        assert ours.mean().item() == pytest.approx(definition.mean().item(), abs=4 * se + 1e-3)
        assert all((v <= 1e-9).all() for v in terms.values())  # each term is a negative KL or a log-probability


def test_the_bound_lies_above_the_exact_nll_for_every_level(tiny):
    model, log_p = tiny
    n = 100_000
    with torch.no_grad():
        elbo = model.elbo(SUPPORT.repeat(n, 1), generator=_gen(3), draws=2).view(n, K)
    se = elbo.std(0) / math.sqrt(n)
    gap = log_p - elbo.mean(0)  # >= 0: KL(q(z | x) || p(z | x))
    assert (gap > -3 * se).all(), (gap, se)
    assert (gap < 2.0).all()  # not vacuous: a bound within two nats on this model


def test_terms_sum_to_the_reported_bound_and_the_loss():
    model = tiny_model(timesteps=7)
    x = torch.randint(0, K, (50, 1), generator=_gen(0))
    with torch.no_grad():
        terms = model.elbo_terms(x, _gen(4))
        loss = model.loss(x)
    assert set(terms) == {"prior", "diffusion", "reconstruction"}
    assert loss["loss"].item() == pytest.approx(sum(loss[k].item() for k in terms), rel=1e-9)
    # elbo(draws=1) is the sum of one draw of the terms with the same random numbers
    g1, g2 = _gen(8), _gen(8)
    t1 = model.stratified_times(50, 0, 1, g1)
    with torch.no_grad():
        expected = sum(model.elbo_terms(x, g1, t1).values())
        torch.testing.assert_close(model.elbo(x, generator=g2), expected)


def test_reported_terms_come_from_the_bounds_own_draws():
    model = tiny_model(timesteps=40)
    x = torch.randint(0, K, (60, 1), generator=_gen(0))
    bound, se, terms = negative_elbo_terms(model, x, draws=3, replicates=2, seed=5)
    assert (bound, se) == negative_elbo(model, x, draws=3, replicates=2, seed=5)  # the same draws
    assert set(terms) == {"prior", "diffusion", "reconstruction"}
    assert sum(terms.values()) == pytest.approx(bound, abs=1e-9)
    _, _, other = negative_elbo_terms(model, x, draws=3, replicates=2, seed=6)
    assert sum(other.values()) != pytest.approx(bound, abs=1e-6)  # other draws give another split


def test_diffusion_kl_is_the_gaussian_kl_of_the_two_posteriors():
    model = tiny_model(timesteps=20)
    v = model.scaled(torch.randint(0, K, (30, 1), generator=_gen(0)))
    t = torch.randint(1, 20, (30,), generator=_gen(1))
    z_t = torch.randn(30, 1, generator=_gen(2), dtype=torch.float64)
    with torch.no_grad():
        m_q, var = posterior_mean_variance(v, z_t, t, model.schedule)
        m_p, _ = posterior_mean_variance(model.x0_hat(z_t, t), z_t, t, model.schedule)
        torch.testing.assert_close(model.diffusion_kl(v, z_t, t), ((m_q - m_p) ** 2 / (2 * var)).sum(1))


def test_ddpm_samples_follow_the_exact_marginal(tiny):
    model, log_p = tiny
    samples = model.sample(20_000, generator=_gen(0))
    observed = np.bincount(samples[:, 0].numpy(), minlength=K)
    assert stats.chisquare(observed, log_p.exp().numpy() * len(samples)).pvalue > 1e-3


def test_an_importance_distribution_over_t_keeps_the_mean_and_cuts_the_variance():
    model = tiny_model(timesteps=60)
    x = torch.randint(0, K, (4000, 1), generator=_gen(0))
    with torch.no_grad():
        uniform = model.elbo(x, generator=_gen(1))
        model.fit_time_proposal(torch.randint(0, K, (500, 1), generator=_gen(2)), points=30, generator=_gen(3))
        q = model.time_proposal
        assert q.sum().item() == pytest.approx(1.0) and (q > 0).all() and q.max() > 3 * q.min()
        weighted = model.elbo(x, generator=_gen(4))
        t = model.stratified_times(200_000, 0, 1, _gen(5))  # the times follow q
    observed = torch.bincount(t - 1, minlength=59).double() / len(t)
    assert (observed - q).abs().max() < 5e-3
    se = math.sqrt(uniform.var().item() / len(x) + weighted.var().item() / len(x))
    assert weighted.mean().item() == pytest.approx(uniform.mean().item(), abs=4 * se)
    assert weighted.var() < 0.8 * uniform.var()


def test_monte_carlo_standard_error_matches_the_spread_of_repeated_estimates():
    model = tiny_model(timesteps=50)
    x = torch.randint(0, K, (200, 1), generator=_gen(0))
    runs = [negative_elbo(model, x, draws=2, replicates=3, seed=s) for s in range(30)]
    means, ses = np.array([m for m, _ in runs]), np.array([e for _, e in runs])
    # each run's standard error is that of a mean of 3 replicates; the spread of 30 runs checks it
    assert means.std(ddof=1) == pytest.approx(ses.mean(), rel=0.35)


def test_a_short_run_beats_the_independent_pixel_baseline_on_held_out_digits():
    from course_lib.ladder.ch02 import fit_independent
    from course_lib.metrics import mean_nll

    split = load_digits_split()
    baseline, _ = fit_independent(split)
    baseline_val = mean_nll(baseline.log_prob, split.val)
    torch.manual_seed(0)
    model = digits_diffusion(timesteps=1000, channels=32, blocks=2, denoiser="mlp")
    fit(model, split.train, steps=150, lr=2e-3, batch_size=128, progress=False)
    bound, se = negative_elbo(model, split.val, draws=4, replicates=2)
    assert se < 3.0
    assert bound + 3 * se < baseline_val, (bound, se, baseline_val)
