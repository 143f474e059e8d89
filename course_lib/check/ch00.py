"""Checks for chapter 00: the workflow, on two small exercises about log-densities and event dimensions."""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal

from course_lib.check import Case, Exercise, WrongAnswer

# ---- 1. normal_log_prob(x, mu, sigma): log N(x; mu, sigma^2), elementwise -----------------------------


def _normal_log_prob(x, mu, sigma):
    x, mu, sigma = (torch.as_tensor(t, dtype=torch.float64) for t in (x, mu, sigma))
    return -0.5 * ((x - mu) / sigma) ** 2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)


def _no_log_sigma(x, mu, sigma):
    return _normal_log_prob(x, mu, sigma) + torch.log(torch.as_tensor(sigma, dtype=torch.float64))


def _sigma_not_squared(x, mu, sigma):
    x, mu, sigma = (torch.as_tensor(t, dtype=torch.float64) for t in (x, mu, sigma))
    return -0.5 * (x - mu) ** 2 / sigma - torch.log(sigma) - 0.5 * math.log(2 * math.pi)


def _no_constant(x, mu, sigma):
    return _normal_log_prob(x, mu, sigma) + 0.5 * math.log(2 * math.pi)


def _density_not_log(x, mu, sigma):
    return _normal_log_prob(x, mu, sigma).exp()


def _normal_cases(rng):
    cases = []
    for _ in range(3):
        n = int(rng.integers(5, 20))
        mu = float(rng.normal(0, 2))
        sigma = float(rng.uniform(0.3, 3.0))
        while abs(sigma - 1.0) < 0.1:  # at sigma = 1 the sigma and sigma^2 mistakes agree with the answer
            sigma = float(rng.uniform(0.3, 3.0))
        x = torch.as_tensor(rng.normal(mu, 2 * sigma, size=n), dtype=torch.float32)
        cases.append(Case(x, torch.tensor(mu), torch.tensor(sigma)))
    return cases


normal_log_prob = Exercise(
    chapter="00",
    name="normal_log_prob",
    reference=_normal_log_prob,
    make_cases=_normal_cases,
    hint="Take the log of the normal density term by term: "
    "log N(x; mu, sigma^2) = -(x - mu)^2 / (2 sigma^2) - log sigma - (1/2) log(2 pi).",
    deeper_hint="Write it with torch operations on whole tensors, no loops; compare your numbers with "
    "torch.distributions.Normal(mu, sigma).log_prob(x) in a scratch cell.",
    wrong_answers=[
        WrongAnswer("no_log_sigma", _no_log_sigma,
                    hint="You left out -log(sigma): the 1/sigma in front of the density's exponential also has a log."),
        WrongAnswer("sigma_not_squared", _sigma_not_squared,
                    hint="The quadratic term divides by the variance sigma^2, not by sigma."),
        WrongAnswer("no_constant", _no_constant,
                    hint="The normalising constant 1/sqrt(2 pi) contributes -(1/2) log(2 pi) to every entry: "
                    "without it the density does not integrate to one."),
        WrongAnswer("density_not_log", _density_not_log,
                    hint="You returned the density p(x); the exercise asks for its logarithm, log p(x)."),
    ],
)


# ---- 2. log_likelihood_per_example(dist, x): sum over the event dimension --------------------------------


def _per_example(dist, x):
    return dist.log_prob(x).sum(dim=-1)


def _summed_over_examples(dist, x):
    return dist.log_prob(x).sum(dim=0)


def _mean_over_dims(dist, x):
    return dist.log_prob(x).mean(dim=-1)


def _total(dist, x):
    return dist.log_prob(x).sum()


def _per_example_cases(rng):
    cases = []
    for _ in range(3):
        n, d = int(rng.integers(4, 12)), int(rng.integers(2, 6))
        while n == d:
            n = int(rng.integers(4, 12))
        loc = torch.as_tensor(rng.normal(0, 1, size=d))
        scale = torch.as_tensor(rng.uniform(0.5, 2.0, size=d))
        x = torch.as_tensor(rng.normal(0, 1.5, size=(n, d)))
        cases.append(Case(Normal(loc, scale), x))
    return cases


log_likelihood_per_example = Exercise(
    chapter="00",
    name="log_likelihood_per_example",
    reference=_per_example,
    make_cases=_per_example_cases,
    hint="dist.log_prob(x) gives one number per entry, shape (N, D). Each example's log-likelihood adds "
    "up its D entries (independent dimensions multiply their probabilities): the result has shape (N,).",
    deeper_hint="Sum over the last axis: .sum(dim=-1). The first axis indexes examples and must stay.",
    wrong_answers=[
        WrongAnswer("summed_over_examples", _summed_over_examples,
                    hint="You summed over the examples (axis 0). Keep one value per example and add up its "
                    "dimensions instead (axis -1)."),
        WrongAnswer("mean_over_dims", _mean_over_dims,
                    hint="A mean over dimensions is not a log-likelihood: the log of a product of "
                    "probabilities is a sum of logs."),
        WrongAnswer("total", _total,
                    hint="You added up everything into one number; the exercise asks for one log-likelihood "
                    "per example, shape (N,)."),
    ],
)
