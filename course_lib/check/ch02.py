"""Checks for chapter 02: maximum likelihood (closed-form MLEs, NLL units, KL, EM for Gaussian mixtures,
smoothing as a prior)."""

from __future__ import annotations

import math

import numpy as np
import torch

from course_lib.check import Case, Exercise, WrongAnswer, compare_values

_LOG_2PI = math.log(2 * math.pi)


def _f64(t):
    return torch.as_tensor(t, dtype=torch.float64)


def _compare_nan_aware(got, expected, case, rtol=1e-4, atol=1e-6):
    """Like the default comparison, but NaN in the same places counts as equal (so a wrong answer that
    produces NaN can be recognised); NaN where the reference has none is always a mismatch."""

    def leaves(v):
        return list(v) if isinstance(v, (tuple, list)) else [v]

    got_l, exp_l = leaves(got), leaves(expected)
    if len(got_l) == len(exp_l) and all(isinstance(g, torch.Tensor) and isinstance(e, torch.Tensor)
                                        and g.shape == e.shape for g, e in zip(got_l, exp_l, strict=True)):
        got_l = [g.detach().double() for g in got_l]
        exp_l = [e.detach().double() for e in exp_l]
        if all(torch.equal(g.isnan(), e.isnan()) for g, e in zip(got_l, exp_l, strict=True)):
            got_l = [torch.nan_to_num(g, nan=0.0, posinf=math.inf, neginf=-math.inf) for g in got_l]
            exp_l = [torch.nan_to_num(e, nan=0.0, posinf=math.inf, neginf=-math.inf) for e in exp_l]
            got = tuple(got_l) if isinstance(got, (tuple, list)) else got_l[0]
            expected = tuple(exp_l) if isinstance(expected, (tuple, list)) else exp_l[0]
    return compare_values(got, expected, rtol, atol)


# ---- 1a. bernoulli_mle(x): the share of ones -----------------------------------------------------------


def _bernoulli_mle(x):
    return _f64(x).mean()


def _bernoulli_count(x):
    return _f64(x).sum()


def _bernoulli_zeros(x):
    return 1 - _f64(x).mean()


def _bernoulli_cases(rng):
    cases = []
    for _ in range(3):
        n = int(rng.integers(15, 60))
        p = float(rng.uniform(0.15, 0.4))  # away from 1/2, so theta and 1 - theta differ
        cases.append(Case(torch.as_tensor(rng.random(n) < p, dtype=torch.float32)))
    return cases


bernoulli_mle = Exercise(
    chapter="02", name="bernoulli_mle", reference=_bernoulli_mle, make_cases=_bernoulli_cases,
    hint="Set the derivative of the log-likelihood n1 log(theta) + n0 log(1 - theta) to zero: theta = n1 / "
    "N, the share of ones.",
    deeper_hint="x is a float tensor of 0s and 1s, so x.mean() is the share of ones.",
    wrong_answers=[
        WrongAnswer("count", _bernoulli_count,
                    hint="You returned the number of ones; a probability is the number of ones divided by "
                    "N."),
        WrongAnswer("share_of_zeros", _bernoulli_zeros,
                    hint="You returned the probability of a 0; theta is p(x = 1)."),
    ],
)


# ---- 1b. gaussian_mle(x): sample mean and the biased variance ------------------------------------------


def _gaussian_mle(x):
    x = _f64(x)
    mu = x.mean()
    return mu, ((x - mu) ** 2).mean()


def _gaussian_unbiased(x):
    x = _f64(x)
    return x.mean(), x.var(unbiased=True)


def _gaussian_std(x):
    mu, var = _gaussian_mle(x)
    return mu, var.sqrt()


def _gaussian_cases(rng):
    cases = []
    for _ in range(3):
        n = int(rng.integers(5, 20))  # small N: 1/N and 1/(N-1) differ by more than 5 %
        sigma = float(rng.uniform(1.5, 3.0))  # variance far from 1, so variance and std differ
        x = rng.normal(rng.normal(0, 3), sigma, size=n)
        cases.append(Case(torch.as_tensor(x, dtype=torch.float32)))
    return cases


