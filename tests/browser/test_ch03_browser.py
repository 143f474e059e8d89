"""Chapter 03 in a real browser: JupyterLab + headless Chromium, Run All, then the temperature / top-k explorer.

What a student does: open the lecture, run every cell, move the explorer's two sliders. The test checks that
no cell shows an error, that each slider changes both the explorer's figure (the reshaped next-character
distribution) and its samples (the printed names), and saves screenshots (to a temporary folder, and to
$COURSE_SCREENSHOT_DIR when that is set). Fixtures live in conftest.py; the steps in lab.py.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import lab
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "03_autoregressive_models.ipynb"

# (slider label, key, presses): temperature 1.0 -> 1.5; top-k 27 -> 3 (it starts at its maximum)
MOVES = [("temperature", "ArrowRight", 5), ("top-k", "ArrowLeft", 24)]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not NOTEBOOK.exists(), reason=f"{NOTEBOOK.relative_to(REPO)} does not exist"),
]


def _samples_of(explorer) -> str:
    """The names the explorer printed under its figure (the text of its output area)."""
    return explorer.locator(".widget-output").first.inner_text().strip()


def test_run_all_then_move_temperature_and_top_k(page, notebook_copy, lab_server, tmp_path):
    started = time.monotonic()
    shots = lab.screenshot_dirs(tmp_path)
    ran_in = lab.open_and_run_all(page, lab_server, notebook_copy, shots)

    explorer = lab.find_explorer(page, "temperature")
    lab.wait_for(lambda: lab.figure_of(explorer), lab.REDRAW_TIMEOUT, "the explorer to draw its first figure")
    lab.wait_for(lambda: _samples_of(explorer), lab.REDRAW_TIMEOUT, "the explorer to print its samples")
    lab.save(page.screenshot(), "01_after_run_all.png", shots)
    lab.save(explorer.screenshot(), "02_explorer_start.png", shots)

    report = []
    for step, (label, key, presses) in enumerate(MOVES, start=3):
        samples_before = _samples_of(explorer)
        slider = lab.find_slider(explorer, label)
        move = lab.move_slider(page, explorer, slider, presses=presses, key=key, shots=shots)
        samples_after = lab.wait_for(lambda b=samples_before: (s := _samples_of(explorer)) != b and s,
                                     lab.REDRAW_TIMEOUT, f"the samples to change after moving {label}")
        lab.save(explorer.screenshot(), f"{step:02d}_explorer_after_{label}.png", shots)
        assert move.figure_after and move.figure_after != move.figure_before, \
            f"moving the {label} slider did not change the figure"
        assert move.value_after != move.value_before, f"the {label} readout stayed at {move.value_before!r}"
        assert len(samples_after.split()) >= 20, f"expected 24 sampled names, the explorer shows {samples_after!r}"
        lab.assert_no_errors(page, f"after moving {label}", shots)
        report.append(f"{label} {move.value_before!r} -> {move.value_after!r}")

    lab.save(page.screenshot(), "05_page_after.png", shots)
    print(f"{'; '.join(report)}; Run All done {ran_in:.1f} s after opening, test body "
          f"{time.monotonic() - started:.1f} s; screenshots in {shots}")
    if os.environ.get("COURSE_SCREENSHOT_DIR"):
        shutil.copy(lab_server.log_path, Path(os.environ["COURSE_SCREENSHOT_DIR"]) / "jupyter-lab.log")
