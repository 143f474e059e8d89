"""Blank exercise notebooks run top to bottom and report every exercise as not attempted; exercises/ is
generated from solutions/ and in sync."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib import assign

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))


def test_exercises_are_in_sync_with_solutions():
    problems = assign.build(ROOT / "solutions", ROOT / "exercises", check=True)
    assert not problems, "\n".join(problems)


@pytest.mark.notebook
@pytest.mark.parametrize("path", EXERCISES, ids=[p.name for p in EXERCISES])
def test_blank_exercise_runs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    # check.summary() in the last cell asserts every exercise is "not attempted" (COURSE_CHECK_STRICT=1)
    assert "check.summary()" in notebook.cells[-1].source or any(
        "check.summary()" in c.source for c in notebook.cells if c.cell_type == "code"), "no check.summary() cell"
    resources = {"metadata": {"path": str(path.parent)}}
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources=resources)
    client.execute()  # raises CellExecutionError, with the traceback, on any error
    texts = [o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for c in notebook.cells
             if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not any("Traceback" in t for t in texts)
    assert any("not attempted" in t for t in texts), "no check reported 'not attempted'"