gaussian_mle = Exercise(
    chapter="02", name="gaussian_mle", reference=_gaussian_mle, make_cases=_gaussian_cases,
    hint="Return a tuple (mean, variance). Setting the derivatives of the Gaussian log-likelihood to zero "
    "gives mu = (1/N) sum x_n and sigma^2 = (1/N) sum (x_n - mu)^2.",
    deeper_hint="((x - x.mean()) ** 2).mean() is the MLE of the variance; torch.var divides by N - 1 by "
    "default.",
    wrong_answers=[
        WrongAnswer("unbiased_variance", _gaussian_unbiased,
                    hint="You divided by N - 1 (torch.var's default): that is the unbiased estimator, not "
                    "the maximum-likelihood one. The MLE divides by N; it is biased low because it "
                    "measures the spread around the sample mean, which sits closer to the data than the "
                    "true mean. Both agree as N grows.",
                    deeper_hint="Use x.var(unbiased=False) or ((x - mu) ** 2).mean()."),
        WrongAnswer("standard_deviation", _gaussian_std,
                    hint="The second value should be the variance sigma^2; you returned the standard "
                    "deviation."),
    ],
)


# ---- 2. gaussian_nll(x, mu, log_sigma): mean NLL in nats -----------------------------------------------


def _gaussian_nll(x, mu, log_sigma):
    x, mu, log_sigma = _f64(x), _f64(mu), _f64(log_sigma)
    return (0.5 * _LOG_2PI + log_sigma + 0.5 * (x - mu) ** 2 * torch.exp(-2 * log_sigma)).mean()


def _nll_no_constant(x, mu, log_sigma):
    return _gaussian_nll(x, mu, log_sigma) - 0.5 * _LOG_2PI


def _nll_sign(x, mu, log_sigma):
    return -_gaussian_nll(x, mu, log_sigma)


def _nll_sigma_for_log_sigma(x, mu, log_sigma):
    return _gaussian_nll(x, mu, torch.log(_f64(log_sigma)))  # log_sigma treated as sigma


def _nll_sum(x, mu, log_sigma):
    return _gaussian_nll(x, mu, log_sigma) * len(x)


def _nll_cases(rng):
    cases = []
    for _ in range(3):
        n = int(rng.integers(5, 30))
        mu = float(rng.normal(0, 2))
        log_sigma = float(rng.uniform(0.3, 0.8))  # positive (the sigma mistake takes its log) and not 0
        x = rng.normal(mu + rng.normal(0, 1), math.exp(log_sigma), size=n)
        cases.append(Case(torch.as_tensor(x, dtype=torch.float32), torch.tensor(mu), torch.tensor(log_sigma)))
    return cases


gaussian_nll = Exercise(
    chapter="02", name="gaussian_nll", reference=_gaussian_nll, make_cases=_nll_cases,
    hint="-log N(x | mu, sigma^2) = (1/2) log(2 pi) + log sigma + (x - mu)^2 / (2 sigma^2); average it "
    "over x.",
    deeper_hint="With log_sigma given, log sigma is log_sigma itself and 1 / sigma^2 = exp(-2 log_sigma).",
    wrong_answers=[
        WrongAnswer("no_constant", _nll_no_constant,
                    hint="The (1/2) log(2 pi) term is missing. It does not change where the minimum is, "
                    "but an NLL without it is not an NLL in nats and cannot be compared with other "
                    "models'."),
        WrongAnswer("sign", _nll_sign,
                    hint="You returned the mean log-likelihood; the NLL is its negative (a positive number "
                    "to minimise, here)."),
        WrongAnswer("sigma_for_log_sigma", _nll_sigma_for_log_sigma,
                    hint="The third argument is log sigma, not sigma: sigma = exp(log_sigma), and the log "
                    "sigma term is log_sigma itself."),
        WrongAnswer("sum", _nll_sum,
                    hint="You summed over the data points; the exercise asks for the mean NLL per data "
                    "point."),
    ],
)


# ---- 3. nats_to_bits_per_dim(nll_nats, num_dims) -------------------------------------------------------


