import copy
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import assign
from course_lib.check import exercises_of_chapter

ROOT = Path(__file__).resolve().parent.parent

SOLUTION_CELL = '''def double(x):
    """Twice x."""
    ### BEGIN SOLUTION
    y = 2 * x
    return y
    ### END SOLUTION'''


def _notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title")] + [nbformat.v4.new_code_cell(s) for s in sources]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="old output")]
    nb.cells[1].execution_count = 3
    return nb


def test_strip_solution_keeps_the_indentation_and_everything_else():
    stripped = assign.strip_solution(SOLUTION_CELL)
    assert stripped == 'def double(x):\n    """Twice x."""\n    # YOUR CODE HERE\n    raise NotImplementedError()'


@pytest.mark.parametrize(("source", "fragment"), [
    ("### BEGIN SOLUTION\nx = 1", "without a matching"),
    ("x = 1\n### END SOLUTION", "without a"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "second"),
])
def test_unbalanced_markers_are_errors(source, fragment):
    with pytest.raises(assign.AssignError, match=fragment):
        assign.strip_solution(source, where="nb.ipynb, cell 2")


def test_build_then_check_then_detect_a_changed_solution(tmp_path: Path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nbformat.write(_notebook(SOLUTION_CELL, "print(double(2))"), solutions / "01_x.ipynb")
    assert assign.build(solutions, exercises) == []
    generated = nbformat.read(exercises / "01_x.ipynb", as_version=4)
    assert "raise NotImplementedError()" in generated.cells[1].source and "2 * x" not in generated.cells[1].source
    assert generated.cells[1].outputs == [] and generated.cells[1].execution_count is None
    assert generated.cells[2].source == "print(double(2))"
    assert assign.build(solutions, exercises, check=True) == []
    assert assign.main(["--check", "--solutions", str(solutions), "--exercises", str(exercises)]) == 0

    changed = _notebook(SOLUTION_CELL.replace("2 * x", "x + x"), "print(double(3))")
    nbformat.write(changed, solutions / "01_x.ipynb")
    problems = assign.build(solutions, exercises, check=True)
    assert problems and "01_x.ipynb" in problems[0] and "out of date" in problems[0]
    assert assign.main(["--check", "--solutions", str(solutions), "--exercises", str(exercises)]) == 1


def test_a_students_edits_are_not_overwritten(tmp_path: Path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nbformat.write(_notebook(SOLUTION_CELL), solutions / "01_x.ipynb")
    assign.build(solutions, exercises)
    student = nbformat.read(exercises / "01_x.ipynb", as_version=4)
    student.cells[1].source = student.cells[1].source.replace("raise NotImplementedError()", "return 2 * x")
    nbformat.write(student, exercises / "01_x.ipynb")
    nbformat.write(_notebook(SOLUTION_CELL + "\n# changed"), solutions / "01_x.ipynb")
    problems = assign.build(solutions, exercises)
    assert problems and "not overwritten" in problems[0]
    assert "return 2 * x" in (exercises / "01_x.ipynb").read_text()
    assert assign.build(solutions, exercises, force=True) == []


def test_markers_in_markdown_and_stale_exercises_are_reported(tmp_path: Path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nb = _notebook("x = 1")
    nb.cells[0].source = "### BEGIN SOLUTION"
    nbformat.write(nb, solutions / "02_y.ipynb")
    exercises.mkdir()
    (exercises / "99_old.ipynb").write_text("{}")
    problems = assign.build(solutions, exercises)
    assert any("cell 0" in p for p in problems) and any("99_old" in p for p in problems)


def test_a_check_raises_only_under_nbgrader_and_only_for_the_notebooks_answer(monkeypatch):
    import math

    import torch

    from course_lib.check import ch00

    def blank(x, mu, sigma):
        raise NotImplementedError()

    def forgot_the_log(x, mu, sigma):
        return torch.distributions.Normal(mu, sigma).log_prob(x).exp()

    def right(x, mu, sigma):
        return -0.5 * ((x - mu) / sigma) ** 2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)

    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "normal_log_prob", blank, raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    ch00.normal_log_prob(blank)  # outside nbgrader: shown, never raised
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(AssertionError, match="not attempted"):
        ch00.normal_log_prob(blank)
    ch00.normal_log_prob(forgot_the_log)  # a demonstration on another function than the answer: no raise
    monkeypatch.setattr(main, "normal_log_prob", forgot_the_log)
    with pytest.raises(AssertionError, match="incorrect"):
        ch00.normal_log_prob(forgot_the_log)
    monkeypatch.setattr(main, "normal_log_prob", right)
    ch00.normal_log_prob(right)  # a correct answer never raises


def test_the_nbgrader_metadata_marks_answers_and_tests(tmp_path: Path):
    name = "00_welcome.ipynb"
    notebook = nbformat.read(ROOT / "solutions" / name, as_version=4)
    marked = assign.nbgrader_notebook(notebook, name)
    kinds = [(c.metadata["nbgrader"]["solution"], c.metadata["nbgrader"]["grade"])
             for c in marked.cells if "nbgrader" in c.get("metadata", {})]
    assert (True, False) in kinds and (False, True) in kinds and (True, True) not in kinds
    for cell in marked.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta and meta["grade"]:
            assert meta["locked"] and meta["points"] >= 1 and "### BEGIN SOLUTION" not in cell.source
    # a notebook that lost the check of one exercise cannot be graded: said, not silently skipped
    first = exercises_of_chapter("00")[0].name
    untested = copy.deepcopy(notebook)
    untested.cells = [c for c in notebook.cells
                      if not (c.cell_type == "code" and first in assign._checked_exercises(c.source))]
    with pytest.raises(assign.AssignError, match=f"{first}.*could not grade"):
        assign.nbgrader_notebook(untested, name)
    # the export: source/<stem>/<stem>.ipynb and nbgrader's config with the course's stub
    assert assign.main(["--nbgrader", str(tmp_path / "course"), "--chapter", "00"]) == 0
    exported = nbformat.read(tmp_path / "course" / "source" / "00_welcome" / "00_welcome.ipynb", as_version=4)
    assert [c.get("metadata", {}).get("nbgrader") for c in exported.cells] == \
           [c.get("metadata", {}).get("nbgrader") for c in marked.cells]
    config = (tmp_path / "course" / "nbgrader_config.py").read_text()
    assert repr("\n".join(assign.STUB)) in config and "c.Execute.timeout" in config
