"""Checks for chapter 01: data distributions.

Six exercises: an empirical pmf, inverse-CDF sampling, marginal and conditional of a joint table, a histogram
density, a Gaussian KDE by log-sum-exp, and a generative classifier. Each lists its typical wrong answers as
code beside the reference, so a student who makes one of them gets the hint written for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from course_lib.check import Case, Exercise, WrongAnswer, compare_values
from course_lib.check.compare import agrees_on_property

# ---------------------------------------------------------------------------------------------------------
# 1. empirical_pmf(values, num_values)
# ---------------------------------------------------------------------------------------------------------


def _pmf_reference(values: Tensor, num_values: int) -> Tensor:
    counts = torch.bincount(values, minlength=num_values).double()
    return counts / len(values)


def _pmf_unnormalised(values: Tensor, num_values: int) -> Tensor:
    return torch.bincount(values, minlength=num_values).double()


def _pmf_one_too_many(values: Tensor, num_values: int) -> Tensor:
    return torch.bincount(values, minlength=num_values + 1).double() / len(values)


def _pmf_no_minlength(values: Tensor, num_values: int) -> Tensor:
    return torch.bincount(values).double() / len(values)


def _pmf_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(3):
        k = int(rng.integers(4, 10))
        # the largest value never occurs (like a grey level no pixel uses), the one below it always does
        values = np.append(rng.integers(0, k - 1, size=int(rng.integers(20, 60))), k - 2)
        cases.append(Case(torch.as_tensor(rng.permutation(values)), k))
    return cases


empirical_pmf = Exercise(
    chapter="01", name="empirical_pmf", reference=_pmf_reference, make_cases=_pmf_cases,
    hint="The pmf is the share of the data at each value 0..num_values-1: count, then divide by the number "
         "of data points, so the entries sum to one.",
    deeper_hint="torch.bincount(values, minlength=num_values) counts each value; divide by len(values).",
    wrong_answers=[
        WrongAnswer("unnormalised", _pmf_unnormalised,
                    hint="Your entries are counts, not probabilities: they should sum to 1.",
                    deeper_hint="Divide the counts by the number of data points, len(values)."),
        WrongAnswer("one_too_many", _pmf_one_too_many,
                    hint="Your pmf has one entry too many: the values run from 0 to num_values - 1, so there "
                         "are exactly num_values entries.",
                    deeper_hint="torch.bincount(values, minlength=num_values) has length num_values when "
                                "every value is below num_values."),
        WrongAnswer("no_minlength", _pmf_no_minlength,
                    hint="Your pmf is too short when the largest values never occur in the data: a value "
                         "that is never seen still needs its entry, with probability 0.",
                    deeper_hint="torch.bincount(values) stops at the largest value present; pass "
                                "minlength=num_values."),
    ],
)

# ---------------------------------------------------------------------------------------------------------
# 2. sample_categorical(probs, u): inverse CDF on given uniforms
# ---------------------------------------------------------------------------------------------------------


def _sample_reference(probs: Tensor, u: Tensor) -> Tensor:
    cdf = torch.cumsum(probs.double(), 0)
    cdf = cdf / cdf[-1]
    return torch.searchsorted(cdf, u.double(), right=True).clamp(max=len(probs) - 1)


def _sample_left_side(probs: Tensor, u: Tensor) -> Tensor:
    cdf = torch.cumsum(probs.double(), 0)
    cdf = cdf / cdf[-1]
    return torch.searchsorted(cdf, u.double()).clamp(max=len(probs) - 1)


def _sample_unnormalised_cdf(probs: Tensor, u: Tensor) -> Tensor:
    cdf = torch.cumsum(probs.double(), 0)
    return torch.searchsorted(cdf, u.double(), right=True).clamp(max=len(probs) - 1)


def _sample_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(3):
        k = int(rng.integers(4, 8))
        # integer weights summing to 16: the CDF is exact in binary, so u can sit exactly on a boundary
        cuts = np.sort(rng.choice(np.arange(1, 16), size=k - 2, replace=False))
        weights = np.diff(np.concatenate([[0], cuts, [16]])).astype(float)  # k - 1 positive weights
        weights = np.insert(weights, int(rng.integers(0, k)), 0.0)  # and one impossible value
        cdf = np.cumsum(weights) / 16
        boundaries = np.unique(cdf[cdf < 1])  # u exactly on a boundary belongs to the next value
        u = np.concatenate([rng.random(int(rng.integers(10, 20))), boundaries, [0.0]])
        cases.append(Case(torch.as_tensor(weights * float(rng.choice([1.0, 0.5, 3.0]))),
                          torch.as_tensor(rng.permutation(u))))
    return cases


_FIT_WEIGHTS = np.array([3.0, 0.0, 5.0, 1.0, 7.0, 0.0, 4.0])


def _sample_call(impl: Callable[..., Any], case: Case) -> tuple[Any, Any]:
    """The values on the case, and the samples for 20000 uniforms from a seeded generator (a long run)."""
    u = np.random.default_rng(2024).random(20000)
    return impl(*case.args, **case.kwargs), impl(torch.as_tensor(_FIT_WEIGHTS), torch.as_tensor(u))


def _sample_goodness_of_fit(samples: Any) -> str | None:
    """The frequencies of the samples of the long run must match the weights (chi-square test)."""
    from scipy import stats

    weights = _FIT_WEIGHTS
    try:
        out = torch.as_tensor(samples).long().flatten()
    except (TypeError, ValueError, RuntimeError):
        out = None
    if out is None or out.shape != (20000,) or out.min() < 0 or out.max() >= len(weights):
        return "on 20000 uniforms your sampler did not return one valid value index per uniform."
    counts = np.bincount(out.numpy(), minlength=len(weights))
    if counts[weights == 0].any():
        return "your sampler returned a value whose probability is 0."
    expected = weights[weights > 0] / weights.sum() * len(out)
    p = stats.chisquare(counts[weights > 0], expected).pvalue
    if p < 1e-4:
        return (f"on 20000 uniforms the frequencies of your samples do not match probs (chi-square test, "
                f"p = {p:.1e}).")
    return None


def _compare_samples(got: Any, expected: Any, case: Case) -> str | None:
    """The values on the case, then the long run's goodness of fit (failed by the same wrong answers)."""
    message = compare_values(got[0], expected[0], 1e-4, 1e-6)
    return message or agrees_on_property(_sample_goodness_of_fit, got[1], expected[1])


