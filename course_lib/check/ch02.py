"""Checks for chapter 02: maximum likelihood.

Warm-ups (closed-form MLEs of the lecture, bits per dimension, add-alpha smoothing), then MLEs to derive on
paper first (a Laplace distribution, a Gaussian whose mean equals its variance, the bits per dimension of a
dequantised density), then EM for a mixture of Bernoullis (the sibling of the lecture's Gaussian mixture).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from course_lib.check import Case, Exercise, WrongAnswer, compare_values
from course_lib.distributions import Gaussian, IndependentCategorical, MixtureOfCategoricals, smoothed_counts_pmf
from course_lib.metrics import bits_per_dim


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


# ---- 1 (warm-up). bernoulli_mle(x): the share of ones -----------------------------------------------------


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
    name="bernoulli_mle", reference=_bernoulli_mle, make_cases=_bernoulli_cases,
    hint="Set the derivative of the log-likelihood n1 log(theta) + n0 log(1 - theta) to zero: theta = n1 / "
    "N, the share of ones.",
    deeper_hint="x is a float tensor of 0s and 1s, so its mean is the share of ones.",
    wrong_answers=[
        WrongAnswer("count", _bernoulli_count,
                    hint="You returned the number of ones; a probability is the number of ones divided by "
                    "N."),
        WrongAnswer("share_of_zeros", _bernoulli_zeros,
                    hint="You returned the probability of a 0; theta is p(x = 1)."),
    ],
)


# ---- 2 (warm-up). gaussian_mle(x): sample mean and the biased variance ------------------------------------


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
    name="gaussian_mle", reference=_gaussian_mle, make_cases=_gaussian_cases,
    hint="Return a tuple (mean, variance). Setting the derivatives of the Gaussian log-likelihood to zero "
    "gives mu = (1/N) sum x_n and sigma^2 = (1/N) sum (x_n - mu)^2.",
    deeper_hint="torch.var divides by N - 1 unless told otherwise (its `correction` / `unbiased` argument).",
    forbidden=(Gaussian.fit,),
    wrong_answers=[
        WrongAnswer("unbiased_variance", _gaussian_unbiased,
                    hint="You divided by N - 1 (torch.var's default): that is the unbiased estimator, not "
                    "the maximum-likelihood one. The MLE divides by N; it is biased low because it "
                    "measures the spread around the sample mean, which sits closer to the data than the "
                    "true mean. Both agree as N grows."),
        WrongAnswer("standard_deviation", _gaussian_std,
                    hint="The second value should be the variance sigma^2; you returned the standard "
                    "deviation."),
    ],
)


# ---- 3 (warm-up). nats_to_bits_per_dim(nll_nats, num_dims) -------------------------------------------------


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
    name="nats_to_bits_per_dim", reference=_bpd, make_cases=_bpd_cases,
    hint="One nat is 1 / ln 2 bits (log2 y = ln y / ln 2); then share the NLL out over the dimensions.",
    deeper_hint="math.log is the natural logarithm; check yourself on the uniform model of digits17 "
    "(64 ln 17 nats over 64 pixels must give log2 17 bits per dimension).",
    forbidden=(bits_per_dim,),
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


# ---- 4 (warm-up). smoothed_pmf(counts, alpha): add-alpha smoothing = MAP under a Dirichlet prior -----------


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
    name="smoothed_pmf", reference=_smoothed, make_cases=_smoothed_cases,
    hint="Add alpha pseudo-counts to every one of the K values, then normalise: (n_k + alpha) / (N + K "
    "alpha).",
    deeper_hint="Integer counts divided in torch give floats, but add alpha in floating point (e.g. after "
    "counts.double()); the K pseudo-counts change the total too.",
    forbidden=(smoothed_counts_pmf, IndependentCategorical.fit),
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


# ---- 5. laplace_mle(x): the median and the mean absolute deviation from it ---------------------------------


def _laplace_mle(x):
    x = _f64(x)
    loc = x.median()  # N is odd in every case: the median is one data point, the unique maximiser
    return loc, (x - loc).abs().mean()


def _laplace_mean(x):
    x = _f64(x)
    loc = x.mean()
    return loc, (x - loc).abs().mean()


def _laplace_std(x):
    x = _f64(x)
    return x.median(), x.std(unbiased=False)


def _laplace_mad(x):
    x = _f64(x)
    loc = x.median()
    return loc, (x - loc).abs().median()


def _laplace_half_scale(x):
    loc, scale = _laplace_mle(x)
    return loc, scale / 2


def _laplace_cases(rng):
    cases = []
    for _ in range(3):
        n = 2 * int(rng.integers(4, 15)) + 1  # odd
        x = rng.laplace(rng.normal(0, 3), rng.uniform(0.5, 2.0), size=n)
        x[int(rng.integers(0, n))] += rng.choice([-1, 1]) * 15  # one outlier: the mean moves, the median not
        cases.append(Case(torch.as_tensor(x, dtype=torch.float32)))
    return cases


laplace_mle = Exercise(
    name="laplace_mle", reference=_laplace_mle, make_cases=_laplace_cases,
    hint="Write the log-likelihood of Laplace(mu, b), -N log(2b) - sum_n |x_n - mu| / b, and maximise it in "
    "mu first (which value of mu has as many points above it as below?), then set the derivative in b to zero.",
    deeper_hint="The derivative of |x_n - mu| in mu is -sign(x_n - mu); torch.median and abs() are all you "
    "need.",
    wrong_answers=[
        WrongAnswer("mean_for_location", _laplace_mean,
                    hint="You used the mean as the location. That is the Gaussian's answer, where the "
                    "squared distance rewards the mean; with |x - mu| the derivative is a sum of signs, "
                    "zero where half the points lie on each side."),
        WrongAnswer("std_for_scale", _laplace_std,
                    hint="Your scale is a standard deviation, the Gaussian habit. Set the derivative of the "
                    "Laplace log-likelihood in b to zero: b is an average of absolute, not squared, "
                    "deviations."),
        WrongAnswer("median_absolute_deviation", _laplace_mad,
                    hint="Your scale is the median of the absolute deviations. The derivative in b gives "
                    "their mean: -N / b + sum_n |x_n - mu| / b^2 = 0."),
        WrongAnswer("half_scale", _laplace_half_scale,
                    hint="Your scale is half the MLE. The density is exp(-|x - mu| / b) / (2 b): the 2 in "
                    "the normaliser does not survive the derivative in b (d/db of -N log(2b) is -N / b)."),
    ],
)


# ---- 6. mean_equals_variance_mle(x): N(theta, theta), one parameter for both -------------------------------


def _tied_mle(x):
    x = _f64(x)
    m2 = (x**2).mean()
    return (-1 + torch.sqrt(1 + 4 * m2)) / 2


def _tied_mean(x):
    return _f64(x).mean()


def _tied_variance(x):
    return _f64(x).var(unbiased=False)


def _tied_second_moment(x):
    return (_f64(x) ** 2).mean()


def _tied_central(x):
    v = _f64(x).var(unbiased=False)
    return (-1 + torch.sqrt(1 + 4 * v)) / 2


def _tied_negative_root(x):
    return -1 - _tied_mle(x)  # the other root of theta^2 + theta - m2 = 0


def _tied_average(x):
    return (_tied_mean(x) + _tied_variance(x)) / 2


def _tied_cases(rng):
    cases = []
    for _ in range(3):
        theta = float(rng.uniform(0.5, 5.0))
        n = int(rng.integers(8, 40))
        cases.append(Case(torch.as_tensor(rng.normal(theta, math.sqrt(theta), size=n), dtype=torch.float32)))
    return cases


mean_equals_variance_mle = Exercise(
    name="mean_equals_variance_mle", reference=_tied_mle, make_cases=_tied_cases,
    hint="Write l(theta) = -N/2 log(2 pi theta) - sum_n (x_n - theta)^2 / (2 theta), differentiate in theta, "
    "multiply the equation by 2 theta^2: it becomes a quadratic in theta. Of its two roots, only one can be a "
    "variance.",
    deeper_hint="The quadratic's coefficients need only N and one statistic of the data, the mean of x_n^2; "
    "torch.sqrt does the rest.",
    wrong_answers=[
        WrongAnswer("sample_mean", _tied_mean,
                    hint="The sample mean is the MLE of a mean that is free. Here the same theta is also the "
                    "variance, so the spread of the data pulls on it too: differentiate the whole "
                    "log-likelihood in theta."),
        WrongAnswer("sample_variance", _tied_variance,
                    hint="The sample variance is the MLE of a variance that is free. Here the same theta is "
                    "also the mean: differentiate the whole log-likelihood in theta."),
        WrongAnswer("average_of_mean_and_variance", _tied_average,
                    hint="Averaging the two separate MLEs is a compromise, not the maximiser of the tied "
                    "likelihood. Differentiate l(theta) in theta with theta in both places."),
        WrongAnswer("second_moment", _tied_second_moment,
                    hint="The mean of x^2 appears in the equation, but it is not the answer: theta solves "
                    "theta^2 + theta = mean(x^2)."),
        WrongAnswer("central_moment", _tied_central,
                    hint="Your quadratic uses the variance around the sample mean. Expanding (x_n - "
                    "theta)^2 with theta itself (not the sample mean) leaves the raw second moment, the "
                    "mean of x_n^2."),
        WrongAnswer("negative_root", _tied_negative_root,
                    hint="You took the negative root of the quadratic; theta is a variance, so it must be "
                    "positive."),
    ],
)


# ---- 7. dequantised_bits_per_dim(mean_log_density, num_dims, num_levels) -----------------------------------


def _deq_bpd(mean_log_density, num_dims, num_levels):
    nll = -float(mean_log_density) + num_dims * math.log(num_levels)  # nats per example, an upper bound
    return nll / (num_dims * math.log(2))


def _deq_no_log_det(mean_log_density, num_dims, num_levels):
    return -float(mean_log_density) / (num_dims * math.log(2))


def _deq_log_det_sign(mean_log_density, num_dims, num_levels):
    return (-float(mean_log_density) - num_dims * math.log(num_levels)) / (num_dims * math.log(2))


def _deq_log_det_in_bits(mean_log_density, num_dims, num_levels):
    return (-float(mean_log_density) + num_dims * math.log2(num_levels)) / (num_dims * math.log(2))


def _deq_per_example(mean_log_density, num_dims, num_levels):
    return (-float(mean_log_density) + num_dims * math.log(num_levels)) / math.log(2)


def _deq_cases(rng):
    cases = []
    for num_dims, num_levels in [(64, 17), (int(rng.integers(10, 50)), 2), (784, 256)]:
        # a density on the unit cube can exceed 1: its mean log-density ranges over both signs
        per_dim = float(rng.uniform(-0.3, 1.2))
        cases.append(Case(per_dim * num_dims, num_dims, num_levels))
    return cases


dequantised_bits_per_dim = Exercise(
    name="dequantised_bits_per_dim", reference=_deq_bpd, make_cases=_deq_cases,
    hint="Change of variables: if y = (x + u) / L, the density of z = x + u is p_z(z) = p_y(z / L) / L^D. "
    "The probability of the integer image x is the integral of p_z over the unit cube above it, and Jensen's "
    "inequality turns the mean of log p_z into a lower bound on log P(x). Then convert to bits per dimension.",
    deeper_hint="In logs the scaling costs D log L nats per example; all logarithms in nats until the last "
    "division (math.log is natural).",
    wrong_answers=[
        WrongAnswer("no_log_det", _deq_no_log_det,
                    hint="You converted the density of the scaled y straight to bits. Squeezing [0, L)^D into "
                    "[0, 1)^D multiplies densities by L^D, so log p(y) overstates log p(x + u) by D log L: "
                    "subtract it (the log-determinant of the scaling) before converting."),
        WrongAnswer("log_det_sign", _deq_log_det_sign,
                    hint="The log-determinant term has the wrong sign: the density of z = x + u is p_y(z / L) "
                    "/ L^D, smaller than p_y, so the NLL grows by D log L."),
        WrongAnswer("log_det_in_bits", _deq_log_det_in_bits,
                    hint="You added D log2 L (bits) to a log-density in nats, then divided by ln 2. Keep "
                    "every term in nats until the final conversion."),
        WrongAnswer("per_example", _deq_per_example,
                    hint="That is bits per example (per image); divide by the number of dimensions too."),
    ],
)


# ---- 8. bernoulli_mixture_e_step(x, weights, probs) -> responsibilities (N, K) -----------------------------


def _bern_log_joint(x, weights, probs):
    """(N, K) log pi_k + sum_d [x_nd log mu_kd + (1 - x_nd) log(1 - mu_kd)]."""
    x, w, mu = _f64(x), _f64(weights), _f64(probs)
    return x @ torch.log(mu).T + (1 - x) @ torch.log1p(-mu).T + torch.log(w)


def _bern_e_step(x, weights, probs):
    joint = _bern_log_joint(x, weights, probs)
    return torch.softmax(joint, dim=1)  # exp(joint - logsumexp over k)


def _bern_wrong_axis(x, weights, probs):
    return torch.softmax(_bern_log_joint(x, weights, probs), dim=0)


def _bern_naive(x, weights, probs):
    x, w, mu = _f64(x), _f64(weights), _f64(probs)
    lik = (mu[None] ** x[:, None] * (1 - mu[None]) ** (1 - x[:, None])).prod(-1) * w  # underflows to 0
    return lik / lik.sum(1, keepdim=True)


def _bern_no_weights(x, weights, probs):
    return torch.softmax(_bern_log_joint(x, torch.ones_like(_f64(weights)), probs), dim=1)


def _bern_ones_only(x, weights, probs):
    x, w, mu = _f64(x), _f64(weights), _f64(probs)
    return torch.softmax(x @ torch.log(mu).T + torch.log(w), dim=1)


def _bern_logs(x, weights, probs):
    return torch.log_softmax(_bern_log_joint(x, weights, probs), dim=1)


def _bern_e_cases(rng):
    cases = []
    d = 64
    for _ in range(3):
        n, k = int(rng.integers(6, 12)), int(rng.integers(2, 5))
        probs = rng.uniform(0.05, 0.95, size=(k, d))
        border = rng.choice(d, size=34, replace=False)  # pixels blank in every training image
        probs[:, border] = 1e-12
        weights = rng.dirichlet(np.ones(k)) * 0.7 + 0.3 / k
        z = rng.integers(0, k, size=n)
        x = (rng.random((n, d)) < probs[z]).astype(float)
        x[-1] = 1.0 - x[-1]  # an inverted image: the border is on, every p(x | k) underflows to 0
        cases.append(Case(torch.as_tensor(x), torch.as_tensor(weights), torch.as_tensor(probs)))
    return cases


def _compare_responsibilities(got, expected, case):
    return _compare_nan_aware(got, expected, case, rtol=1e-3, atol=1e-5)


bernoulli_mixture_e_step = Exercise(
    name="bernoulli_mixture_e_step", reference=_bern_e_step, make_cases=_bern_e_cases,
    compare=_compare_responsibilities,
    hint="r_nk = p(z = k | x_n) is proportional to pi_k prod_d mu_kd^x_nd (1 - mu_kd)^(1 - x_nd); take logs "
    "(a product over 64 pixels becomes a sum), then normalise over the components k for each image n.",
    deeper_hint="A matrix product x @ log(mu).T sums over pixels for all (n, k) at once; torch.logsumexp or "
    "torch.softmax along the component axis normalises without underflow.",
    forbidden=(MixtureOfCategoricals,),
    wrong_answers=[
        WrongAnswer("normalised_over_images", _bern_wrong_axis,
                    hint="Your responsibilities sum to 1 down each column (over the images). Each image's "
                    "responsibilities form a distribution over the K components: normalise each row."),
        WrongAnswer("no_logsumexp", _bern_naive,
                    hint="For an image unlike every component (here: an inverted digit), the product of 64 "
                    "pixel probabilities underflows to 0 for every k and you get 0 / 0 = NaN. Sum "
                    "log-probabilities instead and normalise with logsumexp, which subtracts the maximum "
                    "first."),
        WrongAnswer("no_weights", _bern_no_weights,
                    hint="The mixture weights are missing: the posterior p(z = k | x) is proportional to the "
                    "prior pi_k times the likelihood p(x | z = k)."),
        WrongAnswer("ones_only", _bern_ones_only,
                    hint="Only the pixels that are on count in your likelihood. A Bernoulli pixel that is off "
                    "has probability 1 - mu_kd, and that evidence matters too: add (1 - x) log(1 - mu)."),
        WrongAnswer("log_responsibilities", _bern_logs,
                    hint="You returned log-responsibilities; the exercise asks for the responsibilities "
                    "themselves (probabilities, each row summing to 1)."),
    ],
)


# ---- 9. bernoulli_mixture_m_step(x, responsibilities, alpha) -> (weights, probs) ---------------------------


def _bern_m_step(x, responsibilities, alpha):
    x, r = _f64(x), _f64(responsibilities)
    nk = r.sum(0)  # (K,) effective number of images per component
    return nk / len(x), (r.T @ x + alpha) / (nk[:, None] + 2 * alpha)


def _bern_m_unweighted(x, responsibilities, alpha):
    x, r = _f64(x), _f64(responsibilities)
    nk = r.sum(0)
    probs = ((x.sum(0) + alpha) / (len(x) + 2 * alpha)).expand(r.shape[1], -1)
    return nk / len(x), probs


def _bern_m_divide_by_n(x, responsibilities, alpha):
    x, r = _f64(x), _f64(responsibilities)
    nk = r.sum(0)
    return nk / len(x), (r.T @ x + alpha) / (len(x) + 2 * alpha)


def _bern_m_alpha_once(x, responsibilities, alpha):
    x, r = _f64(x), _f64(responsibilities)
    nk = r.sum(0)
    return nk / len(x), (r.T @ x + alpha) / (nk[:, None] + alpha)


def _bern_m_counts_as_weights(x, responsibilities, alpha):
    x, r = _f64(x), _f64(responsibilities)
    weights, probs = _bern_m_step(x, r, alpha)
    return r.sum(0), probs


def _bern_m_cases(rng):
    cases = []
    for _ in range(3):
        n, k, d = int(rng.integers(10, 30)), int(rng.integers(2, 5)), int(rng.integers(6, 20))
        x = (rng.random((n, d)) < rng.uniform(0.2, 0.8, size=d)).astype(float)
        r = rng.dirichlet(np.ones(k) * 0.7, size=n)  # (N, K), rows sum to 1
        cases.append(Case(torch.as_tensor(x), torch.as_tensor(r), float(rng.choice([0.5, 1.0, 2.0]))))
    return cases


bernoulli_mixture_m_step = Exercise(
    name="bernoulli_mixture_m_step", reference=_bern_m_step, make_cases=_bern_m_cases,
    hint="Count each image n as r_nk images of component k. With N_k = sum_n r_nk: pi_k = N_k / N, and mu_kd is "
    "a smoothed share of 'on' among those weighted images: (weighted number of ones + alpha) / (N_k + 2 alpha).",
    deeper_hint="A matrix product of the transposed responsibilities with x gives all K x D weighted counts of "
    "ones at once.",
    forbidden=(MixtureOfCategoricals, smoothed_counts_pmf),
    wrong_answers=[
        WrongAnswer("unweighted", _bern_m_unweighted,
                    hint="Every component got the same pixel probabilities, those of all the data. Each "
                    "component's mu_k is the responsibility-weighted share of ones: weight image n by "
                    "r_nk."),
        WrongAnswer("divide_by_n", _bern_m_divide_by_n,
                    hint="mu_kd is a share among the images of component k: divide the weighted count by that "
                    "component's effective count N_k = sum_n r_nk (plus the pseudo-counts), not by N."),
        WrongAnswer("alpha_once", _bern_m_alpha_once,
                    hint="A binary pixel has two values, each with alpha pseudo-counts: the denominator grows "
                    "by 2 alpha, not alpha (otherwise mu and 1 - mu do not come from the same counts)."),
        WrongAnswer("counts_as_weights", _bern_m_counts_as_weights,
                    hint="Your weights are the effective counts N_k; the mixture weights are probabilities: "
                    "divide by N so that they sum to 1."),
    ],
)
