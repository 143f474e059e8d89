"""Checks for chapter 04, latent variable models.

In the order of the exercises: the reparameterisation and active units (warm-ups), the KL between two diagonal
Gaussians, the ELBO with a learned Gaussian prior, the importance-weighted estimate, the score-function gradient,
the gradient of the importance-weighted bound, and the posterior of probabilistic PCA.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from course_lib import metrics
from course_lib.check import Case, Exercise, WrongAnswer, compare_values
from course_lib.models import vae
from course_lib.models.ppca import PPCA


def _f64(*tensors):
    return (torch.as_tensor(t, dtype=torch.float64) for t in tensors)


def _mu_logvar(rng, batch: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    mu = torch.as_tensor(rng.normal(0, 1.5, size=(batch, dim)), dtype=torch.float32)
    logvar = torch.as_tensor(rng.uniform(-3, 1.5, size=(batch, dim)), dtype=torch.float32)
    return mu, logvar


def _batch_and_dim(rng) -> tuple[int, int]:
    batch, dim = int(rng.integers(3, 12)), int(rng.integers(2, 9))
    while batch == dim:
        batch = int(rng.integers(3, 12))
    return batch, dim


# ---- 1. reparameterize(mu, logvar, eps) -> z (a warm-up) -----------------------------------------------------


def _reparameterize(mu, logvar, eps):
    mu, logvar, eps = _f64(mu, logvar, eps)
    return mu + torch.exp(0.5 * logvar) * eps


def _logvar_as_std(mu, logvar, eps):
    mu, logvar, eps = _f64(mu, logvar, eps)
    return mu + logvar * eps


def _variance_as_std(mu, logvar, eps):
    mu, logvar, eps = _f64(mu, logvar, eps)
    return mu + torch.exp(logvar) * eps


def _reparameterize_cases(rng):
    cases = []
    for _ in range(3):
        mu, logvar = _mu_logvar(rng, *_batch_and_dim(rng))
        eps = torch.as_tensor(rng.normal(size=tuple(mu.shape)), dtype=torch.float32)
        cases.append(Case(mu, logvar, eps))
    return cases


def _gradients_flow(impl):
    """The gradients of sum(z) with respect to mu and logvar on a fixed instance; None when z carries none."""
    gen = torch.Generator().manual_seed(404)
    mu = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    logvar = (0.5 * torch.randn(4, 3, generator=gen, dtype=torch.float64)).requires_grad_(True)
    eps = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    z = impl(mu, logvar, eps)
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        return None
    z.sum().backward()
    return mu.grad, logvar.grad


def _reparameterize_call(impl, case):
    """z on the case, and the gradients that flow back through the student's z (a fixed instance)."""
    return impl(*case.args, **case.kwargs), _gradients_flow(impl)


def _compare_reparameterized(got, expected, case):
    message = compare_values(got[0], expected[0], rtol=1e-4, atol=1e-6)
    if message:
        return message
    if got[1] is None and expected[1] is not None:
        return ("your z does not carry gradients back to mu and logvar: build it from them with torch "
                "operations (no .detach(), .item(), numpy or torch.tensor(...) on the way).")
    if compare_values(got[1], expected[1], rtol=1e-5, atol=1e-8):
        return "the gradients of z with respect to mu and logvar are not those of mu + sigma * eps."
    return None


reparameterize = Exercise(
    chapter="04",
    name="reparameterize",
    forbidden=(vae.reparameterize,),
    reference=_reparameterize,
    make_cases=_reparameterize_cases,
    call=_reparameterize_call,
    compare=_compare_reparameterized,
    hint="z = mu + sigma * eps, where sigma is the standard deviation. The encoder gives the log-variance "
    "logvar = log sigma^2, so sigma = exp(logvar / 2).",
    deeper_hint="Turn the log-variance into a standard deviation with torch.exp, then scale eps and shift it; eps is "
    "given, so no random numbers are drawn.",
    wrong_answers=[
        WrongAnswer("logvar_as_std", _logvar_as_std,
                    hint="You multiplied eps by logvar itself. logvar is the log of the variance and can be "
                    "negative; turn it into a standard deviation first: sigma = exp(logvar / 2)."),
        WrongAnswer("variance_as_std", _variance_as_std,
                    hint="exp(logvar) is the variance sigma^2, not the standard deviation: take the square root, "
                    "sigma = exp(logvar / 2)."),
    ],
)


