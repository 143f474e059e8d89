"""Chapter 06 checks: stubs are not attempted, every listed wrong answer is recognised with its own hint, the
reference and the solution notebook's code pass, a failed check never shows the expected values; the references
agree with autograd, sampling and closed forms."""

import math

import numpy as np
import pytest
import torch

from course_lib.check import ch06
from course_lib.check.testing import assert_exercise_behaves, exercises_of
from course_lib.metrics import dequantization
from course_lib.models import diffusion, flow_matching, flows

# ---- the solution notebook's code (solutions/06_flows_and_diffusion.ipynb), copied verbatim ----

NUM_LEVELS = 17


def bounded_coupling_forward(x, mask, scale_net, shift_net, clamp):
    x_cond = mask * x
    s = clamp * torch.tanh(scale_net(x_cond) / clamp)
    t = shift_net(x_cond)
    y = x_cond + (1 - mask) * (x * torch.exp(s) + t)
    log_det = ((1 - mask) * s).sum(dim=-1)
    return y, log_det


def bounded_coupling_inverse(y, mask, scale_net, shift_net, clamp):
    y_cond = mask * y
    s = clamp * torch.tanh(scale_net(y_cond) / clamp)
    t = shift_net(y_cond)
    return y_cond + (1 - mask) * (y - t) * torch.exp(-s)


def conv1x1_forward(x, weight):
    y = torch.einsum("ij,bjhw->bihw", weight, x)
    pixels = x.shape[2] * x.shape[3]
    log_abs_det = torch.linalg.slogdet(weight)[1]
    return y, (pixels * log_abs_det).expand(x.shape[0])


def dequantized_bound(log_density, x, u):
    v = (x + u) / NUM_LEVELS                       # (S, B, D) in (0, 1)
    y = torch.log(v) - torch.log1p(-v)             # logit(v)
    log_det = -math.log(NUM_LEVELS) - torch.log(v) - torch.log1p(-v)  # log |dy / d(x + u)| per pixel
    log_p = log_density(y) + log_det.sum(dim=-1)   # log-density of x + u on the 0..17 scale, (S, B)
    return -log_p.mean(dim=0)


def q_sample_log_snr(x0, log_snr, noise):
    log_snr = log_snr.view(-1, *[1] * (x0.dim() - 1))
    abar, one_minus_abar = torch.sigmoid(log_snr), torch.sigmoid(-log_snr)  # SNR = abar / (1 - abar)
    return abar.sqrt() * x0 + one_minus_abar.sqrt() * noise


def posterior_mean_variance(x0, x_t, t, betas):
    alphas = 1 - betas
    abar = torch.cumprod(alphas, dim=0)
    abar_prev = abar[t - 1]
    mean = (abar_prev.sqrt() * betas[t] * x0 + alphas[t].sqrt() * (1 - abar_prev) * x_t) / (1 - abar[t])
    variance = (1 - abar_prev) / (1 - abar[t]) * betas[t]
    return mean, variance


def ddpm_loss(eps_model, x0, t, noise, alphas_cumprod):
    abar = alphas_cumprod[t].view(-1, 1)
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
    return ((noise - eps_model(x_t, t)) ** 2).sum(dim=-1).mean()


def reverse_step(x_t, t, eps_hat, betas, z):
    alphas = 1 - betas
    abar = torch.cumprod(alphas, dim=0)
    mean = (x_t - betas[t] / (1 - abar[t]).sqrt() * eps_hat) / alphas[t].sqrt()
    if t == 0:
        return mean
    return mean + betas[t].sqrt() * z


def cosine_path_target(x0, x1, t):
    angle = (math.pi / 2) * t.view(-1, *[1] * (x0.dim() - 1))
    x_t = torch.cos(angle) * x0 + torch.sin(angle) * x1
    velocity = (math.pi / 2) * (torch.cos(angle) * x1 - torch.sin(angle) * x0)
    return x_t, velocity


# ---- other correct answers a student may well write ----


def bounded_coupling_forward_by_where(x, mask, scale_net, shift_net, clamp):
    kept = mask.bool()
    h = torch.where(kept, x, torch.zeros_like(x))
    s = torch.where(kept, torch.zeros_like(x), clamp * torch.tanh(scale_net(h) / clamp))
    t = torch.where(kept, torch.zeros_like(x), shift_net(h))
    return x * s.exp() + t, s.sum(1)


def q_sample_log_snr_by_snr(x0, log_snr, noise):
    snr = torch.exp(log_snr.double()).view(-1, *[1] * (x0.dim() - 1))
    return torch.sqrt(snr / (1 + snr)) * x0.double() + torch.sqrt(1 / (1 + snr)) * noise.double()


