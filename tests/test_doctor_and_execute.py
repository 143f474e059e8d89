from pathlib import Path

import nbformat
import pytest

import course_lib
from course_lib import execute


def test_doctor_reports_every_dependency(capsys):
    report = course_lib.doctor()
    assert report["all imports ok"] == "True", report
    assert {"torch", "numpy", "ipywidgets", "device", "fast mode"} <= set(report)
    assert "fast mode" in capsys.readouterr().out


@pytest.mark.notebook
def test_execute_stores_outputs_in_full_mode(tmp_path: Path):
    source = "import course_lib\nprint(course_lib.budget('full', 'fast'))"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    path = tmp_path / "demo.ipynb"
    nbformat.write(nb, path)
    assert execute.main([str(path)]) == 0
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["text"].strip() == "full"
    assert execute.main(["--fast", str(path)]) == 0
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["text"].strip() == "fast"


def test_execute_never_runs_exercise_notebooks(tmp_path: Path, capsys):
    (tmp_path / "exercises").mkdir()
    path = tmp_path / "exercises" / "01_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    before = path.read_text()
    assert execute.main([str(path)]) == 0
    assert path.read_text() == before and "skipped" in capsys.readouterr().err


@pytest.mark.notebook
def test_execute_leaves_a_failing_notebook_unchanged(tmp_path: Path):
    path = tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")]), path)
    before = path.read_text()
    assert execute.main([str(path)]) == 1
    assert path.read_text() == before