# ---- 2. active_units(mu, threshold) -> bool (d,) (a warm-up) -------------------------------------------------


def _active(mu, threshold):
    mu = torch.as_tensor(mu, dtype=torch.float64)
    return mu.var(dim=0) > threshold


def _active_wrong_axis(mu, threshold):
    mu = torch.as_tensor(mu, dtype=torch.float64)
    return mu.var(dim=1) > threshold


def _active_cases(rng):
    cases = []
    for _ in range(3):
        n, d = int(rng.integers(30, 60)), int(rng.integers(5, 12))
        threshold = float(rng.choice([0.01, 0.02, 0.05]))
        active = rng.random(d) < 0.5
        active[0], active[-1] = True, False  # at least one of each
        # each unit's variance over the examples is set exactly, far from the threshold (N or N - 1 both pass)
        target = np.where(active, rng.uniform(2.0, 20.0, d), rng.uniform(0.0, 0.4, d)) * threshold
        noise = rng.normal(size=(n, d))
        noise = (noise - noise.mean(0)) / noise.std(0, ddof=1)
        mu = noise * np.sqrt(target) + rng.normal(0, 1, d)
        cases.append(Case(torch.as_tensor(mu, dtype=torch.float32), threshold))
    return cases


active_units = Exercise(
    chapter="04",
    name="active_units",
    reference=_active,
    make_cases=_active_cases,
    hint="A latent unit u is active when its posterior mean changes with the input: Var over the examples "
    "(axis 0 of mu, shape (N, d)) of mu[:, u] is above the threshold. Return one boolean per unit, shape (d,).",
    deeper_hint="Tensor.var(dim=...) takes the variance along one axis; compare it with the threshold.",
    wrong_answers=[
        WrongAnswer("variance_over_units", _active_wrong_axis,
                    hint="You took the variance across the latent units of each example (axis 1). Activity is "
                    "about one unit across many inputs: take the variance over the examples, axis 0."),
    ],
)

# ---- 3. gaussian_kl(mu_q, logvar_q, mu_p, logvar_p) -> (B,) -------------------------------------------------


def _kl(mu_q, logvar_q, mu_p, logvar_p):
    mu_q, logvar_q, mu_p, logvar_p = _f64(mu_q, logvar_q, mu_p, logvar_p)
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0).sum(-1)


def _kl_reversed(mu_q, logvar_q, mu_p, logvar_p):
    return _kl(mu_p, logvar_p, mu_q, logvar_q)


def _kl_no_half(mu_q, logvar_q, mu_p, logvar_p):
    return 2 * _kl(mu_q, logvar_q, mu_p, logvar_p)


def _kl_log_ratio_sign(mu_q, logvar_q, mu_p, logvar_p):
    mu_q, logvar_q, mu_p, logvar_p = _f64(mu_q, logvar_q, mu_p, logvar_p)
    return 0.5 * (logvar_q - logvar_p + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0).sum(-1)


def _kl_mean_term_unscaled(mu_q, logvar_q, mu_p, logvar_p):
    mu_q, logvar_q, mu_p, logvar_p = _f64(mu_q, logvar_q, mu_p, logvar_p)
    return 0.5 * (logvar_p - logvar_q + logvar_q.exp() / logvar_p.exp() + (mu_q - mu_p) ** 2 - 1.0).sum(-1)


def _kl_to_standard_normal(mu_q, logvar_q, mu_p, logvar_p):
    mu_q, logvar_q = _f64(mu_q, logvar_q)
    return 0.5 * (mu_q**2 + logvar_q.exp() - 1.0 - logvar_q).sum(-1)