def _bpd(nll_nats, num_dims):
    return float(nll_nats) / (num_dims * math.log(2))


def _bpd_log10(nll_nats, num_dims):
    return float(nll_nats) / (num_dims * math.log(10))


def _bpd_no_dims(nll_nats, num_dims):
    return float(nll_nats) / math.log(2)


def _bpd_times_ln2(nll_nats, num_dims):
    return float(nll_nats) * math.log(2) / num_dims


def _bpd_cases(rng):
    return [Case(float(rng.uniform(20, 300)), int(rng.integers(2, 800))) for _ in range(3)]


nats_to_bits_per_dim = Exercise(
    chapter="02", name="nats_to_bits_per_dim", reference=_bpd, make_cases=_bpd_cases,
    hint="One nat is 1 / ln 2 bits (log2 y = ln y / ln 2); then share the NLL out over the dimensions.",
    deeper_hint="bits per dim = nll_nats / (num_dims * math.log(2)).",
    wrong_answers=[
        WrongAnswer("log10", _bpd_log10, hint="You divided by ln 10: that converts to decimal digits (bans), "
                    "not bits. Bits use log base 2."),
        WrongAnswer("no_division_by_dims", _bpd_no_dims,
                    hint="That is the NLL in bits per example; divide by the number of dimensions as well."),
        WrongAnswer("times_ln2", _bpd_times_ln2,
                    hint="You multiplied by ln 2. Since log2 y = ln y / ln 2, nats become bits by dividing "
                    "by ln 2."),
    ],
)


# ---- 4. kl_divergence(p, q) with 0 log 0 = 0 -----------------------------------------------------------


def _kl(p, q):
    p, q = _f64(p), _f64(q)
    terms = torch.where(p > 0, p * (torch.log(p) - torch.log(q)), torch.zeros_like(p))
    return terms.sum()


def _kl_swapped(p, q):
    return _kl(q, p)


def _kl_nan(p, q):
    p, q = _f64(p), _f64(q)
    return (p * torch.log(p / q)).sum()


