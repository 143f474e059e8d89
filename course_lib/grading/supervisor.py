"""Grade one submission in a process of its own, which never runs student code.

The supervisor is started by the grader with ``python -I`` (no student-writable folder on its import path),
one per parallel slot; it reads one :class:`Job` a line as JSON on stdin and prints each row as JSON on
stdout. It makes itself a child
subreaper, runs the notebook's code cells in a sandboxed kernel (:mod:`~course_lib.grading.kernel`), then
sends each exercise's cases into the kernel, has the runner call the student's function, kills every process
of the run, reads the returned values back and judges them with its own copy of the exercise.

A cell that ends the kernel (``os._exit``) or will not stop when interrupted costs what it must: the kernel
is killed and a fresh one reruns the cells before it, so the functions defined earlier are still graded. An
exercise whose function ends or hangs the kernel is marked incorrect, and a fresh kernel goes on with the
others. At most ``MAX_RUNS`` kernels per submission.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.check import INCORRECT, reset_progress
from course_lib.grading import checking, processes, values
from course_lib.grading.kernel import Kernel, KernelError, Limits
from course_lib.grading.report import Row
from course_lib.grading.workspace import Workspace, needed_paths, plan_view

MAX_RUNS = 3
MISSING = "missing"


@dataclass
class Job:
    """Everything the supervisor needs: the submission's bytes (read by the grader), its name and limits."""

    student: str
    file_name: str
    notebook: str  # base64 of the submitted bytes
    sha256: str
    chapter: str | None
    limits: dict
    uid: int | None
    library_root: str
    hide: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


class _Run:
    """The state of grading one submission across kernel runs."""

    def __init__(self, job: Job, row: Row, cells: list[str], exercises: list) -> None:
        self.job, self.row, self.cells = job, row, cells
        self.limits = Limits(**job.limits)
        self.exercises = {e.name: e for e in exercises}
        self.todo = list(self.exercises)
        self.stop_cell = len(cells)  # cells from here on are not run (one of them ended or hung the kernel)
        self.first_run = True

    def note_cell(self, index: int, status: str, error: str) -> None:
        if self.first_run:
            self.row.errors += status != "ok"
            self.row.first_error = self.row.first_error or f"cell {index}: {error}"[:300]

    def kernel_run(self) -> bool:
        """One kernel: the cells, then the runner for each exercise still to do. True when it must restart."""
        job, limits = self.job, self.limits
        workspace = Workspace(job.file_name, base64.b64decode(job.notebook), job.uid)
        needed = needed_paths(Path(job.library_root))
        view = plan_view(needed, job.hide, [str(workspace.base)], job.uid) if job.uid is not None else None
        if view is not None:
            view["stage"] = str(workspace.stage)
        env = workspace.environment({"PYTHONPATH": job.library_root, "COURSE_GRADING": "1", **job.env})
        kernel = Kernel(workspace.work, workspace.home, uid=job.uid, env=env, limits=limits, view=view)
        self.row.kernels += 1
        done: list[str] = []
        restart = False
        try:
            kernel.start()
            restart = self._cells(kernel)
            if not restart:
                restart = self._runner(kernel, workspace, done)
        except KernelError as error:
            self.row.status, self.row.first_error = "failed", str(error)[:300]
            self.todo = []
        finally:
            survivors = kernel.stop()
            if survivors:
                self.row.first_error = self.row.first_error or f"processes {survivors} could not be killed"
            self._read_back(workspace, done)
            workspace.remove()
            self.first_run = False
        return restart and bool(self.todo)

    def _cells(self, kernel: Kernel) -> bool:
        deadline = time.monotonic() + self.limits.time_limit
        for index, source in enumerate(self.cells[:self.stop_cell]):
            if not source.strip():
                continue
            result = kernel.run(source, deadline)
            if result.status == "ok":
                continue
            self.note_cell(index, result.status, result.error)
            if result.status == "interrupted":
                self.row.status = "timeout"
                return False  # the time is up: the checks run on what the cells defined so far
            if result.status in ("hung", "died"):
                self.row.status = "timeout" if result.status == "hung" else "kernel died"
                self.stop_cell = index
                return True
        return False

    def _runner(self, kernel: Kernel, workspace: Workspace, done: list[str]) -> bool:
        folder = workspace.grading_folder()
        for name in list(self.todo):
            values.write(str(folder), f"cases-{name}", checking.cases_as_data(self.exercises[name]), objects=True)
            for suffix in (".json", ".npz"):
                os.chmod(folder / f"cases-{name}{suffix}", 0o644)
            code = (f"__import__('course_lib.grading.runner', fromlist=['run']).run(globals(), "
                    f"{self.row.chapter!r}, {name!r}, {str(folder)!r})")
            result = kernel.run(code, time.monotonic() + self.limits.runner_time)
            self.todo.remove(name)
            if result.status == "ok":
                done.append(name)
                continue
            self.row.outcomes[name] = INCORRECT
            self.row.messages[name] = {
                "error": f"The grader could not call your function: {result.error}",
                "interrupted": f"Your function did not finish within {self.limits.runner_time:.0f} s.",
                "hung": "Your function did not finish, and did not stop when interrupted.",
                "died": "Your function ended the Python process (os._exit, a crash or running out of memory).",
            }[result.status]
            if result.status in ("hung", "died"):
                return True
        return False

    def _read_back(self, workspace: Workspace, done: list[str]) -> None:
        """Read the attempts (every process of the run is gone by now) and judge them here."""
        if not done:
            return
        try:
            fd = os.open(workspace.work / ".grading", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            fd = None
        try:
            for name in done:
                try:
                    if fd is None:
                        raise values.FormatError("the grading folder was replaced")
                    data = values.read_untrusted(fd, f"attempts-{name}")
                except values.FormatError as error:
                    self.row.outcomes[name] = INCORRECT
                    self.row.messages[name] = f"The values your function returned could not be read back ({error})."
                    continue
                if not isinstance(data, dict) or not (data.get("missing") is True or "attempts" in data):
                    outcome, message = INCORRECT, "The values your function returned could not be read back."
                elif data.get("missing") is True:
                    outcome, message = MISSING, f"The notebook does not define {name}."
                else:
                    outcome, message = checking.judge(self.exercises[name], data["attempts"])
                self.row.outcomes[name], self.row.messages[name] = outcome, message
        finally:
            if fd is not None:
                os.close(fd)


def code_cells(data: bytes) -> list[str]:
    """The sources of a notebook's code cells (nbformat 4), read as plain JSON; raises ValueError."""
    try:
        notebook = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, RecursionError) as error:
        raise ValueError(str(error)) from None
    if not isinstance(notebook, dict) or notebook.get("nbformat") != 4 or not isinstance(notebook.get("cells"), list):
        raise ValueError("not a version-4 Jupyter notebook (no 'nbformat': 4 with a list of cells)")
    sources = []
    for cell in notebook["cells"]:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            if isinstance(source, list) and all(isinstance(line, str) for line in source):
                source = "".join(source)
            if not isinstance(source, str):
                raise ValueError("a code cell's source is neither text nor a list of lines")
            sources.append(source)
    return sources


