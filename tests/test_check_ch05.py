"""Chapter 05 checks: stubs are not attempted, every listed wrong answer is recognised with its own hint, the
reference, the solution notebook's code and other correct answers pass, and a failed check never shows the
expected value; the references agree with autograd, closed forms and trusted implementations."""

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial.distance
import scipy.stats
import torch
import torch.nn.functional as F

from course_lib.check import ch05
from course_lib.check.testing import assert_exercise_behaves, exercises_of
from course_lib.metrics import frechet, toy2d
from course_lib.models import gan

# ---- the solution notebook's code (solutions/05_gans.ipynb), copied verbatim ----


def discriminator_loss(real_logits, fake_logits):
    loss_real = F.softplus(-real_logits).mean()   # -E_data[log D(x)],      log D = -softplus(-a)
    loss_fake = F.softplus(fake_logits).mean()    # -E_z[log(1 - D(G(z)))], log(1 - D) = -softplus(a)
    return loss_real + loss_fake


def generator_loss(fake_logits, kind="non_saturating"):
    if kind == "saturating":
        return -F.softplus(fake_logits).mean()    # E_z[log(1 - D(G(z)))]
    if kind == "non_saturating":
        return F.softplus(-fake_logits).mean()    # -E_z[log D(G(z))]
    raise ValueError(f"kind must be 'saturating' or 'non_saturating', got {kind!r}")


def optimal_discriminator(p_data, p_g, real_share):
    weighted_data, weighted_g = real_share * p_data, (1 - real_share) * p_g
    return weighted_data / (weighted_data + weighted_g)


def js_divergence(p, q):
    m = 0.5 * (p + q)

    def kl(a, b):  # sum_i a_i log(a_i / b_i), with 0 log 0 = 0
        return torch.where(a > 0, a * torch.log(a / b), torch.zeros_like(a)).sum(dim=-1)

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def modes_covered(samples, centres, std, min_share=0.01):
    dist = torch.cdist(samples, centres)                   # (N, K)
    nearest, which = dist.min(dim=1)
    close = nearest <= 3 * std
    counts = torch.bincount(which[close], minlength=len(centres))
    return int((counts >= min_share * len(samples)).sum())


def gradient_penalty(critic, real, fake, eps=None):
    if eps is None:
        eps = torch.rand(len(real), 1, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)   # (B, D)
    return ((grad.norm(dim=1) - 1) ** 2).mean()


def frechet_distance(mu1, cov1, mu2, cov2):
    cross = scipy.linalg.sqrtm(cov1 @ cov2).real            # (C1 C2)^(1/2), rounding noise dropped
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(cross))


def generator_logit_gradients(fake_logits):
    saturating = -torch.sigmoid(fake_logits)           # d/da log(1 - sigmoid(a)) = -sigmoid(a) = -D
    non_saturating = -torch.sigmoid(-fake_logits)      # d/da -log sigmoid(a) = -(1 - sigmoid(a)) = -(1 - D)
    return saturating, non_saturating


def wasserstein_1d(x, y):
    x, y = torch.sort(x).values, torch.sort(y).values
    points = torch.sort(torch.cat([x, y])).values
    fx = torch.searchsorted(x, points[:-1], right=True) / len(x)   # F_x on each interval
    fy = torch.searchsorted(y, points[:-1], right=True) / len(y)
    return float(((fx - fy).abs() * torch.diff(points)).sum())


# ---- other correct answers a student may well write ----


def discriminator_loss_by_bce(real_logits, fake_logits):
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss_by_logsigmoid(fake_logits, kind):
    if kind == "saturating":
        return F.logsigmoid(-fake_logits).mean()
    return -F.logsigmoid(fake_logits).mean()


def optimal_discriminator_by_log_odds(p_data, p_g, real_share):  # sigmoid of the log-odds of "real"
    return torch.sigmoid(torch.log(real_share * p_data) - torch.log((1 - real_share) * p_g))


def js_by_entropies(p, q):  # JS = H(m) - (H(p) + H(q)) / 2
    def entropy(a):
        return -torch.where(a > 0, a * torch.log(a), torch.zeros_like(a)).sum(-1)

    return entropy(0.5 * (p + q)) - 0.5 * (entropy(p) + entropy(q))


def modes_covered_by_numpy(samples, centres, std, min_share):
    s, c = np.asarray(samples, dtype=np.float64), np.asarray(centres, dtype=np.float64)
    d = np.linalg.norm(s[:, None, :] - c[None], axis=-1)
    which, near = d.argmin(1), d.min(1) <= 3 * std
    return int(sum((which[near] == k).sum() >= min_share * len(s) for k in range(len(c))))


