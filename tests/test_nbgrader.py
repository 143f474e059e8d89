"""nbgrader for real: a throw-away nbgrader course made from solutions/, the student version it generates,
and the grades ``nbgrader autograde`` gives a correct and a blank submission, exercise by exercise.

The cycle an instructor runs (README, "How an instructor works")::

    python -m course_lib.assign --nbgrader COURSE
    cd COURSE && nbgrader generate_assignment NN_name
    nbgrader autograde NN_name        # after submitted/<student>/NN_name/NN_name.ipynb are collected

Every chapter with a solution notebook takes part (so chapters added later are covered), all in one
``generate_assignment`` and one ``autograde`` run (the assignment id ``*`` is a glob for nbgrader).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import assign
from course_lib.check import exercises_of_chapter

pytest.importorskip("nbgrader", reason="nbgrader is pinned in requirements.txt: pip install -r requirements.txt")

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = [p.stem for p in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))]
STUDENTS = {"correct": "alice", "blank": "bob"}

pytestmark = [pytest.mark.nbgrader, pytest.mark.notebook]


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result


def _answered(release: nbformat.NotebookNode, source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version with every answer cell filled in as the solution has it."""
    notebook = copy.deepcopy(release)
    for cell, solution in zip(notebook.cells, source.cells, strict=True):
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell.source = solution.source
    return notebook


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """The course after generate_assignment, two submissions per chapter and autograde."""
    course = tmp_path_factory.mktemp("nbgrader") / "course"
    assert assign.main(["--nbgrader", str(course)]) == 0
    _nbgrader(course, "generate_assignment", "*")
    for chapter in CHAPTERS:
        release = nbformat.read(course / "release" / chapter / f"{chapter}.ipynb", as_version=4)
        source = nbformat.read(course / "source" / chapter / f"{chapter}.ipynb", as_version=4)
        for kind, student in STUDENTS.items():
            folder = course / "submitted" / student / chapter
            folder.mkdir(parents=True)
            nbformat.write(_answered(release, source) if kind == "correct" else release, folder / f"{chapter}.ipynb")
    _nbgrader(course, "autograde", "*")
    return course


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_student_version_is_the_courses_exercise_notebook(course: Path, chapter: str):
    release = nbformat.read(course / "release" / chapter / f"{chapter}.ipynb", as_version=4)
    exercise = nbformat.read(ROOT / "exercises" / f"{chapter}.ipynb", as_version=4)
    assert [(c.cell_type, c.source) for c in release.cells] == [(c.cell_type, c.source) for c in exercise.cells]
    assert all(not c.get("outputs") for c in release.cells if c.cell_type == "code")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_autograde_gives_the_correct_notebook_every_point_and_the_blank_one_none(course: Path, chapter: str):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {}
        for kind, student in STUDENTS.items():
            notebook = gradebook.find_submission_notebook(chapter, chapter, student)
            scores[kind] = {grade.name: (grade.auto_score, grade.max_score) for grade in notebook.grades}
    source = nbformat.read(course / "source" / chapter / f"{chapter}.ipynb", as_version=4)
    tested = {c.metadata["nbgrader"]["grade_id"]: assign._checked_exercises(c.source) for c in source.cells
              if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    assert set(tested) == set(scores["correct"]) == set(scores["blank"])
    exercises = [e.name for e in exercises_of_chapter(chapter[:2])]
    assert sorted(n for names in tested.values() for n in names) == sorted(exercises), "each exercise tested once"
    assert all(scores["correct"][grade_id][1] == len(names) for grade_id, names in tested.items()), "a point each"
    assert {name: score for name, (score, _) in scores["correct"].items()} == \
           {name: maximum for name, (_, maximum) in scores["correct"].items()}, "a correct answer lost points"
    assert all(score == 0 for score, _ in scores["blank"].values()), f"a blank answer earned points: {scores['blank']}"
