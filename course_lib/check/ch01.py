"""Checks for chapter 01: data distributions.

Eight exercises, from warm-ups to derivations: (warm-ups) an empirical pmf, marginal and conditional of a joint
table, inverse-CDF sampling of a categorical; the Laplace distribution's inverse CDF (derived); a histogram
with bins of unequal width; the leave-one-out log-likelihood of a Gaussian KDE; the conditional of a Gaussian
(derived); a generative classifier. Each lists its typical wrong answers as code beside the reference, so a
student who makes one of them gets the hint written for it.
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
from course_lib.distributions import KDE, Histogram

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
    name="empirical_pmf", reference=_pmf_reference, make_cases=_pmf_cases,
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
    name="sample_categorical", reference=_sample_reference, make_cases=_sample_cases,
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
    name="marginal_and_conditional", reference=_mc_reference, make_cases=_mc_cases,
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
# 4. laplace_inverse_cdf(u, loc, scale): derived on paper, then implemented
# ---------------------------------------------------------------------------------------------------------


def _laplace_reference(u: Tensor, loc: float, scale: float) -> Tensor:
    # F(x) = exp((x - loc) / b) / 2 below loc, 1 - exp(-(x - loc) / b) / 2 above it; solved for x
    u = u.double()
    below = loc + scale * torch.log(2 * u)
    above = loc - scale * torch.log(2 * (1 - u))
    return torch.where(u < 0.5, below, above)


def _laplace_exponential(u: Tensor, loc: float, scale: float) -> Tensor:
    return loc - scale * torch.log1p(-u.double())  # the exponential's inverse CDF, shifted: one side only


def _laplace_no_half(u: Tensor, loc: float, scale: float) -> Tensor:
    u = u.double()  # the CDF taken as exp((x - loc) / b) below loc: without its factor 1/2
    return torch.where(u < 0.5, loc + scale * torch.log(u), loc - scale * torch.log(1 - u))


def _laplace_rate(u: Tensor, loc: float, scale: float) -> Tensor:
    return loc + (_laplace_reference(u, 0.0, 1.0)) / scale  # b read as a rate 1/b


def _laplace_decreasing(u: Tensor, loc: float, scale: float) -> Tensor:
    return 2 * loc - _laplace_reference(u, loc, scale)  # the same distribution, but a decreasing map of u


def _laplace_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(3):
        u = np.concatenate([rng.uniform(0.001, 0.999, size=int(rng.integers(10, 20))),
                            [0.5, 0.25, 0.75, 1e-6, 1 - 1e-6]])
        scale = float(rng.choice([rng.uniform(0.2, 0.7), rng.uniform(1.5, 4.0)]))  # never 1: rate != scale
        cases.append(Case(torch.as_tensor(rng.permutation(u)), float(rng.uniform(-3, 3)), scale))
    return cases


laplace_inverse_cdf = Exercise(
    name="laplace_inverse_cdf", reference=_laplace_reference, make_cases=_laplace_cases,
    forbidden=(torch.distributions.Laplace.icdf,),
    rtol=1e-6, atol=1e-6,
    hint="Integrate the density (1 / 2b) exp(-|x - loc| / b) to get the CDF F(x), separately for x below "
         "and above loc; then solve u = F(x) for x on each side. Which side does u < 1/2 belong to?",
    deeper_hint="Below loc, F(x) = exp((x - loc) / b) / 2, so F(loc) = 1/2; invert that for u < 1/2, and the "
                "other branch for u >= 1/2; torch.where(u < 0.5, ..., ...) picks the branch.",
    wrong_answers=[
        WrongAnswer("exponential_one_side", _laplace_exponential,
                    hint="Your samples never fall below loc: that is the exponential's inverse CDF, shifted. "
                         "The Laplace density has two tails, so its CDF has two pieces and so does its inverse.",
                    deeper_hint="Split at F(loc) = 1/2: u < 1/2 gives x < loc, u >= 1/2 gives x >= loc."),
        WrongAnswer("cdf_without_half", _laplace_no_half,
                    hint="Your inverse comes from a CDF that reaches 1 at loc already: each tail of the "
                         "Laplace density holds only half of the mass, so each piece of F carries a factor 1/2.",
                    deeper_hint="Below loc, F(x) = (1/2) exp((x - loc) / b); solving u = F(x) gives a log(2u)."),
        WrongAnswer("scale_as_rate", _laplace_rate,
                    hint="Your spread goes the wrong way as the scale grows: b is a scale (a length, in the "
                         "units of x), so it multiplies the logarithm; it is not a rate that divides it.",
                    deeper_hint="p(x) = (1 / 2b) exp(-|x - loc| / b): x - loc appears divided by b, so solving "
                                "for x multiplies by b."),
        WrongAnswer("decreasing_in_u", _laplace_decreasing,
                    hint="Your samples have the right distribution, but they decrease as u grows: the inverse "
                         "CDF is increasing (small u gives values below loc). The check compares values on "
                         "given uniforms, so the map itself must be F^-1.",
                    deeper_hint="Check the sign of each branch at u = 0.25: F^-1(0.25) must be below loc."),
    ],
)

# ---------------------------------------------------------------------------------------------------------
# 5. histogram_log_density(x_train, x_query, edges): bins of unequal width
# ---------------------------------------------------------------------------------------------------------


def _bin_index(x: Tensor, edges: Tensor) -> tuple[Tensor, Tensor]:
    """The one bin formula, used for counting and for look-ups alike: bin k is [e_k, e_k+1), the last bin
    also holds e_B. Returns (index clamped into 0..B-1, inside [e_0, e_B])."""
    edges = edges.double()
    x = x.double()
    k = torch.searchsorted(edges, x, right=True) - 1
    k = torch.where(x == edges[-1], torch.full_like(k, len(edges) - 2), k)
    inside = (x >= edges[0]) & (x <= edges[-1])
    return k.clamp(0, len(edges) - 2), inside


def _hist_log_p(counts: Tensor, k: Tensor, widths: Tensor, n: int) -> Tensor:
    return torch.log(counts[k] / (n * widths[k]))  # log 0 = -inf in an empty bin


def _hist_reference(x_train: Tensor, x_query: Tensor, edges: Tensor) -> Tensor:
    bins = len(edges) - 1
    counts = torch.bincount(_bin_index(x_train, edges)[0], minlength=bins).double()  # (B,)
    k, inside = _bin_index(x_query, edges)
    log_p = _hist_log_p(counts, k, torch.diff(edges.double()), len(x_train))
    return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))


def _hist_no_width(x_train: Tensor, x_query: Tensor, edges: Tensor) -> Tensor:
    ones = torch.ones(len(edges) - 1, dtype=torch.float64)
    counts = torch.bincount(_bin_index(x_train, edges)[0], minlength=len(edges) - 1).double()
    k, inside = _bin_index(x_query, edges)
    log_p = _hist_log_p(counts, k, ones, len(x_train))
    return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))


def _hist_mean_width(x_train: Tensor, x_query: Tensor, edges: Tensor) -> Tensor:
    bins = len(edges) - 1
    mean_width = torch.full((bins,), float(edges[-1] - edges[0]) / bins, dtype=torch.float64)
    counts = torch.bincount(_bin_index(x_train, edges)[0], minlength=bins).double()
    k, inside = _bin_index(x_query, edges)
    log_p = _hist_log_p(counts, k, mean_width, len(x_train))
    return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))


def _hist_clamped(x_train: Tensor, x_query: Tensor, edges: Tensor) -> Tensor:
    counts = torch.bincount(_bin_index(x_train, edges)[0], minlength=len(edges) - 1).double()
    k, _ = _bin_index(x_query, edges)
    return _hist_log_p(counts, k, torch.diff(edges.double()), len(x_train))


def _hist_epsilon(x_train: Tensor, x_query: Tensor, edges: Tensor) -> Tensor:
    counts = torch.bincount(_bin_index(x_train, edges)[0], minlength=len(edges) - 1).double()
    k, _ = _bin_index(x_query, edges)
    return torch.log(counts[k] / (len(x_train) * torch.diff(edges.double())[k]) + 1e-9)  # finite everywhere


def _hist_left_side(x_train: Tensor, x_query: Tensor, edges: Tensor) -> Tensor:
    """A point exactly on an inner edge goes to the bin on its left (searchsorted's default side)."""
    def index(x: Tensor) -> Tensor:
        return (torch.searchsorted(edges.double(), x.double()) - 1).clamp(0, len(edges) - 2)

    counts = torch.bincount(index(x_train), minlength=len(edges) - 1).double()
    log_p = _hist_log_p(counts, index(x_query), torch.diff(edges.double()), len(x_train))
    inside = (x_query >= edges[0]) & (x_query <= edges[-1])
    return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))


