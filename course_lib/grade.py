"""Grade a folder of submitted exercise notebooks: one row per student, decided where no student code runs.

Usage::

    python -m course_lib.grade submissions/ --csv grades.csv --json grades.jsonl [--chapter NN]
        [--time-limit S] [--memory-limit MB] [--jobs N] [--gradescope DIR]

``--gradescope DIR`` also writes ``DIR/results.json`` in Gradescope's autograder format, one test per exercise
(:mod:`course_lib.grading.gradescope`); Gradescope grades one submission per run, so the folder is one
student's. A line per notebook goes to stderr as it is graded.

``submissions/`` holds ``alice.ipynb``, ``bob.ipynb`` ... or ``alice/01_data_distributions.ipynb`` ...; the
student's name is the path relative to the folder, without ``.ipynb``. The chapter defaults to the two-digit
prefix of each notebook's file name.

How a grade is decided. This process reads every submission into memory first (bytes and SHA-256; symbolic
links are refused) and never runs, imports or unpickles anything a student wrote. Each submission goes to a
supervisor process of its own (:mod:`course_lib.grading.supervisor`, started with ``python -I``), which runs
the notebook's code cells (errors allowed; stored outputs ignored) in a fresh Jupyter kernel started in a
temporary folder that holds only a copy of that notebook, with a wall-clock limit for all its cells (an endless
loop is interrupted; a kernel that will not stop is killed), an address-space limit and a file-size limit.
Then it sends each exercise's cases into the kernel as data (JSON and raw arrays, never pickle), a runner
calls the student's function through the check machinery (time limit, captured output, detection of calls
into the library's or the checker's own solutions) and writes the returned values back in the same format;
the supervisor kills every process of the run, reads the values back and judges them with its own copy of
the exercise. Cell outputs and printed text are never read for grades. In the kernel ``COURSE_GRADING=1``
makes ``check.chNN`` inert, so a notebook's own check cells cost nothing and do not hand out the checker.

Isolation when the grader runs as root (the way to grade a class): every kernel runs under an unused uid of
its own slot (one per parallel job), with no groups and no new privileges, so it can neither write the
submissions nor the grades nor signal or trace another student's kernel; on Linux it also gets a private
mount namespace in which the submissions' folder and the grades' folders are empty and read-only (it cannot
even read another notebook), and in which a folder it cannot enter but needs (a Python under ``/root``) is
replaced by a view of only what it needs. Every process a submission starts is killed before its row
exists: the supervisor is a child subreaper, so a double-forked daemon stays its descendant, and it kills
every descendant it finds in ``/proc`` and every process of the slot's uid.

When the grader does not run as root (or with ``--no-drop``), the kernels run as the grader's own user and
could write whatever that user can. What protects the grades then: the submissions were read into memory
before any kernel started, and each kernel gets its copy from memory; every submission whose bytes changed
on disk during the run is restored from memory at the end (and the row notes it); the grades files are
written only by this process, at the very end, with an atomic replace, after every kernel and every process
they started are dead (on Linux: the subreaper; on other systems only the kernel's process group is killed,
so a daemon that left it could survive). A student's kernel could still disturb a kernel running at the
same time under the same user, so grade with ``--jobs 1`` when not root, or better, as root.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import os
import pwd
import queue
import select
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from course_lib.grading import processes
from course_lib.grading.gradescope import write_results
from course_lib.grading.kernel import Limits
from course_lib.grading.report import Row, write_csv, write_jsonl
from course_lib.grading.supervisor import Job

LIBRARY_ROOT = Path(__file__).resolve().parent.parent
MAX_NOTEBOOK = 64 << 20
FIRST_UID = 61000  # kernels run under unused uids from here on, one per parallel slot


@dataclass
class Submission:
    """A submitted notebook as read at the start: its path, the student's name, its bytes and their hash."""

    path: Path
    student: str
    data: bytes | None
    sha256: str
    problem: str = ""  # why it could not be read


def _read(path: Path) -> tuple[bytes | None, str]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        return None, f"cannot open it: {error.strerror}" + (" (a symbolic link)" if path.is_symlink() else "")
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None, "not a regular file"
        data = handle.read(MAX_NOTEBOOK + 1)
    if len(data) > MAX_NOTEBOOK:
        return None, f"larger than {MAX_NOTEBOOK >> 20} MB"
    return data, ""