def _gaussian_kl_cases(rng):
    cases = []
    for _ in range(3):
        batch, dim = _batch_and_dim(rng)
        mu_q, logvar_q = _mu_logvar(rng, batch, dim)
        mu_p, logvar_p = _mu_logvar(rng, batch, dim)
        cases.append(Case(mu_q, logvar_q, mu_p, logvar_p))
    return cases


gaussian_kl = Exercise(
    chapter="04",
    name="gaussian_kl",
    forbidden=(vae.gaussian_kl_to_standard_normal,),
    reference=_kl,
    make_cases=_gaussian_kl_cases,
    hint="Write KL(q || p) = E_q[log q(z) - log p(z)] for one dimension, with both log-densities written out. Under "
    "q, E_q[(z - mu_q)^2] = sigma_q^2 and E_q[(z - mu_p)^2] = sigma_q^2 + (mu_q - mu_p)^2. Then sum over the "
    "independent dimensions: one number per example.",
    deeper_hint="Per dimension the result has four pieces: a log-ratio of the two variances, the ratio "
    "sigma_q^2 / sigma_p^2, the squared distance of the means measured in units of sigma_p^2, and a constant. "
    "Check it: it must be 0 when q = p, and reduce to the lecture's formula when p = N(0, 1).",
    wrong_answers=[
        WrongAnswer("reversed", _kl_reversed,
                    hint="You computed KL(p || q): the two Gaussians are swapped. The KL is not symmetric; the "
                    "expectation is under q (the first argument), so the variances are divided by sigma_p^2."),
        WrongAnswer("no_half", _kl_no_half,
                    hint="Your values are twice too large: each Gaussian log-density carries a factor 1/2 in front "
                    "of its quadratic and log-variance terms, and so does their difference."),
        WrongAnswer("log_ratio_sign", _kl_log_ratio_sign,
                    hint="Check the sign of the log-variance terms: the KL contains log(sigma_p^2 / sigma_q^2), "
                    "from -E_q[log q] (which grows with sigma_q) and E_q[log p]'s normaliser. A q much narrower "
                    "than p must cost more, not less."),
        WrongAnswer("mean_term_unscaled", _kl_mean_term_unscaled,
                    hint="The squared distance of the means comes from E_q[(z - mu_p)^2] / sigma_p^2: divide it "
                    "by sigma_p^2 as well, so that it is measured in units of the prior's spread."),
        WrongAnswer("to_standard_normal", _kl_to_standard_normal,
                    hint="Your answer ignores mu_p and logvar_p: that is the KL to N(0, I) of the lecture. Here "
                    "p has its own mean and variance in every dimension."),
    ],
)


# ---- 4. elbo(x, encoder, decoder, prior_mu, prior_logvar, eps) -> (B,) -----------------------------------------


