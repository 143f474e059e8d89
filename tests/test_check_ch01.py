"""Chapter 01 checks: stubs are not attempted, every listed wrong answer is recognised with its own hint,
the references and the solution notebook's code are correct."""

import math

import pytest
import torch

from course_lib.check import CORRECT, INCORRECT, NOT_ATTEMPTED, ch01
from course_lib.check.testing import assert_exercise_behaves, exercises_of


# the solution notebook's code, written as a student would (float32, library calls)
def empirical_pmf(values, num_values):
    counts = torch.bincount(values, minlength=num_values).float()
    return counts / counts.sum()


def sample_categorical(probs, u):
    cdf = torch.cumsum(probs, dim=0)
    cdf = cdf / cdf[-1]
    return torch.searchsorted(cdf, u, right=True).clamp(max=len(probs) - 1)


def marginal_and_conditional(joint):
    p_x1 = joint.sum(dim=1)
    return p_x1, joint / p_x1[:, None]


def histogram_log_density(x_train, x_query, bins, range):
    lo, hi = range
    width = (hi - lo) / bins
    counts = torch.histc(x_train.float(), bins=bins, min=lo, max=hi)
    k = torch.floor((x_query - lo) / width).long().clamp(0, bins - 1)
    log_p = torch.log(counts[k] / (len(x_train) * width))
    inside = (x_query >= lo) & (x_query <= hi)
    return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))


def kde_log_density(x_train, x_query, bandwidth):
    n, d = x_train.shape
    sq = torch.cdist(x_query, x_train) ** 2
    log_k = -sq / (2 * bandwidth**2)
    return torch.logsumexp(log_k, dim=1) - math.log(n) - 0.5 * d * math.log(2 * math.pi * bandwidth**2)


def fit_class_gaussians(X, y):
    classes = int(y.max()) + 1
    prior = torch.bincount(y, minlength=classes).float() / len(y)
    mean = torch.stack([X[y == c].mean(0) for c in range(classes)])
    cov = torch.stack([torch.cov(X[y == c].T, correction=0) for c in range(classes)])
    return {"prior": prior, "mean": mean, "cov": cov}


def posterior(X, params):
    dist = torch.distributions.MultivariateNormal(params["mean"], covariance_matrix=params["cov"])
    log_joint = dist.log_prob(X[:, None, :]) + params["prior"].log()
    return torch.softmax(log_joint, dim=1)


def generative_classifier(X, y, X_query):
    return posterior(X_query, fit_class_gaussians(X, y))


SOLUTIONS = {f.__name__: f for f in [empirical_pmf, sample_categorical, marginal_and_conditional,
                                      histogram_log_density, kde_log_density, generative_classifier]}


def test_six_exercises():
    assert [e.name for e in exercises_of(ch01)] == list(SOLUTIONS)


@pytest.mark.parametrize("exercise", exercises_of(ch01), ids=lambda e: e.name)
def test_exercise_behaves(exercise):
    assert_exercise_behaves(exercise, solutions=[SOLUTIONS[exercise.name]])


@pytest.mark.parametrize("exercise", exercises_of(ch01), ids=lambda e: e.name)
def test_every_wrong_answer_differs_on_every_case(exercise):
    """Recognition needs each wrong answer to differ from the reference on every case, not just one."""
    for case in exercise.cases():
        expected = exercise._run_trusted(exercise.reference, case)
        for wrong in exercise.wrong_answers:
            got = exercise._run_trusted(wrong.implementation, case)
            assert exercise.compare(got, expected, case), wrong.name


def test_check_leaves_the_global_random_stream_alone():
    torch.manual_seed(5)
    before = torch.rand(3)
    torch.manual_seed(5)
    ch01.sample_categorical.evaluate(sample_categorical)
    assert torch.equal(torch.rand(3), before)


def test_sampler_that_ignores_u_is_caught():
    def uses_its_own_randomness(probs, u):
        return torch.multinomial(probs / probs.sum(), len(u), replacement=True)

    assert ch01.sample_categorical.evaluate(uses_its_own_randomness).outcome == INCORRECT


def test_goodness_of_fit_property_catches_a_biased_sampler_that_passes_the_cases():
    def biased(probs, u):  # exact on short inputs, wrong on the long run of the property test
        if len(u) > 1000:
            return torch.zeros(len(u), dtype=torch.long) + 2
        return sample_categorical(probs, u)

    result = ch01.sample_categorical.evaluate(biased)
    assert result.outcome == INCORRECT
    assert "chi-square" in result.message or "probability is 0" in result.message


def test_generative_classifier_takes_two_functions(capsys):
    ch01.generative_classifier(fit_class_gaussians, posterior)
    assert "[correct]" in capsys.readouterr().out
    combined = ch01.classifier(fit_class_gaussians, posterior)  # what the notebook names generative_classifier
    ch01.generative_classifier(combined)
    assert "[correct]" in capsys.readouterr().out

    def fit_stub(X, y):
        raise NotImplementedError()

    assert ch01.generative_classifier.evaluate(ch01.classifier(fit_stub, posterior)).outcome == NOT_ATTEMPTED
    ch01.generative_classifier(None, posterior)  # a missing function: a message, no exception
    assert "[incorrect]" in capsys.readouterr().out


def test_histogram_epsilon_is_recognised():
    def with_epsilon(x_train, x_query, bins, range):
        lo, hi = range
        width = (hi - lo) / bins
        counts = torch.histc(x_train.float(), bins=bins, min=lo, max=hi)
        k = torch.floor((x_query - lo) / width).long().clamp(0, bins - 1)
        return torch.log(counts[k] / (len(x_train) * width) + 1e-9)

    result = ch01.histogram_log_density.evaluate(with_epsilon)
    assert result.outcome == INCORRECT and result.wrong_answer == "not_minus_inf"
    assert ch01.histogram_log_density.evaluate(histogram_log_density).outcome == CORRECT


def test_references_agree_with_the_library():
    """The exercises' float64 references and course_lib.distributions compute the same densities."""
    from course_lib.distributions import KDE, Histogram

    for case in ch01.histogram_log_density.cases():
        x_train, x_query, bins, (lo, hi) = case.args
        library = Histogram(x_train, bins=bins, range=(lo, hi)).log_prob(x_query)
        torch.testing.assert_close(library, ch01._hist_reference(*case.args))
    for case in ch01.kde_log_density.cases():
        x_train, x_query, h = case.args
        torch.testing.assert_close(KDE(x_train, h).log_prob(x_query).double(), ch01._kde_reference(*case.args),
                                   rtol=1e-5, atol=1e-3)
