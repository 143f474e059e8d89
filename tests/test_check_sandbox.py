"""Running student code: nothing escapes (SystemExit, KeyboardInterrupt, a bare except), nothing is printed,
nothing of the session's state changes, and judging works from the attempts' plain values alone."""

from __future__ import annotations

import os
import random
import sys
import time
import warnings

import numpy as np
import pytest
import torch

from course_lib.check import CORRECT, INCORRECT, NOT_ATTEMPTED, Attempt, Case, Exercise, WrongAnswer
from course_lib.check.compare import Opaque
from course_lib.check.sandbox import plain


def _double(x):
    return x * 2.0


def _cases(rng):
    return [Case(torch.as_tensor(rng.normal(size=int(rng.integers(3, 8))))) for _ in range(3)]


def _toy(**options) -> Exercise:
    options.setdefault("hard_stop", 1.0)
    return Exercise(chapter="99", name="double", reference=_double, make_cases=_cases, hint="Multiply by two.",
                    wrong_answers=[WrongAnswer("triple", lambda x: x * 3.0, hint="Two, not three.")], **options)


def student_double(x):
    return x + x


def _exits(x):
    sys.exit(3)


def _raises_system_exit(x):
    raise SystemExit("bye")


def _raises_keyboard_interrupt(x):
    raise KeyboardInterrupt


def _raises_base_exception(x):
    raise BaseException("the root of all exceptions")


def _bare_except_around_slow_work(x):
    while True:
        try:
            time.sleep(0.5)
        except:  # noqa: E722 - the point of the test
            pass


def _nested_bare_excepts(x):
    while True:
        try:
            try:
                while True:
                    pass
            except:  # noqa: E722
                pass
        except:  # noqa: E722
            pass


def _keeps_the_exception(x):
    kept = []
    while True:
        try:
            for _ in range(10**9):
                pass
        except BaseException as error:  # noqa: BLE001
            kept.append(error)


def _loops_in_finally(x):
    try:
        while True:
            pass
    finally:
        while True:
            pass


ESCAPES = {
    "sys.exit()": (_exits, "sys.exit()"),
    "raise SystemExit": (_raises_system_exit, "sys.exit()"),
    "raise KeyboardInterrupt": (_raises_keyboard_interrupt, "KeyboardInterrupt"),
    "raise BaseException": (_raises_base_exception, "raised BaseException"),
    "bare except around slow work": (_bare_except_around_slow_work, "endless loop"),
    "nested bare excepts": (_nested_bare_excepts, "endless loop"),
    "except BaseException, kept": (_keeps_the_exception, "endless loop"),
    "an endless loop in finally": (_loops_in_finally, "endless loop"),
}


@pytest.mark.parametrize("name", list(ESCAPES))
def test_nothing_escapes(name, capfd):
    student, fragment = ESCAPES[name]
    exercise = _toy(hard_stop=0.3)
    start = time.perf_counter()
    result = exercise.evaluate(student)  # no exception, whatever the student's code raises or catches
    assert time.perf_counter() - start < 10.0
    assert result.outcome == INCORRECT and fragment in result.message, result.message
    assert "Traceback" not in result.message
    assert capfd.readouterr() == ("", "")
    assert sys.gettrace() is None  # the hard stop's tracing is gone


def _chatty_call(impl, case):
    print("the adapter prints")
    print("the adapter prints to stderr", file=sys.stderr)
    os.write(1, b"the adapter writes to file descriptor 1\n")
    warnings.warn("the adapter warns", stacklevel=1)
    return impl(*case.args)


def _chatty_student(x):
    print("the student prints")
    sys.__stderr__.write("the student writes to the real stderr\n")
    sys.__stderr__.flush()
    os.write(2, b"the student writes to file descriptor 2\n")
    warnings.warn("the student warns", stacklevel=1)
    import logging

    logging.getLogger("student").error("the student logs")
    return x * 2.0


def test_printing_is_captured_in_student_code_adapters_and_references(capfd):
    def chatty_reference(x):
        print("the reference prints")
        return _double(x)

    exercise = Exercise(chapter="99", name="chatty", reference=chatty_reference, make_cases=_cases, hint="h",
                        call=_chatty_call)
    assert exercise.evaluate(_chatty_student).outcome == CORRECT
    assert exercise.evaluate(lambda x: x * 3.0).outcome == INCORRECT
    assert capfd.readouterr() == ("", "")
    print("printing works again after the check")
    assert capfd.readouterr().out == "printing works again after the check\n"


