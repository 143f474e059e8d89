"""Execute notebooks and store their outputs in place, so lectures are committed with real outputs.

Usage::

    python -m course_lib.execute notebooks/02_maximum_likelihood.ipynb solutions/02_maximum_likelihood.ipynb
    python -m course_lib.execute --fast notebooks/*.ipynb     # fast mode (COURSE_FAST=1), e.g. to try things

Runs in full mode unless --fast, with the kernel's working directory set to the notebook's folder. A
notebook that fails is left unchanged, and the command exits non-zero after trying the others.
Refuses to run notebooks in exercises/ (students' work is never overwritten; those are generated blank).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def execute_notebook(path: Path, *, fast: bool = False, timeout: int = 900) -> float:
    """Run ``path`` top to bottom and write it back with outputs; return the seconds taken."""
    notebook = nbformat.read(path, as_version=4)
    env_before = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1" if fast else "0"  # the kernel inherits this process's environment
    start = time.perf_counter()
    try:
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("COURSE_FAST", None)
        else:
            os.environ["COURSE_FAST"] = env_before
    seconds = time.perf_counter() - start
    nbformat.write(notebook, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Execute notebooks and store their outputs in place.")
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--fast", action="store_true", help="run with COURSE_FAST=1 (smaller budgets)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    failures = 0
    for path in args.notebooks:
        if path.resolve().parent.name == "exercises":
            print(f"skipped {path}: exercise notebooks are generated blank by course_lib.assign", file=sys.stderr)
            continue
        try:
            seconds = execute_notebook(path, fast=args.fast, timeout=args.timeout)
            print(f"{seconds:7.1f} s  {path}")
        except CellExecutionError as error:
            failures += 1
            print(f"FAILED  {path}: {str(error).strip().splitlines()[-1]}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