def gradient_penalty_with_grad_outputs(critic, real, fake, eps=None):
    if eps is None:
        eps = torch.rand(real.shape[0], 1, dtype=real.dtype)
    x_hat = eps * real + (1 - eps) * fake
    x_hat.requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out, x_hat, grad_outputs=torch.ones_like(out), create_graph=True)
    return ((grad.pow(2).sum(1).sqrt() - 1) ** 2).mean()


def frechet_by_eigenvalues(mu1, cov1, mu2, cov2):
    roots = np.sqrt(np.clip(np.linalg.eigvals(cov1 @ cov2).real, 0, None))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1 + cov2) - 2 * roots.sum())


def generator_logit_gradients_by_autograd(fake_logits):
    a = fake_logits.clone().requires_grad_(True)
    (sat,) = torch.autograd.grad(-F.softplus(a).sum(), a)
    a = fake_logits.clone().requires_grad_(True)
    (ns,) = torch.autograd.grad(F.softplus(-a).sum(), a)
    return sat, ns


def generator_logit_gradients_as_in_the_lecture(fake_logits):  # section 4's cell: not a solution (forbidden)
    a = fake_logits.clone().requires_grad_(True)
    grads = []
    for kind in ("saturating", "non_saturating"):
        loss = torch.stack([gan.generator_loss(a_i[None], kind) for a_i in a])
        grads.append(torch.autograd.grad(loss.sum(), a)[0])
    return tuple(grads)


def wasserstein_by_quantiles(x, y):  # integral over u in (0, 1) of |F_x^-1(u) - F_y^-1(u)|
    x, y = np.sort(x.numpy()), np.sort(y.numpy())
    u = np.unique(np.concatenate([np.arange(1, len(x) + 1) / len(x), np.arange(1, len(y) + 1) / len(y)]))
    widths = np.diff(np.concatenate([[0.0], u]))
    mid = u - widths / 2
    qx = x[np.minimum((mid * len(x)).astype(int), len(x) - 1)]
    qy = y[np.minimum((mid * len(y)).astype(int), len(y) - 1)]
    return float((np.abs(qx - qy) * widths).sum())


SOLUTIONS = {
    "discriminator_loss": [discriminator_loss, discriminator_loss_by_bce],
    "generator_loss": [generator_loss, generator_loss_by_logsigmoid],
    "optimal_discriminator": [optimal_discriminator, optimal_discriminator_by_log_odds],
    "js_divergence": [js_divergence, js_by_entropies],
    "modes_covered": [modes_covered, modes_covered_by_numpy],
    "gradient_penalty": [gradient_penalty, gradient_penalty_with_grad_outputs],
    "frechet_distance": [frechet_distance, frechet_by_eigenvalues],
    "generator_logit_gradients": [generator_logit_gradients, generator_logit_gradients_by_autograd],
    "wasserstein_1d": [wasserstein_1d, wasserstein_by_quantiles],
}


@pytest.mark.parametrize("exercise", exercises_of(ch05), ids=lambda e: e.name)
def test_exercise_behaves(exercise):
    assert_exercise_behaves(exercise, SOLUTIONS[exercise.name])


def test_every_exercise_has_solutions_here():
    assert sorted(SOLUTIONS) == sorted(e.name for e in exercises_of(ch05))


@pytest.mark.parametrize("exercise", exercises_of(ch05), ids=lambda e: e.name)
def test_check_is_quick(exercise):
    result = exercise.evaluate(exercise.reference)
    assert result.seconds < 2.0


def _numbers_in(value):
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers_in(v)]
    if isinstance(value, (tuple, list)):
        return [x for v in value for x in _numbers_in(v)]
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return [float(x) for x in np.asarray(value, dtype=np.float64).ravel()]
    if isinstance(value, (bool, np.bool_)):
        return []
    return [float(value)] if isinstance(value, (int, float)) else []