def find_submissions(folder: Path) -> list[Submission]:
    """Every ``*.ipynb`` under ``folder`` (checkpoints excluded, links not followed), read into memory now."""
    found = []
    for parent, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d != ".ipynb_checkpoints")
        found += [Path(parent) / f for f in files if f.endswith(".ipynb")]
    submissions = []
    for path in sorted(found, key=lambda p: p.relative_to(folder).as_posix()):
        data, problem = _read(path)
        digest = hashlib.sha256(data).hexdigest() if data is not None else ""
        submissions.append(Submission(path, path.relative_to(folder).with_suffix("").as_posix(), data, digest, problem))
    return submissions


def _free_uids(count: int) -> list[int]:
    """``count`` uids with no account and no process, for the kernels of each parallel slot."""
    busy = set()
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        try:
            busy.add(os.stat(f"/proc/{name}").st_uid)
        except OSError:
            continue
    uids, uid = [], FIRST_UID
    while len(uids) < count:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            if uid not in busy:
                uids.append(uid)
        uid += 1
    return uids


class _Supervisor:
    """One supervisor process (one parallel slot), restarted after it fails."""

    def __init__(self, uid: int | None) -> None:
        self.uid, self.process = uid, None

    def _start(self) -> None:
        bootstrap = (f"import sys; sys.path.insert(0, {str(LIBRARY_ROOT)!r}); "
                     "from course_lib.grading.supervisor import main; main()")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "HOME": tempfile.gettempdir(), "OMP_NUM_THREADS": "1"}
        self.errors = tempfile.TemporaryFile()
        self.process = subprocess.Popen([sys.executable, "-I", "-c", bootstrap], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.errors, cwd=tempfile.gettempdir(),
                                        env=env, start_new_session=True)

    def grade(self, job: Job, timeout: float) -> Row:
        if self.process is None or self.process.poll() is not None:
            self._start()
        line = b""
        try:
            self.process.stdin.write(json.dumps(asdict(job)).encode() + b"\n")
            self.process.stdin.flush()
            ready, _, _ = select.select([self.process.stdout], [], [], timeout)
            line = self.process.stdout.readline() if ready else b""
            return Row.from_dict(json.loads(line))
        except (OSError, ValueError, TypeError) as error:
            self.close()
            why = "it took too long" if not line else f"{type(error).__name__}"
            return Row(student=job.student, notebook=job.file_name, chapter=job.chapter or "", sha256=job.sha256,
                       status="failed", first_error=f"the grader's supervisor failed ({why}): {self._tail()}"[:300])

    def _tail(self) -> str:
        self.errors.seek(0)
        return self.errors.read()[-300:].decode("utf-8", "replace").strip()

    def close(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        processes.kill_tree(self.process.pid, self.uid)  # its kernels die with it (parent-death signal)
        self.process.wait()
        self.errors.close()
        self.process = None


def grade_folder(folder: Path, chapter: str | None = None, *, limits: Limits | None = None, jobs: int = 1,
                 fast: bool = True, drop: bool | None = None, hide: list[Path] = ()) -> list[Row]:
    """Grade every notebook under ``folder``, ``jobs`` at a time; rows in name order, whatever ``jobs``.

    ``drop`` (default: when running as root) runs the kernels under unused uids; ``hide`` lists more folders
    the kernels must not see (the grades' folders). Changed submissions are restored from memory at the end.
    """
    limits = limits or Limits()
    folder = Path(folder).resolve()
    if Path(processes.__file__).resolve().is_relative_to(folder):
        raise SystemExit(f"refusing to grade {folder}: the grader's own course_lib lies inside it")
    drop = os.geteuid() == 0 if drop is None else drop
    submissions = find_submissions(folder)
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    env = {"COURSE_FAST": "1" if fast else "0", "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    uids = _free_uids(jobs) if drop else []
    slots: queue.Queue = queue.Queue()
    for uid in uids or [None] * jobs:
        slots.put(_Supervisor(uid))
    budget = 3 * (limits.startup + limits.time_limit + limits.grace + 20 * limits.runner_time) + 120
    finished, lock = itertools.count(1), threading.Lock()

    def grade_one(submission: Submission) -> Row:
        if submission.data is None:
            return Row(student=submission.student, notebook=submission.path.name, chapter=chapter or "",
                       sha256="", status="unreadable", first_error=submission.problem)
        supervisor = slots.get()
        try:
            job = Job(student=submission.student, file_name=submission.path.name,
                      notebook=base64.b64encode(submission.data).decode(), sha256=submission.sha256, chapter=chapter,
                      limits=asdict(limits), uid=supervisor.uid, library_root=str(LIBRARY_ROOT),
                      hide=[str(folder), *map(str, hide)], env=env)
            row = supervisor.grade(job, budget)
        finally:
            slots.put(supervisor)
        with lock:
            print(f"[{next(finished)}/{len(submissions)}] {row.status:>11}  {row.score}/{len(row.outcomes)}  "
                  f"{submission.student}  ({row.seconds:.0f} s)", file=sys.stderr, flush=True)
        return row

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            rows = list(pool.map(grade_one, submissions))
    finally:
        while not slots.empty():
            slots.get().close()
    for uid in uids:
        processes.kill_uid(uid)  # nothing of a kernel's uid outlives the run
    _restore(submissions, rows)
    return rows


def _restore(submissions: list[Submission], rows: list[Row]) -> None:
    """Put back every submission whose bytes changed on disk while grading (it was read at the start)."""
    for submission, row in zip(submissions, rows, strict=True):
        if submission.data is None:
            continue
        current, _ = _read(submission.path)
        if current != submission.data:
            if submission.path.is_symlink():
                submission.path.unlink()
            temporary = submission.path.with_name(f".{submission.path.name}.restore")
            temporary.write_bytes(submission.data)
            os.replace(temporary, submission.path)
            row.notes.append("the submitted file changed on disk during grading and was restored")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Grade a folder of submitted exercise notebooks.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--chapter", help="two-digit chapter, e.g. 01 (default: from each file name)")
    parser.add_argument("--csv", type=Path, default=Path("grades.csv"))
    parser.add_argument("--json", type=Path, help="also write one JSON object per line")
    parser.add_argument("--gradescope", type=Path, metavar="DIR",
                        help="also write DIR/results.json for Gradescope's autograder (one submission's folder)")
    parser.add_argument("--time-limit", type=float, default=300.0, help="wall-clock seconds for a notebook's cells")
    parser.add_argument("--memory-limit", type=int, default=Limits.memory_mb,
                        help="address space of a kernel in MB (0: no limit)")
    parser.add_argument("--runner-time", type=float, default=Limits.runner_time,
                        help="wall-clock seconds for the checks of one exercise")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks graded at once, each in its own processes")
    parser.add_argument("--full", action="store_true", help="run notebooks in full mode (default: fast mode)")
    parser.add_argument("--no-drop", action="store_true", help="as root, keep the kernels' uid (not recommended)")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder of notebooks")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    processes.become_subreaper()  # a supervisor that dies still leaves its orphans with us
    limits = Limits(time_limit=args.time_limit, memory_mb=args.memory_limit or None, runner_time=args.runner_time)
    outputs = [p.resolve().parent for p in (args.csv, args.json) if p is not None]
    if args.gradescope is not None:
        args.gradescope.mkdir(parents=True, exist_ok=True)
        outputs.append(args.gradescope.resolve())
    start = time.perf_counter()
    rows = grade_folder(args.folder, args.chapter, limits=limits, jobs=args.jobs, fast=not args.full,
                        drop=None if not args.no_drop else False, hide=outputs)
    processes.kill_tree(None)
    if args.gradescope is not None:
        write_results(rows, args.gradescope)  # also when there is no notebook: Gradescope shows why
    if not rows:
        print(f"no notebooks found under {args.folder}", file=sys.stderr)
        return 1
    write_csv(rows, args.csv)
    if args.json:
        write_jsonl(rows, args.json)
    print(f"graded {len(rows)} notebooks in {time.perf_counter() - start:.1f} s -> {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
