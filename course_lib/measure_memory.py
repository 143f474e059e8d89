"""Memory and time per student: run each lecture in full mode and record its kernel's peak resident memory.

Each notebook runs top to bottom in a fresh Jupyter kernel (``COURSE_FAST=0``, the notebook's own folder as
the working directory, outputs not saved), and the table gets the kernel's peak RSS (Linux: ``VmHWM`` of the
kernel process, read before it shuts down; child processes are not counted), the wall time of its cells, the
kernel's CPU time (user + system, all threads), the machine's core count and its 1-minute load average before
and after. Peak memory and CPU time hardly depend on the machine's load; wall time does, so the table says what
the load was.

Usage::

    python -m course_lib.measure_memory                       # every lecture, a markdown table on stdout
    python -m course_lib.measure_memory notebooks/02_*.ipynb  # some notebooks
    python -m course_lib.measure_memory --update docs/teaching.md   # also put the rows into that file's table

``--update`` rewrites the table between the lines ``<!-- memory-table -->`` and ``<!-- /memory-table -->``: the
notebooks just measured get new rows, the others keep theirs, so one notebook per command builds one table.

A cell that runs longer than ``--timeout`` seconds (default 900) stops its notebook: the kernel is shut down, the
row says which cell timed out (with the peak so far), and the run goes on to the next notebook; so does a
kernel that dies (say, killed for memory) or does not start. The command exits non-zero if any notebook failed.

The kernel client polls its sockets in slices (:mod:`course_lib.kernel` says why): nbclient's own client
can wait out a whole cell timeout in a widget cell.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from course_lib.kernel import STARTUP_TIMEOUT, SlicedKernelManager, first_line

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- memory-table -->", "<!-- /memory-table -->"
@dataclass
class Measurement:
    """One notebook's run: peak RSS of its kernel in MiB, wall and kernel CPU seconds, errors, the machine's state.

    ``failure`` is empty for a notebook that ran to its end; otherwise it says why it stopped (a cell that timed
    out, a kernel that died), and the peak and seconds are those up to that point.
    """

    notebook: str
    peak_rss_mib: float
    seconds: float
    errors: int
    cores: int
    load_before: float
    load_after: float
    failure: str = ""
    fast: bool = False
    cpu_seconds: float = float("nan")
    peak_cell: int | None = None  # [n] of the code cell that reached the peak (code cells counted from 1)
    date: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M"))


def _peak_rss_mib(pid: int) -> float:
    """The peak resident set size (VmHWM) of a live process, in MiB (Linux); NaN if it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return float("nan")
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")  # a zombie keeps its status file but no memory lines


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads and waited-for children) of a live process (Linux); NaN if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return float("nan")
    return sum(int(tick) for tick in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def measure(path: Path, *, fast: bool = False, timeout: int = 900, slow_cell: float = 30.0) -> Measurement:
    """Run the notebook at ``path`` in a fresh kernel (full mode unless ``fast``) and measure it.

    Cells are named by their number among the code cells, ``[n]``, as JupyterLab labels them after *Run All*.
    ``timeout`` is the limit for each cell in seconds: a cell that runs longer stops the notebook and the
    returned ``Measurement.failure`` says which cell it was, as it does for a kernel that dies. Each cell that
    takes longer than ``slow_cell`` seconds is reported on stderr as it finishes. ``peak_cell`` is the last cell
    that raised the kernel's high-water mark, the one to look at to make the notebook smaller.
    """
    if not sys.platform.startswith("linux"):
        raise SystemExit("measuring a kernel's peak memory reads /proc: run this on Linux")
    path = Path(path).resolve()
    notebook = nbformat.read(path, as_version=4)
    previous = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1" if fast else "0"  # the kernel inherits this process's environment
    failure, peak_cell = "", None
    try:
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True,
                                startup_timeout=STARTUP_TIMEOUT, kernel_manager_class=SlicedKernelManager,
                                shutdown_kernel="immediate",
                                resources={"metadata": {"path": str(path.parent)}})
        load_before = os.getloadavg()[0]
        with client.setup_kernel():
            pid = client.km.provisioner.process.pid
            start = time.perf_counter()
            highest, number = _peak_rss_mib(pid), 0
            for index, cell in enumerate(notebook.cells):
                number += cell.cell_type == "code" and bool(cell.source.strip())  # the [n] of a top-to-bottom run
                began = time.perf_counter()
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    failure = (f"code cell [{number}] ({first_line(cell)!r}) did not finish within {timeout} s; the "
                               "kernel was stopped (if it is only slow, rerun with a larger --timeout)")
                except DeadKernelError:
                    failure = (f"the kernel died in code cell [{number}] ({first_line(cell)!r}); was it killed "
                               "for memory?")
                if _peak_rss_mib(pid) > highest + 1:  # this cell raised the high-water mark (by over 1 MiB)
                    highest, peak_cell = _peak_rss_mib(pid), number
                if failure:
                    break
                if time.perf_counter() - began > slow_cell:
                    print(f"    {path.name} [{number}]: {time.perf_counter() - began:.0f} s", file=sys.stderr,
                          flush=True)
            seconds = time.perf_counter() - start
            peak, cpu = _peak_rss_mib(pid), _cpu_seconds(pid)
        errors = sum(1 for c in notebook.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("output_type") == "error")
    finally:
        if previous is None:
            os.environ.pop("COURSE_FAST", None)
        else:
            os.environ["COURSE_FAST"] = previous
    return Measurement(path.name, peak, seconds, errors, os.cpu_count() or 1, load_before, os.getloadavg()[0],
                       failure, fast, cpu, peak_cell)