def ddpm_loss_via_log_snr(eps_model, x0, t, noise, alphas_cumprod):
    abar = alphas_cumprod[t]
    x_t = q_sample_log_snr(x0, torch.log(abar) - torch.log1p(-abar), noise)
    return ((noise - eps_model(x_t, t)) ** 2).sum(dim=-1).mean()


def cosine_path_target_by_autograd(x0, x1, t):
    t = t.detach().clone().requires_grad_(True)

    def path(tt):
        a = (math.pi / 2) * tt.view(-1, *[1] * (x0.dim() - 1))
        return torch.cos(a) * x0 + torch.sin(a) * x1

    _, velocity = torch.autograd.functional.jvp(path, t, torch.ones_like(t))
    return path(t).detach(), velocity


def conv1x1_by_conv2d(x, weight):
    y = torch.nn.functional.conv2d(x, weight[:, :, None, None])
    log_det = x.shape[-1] * x.shape[-2] * torch.log(torch.abs(torch.det(weight)))
    return y, log_det * torch.ones(x.shape[0])


def dequantized_bound_by_distribution(log_density, x, u):
    v = (x + u) / NUM_LEVELS
    y = torch.special.logit(v)
    log_p_v = log_density(y) - (torch.log(v) + torch.log(1 - v)).sum(-1)  # density of v
    return -(log_p_v - x.shape[-1] * math.log(NUM_LEVELS)).mean(0)


def posterior_by_precisions(x0, x_t, t, betas):
    x0, x_t, betas = x0.double(), x_t.double(), betas.double()
    abar = torch.cumprod(1 - betas, 0)
    prec_step, prec_prior = (1 - betas[t]) / betas[t], 1 / (1 - abar[t - 1])
    variance = 1 / (prec_step + prec_prior)
    mean = variance * ((1 - betas[t]).sqrt() / betas[t] * x_t + abar[t - 1].sqrt() / (1 - abar[t - 1]) * x0)
    return mean, variance


SOLUTIONS = {
    "bounded_coupling_forward": [bounded_coupling_forward, bounded_coupling_forward_by_where],
    "bounded_coupling_inverse": [bounded_coupling_inverse],
    "conv1x1_forward": [conv1x1_forward, conv1x1_by_conv2d],
    "dequantized_bound": [dequantized_bound, dequantized_bound_by_distribution],
    "q_sample_log_snr": [q_sample_log_snr, q_sample_log_snr_by_snr],
    "posterior_mean_variance": [posterior_mean_variance, posterior_by_precisions],
    "ddpm_loss": [ddpm_loss, ddpm_loss_via_log_snr],
    "reverse_step": [reverse_step],
    "cosine_path_target": [cosine_path_target, cosine_path_target_by_autograd],
}


@pytest.mark.parametrize("exercise", exercises_of(ch06), ids=lambda e: e.name)
def test_exercise_behaves(exercise):
    assert_exercise_behaves(exercise, SOLUTIONS[exercise.name])


def test_every_exercise_has_solutions_here():
    assert sorted(SOLUTIONS) == sorted(e.name for e in exercises_of(ch06))


@pytest.mark.parametrize("exercise", exercises_of(ch06), ids=lambda e: e.name)
def test_check_is_quick(exercise):
    result = exercise.evaluate(exercise.reference)
    assert result.seconds < 2.0


def _numbers(value):
    if isinstance(value, torch.Tensor):
        return value.detach().double().flatten().tolist()
    if isinstance(value, (tuple, list)):
        return [n for v in value for n in _numbers(v)]
    return [float(value)]


@pytest.mark.parametrize("exercise", exercises_of(ch06), ids=lambda e: e.name)
def test_a_failed_check_never_shows_the_expected_values(exercise):
    expected = [n for e in exercise.expected(exercise.cases()) for n in _numbers(e)]
    expected = [n for n in expected if math.isfinite(n) and abs(n) > 1e-3]
    for wrong in exercise.wrong_answers:
        result = exercise.evaluate(wrong.implementation, hint=2, trusted=True)
        text = str(result) + result._repr_html_()
        assert result.outcome == "incorrect"
        leaked = [n for n in expected if f"{n:.3f}" in text or f"{n:.2f}" in text]
        assert not leaked, f"{exercise.name}/{wrong.name} shows expected values {leaked[:3]}"


def test_a_blank_answer_is_not_attempted_and_none_is_incorrect():
    def stub(*args):
        raise NotImplementedError()

    assert ch06.q_sample_log_snr.evaluate(stub).outcome == "not_attempted"
    assert ch06.q_sample_log_snr.evaluate(None).outcome == "incorrect"