def _changes_everything(x):
    random.random()
    np.random.rand(5)
    torch.rand(5)
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    torch.set_default_dtype(torch.float64)
    return x * 2.0


@pytest.mark.parametrize("student", [_changes_everything, _exits, _nested_bare_excepts])
def test_random_streams_threads_grad_mode_and_default_dtype_are_restored(student):
    threads = torch.get_num_threads()
    torch.set_num_threads(2 if threads != 2 else 3)
    try:
        settings = torch.get_num_threads(), torch.is_grad_enabled(), torch.get_default_dtype()
        random.seed(1)
        np.random.seed(1)
        torch.manual_seed(1)
        expected = random.random(), np.random.rand(3), torch.rand(3)
        random.seed(1)
        np.random.seed(1)
        torch.manual_seed(1)
        _toy(hard_stop=0.2).evaluate(student)
        assert (torch.get_num_threads(), torch.is_grad_enabled(), torch.get_default_dtype()) == settings
        after = random.random(), np.random.rand(3), torch.rand(3)
        assert after[0] == expected[0] and np.array_equal(after[1], expected[1]) and torch.equal(after[2], expected[2])
    finally:
        torch.set_num_threads(threads)


class _Spy(torch.Tensor):
    """A tensor subclass whose every torch operation is recorded: code of the student's that torch calls."""

    calls: list[str] = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.calls.append(getattr(func, "__name__", str(func)))
        return super().__torch_function__(func, types, args, kwargs or {})


def test_judge_never_calls_student_code():
    exercise = _toy()
    attempts = exercise.run_student(lambda x: (x * 2.0).as_subclass(_Spy))
    _Spy.calls.clear()
    result = exercise.judge(attempts)
    assert _Spy.calls == [] and result.outcome == CORRECT
    assert all(type(a.value) is torch.Tensor for a in attempts)  # plain tensors, not the student's subclass


def test_evaluate_is_judge_of_run_student():
    exercise = _toy()
    attempts = exercise.run_student(student_double)
    assert len(attempts) == len(exercise.cases()) and all(isinstance(a, Attempt) for a in attempts)
    assert all(a.error is None and not a.timed_out and a.delegated is None for a in attempts)
    assert all(a.cpu_seconds >= 0 and a.wall_seconds > 0 for a in attempts)
    assert exercise.judge(attempts).outcome == exercise.evaluate(student_double).outcome == CORRECT
    wrong = exercise.judge(exercise.run_student(lambda x: x * 3.0))
    assert wrong.outcome == INCORRECT and wrong.wrong_answer == "triple" and wrong.hints == ["Two, not three."]


def test_judge_decides_from_the_records_alone():
    exercise = _toy()
    right = exercise.run_student(student_double)
    assert exercise.judge(right[:2]).outcome == INCORRECT  # a missing case is not a pass
    assert exercise.judge([Attempt(not_attempted=True)]).outcome == NOT_ATTEMPTED
    assert exercise.judge([Attempt(timed_out=True)]).hints == []
    forged = [Attempt(value=a.value, delegated="the check's own reference solution of double") for a in right]
    assert exercise.judge(forged).outcome == INCORRECT
    assert exercise.judge([Attempt(value=Opaque("generator")) for _ in right]).outcome == INCORRECT


def test_values_are_made_plain():
    class Number(float):
        pass

    value = plain({"a": (torch.ones(2).as_subclass(_Spy), np.ones(2).view(np.matrix)), "b": [Number(1.5)],
                   "c": (i for i in range(3)), "d": np.float32(2.0), "e": torch.nn.Parameter(torch.ones(1))})
    assert type(value["a"][0]) is torch.Tensor and type(value["a"][1]) is np.ndarray
    assert type(value["b"][0]) is float and isinstance(value["c"], Opaque) and type(value["d"]) is float
    assert type(value["e"]) is torch.Tensor and not value["e"].requires_grad


def test_a_stub_a_wrong_answer_and_in_place_changes():
    def stub(x):
        raise NotImplementedError()

    def in_place(x):
        return x.mul_(2.0)

    exercise = _toy()
    assert exercise.evaluate(stub).outcome == NOT_ATTEMPTED
    result = exercise.evaluate(in_place)
    assert result.outcome == INCORRECT and "in place" in result.message