@pytest.mark.parametrize("exercise", exercises_of(ch05), ids=lambda e: e.name)
def test_a_failed_check_never_shows_the_expected_value(exercise):
    expected = [x for value in exercise.expected(exercise.cases()) for x in _numbers_in(value)]
    shown = {f"{x:.{digits}f}" for x in expected if math.isfinite(x) and abs(x) > 1e-3 for digits in (2, 3, 4)}
    shown |= {str(int(x)) for x in expected if float(x).is_integer() and abs(x) >= 10}
    for wrong in exercise.wrong_answers:
        result = exercise.evaluate(wrong.implementation, trusted=True, hint=2)
        text = str(result) + result._repr_html_()
        leaked = [s for s in shown if s in text]
        assert not leaked, f"{exercise.name}, {wrong.name}: the result shows {leaked}"


def test_gradient_penalty_without_create_graph_is_told_why():
    def detached(critic, real, fake, eps=None):
        return ch05._gp_with(critic, real, fake, eps, create_graph=False).detach()

    result = ch05.gradient_penalty.evaluate(detached, trusted=True)
    assert result.outcome == "incorrect" and "create_graph" in " ".join([result.message, *result.hints])


def test_frechet_cases_make_sqrtm_complex():
    # the mistake "complex left unhandled" exists only if scipy's sqrtm really returns complex values here
    cases = ch05.frechet_distance.cases()
    assert all(np.iscomplexobj(scipy.linalg.sqrtm(c.args[1] @ c.args[3])) for c in cases)


@pytest.mark.parametrize(("exercise", "library"), [
    (ch05.discriminator_loss, lambda r, f: gan.discriminator_loss(r, f)),
    (ch05.generator_loss, lambda f, kind: gan.generator_loss(f, kind)),
    (ch05.modes_covered, lambda s, c, std, share: toy2d.modes_covered(s, c, std, min_share=share)),
    (ch05.gradient_penalty, lambda critic, real, fake, eps=None: gan.gradient_penalty(
        critic, real, fake, eps=None if eps is None else eps.view(-1))),
    (ch05.frechet_distance, lambda m1, c1, m2, c2: frechet.frechet_distance(m1, c1, m2, c2)),
    (ch05.wasserstein_1d, lambda x, y: scipy.stats.wasserstein_distance(x.numpy(), y.numpy())),
    # the lecture's own code: scipy's JS (section 2) and autograd through the library's losses (section 4)
    (ch05.js_divergence, lambda p, q: torch.as_tensor(
        scipy.spatial.distance.jensenshannon(p.double().numpy(), q.double().numpy(), axis=1) ** 2)),
    (ch05.generator_logit_gradients, generator_logit_gradients_as_in_the_lecture),
], ids=["discriminator_loss", "generator_loss", "modes_covered", "gradient_penalty", "frechet_distance",
        "wasserstein_1d", "js_divergence", "generator_logit_gradients"])
def test_calling_the_library_is_not_a_solution(exercise, library):
    result = exercise.evaluate(library)
    assert result.outcome == "incorrect" and "called" in result.message, result.message


@pytest.mark.parametrize(("exercise", "library"), [
    (ch05.discriminator_loss, lambda r, f: gan.discriminator_loss(r.double(), f.double())),
    (ch05.generator_loss, lambda f, kind: gan.generator_loss(f.double(), kind)),
    (ch05.modes_covered, lambda s, c, std, share: toy2d.modes_covered(s, c, std, min_share=share)),
    (ch05.gradient_penalty, lambda critic, real, fake, eps=None: gan.gradient_penalty(
        critic, real, fake, eps=None if eps is None else eps.view(-1))),
    (ch05.frechet_distance, lambda m1, c1, m2, c2: frechet.frechet_distance(m1, c1, m2, c2)),
], ids=["discriminator_loss", "generator_loss", "modes_covered", "gradient_penalty", "frechet_distance"])
def test_the_references_agree_with_the_library(exercise, library):
    for case in exercise.cases():
        want = exercise._run_trusted(exercise.reference, case)
        got = exercise._run_trusted(library, case)
        assert exercise.compare(got, want, case) is None, exercise.name


# ---- the references are right: against closed forms, autograd and trusted implementations ----


def test_optimal_discriminator_maximises_the_value_and_gives_2js_minus_log4():
    gen = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(7, generator=gen, dtype=torch.float64), 0)
    q = torch.softmax(torch.randn(7, generator=gen, dtype=torch.float64), 0)
    for share in (0.5, 0.2, 0.7):
        def value(d, share=share):  # minus the discriminator's loss when a share `share` of its examples are data
            return (share * p * torch.log(d) + (1 - share) * q * torch.log(1 - d)).sum()

        d_star = ch05._optimal_discriminator(p, q, share)
        for _ in range(20):
            other = (d_star + 0.05 * torch.randn(7, generator=gen, dtype=torch.float64)).clamp(1e-3, 1 - 1e-3)
            assert value(other) < value(d_star)
    balanced = ch05._optimal_discriminator(p, q, 0.5)
    assert torch.allclose(balanced, p / (p + q))
    value = (p * torch.log(balanced) + q * torch.log(1 - balanced)).sum()
    assert torch.isclose(value, 2 * ch05._js_divergence(p, q) - math.log(4))


