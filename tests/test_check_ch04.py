"""Chapter 04 checks: stubs are not attempted, every listed wrong answer is recognised, and the reference,
the solution notebook's code and other correct answers pass; the references agree with autograd, the library
and exact expectations."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.check import ch04
from course_lib.check.testing import assert_exercise_behaves, exercises_of
from course_lib.metrics import log_mean_exp
from course_lib.models import vae
from course_lib.models.ppca import PPCA

# ---- the solution notebook's code (solutions/04_latent_variable_models.ipynb), copied verbatim ----


def reparameterize(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def active_units(mu, threshold):
    return mu.var(dim=0) > threshold


def gaussian_kl(mu_q, logvar_q, mu_p, logvar_p):
    var_ratio = torch.exp(logvar_q - logvar_p)
    mean_term = (mu_q - mu_p) ** 2 * torch.exp(-logvar_p)
    return 0.5 * (logvar_p - logvar_q + var_ratio + mean_term - 1.0).sum(dim=-1)


def elbo(x, encoder, decoder, prior_mu, prior_logvar, eps=None):
    mu, logvar = encoder(x)
    if eps is None:
        eps = torch.randn_like(mu)
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = decoder(z)
    log_px_given_z = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=-1)
    kl = gaussian_kl(mu, logvar, prior_mu.expand_as(mu), prior_logvar.expand_as(logvar))
    return log_px_given_z - kl


def iwae_estimate(log_p_x_given_z, log_p_z, log_q_z_given_x):
    log_w = log_p_x_given_z + log_p_z - log_q_z_given_x
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def score_function_gradient(f_values, z, mu, logvar):
    var = torch.exp(logvar)
    score_mu = (z - mu) / var                          # d/dmu log q(z), (S, d)
    score_logvar = 0.5 * ((z - mu) ** 2 / var - 1.0)   # d/dlogvar log q(z), (S, d)
    f = f_values.unsqueeze(-1)
    return (f * score_mu).mean(dim=0), (f * score_logvar).mean(dim=0)


def iwae_gradient(log_w, grad_log_w):
    weights = torch.softmax(log_w, dim=0)              # normalised importance weights, (k, B)
    return (weights.unsqueeze(-1) * grad_log_w).sum(dim=0)


def ppca_posterior(x, mu, W, sigma2):
    q = W.shape[1]
    M = W.T @ W + sigma2 * torch.eye(q, dtype=W.dtype)
    M_inv = torch.linalg.inv(M)
    mean = (x - mu) @ W @ M_inv                        # rows: M^{-1} W^T (x_n - mu), M is symmetric
    return mean, sigma2 * M_inv


# ---- other correct answers a student may well write ----


def active_units_population_variance(mu, threshold):
    return mu.var(dim=0, unbiased=False) > threshold


def gaussian_kl_by_distributions(mu_q, logvar_q, mu_p, logvar_p):
    q = torch.distributions.Normal(mu_q, torch.exp(0.5 * logvar_q))
    p = torch.distributions.Normal(mu_p, torch.exp(0.5 * logvar_p))
    return torch.distributions.kl_divergence(q, p).sum(-1)


def iwae_gradient_by_autograd(log_w, grad_log_w):
    # a surrogate whose gradient with respect to theta is the answer: l_i(theta) = log_w_i + theta . g_i
    theta = torch.zeros(grad_log_w.shape[1:], dtype=grad_log_w.dtype, requires_grad=True)
    bound = torch.logsumexp(log_w + (grad_log_w * theta).sum(-1), dim=0)
    (grad,) = torch.autograd.grad(bound.sum(), theta)
    return grad


def ppca_posterior_by_solve(x, mu, W, sigma2):
    x, mu, W = x.double(), mu.double(), W.double()
    precision = W.T @ W / sigma2 + torch.eye(W.shape[1], dtype=torch.float64)
    cov = torch.linalg.inv(precision)
    mean = torch.linalg.solve(precision, W.T @ (x - mu).T / sigma2).T
    return mean, cov


SOLUTIONS = {
    "reparameterize": [reparameterize],
    "active_units": [active_units, active_units_population_variance],
    "gaussian_kl": [gaussian_kl, gaussian_kl_by_distributions],
    "elbo": [elbo],
    "iwae_estimate": [iwae_estimate],
    "score_function_gradient": [score_function_gradient],
    "iwae_gradient": [iwae_gradient, iwae_gradient_by_autograd],
    "ppca_posterior": [ppca_posterior, ppca_posterior_by_solve],
}


@pytest.mark.parametrize("exercise", exercises_of(ch04), ids=lambda e: e.name)
def test_exercise_behaves(exercise):
    assert_exercise_behaves(exercise, SOLUTIONS[exercise.name])


def test_every_exercise_has_solutions_here():
    assert sorted(SOLUTIONS) == sorted(e.name for e in exercises_of(ch04))


def test_reparameterize_without_gradients_is_caught():
    def detached(mu, logvar, eps):
        return (mu + torch.exp(0.5 * logvar) * eps).detach()

    result = ch04.reparameterize.evaluate(detached)
    assert result.outcome == "incorrect" and "gradients" in result.message


@pytest.mark.parametrize("exercise", exercises_of(ch04), ids=lambda e: e.name)
def test_check_is_quick(exercise):
    result = exercise.evaluate(exercise.reference)
    assert result.seconds < 2.0


# ---- the references are right: against the library, autograd and exact expectations ----


def test_gaussian_kl_reference_reduces_to_the_library_for_a_standard_normal_prior():
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    zeros = torch.zeros_like(mu)
    assert torch.allclose(ch04._kl(mu, logvar, zeros, zeros), vae.gaussian_kl_to_standard_normal(mu, logvar).double())
    assert torch.allclose(ch04._kl(mu, logvar, mu, logvar), torch.zeros(5, dtype=torch.float64))


def test_iwae_gradient_reference_is_the_gradient_of_the_bound():
    gen = torch.Generator().manual_seed(1)
    theta = torch.randn(4, dtype=torch.float64, generator=gen, requires_grad=True)
    a = torch.randn(6, 3, 4, dtype=torch.float64, generator=gen)  # l_i(theta) = sum_j a_ij sin(theta_j) - 100
    log_w = (a * torch.sin(theta)).sum(-1) - 100.0  # (k, B)
    bound = torch.logsumexp(log_w, 0) - math.log(6)  # (B,)
    want = torch.stack([torch.autograd.grad(bound[b], theta, retain_graph=True)[0] for b in range(3)])
    per_sample = a * torch.cos(theta.detach())  # d l_i / d theta, (k, B, P)
    assert torch.allclose(ch04._iwae_gradient(log_w.detach(), per_sample), want)


def test_score_function_reference_is_unbiased():
    # f(z) = sum_j c_j z_j^2: E_q f = sum_j c_j (mu_j^2 + exp(logvar_j)), so the gradients are known exactly
    gen = torch.Generator().manual_seed(2)
    mu, logvar, c = torch.tensor([0.5, -1.0]), torch.tensor([-0.5, 0.3]), torch.tensor([1.0, -2.0])
    z = mu + torch.exp(0.5 * logvar) * torch.randn(400_000, 2, generator=gen)
    grad_mu, grad_logvar = ch04._score_function((c * z**2).sum(-1), z, mu, logvar)
    assert torch.allclose(grad_mu.float(), 2 * c * mu, atol=0.05)
    assert torch.allclose(grad_logvar.float(), c * torch.exp(logvar), atol=0.05)


def test_ppca_posterior_reference_matches_the_library():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(200, 5, generator=gen, dtype=torch.float64) @ torch.randn(5, 5, generator=gen, dtype=torch.float64)
    model = PPCA.fit(x, 2)
    mean, cov = ch04._ppca_posterior(x[:7], model.mu, model.w, model.sigma2)
    lib_mean, lib_cov = model.posterior(x[:7])
    assert torch.allclose(mean, lib_mean) and torch.allclose(cov, lib_cov)


@pytest.mark.parametrize(("exercise", "library"), [
    (ch04.reparameterize, lambda mu, logvar, eps: vae.reparameterize(mu, logvar, eps)),
    (ch04.iwae_estimate, lambda a, b, c: log_mean_exp(a + b - c, 0)),
    (ch04.ppca_posterior, lambda x, mu, W, sigma2: PPCA(mu.double(), W.double(), sigma2.double()).posterior(x)),
], ids=["reparameterize", "iwae_estimate", "ppca_posterior"])
def test_calling_the_library_is_not_a_solution(exercise, library):
    result = exercise.evaluate(library)
    assert result.outcome == "incorrect" and "called" in result.message, result.message
