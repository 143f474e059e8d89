"""Checks for chapter 04: latent variable models (Gaussian KL, reparameterisation, ELBO, IWAE, PPCA, active units)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.check import Case, Exercise, WrongAnswer, compare_values


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


# ---- 1. gaussian_kl_to_standard_normal(mu, logvar) -> (B,) ------------------------------------------------


def _kl(mu, logvar):
    mu, logvar = _f64(mu, logvar)
    return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(-1)


def _kl_no_half(mu, logvar):
    return 2 * _kl(mu, logvar)


def _kl_logvar_sign(mu, logvar):
    mu, logvar = _f64(mu, logvar)
    return 0.5 * (mu**2 + logvar.exp() - 1.0 + logvar).sum(-1)


def _kl_over_batch(mu, logvar):
    mu, logvar = _f64(mu, logvar)
    return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(0)


def _kl_cases(rng):
    return [Case(*_mu_logvar(rng, *_batch_and_dim(rng))) for _ in range(3)]


gaussian_kl_to_standard_normal = Exercise(
    chapter="04",
    name="gaussian_kl_to_standard_normal",
    reference=_kl,
    make_cases=_kl_cases,
    hint="KL(N(mu, sigma^2) || N(0, 1)) = (1/2)(mu^2 + sigma^2 - 1 - log sigma^2) for one dimension, with "
    "sigma^2 = exp(logvar); the latent dimensions are independent, so add them up: one number per example.",
    deeper_hint="0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(dim=-1) has shape (B,).",
    wrong_answers=[
        WrongAnswer("no_half", _kl_no_half,
                    hint="Your values are twice too large: the Gaussian KL has a factor 1/2 in front, as every "
                    "Gaussian log-density has 1/2 in front of its quadratic and log-variance terms."),
        WrongAnswer("logvar_sign", _kl_logvar_sign,
                    hint="Check the sign of the log-variance term: the KL contains -log sigma^2 (it comes from "
                    "-E_q[log q], the entropy of q, which grows with sigma). The KL is zero at mu = 0, logvar = 0."),
        WrongAnswer("summed_over_batch", _kl_over_batch,
                    hint="You summed over the batch axis (dim 0). Each example has its own q(z | x): keep the "
                    "batch axis and sum over the latent dimensions (dim -1)."),
    ],
)


# ---- 2. reparameterize(mu, logvar, eps) -> z ----------------------------------------------------------------


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
    reference=_reparameterize,
    make_cases=_reparameterize_cases,
    call=_reparameterize_call,
    compare=_compare_reparameterized,
    hint="z = mu + sigma * eps, where sigma is the standard deviation. The encoder gives the log-variance "
    "logvar = log sigma^2, so sigma = exp(logvar / 2).",
    deeper_hint="mu + torch.exp(0.5 * logvar) * eps; eps is given, so no random numbers are drawn.",
    wrong_answers=[
        WrongAnswer("logvar_as_std", _logvar_as_std,
                    hint="You multiplied eps by logvar itself. logvar is the log of the variance and can be "
                    "negative; turn it into a standard deviation first: sigma = exp(logvar / 2)."),
        WrongAnswer("variance_as_std", _variance_as_std,
                    hint="exp(logvar) is the variance sigma^2, not the standard deviation: take the square root, "
                    "sigma = exp(logvar / 2)."),
    ],
)


# ---- 3. elbo(x, encoder, decoder, eps) -> (B,) --------------------------------------------------------------


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


def _elbo_parts(x, encoder, decoder, eps):
    x = torch.as_tensor(x, dtype=torch.float64)
    mu, logvar = encoder(x)
    mu, logvar = mu.double(), logvar.double()
    z = mu + torch.exp(0.5 * logvar) * torch.as_tensor(eps, dtype=torch.float64)
    logits = decoder(z).double()
    log_px_given_z = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")  # (B, D)
    kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(-1)
    return log_px_given_z, kl


def _elbo(x, encoder, decoder, eps=None):
    log_px_given_z, kl = _elbo_parts(x, encoder, decoder, eps)
    return (log_px_given_z.sum(-1) - kl).detach()


def _elbo_kl_added(x, encoder, decoder, eps=None):
    log_px_given_z, kl = _elbo_parts(x, encoder, decoder, eps)
    return (log_px_given_z.sum(-1) + kl).detach()


def _elbo_pixel_mean(x, encoder, decoder, eps=None):
    log_px_given_z, kl = _elbo_parts(x, encoder, decoder, eps)
    return (log_px_given_z.mean(-1) - kl).detach()


def _elbo_cases(rng):
    cases = []
    for _ in range(3):
        batch, pixels, latent = int(rng.integers(3, 9)), int(rng.integers(10, 30)), int(rng.integers(2, 5))
        x = torch.as_tensor(rng.random((batch, pixels)) < 0.4, dtype=torch.float32)
        enc = _LinearGaussianEncoder(torch.as_tensor(rng.normal(0, 0.4, (pixels, 2 * latent)), dtype=torch.float32))
        dec = _LinearBernoulliDecoder(torch.as_tensor(rng.normal(0, 1.0, (latent, pixels)), dtype=torch.float32),
                                      torch.as_tensor(rng.normal(0, 1.0, pixels), dtype=torch.float32))
        eps = torch.as_tensor(rng.normal(size=(batch, latent)), dtype=torch.float32)
        cases.append(Case(x, enc, dec, eps))
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
    hint="ELBO(x) = log p(x | z) - KL(q(z | x) || p(z)) with z = mu + sigma * eps: encode, reparameterise, "
    "decode to Bernoulli logits, add up the log-likelihood of the pixels, subtract the Gaussian KL.",
    deeper_hint="log p(x | z) = -F.binary_cross_entropy_with_logits(logits, x, reduction='none').sum(-1); "
    "KL = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1); return their difference, shape (B,).",
    wrong_answers=[
        WrongAnswer("kl_added", _elbo_kl_added,
                    hint="The KL term is subtracted: ELBO = E_q[log p(x | z)] - KL(q || p). Adding it rewards an "
                    "encoder that moves away from the prior, and the bound would no longer be below log p(x)."),
        WrongAnswer("pixel_mean", _elbo_pixel_mean,
                    hint="You averaged the reconstruction term over the pixels. log p(x | z) of an image is the "
                    "sum of the pixels' log-probabilities (they are independent given z); a mean shrinks it by the "
                    "number of pixels and upsets the balance with the KL."),
    ],
)


# ---- 4. iwae_estimate(log_p_x_given_z, log_p_z, log_q_z_given_x) -> (B,) ------------------------------------


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
    reference=_iwae,
    make_cases=_iwae_cases,
    hint="With log-weights log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x), the estimate is "
    "log((1/k) sum_i w_i): average the weights themselves, not their logs, in log space.",
    deeper_hint="torch.logsumexp(log_w, dim=0) - math.log(k), with k the size of the first axis.",
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


# ---- 5. ppca_mle(X, q) -> (mu, W, sigma2) -------------------------------------------------------------------


def _eig_desc(x):
    x = torch.as_tensor(x, dtype=torch.float64)
    mu = x.mean(0)
    cov = (x - mu).T @ (x - mu) / len(x)
    evals, evecs = torch.linalg.eigh(cov)
    return mu, evals.flip(0), evecs.flip(1)


def _ppca(x, q):
    mu, evals, evecs = _eig_desc(x)
    sigma2 = evals[q:].mean()
    return mu, evecs[:, :q] * (evals[:q] - sigma2).sqrt(), sigma2


def _ppca_sigma_all(x, q):
    mu, evals, evecs = _eig_desc(x)
    sigma2 = evals.mean()
    return mu, evecs[:, :q] * (evals[:q] - sigma2).clamp_min(0).sqrt(), sigma2


def _ppca_no_subtract(x, q):
    mu, evals, evecs = _eig_desc(x)
    return mu, evecs[:, :q] * evals[:q].sqrt(), evals[q:].mean()


def _ppca_unbiased(x, q):
    n = len(x)
    mu, evals, evecs = _eig_desc(x)
    evals = evals * n / (n - 1)
    sigma2 = evals[q:].mean()
    return mu, evecs[:, :q] * (evals[:q] - sigma2).sqrt(), sigma2


def _ppca_cases(rng):
    cases = []
    for _ in range(3):
        d, q = int(rng.integers(5, 10)), int(rng.integers(1, 4))
        n = int(rng.integers(40, 80))
        scales = np.sort(rng.uniform(2.0, 4.0, size=q))[::-1] * (1.0 + 0.5 * np.arange(q)[::-1])
        w = rng.normal(size=(d, q)) * scales
        z = rng.normal(size=(n, q))
        x = z @ w.T + rng.normal(0, 0.5, size=(n, d)) + rng.normal(0, 3, size=d)
        cases.append(Case(torch.as_tensor(x, dtype=torch.float32), q))
    return cases


def _compare_ppca(got, expected, case):
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return "return a tuple (mu, W, sigma2)."
    mu, w, sigma2 = got
    if isinstance(sigma2, (int, float)):
        sigma2 = torch.tensor(float(sigma2))
    for name, value in (("mu", mu), ("W", w), ("sigma2", sigma2)):
        if not isinstance(value, torch.Tensor):
            return f"{name} should be a torch.Tensor, got a {type(value).__name__}."
    d, q = expected[1].shape
    if tuple(mu.shape) != (d,) or tuple(w.shape) != (d, q) or sigma2.numel() != 1:
        return (f"the shapes should be mu ({d},), W ({d}, {q}) and sigma2 a single number; got "
                f"{tuple(mu.shape)}, {tuple(w.shape)} and {tuple(sigma2.shape)}.")
    message = compare_values(mu.detach(), expected[0], rtol=1e-4, atol=1e-5, what="mu")
    if message:
        return message
    message = compare_values(sigma2.detach().reshape(()), expected[2].reshape(()), rtol=1e-4, atol=1e-6,
                             what="sigma2")
    if message:
        return message
    w, w_ref = w.detach().double(), expected[1]
    # W is unique only up to a rotation R (W R gives the same model), so compare W W^T
    return compare_values(w @ w.T, w_ref @ w_ref.T, rtol=1e-3, atol=1e-5, what="W W^T (W up to a rotation)")


ppca_mle = Exercise(
    chapter="04",
    name="ppca_mle",
    reference=_ppca,
    make_cases=_ppca_cases,
    compare=_compare_ppca,
    hint="Tipping and Bishop's closed form: mu is the data mean; take the eigenvalues l_1 >= ... >= l_D and "
    "eigenvectors U of the covariance (1/N) sum (x - mu)(x - mu)^T; sigma^2 is the mean of the D - q discarded "
    "eigenvalues, and W = U_q (L_q - sigma^2 I)^(1/2).",
    deeper_hint="torch.linalg.eigh returns eigenvalues in ascending order: flip both the eigenvalues and the "
    "eigenvector columns first. W = U[:, :q] * (evals[:q] - sigma2).sqrt() scales each column.",
    wrong_answers=[
        WrongAnswer("sigma2_all_eigenvalues", _ppca_sigma_all,
                    hint="sigma^2 is the variance the q directions in W do not explain: the mean of the discarded "
                    "eigenvalues l_{q+1}, ..., l_D only, not of all D of them."),
        WrongAnswer("w_without_noise", _ppca_no_subtract,
                    hint="W = U_q (L_q - sigma^2 I)^(1/2): subtract sigma^2 from the kept eigenvalues, because the "
                    "noise sigma^2 I adds its own variance in every direction (C = W W^T + sigma^2 I)."),
        WrongAnswer("unbiased_covariance", _ppca_unbiased,
                    hint="The maximum-likelihood covariance divides by N, not N - 1 (torch.cov and np.cov divide "
                    "by N - 1 by default)."),
    ],
)


# ---- 6. active_units(mu, threshold) -> bool (d,) ------------------------------------------------------------


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
    deeper_hint="mu.var(dim=0) > threshold.",
    wrong_answers=[
        WrongAnswer("variance_over_units", _active_wrong_axis,
                    hint="You took the variance across the latent units of each example (axis 1). Activity is "
                    "about one unit across many inputs: take the variance over the examples, axis 0."),
    ],
)
