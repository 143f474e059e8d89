"""Gradescope's results.json: the format, the rows it is made from, and the run_autograder script on two
submissions (a correct and a blank chapter-00 notebook), run as Gradescope runs it, in a temporary
/autograder folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from course_lib.grading.gradescope import results, validate
from course_lib.grading.report import Row

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "docs" / "gradescope"
EXERCISES = ["normal_log_prob", "log_likelihood_per_example"]


def _row(**changes) -> Row:
    fields = {"student": "alice/00_welcome", "notebook": "00_welcome.ipynb", "chapter": "00", "sha256": "ab",
              "outcomes": {"normal_log_prob": "correct", "log_likelihood_per_example": "incorrect"},
              "messages": {"normal_log_prob": "Well done.", "log_likelihood_per_example": "Wrong shape (3,)."}}
    return Row(**{**fields, **changes})


def test_results_follow_the_documented_format_one_test_per_exercise():
    document = results([_row()])
    assert validate(document) == []
    assert {"tests", "score", "max_score", "output"} <= set(document)
    assert [t["name"] for t in document["tests"]] == [f"chapter 00: {name}" for name in EXERCISES]
    assert [(t["score"], t["max_score"], t["status"]) for t in document["tests"]] == [(1.0, 1.0, "passed"),
                                                                                     (0.0, 1.0, "failed")]
    assert document["tests"][1]["output"] == "Not yet correct. Wrong shape (3,)."
    assert (document["score"], document["max_score"]) == (1.0, 2.0)
    assert "1 of 2 exercises correct" in document["output"]


def test_a_notebook_that_could_not_run_scores_zero_of_its_chapter_and_says_why():
    document = results([_row(status="unreadable", outcomes={}, messages={}, first_error="not a notebook")])
    assert validate(document) == [] and (document["score"], document["max_score"]) == (0.0, 2.0)
    assert all("not a notebook" in t["output"] for t in document["tests"])
    assert "unreadable" in document["output"]
    empty = results([])
    assert validate(empty) == [] and empty["tests"] == [] and "No notebook" in empty["output"]


def test_the_validator_rejects_what_gradescope_would_not_read():
    good = results([_row()])
    for broken, fragment in [({**good, "score": "1"}, "score must be a number"),
                             ({**good, "scores": 1}, "unknown top-level key"),
                             ({**good, "tests": [{**good["tests"][0], "max_score": None}]}, "max_score must be"),
                             ({**good, "tests": [{**good["tests"][0], "status": "ok"}]}, "status"),
                             ({**good, "tests": "all"}, "tests must be a list")]:
        assert any(fragment in p for p in validate(broken)), fragment


def test_the_scripts_are_valid_bash():
    for script in ("run_autograder", "setup.sh"):
        subprocess.run(["bash", "-n", str(SCRIPTS / script)], check=True)
        assert os.access(SCRIPTS / script, os.X_OK), f"{script} must be executable"


def _autograder(notebook: nbformat.NotebookNode) -> dict:
    """Run run_autograder as Gradescope does, on a temporary /autograder holding one submission."""
    root = Path(tempfile.mkdtemp(prefix="autograder-"))
    try:
        os.chmod(root, 0o755)
        (root / "source").symlink_to(ROOT)
        (root / "submission").mkdir()
        nbformat.write(notebook, root / "submission" / "00_welcome.ipynb")
        env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable, "PYTHONPATH": str(ROOT),
               "TIME_LIMIT": "300"}  # a loaded machine runs chapter 00 slowly
        done = subprocess.run(["bash", str(SCRIPTS / "run_autograder")], env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "[1/1]" in done.stderr, "the grader prints a line per submission"
        return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.notebook
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the grader's sandbox needs Linux")
def test_run_autograder_scores_a_correct_and_a_blank_submission():
    correct = _autograder(nbformat.read(ROOT / "solutions" / "00_welcome.ipynb", as_version=4))
    assert validate(correct) == []
    assert (correct["score"], correct["max_score"]) == (2.0, 2.0)
    assert [t["status"] for t in correct["tests"]] == ["passed", "passed"]
    blank = _autograder(nbformat.read(ROOT / "exercises" / "00_welcome.ipynb", as_version=4))
    assert validate(blank) == [] and (blank["score"], blank["max_score"]) == (0.0, 2.0)
    assert all(t["output"].startswith("Not attempted") for t in blank["tests"])
