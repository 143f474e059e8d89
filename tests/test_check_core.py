"""The check machinery: every kind of bad answer is reported as incorrect with a clear reason, with no
traceback, nothing on stderr, and no change to the student's random streams."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from course_lib import check as core
from course_lib.check import CORRECT, INCORRECT, NOT_ATTEMPTED, Case, Exercise, WrongAnswer, ch00


def reference(x, mu, sigma):
    """A right answer written as a student would (the checker's own reference would count as delegation)."""
    return -0.5 * ((x - mu) / sigma) ** 2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)


def _none(x, mu, sigma):
    return None


def _wrong_shape(x, mu, sigma):
    return reference(x, mu, sigma)[:-1]


def _numpy(x, mu, sigma):
    return reference(x, mu, sigma).numpy()


def _nans(x, mu, sigma):
    return reference(x, mu, sigma) * float("nan")


def _raises(x, mu, sigma):
    return {}["missing key"]


def _mutates(x, mu, sigma):
    x.mul_(2)
    return reference(x / 2, mu, sigma)


def _endless(x, mu, sigma):
    while True:
        pass


def _prints_and_warns(x, mu, sigma):
    import sys
    import warnings

    print("debugging output")
    print("to stderr", file=sys.stderr)
    warnings.warn("a warning", stacklevel=1)
    return reference(x, mu, sigma) + 1.0


BAD_ANSWERS = {
    "None instead of a function": (None, "None instead of your function"),
    "not callable": (42, "expects your function"),
    "returns None": (_none, "forget a `return`"),
    "wrong shape": (_wrong_shape, "shape"),
    "numpy array": (_numpy, "numpy array"),
    "NaNs": (_nans, "NaN"),
    "raises": (_raises, "raised KeyError"),
    "mutates its input": (_mutates, "in place"),
    "never returns": (_endless, "endless loop"),
    "prints and warns": (_prints_and_warns, "not correct"),
}


# chapter 00's first exercise, with a hard stop of 1 s instead of 30 s (for the endless loop)
QUICK_STOP = Exercise(chapter="99", name="quick_stop", reference=ch00._normal_log_prob,
                      make_cases=ch00.normal_log_prob.make_cases, hint="h", hard_stop=1.0)


@pytest.mark.parametrize("name", list(BAD_ANSWERS))
def test_bad_answers_are_incorrect_with_a_reason(name, capfd):
    answer, reason = BAD_ANSWERS[name]
    start = time.perf_counter()
    result = QUICK_STOP.evaluate(answer)
    assert time.perf_counter() - start < 4.0
    assert result.outcome == INCORRECT
    assert reason in result.message
    assert "Traceback" not in result.message
    captured = capfd.readouterr()
    assert captured.err == "" and "debugging output" not in captured.out


def test_student_exception_names_the_line():
    result = ch00.normal_log_prob.evaluate(_raises)
    assert "return {}[\"missing key\"]" in result.message or "line" in result.message


def test_not_attempted_and_correct():
    def stub(x, mu, sigma):
        """Docstring."""
        # YOUR CODE HERE
        raise NotImplementedError()

    assert ch00.normal_log_prob.evaluate(stub).outcome == NOT_ATTEMPTED
    assert ch00.normal_log_prob.evaluate(lambda x, mu, sigma: torch.distributions.Normal(mu, sigma).log_prob(x)).passed


def test_check_leaves_the_global_random_streams_alone():
    torch.manual_seed(5)
    np.random.seed(5)
    expected = (torch.rand(3), np.random.rand(3))
    torch.manual_seed(5)
    np.random.seed(5)

    def uses_randomness(x, mu, sigma):
        torch.randn(100)
        np.random.rand(100)
        return reference(x, mu, sigma)

    ch00.normal_log_prob.evaluate(uses_randomness)
    assert torch.equal(torch.rand(3), expected[0]) and np.array_equal(np.random.rand(3), expected[1])


def test_failed_check_never_shows_the_expected_values():
    result = ch00.normal_log_prob.evaluate(lambda x, mu, sigma: reference(x, mu, sigma) + 0.5)
    case = ch00.normal_log_prob.cases()[0]
    expected = reference(*case.args)
    text = str(result)
    assert not any(f"{v:.3f}" in text for v in expected.tolist())


def test_repeated_failure_shows_a_deeper_hint():
    core.reset_progress()
    first = ch00.normal_log_prob.evaluate(ch00._no_constant, trusted=True)
    second = ch00.normal_log_prob.evaluate(ch00._no_constant, trusted=True)
    assert len(second.hints) > len(first.hints)
    assert len(ch00.normal_log_prob.evaluate(ch00._no_constant, hint=2, trusted=True).hints) == 2


def test_display_is_plain_text_outside_jupyter(capsys):
    ch00.normal_log_prob(reference)
    assert "[correct] chapter 00, normal_log_prob" in capsys.readouterr().out
    html = ch00.normal_log_prob.evaluate(ch00._no_constant, trusted=True)._repr_html_()
    assert "Not yet" in html and "<div" in html