sample_categorical = Exercise(
    chapter="01", name="sample_categorical", reference=_sample_reference, make_cases=_sample_cases,
    call=_sample_call, compare=_compare_samples,
    hint="Inverse CDF: with F(k) = p(0) + ... + p(k), the sample for a uniform u is the smallest k with "
         "u < F(k). Normalise the weights first: they need not sum to one.",
    deeper_hint="cdf = torch.cumsum(probs, 0) / probs.sum(); torch.searchsorted(cdf, u, right=True).",
    wrong_answers=[
        WrongAnswer("searchsorted_side", _sample_left_side,
                    hint="A uniform that lands exactly on a CDF step F(k) must give k + 1, not k: value k "
                         "owns the interval [F(k-1), F(k)). Your sampler can return values of probability 0.",
                    deeper_hint="torch.searchsorted(cdf, u) finds the first F(k) >= u; you want the first "
                                "F(k) > u, which is right=True."),
        WrongAnswer("unnormalised_cdf", _sample_unnormalised_cdf,
                    hint="Your cumulative sum does not end at 1, so the uniforms in [0, 1) only ever reach "
                         "the first few values. probs are weights: divide the cumulative sum by their total.",
                    deeper_hint="cdf = torch.cumsum(probs, 0); cdf = cdf / cdf[-1]."),
    ],
)

