"""Runs inside the student's kernel, after the notebook's cells: calls one exercise's function on the cases.

The grader writes the cases to ``<folder>/cases-<name>.{json,npz}``; this module calls the student's function
on them through the check machinery's ``run_student`` (time limits, captured output, delegation detection)
and writes the attempts to ``<folder>/attempts-<name>.{json,npz}``, in the same format. Nothing is printed
and nothing here decides an outcome: the grader reads the attempts back and judges them itself. This code
runs in a process the student controls, so it is a convenience for honest notebooks, not a defence.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from course_lib.grading import inert, values
from course_lib.grading.checking import attempts_to_data, find_exercise, run_student


def run(namespace: dict[str, Any], chapter: str, name: str, folder: str) -> None:
    """Call ``namespace[name]`` on the cases in ``folder`` and write what it returned there."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        cases = values.read_untrusted(fd, f"cases-{name}", objects=True)
    finally:
        os.close(fd)
    importlib.import_module(f"course_lib.check.ch{chapter}")  # directly: check.chNN is inert under grading
    exercise = find_exercise(chapter, name)
    inert.hide_chapter(chapter)  # the import set check.chNN; the student's code must still meet the inert one
    student = namespace.get(name)
    data = {"missing": True} if student is None else {"attempts": attempts_to_data(run_student(exercise, student,
                                                                                                cases))}
    values.write(folder, f"attempts-{name}", data)
