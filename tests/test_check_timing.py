"""Timing that cannot misjudge a right answer: warm imports before the clock, CPU time for the verdict,
slowness reported after the call, and a hard stop that leaves the session usable wherever it lands."""

from __future__ import annotations

import importlib
import math
import sys
import textwrap
import time
import uuid

import pytest
import torch

from course_lib.check import (
    CORRECT,
    INCORRECT,
    Case,
    Exercise,
    WrongAnswer,
    ch00,
    ch01,
    ch02,
    ch03,
    exercises_of_chapter,
)


def _cases(rng):
    return [Case(torch.as_tensor(rng.normal(size=5))) for _ in range(3)]


def _burn(seconds: float) -> None:
    """Spend ``seconds`` of CPU time."""
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass


def _fresh_module(tmp_path, monkeypatch, body: str) -> str:
    """Write a module that nobody has imported yet; returns its name."""
    name = f"fresh_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


SLOW_IMPORT = """
    import time
    _start = time.process_time()
    while time.process_time() - _start < 0.5:  # 0.5 s of CPU time on import, like scipy.stats or sympy
        pass

    def double(x):
        return x * 2.0
"""


def test_the_reference_warms_a_slow_import_before_the_students_clock(tmp_path, monkeypatch):
    name = _fresh_module(tmp_path, monkeypatch, SLOW_IMPORT)

    def reference(x):
        return importlib.import_module(name).double(x)

    def student(x):  # the very same code
        return importlib.import_module(name).double(x)

    exercise = Exercise(chapter="99", name="warm_import", reference=reference, make_cases=_cases, hint="h",
                        time_limit=0.2)
    result = exercise.evaluate(student)
    assert result.outcome == CORRECT, result.message


LAZY_TABLE = """
    import time
    _table = None

    def double(x):
        global _table
        if _table is None:  # built on first use (no import involved): 0.5 s of CPU time once
            _start = time.process_time()
            while time.process_time() - _start < 0.5:
                pass
            _table = 2.0
        return x * _table
"""


def test_the_reference_warms_a_slow_first_use_before_the_students_clock(tmp_path, monkeypatch):
    module = importlib.import_module(_fresh_module(tmp_path, monkeypatch, LAZY_TABLE))
    exercise = Exercise(chapter="99", name="warm_first_use", reference=lambda x: module.double(x),
                        make_cases=_cases, hint="h", time_limit=0.2)
    result = exercise.evaluate(lambda x: module.double(x))  # the same code as the reference's
    assert result.outcome == CORRECT, result.message


def test_an_import_the_reference_does_not_need_is_not_charged_to_the_student(tmp_path, monkeypatch):
    name = _fresh_module(tmp_path, monkeypatch, SLOW_IMPORT)

    def student(x):
        return importlib.import_module(name).double(x)

    exercise = Exercise(chapter="99", name="own_import", reference=lambda x: x * 2.0, make_cases=_cases,
                        hint="h", time_limit=0.2)
    result = exercise.evaluate(student)
    assert result.outcome == CORRECT, result.message


def _triple(x):
    return x * 3.0


def _slow_triple(x):
    _burn(0.3)
    return x * 3.0


def _slow_double(x):
    _burn(0.3)
    return x * 2.0


def test_a_busy_loop_is_reported_too_slow_without_a_wrong_answers_hint():
    exercise = Exercise(chapter="99", name="busy", reference=lambda x: x * 2.0, make_cases=_cases,
                        hint="Multiply by two.", time_limit=0.05,
                        wrong_answers=[WrongAnswer("triple", _triple, hint="Two, not three.")])
    slow_wrong = exercise.evaluate(_slow_triple)
    assert slow_wrong.outcome == INCORRECT and slow_wrong.hints == [] and slow_wrong.wrong_answer is None
    assert "s of CPU time; the check allows 0.05 s" in slow_wrong.message
    assert "took 0." in slow_wrong.message  # measured, reported after the call returned
    slow_right = exercise.evaluate(_slow_double)
    assert slow_right.outcome == INCORRECT and "results are right" in slow_right.message
    assert exercise.evaluate(lambda x: 3.0 * x).wrong_answer == "triple"  # the same mistake, fast: recognised


def test_waiting_is_not_slowness():
    """The verdict uses CPU time: a call that waits (as on a loaded machine) is not too slow."""
    def sleepy(x):
        time.sleep(0.2)
        return x * 2.0

    exercise = Exercise(chapter="99", name="sleepy", reference=lambda x: x * 2.0, make_cases=_cases, hint="h",
                        time_limit=0.1)
    assert exercise.evaluate(sleepy).outcome == CORRECT