def _number(value: float) -> str:
    return "unknown" if value != value else f"{value:.0f}"  # NaN: the kernel exited before it was read


def _remark(m: Measurement) -> str:
    """What went wrong in a run, in words ('' if nothing)."""
    parts = [f"{m.errors} cells raised"] if m.errors else []
    return "; ".join(parts + ([f"stopped: {m.failure}"] if m.failure else []))


HEADER = ["| notebook | mode | peak RSS of the kernel (MiB) | peak reached in cell | wall time (s) "
          "| kernel CPU time (s) | load (1 min) before → after | measured | notes |",
          "|---|---|---:|---:|---:|---:|---|---|---|"]


def row(m: Measurement) -> str:
    """One notebook's line of the markdown table."""
    return (f"| {m.notebook} | {'fast' if m.fast else 'full'} | {_number(m.peak_rss_mib)} "
            f"| {'' if m.peak_cell is None else f'[{m.peak_cell}]'} | {m.seconds:.0f} "
            f"| {_number(m.cpu_seconds)} | {m.load_before:.1f} → {m.load_after:.1f} | {m.date} | {_remark(m)} |")


def table(rows: list[str]) -> str:
    """The markdown table of ``rows`` (lines made by ``row``), sorted by notebook, with this machine below it."""
    lines = HEADER + sorted(rows)
    lines += ["", f"Measured by `python -m course_lib.measure_memory` on {platform.system()} {platform.machine()}, "
                  f"{os.cpu_count()} cores, Python {platform.python_version()}."]
    return "\n".join(lines)


def _table_rows(text: str) -> dict[str, str]:
    """The rows of a table made by ``table``, by notebook name."""
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    rows.pop("notebook", None)  # a header line, of this table or of an older one with other columns
    return rows


def update(document: Path, measurements: list[Measurement]) -> str:
    """Put the rows of ``measurements`` into the table of ``document``, keeping the rows of other notebooks.

    The table lies between the lines ``BEGIN`` and ``END``; a notebook measured again replaces its row, so
    notebooks measured one command at a time build one table. Returns the new table.
    """
    content = Path(document).read_text(encoding="utf-8")
    if BEGIN not in content or END not in content:
        raise SystemExit(f"{document} has no {BEGIN} ... {END} lines to replace")
    head, rest = content.split(BEGIN, 1)
    old, tail = rest.split(END, 1)
    rows = _table_rows(old) | {m.notebook: row(m) for m in measurements}
    text = table(list(rows.values()))
    Path(document).write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}", encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.measure_memory",
                                     description="Peak memory and time of each lecture's kernel in full mode.")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    parser.add_argument("--fast", action="store_true", help="fast mode instead (COURSE_FAST=1)")
    parser.add_argument("--update", type=Path, metavar="FILE",
                        help="also put the rows into the table in FILE (rows of other notebooks are kept)")
    parser.add_argument("--timeout", type=int, default=900, metavar="SECONDS",
                        help="limit for each cell; a cell over it stops its notebook (default: %(default)s)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    measurements = []
    for number, path in enumerate(paths, start=1):
        try:
            m = measure(path, fast=args.fast, timeout=args.timeout)
        except RuntimeError as error:  # nbclient's error for a kernel that did not start or answer
            m = Measurement(Path(path).name, float("nan"), 0.0, 0, os.cpu_count() or 1, os.getloadavg()[0],
                            os.getloadavg()[0], f"the kernel did not start: {error}", args.fast)
        measurements.append(m)
        print(f"[{number}/{len(paths)}] {m.notebook}: peak {_number(m.peak_rss_mib)} MiB, {m.seconds:.0f} s "
              f"(kernel CPU {_number(m.cpu_seconds)} s), "
              f"load {m.load_before:.1f} -> {m.load_after:.1f}" + (f"; {_remark(m)}" if _remark(m) else ""),
              file=sys.stderr, flush=True)
    print(update(args.update, measurements) if args.update else table([row(m) for m in measurements]))
    return 1 if any(m.errors or m.failure for m in measurements) else 0


if __name__ == "__main__":
    sys.exit(main())