def _hist_two_formulas(x_train: Tensor, x_query: Tensor, edges: Tensor) -> Tensor:
    """Counts by torch.histogram in float32, look-ups in float64: the two disagree next to an edge."""
    counts = torch.histogram(x_train.float(), bins=edges.float()).hist.double()
    k, inside = _bin_index(x_query, edges)
    log_p = _hist_log_p(counts, k, torch.diff(edges.double()), len(x_train))
    return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))


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
        bins = int(rng.integers(5, 10))
        widths = rng.uniform(0.2, 2.0, size=bins)  # unequal widths
        edges = float(rng.uniform(-5, 0)) + np.concatenate([[0.0], np.cumsum(widths)])
        occupied = rng.choice(np.arange(1, bins - 1), size=max(1, (bins - 2) // 2), replace=False)
        empty = np.setdiff1d(np.arange(1, bins - 1), occupied)
        # training points fill both edge bins and about half of the others, one sits exactly on an inner
        # edge (it belongs to the bin on its right) and one just below an inner edge, where float32 rounding
        # would move it into the next bin
        pick = np.concatenate([[0, bins - 1], rng.choice(np.concatenate([[0, bins - 1], occupied]),
                                                         size=int(rng.integers(20, 40)))])
        x_train = edges[pick] + rng.uniform(0.02, 0.98, size=len(pick)) * widths[pick]
        on_edge = edges[occupied[0]]
        below_edge = np.nextafter(float(np.float32(edges[empty[0]])), -np.inf)  # float32(it) rounds up
        edges[empty[0]] = float(np.float32(edges[empty[0]]))  # an edge exactly representable in float32
        edges_t = torch.as_tensor(edges)
        x_train = np.concatenate([x_train, [on_edge, below_edge]])
        # queries: anywhere, in an empty bin, below and above the range, on an inner edge, on the last edge,
        # and every training point (each has at least itself in its bin)
        x_query = np.concatenate([
            rng.uniform(edges[0] - 1, edges[-1] + 1, size=int(rng.integers(10, 20))),
            [edges[empty[-1]] + 0.5 * widths[empty[-1]], edges[0] - rng.uniform(0.1, 1.0),
             edges[-1] + rng.uniform(0.1, 1.0), edges[occupied[-1]], edges[-1]],
            x_train,
        ])
        cases.append(Case(torch.as_tensor(rng.permutation(x_train)), torch.as_tensor(rng.permutation(x_query)),
                          edges_t))
    # equal bins of width 0.1 on [0, 1]: in float32, 0.3 and 0.7 land in the bin above the float64 one
    points = torch.tensor([0.3, 0.7, 0.9], dtype=torch.float64)
    cases.append(Case(points, torch.cat([points, torch.tensor([0.05, 0.35, 1.0, 1.2])]),
                      torch.linspace(0, 1, 11, dtype=torch.float64)))
    return cases


histogram_log_density = Exercise(
    name="histogram_log_density", reference=_hist_reference, make_cases=_hist_cases,
    forbidden=(Histogram,),
    compare=_compare_histograms,
    hint="A histogram density is (training points in the query's bin) / (N x that bin's width): a probability "
         "per unit length. It is 0 (log-density -inf) in an empty bin and outside [edges[0], edges[-1]]. "
         "Find a point's bin the same way when you count and when you look up.",
    deeper_hint="torch.searchsorted(edges, x, right=True) - 1 is the bin of x (mind the last edge); "
                "torch.bincount counts; torch.diff(edges) gives every bin's width.",
    wrong_answers=[
        WrongAnswer("forgot_bin_width", _hist_no_width,
                    hint="You returned the log of the probability of the bin, not of the density: divide by "
                         "the bin's width, so the density integrates to one over x.",
                    deeper_hint="density = counts[k] / (N * width[k]), with width = torch.diff(edges)."),
        WrongAnswer("one_width_for_all", _hist_mean_width,
                    hint="You divided every bin by the same width, (edges[-1] - edges[0]) / bins; here the bins "
                         "have different widths, and a wide bin spreads its points thinner.",
                    deeper_hint="width = torch.diff(edges) holds one width per bin; use width[k]."),
        WrongAnswer("out_of_range_clamped", _hist_clamped,
                    hint="Queries outside the range got the density of the edge bin. Outside "
                         "[edges[0], edges[-1]] the histogram puts no mass at all: their log-density is -inf.",
                    deeper_hint="inside = (x >= edges[0]) & (x <= edges[-1]); torch.where(inside, logp, "
                                "torch.full_like(logp, -inf))."),
        WrongAnswer("not_minus_inf", _hist_epsilon,
                    hint="Your log-density is finite where the histogram has no mass (an empty bin, or "
                         "outside the range). A histogram says such points are impossible: log 0 = -inf, and "
                         "that is the honest answer (chapter 02 deals with its consequences).",
                    deeper_hint="Don't add a small epsilon inside the log and don't clamp bin indices: "
                                "torch.log(torch.tensor(0.)) is -inf, which is what is asked."),
        WrongAnswer("edge_goes_left", _hist_left_side,
                    hint="A point exactly on an inner edge e_k belongs to bin k = [e_k, e_k+1), the bin on "
                         "its right; yours put it in the bin on its left.",
                    deeper_hint="torch.searchsorted(edges, x) finds the first edge >= x; you want the first "
                                "edge > x, which is right=True, minus one."),
        WrongAnswer("two_bin_formulas", _hist_two_formulas,
                    hint="A training point got log-density -inf, though its own bin cannot be empty: you count "
                         "with one bin formula (or precision) and look queries up with another, and the two "
                         "disagree next to an edge. Write one function that finds the bin, and use it twice.",
                    deeper_hint="torch.histogram / torch.histc on float32 copies and a float64 look-up round "
                                "differently; compute the bin index of x_train and x_query with the same code, "
                                "in the same dtype."),
    ],
)

# ---------------------------------------------------------------------------------------------------------
# 6. kde_loo_log_likelihood(x_train, bandwidth): each point scored by the KDE of all the others
# ---------------------------------------------------------------------------------------------------------


def _kde_log_kernels(x_train: Tensor, bandwidth: float) -> Tensor:
    x = x_train.double()
    diff = x[:, None, :] - x[None, :, :]  # (N, N, D)
    return -diff.square().sum(-1) / (2 * bandwidth**2)  # (N, N), without the normaliser


def _kde_log_norm(x_train: Tensor, bandwidth: float) -> float:
    return 0.5 * x_train.shape[1] * math.log(2 * math.pi * bandwidth**2)


def _without_self(log_k: Tensor) -> Tensor:
    return log_k.masked_fill(torch.eye(len(log_k), dtype=torch.bool), -math.inf)


def _loo_reference(x_train: Tensor, bandwidth: float) -> Tensor:
    log_k = _without_self(_kde_log_kernels(x_train, bandwidth))
    return torch.logsumexp(log_k, 1) - math.log(len(x_train) - 1) - _kde_log_norm(x_train, bandwidth)


def _loo_self_included(x_train: Tensor, bandwidth: float) -> Tensor:
    log_k = _kde_log_kernels(x_train, bandwidth)  # the plain KDE at its own training points
    return torch.logsumexp(log_k, 1) - math.log(len(x_train)) - _kde_log_norm(x_train, bandwidth)


def _loo_divide_by_n(x_train: Tensor, bandwidth: float) -> Tensor:
    log_k = _without_self(_kde_log_kernels(x_train, bandwidth))
    return torch.logsumexp(log_k, 1) - math.log(len(x_train)) - _kde_log_norm(x_train, bandwidth)


def _loo_no_normaliser(x_train: Tensor, bandwidth: float) -> Tensor:
    log_k = _without_self(_kde_log_kernels(x_train, bandwidth))
    return torch.logsumexp(log_k, 1) - math.log(len(x_train) - 1)


def _loo_naive_exp(x_train: Tensor, bandwidth: float) -> Tensor:
    kernels = torch.exp(_without_self(_kde_log_kernels(x_train, bandwidth)) - _kde_log_norm(x_train, bandwidth))
    return torch.log(kernels.sum(1) / (len(x_train) - 1))


def _loo_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for h in (float(rng.uniform(0.03, 0.1)), float(rng.uniform(0.1, 0.25)), float(rng.uniform(0.3, 0.6))):
        d = int(rng.integers(1, 4))
        cloud = rng.uniform(-1, 1, size=(int(rng.integers(15, 40)), d))
        # one point far from the others: each kernel at it is below exp(-1500), so exp underflows to 0
        direction = rng.normal(size=d)
        outlier = direction / np.linalg.norm(direction) * (2 * math.sqrt(d) + 60 * h)
        x_train = rng.permutation(np.concatenate([cloud, outlier[None]]))
        cases.append(Case(torch.as_tensor(x_train, dtype=torch.float32), h))
    return cases


kde_loo_log_likelihood = Exercise(
    name="kde_loo_log_likelihood", reference=_loo_reference, make_cases=_loo_cases,
    forbidden=(KDE,),
    rtol=1e-4, atol=2e-3,  # float32 inputs; squared distances are good to about 1e-5
    hint="Point i is scored by the KDE built from the other N - 1 points: its own kernel (which sits exactly on "
         "it) is left out of the sum, and the average runs over N - 1 kernels. Stay in log space.",
    deeper_hint="Set the diagonal of the (N, N) log-kernel matrix to -inf (masked_fill with torch.eye), then "
                "torch.logsumexp over the other points, - log(N - 1), - (D/2) log(2 pi h^2).",
    wrong_answers=[
        WrongAnswer("own_kernel_included", _loo_self_included,
                    hint="Your score includes each point's own kernel, which sits exactly on it: that is the "
                         "training log-likelihood, and it grows without limit as h shrinks. Leave the point out "
                         "of its own estimate.",
                    deeper_hint="The diagonal of the (N, N) matrix of log-kernels is the point with itself: set "
                                "it to -inf before the log-sum-exp."),
        WrongAnswer("divided_by_n", _loo_divide_by_n,
                    hint="You left the point out but still averaged over N kernels: the estimate without point i "
                         "is a mixture of N - 1 kernels, with weights 1 / (N - 1), or it does not integrate to one.",
                    deeper_hint="Subtract log(N - 1), not log(N)."),
        WrongAnswer("missing_normaliser", _loo_no_normaliser,
                    hint="Your kernels are not densities: a Gaussian in D dimensions carries the factor "
                         "(2 pi h^2)^(-D/2), without which the estimate does not integrate to one.",
                    deeper_hint="Subtract 0.5 * D * math.log(2 * math.pi * h**2), with D = x_train.shape[1]."),
        WrongAnswer("naive_exp", _loo_naive_exp,
                    hint="For a point far from all the others every kernel exp(-|x - x_j|^2 / 2h^2) underflows "
                         "to 0 and log gives -inf. Stay in log space with torch.logsumexp.",
                    deeper_hint="torch.logsumexp(log_kernels, dim=1) subtracts the largest term before "
                                "exponentiating, so at least one term is exp(0) = 1."),
    ],
)

# ---------------------------------------------------------------------------------------------------------
# 7. gaussian_conditional(mean, cov, x_a): derived on paper, then implemented
# ---------------------------------------------------------------------------------------------------------


def _blocks(mean: Tensor, cov: Tensor, x_a: Tensor):
    a = x_a.shape[1]
    mean, cov, x_a = mean.double(), cov.double(), x_a.double()
    return mean[:a], mean[a:], cov[:a, :a], cov[:a, a:], cov[a:, a:], x_a


def _conditional_reference(mean: Tensor, cov: Tensor, x_a: Tensor) -> tuple[Tensor, Tensor]:
    mu_a, mu_b, s_aa, s_ab, s_bb, x_a = _blocks(mean, cov, x_a)
    gain = torch.linalg.solve(s_aa, s_ab)  # (A, B): S_aa^-1 S_ab
    return mu_b + (x_a - mu_a) @ gain, s_bb - s_ab.T @ gain  # (M, B), (B, B)


def _conditional_marginal(mean: Tensor, cov: Tensor, x_a: Tensor) -> tuple[Tensor, Tensor]:
    _, mu_b, _, _, s_bb, x_a = _blocks(mean, cov, x_a)
    return mu_b.expand(len(x_a), -1).clone(), s_bb


def _conditional_plus(mean: Tensor, cov: Tensor, x_a: Tensor) -> tuple[Tensor, Tensor]:
    mu, _ = _conditional_reference(mean, cov, x_a)
    _, _, s_aa, s_ab, s_bb, _ = _blocks(mean, cov, x_a)
    return mu, s_bb + s_ab.T @ torch.linalg.solve(s_aa, s_ab)


def _conditional_not_centred(mean: Tensor, cov: Tensor, x_a: Tensor) -> tuple[Tensor, Tensor]:
    _, cond_cov = _conditional_reference(mean, cov, x_a)
    _, mu_b, s_aa, s_ab, _, x_a = _blocks(mean, cov, x_a)
    return mu_b + x_a @ torch.linalg.solve(s_aa, s_ab), cond_cov


def _conditional_precision(mean: Tensor, cov: Tensor, x_a: Tensor) -> tuple[Tensor, Tensor]:
    mu, _ = _conditional_reference(mean, cov, x_a)
    a = x_a.shape[1]
    return mu, torch.linalg.inv(cov.double())[a:, a:]  # the precision block, not its inverse


def _conditional_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for d, a in ((2, 1), (3, int(rng.integers(1, 3))), (4, int(rng.integers(1, 4)))):
        factor = rng.normal(size=(d, d))
        cov = factor @ factor.T + 0.3 * np.eye(d)  # correlated, well conditioned
        mean = rng.uniform(1, 3, size=d) * rng.choice([-1, 1], size=d)  # far from 0
        x_a = mean[:a] + rng.normal(scale=1.5, size=(int(rng.integers(3, 8)), a))
        cases.append(Case(torch.as_tensor(mean), torch.as_tensor(cov), torch.as_tensor(x_a)))
    return cases


gaussian_conditional = Exercise(
    name="gaussian_conditional", reference=_conditional_reference, make_cases=_conditional_cases,
    rtol=1e-5, atol=1e-7,
    hint="Fix x_a in the joint density and look at it as a function of x_b alone: the exponent is a quadratic "
         "in x_b, so p(x_b | x_a) is Gaussian; complete the square (do D = 2 first, with numbers). Knowing x_a "
         "shifts the mean of x_b and can only shrink its spread.",
    deeper_hint="For D = 2: mean mu_2 + (S_12 / S_11)(x_1 - mu_1), variance S_22 - S_12^2 / S_11. In blocks, "
                "every division by S_11 becomes torch.linalg.solve(S_aa, ...).",
    wrong_answers=[
        WrongAnswer("marginal", _conditional_marginal,
                    hint="You returned the marginal of x_b, (mu_b, S_bb): it ignores the observed x_a. When the "
                         "coordinates are correlated, knowing x_a moves the mean of x_b and narrows it.",
                    deeper_hint="The conditional mean depends on x_a through S_ba S_aa^-1 (x_a - mu_a)."),
        WrongAnswer("schur_plus", _conditional_plus,
                    hint="Your conditional covariance is larger than the marginal one: observing x_a adds "
                         "information, so the spread of x_b can only shrink. Check the sign of the correction.",
                    deeper_hint="S_bb minus S_ba S_aa^-1 S_ab (the Schur complement)."),
        WrongAnswer("not_centred", _conditional_not_centred,
                    hint="Your mean moves with x_a itself, not with how far x_a is from its own mean: at "
                         "x_a = mu_a the conditional mean must be mu_b.",
                    deeper_hint="Use (x_a - mu_a), not x_a, in the mean's correction."),
        WrongAnswer("precision_block", _conditional_precision,
                    hint="Your covariance is the lower-right block of the precision matrix inv(cov). The "
                         "conditional's precision is that block, so its covariance is the block's inverse.",
                    deeper_hint="inv(inv(cov)[b, b]) equals S_bb - S_ba S_aa^-1 S_ab; either form works."),
    ],
)

# ---------------------------------------------------------------------------------------------------------
# 8. a generative classifier: fit_class_gaussians(X, y) and posterior(X, params)
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
    # atleast_2d: for D = 1, torch.cov returns a 0-d tensor, and MultivariateNormal needs (D, D)
    cov = torch.stack([torch.atleast_2d(torch.cov(X[y == c].T, correction=correction))
                       for c in range(classes)])  # (C, D, D)
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
    for d in (2, 2, 1):  # D = 1 too: one feature is a valid input
        classes = int(rng.integers(2, 4))
        # one small class and larger ones: the priors differ clearly
        sizes = rng.permutation([int(rng.integers(8, 15))] + [int(rng.integers(30, 60))] * (classes - 1))
        xs, ys, means = [], [], []
        for c, n in enumerate(sizes):
            mean = rng.normal(scale=1.0, size=d)  # overlapping classes, so the posteriors are not all 0 or 1
            a = rng.normal(size=(d, d)) * rng.uniform(0.5, 1.2)
            xs.append(mean + rng.normal(size=(n, d)) @ a.T)
            ys.append(np.full(n, c))
            means.append(mean)
        X, y = np.concatenate(xs), np.concatenate(ys)
        order = rng.permutation(len(X))
        # queries between the class means, where the classes compete
        w = rng.dirichlet(np.ones(classes), size=int(rng.integers(10, 20)))
        X_query = w @ np.array(means) + rng.normal(scale=0.5, size=(len(w), d))
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
    name="generative_classifier", reference=_gc_reference, make_cases=_gc_cases,
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