class _LinearGaussianEncoder(torch.nn.Module):
    """x (B, D) -> (mu, logvar), each (B, d): a linear map with fixed random weights."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = x.to(self.weight.dtype) @ self.weight
        mu, logvar = out.chunk(2, dim=-1)
        return mu, torch.tanh(logvar)


class _LinearBernoulliDecoder(torch.nn.Module):
    """z (B, d) -> Bernoulli logits (B, D)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight, self.bias = torch.nn.Parameter(weight), torch.nn.Parameter(bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z.to(self.weight.dtype) @ self.weight + self.bias


def _elbo_parts(x, encoder, decoder, prior_mu, prior_logvar, eps):
    x = torch.as_tensor(x, dtype=torch.float64)
    mu, logvar = encoder(x)
    mu, logvar = mu.double(), logvar.double()
    z = mu + torch.exp(0.5 * logvar) * torch.as_tensor(eps, dtype=torch.float64)
    logits = decoder(z).double()
    log_px_given_z = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")  # (B, D)
    prior_mu, prior_logvar = (p.expand_as(mu) for p in _f64(prior_mu, prior_logvar))
    return log_px_given_z, mu, logvar, prior_mu, prior_logvar


def _elbo(x, encoder, decoder, prior_mu, prior_logvar, eps=None):
    log_px_given_z, mu, logvar, pm, pl = _elbo_parts(x, encoder, decoder, prior_mu, prior_logvar, eps)
    return (log_px_given_z.sum(-1) - _kl(mu, logvar, pm, pl)).detach()


def _elbo_kl_added(x, encoder, decoder, prior_mu, prior_logvar, eps=None):
    log_px_given_z, mu, logvar, pm, pl = _elbo_parts(x, encoder, decoder, prior_mu, prior_logvar, eps)
    return (log_px_given_z.sum(-1) + _kl(mu, logvar, pm, pl)).detach()


def _elbo_pixel_mean(x, encoder, decoder, prior_mu, prior_logvar, eps=None):
    log_px_given_z, mu, logvar, pm, pl = _elbo_parts(x, encoder, decoder, prior_mu, prior_logvar, eps)
    return (log_px_given_z.mean(-1) - _kl(mu, logvar, pm, pl)).detach()


def _elbo_standard_prior(x, encoder, decoder, prior_mu, prior_logvar, eps=None):
    log_px_given_z, mu, logvar, _, _ = _elbo_parts(x, encoder, decoder, prior_mu, prior_logvar, eps)
    return (log_px_given_z.sum(-1) - _kl_to_standard_normal(mu, logvar, None, None)).detach()


def _elbo_reversed_kl(x, encoder, decoder, prior_mu, prior_logvar, eps=None):
    log_px_given_z, mu, logvar, pm, pl = _elbo_parts(x, encoder, decoder, prior_mu, prior_logvar, eps)
    return (log_px_given_z.sum(-1) - _kl(pm, pl, mu, logvar)).detach()


def _elbo_cases(rng):
    cases = []
    for _ in range(3):
        batch, pixels, latent = int(rng.integers(3, 9)), int(rng.integers(10, 30)), int(rng.integers(2, 5))
        x = torch.as_tensor(rng.random((batch, pixels)) < 0.4, dtype=torch.float32)
        enc = _LinearGaussianEncoder(torch.as_tensor(rng.normal(0, 0.4, (pixels, 2 * latent)), dtype=torch.float32))
        dec = _LinearBernoulliDecoder(torch.as_tensor(rng.normal(0, 1.0, (latent, pixels)), dtype=torch.float32),
                                      torch.as_tensor(rng.normal(0, 1.0, pixels), dtype=torch.float32))
        prior_mu = torch.as_tensor(rng.normal(0, 1.0, latent), dtype=torch.float32)
        prior_logvar = torch.as_tensor(rng.uniform(-1.0, 1.0, latent), dtype=torch.float32)
        eps = torch.as_tensor(rng.normal(size=(batch, latent)), dtype=torch.float32)
        cases.append(Case(x, enc, dec, prior_mu, prior_logvar, eps))
    return cases


def _compare_detached(got, expected, case):
    if isinstance(got, torch.Tensor):
        got = got.detach()
    return compare_values(got, expected, rtol=1e-4, atol=1e-5)


elbo = Exercise(
    chapter="04",
    name="elbo",
    reference=_elbo,
    make_cases=_elbo_cases,
    compare=_compare_detached,
    hint="ELBO(x) = log p(x | z) - KL(q(z | x) || p(z)) with z = mu + sigma * eps and the prior "
    "p(z) = N(prior_mu, diag(exp(prior_logvar))): encode, reparameterise, decode to Bernoulli logits, add up the "
    "pixels' log-likelihoods, subtract the KL to this prior (exercise 3).",
    deeper_hint="The Bernoulli log-likelihood of logits is minus F.binary_cross_entropy_with_logits "
    "(reduction='none'), summed over the pixels; prior_mu and prior_logvar have shape (d,) and broadcast against "
    "the encoder's (B, d).",
    wrong_answers=[
        WrongAnswer("kl_added", _elbo_kl_added,
                    hint="The KL term is subtracted: ELBO = E_q[log p(x | z)] - KL(q || p). Adding it rewards an "
                    "encoder that moves away from the prior, and the bound would no longer be below log p(x)."),
        WrongAnswer("pixel_mean", _elbo_pixel_mean,
                    hint="You averaged the reconstruction term over the pixels. log p(x | z) of an image is the "
                    "sum of the pixels' log-probabilities (they are independent given z); a mean shrinks it by the "
                    "number of pixels and upsets the balance with the KL."),
        WrongAnswer("standard_normal_prior", _elbo_standard_prior,
                    hint="Your KL is to N(0, I), but this model's prior has its own mean prior_mu and log-variance "
                    "prior_logvar: use the KL between two diagonal Gaussians."),
        WrongAnswer("reversed_kl", _elbo_reversed_kl,
                    hint="The ELBO's KL is KL(q(z | x) || p(z)), with q first (the expectation is under q, where "
                    "the samples come from); you computed KL(p || q)."),
    ],
)


# ---- 5. iwae_estimate(log_p_x_given_z, log_p_z, log_q_z_given_x) -> (B,) ------------------------------------


def _iwae(log_p_x_given_z, log_p_z, log_q_z_given_x):
    a, b, c = _f64(log_p_x_given_z, log_p_z, log_q_z_given_x)
    log_w = a + b - c
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])