# ---------------------------------------------------------------------------------------------------------
# 3. marginal_and_conditional(joint) -> (p(x1), p(x2 | x1))
# ---------------------------------------------------------------------------------------------------------


def _mc_reference(joint: Tensor) -> tuple[Tensor, Tensor]:
    joint = joint.double()
    p1 = joint.sum(1)  # (K1,)
    return p1, joint / p1[:, None]  # (K1,), (K1, K2)


def _mc_other_axis(joint: Tensor) -> tuple[Tensor, Tensor]:
    joint = joint.double()
    p = joint.sum(0)  # p(x2), laid out along the columns
    return p, joint / p  # each column normalised: p(x1 | x2)


def _mc_rows_not_normalised(joint: Tensor) -> tuple[Tensor, Tensor]:
    joint = joint.double()
    return joint.sum(1), joint.clone()


def _mc_broadcast_columns(joint: Tensor) -> tuple[Tensor, Tensor]:
    joint = joint.double()
    p1 = joint.sum(1)
    return p1, joint / p1  # broadcasting divides column j by p1[j]


def _mc_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(3):
        k = int(rng.integers(3, 8))  # square, like two neighbouring pixels with the same grey levels
        joint = rng.dirichlet(np.full(k * k, 0.7)).reshape(k, k) + 1e-3
        cases.append(Case(torch.as_tensor(joint / joint.sum())))
    return cases


marginal_and_conditional = Exercise(
    chapter="01", name="marginal_and_conditional", reference=_mc_reference, make_cases=_mc_cases,
    hint="joint[i, j] = p(x1 = i, x2 = j). The marginal p(x1 = i) sums row i; the conditional p(x2 | x1 = i) "
         "is row i divided by p(x1 = i), so each row sums to one.",
    deeper_hint="p1 = joint.sum(dim=1); cond = joint / p1[:, None] (or keepdim=True).",
    wrong_answers=[
        WrongAnswer("other_axis", _mc_other_axis,
                    hint="You summed over x1 instead of x2: that gives p(x2), and dividing by it gives "
                         "p(x1 | x2). Rows index x1, so sum along dim=1.",
                    deeper_hint="joint.sum(dim=1) adds up each row: p(x1 = i) = sum_j p(x1 = i, x2 = j)."),
        WrongAnswer("rows_not_normalised", _mc_rows_not_normalised,
                    hint="Your conditional's rows do not sum to one: p(x2 | x1) = p(x1, x2) / p(x1), so "
                         "divide each row of the joint by its marginal.",
                    deeper_hint="cond = joint / p1[:, None]; then cond.sum(1) is all ones."),
        WrongAnswer("broadcast_columns", _mc_broadcast_columns,
                    hint="joint / p1 with p1 of shape (K,) divides each column, not each row (broadcasting "
                         "lines up the last dimension). Give p1 a column shape.",
                    deeper_hint="joint / p1[:, None], or p1 = joint.sum(1, keepdim=True)."),
    ],
)

# ---------------------------------------------------------------------------------------------------------
# 4. histogram_log_density(x_train, x_query, bins, range)
# ---------------------------------------------------------------------------------------------------------


def _hist_parts(x_train: Tensor, x_query: Tensor, bins: int, range: tuple[float, float]):
    lo, hi = float(range[0]), float(range[1])
    width = (hi - lo) / bins
    k_train = torch.floor((x_train.double() - lo) / width).long().clamp(0, bins - 1)
    counts = torch.bincount(k_train, minlength=bins).double()  # (bins,)
    xq = x_query.double()
    k = torch.floor((xq - lo) / width).long()
    inside = (xq >= lo) & (xq <= hi)
    return counts, k.clamp(0, bins - 1), inside, width


def _hist_reference(x_train: Tensor, x_query: Tensor, bins: int, range: tuple[float, float]) -> Tensor:
    counts, k, inside, width = _hist_parts(x_train, x_query, bins, range)
    logp = torch.log(counts[k] / (len(x_train) * width))
    return torch.where(inside, logp, torch.full_like(logp, -math.inf))