def chapter_of(file_name: str) -> str | None:
    """The two-digit prefix of a notebook's file name (``01_data.ipynb`` -> ``01``)."""
    name = os.path.basename(file_name)
    return name[:2] if len(name) > 2 and name[:2].isdigit() and name[2] == "_" else None


def grade(job: Job) -> Row:
    """Grade one submission; never raises for anything the submission does."""
    start = time.perf_counter()
    row = Row(student=job.student, notebook=job.file_name, chapter=job.chapter or chapter_of(job.file_name) or "",
              sha256=job.sha256)
    try:
        cells = code_cells(base64.b64decode(job.notebook))
    except ValueError as error:
        row.status, row.first_error = "unreadable", f"not a notebook: {error}"[:300]
        return row
    if not row.chapter:
        row.status, row.first_error = "no chapter", "cannot tell the chapter from the file name; pass --chapter"
        return row
    try:
        exercises = checking.exercises(row.chapter)
    except ModuleNotFoundError:
        exercises = []
    if not exercises:
        row.status, row.first_error = "no chapter", f"there are no checks for chapter {row.chapter}"
        return row
    run = _Run(job, row, cells, exercises)
    while run.kernel_run() and row.kernels < MAX_RUNS:
        pass
    for name in run.exercises:
        if name not in row.outcomes:
            row.outcomes[name] = MISSING
            row.messages[name] = "Not graded: the notebook stopped before the grader reached this exercise."
    row.outcomes = {name: row.outcomes[name] for name in run.exercises}  # the chapter's order
    row.seconds = time.perf_counter() - start
    return row


def main() -> None:
    """Grade the jobs read from stdin (one JSON object a line), printing one row a line, until stdin ends."""
    processes.become_subreaper()
    for line in sys.stdin.buffer:
        job = Job(**json.loads(line))
        reset_progress()
        try:
            row = grade(job)
        except Exception as error:  # noqa: BLE001 - a bug here must still give a row
            row = Row(student=job.student, notebook=job.file_name, chapter=job.chapter or "", sha256=job.sha256,
                      status="failed", first_error=f"the grader failed: {type(error).__name__}: {error}"[:300])
        finally:
            processes.kill_tree(None, job.uid)
        sys.stdout.write(json.dumps(row.to_dict()) + "\n")
        sys.stdout.flush()