def _iwae_mean_log_weights(log_p_x_given_z, log_p_z, log_q_z_given_x):
    a, b, c = _f64(log_p_x_given_z, log_p_z, log_q_z_given_x)
    return (a + b - c).mean(0)


def _iwae_no_log_k(log_p_x_given_z, log_p_z, log_q_z_given_x):
    a, b, c = _f64(log_p_x_given_z, log_p_z, log_q_z_given_x)
    return torch.logsumexp(a + b - c, 0)


def _iwae_naive(log_p_x_given_z, log_p_z, log_q_z_given_x):
    a, b, c = (t.float() for t in (torch.as_tensor(log_p_x_given_z), torch.as_tensor(log_p_z),
                                    torch.as_tensor(log_q_z_given_x)))
    return torch.log(torch.exp(a + b - c).mean(0)).double()


def _iwae_cases(rng):
    cases = []
    for _ in range(3):
        k, batch = int(rng.integers(5, 40)), int(rng.integers(2, 7))
        while k == batch:
            batch = int(rng.integers(2, 7))
        level = rng.uniform(-160, -90, size=batch)  # log p(x | z) of a digit is around -100 nats
        a = torch.as_tensor(level + rng.normal(0, 3, size=(k, batch)), dtype=torch.float32)
        b = torch.as_tensor(rng.normal(-5, 1, size=(k, batch)), dtype=torch.float32)
        c = torch.as_tensor(rng.normal(-3, 1, size=(k, batch)), dtype=torch.float32)
        cases.append(Case(a, b, c))
    return cases


iwae_estimate = Exercise(
    chapter="04",
    name="iwae_estimate",
    forbidden=(metrics.log_mean_exp, metrics.importance_weighted_log_likelihood),
    reference=_iwae,
    make_cases=_iwae_cases,
    hint="With log-weights log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x), the estimate is "
    "log((1/k) sum_i w_i): average the weights themselves, not their logs, in log space.",
    deeper_hint="log(sum_i exp(l_i)) has a stable function of its own in torch; k is the size of the first "
    "axis, and the average divides by it (in log space, a subtraction).",
    wrong_answers=[
        WrongAnswer("mean_of_log_weights", _iwae_mean_log_weights,
                    hint="The mean of the log-weights is the k-sample average of the ELBO, not the "
                    "importance-weighted estimate: take the log of the mean weight, log((1/k) sum_i w_i), "
                    "which by Jensen's inequality is larger."),
        WrongAnswer("no_log_k", _iwae_no_log_k,
                    hint="logsumexp gives log(sum_i w_i); the estimate averages the k weights, so subtract log k."),
        WrongAnswer("naive_exp", _iwae_naive,
                    hint="exp of log-weights around -100 underflows to zero in floating point, so the log gives "
                    "-inf. Stay in log space with torch.logsumexp."),
    ],
)