def _hist_no_width(x_train: Tensor, x_query: Tensor, bins: int, range: tuple[float, float]) -> Tensor:
    counts, k, inside, _ = _hist_parts(x_train, x_query, bins, range)
    logp = torch.log(counts[k] / len(x_train))
    return torch.where(inside, logp, torch.full_like(logp, -math.inf))


def _hist_clamped(x_train: Tensor, x_query: Tensor, bins: int, range: tuple[float, float]) -> Tensor:
    counts, k, _, width = _hist_parts(x_train, x_query, bins, range)
    return torch.log(counts[k] / (len(x_train) * width))


def _hist_epsilon(x_train: Tensor, x_query: Tensor, bins: int, range: tuple[float, float]) -> Tensor:
    counts, k, _, width = _hist_parts(x_train, x_query, bins, range)
    return torch.log(counts[k] / (len(x_train) * width) + 1e-9)  # finite everywhere


def _compare_histograms(got: Any, expected: Any, case: Case) -> str | None:
    """compare_values, except where the answer is -inf but ``expected`` is finite (a wrong answer that
    gives finite values there): any finite value matches at those entries, whatever epsilon or clamping
    the student used. Against the reference itself this is exactly compare_values."""
    answer = _hist_reference(*case.args)
    if isinstance(expected, Tensor) and isinstance(got, Tensor) and got.shape == expected.shape:
        wild = torch.isinf(answer) & torch.isfinite(expected)
        if wild.any():
            if not torch.isfinite(got[wild]).all():
                return "infinite where a finite value was expected"
            return compare_values(got[~wild], expected[~wild], 1e-4, 1e-6)
    return compare_values(got, expected, 1e-4, 1e-6)


