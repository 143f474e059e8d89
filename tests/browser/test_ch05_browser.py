"""Chapter 05 in a real browser: JupyterLab + headless Chromium, Run All, then step the GAN training explorer.

The lecture's explorer (course_lib/widgets/gan.py) puts a slider over the snapshots of a 2-D GAN's training: the
generator's samples and the discriminator's decision surface. The test runs every cell from the Run menu,
checks that no cell shows an error, moves the "snapshot" slider forward with the keyboard (twice), and checks
that the readout follows and the figure is redrawn each time, then moves it back to the start and checks that
the first figure returns. Screenshots go to a temporary folder, and to $COURSE_SCREENSHOT_DIR when that is set.
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
NOTEBOOK = REPO / "notebooks" / "05_gans.ipynb"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not NOTEBOOK.exists(), reason=f"{NOTEBOOK.relative_to(REPO)} does not exist"),
]


def test_run_all_then_step_through_training_snapshots(page, notebook_copy, lab_server, tmp_path):
    started = time.monotonic()
    shots = lab.screenshot_dirs(tmp_path)
    ran_in = lab.open_and_run_all(page, lab_server, notebook_copy, shots)

    explorer = lab.find_explorer(page, r"^snapshot$")
    first_figure = lab.wait_for(lambda: lab.figure_of(explorer), lab.REDRAW_TIMEOUT, "the explorer's first figure")
    slider = lab.find_slider(explorer, r"^snapshot$")
    assert lab.readout_of(slider) == "0", f"the explorer should start at the first snapshot, shows " \
        f"{lab.readout_of(slider)!r}"
    lab.save(page.screenshot(), "01_after_run_all.png", shots)
    lab.save(explorer.screenshot(), "02_explorer_snapshot_0.png", shots)

    first = lab.move_slider(page, explorer, slider, presses=1, shots=shots)
    lab.save(explorer.screenshot(), "03_explorer_snapshot_1.png", shots)
    second = lab.move_slider(page, explorer, slider, presses=5, shots=shots)
    lab.save(explorer.screenshot(), "04_explorer_snapshot_6.png", shots)
    back = lab.move_slider(page, explorer, slider, presses=6, key="ArrowLeft", shots=shots)
    lab.save(page.screenshot(), "05_page_after.png", shots)

    assert (first.value_before, first.value_after, second.value_after, back.value_after) == ("0", "1", "6", "0"), \
        f"the readout went {first.value_before!r} -> {first.value_after!r} -> {second.value_after!r} -> " \
        f"{back.value_after!r}"
    figures = [first.figure_before, first.figure_after, second.figure_after]
    assert all(figures) and len(set(figures)) == 3, "each move of the slider should draw a different figure"
    assert back.figure_after == first_figure, "back at snapshot 0 the explorer drew a different figure"
    lab.assert_no_errors(page, "after moving the slider", shots)
    print(f"snapshot readout 0 -> 1 -> 6 -> 0; Run All done {ran_in:.1f} s after opening, test body "
          f"{time.monotonic() - started:.1f} s; screenshots in {shots}")
    if os.environ.get("COURSE_SCREENSHOT_DIR"):
        shutil.copy(lab_server.log_path, Path(os.environ["COURSE_SCREENSHOT_DIR"]) / "jupyter-lab.log")