# ---- 6. score_function_gradient(f_values, z, mu, logvar) -> (grad_mu, grad_logvar) ---------------------------


def _score_parts(f_values, z, mu, logvar):
    f_values, z, mu, logvar = _f64(f_values, z, mu, logvar)
    return f_values.unsqueeze(-1), z - mu, logvar.exp()  # (S, 1), (S, d), (d,)


def _score_function(f_values, z, mu, logvar):
    f, diff, var = _score_parts(f_values, z, mu, logvar)
    return (f * diff / var).mean(0), (f * 0.5 * (diff**2 / var - 1.0)).mean(0)


def _score_std_not_var(f_values, z, mu, logvar):
    f, diff, var = _score_parts(f_values, z, mu, logvar)
    return (f * diff / var.sqrt()).mean(0), (f * 0.5 * (diff**2 / var - 1.0)).mean(0)


def _score_no_minus_one(f_values, z, mu, logvar):
    f, diff, var = _score_parts(f_values, z, mu, logvar)
    return (f * diff / var).mean(0), (f * 0.5 * diff**2 / var).mean(0)


def _score_no_half(f_values, z, mu, logvar):
    f, diff, var = _score_parts(f_values, z, mu, logvar)
    return (f * diff / var).mean(0), (f * (diff**2 / var - 1.0)).mean(0)


def _score_wrt_sigma(f_values, z, mu, logvar):
    f, diff, var = _score_parts(f_values, z, mu, logvar)
    sigma = var.sqrt()
    return (f * diff / var).mean(0), (f * (diff**2 / sigma**3 - 1.0 / sigma)).mean(0)


def _score_summed(f_values, z, mu, logvar):
    grad_mu, grad_logvar = _score_function(f_values, z, mu, logvar)
    return grad_mu * len(z), grad_logvar * len(z)


def _score_cases(rng):
    cases = []
    for _ in range(3):
        samples, dim = int(rng.integers(20, 60)), int(rng.integers(2, 6))
        mu = rng.normal(0, 1, dim)
        logvar = rng.uniform(-1.5, 1.0, dim)
        z = mu + np.exp(0.5 * logvar) * rng.normal(size=(samples, dim))
        centre = rng.normal(0, 1, dim)
        f_values = -((z - centre) ** 2).sum(-1) + rng.normal(-3, 1)  # any function values will do
        cases.append(Case(*(torch.as_tensor(v, dtype=torch.float32) for v in (f_values, z, mu, logvar))))
    return cases


def _compare_score(got, expected, case):
    return compare_values(got, expected, rtol=1e-4, atol=1e-5, what="(grad_mu, grad_logvar)")


score_function_gradient = Exercise(
    chapter="04",
    name="score_function_gradient",
    reference=_score_function,
    make_cases=_score_cases,
    compare=_compare_score,
    hint="The score-function estimator is the average over the samples of f(z_s) times the gradient of "
    "log q(z_s) with respect to the parameter, at the sample z_s held fixed. Differentiate "
    "log N(z; mu, exp(logvar)) by hand, once by mu and once by logvar (not by sigma).",
    deeper_hint="With sigma^2 = exp(logvar), log q = -(z - mu)^2 / (2 exp(logvar)) - logvar / 2 + const per "
    "dimension. The chain rule through exp(logvar) gives the logvar derivative; both derivatives must have mean 0 "
    "under q.",
    wrong_answers=[
        WrongAnswer("divided_by_sigma", _score_std_not_var,
                    hint="d/dmu log N(z; mu, sigma^2) = (z - mu) / sigma^2: divide by the variance, not by the "
                    "standard deviation."),
        WrongAnswer("no_minus_one", _score_no_minus_one,
                    hint="Your logvar gradient misses the derivative of the normaliser: log q contains -logvar / 2, "
                    "which contributes -1/2. Without it the score does not have mean 0 under q, and the "
                    "estimator is biased."),
        WrongAnswer("no_half", _score_no_half,
                    hint="Your logvar gradient is twice too large: log q = -(z - mu)^2 exp(-logvar) / 2 - "
                    "logvar / 2 + const, and both terms carry the factor 1/2."),
        WrongAnswer("with_respect_to_sigma", _score_wrt_sigma,
                    hint="You differentiated with respect to sigma. The parameter here is logvar = log sigma^2: "
                    "d/dlogvar = (sigma / 2) d/dsigma by the chain rule."),
        WrongAnswer("summed_over_samples", _score_summed,
                    hint="The estimate is an average over the S samples (a Monte Carlo estimate of an expectation), "
                    "not a sum: your values grow with the number of samples."),
    ],
)