# ---- the references are right: against autograd, sampling and closed forms ----


def _coupling_instance(seed=0):
    rng = np.random.default_rng(seed)
    return ch06._coupling_case(rng).args


def test_coupling_reference_log_det_is_autograds_slogdet_and_the_inverse_inverts():
    x, mask, scale_net, shift_net, clamp = _coupling_instance()
    x = x.double()
    y, log_det = ch06._coupling_forward(x, mask, scale_net, shift_net, clamp)
    for b in range(len(x)):
        def forward_one(row):
            return ch06._coupling_forward(row[None], mask, scale_net, shift_net, clamp)[0][0]
        jac = torch.autograd.functional.jacobian(forward_one, x[b])
        assert torch.allclose(torch.linalg.slogdet(jac)[1], log_det[b], atol=1e-10)
    assert torch.allclose(ch06._coupling_inverse(y, mask, scale_net, shift_net, clamp), x, atol=1e-10)
    raw = scale_net(mask.double() * x)
    s = (1 - mask) * ch06._coupling_parts(x, mask, scale_net, shift_net, clamp)[2]
    assert s.abs().max() < clamp < ((1 - mask) * raw).abs().max()  # the bound is active in the cases


def test_q_sample_log_snr_reference_is_the_alpha_bar_marginal_at_that_snr():
    betas = torch.linspace(0.01, 0.2, 12, dtype=torch.float64)
    abar = ch06._alphas_cumprod(betas)
    gen = torch.Generator().manual_seed(1)
    x0, noise = (torch.randn(12, 3, generator=gen, dtype=torch.float64) for _ in range(2))
    t = torch.arange(12)
    log_snr = torch.log(abar / (1 - abar))
    assert torch.allclose(ch06._q_sample_log_snr(x0, log_snr, noise), ch06._q_sample(x0, t, abar, noise))
    ends = ch06._q_sample_log_snr(x0[:2], torch.tensor([30.0, -30.0]), noise[:2])  # no NaN, no overflow
    assert torch.allclose(ends, torch.stack([x0[0], noise[1]]), atol=1e-6)


def test_conv1x1_reference_log_det_is_the_slogdet_of_its_jacobian():
    rng = np.random.default_rng(1)
    x, weight = ch06._conv1x1_cases(rng)[1].args  # det W < 0 in this case
    assert torch.linalg.det(weight.double()) < 0
    y, log_det = ch06._conv1x1_forward(x, weight)
    jac = torch.autograd.functional.jacobian(lambda v: ch06._conv1x1_forward(v.view(1, *x.shape[1:]), weight)[0],
                                             x[:1].double().flatten())
    assert torch.allclose(torch.linalg.slogdet(jac.reshape(x[0].numel(), -1))[1], log_det[0], atol=1e-9)


def test_dequantized_bound_reference_bounds_the_exact_discrete_nll():
    # a 1-pixel model: the exact P(x) of each of the 17 bins is an integral of the density over the bin
    density = ch06._GaussianLogDensity(np.array([0.3]), np.array([[1.2]]))
    x = torch.arange(NUM_LEVELS, dtype=torch.float64).view(1, -1, 1)[0]  # (17, 1)
    grid = (torch.arange(4000, dtype=torch.float64) + 0.5) / 4000  # midpoints of u in (0, 1)
    u = grid.view(-1, 1, 1).expand(-1, NUM_LEVELS, 1)
    bound = ch06._dequantized_bound(density, x, u)  # E_u[-log p(x + u)], the integral by the midpoint rule
    v = (x.view(1, -1) + grid.view(-1, 1)) / NUM_LEVELS
    log_p = density(torch.logit(v).unsqueeze(-1)) - torch.log(v) - torch.log1p(-v) - math.log(NUM_LEVELS)
    exact = -torch.logsumexp(log_p, 0) + math.log(len(grid))  # -log of the average density over the bin
    assert torch.logsumexp(-exact, 0).abs() < 1e-3  # the 17 probabilities sum to one
    assert (bound >= exact - 1e-9).all() and (bound - exact).max() > 1e-3


def test_q_sample_reference_has_the_marginal_moments_by_running_the_chain():
    gen = torch.Generator().manual_seed(0)
    betas = torch.linspace(0.01, 0.2, 12, dtype=torch.float64)
    x0 = torch.full((200_000, 1), 1.5, dtype=torch.float64)
    x = x0.clone()
    for beta in betas[:8]:  # steps 0..7, one at a time
        x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(x.shape, generator=gen, dtype=torch.float64)
    t = torch.full((len(x0),), 7)
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    closed = ch06._q_sample(x0, t, ch06._alphas_cumprod(betas), noise)
    assert abs(x.mean() - closed.mean()) < 0.01 and abs(x.var() - closed.var()) < 0.01


