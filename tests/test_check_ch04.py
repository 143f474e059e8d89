"""Chapter 04 checks: stubs are not attempted, every listed wrong answer is recognised, and the reference,
the solution notebook's code and the library's functions pass."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.check import ch04
from course_lib.check.testing import assert_exercise_behaves, exercises_of
from course_lib.models import ppca, vae

# ---- the solution notebook's code (solutions/04_latent_variable_models.ipynb), copied verbatim ----


def gaussian_kl_to_standard_normal(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def reparameterize(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def elbo(x, encoder, decoder, eps=None):
    mu, logvar = encoder(x)
    if eps is None:
        eps = torch.randn_like(mu)
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = decoder(z)
    log_px_given_z = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=-1)
    kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(dim=-1)
    return log_px_given_z - kl


def iwae_estimate(log_p_x_given_z, log_p_z, log_q_z_given_x):
    log_w = log_p_x_given_z + log_p_z - log_q_z_given_x
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def ppca_mle(X, q):
    X = X.double()
    mu = X.mean(dim=0)
    S = (X - mu).T @ (X - mu) / len(X)
    evals, evecs = torch.linalg.eigh(S)
    evals, evecs = evals.flip(0), evecs.flip(1)
    sigma2 = evals[q:].mean()
    W = evecs[:, :q] * (evals[:q] - sigma2).sqrt()
    return mu, W, sigma2


def active_units(mu, threshold):
    return mu.var(dim=0) > threshold


# other correct answers a student may well write
def ppca_mle_with_rotation(X, q):
    mu, W, sigma2 = ppca_mle(X, q)
    angle = 0.7
    R = torch.eye(q, dtype=torch.float64)
    if q >= 2:
        R[:2, :2] = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return mu.float(), (W @ R).float(), sigma2.float()


def active_units_population_variance(mu, threshold):
    return mu.var(dim=0, unbiased=False) > threshold


SOLUTIONS = {
    "gaussian_kl_to_standard_normal": [gaussian_kl_to_standard_normal, vae.gaussian_kl_to_standard_normal],
    "reparameterize": [reparameterize, vae.reparameterize],
    "elbo": [elbo],
    "iwae_estimate": [iwae_estimate],
    "ppca_mle": [ppca_mle, ppca.ppca_mle, ppca_mle_with_rotation],
    "active_units": [active_units, active_units_population_variance],
}


@pytest.mark.parametrize("exercise", exercises_of(ch04), ids=lambda e: e.name)
def test_exercise_behaves(exercise):
    assert_exercise_behaves(exercise, SOLUTIONS[exercise.name])


def test_reparameterize_without_gradients_is_caught():
    def detached(mu, logvar, eps):
        return (mu + torch.exp(0.5 * logvar) * eps).detach()

    result = ch04.reparameterize.evaluate(detached)
    assert result.outcome == "incorrect" and "gradients" in result.message


@pytest.mark.parametrize("exercise", exercises_of(ch04), ids=lambda e: e.name)
def test_check_is_quick(exercise):
    result = exercise.evaluate(exercise.reference)
    assert result.seconds < 2.0
