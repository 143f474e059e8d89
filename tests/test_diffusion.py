"""Diffusion primitives: schedules, the forward marginals, the posterior, one reverse step, DDPM and DDIM.

Schedule arithmetic is compared with diffusers' DDPMScheduler / DDIMScheduler (test-only, offline). The
posterior q(x_{t-1} | x_t, x_0) is compared with Bayes' rule written out here, the forward marginals with
samples, DDIM with eta = 1 over every step with DDPM's ancestral sampler.
"""

from __future__ import annotations

import math
import os

import pytest
import torch

from course_lib.config import torch_threads
from course_lib.models.diffusion import (
    Schedule,
    alphas_cumprod,
    cosine_schedule,
    ddim_sample,
    ddim_step,
    ddim_timesteps,
    ddpm_loss,
    ddpm_sample,
    linear_beta_schedule,
    log_snr_schedule,
    posterior_mean_variance,
    q_sample,
    reverse_step,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


def _diffusers():
    try:
        import diffusers
    except Exception as err:  # noqa: BLE001 (any import failure: skip with the reason)
        pytest.skip(f"diffusers does not import here ({type(err).__name__}: {err}); it is only a test reference")
    return diffusers


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---- schedules ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("ours", "theirs"), [(linear_beta_schedule, "linear"), (cosine_schedule, "squaredcos_cap_v2")])
def test_schedules_match_diffusers(ours, theirs):
    d = _diffusers()
    sched = d.DDPMScheduler(num_train_timesteps=1000, beta_schedule=theirs)
    betas = ours(1000)
    assert betas.shape == (1000,) and betas.dtype == torch.float64
    torch.testing.assert_close(betas.float(), sched.betas, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(alphas_cumprod(betas).float(), sched.alphas_cumprod, rtol=1e-4, atol=1e-7)


def test_cosine_schedule_follows_its_formula_and_log_snr_is_linear():
    abar = alphas_cumprod(cosine_schedule(50))
    f = torch.cos((torch.arange(51, dtype=torch.float64) / 50 + 0.008) / 1.008 * math.pi / 2) ** 2
    torch.testing.assert_close(abar[:-1], (f[1:] / f[0])[:-1])
    log_snr = torch.logit(alphas_cumprod(log_snr_schedule(11, 4.0, -6.0)))
    torch.testing.assert_close(log_snr, torch.linspace(4.0, -6.0, 11, dtype=torch.float64))


# ---- the forward process ------------------------------------------------------------------------------------

@pytest.mark.parametrize("t", [0, 10, 99])
def test_q_sample_moments_match_the_closed_form(t):
    abar = alphas_cumprod(linear_beta_schedule(100, 1e-3, 0.05))
    x0 = torch.tensor([[1.5, -0.7, 0.2]]).expand(200_000, 3)
    tt = torch.full((len(x0),), t)
    x_t = q_sample(x0, tt, abar, torch.randn(x0.shape, generator=_gen(t)))
    mean, var = abar[t].sqrt().item() * x0[0], 1 - abar[t].item()
    torch.testing.assert_close(x_t.mean(0), mean, atol=5 * math.sqrt(var / len(x0)), rtol=0)
    torch.testing.assert_close(x_t.var(0), torch.full((3,), var), atol=0.01 * var, rtol=0)


def test_q_sample_chains_the_one_step_kernels():
    """q(x_t | x_0) is the composition of the steps q(x_s | x_{s-1}) = N(sqrt(1 - beta_s) x_{s-1}, beta_s)."""
    betas = linear_beta_schedule(30, 1e-3, 0.1)
    x = torch.full((100_000, 1), 2.0)
    g = _gen(0)
    for s in range(30):
        x = (1 - betas[s]).sqrt().float() * x + betas[s].sqrt().float() * torch.randn(x.shape, generator=g)
    abar = alphas_cumprod(betas)[-1].item()
    assert x.mean().item() == pytest.approx(2.0 * math.sqrt(abar), abs=0.01)
    assert x.var().item() == pytest.approx(1 - abar, abs=0.01)


# ---- the posterior and the reverse step ----------------------------------------------------------------------

def test_posterior_mean_variance_is_bayes_rule():
    """q(x_{t-1} | x_t, x_0) ∝ q(x_t | x_{t-1}) q(x_{t-1} | x_0), two Gaussians in x_{t-1}: precisions add."""
    s = Schedule(linear_beta_schedule(50, 1e-3, 0.2))
    x0, x_t = torch.randn(6, 4, generator=_gen(1)).double(), torch.randn(6, 4, generator=_gen(2)).double()
    t = torch.tensor([1, 5, 17, 30, 42, 49])
    abar_prev, alpha = s.alphas_cumprod[t - 1][:, None], s.alphas[t][:, None]
    precision = 1 / (1 - abar_prev) + alpha / (1 - alpha)
    mean = (abar_prev.sqrt() * x0 / (1 - abar_prev) + alpha.sqrt() * x_t / (1 - alpha)) / precision
    got_mean, got_var = posterior_mean_variance(x0, x_t, t, s)
    torch.testing.assert_close(got_mean, mean)
    torch.testing.assert_close(got_var, (1 / precision).expand(6, 4))
    m0, v0 = posterior_mean_variance(x0, x_t, 0, s.betas)  # t = 0: the data itself, variance 0
    torch.testing.assert_close(m0, x0)
    assert (v0 == 0).all()


@pytest.mark.parametrize(("variance", "theirs"), [("beta", "fixed_large"), ("posterior", "fixed_small")])
def test_reverse_step_matches_ddpm_scheduler(variance, theirs):
    d = _diffusers()
    sched = d.DDPMScheduler(num_train_timesteps=200, variance_type=theirs, clip_sample=False)
    betas = linear_beta_schedule(200)
    x_t, eps = torch.randn(3, 5, generator=_gen(0)), torch.randn(3, 5, generator=_gen(1))
    for t in (199, 120, 1, 0):
        expected = sched.step(eps, t, x_t, generator=_gen(t)).prev_sample
        z = torch.randn(x_t.shape, generator=_gen(t))  # the draw diffusers makes for t > 0
        got = reverse_step(x_t, torch.full((3,), t), eps, betas, z, variance)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    got0 = reverse_step(x_t, 0, eps, betas, torch.randn(x_t.shape, generator=_gen(9)), variance)
    abar0 = alphas_cumprod(betas)[0].float()
    torch.testing.assert_close(got0, (x_t - (1 - abar0).sqrt() * eps) / abar0.sqrt())  # no noise at t = 0


@pytest.mark.parametrize(("steps", "eta"), [(10, 0.0), (10, 0.7), (25, 1.0)])
def test_ddim_matches_ddim_scheduler(steps, eta):
    d = _diffusers()
    sched = d.DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", clip_sample=False)
    sched.set_timesteps(steps)
    abar = alphas_cumprod(cosine_schedule(1000))
    times = ddim_timesteps(1000, steps)
    assert times.tolist() == sched.timesteps.tolist()
    x = torch.randn(4, 3, generator=_gen(0))
    for i, t in enumerate(times.tolist()):
        eps, z = torch.randn(4, 3, generator=_gen(10 + i)), torch.randn(4, 3, generator=_gen(100 + i))
        expected = sched.step(eps, t, x, eta=eta, variance_noise=z).prev_sample
        t_prev = times[i + 1].item() if i + 1 < steps else -1
        got = ddim_step(x, t, t_prev, eps, abar, eta, z)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
        x = expected


def test_ddim_with_every_step_and_eta_one_is_ddpm_with_the_posterior_variance():
    s = Schedule(cosine_schedule(40))
    x, eps = torch.randn(5, 2, generator=_gen(0)).double(), torch.randn(5, 2, generator=_gen(1)).double()
    for t in range(40):
        z = torch.randn(5, 2, generator=_gen(t)).double()
        torch.testing.assert_close(ddim_step(x, t, t - 1, eps, s.alphas_cumprod, 1.0, z),
                                   reverse_step(x, t, eps, s, z, "posterior"))
    w = torch.tensor([[0.9, -0.2], [0.3, 0.5]], dtype=torch.float64)

    def eps_fn(x, t):  # any deterministic function of (x_t, t)
        return torch.tanh(x @ w) * (1 + t[:, None] / 40)

    noise = torch.randn(7, 2, generator=_gen(5)).double()
    a = ddpm_sample(eps_fn, noise, s, _gen(3), variance="posterior")
    b = ddim_sample(eps_fn, noise, s.alphas_cumprod, steps=40, eta=1.0, generator=_gen(3))
    torch.testing.assert_close(a, b)
    c = ddim_sample(eps_fn, noise, s.alphas_cumprod, steps=40, eta=0.0, generator=_gen(3))
    assert not torch.allclose(a, c)  # eta = 0 is another (deterministic) sampler


def test_ddpm_loss_sums_over_pixels_and_averages_over_the_batch():
    abar = alphas_cumprod(linear_beta_schedule(10, 0.01, 0.3))
    x0, noise = torch.randn(8, 3, 2, generator=_gen(0)), torch.randn(8, 3, 2, generator=_gen(1))
    t = torch.arange(8)

    def model(x_t, t):
        return 0.5 * x_t + t[:, None, None] / 10

    x_t = abar[t].float().sqrt()[:, None, None] * x0 + (1 - abar[t].float()).sqrt()[:, None, None] * noise
    expected = ((noise - model(x_t, t)) ** 2).sum((1, 2)).mean()
    torch.testing.assert_close(ddpm_loss(model, x0, t, noise, abar), expected)
    model.alphas_cumprod = abar  # the schedule can travel with the model
    torch.testing.assert_close(ddpm_loss(model, x0, t, noise), expected)
