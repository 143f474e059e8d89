"""Gradescope's autograder output: ``results.json`` from the grade rows of one submission.

Gradescope runs ``run_autograder`` once per submission and reads ``/autograder/results/results.json``
(format: Gradescope's "Autograder specifications", the results.json section). Here: one test per exercise
(``name`` "chapter NN: exercise", ``score`` 1 or 0, ``max_score`` 1, ``output`` the outcome and the check's
message, never the expected answer, ``status`` passed/failed), the top-level ``score`` and ``max_score`` (their
sums) and an ``output`` that says how the notebook ran. A submission holding several notebooks gives the tests
of each, named with the notebook.
"""

from __future__ import annotations

import json
from numbers import Real
from pathlib import Path

from course_lib.check import CORRECT
from course_lib.grading.report import Row, _atomic_write

OUTCOME_TEXT = {"correct": "Correct", "incorrect": "Not yet correct", "not_attempted": "Not attempted",
                "missing": "Missing"}
TOP_LEVEL = {"score", "max_score", "output", "output_format", "tests", "visibility", "stdout_visibility",
             "execution_time", "extra_data", "leaderboard"}
TEST_KEYS = {"score", "max_score", "name", "name_format", "number", "output", "output_format", "tags", "status",
             "visibility", "extra_data"}


def _expected_exercises(row: Row) -> dict[str, str]:
    """The row's outcomes; a row that ran no exercise (unreadable, failed) lists its chapter's as missing."""
    if row.outcomes or not row.chapter:
        return dict(row.outcomes)
    from course_lib.grading.checking import exercises

    try:
        return {exercise.name: "missing" for exercise in exercises(row.chapter)}
    except ModuleNotFoundError:
        return {}


def results(rows: list[Row]) -> dict:
    """The results.json document for the rows of one submission."""
    several = len(rows) > 1
    tests, lines = [], []
    for row in rows:
        outcomes = _expected_exercises(row)
        done = sum(1 for outcome in outcomes.values() if outcome == CORRECT)
        line = f"{row.notebook}: {done} of {len(outcomes)} exercises correct"
        if row.status != "ok":
            line += f" (the notebook's run: {row.status}{'; ' + row.first_error if row.first_error else ''})"
        lines.append(line)
        for name, outcome in outcomes.items():
            message = row.messages.get(name) or (row.first_error if outcome == "missing" else "")
            tests.append({
                "name": (f"{row.notebook}: " if several else "") + f"chapter {row.chapter}: {name}",
                "score": 1.0 if outcome == CORRECT else 0.0,
                "max_score": 1.0,
                "status": "passed" if outcome == CORRECT else "failed",
                "output": f"{OUTCOME_TEXT.get(outcome, outcome)}. {message}".strip(),
            })
    if not rows:
        lines.append("No notebook (.ipynb) was found in the submission.")
    return {"score": sum(t["score"] for t in tests), "max_score": sum(t["max_score"] for t in tests),
            "output": "\n".join(lines), "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def validate(document: dict) -> list[str]:
    """What in ``document`` breaks the results.json format (keys, types); empty when it is valid."""
    problems = [f"unknown top-level key {key!r}" for key in document if key not in TOP_LEVEL]
    if "score" not in document and not all("score" in t for t in document.get("tests", [])):
        problems.append("no top-level score and a test without a score")
    for key in ("score", "max_score", "execution_time"):
        if key in document and (not isinstance(document[key], Real) or isinstance(document[key], bool)):
            problems.append(f"{key} must be a number")
    if not isinstance(document.get("output", ""), str):
        problems.append("output must be a string")
    tests = document.get("tests", [])
    if not isinstance(tests, list):
        return problems + ["tests must be a list"]
    for index, test in enumerate(tests):
        if not isinstance(test, dict):
            problems.append(f"tests[{index}] must be an object")
            continue
        problems += [f"tests[{index}]: unknown key {key!r}" for key in test if key not in TEST_KEYS]
        for key in ("score", "max_score"):
            if key in test and (not isinstance(test[key], Real) or isinstance(test[key], bool)):
                problems.append(f"tests[{index}].{key} must be a number")
        for key in ("name", "output"):
            if not isinstance(test.get(key, ""), str):
                problems.append(f"tests[{index}].{key} must be a string")
        if test.get("status", "passed") not in ("passed", "failed"):
            problems.append(f"tests[{index}].status must be passed or failed")
    return problems


def write_results(rows: list[Row], folder: Path) -> Path:
    """Write ``folder/results.json`` (atomically) and return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    document = results(rows)
    problems = validate(document)
    if problems:
        raise ValueError(f"results.json would not be valid: {problems}")
    path = folder / "results.json"
    _atomic_write(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path
