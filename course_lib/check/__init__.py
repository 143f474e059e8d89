"""Exercise checks: ``check.ch01.empirical_pmf(empirical_pmf)`` checks a student's function and shows the outcome.

One module per chapter (``ch00`` ... ``ch08``), loaded on first use; ``check.summary()`` shows the progress.

For an instructor, a new exercise goes in ``course_lib/check/chNN.py`` (its chapter is read from that module's
name): a float64 ``reference``, ``make_cases(rng)`` returning random ``Case``s, a ``hint``, the typical
mistakes as ``WrongAnswer``s with their own hints, and in ``forbidden`` the library's own implementation of
the same thing, if there is one. Where more than the return value must be judged (many samples,
gradients), write a ``call`` adapter that computes those values from the student's code, and a ``compare``
that judges them. Test it in ``tests/test_check_chNN.py`` with
``course_lib.check.testing.assert_exercise_behaves(exercise, solutions=[...])``: the stub is not attempted,
every wrong answer is recognised with its hint, the reference and your other solutions are correct.

The machinery, by concern: ``exercise`` (Case, WrongAnswer, Exercise: ``run_student`` then ``judge``),
``sandbox`` (running student code safely: Attempt, capture, restored state, CPU time), ``interrupt`` (the
hard stop for endless loops), ``watch`` (delegation to forbidden code), ``compare`` (comparing values),
``result`` (showing a Result), ``registry`` (the exercises and the progress).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from course_lib.check.compare import compare_values
from course_lib.check.exercise import Case, Exercise, WrongAnswer
from course_lib.check.registry import exercises_of_chapter, progress, reset_progress, summary
from course_lib.check.result import CORRECT, INCORRECT, NOT_ATTEMPTED, Result
from course_lib.check.sandbox import Attempt

__all__ = [
    "CORRECT", "INCORRECT", "NOT_ATTEMPTED", "Attempt", "Case", "Exercise", "Result", "WrongAnswer",
    "compare_values", "exercises_of_chapter", "progress", "reset_progress", "summary",
]


def __getattr__(name: str) -> ModuleType:
    if name.startswith("ch") and name[2:].isdigit():
        try:
            return importlib.import_module(f"course_lib.check.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"course_lib.check.{name}":
                raise AttributeError(f"there are no checks for chapter {name[2:]} (yet)") from None
            raise
    raise AttributeError(f"module 'course_lib.check' has no attribute {name!r}")
