"""Every exercise, by chapter, and the student's progress on them in this session."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from course_lib.check.result import CORRECT, INCORRECT, NOT_ATTEMPTED, Result, show

if TYPE_CHECKING:
    from course_lib.check.exercise import Exercise

_REGISTRY: dict[str, dict[str, Exercise]] = {}
_PROGRESS: dict[tuple[str, str], Result] = {}
_FAILED_ATTEMPTS: dict[tuple[str, str], int] = {}


def register(exercise: Exercise) -> None:
    """Add an exercise to its chapter (a new definition of the same name replaces the old one)."""
    _REGISTRY.setdefault(exercise.chapter, {})[exercise.name] = exercise


def exercises_of_chapter(chapter: str) -> list[Exercise]:
    """Every registered exercise of a chapter, in definition order."""
    return list(_REGISTRY.get(chapter, {}).values())


def record(result: Result) -> int:
    """Remember a result; returns how many times this exercise has now failed in this session."""
    key = (result.chapter, result.exercise)
    _PROGRESS[key] = result
    if result.outcome == INCORRECT:
        _FAILED_ATTEMPTS[key] = _FAILED_ATTEMPTS.get(key, 0) + 1
    return _FAILED_ATTEMPTS.get(key, 0)


def reset_progress() -> None:
    """Forget every result (used by tests and by the grader between notebooks)."""
    _PROGRESS.clear()
    _FAILED_ATTEMPTS.clear()


def progress() -> dict[tuple[str, str], Result]:
    """A copy of the results so far, keyed by (chapter, exercise)."""
    return dict(_PROGRESS)


@dataclass
class Summary:
    """Progress on the exercises of some chapters: a row per exercise."""

    rows: list[tuple[str, str, str]]  # (chapter, exercise, outcome or "not checked yet")

    def __str__(self) -> str:
        done = sum(1 for _, _, o in self.rows if o == CORRECT)
        lines = [f"Progress: {done} of {len(self.rows)} exercises correct"]
        lines += [f"  ch{c} {name:<32} {outcome.replace('_', ' ')}" for c, name, outcome in self.rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        done = sum(1 for _, _, o in self.rows if o == CORRECT)
        marks = {CORRECT: "&#10004; correct", INCORRECT: "&#10008; not yet", NOT_ATTEMPTED: "&#9998; not attempted"}
        rows = "".join(
            f"<tr><td>{c}</td><td><code>{html.escape(n)}</code></td><td>{marks.get(o, html.escape(o))}</td></tr>"
            for c, n, o in self.rows
        )
        return (f"<b>Progress: {done} of {len(self.rows)} exercises correct</b>"
                f"<table><tr><th>chapter</th><th>exercise</th><th>status</th></tr>{rows}</table>")


def summary(chapters: Sequence[str] | None = None) -> None:
    """Show the progress on every exercise of ``chapters`` (default: the chapters checked in this session).

    Under the test harness (``COURSE_CHECK_STRICT=1``) it also asserts the expected state of the notebook's
    folder: every exercise correct in ``solutions/``, every one not attempted in a blank ``exercises/``.
    """
    if chapters is None:
        chapters = sorted({c for c, _ in _PROGRESS})
    rows = []
    for chapter in chapters:
        for name in _REGISTRY.get(chapter, {}):
            result = _PROGRESS.get((chapter, name))
            rows.append((chapter, name, result.outcome if result else "not checked yet"))
    table = Summary(rows)
    show(table)
    if os.environ.get("COURSE_CHECK_STRICT") == "1":
        _assert_expected(table)


def _assert_expected(table: Summary) -> None:
    folder = os.path.basename(os.getcwd())
    expected = {"solutions": CORRECT, "exercises": NOT_ATTEMPTED}.get(folder)
    if expected is None:
        return
    wrong = [(c, n, o) for c, n, o in table.rows if o != expected]
    if wrong or not table.rows:
        not_as_expected = wrong or "no exercises were checked"
        raise AssertionError(f"in {folder}/ every exercise should be {expected}; these are not: {not_as_expected}")
