"""Delegation: an answer that runs the library's own implementation of the exercise (or the checker's
reference or wrong answers) is incorrect, with a message that says what it called; torch is fine."""

from __future__ import annotations

import math
import time

import torch

from course_lib.check import CORRECT, INCORRECT, Case, Exercise, WrongAnswer
from course_lib.distributions import KDE
from course_lib.models.ppca import ppca_mle


def _kde_reference(x_train, x_query, bandwidth):
    sq = (x_query.double()[:, None, :] - x_train.double()[None, :, :]).square().sum(-1)
    d = x_train.shape[1]
    return (torch.logsumexp(-sq / (2 * bandwidth**2), 1) - math.log(len(x_train))
            - 0.5 * d * math.log(2 * math.pi * bandwidth**2))


def _kde_without_normaliser(x_train, x_query, bandwidth):
    sq = (x_query.double()[:, None, :] - x_train.double()[None, :, :]).square().sum(-1)
    return torch.logsumexp(-sq / (2 * bandwidth**2), 1) - math.log(len(x_train))


def _kde_cases(rng):
    return [Case(torch.as_tensor(rng.normal(size=(20, 2))), torch.as_tensor(rng.normal(size=(7, 2))), 0.5)
            for _ in range(3)]


def _kde_exercise(forbidden) -> Exercise:
    return Exercise(chapter="98", name="kde", reference=_kde_reference, make_cases=_kde_cases, hint="h",
                    forbidden=forbidden, rtol=1e-4, atol=1e-5,
                    wrong_answers=[WrongAnswer("no_normaliser", _kde_without_normaliser, hint="normalise")])


def with_the_library(x_train, x_query, bandwidth):
    return KDE(x_train, bandwidth).log_prob(x_query)


def with_torch(x_train, x_query, bandwidth):  # torch functions are fine
    n, d = x_train.shape
    log_k = -torch.cdist(x_query, x_train) ** 2 / (2 * bandwidth**2)
    return torch.logsumexp(log_k, dim=1) - math.log(n) - 0.5 * d * math.log(2 * math.pi * bandwidth**2)


def test_an_answer_that_calls_a_forbidden_class_is_incorrect_and_told_why():
    result = _kde_exercise(forbidden=(KDE,)).evaluate(with_the_library)
    assert result.outcome == INCORRECT
    assert "course_lib.distributions.KDE." in result.message and "own implementation" in result.message
    assert "torch, numpy and scipy functions are fine" in result.message
    assert _kde_exercise(forbidden=()).evaluate(with_the_library).outcome == CORRECT  # only what is listed


def test_a_forbidden_method():
    result = _kde_exercise(forbidden=(KDE.__init__,)).evaluate(with_the_library)
    assert result.outcome == INCORRECT and "course_lib.distributions.KDE.__init__" in result.message


def _ppca_reference(x, q):
    return ppca_mle(x, q)


def _ppca_covariance(impl, case):
    """The adapter: W is unique only up to a rotation, so judge mu and C = W W^T + sigma^2 I."""
    mu, w, sigma2 = impl(*case.args)
    return mu, w @ w.T + sigma2 * torch.eye(len(mu), dtype=w.dtype)


def _ppca_cases(rng):
    return [Case(torch.as_tensor(rng.normal(size=(40, 4)) @ rng.normal(size=(4, 4))), 2) for _ in range(2)]


def test_a_forbidden_function():
    exercise = Exercise(chapter="98", name="ppca", reference=_ppca_reference, make_cases=_ppca_cases, hint="h",
                        call=_ppca_covariance, forbidden=(ppca_mle,))
    result = exercise.evaluate(lambda x, q: ppca_mle(x, q))
    assert result.outcome == INCORRECT and "course_lib.models.ppca.ppca_mle" in result.message
    assert exercise.evaluate(_ppca_reference, trusted=True).outcome == CORRECT  # the case and adapter work


def test_an_answer_that_calls_the_checkers_reference_or_mistakes_is_incorrect():
    exercise = _kde_exercise(forbidden=(KDE,))
    result = exercise.evaluate(lambda *args: _kde_reference(*args))
    assert result.outcome == INCORRECT and "reference solution of kde" in result.message
    result = exercise.evaluate(lambda *args: _kde_without_normaliser(*args) - 0.0)
    assert result.outcome == INCORRECT and "'no_normaliser'" in result.message
    # passing the reference itself is delegation too, unless a test says it is the checker's own code
    assert exercise.evaluate(_kde_reference).outcome == INCORRECT
    assert exercise.evaluate(_kde_reference, trusted=True).outcome == CORRECT


def test_another_exercise_of_the_chapter_is_watched_too():
    _kde_exercise(forbidden=())

    def square(x):
        return x * x

    other = Exercise(chapter="98", name="square", reference=square, make_cases=lambda rng: [Case(2.0)], hint="h")
    assert other.evaluate(lambda x: x**2).outcome == CORRECT
    assert "reference solution of kde" in other.evaluate(lambda x: x * x + 0 * _kde_reference(
        torch.zeros(2, 1), torch.zeros(1, 1), 1.0).sum().item()).message


def test_an_answer_that_uses_torch_is_correct():
    assert _kde_exercise(forbidden=(KDE,)).evaluate(with_torch).outcome == CORRECT


def test_watching_costs_little():
    """The profile hook is one dictionary lookup per Python call: on torch code it barely shows."""
    exercise = _kde_exercise(forbidden=(KDE,))
    layer = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))

    def busy_torch(x_train, x_query, bandwidth):
        for _ in range(300):
            layer(x_train.float()).sum()
        return with_torch(x_train, x_query, bandwidth)

    cases = exercise.cases()

    def cpu_of(run) -> float:
        start = time.process_time()
        run()
        return time.process_time() - start

    # One torch thread, so CPU time is not inflated by threads spinning on a busy machine, and the best of
    # interleaved repeats, so a moment of contention hits both sides alike and is then discarded.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        exercise.run_student(busy_torch)
        watched, bare = [], []
        for _ in range(5):
            watched.append(cpu_of(lambda: exercise.run_student(busy_torch)))
            bare.append(cpu_of(lambda: [busy_torch(*case.args) for case in cases]))
    finally:
        torch.set_num_threads(threads)
    assert min(watched) < 2.0 * min(bare) + 0.02, (watched, bare)
