"""Test harness settings for every test path (tests/, notebooks/, solutions/): fast mode, strict checks,
off-screen figures in this process, one torch thread per xdist worker, and a table of notebook times
(slowest first) at the end of the run. It sits at the root so that `pytest notebooks/03_...ipynb` alone
runs in fast mode too."""

from __future__ import annotations

import os
from collections import defaultdict

os.environ["COURSE_FAST"] = "1"  # budgets shrink; the code path is the same as a full run
os.environ["COURSE_CHECK_STRICT"] = "1"  # check.summary() asserts: solutions all correct, exercises blank
# Figures are drawn in the notebook kernels (their default inline backend), so an error raised while drawing
# fails the run; only this process draws off-screen. (Setting MPLBACKEND=Agg would hide such errors.)
os.environ.pop("MPLBACKEND", None)
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # two workers on two cores: one intra-op thread each (kernels started by a worker inherit this)
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"

_NOTEBOOK_SECONDS: dict[str, float] = defaultdict(float)


def pytest_configure(config) -> None:
    import matplotlib

    matplotlib.use("Agg")


def pytest_runtest_logreport(report) -> None:
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _NOTEBOOK_SECONDS[path] += report.duration
    elif "test_exercise_notebooks.py::test_blank_exercise_runs" in report.nodeid and report.when == "call":
        name = report.nodeid.split("[")[-1].rstrip("]")
        _NOTEBOOK_SECONDS[f"exercises/{name}"] += report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    if not _NOTEBOOK_SECONDS:
        return
    terminalreporter.section("notebook times (slowest first)")
    for path, seconds in sorted(_NOTEBOOK_SECONDS.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{seconds:8.1f} s  {path}")