def test_the_hard_stop_is_a_wide_backstop():
    assert Exercise(chapter="99", name="a", reference=_triple, make_cases=_cases, hint="h").hard_stop == 30.0
    assert Exercise(chapter="99", name="b", reference=_triple, make_cases=_cases, hint="h",
                    time_limit=5).hard_stop == 50.0


# ---- the hard stop, landing at many points, then every other check of the chapters -------------------

FRESH_PACKAGE = {
    "__init__.py": "from . import slow_part\nfrom . import last_part\n",
    "slow_part.py": """
        import time
        _start = time.process_time()
        while time.process_time() - _start < 0.6:  # the stop (0.15 s) falls in here, not before the import
            pass
        DONE = True
    """,
    "last_part.py": "DONE = True\n",
}


def _sleeps(seconds):
    def student(x):
        while True:
            time.sleep(seconds)
    return student


def _busy(n):
    def student(x):
        while True:
            sum(i * i for i in range(n))
    return student


def _torch_loops(x):
    a = torch.randn(40, 40, dtype=torch.float64)
    layer = torch.nn.Sequential(torch.nn.Linear(40, 40), torch.nn.Tanh())
    while True:
        torch.linalg.eigh(a @ a.T + torch.eye(40))
        layer(a.float()).sum().backward()
        torch.distributions.MultivariateNormal(torch.zeros(3), torch.eye(3)).log_prob(torch.zeros(3))


def _no_grad_loop(x):
    with torch.no_grad():
        while True:
            torch.nn.functional.softmax(torch.randn(30, 30), dim=1)


def _importer(name):
    def student(x):
        importlib.import_module(name)
        while True:
            pass
    return student


def test_interrupted_at_many_points_the_session_stays_usable(tmp_path, monkeypatch):
    package = f"fresh_pkg_{uuid.uuid4().hex[:10]}"
    (tmp_path / package).mkdir()
    for file, text in FRESH_PACKAGE.items():
        (tmp_path / package / file).write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    importing = Exercise(chapter="99", name="stopped", reference=lambda x: x * 2.0, make_cases=_cases, hint="h",
                         hard_stop=0.15).run_student(_importer(package))
    assert importing[0].timed_out and importing[0].wall_seconds > 0.5  # the stop waited for the import to end
    students = [_sleeps(0.001), _sleeps(0.05), _sleeps(1.0), _busy(10), _busy(10_000), _torch_loops, _no_grad_loop]
    stops = iter([0.02, 0.05, 0.11, 0.07, 0.03, 0.13, 0.05, 0.17, 0.09, 0.04, 0.19, 0.06, 0.08, 0.15])
    for student in students + students:
        exercise = Exercise(chapter="99", name="stopped", reference=lambda x: x * 2.0, make_cases=_cases,
                            hint="h", hard_stop=next(stops))
        result = exercise.evaluate(student)
        assert result.outcome == INCORRECT and "endless loop" in result.message, result.message
    # the import the stop fell into completed: no half-imported module
    assert sys.modules[package].slow_part.DONE and sys.modules[package].last_part.DONE
    assert torch.is_grad_enabled() and sys.gettrace() is None
    for chapter in (ch01, ch02, ch03):
        for exercise in exercises_of_chapter(chapter.__name__[-2:]):
            result = exercise.evaluate(exercise.reference, trusted=True)
            assert result.outcome == CORRECT, f"{exercise.name}: {result.message}"


def test_a_normal_check_takes_about_a_second():
    def normal_log_prob(x, mu, sigma):
        return -0.5 * ((x - mu) / sigma) ** 2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)

    ch00.normal_log_prob.evaluate(normal_log_prob)  # the first check of a session warms up
    cpu = time.process_time()
    result = ch00.normal_log_prob.evaluate(normal_log_prob)
    assert result.outcome == CORRECT, result.message
    assert time.process_time() - cpu < 1.0
    assert result.cpu_seconds < 0.5


@pytest.mark.parametrize("stop", [0.05, 0.2])
def test_an_endless_loop_ends_soon_after_the_hard_stop(stop):
    exercise = Exercise(chapter="99", name="endless", reference=lambda x: x * 2.0, make_cases=_cases, hint="h",
                        hard_stop=stop)
    start = time.perf_counter()
    result = exercise.evaluate(_busy(10))
    assert result.outcome == INCORRECT and result.hints == []
    assert time.perf_counter() - start < stop + 3.0
