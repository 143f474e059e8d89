"""The grader's side of the check machinery: find an exercise, run a student's function, judge its values.

The kernel side (:func:`run_student`, :func:`attempts_to_data`) runs in the student's process; the trusted
side (:func:`exercises`, :func:`cases_as_data`, :func:`judge`) in the supervisor. What crosses between them
is plain data in :mod:`course_lib.grading.values`' format, checked field by field on the way back.
"""

from __future__ import annotations

import importlib
from dataclasses import fields
from typing import Any

from course_lib.check import Attempt, Case, Exercise, exercises_of_chapter

_TEXT_LIMIT = 1000  # characters of a message the kernel sends back
_FIELDS = {f.name: f for f in fields(Attempt)}


def exercises(chapter: str) -> list[Exercise]:
    """The chapter's exercises, in definition order (imports ``course_lib.check.chNN``)."""
    importlib.import_module(f"course_lib.check.ch{chapter}")
    return exercises_of_chapter(chapter)


def find_exercise(chapter: str, name: str) -> Exercise:
    for exercise in exercises(chapter):
        if exercise.name == name:
            return exercise
    raise LookupError(f"chapter {chapter} has no exercise {name!r}")


def cases_as_data(exercise: Exercise) -> list[tuple[tuple, dict]]:
    """The exercise's cases as (args, kwargs) pairs, for :func:`course_lib.grading.values.write`."""
    return [(case.args, case.kwargs) for case in exercise.cases()]


def run_student(exercise: Exercise, student: Any, cases: list[tuple[tuple, dict]]) -> list[Attempt]:
    """In the kernel: the check machinery's ``run_student`` on the grader's cases (not the kernel's own)."""
    given = [Case(*args, **kwargs) for args, kwargs in cases]
    exercise.cases = lambda: [case.copy() for case in given]  # this instance only, in this kernel only
    return exercise.run_student(student)


def attempts_to_data(attempts: list[Attempt]) -> list[dict[str, Any]]:
    return [{name: getattr(attempt, name) for name in _FIELDS} for attempt in attempts]


def _attempt(data: Any) -> Attempt:
    """An :class:`Attempt` from what a kernel sent, every field checked; raises ValueError."""
    if not isinstance(data, dict) or set(data) != set(_FIELDS):
        raise ValueError("an attempt with other fields than expected")
    for name in ("error", "delegated"):
        if not (data[name] is None or isinstance(data[name], str)):
            raise ValueError(f"{name} is not text")
        if data[name] is not None:
            data[name] = data[name][:_TEXT_LIMIT]
    for name in ("not_attempted", "timed_out"):
        if not isinstance(data[name], bool):
            raise ValueError(f"{name} is not a truth value")
    for name in ("cpu_seconds", "wall_seconds"):
        if not isinstance(data[name], (int, float)) or not data[name] >= 0:
            raise ValueError(f"{name} is not a duration")
    return Attempt(**data)


def judge(exercise: Exercise, data: Any) -> tuple[str, str]:
    """(outcome, message with its hint) for the attempts a kernel sent, judged by ``exercise`` here."""
    try:
        if not isinstance(data, list):
            raise ValueError("not a list of attempts")
        attempts = [_attempt(item) for item in data]
    except ValueError as error:
        return "incorrect", f"The values your function returned could not be read back ({error})."
    result = exercise.judge(attempts)
    return result.outcome, " ".join([result.message, *(f"Hint: {h}" for h in result.hints[:1])]).strip()