def test_posterior_reference_is_bayes_rule_on_a_grid():
    betas = torch.linspace(0.05, 0.3, 6, dtype=torch.float64)
    t, x0, x_t = 3, torch.tensor([[0.7]], dtype=torch.float64), torch.tensor([[-0.4]], dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    grid = torch.linspace(-6, 6, 20001, dtype=torch.float64)
    log_w = (torch.distributions.Normal((1 - betas[t]).sqrt() * grid, betas[t].sqrt()).log_prob(x_t[0, 0])
             + torch.distributions.Normal(abar[t - 1].sqrt() * x0[0, 0], (1 - abar[t - 1]).sqrt()).log_prob(grid))
    w = torch.softmax(log_w, 0)
    mean, var = ch06._posterior(x0, x_t, t, betas)
    assert torch.allclose((w * grid).sum(), mean[0, 0], atol=1e-6)
    assert torch.allclose((w * (grid - mean[0, 0]) ** 2).sum(), var, atol=1e-6)


def test_reverse_step_reference_is_the_posterior_mean_at_the_implied_x0():
    betas = torch.linspace(0.02, 0.25, 9, dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    x_t, eps = (torch.randn(4, 5, generator=gen, dtype=torch.float64) for _ in range(2))
    abar = torch.cumprod(1 - betas, 0)
    for t in (1, 5, 8):
        x0_hat = (x_t - (1 - abar[t]).sqrt() * eps) / abar[t].sqrt()
        mean, _ = ch06._posterior(x0_hat, x_t, t, betas)
        assert torch.allclose(ch06._reverse_step(x_t, t, eps, betas, torch.zeros_like(x_t)), mean)


def test_cosine_path_reference_velocity_is_the_time_derivative_of_a_variance_preserving_path():
    gen = torch.Generator().manual_seed(4)
    x0, x1 = (torch.randn(3, 2, generator=gen, dtype=torch.float64) for _ in range(2))
    t, h = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64), 1e-6
    (a, v), (b, _) = ch06._cosine_path_target(x0, x1, t), ch06._cosine_path_target(x0, x1, t + h)
    assert torch.allclose((b - a) / h, v, atol=1e-5)
    ends = ch06._cosine_path_target(x0, x1, torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64))[0]
    assert torch.allclose(ends[0], x0[0]) and torch.allclose(ends[1:], x1[1:])  # noise at 0, data at 1
    big0, big1 = (torch.randn(200_000, 1, generator=gen, dtype=torch.float64) for _ in range(2))
    xt = ch06._cosine_path_target(big0, big1, torch.full((200_000,), 0.37, dtype=torch.float64))[0]
    assert abs(xt.var().item() - 1.0) < 0.02  # unit-variance ends stay unit-variance


def _bounded_by_the_library(x, m, scale_net, shift_net, clamp):
    return flows.affine_coupling_forward(x, m, lambda h: clamp * torch.tanh(scale_net(h) / clamp), shift_net)


def _bounded_inverse_by_the_library(y, m, scale_net, shift_net, clamp):
    return flows.affine_coupling_inverse(y, m, lambda h: clamp * torch.tanh(scale_net(h) / clamp), shift_net)


def _cosine_path_through_the_library(x0, x1, t):
    flow_matching.flow_matching_target(x0, x1, t)  # a call alone is enough to be refused
    return cosine_path_target(x0, x1, t)


@pytest.mark.parametrize(("exercise", "library"), [
    (ch06.q_sample_log_snr, lambda x0, lam, noise: diffusion.q_sample(x0, torch.arange(len(x0)), torch.sigmoid(lam),
                                                                       noise)),
    (ch06.posterior_mean_variance, lambda x0, x_t, t, betas: diffusion.posterior_mean_variance(x0, x_t, t, betas)),
    (ch06.reverse_step, lambda x_t, t, eps, betas, z: diffusion.reverse_step(x_t, t, eps, betas, z)),
    (ch06.cosine_path_target, _cosine_path_through_the_library),
    (ch06.bounded_coupling_forward, _bounded_by_the_library),
    (ch06.bounded_coupling_inverse, _bounded_inverse_by_the_library),
    (ch06.dequantized_bound, lambda f, x, u: dequantization.dequantized_bound(lambda w: f(w), x, u, alpha=1e-9)),
], ids=["q_sample_log_snr", "posterior_mean_variance", "reverse_step", "cosine_path_target", "coupling_forward",
        "coupling_inverse", "dequantized_bound"])
