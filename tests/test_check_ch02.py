"""The chapter 02 checks: stubs not attempted, every listed wrong answer recognised, references correct, the
solution notebook's own code correct, the notebooks' exercise counts equal to the checks'."""

import math
import re
from pathlib import Path

import nbformat
import pytest
import torch

from course_lib.check import ch02
from course_lib.check.testing import assert_exercise_behaves, exercises_of

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions" / "02_maximum_likelihood.ipynb"
NAMES = ["bernoulli_mle", "gaussian_mle", "nats_to_bits_per_dim", "smoothed_pmf", "laplace_mle",
         "mean_equals_variance_mle", "dequantised_bits_per_dim", "bernoulli_mixture_e_step",
         "bernoulli_mixture_m_step"]
NUMBER_WORDS = {"seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11}


@pytest.mark.parametrize("exercise", exercises_of(ch02), ids=lambda e: e.name)
def test_exercise_behaves(exercise):
    assert_exercise_behaves(exercise)


def test_the_exercises_in_order_from_warm_up_to_em():
    assert [e.name for e in exercises_of(ch02)] == NAMES


def _solution_notebook():
    return nbformat.read(SOLUTIONS, as_version=4)


def test_notebook_counts_and_markers_agree_with_the_checks():
    """The first cell says how many exercises there are; every exercise cell calls its check once, in order;
    the prose names the stub marker exactly as course_lib.assign writes it."""
    from course_lib.assign import STUB

    nb = _solution_notebook()
    intro = nb.cells[0].source
    match = re.search(r"\b(" + "|".join(NUMBER_WORDS) + r") exercises\b", intro, re.IGNORECASE)
    assert match, "the first cell should say how many exercises there are"
    assert NUMBER_WORDS[match.group(1).lower()] == len(NAMES)
    assert f"`{STUB[0]}`" in intro
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "### YOUR CODE HERE" not in prose
    called = [m.group(1) for c in nb.cells if c.cell_type == "code"
              for m in re.finditer(r"check\.ch02\.(\w+)\(", c.source)]
    assert called == NAMES
    headings = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Exercise")]
    assert len(headings) == len(NAMES)
    assert all("warm-up" in h for h in headings[:4]) and not any("warm-up" in h for h in headings[4:])


def _solution_functions():
    """The functions exactly as written in solutions/02_maximum_likelihood.ipynb."""
    namespace = {"torch": torch, "math": math}
    for cell in _solution_notebook().cells:
        if cell.cell_type == "code" and cell.source.startswith("def "):
            exec(cell.source, namespace)  # noqa: S102 - our own notebook's function definitions
    return namespace


@pytest.mark.parametrize("exercise", exercises_of(ch02), ids=lambda e: e.name)
def test_solution_notebook_code_is_correct(exercise):
    assert_exercise_behaves(exercise, solutions=[_solution_functions()[exercise.name]])


def test_float32_solutions_pass():
    """Students work in float32 by default; the checks' tolerances must accept that."""

    def gaussian_mle(x):
        mu = x.mean()
        return mu, ((x - mu) ** 2).mean()

    def laplace_mle(x):
        loc = x.float().median()
        return loc, (x.float() - loc).abs().mean()

    def tied(x):
        m2 = (x.float() ** 2).mean()
        return (torch.sqrt(1 + 4 * m2) - 1) / 2

    def e_step(x, weights, probs):
        x, w, mu = x.float(), weights.float(), probs.float()
        joint = x @ mu.log().T + (1 - x) @ torch.log(1 - mu).T + w.log()
        return (joint - torch.logsumexp(joint, 1, keepdim=True)).exp()

    def m_step(x, r, alpha):
        x, r = x.float(), r.float()
        nk = r.sum(0)
        return nk / len(x), (r.T @ x + alpha) / (nk[:, None] + 2 * alpha)

    solutions = [(ch02.gaussian_mle, gaussian_mle), (ch02.laplace_mle, laplace_mle),
                 (ch02.mean_equals_variance_mle, tied), (ch02.bernoulli_mixture_e_step, e_step),
                 (ch02.bernoulli_mixture_m_step, m_step)]
    for exercise, fn in solutions:
        result = exercise.evaluate(fn)
        assert result.outcome == "correct", (exercise.name, result.message)


def test_float32_mistakes_are_still_recognised():
    """The typical mistakes, written in float32 as a student would, get their own hint."""

    def naive_e_step(x, weights, probs):
        x, w, mu = x.float(), weights.float(), probs.float()
        lik = torch.prod(mu[None] ** x[:, None] * (1 - mu[None]) ** (1 - x[:, None]), -1) * w
        return lik / lik.sum(1, keepdim=True)

    def columns_e_step(x, weights, probs):
        x, w, mu = x.float(), weights.float(), probs.float()
        joint = x @ mu.log().T + (1 - x) @ torch.log(1 - mu).T + w.log()
        return torch.softmax(joint, 0)

    def unbiased(x):
        return x.mean(), x.var()

    def laplace_as_gaussian(x):
        return x.median(), x.std(unbiased=False)

    for exercise, fn, name in [(ch02.bernoulli_mixture_e_step, naive_e_step, "no_logsumexp"),
                               (ch02.bernoulli_mixture_e_step, columns_e_step, "normalised_over_images"),
                               (ch02.gaussian_mle, unbiased, "unbiased_variance"),
                               (ch02.laplace_mle, laplace_as_gaussian, "std_for_scale")]:
        result = exercise.evaluate(fn)
        assert result.outcome == "incorrect" and result.wrong_answer == name, (exercise.name, result)


def test_the_e_step_cases_underflow_without_logsumexp():
    """The check's last image underflows for every component in float64, so the mistake shows as NaN."""
    for case in ch02.bernoulli_mixture_e_step.cases():
        x, weights, probs = case.args
        naive = ch02._bern_naive(x, weights, probs)
        assert naive[-1].isnan().all() and not naive[:-1].isnan().any()
        assert torch.isfinite(ch02.bernoulli_mixture_e_step.reference(x, weights, probs)).all()


def test_the_derivation_references_maximise_their_likelihoods():
    """The closed forms are the maximisers: a small step either way lowers the log-likelihood."""
    for case in ch02.mean_equals_variance_mle.cases():
        (x,) = case.args
        x = x.double()
        theta = ch02.mean_equals_variance_mle.reference(x)

        def ll(t, x=x):
            return torch.distributions.Normal(t, t.sqrt()).log_prob(x).sum()

        assert ll(theta) > ll(theta * 1.01) and ll(theta) > ll(theta * 0.99)
    for case in ch02.laplace_mle.cases():
        (x,) = case.args
        x = x.double()
        loc, scale = ch02.laplace_mle.reference(x)

        def ll(m, b, x=x):
            return torch.distributions.Laplace(m, b).log_prob(x).sum()

        for dm, db in [(0.01, 0), (-0.01, 0), (0, 0.01), (0, -0.01)]:
            assert ll(loc, scale) > ll(loc + dm, scale + db)


def test_dequantised_bound_matches_a_dequantised_uniform_density():
    """Uniform noise on a uniform discrete model: the density of y on [0, 1)^D is 1, so the bound must equal
    log2 L bits per dimension, the exact NLL of the uniform discrete model."""
    for levels in (2, 17, 256):
        assert ch02.dequantised_bits_per_dim.reference(0.0, 64, levels) == pytest.approx(math.log2(levels))


def test_answers_that_call_the_library_are_not_solutions():
    """The library's own implementations are listed in `forbidden`: delegating to them is incorrect, with a
    message that says why."""
    from course_lib.distributions import Gaussian, IndependentCategorical, MixtureOfCategoricals, smoothed_counts_pmf
    from course_lib.metrics import bits_per_dim

    def gaussian_via_library(x):
        g = Gaussian.fit(x[:, None].double(), diagonal=True)
        return g.mean.reshape(()), g.covariance.reshape(())

    def bpd_via_library(nll_nats, num_dims):
        return bits_per_dim(nll_nats, num_dims)

    def smoothed_via_library(counts, alpha):
        return smoothed_counts_pmf(counts, alpha)

    def e_step_via_library(x, weights, probs):
        model = MixtureOfCategoricals(weights, torch.stack([1 - probs, probs], -1))
        return model.e_step(x.long()).exp()

    def m_step_via_library(x, r, alpha):
        nk = r.sum(0)
        counts = torch.stack([nk[:, None] - r.T @ x, r.T @ x], -1)  # (K, D, 2)
        return nk / len(x), smoothed_counts_pmf(counts, alpha)[..., 1]

    def smoothed_via_independent(counts, alpha):
        data = torch.repeat_interleave(torch.arange(len(counts)), counts)[:, None]
        return IndependentCategorical.fit(data, len(counts), alpha=alpha).probs[0]

    for exercise, fn in [(ch02.gaussian_mle, gaussian_via_library), (ch02.nats_to_bits_per_dim, bpd_via_library),
                         (ch02.smoothed_pmf, smoothed_via_library), (ch02.smoothed_pmf, smoothed_via_independent),
                         (ch02.bernoulli_mixture_e_step, e_step_via_library),
                         (ch02.bernoulli_mixture_m_step, m_step_via_library)]:
        result = exercise.evaluate(fn)
        assert result.outcome == "incorrect" and "your code called" in result.message.lower(), \
            (exercise.name, fn.__name__, result.message)
