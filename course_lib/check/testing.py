"""Helpers that let the unit tests prove every check works both ways.

For each exercise: the generated stub is reported as not attempted, every listed wrong answer as incorrect
*and recognised by name*, and the reference (plus any extra correct solutions) as correct. The reference and
the wrong answers are the checker's own code, so they run as ``trusted`` (calling them is not delegation);
the extra solutions run as a student's answer would.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from course_lib.check import CORRECT, INCORRECT, NOT_ATTEMPTED, Exercise


def exercises_of(module: ModuleType) -> list[Exercise]:
    """Every Exercise defined in a chapter's check module, in definition order."""
    return [v for v in vars(module).values() if isinstance(v, Exercise)]


def make_stub(reference: Any) -> Any:
    """What ``course_lib.assign`` leaves for the student: same signature, raises NotImplementedError."""
    if isinstance(reference, type):

        class Stub(reference):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                raise NotImplementedError()

        return Stub

    @functools.wraps(reference)
    def stub(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError()

    return stub


def assert_exercise_behaves(exercise: Exercise, solutions: Iterable[Callable[..., Any]] = ()) -> None:
    """Assert the three outcomes: stub -> not attempted, each wrong answer -> recognised, solutions -> correct."""
    stub = exercise.evaluate(make_stub(exercise.reference))
    assert stub.outcome == NOT_ATTEMPTED, f"{exercise.name}: the stub gave {stub.outcome}: {stub.message}"
    for correct, trusted in [(exercise.reference, True), *((s, False) for s in solutions)]:
        result = exercise.evaluate(correct, trusted=trusted)
        assert result.outcome == CORRECT, f"{exercise.name}: a correct solution gave {result.outcome}: {result.message}"
    for wrong in exercise.wrong_answers:
        result = exercise.evaluate(wrong.implementation, trusted=True)  # the checker's own code: no delegation
        assert result.outcome == INCORRECT, f"{exercise.name}: wrong answer {wrong.name!r} passed the check"
        assert result.wrong_answer == wrong.name, (
            f"{exercise.name}: wrong answer {wrong.name!r} was not recognised "
            f"(recognised as {result.wrong_answer!r}; message: {result.message})"
        )
        assert wrong.hint in result.hints, f"{exercise.name}: wrong answer {wrong.name!r} did not get its own hint"
    hints = [w.hint for w in exercise.wrong_answers]
    assert len(set(hints)) == len(hints), f"{exercise.name}: two wrong answers share a hint"