def test_summary_is_strict_in_solution_and_exercise_folders(tmp_path, monkeypatch, capsys):
    core.reset_progress()
    ch00.normal_log_prob.evaluate(reference)
    ch00.log_likelihood_per_example.evaluate(ch00._total, trusted=True)
    (tmp_path / "solutions").mkdir()
    monkeypatch.chdir(tmp_path / "solutions")
    monkeypatch.setenv("COURSE_CHECK_STRICT", "1")
    with pytest.raises(AssertionError, match="log_likelihood_per_example"):
        core.summary()
    ch00.log_likelihood_per_example.evaluate(ch00._per_example, trusted=True)
    core.summary()
    assert "2 of 2 exercises correct" in capsys.readouterr().out
    core.reset_progress()


def test_a_broken_check_does_not_crash_the_kernel():
    def broken_cases(rng):
        raise RuntimeError("bug in the check")

    exercise = Exercise(chapter="99", name="broken", reference=reference, make_cases=broken_cases, hint="h")
    result = exercise.evaluate(reference)
    assert result.outcome == INCORRECT and "check itself failed" in result.message


def test_wrong_answers_need_distinct_names():
    with pytest.raises(ValueError, match="distinct"):
        Exercise(chapter="99", name="dup", reference=reference, make_cases=lambda rng: [Case(1)], hint="h",
                 wrong_answers=[WrongAnswer("a", reference, "x"), WrongAnswer("a", reference, "y")])


@pytest.mark.parametrize(("got", "expected", "fragment"), [
    (torch.ones(2), torch.ones(2), None),
    (torch.ones(2, dtype=torch.float32), torch.ones(2, dtype=torch.float64) + 1e-7, None),
    (torch.tensor([1.0, float("-inf")]), torch.tensor([1.0, float("-inf")]), None),
    (torch.tensor([1.0, -1e30]), torch.tensor([1.0, float("-inf")]), "finite where"),
    (torch.tensor([1.0, float("-inf")]), torch.tensor([1.0, -3.0]), "infinite"),
    ((torch.ones(2), 3.0), (torch.ones(2), 3.0), None),
    ((torch.ones(2),), (torch.ones(2), 3.0), "items"),
    (torch.ones(2).bool(), torch.ones(2).bool(), None),
    (torch.ones(2), torch.ones(2).bool(), "boolean"),
    ({"a": 1.0}, {"a": 1.0, "b": 2.0}, "missing"),
    ("text", 1.0, "number"),
])
def test_compare_values(got, expected, fragment):
    message = core.compare_values(got, expected)
    assert (message is None) if fragment is None else (fragment in message)


def test_results_report_outcomes():
    assert core.CORRECT == CORRECT and ch00.normal_log_prob.evaluate(reference).outcome == CORRECT


CHAPTER_MODULE = """
from course_lib.check import Case, Exercise


class SubclassedExercise(Exercise):
    def __init__(self, **options):
        super().__init__(**options)


plain = Exercise(name="plain", reference=abs, make_cases=lambda rng: [Case(-1.0)], hint="h")
subclassed = SubclassedExercise(name="subclassed", reference=abs, make_cases=lambda rng: [Case(-1.0)], hint="h")
agreeing = Exercise(chapter="77", name="agreeing", reference=abs, make_cases=lambda rng: [Case(-1.0)], hint="h")
"""


def _define(module_name: str, source: str) -> dict:
    namespace = {"__name__": module_name}
    exec(compile(source, f"<{module_name}>", "exec"), namespace)  # noqa: S102 - a module defined by the test
    return namespace


def test_the_chapter_comes_from_the_defining_module():
    namespace = _define("course_lib.check.ch77", CHAPTER_MODULE)
    assert {namespace[n].chapter for n in ("plain", "subclassed", "agreeing")} == {"77"}
    assert [e.name for e in core.exercises_of_chapter("77")] == ["plain", "subclassed", "agreeing"]
    with pytest.raises(ValueError, match="defined in course_lib.check.ch77"):
        _define("course_lib.check.ch77", CHAPTER_MODULE.replace('chapter="77"', 'chapter="76"'))
    with pytest.raises(ValueError, match="chapter="):
        Exercise(name="nowhere", reference=abs, make_cases=lambda rng: [Case(-1.0)], hint="h")
    assert ch00.normal_log_prob.chapter == "00"


def test_the_package_exports_the_interface():
    for name in ["Case", "Exercise", "WrongAnswer", "Result", "compare_values", "CORRECT", "INCORRECT",
                 "NOT_ATTEMPTED", "summary", "progress", "reset_progress", "exercises_of_chapter", "Attempt"]:
        assert hasattr(core, name), name
    assert core.ch03.__name__ == "course_lib.check.ch03"  # chapter modules load on first use
    with pytest.raises(AttributeError, match="no checks for chapter 42"):
        core.ch42  # noqa: B018
