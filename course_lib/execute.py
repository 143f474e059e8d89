"""Execute notebooks and store their outputs in place, so lectures are committed with real outputs.

Usage::

    python -m course_lib.execute notebooks/02_maximum_likelihood.ipynb solutions/02_maximum_likelihood.ipynb
    python -m course_lib.execute --fast notebooks/*.ipynb     # fast mode (COURSE_FAST=1), e.g. to try things

Runs in full mode unless --fast, with the kernel's working directory set to the notebook's folder, and prints
one line per code cell to stderr as it finishes (its number, seconds and first line), so a long run shows where
it is. A notebook that fails is left unchanged, and the command exits non-zero after trying the others.
Refuses to run notebooks in exercises/ (students' work is never overwritten; those are generated blank).

The kernel client is :mod:`course_lib.kernel`'s, which cannot sleep through a reply in a widget cell. Before the
notebook is written, the outputs of progress bars that hid themselves when they finished (tqdm's bars with
``leave=False``, as ``fit`` draws them) are dropped, with their widget state: a reader of the stored notebook
would otherwise see a frozen "0%" bar where the student saw a bar that came and went.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_lib.kernel import STARTUP_TIMEOUT, SlicedKernelManager, first_line

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_MODEL_REFERENCE = re.compile(r"IPY_MODEL_([0-9a-f]+)")


def _references(value) -> set[str]:
    """Every widget model id that ``value`` (a model's state, nested) refers to as ``IPY_MODEL_<id>``."""
    if isinstance(value, str):
        return set(_MODEL_REFERENCE.findall(value))
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


def _is_hidden(model_id: str, state: dict) -> bool:
    """True for a widget whose layout says ``visibility: hidden`` (a finished ``leave=False`` tqdm bar)."""
    model = state.get(model_id, {}).get("state", {})
    layout = _MODEL_REFERENCE.findall(str(model.get("layout", "")))
    return bool(layout) and state.get(layout[0], {}).get("state", {}).get("visibility") == "hidden"


def drop_finished_progress_bars(notebook) -> int:
    """Remove the outputs of hidden widgets and every widget model no remaining output needs; return how many
    outputs were removed. Widgets still shown (the explorers) and their models are kept."""
    widgets = notebook.metadata.get("widgets", {})
    state = widgets.get(WIDGET_STATE, {}).get("state", {})
    removed = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is not None and _is_hidden(view.get("model_id", ""), state):
                removed += 1
            else:
                kept.append(output)
        cell.outputs = kept
    if not state:
        return removed
    needed = {o["data"][WIDGET_VIEW].get("model_id") for c in notebook.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if WIDGET_VIEW in o.get("data", {})}
    reachable, frontier = set(), set(needed) & set(state)
    while frontier:  # every model a shown widget reaches through its children, layout, style, ...
        reachable |= frontier
        frontier = {r for m in frontier for r in _references(state[m].get("state", {}))} & set(state) - reachable
    for model_id in set(state) - reachable:
        del state[model_id]
    if not state:
        notebook.metadata.pop("widgets", None)
    return removed


def execute_notebook(path: Path, *, fast: bool = False, timeout: int = 900, progress: bool = True) -> float:
    """Run ``path`` top to bottom and write it back with outputs; return the seconds taken.

    Raises ``CellExecutionError`` (and leaves the file unchanged) when a cell fails."""
    notebook = nbformat.read(path, as_version=4)
    env_before = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1" if fast else "0"  # the kernel inherits this process's environment
    start = time.perf_counter()
    code_cells = sum(1 for c in notebook.cells if c.cell_type == "code" and c.source.strip())
    started, done = {}, []

    def on_cell_start(cell, cell_index: int) -> None:
        started[cell_index] = time.perf_counter()

    def on_cell_executed(cell, cell_index: int, execute_reply) -> None:
        if cell.source.strip():
            done.append(cell_index)
            if progress:
                seconds = time.perf_counter() - started.get(cell_index, time.perf_counter())
                print(f"    {path.name} [{len(done)}/{code_cells}] {seconds:6.1f} s  {first_line(cell)}",
                      file=sys.stderr, flush=True)

    try:
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", startup_timeout=STARTUP_TIMEOUT,
                                kernel_manager_class=SlicedKernelManager, on_cell_start=on_cell_start,
                                on_cell_executed=on_cell_executed,
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("COURSE_FAST", None)
        else:
            os.environ["COURSE_FAST"] = env_before
    seconds = time.perf_counter() - start
    drop_finished_progress_bars(notebook)
    nbformat.write(notebook, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Execute notebooks and store their outputs in place.")
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--fast", action="store_true", help="run with COURSE_FAST=1 (smaller budgets)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    parser.add_argument("--quiet", action="store_true", help="no line per cell on stderr")
    args = parser.parse_args(argv)
    failures = 0
    for path in args.notebooks:
        if path.resolve().parent.name == "exercises":
            print(f"skipped {path}: exercise notebooks are generated blank by course_lib.assign", file=sys.stderr)
            continue
        try:
            seconds = execute_notebook(path, fast=args.fast, timeout=args.timeout, progress=not args.quiet)
            print(f"{seconds:7.1f} s  {path}")
        except CellExecutionError as error:
            failures += 1
            print(f"FAILED  {path}: {str(error).strip().splitlines()[-1]}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