# ---- 7. iwae_gradient(log_w, grad_log_w) -> (B, P) ------------------------------------------------------------


def _iwae_gradient(log_w, grad_log_w):
    log_w, grad_log_w = _f64(log_w, grad_log_w)
    return (torch.softmax(log_w, 0).unsqueeze(-1) * grad_log_w).sum(0)


def _iwae_gradient_uniform(log_w, grad_log_w):
    _, grad_log_w = _f64(log_w, grad_log_w)
    return grad_log_w.mean(0)


def _iwae_gradient_unnormalised(log_w, grad_log_w):
    log_w, grad_log_w = _f64(log_w, grad_log_w)
    return (log_w.exp().unsqueeze(-1) * grad_log_w).mean(0)


def _iwae_gradient_over_batch(log_w, grad_log_w):
    log_w, grad_log_w = _f64(log_w, grad_log_w)
    return (torch.softmax(log_w, 1).unsqueeze(-1) * grad_log_w).sum(0)


def _iwae_gradient_extra_k(log_w, grad_log_w):
    return _iwae_gradient(log_w, grad_log_w) / len(log_w)


def _iwae_gradient_cases(rng):
    cases = []
    for _ in range(3):
        k, batch, params = int(rng.integers(4, 12)), int(rng.integers(2, 6)), int(rng.integers(3, 7))
        while batch == k:
            batch = int(rng.integers(2, 6))
        log_w = rng.uniform(-140, -90, size=batch) + rng.normal(0, 1.5, size=(k, batch))  # log-weights of digits
        grads = rng.normal(0, 1, size=(k, batch, params))
        cases.append(Case(torch.as_tensor(log_w, dtype=torch.float32), torch.as_tensor(grads, dtype=torch.float32)))
    return cases


iwae_gradient = Exercise(
    chapter="04",
    name="iwae_gradient",
    reference=_iwae_gradient,
    make_cases=_iwae_gradient_cases,
    compare=_compare_detached,
    hint="Differentiate log((1/k) sum_i exp(l_i)) with respect to a parameter, where each l_i = log w_i depends on "
    "it: the chain rule gives a weighted sum of the gradients of the l_i. Which weights, and do they add up to 1?",
    deeper_hint="The weights are exp(l_i) / sum_j exp(l_j), one set per example, over the k samples (axis 0); "
    "compute them in log space (the l_i are around -100) with a function that normalises exponentials stably.",
    wrong_answers=[
        WrongAnswer("uniform_weights", _iwae_gradient_uniform,
                    hint="You gave every sample the weight 1/k: that is the gradient of the average of the k "
                    "log-weights, the k-sample ELBO, not of the log of the average weight. In the IWAE gradient the "
                    "samples that explain x better (larger w_i) weigh more."),
        WrongAnswer("unnormalised_weights", _iwae_gradient_unnormalised,
                    hint="Your gradient is (almost) zero: the weights w_i = exp(l_i) themselves, around e^-100, "
                    "underflow. The derivative of log(sum_i w_i) divides by sum_j w_j: normalised weights, which "
                    "add up to 1 over the k samples."),
        WrongAnswer("normalised_over_batch", _iwae_gradient_over_batch,
                    hint="You normalised the weights across the examples of the batch (axis 1). Each example has "
                    "its own bound log((1/k) sum_i w_i): normalise over its k samples, axis 0."),
        WrongAnswer("extra_one_over_k", _iwae_gradient_extra_k,
                    hint="Your gradient is k times too small. The 1/k inside the log is a constant: it shifts the "
                    "bound by -log k and disappears from the gradient; the normalised weights already add up to 1."),
    ],
)