def _hist_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(3):
        bins = int(rng.integers(5, 12))
        width = float(rng.choice([rng.uniform(0.1, 0.6), rng.uniform(1.5, 3.0)]))
        lo = float(rng.uniform(-5, 0))
        hi = lo + bins * width
        occupied = rng.choice(np.arange(1, bins - 1), size=max(1, (bins - 2) // 2), replace=False)
        empty = np.setdiff1d(np.arange(1, bins - 1), occupied)
        # training points fill both edge bins and about half of the others
        pick = np.concatenate([[0, bins - 1], rng.choice(np.concatenate([[0, bins - 1], occupied]),
                                                         size=int(rng.integers(20, 50)))])
        x_train = lo + (pick + rng.uniform(0.02, 0.98, size=len(pick))) * width
        # queries: anywhere, plus one in an empty bin, one below the range and one above it
        x_query = np.concatenate([
            rng.uniform(lo - width, hi + width, size=int(rng.integers(10, 20))),
            [lo + (rng.choice(empty) + 0.5) * width, lo - rng.uniform(0.1, 1.0) * width,
             hi + rng.uniform(0.1, 1.0) * width],
        ])
        cases.append(Case(torch.as_tensor(rng.permutation(x_train)),
                          torch.as_tensor(rng.permutation(x_query)), bins, (lo, hi)))
    return cases


histogram_log_density = Exercise(
    chapter="01", name="histogram_log_density", reference=_hist_reference, make_cases=_hist_cases,
    compare=_compare_histograms,
    hint="A histogram density is (points in the query's bin) / (N x bin width): a probability per unit "
         "length. It is 0 (log-density -inf) in an empty bin and outside the range.",
    deeper_hint="width = (hi - lo) / bins; k = floor((x - lo) / width); log(counts[k] / (N * width)); "
                "then torch.where(inside, ..., -inf).",
    wrong_answers=[
        WrongAnswer("forgot_bin_width", _hist_no_width,
                    hint="You returned the log of the probability of the bin, not of the density: divide by "
                         "the bin width, so the density integrates to one over x.",
                    deeper_hint="density = counts[k] / (N * width), with width = (hi - lo) / bins."),
        WrongAnswer("out_of_range_clamped", _hist_clamped,
                    hint="Queries outside the range got the density of the edge bin. Outside [lo, hi] the "
                         "histogram puts no mass at all: their log-density is -inf.",
                    deeper_hint="inside = (x >= lo) & (x <= hi); torch.where(inside, logp, "
                                "torch.full_like(logp, -inf))."),
        WrongAnswer("not_minus_inf", _hist_epsilon,
                    hint="Your log-density is finite where the histogram has no mass (an empty bin, or "
                         "outside the range). A histogram says such points are impossible: log 0 = -inf, and "
                         "that is the honest answer (chapter 02 deals with its consequences).",
                    deeper_hint="Don't add a small epsilon inside the log and don't clamp bin indices: "
                                "torch.log(torch.tensor(0.)) is -inf, which is what is asked."),
    ],
)

# ---------------------------------------------------------------------------------------------------------
# 5. kde_log_density(x_train, x_query, bandwidth)
# ---------------------------------------------------------------------------------------------------------


def _kde_log_kernels(x_train: Tensor, x_query: Tensor, bandwidth: float) -> Tensor:
    diff = x_query.double()[:, None, :] - x_train.double()[None, :, :]  # (M, N, D)
    return -diff.square().sum(-1) / (2 * bandwidth**2)  # (M, N), without the normaliser


def _kde_log_norm(x_train: Tensor, bandwidth: float) -> float:
    return 0.5 * x_train.shape[1] * math.log(2 * math.pi * bandwidth**2)


def _kde_reference(x_train: Tensor, x_query: Tensor, bandwidth: float) -> Tensor:
    log_k = _kde_log_kernels(x_train, x_query, bandwidth)
    return torch.logsumexp(log_k, 1) - math.log(len(x_train)) - _kde_log_norm(x_train, bandwidth)


def _kde_no_normaliser(x_train: Tensor, x_query: Tensor, bandwidth: float) -> Tensor:
    return torch.logsumexp(_kde_log_kernels(x_train, x_query, bandwidth), 1) - math.log(len(x_train))


def _kde_mean_of_logs(x_train: Tensor, x_query: Tensor, bandwidth: float) -> Tensor:
    return _kde_log_kernels(x_train, x_query, bandwidth).mean(1) - _kde_log_norm(x_train, bandwidth)


def _kde_naive_exp(x_train: Tensor, x_query: Tensor, bandwidth: float) -> Tensor:
    kernels = torch.exp(_kde_log_kernels(x_train, x_query, bandwidth) - _kde_log_norm(x_train, bandwidth))
    return torch.log(kernels.mean(1))


def _kde_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(3):
        d = int(rng.integers(1, 4))
        h = float(rng.uniform(0.05, 0.25))  # 2 pi h^2 stays well away from 1
        x_train = rng.uniform(-1, 1, size=(int(rng.integers(15, 40)), d))
        near = x_train[rng.integers(0, len(x_train), size=int(rng.integers(5, 10)))]
        near = near + rng.normal(scale=h, size=near.shape)
        # far queries: every kernel is below exp(-1500), so exp underflows to 0 even in float64
        direction = rng.normal(size=(3, d))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        far = direction * (2 * math.sqrt(d) + 60 * h)
        x_query = rng.permutation(np.concatenate([near, far]))
        cases.append(Case(torch.as_tensor(x_train, dtype=torch.float32),
                          torch.as_tensor(x_query, dtype=torch.float32), h))
    return cases


kde_log_density = Exercise(
    chapter="01", name="kde_log_density", reference=_kde_reference, make_cases=_kde_cases,
    rtol=1e-4, atol=2e-3,  # float32 inputs; distances by cdist are good to about 1e-5
    hint="log p(x) = log (1/N) sum_i N(x; x_i, h^2 I). Work with log-kernels -|x - x_i|^2 / (2h^2) and "
         "combine them by log-sum-exp; then subtract log N and the Gaussian's normaliser "
         "(D/2) log(2 pi h^2).",
    deeper_hint="sq = torch.cdist(x_query, x_train) ** 2; torch.logsumexp(-sq / (2 * h**2), dim=1) "
                "- math.log(N) - 0.5 * D * math.log(2 * math.pi * h**2).",
    wrong_answers=[
        WrongAnswer("missing_normaliser", _kde_no_normaliser,
                    hint="Your kernels are not densities: a Gaussian in D dimensions carries the factor "
                         "(2 pi h^2)^(-D/2), without which the estimate does not integrate to one.",
                    deeper_hint="Subtract 0.5 * D * math.log(2 * math.pi * h**2), with "
                                "D = x_train.shape[1]."),
        WrongAnswer("mean_of_logs", _kde_mean_of_logs,
                    hint="You averaged the log-kernels; the KDE averages the kernels and then takes the log. "
                         "The log of a mean is not the mean of the logs.",
                    deeper_hint="mean_i k_i in log space is logsumexp_i(log k_i) - log N."),
        WrongAnswer("naive_exp", _kde_naive_exp,
                    hint="For points far from the data (or small bandwidths) every exp(-|x - x_i|^2 / 2h^2) "
                         "underflows to 0 and log gives -inf. Stay in log space with torch.logsumexp.",
                    deeper_hint="torch.logsumexp(log_kernels, dim=1) subtracts the largest term before "
                                "exponentiating, so at least one term is exp(0) = 1."),
    ],
)

# ---------------------------------------------------------------------------------------------------------
# 6. a generative classifier: fit_class_gaussians(X, y) and posterior(X, params)
# ---------------------------------------------------------------------------------------------------------


def _gauss_log_pdf(x: Tensor, mean: Tensor, cov: Tensor) -> Tensor:
    """x (M, D); mean (C, D); cov (C, D, D) -> (M, C)."""
    dist = torch.distributions.MultivariateNormal(mean, covariance_matrix=cov)
    return dist.log_prob(x[:, None, :])


def _fit(X: Tensor, y: Tensor, shared: bool = False, correction: int = 0) -> dict[str, Tensor]:
    X = X.double()
    classes = int(y.max()) + 1
    prior = torch.bincount(y, minlength=classes).double() / len(y)
    mean = torch.stack([X[y == c].mean(0) for c in range(classes)])  # (C, D)
    cov = torch.stack([torch.cov(X[y == c].T, correction=correction) for c in range(classes)])  # (C, D, D)
    if shared:
        scatter = sum((X[y == c] - mean[c]).T @ (X[y == c] - mean[c]) for c in range(classes))
        cov = (scatter / len(X)).expand(classes, -1, -1).clone()
    return {"prior": prior, "mean": mean, "cov": cov}


def _posterior(X: Tensor, params: dict[str, Tensor], use_prior: bool = True) -> Tensor:
    log_joint = _gauss_log_pdf(X.double(), params["mean"], params["cov"])  # (M, C)
    if use_prior:
        log_joint = log_joint + params["prior"].log()
    return torch.softmax(log_joint, dim=1)


def _gc_reference(X: Tensor, y: Tensor, X_query: Tensor) -> Tensor:
    return _posterior(X_query, _fit(X, y))


def _gc_no_prior(X: Tensor, y: Tensor, X_query: Tensor) -> Tensor:
    return _posterior(X_query, _fit(X, y), use_prior=False)


def _gc_shared(X: Tensor, y: Tensor, X_query: Tensor) -> Tensor:
    return _posterior(X_query, _fit(X, y, shared=True))


def _gc_unbiased(X: Tensor, y: Tensor, X_query: Tensor) -> Tensor:
    return _posterior(X_query, _fit(X, y, correction=1))


def _gc_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(3):
        classes = int(rng.integers(2, 4))
        # one small class and larger ones: the priors differ clearly
        sizes = rng.permutation([int(rng.integers(8, 15))] + [int(rng.integers(30, 60))] * (classes - 1))
        xs, ys, means = [], [], []
        for c, n in enumerate(sizes):
            mean = rng.normal(scale=1.0, size=2)  # overlapping classes, so the posteriors are not all 0 or 1
            a = rng.normal(size=(2, 2)) * rng.uniform(0.5, 1.2)
            xs.append(mean + rng.normal(size=(n, 2)) @ a.T)
            ys.append(np.full(n, c))
            means.append(mean)
        X, y = np.concatenate(xs), np.concatenate(ys)
        order = rng.permutation(len(X))
        # queries between the class means, where the classes compete
        w = rng.dirichlet(np.ones(classes), size=int(rng.integers(10, 20)))
        X_query = w @ np.array(means) + rng.normal(scale=0.5, size=(len(w), 2))
        cases.append(Case(torch.as_tensor(X[order], dtype=torch.float32), torch.as_tensor(y[order]),
                          torch.as_tensor(X_query, dtype=torch.float32)))
    return cases


class _ClassifierExercise(Exercise):
    """Checks two functions as one: ``check.ch01.generative_classifier(classifier(fit, posterior))``, or
    ``check.ch01.generative_classifier(fit, posterior)``."""

    def __call__(self, fit: Any, posterior: Any = None, hint: int = 1) -> None:  # type: ignore[override]
        super().__call__(fit if posterior is None else classifier(fit, posterior), hint=hint)


def classifier(fit: Any, posterior: Any) -> Any:
    """One function ``classify(X, y, X_query) = posterior(X_query, fit(X, y))``, the form the check calls.

    Name the result ``generative_classifier`` in the notebook, so the grader finds it like any other answer.
    """
    if not callable(fit) or not callable(posterior):
        return fit if not callable(fit) else posterior  # the machinery explains what it received

    def classify(X: Tensor, y: Tensor, X_query: Tensor) -> Tensor:
        return posterior(X_query, fit(X, y))

    return classify


generative_classifier = _ClassifierExercise(
    chapter="01", name="generative_classifier", reference=_gc_reference, make_cases=_gc_cases,
    rtol=1e-4, atol=1e-5,
    hint="Fit each class by maximum likelihood (its share of the data, its mean, its own covariance dividing "
         "by N_c); then Bayes' rule: p(y=c | x) is proportional to p(y=c) N(x; mu_c, Sigma_c), normalised "
         "over the classes.",
    deeper_hint="log_joint = MultivariateNormal(mean, covariance_matrix=cov).log_prob(X[:, None, :]) "
                "+ prior.log(); torch.softmax(log_joint, dim=1).",
    wrong_answers=[
        WrongAnswer("prior_left_out", _gc_no_prior,
                    hint="Your posterior ignores how common each class is. Bayes' rule multiplies the "
                         "likelihood p(x | y=c) by the prior p(y=c) before normalising.",
                    deeper_hint="Add params['prior'].log() to the log-likelihoods before the softmax."),
        WrongAnswer("shared_covariance", _gc_shared,
                    hint="You pooled one covariance for all classes (that is linear discriminant analysis). "
                         "Here each class gets its own covariance, estimated from its own points only.",
                    deeper_hint="cov[c] = (Xc - mu_c).T @ (Xc - mu_c) / N_c with Xc = X[y == c]."),
        WrongAnswer("unbiased_covariance", _gc_unbiased,
                    hint="Your covariances divide by N_c - 1 (torch.cov's default). The maximum-likelihood "
                         "estimate divides by N_c.",
                    deeper_hint="torch.cov(Xc.T, correction=0), or (Xc - mu_c).T @ (Xc - mu_c) / N_c."),
    ],
)
