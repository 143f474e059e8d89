"""Helpers for the real-browser tests: drive a notebook in JupyterLab the way a student does.

The fixtures (`chromium_path`, `lab_server`, `notebook_copy`, `page`) live in conftest.py; this module holds
what every chapter's browser test does with them:

- `screenshot_dirs(tmp_path)` / `save(shot, name, dirs)`: where screenshots go (the test's temporary folder,
  and $COURSE_SCREENSHOT_DIR when that is set) and writing one to all of them.
- `wait_for(predicate, timeout, what)`: poll until a predicate returns something truthy, else fail.
- `open_and_run_all(page, lab_server, notebook_copy, shots)`: open the notebook, wait for the kernel, Run All
  from the Run menu, wait until every code cell ran, fail on a dialog or an error output.
- `assert_no_errors(page, when, shots)`: fail if an output shows a traceback or an error name.
- `find_explorer(page, label)`: the ipywidgets `interact` box that has a slider whose label matches `label`.
- `find_slider(explorer, label)`, `figure_of(explorer)`: one of its sliders; the figure it shows now.
- `move_slider(page, explorer, slider, presses)`: press arrow keys on a slider, wait until the figure changes
  and then stays the same for a second; returns the readouts and figures before and after (`SliderMove`).

A chapter's test module defines `NOTEBOOK` (the `notebook_copy` fixture reads it) and calls these, e.g.

    shots = lab.screenshot_dirs(tmp_path)
    lab.open_and_run_all(page, lab_server, notebook_copy, shots)
    explorer = lab.find_explorer(page, "bandwidth")
    move = lab.move_slider(page, explorer, lab.find_slider(explorer, "bandwidth"), presses=3)
    assert move.figure_after != move.figure_before
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

RUN_ALL_TIMEOUT = 240  # seconds for Run All (fast mode); a busy 2-core machine needs the margin
KERNEL_TIMEOUT = 90  # seconds until the kernel is connected and idle
REDRAW_TIMEOUT = 30  # seconds until a figure changes after a control moved
SETTLE_SECONDS = 1.0  # a figure that stays the same this long has finished redrawing

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

# True once the status bar says e.g. "Python 3 (ipykernel) | Idle" (Run All before that opens a dialog).
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

# Index (among all .widget-interact boxes) of the first interact box with a slider whose label matches the
# regular expression `source` (case-insensitive); -1 if there is none.
FIND_EXPLORER_JS = r"""
(source) => {
  const pattern = new RegExp(source, 'i');
  const all = [...document.querySelectorAll('.widget-interact')];
  const box = all.find(b => [...b.querySelectorAll('.widget-slider')].some(
    s => s.querySelector('.noUi-handle') && pattern.test((s.querySelector('.widget-label') || {}).textContent || '')));
  return box ? all.indexOf(box) : -1;
}
"""

ERROR_PATTERN = re.compile(r"Traceback|\b\w*Error\b")


def screenshot_dirs(tmp_path: Path) -> list[Path]:
    """Folders that receive every screenshot: tmp_path/screenshots, plus $COURSE_SCREENSHOT_DIR if set."""
    dirs = [tmp_path / "screenshots"]
    if os.environ.get("COURSE_SCREENSHOT_DIR"):
        dirs.append(Path(os.environ["COURSE_SCREENSHOT_DIR"]))
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def save(shot: bytes, name: str, dirs: list[Path]) -> None:
    """Write one screenshot (PNG bytes from Playwright) under `name` into each folder of `dirs`."""
    for d in dirs:
        (d / name).write_bytes(shot)


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.25) -> T:
    """Call `predicate` every `interval` s until it returns something truthy (returned); AssertionError after
    `timeout` s, naming `what` was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def assert_no_errors(page: Any, when: str, shots: list[Path]) -> list[str]:
    """Fail if an output shows a traceback or an error name (screenshot `failed_<when>.png` first); returns
    the stderr texts (warnings), for the test to print."""
    outputs = page.evaluate(OUTPUTS_JS)
    errors = [o["text"] for o in outputs if ERROR_PATTERN.search(o["text"])]
    if errors:
        page.locator(".jp-OutputArea-output", has_text=ERROR_PATTERN).first.scroll_into_view_if_needed()
        save(page.screenshot(), f"failed_{when.replace(' ', '_')}.png", shots)
    assert not errors, f"{when}: {len(errors)} output(s) show an error; first:\n{errors[0][-3000:]}"
    return [o["text"] for o in outputs if o["stderr"]]