def test_calling_the_library_is_not_a_solution(exercise, library):
    result = exercise.evaluate(library)
    assert result.outcome == "incorrect" and "called" in result.message, result.message


def test_the_references_agree_with_the_library():
    gen = torch.Generator().manual_seed(5)
    betas = diffusion.linear_beta_schedule(20, 1e-3, 0.2)
    x0, x_t, z = (torch.randn(4, 6, generator=gen, dtype=torch.float64) for _ in range(3))
    t = torch.randint(0, 20, (4,), generator=gen)
    abar = diffusion.alphas_cumprod(betas)
    assert torch.allclose(ch06._q_sample(x0, t, abar, z), diffusion.q_sample(x0, t, abar, z))
    for step in (1, 7, 19):
        mean, var = ch06._posterior(x0, x_t, step, betas)
        lib_mean, lib_var = diffusion.posterior_mean_variance(x0, x_t, step, betas)
        assert torch.allclose(mean, lib_mean) and torch.allclose(var, lib_var[0, 0])
    for step in (0, 5, 19):
        ours = ch06._reverse_step(x_t, step, z, betas, x0)
        assert torch.allclose(ours, diffusion.reverse_step(x_t, step, z, betas, x0))
    net = torch.nn.Linear(6, 6).double()
    assert torch.allclose(ch06._ddpm_loss(lambda x, s: net(x), x0, t, z, abar).float(),
                          diffusion.ddpm_loss(lambda x, s: net(x), x0, t, z, abar).detach().float())
    log_snr = torch.log(abar[t] / (1 - abar[t]))
    assert torch.allclose(ch06._q_sample_log_snr(x0, log_snr, z), diffusion.q_sample(x0, t, abar, z))


def test_coupling_references_agree_with_the_librarys_bounded_layer():
    x, mask, scale_net, shift_net, clamp = _coupling_instance(7)
    x = x.double()

    class BothNets(torch.nn.Module):  # the layer's one net: raw log-scale and shift, concatenated
        def forward(self, h):
            return torch.cat([scale_net(h), shift_net(h)], 1)

    layer = flows.AffineCoupling(mask, BothNets(), clamp=clamp).double()
    y, log_det = ch06._coupling_forward(x, mask, scale_net, shift_net, clamp)
    y_lib, log_det_lib = layer(x)
    assert torch.allclose(y, y_lib) and torch.allclose(log_det, log_det_lib)
    assert torch.allclose(ch06._coupling_inverse(y, mask, scale_net, shift_net, clamp), layer.inverse(y))


def _lecture_function(name):
    """The function ``name`` as a cell of the lecture notebook defines it (only the def, not the rest of the cell)."""
    import ast
    from pathlib import Path

    import nbformat

    notebook = nbformat.read(Path(__file__).parents[1] / "notebooks" / "06_flows_and_diffusion.ipynb", as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and f"def {name}(" in cell.source:
            tree = ast.parse(cell.source)
            module = ast.Module([n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name], [])
            namespace = {"torch": torch}
            exec(compile(module, "lecture", "exec"), namespace)
            return namespace[name]
    raise AssertionError(f"the lecture has no cell defining {name}")


@pytest.mark.parametrize(("exercise", "adapt", "lecture", "recognised"), [
    (ch06.bounded_coupling_forward, lambda f: lambda x, m, s, t, clamp: f(x, m, s, t), "coupling_forward",
     "scale_not_bounded"),
    (ch06.q_sample_log_snr, lambda f: lambda x0, lam, noise: f(x0, torch.arange(len(x0)), torch.exp(lam), noise),
     "q_sample_open", "snr_taken_for_abar"),
    (ch06.cosine_path_target, lambda f: f, "flow_matching_target_open", "straight_path"),
], ids=["coupling", "q_sample", "flow_matching_target"])
def test_copying_a_lecture_cell_is_not_a_solution(exercise, adapt, lecture, recognised):
    result = exercise.evaluate(adapt(_lecture_function(lecture)))
    assert result.outcome == "incorrect" and result.wrong_answer == recognised, (result.outcome, result.message)


def test_dequantized_bound_reference_is_the_library_bound_with_a_vanishing_logit_margin():
    density, x, u = ch06._dequantized_cases(np.random.default_rng(8))[0].args
    ours = ch06._dequantized_bound(density, x, u)
    lib = dequantization.dequantized_bound(density, x.double(), u.double(), num_levels=NUM_LEVELS, alpha=1e-9)
    assert torch.allclose(ours, lib)