def _kl_cases(rng):
    cases = []
    for _ in range(3):
        k = int(rng.integers(4, 10))
        p = rng.random(k)
        p[rng.choice(k, size=int(rng.integers(1, k // 2 + 1)), replace=False)] = 0.0  # some zeros in p
        q = rng.random(k) + 0.05  # q > 0 everywhere, so KL(p || q) is finite
        cases.append(Case(torch.as_tensor(p / p.sum()), torch.as_tensor(q / q.sum())))
    return cases


kl_divergence = Exercise(
    chapter="02", name="kl_divergence", reference=_kl, make_cases=_kl_cases, compare=_compare_nan_aware,
    hint="KL(p || q) = sum_k p_k log(p_k / q_k), where terms with p_k = 0 contribute 0 (the limit of p log "
    "p).",
    deeper_hint="torch.where(p > 0, p * (torch.log(p) - torch.log(q)), torch.zeros_like(p)).sum(); "
    "torch.special.xlogy(p, p) - torch.special.xlogy(p, q) also handles the zeros.",
    wrong_answers=[
        WrongAnswer("swapped", _kl_swapped,
                    hint="You computed KL(q || p): KL is not symmetric. The expectation is under the first "
                    "argument, p (the data distribution when we fit models)."),
        WrongAnswer("nan_on_zeros", _kl_nan,
                    hint="Where p_k = 0 you get 0 * log 0 = 0 * (-inf) = NaN. By convention (and by the "
                    "limit) 0 log 0 = 0: leave those terms out."),
    ],
)


# ---- 5. gmm_e_step(x, log_weights, means, covariances) -> log responsibilities --------------------------


def _log_normal(x, means, covariances):
    """(N, K) log N(x_n | mu_k, Sigma_k)."""
    dist = torch.distributions.MultivariateNormal(_f64(means), covariance_matrix=_f64(covariances))
    return dist.log_prob(_f64(x)[:, None, :])


def _e_step(x, log_weights, means, covariances):
    joint = _log_normal(x, means, covariances) + _f64(log_weights)
    return joint - torch.logsumexp(joint, dim=1, keepdim=True)


def _e_step_no_weights(x, log_weights, means, covariances):
    joint = _log_normal(x, means, covariances)
    return joint - torch.logsumexp(joint, dim=1, keepdim=True)


def _e_step_unnormalised(x, log_weights, means, covariances):
    return _log_normal(x, means, covariances) + _f64(log_weights)


def _e_step_naive(x, log_weights, means, covariances):
    p = torch.exp(_log_normal(x, means, covariances)) * torch.exp(_f64(log_weights))
    return torch.log(p / p.sum(dim=1, keepdim=True))


def _e_step_cases(rng):
    cases = []
    for _ in range(3):
        n, k, d = int(rng.integers(6, 15)), int(rng.integers(2, 5)), int(rng.integers(1, 4))
        means = rng.normal(0, 3, size=(k, d))
        a = rng.normal(0, 0.5, size=(k, d, d))
        cov = a @ a.transpose(0, 2, 1) + np.eye(d) * rng.uniform(0.5, 1.5, size=(k, 1, 1))
        w = rng.dirichlet(np.ones(k)) * 0.8 + 0.2 / k
        x = means[rng.integers(0, k, size=n)] + rng.normal(0, 1, size=(n, d))
        x[-1] = 200.0 + rng.normal(0, 1, size=d)  # a far point: every density underflows to 0 in float64
        cases.append(Case(torch.as_tensor(x), torch.as_tensor(np.log(w)), torch.as_tensor(means),
                          torch.as_tensor(cov)))
    return cases


gmm_e_step = Exercise(
    chapter="02", name="gmm_e_step", reference=_e_step, make_cases=_e_step_cases, compare=_compare_nan_aware,
    hint="log r_nk = log pi_k + log N(x_n | mu_k, Sigma_k) - logsumexp_j [log pi_j + log N(x_n | mu_j, "
    "Sigma_j)]; return the (N, K) matrix of log-responsibilities, each row log-summing to 0.",
    deeper_hint="torch.distributions.MultivariateNormal(means, "
    "covariance_matrix=covariances).log_prob(x[:, None]) gives the (N, K) log-densities; "
    "torch.logsumexp(joint, dim=1, keepdim=True) normalises.",
    wrong_answers=[
        WrongAnswer("no_weights", _e_step_no_weights,
                    hint="The mixture weights are missing: the posterior p(z=k | x) is proportional to "
                    "pi_k N(x | mu_k, Sigma_k), the prior times the likelihood."),
        WrongAnswer("not_normalised", _e_step_unnormalised,
                    hint="You returned log p(x_n, z=k), the joint. Responsibilities are the posterior "
                    "p(z=k | x_n): subtract log p(x_n) = logsumexp over k, so each row's probabilities sum "
                    "to 1."),
        WrongAnswer("no_logsumexp", _e_step_naive,
                    hint="For a point far from every component all densities underflow to 0 and you get "
                    "0/0 = NaN. Stay in log space and normalise with torch.logsumexp, which subtracts the "
                    "maximum first."),
    ],
)


# ---- 6. gmm_m_step(x, responsibilities) -> (weights, means, covariances) --------------------------------


def _m_step(x, responsibilities):
    x, r = _f64(x), _f64(responsibilities)
    nk = r.sum(0)  # (K,)
    means = r.T @ x / nk[:, None]  # (K, D)
    diff = x[None] - means[:, None]  # (K, N, D)
    cov = torch.einsum("nk,kni,knj->kij", r, diff, diff) / nk[:, None, None]
    return nk / len(x), means, cov


def _m_step_unweighted_means(x, responsibilities):
    x, r = _f64(x), _f64(responsibilities)
    nk = r.sum(0)
    means = x.mean(0).expand(r.shape[1], -1)
    diff = x[None] - means[:, None]
    cov = torch.einsum("nk,kni,knj->kij", r, diff, diff) / nk[:, None, None]
    return nk / len(x), means, cov


def _m_step_divide_by_n(x, responsibilities):
    x, r = _f64(x), _f64(responsibilities)
    nk = r.sum(0)
    means = r.T @ x / len(x)
    diff = x[None] - means[:, None]
    cov = torch.einsum("nk,kni,knj->kij", r, diff, diff) / len(x)
    return nk / len(x), means, cov


def _m_step_cases(rng):
    cases = []
    for _ in range(3):
        n, k, d = int(rng.integers(8, 20)), int(rng.integers(2, 5)), int(rng.integers(1, 4))
        x = rng.normal(0, 2, size=(n, d)) + 3.0
        r = rng.dirichlet(np.ones(k) * 0.7, size=n)  # (N, K), rows sum to 1
        cases.append(Case(torch.as_tensor(x), torch.as_tensor(r)))
    return cases


gmm_m_step = Exercise(
    chapter="02", name="gmm_m_step", reference=_m_step, make_cases=_m_step_cases,
    hint="With N_k = sum_n r_nk: pi_k = N_k / N, mu_k = sum_n r_nk x_n / N_k, Sigma_k = sum_n r_nk (x_n - "
    "mu_k)(x_n - mu_k)^T / N_k. Return (weights, means, covariances).",
    deeper_hint="means = r.T @ x / nk[:, None]; diff = x[None] - means[:, None] has shape (K, N, D); "
    "torch.einsum('nk,kni,knj->kij', r, diff, diff) sums the weighted outer products.",
    wrong_answers=[
        WrongAnswer("unweighted_means", _m_step_unweighted_means,
                    hint="Every component got the same mean, the mean of all the data. Each component's "
                    "mean is the responsibility-weighted average of the points: sum_n r_nk x_n / N_k."),
        WrongAnswer("divide_by_n", _m_step_divide_by_n,
                    hint="Means and covariances are weighted averages: divide by the component's effective "
                    "count N_k = sum_n r_nk, not by N (only the weights pi_k = N_k / N use N)."),
    ],
)


# ---- 7. smoothed_pmf(counts, alpha): add-alpha smoothing = MAP under a Dirichlet prior --------------------


def _smoothed(counts, alpha):
    c = _f64(counts)
    return (c + alpha) / (c.sum() + alpha * len(c))


def _smoothed_numerator_only(counts, alpha):
    c = _f64(counts)
    return (c + alpha) / c.sum()


def _smoothed_alpha_once(counts, alpha):
    c = _f64(counts)
    return (c + alpha) / (c.sum() + alpha)


def _smoothed_concentration(counts, alpha):
    c = _f64(counts)
    return (c + alpha - 1) / (c.sum() + (alpha - 1) * len(c))


def _smoothed_cases(rng):
    cases = []
    for _ in range(3):
        k = int(rng.integers(4, 12))
        counts = rng.integers(0, 20, size=k)
        counts[rng.integers(0, k)] = 0  # a value never seen: what smoothing is for
        alpha = float(rng.choice([rng.uniform(0.2, 0.7), rng.uniform(1.5, 3.0)]))
        cases.append(Case(torch.as_tensor(counts), alpha))
    return cases


smoothed_pmf = Exercise(
    chapter="02", name="smoothed_pmf", reference=_smoothed, make_cases=_smoothed_cases,
    hint="Add alpha pseudo-counts to every one of the K values, then normalise: (n_k + alpha) / (N + K "
    "alpha).",
    deeper_hint="(counts + alpha) / (counts.sum() + alpha * len(counts)), in floating point.",
    wrong_answers=[
        WrongAnswer("numerator_only", _smoothed_numerator_only,
                    hint="Your probabilities do not sum to 1: you added alpha to each count but not to the "
                    "total. The K pseudo-counts add K alpha to N."),
        WrongAnswer("alpha_once", _smoothed_alpha_once,
                    hint="The total grows by alpha for each of the K values, so divide by N + K alpha, not "
                    "N + alpha."),
        WrongAnswer("dirichlet_concentration", _smoothed_concentration,
                    hint="Here alpha is the pseudo-count added to each value (a Dirichlet(alpha + 1) "
                    "prior, whose MAP adds alpha), not the Dirichlet concentration itself, whose MAP would "
                    "add alpha - 1."),
    ],
)