# ---- 8. ppca_posterior(x, mu, W, sigma2) -> (mean (N, q), cov (q, q)) -----------------------------------------


def _ppca_posterior_with(x, mu, w, sigma2, *, prior_precision=1.0, centre=True, noise_in_cov=True):
    x, mu, w, sigma2 = _f64(x, mu, w, sigma2)
    q = w.shape[1]
    m = w.T @ w + prior_precision * sigma2 * torch.eye(q, dtype=torch.float64)
    m_inv = torch.linalg.inv(m)
    mean = ((x - mu) if centre else x) @ w @ m_inv  # m is symmetric
    return mean, (sigma2 if noise_in_cov else 1.0) * m_inv


def _ppca_posterior(x, mu, w, sigma2):
    return _ppca_posterior_with(x, mu, w, sigma2)


def _ppca_posterior_no_prior(x, mu, w, sigma2):
    return _ppca_posterior_with(x, mu, w, sigma2, prior_precision=0.0)


def _ppca_posterior_not_centred(x, mu, w, sigma2):
    return _ppca_posterior_with(x, mu, w, sigma2, centre=False)


def _ppca_posterior_cov_without_noise(x, mu, w, sigma2):
    return _ppca_posterior_with(x, mu, w, sigma2, noise_in_cov=False)


def _ppca_posterior_cases(rng):
    cases = []
    for _ in range(3):
        d, q, n = int(rng.integers(4, 9)), int(rng.integers(1, 4)), int(rng.integers(5, 15))
        w = rng.normal(0, 1, size=(d, q))
        mu = rng.normal(0, 2, size=d)
        sigma2 = rng.uniform(0.5, 2.0)
        x = rng.normal(size=(n, q)) @ w.T + mu + np.sqrt(sigma2) * rng.normal(size=(n, d))
        cases.append(Case(*(torch.as_tensor(v, dtype=torch.float32) for v in (x, mu, w)),
                          torch.tensor(sigma2, dtype=torch.float32)))
    return cases


def _compare_posterior(got, expected, case):
    return compare_values(got, expected, rtol=1e-4, atol=1e-5, what="(mean, cov)")


ppca_posterior = Exercise(
    chapter="04",
    name="ppca_posterior",
    forbidden=(PPCA.posterior, PPCA.reconstruct),
    reference=_ppca_posterior,
    make_cases=_ppca_posterior_cases,
    compare=_compare_posterior,
    hint="p(z | x) is proportional to p(x | z) p(z) = N(x; W z + mu, sigma^2 I) N(z; 0, I). Its log is quadratic "
    "in z: collect the terms with z^T A z (A is the posterior precision) and with b^T z; then the covariance is "
    "A^(-1) and the mean A^(-1) b (completing the square).",
    deeper_hint="The precision A has two parts, one from the likelihood (W^T W / sigma^2) and one from the prior. "
    "Factor 1 / sigma^2 out of A to meet M = W^T W + sigma^2 I. torch.linalg.inv or torch.linalg.solve does the "
    "inverse; the covariance does not depend on x.",
    wrong_answers=[
        WrongAnswer("prior_ignored", _ppca_posterior_no_prior,
                    hint="You left out the prior's part of the posterior precision: log p(z) = -|z|^2 / 2 adds the "
                    "identity to W^T W / sigma^2. Without it the mean is the least-squares fit of x, and it does "
                    "not shrink towards 0 where the data say little."),
        WrongAnswer("not_centred", _ppca_posterior_not_centred,
                    hint="x | z has mean W z + mu: the linear term in z involves x - mu, not x."),
        WrongAnswer("cov_without_noise", _ppca_posterior_cov_without_noise,
                    hint="The covariance is the inverse of the precision W^T W / sigma^2 + I = M / sigma^2, so "
                    "it is sigma^2 M^(-1), not M^(-1)."),
    ],
)