def test_the_balanced_answer_is_caught_in_every_case():  # the lecture's p / (p + q) never passes exercise 3
    for case in ch05._dstar_cases(np.random.default_rng(7)):
        p, q, share = case.args
        assert abs(share - 0.5) >= 0.15
        assert not torch.allclose(ch05._dstar_balanced(p, q, share), ch05._optimal_discriminator(p, q, share))


def test_js_reference_matches_scipy():
    rng = np.random.default_rng(1)
    p, q = rng.dirichlet(np.ones(6), size=4), rng.dirichlet(np.ones(6), size=4)
    p[:, 0] = 0
    p /= p.sum(1, keepdims=True)
    want = np.array([scipy.spatial.distance.jensenshannon(a, b) ** 2 for a, b in zip(p, q, strict=True)])
    assert np.allclose(ch05._js_divergence(torch.tensor(p), torch.tensor(q)).numpy(), want)


def test_discriminator_loss_reference_is_the_bce_in_float64():
    real, fake = torch.tensor([2.0, -30.0, 0.3]), torch.tensor([25.0, -1.0])  # float64 sigmoid is exact here
    want = (-torch.log(torch.sigmoid(real.double())).mean() - torch.log1p(-torch.sigmoid(fake.double())).mean())
    assert torch.isclose(ch05._discriminator_loss(real, fake), want)
    # a confident mistake costs its logit: -log sigmoid(-150) = 150 nats (+ log1p(e^-150)), finite
    loss = ch05._discriminator_loss(torch.tensor([-150.0]), torch.tensor([150.0]))
    assert torch.isclose(loss, torch.tensor(300.0, dtype=torch.float64))


def test_generator_logit_gradients_reference_is_autograd():
    a = torch.linspace(-30, 30, 61, dtype=torch.float64)
    sat, ns = ch05._generator_logit_gradients(a)
    auto_sat, auto_ns = generator_logit_gradients_by_autograd(a)
    assert torch.allclose(sat, auto_sat) and torch.allclose(ns, auto_ns)
    assert sat[0].abs() < 1e-12 and (ns[0] + 1).abs() < 1e-12  # as D(G(z)) -> 0: saturating vanishes, NS -> -1


def test_gradient_penalty_reference_on_a_linear_critic():
    # f(x) = w . x has gradient w everywhere: the penalty is (|w| - 1)^2 exactly
    w = torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    critic = torch.nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        critic.weight.copy_(w)
    real, fake = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    assert torch.isclose(ch05._gradient_penalty(critic, real, fake), torch.tensor(16.0, dtype=torch.float64))


def test_frechet_reference_matches_the_1d_closed_form_and_scipy_sqrtm():
    assert math.isclose(ch05._frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]),
                                               np.array([[9.0]])), 2.0**2 + (2.0 - 3.0) ** 2)
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(50, 4)) @ rng.normal(size=(4, 4))
    c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    m1, m2 = a.mean(0), b.mean(0)
    want = ((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * scipy.linalg.sqrtm(c1 @ c2).real)
    assert math.isclose(ch05._frechet_distance(m1, c1, m2, c2), want, rel_tol=1e-8)


def test_wasserstein_reference_matches_scipy():
    rng = np.random.default_rng(3)
    for n, m in [(5, 9), (20, 20), (7, 31)]:
        x, y = rng.normal(size=n), rng.exponential(size=m)
        assert math.isclose(ch05._wasserstein_1d(x, y), scipy.stats.wasserstein_distance(x, y), rel_tol=1e-10)


def test_modes_covered_reference_on_a_hand_made_case():
    centres = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    std = 0.1  # radius 0.3
    samples = torch.tensor([[0.05, 0.0]] * 5 + [[1.0, 0.25]] * 4 + [[0.0, 1.35]] * 10 + [[0.5, 0.5]])
    assert ch05._modes_covered(samples, centres, std, 0.2) == 2  # 5/20 and 4/20 near; the far ten count for none
    assert ch05._modes_covered(samples, centres, std, 0.25) == 1