def open_and_run_all(page: Any, lab_server: Any, notebook_copy: Path, shots: list[Path],
                     timeout: float = RUN_ALL_TIMEOUT) -> float:
    """Open `notebook_copy` in JupyterLab, wait for an idle kernel, click Run > Run All Cells and wait until
    every code cell has run. Fails (with a screenshot, the prompts and the server log) on a timeout, an open
    dialog or an error output; prints stderr outputs. Returns the seconds from opening to done."""
    started = time.monotonic()
    page.set_default_timeout(30_000)
    page.goto(f"{lab_server.url}/lab/tree/{notebook_copy.name}?token={lab_server.token}")
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for()
    # the notebook's execution indicator says idle before a kernel exists: wait for the status bar instead
    page.wait_for_function(KERNEL_READY_JS, timeout=KERNEL_TIMEOUT * 1000)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    try:
        status = wait_for(lambda: (s := page.evaluate(RUN_STATUS_JS)) != "running" and s, timeout,
                          "Run All to finish")
    except AssertionError as error:
        save(page.screenshot(), "failed_run_all.png", shots)
        prompts = page.evaluate(PROMPTS_JS)
        raise AssertionError(f"{error}; prompts {prompts}; server log:\n{lab_server.log_tail()}") from None
    ran_in = time.monotonic() - started
    dialogs = page.locator(".jp-Dialog")
    assert not dialogs.count(), f"a dialog is open: {dialogs.first.inner_text()}"
    warnings = assert_no_errors(page, "after Run All", shots)
    assert status == "done", f"Run All ended with status {status!r}"
    for text in warnings:
        print(f"stderr output (not an error): {text[:300]}")
    return ran_in


def find_explorer(page: Any, label: str) -> Any:
    """The first ipywidgets `interact` box with a slider whose label matches the regex `label` (ignoring case),
    scrolled into view; fails if the page has none."""
    index = page.evaluate(FIND_EXPLORER_JS, label)
    assert index >= 0, f"no ipywidgets interact explorer with a slider labelled /{label}/ was rendered"
    explorer = page.locator(".widget-interact").nth(index)
    explorer.scroll_into_view_if_needed()
    return explorer


def find_slider(explorer: Any, label: str) -> Any:
    """The explorer's first slider whose label matches the regex `label` (ignoring case)."""
    sliders = explorer.locator(".widget-slider")
    labels = [sliders.nth(i).locator(".widget-label").inner_text() for i in range(sliders.count())]
    chosen = [i for i, text in enumerate(labels) if re.search(label, text, re.IGNORECASE)]
    assert chosen, f"no slider labelled /{label}/ in the explorer; its sliders: {labels}"
    return sliders.nth(chosen[0])


def figure_of(explorer: Any) -> str:
    """The explorer's figure as the page shows it: the <img> src (a PNG data URL), or "" while there is none."""
    images = explorer.locator(".widget-output img")
    return (images.first.get_attribute("src") or "") if images.count() else ""


def readout_of(slider: Any) -> str:
    """The value a slider displays next to it ("" if it shows none)."""
    readout = slider.locator(".widget-readout")
    return readout.inner_text() if readout.count() else ""


@dataclass
class SliderMove:
    """What `move_slider` saw: the slider's readout and the explorer's figure, before and after."""

    value_before: str
    value_after: str
    figure_before: str
    figure_after: str


def wait_until_settled(explorer: Any, timeout: float = REDRAW_TIMEOUT, settle: float = SETTLE_SECONDS) -> str:
    """Wait until the explorer's figure stays the same for `settle` s (at most `timeout` s); returns it."""
    last, stable_since = figure_of(explorer), time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() - stable_since < settle and time.monotonic() < deadline:
        time.sleep(0.2)
        now = figure_of(explorer)
        if now != last:
            last, stable_since = now, time.monotonic()
    return figure_of(explorer)


def move_slider(page: Any, explorer: Any, slider: Any, presses: int, key: str = "ArrowRight",
                shots: list[Path] | None = None, timeout: float = REDRAW_TIMEOUT) -> SliderMove:
    """Focus the slider's handle, press `key` `presses` times, wait for the explorer's figure to change and then
    to settle. On a timeout saves `failed_redraw.png` (when `shots` is given) and fails. Does not assert that
    anything changed beyond the wait itself: the caller asserts on the returned `SliderMove`."""
    before = wait_for(lambda: figure_of(explorer), timeout, "the explorer to draw its first figure")
    value_before = readout_of(slider)
    slider.locator(".noUi-handle").first.focus()
    for _ in range(presses):
        page.keyboard.press(key)
    try:
        wait_for(lambda: (f := figure_of(explorer)) and f != before, timeout, "the figure to change")
    except AssertionError:
        if shots:
            save(page.screenshot(), "failed_redraw.png", shots)
        raise
    after = wait_until_settled(explorer, timeout)
    return SliderMove(value_before=value_before, value_after=readout_of(slider), figure_before=before,
                      figure_after=after)
