"""Chapter 08 in a real browser: JupyterLab + headless Chromium, Run All, then check that the chorales can be heard.

The lecture's music section synthesises a real soprano line and a GRU sample with numpy and shows each with
``IPython.display.Audio``, which JupyterLab renders as an HTML ``<audio>`` element holding a WAV data URL. nbval
only sees that the cell ran; this test checks what a student gets: after Run All (no cell shows an error) the page
holds at least two audio elements, and each one has loaded its metadata with a finite, positive duration (the
browser decoded the WAV). Then it plays the first one for a moment and checks that its clock moved. Screenshots
go to a temporary folder, and to $COURSE_SCREENSHOT_DIR when that is set. Fixtures (chromium, the JupyterLab
server, the page) live in conftest.py; the steps in lab.py.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

import lab
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "08_applications.ipynb"
RUN_ALL_TIMEOUT = 480  # seconds: chapter 08's fast mode trains many small models, and the machine may be busy

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not NOTEBOOK.exists(), reason=f"{NOTEBOOK.relative_to(REPO)} does not exist"),
]

# Every <audio> element in the notebook's outputs: readyState (>= 1 once the metadata is loaded), its duration in
# seconds (NaN before that), whether its source is a WAV data URL, and the media error code if decoding failed.
AUDIO_JS = r"""
() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output audio')].map(a => {
  const source = a.currentSrc || a.src || ((a.querySelector('source') || {}).src || '');
  return {ready: a.readyState, duration: Number.isFinite(a.duration) ? a.duration : null,
          wav: source.startsWith('data:audio/wav') || source.startsWith('data:audio/x-wav'),
          error: a.error ? a.error.code : null};
})
"""

# Play the first audio element muted (headless Chromium allows muted autoplay) and return once it has started.
PLAY_JS = r"""
async () => {
  const a = document.querySelector('.jp-Notebook .jp-OutputArea-output audio');
  a.muted = true;
  await a.play();
  return true;
}
"""


def test_run_all_then_the_audio_has_a_duration(page, notebook_copy, lab_server, tmp_path):
    started = time.monotonic()
    shots = lab.screenshot_dirs(tmp_path)
    ran_in = lab.open_and_run_all(page, lab_server, notebook_copy, shots, timeout=RUN_ALL_TIMEOUT)

    audio = page.locator(".jp-Notebook .jp-OutputArea-output audio")
    lab.wait_for(lambda: audio.count() >= 2, lab.REDRAW_TIMEOUT, "two <audio> elements (a real line, a sample)")
    audio.first.scroll_into_view_if_needed()
    loaded = lab.wait_for(lambda: (found := page.evaluate(AUDIO_JS)) and all(a["ready"] >= 1 for a in found) and found,
                          lab.REDRAW_TIMEOUT, "every audio element to load its metadata")
    lab.save(page.screenshot(), "01_audio_cells.png", shots)
    lab.save(audio.first.locator("xpath=ancestor::div[contains(@class, 'jp-Cell')][1]").screenshot(),
             "02_audio_cell.png", shots)
    for i, element in enumerate(loaded):
        assert element["error"] is None, f"audio element {i} failed to decode (MediaError code {element['error']})"
        assert element["wav"], f"audio element {i} does not hold a WAV data URL: {element}"
        assert element["duration"] is not None and math.isfinite(element["duration"]) and element["duration"] > 0, \
            f"audio element {i} has no finite positive duration: {element}"

    page.evaluate(PLAY_JS)
    lab.wait_for(lambda: page.evaluate("() => document.querySelector('.jp-Notebook audio').currentTime") > 0,
                 lab.REDRAW_TIMEOUT, "the first audio element to play")
    lab.assert_no_errors(page, "after playing the audio", shots)
    durations = ", ".join(f"{a['duration']:.1f} s" for a in loaded)
    print(f"{len(loaded)} audio elements, durations {durations}; Run All done {ran_in:.1f} s after opening, test "
          f"body {time.monotonic() - started:.1f} s; screenshots in {shots}")
    if os.environ.get("COURSE_SCREENSHOT_DIR"):
        shutil.copy(lab_server.log_path, Path(os.environ["COURSE_SCREENSHOT_DIR"]) / "jupyter-lab.log")
