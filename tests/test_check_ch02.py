"""The chapter 02 checks: stubs not attempted, every listed wrong answer recognised, references correct."""

import pytest
import torch

from course_lib.check import ch02
from course_lib.check.testing import assert_exercise_behaves, exercises_of


@pytest.mark.parametrize("exercise", exercises_of(ch02), ids=lambda e: e.name)
def test_exercise_behaves(exercise):
    assert_exercise_behaves(exercise)


def test_seven_exercises_listed_in_the_issue_are_checked():
    names = {e.name for e in exercises_of(ch02)}
    assert names == {"bernoulli_mle", "gaussian_mle", "gaussian_nll", "nats_to_bits_per_dim", "kl_divergence",
                     "gmm_e_step", "gmm_m_step", "smoothed_pmf"}


def test_float32_solutions_pass():
    """Students work in float32 by default; the checks' tolerances must accept that."""

    def gaussian_mle(x):
        mu = x.mean()
        return mu, ((x - mu) ** 2).mean()

    def e_step(x, log_weights, means, covariances):
        dist = torch.distributions.MultivariateNormal(means.float(), covariance_matrix=covariances.float())
        joint = dist.log_prob(x.float()[:, None]) + log_weights.float()
        return joint - torch.logsumexp(joint, 1, keepdim=True)

    def kl(p, q):
        return (torch.special.xlogy(p, p) - torch.special.xlogy(p, q)).sum()

    solutions = [(ch02.gaussian_mle, gaussian_mle), (ch02.gmm_e_step, e_step), (ch02.kl_divergence, kl)]
    for exercise, fn in solutions:
        assert exercise.evaluate(fn).outcome == "correct", exercise.evaluate(fn).message


def test_library_models_agree_with_the_checked_steps():
    """GaussianMixture's E- and M-steps (course_lib.distributions) are the exercises' references."""
    from course_lib.distributions import GaussianMixture

    for case in ch02.gmm_e_step.cases():
        x, log_w, means, cov = case.args
        gmm = GaussianMixture(log_w.exp(), means, cov)
        torch.testing.assert_close(gmm.e_step(x), ch02.gmm_e_step.reference(*case.args))
    for case in ch02.gmm_m_step.cases():
        x, r = case.args
        K, D = r.shape[1], x.shape[1]
        f64 = torch.float64
        gmm = GaussianMixture(torch.full((K,), 1.0 / K, dtype=f64), torch.zeros(K, D, dtype=f64),
                              torch.eye(D, dtype=f64).expand(K, -1, -1))
        gmm.m_step(x, r, reg=0.0)
        w, m, c = ch02.gmm_m_step.reference(x, r)
        torch.testing.assert_close((gmm.weights, gmm.means, gmm.covariances), (w, m, c))


def _solution_functions():
    """The functions exactly as written in solutions/02_maximum_likelihood.ipynb."""
    import math
    from pathlib import Path

    import nbformat

    path = Path(__file__).resolve().parent.parent / "solutions" / "02_maximum_likelihood.ipynb"
    namespace = {"torch": torch, "math": math}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and cell.source.startswith("def "):
            exec(cell.source, namespace)  # noqa: S102 - our own notebook's function definitions
    return namespace


@pytest.mark.parametrize("exercise", exercises_of(ch02), ids=lambda e: e.name)
def test_solution_notebook_code_is_correct(exercise):
    assert_exercise_behaves(exercise, solutions=[_solution_functions()[exercise.name]])


def test_float32_mistakes_are_still_recognised():
    """The typical mistakes, written in float32 as a student would, get their own hint."""

    def naive_e_step(x, log_weights, means, covariances):
        x, lw, m, c = x.float(), log_weights.float(), means.float(), covariances.float()
        p = torch.exp(torch.distributions.MultivariateNormal(m, c).log_prob(x[:, None])) * torch.exp(lw)
        return torch.log(p / p.sum(1, keepdim=True))

    def unbiased(x):
        return x.mean(), x.var()

    def kl_with_nan(p, q):
        p, q = p.float(), q.float()
        return (p * torch.log(p / q)).sum()

    for exercise, fn, name in [(ch02.gmm_e_step, naive_e_step, "no_logsumexp"),
                               (ch02.gaussian_mle, unbiased, "unbiased_variance"),
                               (ch02.kl_divergence, kl_with_nan, "nan_on_zeros")]:
        result = exercise.evaluate(fn)
        assert result.outcome == "incorrect" and result.wrong_answer == name, (exercise.name, result)
