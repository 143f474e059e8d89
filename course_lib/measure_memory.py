"""Memory and time per student: run each lecture in full mode and record its kernel's peak resident memory.

Each notebook runs top to bottom in a fresh Jupyter kernel (``COURSE_FAST=0``, the notebook's own folder as
the working directory, outputs not saved), and the table gets the kernel's peak RSS (Linux: ``VmHWM`` of the
kernel process, read before it shuts down; child processes are not counted), the wall time of its cells, the
machine's core count and its 1-minute load average before and after. Peak memory does not depend on the
machine's load; wall time does, so the table says what the load was.

Usage::

    python -m course_lib.measure_memory                       # every lecture, a markdown table on stdout
    python -m course_lib.measure_memory notebooks/02_*.ipynb  # some notebooks
    python -m course_lib.measure_memory --update docs/teaching.md   # also replace the table in that file

``--update`` replaces what lies between the lines ``<!-- memory-table -->`` and ``<!-- /memory-table -->``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- memory-table -->", "<!-- /memory-table -->"


@dataclass
class Measurement:
    """One notebook's run: peak RSS of its kernel in MiB, wall seconds, errors, and the machine's state."""

    notebook: str
    peak_rss_mib: float
    seconds: float
    errors: int
    cores: int
    load_before: float
    load_after: float


def _peak_rss_mib(pid: int) -> float:
    """The peak resident set size (VmHWM) of a live process, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM line")


def measure(path: Path, *, fast: bool = False, timeout: int = 1800) -> Measurement:
    """Run the notebook at ``path`` in a fresh kernel (full mode unless ``fast``) and measure it."""
    if not sys.platform.startswith("linux"):
        raise SystemExit("measuring a kernel's peak memory reads /proc: run this on Linux")
    path = Path(path).resolve()
    notebook = nbformat.read(path, as_version=4)
    previous = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1" if fast else "0"  # the kernel inherits this process's environment
    try:
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": str(path.parent)}})
        load_before = os.getloadavg()[0]
        with client.setup_kernel():
            pid = client.km.provisioner.process.pid
            start = time.perf_counter()
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
            seconds = time.perf_counter() - start
            peak = _peak_rss_mib(pid)
        errors = sum(1 for c in notebook.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("output_type") == "error")
    finally:
        if previous is None:
            os.environ.pop("COURSE_FAST", None)
        else:
            os.environ["COURSE_FAST"] = previous
    return Measurement(path.name, peak, seconds, errors, os.cpu_count() or 1, load_before, os.getloadavg()[0])


def table(measurements: list[Measurement]) -> str:
    """A markdown table of the measurements, with the machine they ran on."""
    lines = ["| notebook | peak RSS of the kernel (MiB) | wall time (s) | load (1 min) before → after |",
             "|---|---:|---:|---|"]
    lines += [f"| {m.notebook} | {m.peak_rss_mib:.0f} | {m.seconds:.0f} | {m.load_before:.1f} → {m.load_after:.1f} |"
              + ("" if not m.errors else f" {m.errors} cells raised |") for m in measurements]
    cores = measurements[0].cores if measurements else os.cpu_count()
    lines += ["", f"Measured by `python -m course_lib.measure_memory` on {platform.system()} {platform.machine()}, "
                  f"{cores} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}."]
    return "\n".join(lines)


def update(document: Path, text: str) -> None:
    """Replace the text between the table markers of ``document`` by ``text``."""
    content = Path(document).read_text(encoding="utf-8")
    if BEGIN not in content or END not in content:
        raise SystemExit(f"{document} has no {BEGIN} ... {END} lines to replace")
    head, rest = content.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    Path(document).write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.measure_memory",
                                     description="Peak memory and time of each lecture's kernel in full mode.")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    parser.add_argument("--fast", action="store_true", help="fast mode instead (COURSE_FAST=1)")
    parser.add_argument("--update", type=Path, metavar="FILE", help="also replace the table in FILE")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    measurements = []
    for number, path in enumerate(paths, start=1):
        m = measure(path, fast=args.fast)
        measurements.append(m)
        print(f"[{number}/{len(paths)}] {m.notebook}: peak {m.peak_rss_mib:.0f} MiB, {m.seconds:.0f} s, "
              f"load {m.load_before:.1f} -> {m.load_after:.1f}" + (f", {m.errors} cells raised" if m.errors else ""),
              file=sys.stderr, flush=True)
    text = table(measurements)
    print(text)
    if args.update:
        update(args.update, text)
    return 1 if any(m.errors for m in measurements) else 0


if __name__ == "__main__":
    sys.exit(main())
