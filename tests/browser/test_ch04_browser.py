"""Chapter 04 in a real browser: JupyterLab + headless Chromium, Run All, then move both latent sliders.

The latent explorer (`course_lib.widgets.latent_explorer`) has two sliders, z1 and z2, that choose a point of
the 2-D VAE's latent space; the figure shows the map of encoded test digits with a cross at z and the decoded
mean image. The test runs the lecture from the Run menu, checks that no cell shows an error, walks z round a
square (z1 right, z2 right, z1 left, z2 left), checks that the readout and the figure change at every step and
that back at the start the figure is the first one again, and saves screenshots (to a
temporary folder, and to $COURSE_SCREENSHOT_DIR when that is set). Fixtures live in conftest.py, the page
helpers in lab.py, next to this file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import lab
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "04_latent_variable_models.ipynb"
PRESSES = 4  # 4 x 0.05: the cross moves by 0.2 in latent units, and the decoded digit with it

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not NOTEBOOK.exists(), reason=f"{NOTEBOOK.relative_to(REPO)} does not exist"),
]


def test_run_all_then_move_both_latent_sliders(page, notebook_copy, lab_server, tmp_path):
    shots = lab.screenshot_dirs(tmp_path)
    ran_in = lab.open_and_run_all(page, lab_server, notebook_copy, shots)
    explorer = lab.find_explorer(page, r"^z1$")
    lab.save(page.screenshot(), "01_after_run_all.png", shots)
    lab.save(explorer.screenshot(), "02_explorer_before.png", shots)

    first = lab.wait_for(lambda: lab.figure_of(explorer), lab.REDRAW_TIMEOUT, "the explorer's first figure")
    figures, moves = [first], []
    for step, (name, key) in enumerate([("z1", "ArrowRight"), ("z2", "ArrowRight"), ("z1", "ArrowLeft"),
                                        ("z2", "ArrowLeft")], start=3):
        slider = lab.find_slider(explorer, rf"^{name}$")
        move = lab.move_slider(page, explorer, slider, presses=PRESSES, key=key, shots=shots)
        lab.save(explorer.screenshot(), f"{step:02d}_explorer_after_{name}_{key}.png", shots)
        assert move.value_after != move.value_before, f"the {name} readout stayed at {move.value_before!r}"
        assert move.figure_after and move.figure_after != move.figure_before, f"moving {name} left the figure as it was"
        figures.append(move.figure_after)
        moves.append(f"{name} {key}: {move.value_before} -> {move.value_after}")
        lab.assert_no_errors(page, f"after moving {name}", shots)
    assert len(set(figures[:4])) == 4, "two of the points (0, 0), (0.2, 0), (0.2, 0.2), (0, 0.2) drew the same figure"
    assert figures[-1] == first, "back at z = (0, 0) the explorer drew a different figure than at the start"
    lab.save(page.screenshot(), "07_page_after.png", shots)
    print(f"{'; '.join(moves)}; Run All done {ran_in:.1f} s after opening; screenshots in {shots}")
    if os.environ.get("COURSE_SCREENSHOT_DIR"):
        shutil.copy(lab_server.log_path, Path(os.environ["COURSE_SCREENSHOT_DIR"]) / "jupyter-lab.log")
