"""Exercise checks: ``check.ch01.empirical_pmf(empirical_pmf)`` checks and shows the outcome.

One module per chapter (``ch00`` ... ``ch07``), loaded on first use; ``check.summary()`` shows the progress.
The machinery lives in :mod:`course_lib.check.core`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from course_lib.check.core import CORRECT, INCORRECT, NOT_ATTEMPTED, Result, progress, reset_progress, summary

__all__ = ["CORRECT", "INCORRECT", "NOT_ATTEMPTED", "Result", "progress", "reset_progress", "summary"]


def __getattr__(name: str) -> ModuleType:
    if name.startswith("ch") and name[2:].isdigit():
        try:
            return importlib.import_module(f"course_lib.check.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"course_lib.check.{name}":
                raise AttributeError(f"there are no checks for chapter {name[2:]} (yet)") from None
            raise
    raise AttributeError(f"module 'course_lib.check' has no attribute {name!r}")
