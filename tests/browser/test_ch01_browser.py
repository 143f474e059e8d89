"""Chapter 01 in a real browser: JupyterLab + headless Chromium, Run All, then move the bandwidth slider.

What a student does first: open the lecture, run every cell, play with the KDE explorer. The test checks
that no cell shows an error and that moving the bandwidth slider redraws the figure, and saves screenshots
(to a temporary folder, and to $COURSE_SCREENSHOT_DIR when that is set).
Fixtures (chromium, the JupyterLab server, the page) live in conftest.py; the steps in lab.py.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import lab
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "01_data_distributions.ipynb"

ARROW_PRESSES = 3

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not NOTEBOOK.exists(), reason=f"{NOTEBOOK.relative_to(REPO)} does not exist"),
]


def test_run_all_then_move_bandwidth_slider(page, notebook_copy, lab_server, tmp_path):
    started = time.monotonic()
    shots = lab.screenshot_dirs(tmp_path)
    ran_in = lab.open_and_run_all(page, lab_server, notebook_copy, shots)

    # The KDE explorer: screenshot the page and the widget once it has drawn, before moving the slider.
    explorer = lab.find_explorer(page, "bandwidth")
    lab.wait_for(lambda: lab.figure_of(explorer), lab.REDRAW_TIMEOUT, "the explorer to draw its first figure")
    slider = lab.find_slider(explorer, "bandwidth")
    lab.save(page.screenshot(), "01_after_run_all.png", shots)
    lab.save(explorer.screenshot(), "02_explorer_before.png", shots)

    move = lab.move_slider(page, explorer, slider, presses=ARROW_PRESSES, shots=shots)
    lab.save(explorer.screenshot(), "03_explorer_after.png", shots)
    lab.save(page.screenshot(), "04_page_after.png", shots)

    assert move.figure_after and move.figure_after != move.figure_before, \
        "moving the bandwidth slider did not change the figure"
    assert move.value_after != move.value_before, f"the slider readout stayed at {move.value_before!r}"
    lab.assert_no_errors(page, "after moving the slider", shots)
    print(f"bandwidth readout {move.value_before!r} -> {move.value_after!r}; Run All done {ran_in:.1f} s "
          f"after opening, test body {time.monotonic() - started:.1f} s; screenshots in {shots}")
    if os.environ.get("COURSE_SCREENSHOT_DIR"):
        shutil.copy(lab_server.log_path, Path(os.environ["COURSE_SCREENSHOT_DIR"]) / "jupyter-lab.log")
