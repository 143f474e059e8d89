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


@pytest.mark.notebook
def test_execute_drops_finished_progress_bars_but_keeps_explorers(tmp_path: Path, capsys):
    training = ("import torch\nfrom course_lib.models import GaussianMixtureSGD\nfrom course_lib.train import fit\n"
                "history = fit(GaussianMixtureSGD(2, 2), torch.randn(64, 2), steps=5, batch_size=16)\n"
                "print('trained', len(history.step_log))")
    explorer = "import ipywidgets as w\nw.IntSlider(value=3)"
    path = tmp_path / "bars.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(training),
                                                   nbformat.v4.new_code_cell(explorer)]), path)
    assert execute.main([str(path)]) == 0
    nb = nbformat.read(path, as_version=4)
    assert [o["output_type"] for o in nb.cells[0].outputs] == ["stream"]  # the bar is gone, the print stays
    assert "trained 5" in nb.cells[0].outputs[0]["text"]
    view = nb.cells[1].outputs[0]["data"][execute.WIDGET_VIEW]["model_id"]
    state = nb.metadata["widgets"][execute.WIDGET_STATE]["state"]
    assert view in state and state[view]["state"]["value"] == 3
    assert all(m["model_name"] != "FloatProgressModel" for m in state.values())  # the bar's models are pruned
    err = capsys.readouterr().err
    assert "bars.ipynb [1/2]" in err and "bars.ipynb [2/2]" in err  # one line per code cell


def test_dropping_bars_keeps_a_notebook_without_widgets_as_it_is():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    assert execute.drop_finished_progress_bars(nb) == 0
    assert len(nb.cells[0].outputs) == 1 and "widgets" not in nb.metadata
