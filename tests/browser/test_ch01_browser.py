"""Chapter 01 in a real browser: JupyterLab + headless Chromium, Run All, then move the bandwidth slider.

What a student does first: open the lecture, run every cell, play with the KDE explorer. The test checks
that no cell shows an error and that moving the bandwidth slider redraws the figure, and saves screenshots
(to a temporary folder, and to $COURSE_SCREENSHOT_DIR when that is set).
Fixtures (chromium, the JupyterLab server, the page) live in conftest.py next to this file.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "01_data_distributions.ipynb"

RUN_ALL_TIMEOUT = 240  # seconds; fast mode: about 15-60 s on 2 cores, depending on what else runs
REDRAW_TIMEOUT = 30  # seconds until the figure changes after the key presses
ARROW_PRESSES = 3

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not NOTEBOOK.exists(), reason=f"{NOTEBOOK.relative_to(REPO)} does not exist"),
]

# Status of Run All, computed in the page: "running", "done" (every code cell has an execution count and the
# kernel is idle) or "error" (an output shows a traceback, so later cells will never run).
RUN_STATUS_JS = r"""
() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')]
    .map(e => e.textContent.trim());
  const outputs = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')];
  if (outputs.some(e => e.textContent.includes('Traceback'))) return 'error';
  const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
  const idle = !indicator || indicator.getAttribute('data-status') === 'idle';
  const numbered = prompts.length > 0 && prompts.every(t => /^\[\d+\]:$/.test(t));
  return numbered && idle ? 'done' : 'running';
}
"""

KERNEL_READY_JS = r"""
() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
  .some(e => /^(?!No Kernel).+ \| Idle$/.test(e.textContent.trim()))
"""

PROMPTS_JS = r"""
() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')].map(e => e.textContent)
"""

# Every output area's text, and whether it is stderr: the error check runs on these in Python.
OUTPUTS_JS = r"""
() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')].map(e => ({
  stderr: e.getAttribute('data-mime-type') === 'application/vnd.jupyter.stderr',
  text: e.textContent,
}))
"""

# The interact explorer to drive: the one whose slider is labelled "bandwidth" (else the first with a slider).
FIND_EXPLORER_JS = r"""
() => {
  const boxes = [...document.querySelectorAll('.widget-interact')]
    .filter(b => b.querySelector('.noUi-handle'));
  const hasBandwidth = b => [...b.querySelectorAll('.widget-slider')].some(
    s => /bandwidth/i.test((s.querySelector('.widget-label') || {}).textContent || ''));
  const box = boxes.find(hasBandwidth) || boxes[0];
  if (!box) return -1;
  return [...document.querySelectorAll('.widget-interact')].indexOf(box);
}
"""

ERROR_PATTERN = re.compile(r"Traceback|\b\w*Error\b")


def _assert_no_errors(page, when: str, shots: list[Path]) -> list[str]:
    """Fail if an output shows a traceback or an error name; returns stderr texts (warnings) for the log."""
    outputs = page.evaluate(OUTPUTS_JS)
    errors = [o["text"] for o in outputs if ERROR_PATTERN.search(o["text"])]
    if errors:
        page.locator(".jp-OutputArea-output", has_text=ERROR_PATTERN).first.scroll_into_view_if_needed()
        _save(page.screenshot(), f"failed_{when.replace(' ', '_')}.png", shots)
    assert not errors, f"{when}: {len(errors)} output(s) show an error; first:\n{errors[0][-3000:]}"
    return [o["text"] for o in outputs if o["stderr"]]


def _figure_of(explorer) -> str:
    """The explorer's figure as the page shows it: the <img> src (a PNG data URL), or "" while there is none."""
    images = explorer.locator(".widget-output img")
    return (images.first.get_attribute("src") or "") if images.count() else ""


def _screenshot_dirs(tmp_path: Path) -> list[Path]:
    dirs = [tmp_path / "screenshots"]
    if os.environ.get("COURSE_SCREENSHOT_DIR"):
        dirs.append(Path(os.environ["COURSE_SCREENSHOT_DIR"]))
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def _save(shot: bytes, name: str, dirs: list[Path]) -> None:
    for d in dirs:
        (d / name).write_bytes(shot)


def _wait_for(predicate, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_run_all_then_move_bandwidth_slider(page, notebook_copy, lab_server, tmp_path):
    started = time.monotonic()
    shots = _screenshot_dirs(tmp_path)
    page.set_default_timeout(30_000)
    page.goto(f"{lab_server.url}/lab/tree/{notebook_copy.name}?token={lab_server.token}")
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for()
    # Run All before the kernel is connected opens a "Select Kernel" dialog: wait for the status bar to say
    # "Python 3 (ipykernel) | Idle" (the notebook's execution indicator says idle before a kernel exists).
    page.wait_for_function(KERNEL_READY_JS, timeout=90_000)

    # Run All through the menu bar, as a student would.
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    try:
        status = _wait_for(lambda: (s := page.evaluate(RUN_STATUS_JS)) != "running" and s, RUN_ALL_TIMEOUT,
                           "Run All to finish")
    except AssertionError as error:
        _save(page.screenshot(), "failed_run_all.png", shots)
        prompts = page.evaluate(PROMPTS_JS)
        raise AssertionError(f"{error}; prompts {prompts}; server log:\n{lab_server.log_tail()}") from None
    ran_in = time.monotonic() - started
    dialogs = page.locator(".jp-Dialog")
    assert not dialogs.count(), f"a dialog is open: {dialogs.first.inner_text()}"
    warnings = _assert_no_errors(page, "after Run All", shots)
    assert status == "done"
    for text in warnings:
        print(f"stderr output (not an error): {text[:300]}")

    # The KDE explorer: scroll it into view, screenshot the page and the widget before moving the slider.
    index = page.evaluate(FIND_EXPLORER_JS)
    assert index >= 0, "no ipywidgets interact explorer with a slider was rendered"
    explorer = page.locator(".widget-interact").nth(index)
    explorer.scroll_into_view_if_needed()
    before = _wait_for(lambda: _figure_of(explorer), 30, "the explorer to draw its first figure")
    sliders = explorer.locator(".widget-slider")
    labels = [sliders.nth(i).locator(".widget-label").inner_text() for i in range(sliders.count())]
    chosen = [i for i, label in enumerate(labels) if "bandwidth" in label.lower()]
    slider = sliders.nth(chosen[0]) if chosen else sliders.first
    readout = slider.locator(".widget-readout")
    value_before = readout.inner_text() if readout.count() else ""
    _save(page.screenshot(), "01_after_run_all.png", shots)
    _save(explorer.screenshot(), "02_explorer_before.png", shots)

    # Move the slider with the keyboard and wait for the redraw.
    slider.locator(".noUi-handle").first.focus()
    for _ in range(ARROW_PRESSES):
        page.keyboard.press("ArrowRight")
    try:
        _wait_for(lambda: (f := _figure_of(explorer)) and f != before, REDRAW_TIMEOUT, "the figure to change")
    except AssertionError:
        _save(page.screenshot(), "failed_redraw.png", shots)
        raise
    value_after = readout.inner_text() if readout.count() else ""
    # Let the last redraw land: the figure must stay the same for a second.
    last, stable_since = _figure_of(explorer), time.monotonic()
    deadline = time.monotonic() + REDRAW_TIMEOUT
    while time.monotonic() - stable_since < 1.0 and time.monotonic() < deadline:
        time.sleep(0.2)
        now = _figure_of(explorer)
        if now != last:
            last, stable_since = now, time.monotonic()
    after = _figure_of(explorer)
    _save(explorer.screenshot(), "03_explorer_after.png", shots)
    _save(page.screenshot(), "04_page_after.png", shots)

    assert after and after != before, "moving the bandwidth slider did not change the figure"
    assert value_after != value_before, f"the slider readout stayed at {value_before!r}"
    _assert_no_errors(page, "after moving the slider", shots)
    print(f"sliders {labels}: readout {value_before!r} -> {value_after!r}; Run All done {ran_in:.1f} s "
          f"after opening, test body {time.monotonic() - started:.1f} s; screenshots in {shots}")
    if os.environ.get("COURSE_SCREENSHOT_DIR"):
        shutil.copy(lab_server.log_path, Path(os.environ["COURSE_SCREENSHOT_DIR"]) / "jupyter-lab.log")
