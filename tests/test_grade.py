"""The grader on a class of chapter-00 submissions, honest and hostile: each row gets exactly what it earned.

One grading run (``--jobs 2``, as root: kernels under their own uid) of a folder that holds a correct and a
blank notebook and every attack of issue 9; a second run (``--jobs 1``, ``--no-drop``: the kernels keep the
grader's uid, as when it does not run as root) of the attacks that write files, and of honest notebooks whose
rows must be identical to the first run's. Both runs use the command line, in a C locale.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = nbformat.read(ROOT / "solutions" / "00_welcome.ipynb", as_version=4)
BLANK = nbformat.read(ROOT / "exercises" / "00_welcome.ipynb", as_version=4)
EXERCISES = ["normal_log_prob", "log_likelihood_per_example"]
UNICODE_NAME = "00_Zoë Ångström naïve"
TIME_LIMIT = 20  # seconds for a notebook's cells; a solution needs a few, even on a loaded machine

pytestmark = [pytest.mark.notebook,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox tests need Linux")]


def _notebook(base, *, replace: dict[str, str] = (), after: dict[str, str] = (), append: tuple[str, ...] = (),
              prepend: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    """A copy of ``base``: the cell defining a function replaced, a cell added after one, or at either end."""
    notebook = copy.deepcopy(base)
    cells = []
    for cell in notebook.cells:
        name = next((n for n in EXERCISES if cell.cell_type == "code" and f"def {n}(" in cell.source), None)
        cells.append(nbformat.v4.new_code_cell(dict(replace)[name]) if name in dict(replace) else cell)
        if name in dict(after):
            cells.append(nbformat.v4.new_code_cell(dict(after)[name]))
    first_code = next(i for i, c in enumerate(cells) if c.cell_type == "code")
    notebook.cells = (cells[:first_code + 1] + [nbformat.v4.new_code_cell(s) for s in prepend]
                      + cells[first_code + 1:] + [nbformat.v4.new_code_cell(s) for s in append])
    return notebook


PATCH_CHECKER = """
from course_lib.check import Attempt, Result, exercise as _exercise
_exercise.Exercise.judge = lambda self, attempts, hint=1: Result(self.name, self.chapter, "correct", "forged")
_exercise.Exercise.evaluate = lambda self, student, hint=1, trusted=False: Result(self.name, self.chapter,
                                                                                   "correct", "forged")
_exercise.Exercise.run_student = lambda self, student, trusted=False: [Attempt(value=None) for _ in range(3)]
"""
PRINT_FAKE = """
import json
print("COURSE_GRADE_RESULT:" + json.dumps({"normal_log_prob": "correct", "log_likelihood_per_example": "correct"}))
"""
FROM_REFERENCE = {
    "normal_log_prob": "def normal_log_prob(x, mu, sigma):\n"
                       "    import importlib\n"
                       "    checker = importlib.import_module('course_lib.check.ch00')\n"
                       "    return checker.normal_log_prob.reference(x, mu, sigma)\n",
    "log_likelihood_per_example": "def log_likelihood_per_example(dist, x):\n"
                                  "    return check.ch00.log_likelihood_per_example.reference(dist, x)\n",
}
PLANT = """
import os
forged = "raise ImportError('a planted course_lib')\\n"  # a victim that imported it would lose its marks
for folder in [{victim!r}, os.getcwd()]:
    try:
        os.makedirs(os.path.join(folder, "course_lib", "check"), exist_ok=True)
        for name in ["course_lib/__init__.py", "course_lib/check/__init__.py"]:
            with open(os.path.join(folder, name), "w") as handle:
                handle.write(forged)
    except OSError as error:
        print(error)
"""
ENDLESS = "while True:\n    pass"
SWALLOW = "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except:\n        pass"
OS_EXIT = "import os\nos._exit(1)"
SYS_EXIT_IN_FUNCTION = ("def log_likelihood_per_example(dist, x):\n    import sys\n    sys.exit()\n"
                        "    return dist.log_prob(x).sum(dim=-1)\n")
OUTPUT = """
import os, sys
print("x" * 50_000_000)
for _ in range(50):
    sys.stdout.write("y" * 1_000_000)
os.write(1, b"z" * 10_000_000)
"""
VANDAL = """
for path in [{grades!r}, {other!r}, {own!r}]:
    try:
        with open(path, "w") as handle:
            handle.write("vandalised")
    except OSError as error:
        print(error)
"""
DAEMON = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open(os.path.join({drop!r}, f"daemon-{{os.getpid()}}"), "w") as handle:
            handle.write(str(os.getpid()))
        for _ in range(3000):  # wait for the grader to write its grades, then rewrite them
            time.sleep(0.1)
            try:
                with open({grades!r}) as handle:
                    written = handle.read(8) == "student,"
            except OSError:
                written = False
            if written:
                time.sleep(1)
                for path in [{grades!r}, {other!r}]:
                    with open(path, "w") as handle:
                        handle.write("rewritten by a daemon")
                break
    os._exit(0)
time.sleep(0.5)
"""


def _vandal(folder: Path, grades: Path, drop: Path) -> bytes:
    """A correct notebook that plants a course_lib/ beside carol's, writes over the grades, another submission
    and itself, and leaves a daemon that rewrites the grades and another submission after it ended."""
    return _bytes(_notebook(SOLUTION, prepend=(PLANT.format(victim=str(folder / "carol")),), append=(
        VANDAL.format(grades=str(grades), other=str(folder / "00_blank.ipynb"), own=str(folder / "00_vandal.ipynb")),
        DAEMON.format(drop=str(drop), grades=str(grades), other=str(folder / "00_correct.ipynb")))))


def _bytes(notebook: nbformat.NotebookNode) -> bytes:
    return nbformat.writes(notebook).encode()


HONEST = {  # written once, so that both classes hold the same bytes (cell ids are random)
    "00_correct": _bytes(SOLUTION),
    "00_blank": _bytes(BLANK),
    "carol/00_welcome": _bytes(BLANK),
    "00_sys_exit": _bytes(_notebook(SOLUTION, replace={"log_likelihood_per_example": SYS_EXIT_IN_FUNCTION})),
    "00_malformed": b"{ not json",
}


def _world_writable(path: Path) -> Path:
    """Make ``path`` writable by everyone: the files are protected by the grader, not by their modes."""
    os.chmod(path, 0o777 if path.is_dir() else 0o666)
    return path


def _class(root: Path, notebooks: dict[str, bytes]) -> Path:
    """``root/class/<name>.ipynb`` for each notebook, every folder and file world-writable."""
    folder = root / "class"
    for name, data in notebooks.items():
        path = folder / f"{name}.ipynb"
        for parent in (folder, path.parent):
            if not parent.exists():
                parent.mkdir()
                _world_writable(parent)
        path.write_bytes(data)
        _world_writable(path)
    return folder


def _start_grading(folder: Path, out: Path, *options: str) -> subprocess.Popen:
    """The command line, in a C locale, from a neutral folder."""
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONUTF8", None)
    env.pop("PYTHONIOENCODING", None)
    return subprocess.Popen([sys.executable, "-m", "course_lib.grade", str(folder), "--csv", str(out / "grades.csv"),
                             "--json", str(out / "grades.jsonl"), "--time-limit", str(TIME_LIMIT),
                             "--runner-time", "30", *options], env=env, cwd=tempfile.gettempdir(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish_grading(process: subprocess.Popen, out: Path) -> dict[str, dict]:
    _, errors = process.communicate(timeout=600)
    assert process.returncode == 0, errors.decode(errors="replace")[-3000:]
    with open(out / "grades.csv", encoding="utf-8", newline="") as handle:
        table = {row["student"]: row for row in csv.DictReader(handle)}
    lines = (out / "grades.jsonl").read_text(encoding="utf-8").splitlines()
    records = {r["student"]: r for r in map(json.loads, lines)}
    assert list(records) == list(table) and sorted(table) == list(table)  # one row each, in name order
    return records


@pytest.fixture(scope="module")
def graded():
    """Two classes graded at the same time (two command lines), as a teaching assistant would see them.

    ``hostile``: every case of issue 9, ``--jobs 2``, kernels under their own uid when the tests run as root.
    ``same_uid``: the attacks on files again, ``--jobs 1 --no-drop`` (kernels keep the grader's uid, as when
    it does not run as root), with honest notebooks whose rows must equal the first class's.
    """
    roots = [_world_writable(Path(tempfile.mkdtemp(prefix=f"grade-{n}-"))) for n in ("hostile", "same-uid")]
    drops = [_world_writable(Path(tempfile.mkdtemp(prefix="grade-daemons-"))) for _ in roots]
    try:
        classes = {}
        for key, root, drop, options in zip(("hostile", "same_uid"), roots, drops,
                                            (("--jobs", "2"), ("--jobs", "1", "--no-drop")), strict=True):
            folder, grades = root / "class", root / "grades.csv"
            notebooks = dict(HONEST, **{"00_vandal": _vandal(folder, grades, drop)})
            if key == "hostile":
                notebooks.update({name: _bytes(notebook) for name, notebook in {
                    "00_patched_checker": _notebook(BLANK, append=(PATCH_CHECKER,)),
                    "00_printed_fake": _notebook(BLANK, append=(PRINT_FAKE,)),
                    "00_reference": _notebook(SOLUTION, replace=FROM_REFERENCE),
                    "00_endless": _notebook(SOLUTION, append=(ENDLESS,)),
                    "00_swallow": _notebook(SOLUTION, append=(SWALLOW,)),
                    "00_os_exit": _notebook(SOLUTION, after={"normal_log_prob": OS_EXIT}),
                    "00_output": _notebook(SOLUTION, append=(OUTPUT,)),
                    UNICODE_NAME: SOLUTION}.items()}, **{"00_empty": b""})
            else:
                notebooks = {k: v for k, v in notebooks.items() if k in ("00_correct", "00_blank", "carol/00_welcome",
                                                                          "00_malformed", "00_vandal")}
            folder = _class(root, notebooks)
            before = {p: p.read_bytes() for p in folder.rglob("*.ipynb")}
            classes[key] = {"root": root, "folder": folder, "before": before, "drop": drop, "options": options}
        start = time.perf_counter()
        running = {key: _start_grading(c["folder"], c["root"], *c["options"]) for key, c in classes.items()}
        for key, process in running.items():
            classes[key]["rows"] = _finish_grading(process, classes[key]["root"])
            classes[key]["grades"] = (classes[key]["root"] / "grades.csv").read_bytes()
        print(f"graded {sum(len(c['rows']) for c in classes.values())} notebooks in "
              f"{time.perf_counter() - start:.1f} s")
        for c in classes.values():
            print({name: (row["seconds"], row["kernels"]) for name, row in c["rows"].items()})
        yield classes
    finally:
        for path in roots + drops:
            shutil.rmtree(path, ignore_errors=True)


def _outcomes(row: dict) -> list[str]:
    return [row[name] for name in EXERCISES]


def test_honest_notebooks_get_what_they_earned(graded):
    rows = graded["hostile"]["rows"]
    assert rows["00_correct"]["status"] == "ok" and _outcomes(rows["00_correct"]) == ["correct", "correct"]
    assert rows["00_blank"]["status"] == "ok" and _outcomes(rows["00_blank"]) == ["not_attempted"] * 2
    assert _outcomes(rows["carol/00_welcome"]) == ["not_attempted"] * 2  # the planted course_lib was not used
    assert rows[UNICODE_NAME]["score"] == 2


def test_forgeries_earn_nothing(graded):
    rows = graded["hostile"]["rows"]
    assert _outcomes(rows["00_patched_checker"]) == ["incorrect", "incorrect"]
    assert _outcomes(rows["00_printed_fake"]) == ["not_attempted", "not_attempted"]
    reference = rows["00_reference"]
    assert _outcomes(reference) == ["incorrect", "incorrect"]
    assert "reference" in reference["messages"]["normal_log_prob"]  # the delegation is named


def test_notebooks_that_never_end_or_end_the_kernel(graded):
    rows = graded["hostile"]["rows"]
    for name in ("00_endless", "00_swallow"):
        assert rows[name]["status"] == "timeout" and rows[name]["score"] == 2, rows[name]
    assert rows["00_endless"]["kernels"] == 1  # interrupted: the checks ran in the same kernel
    assert rows["00_swallow"]["kernels"] == 2  # killed: a fresh kernel reran the cells before the loop
    died = rows["00_os_exit"]
    assert died["status"] == "kernel died" and _outcomes(died) == ["correct", "missing"], died
    sys_exit = rows["00_sys_exit"]
    assert sys_exit["status"] == "ok" and _outcomes(sys_exit) == ["correct", "incorrect"]
    assert "sys.exit" in sys_exit["messages"]["log_likelihood_per_example"]
    assert rows["00_output"]["status"] == "ok" and rows["00_output"]["score"] == 2


def test_unreadable_files_are_rows(graded):
    rows = graded["hostile"]["rows"]
    for name in ("00_malformed", "00_empty"):
        assert rows[name]["status"] == "unreadable" and rows[name]["total"] == 0


def test_no_submission_or_grade_was_disturbed(graded):
    hostile = graded["hostile"]
    assert {p: p.read_bytes() for p in hostile["folder"].rglob("*.ipynb")} == hostile["before"]
    assert not (hostile["folder"] / "carol" / "course_lib").exists()  # the kernel could not even write there
    assert hostile["rows"]["00_vandal"]["score"] == 2 and not hostile["rows"]["00_vandal"]["notes"]


def test_same_uid_the_grader_still_protects_the_files(graded):
    same = graded["same_uid"]
    rows = same["rows"]
    assert {p: p.read_bytes() for p in same["folder"].rglob("*.ipynb")} == same["before"]
    assert "restored" in rows["00_vandal"]["notes"] and "restored" in rows["00_blank"]["notes"]
    assert (same["folder"] / "carol" / "course_lib").exists()  # planted, this time, but imported by nobody
    assert _outcomes(rows["carol/00_welcome"]) == ["not_attempted"] * 2
    assert _outcomes(rows["00_blank"]) == ["not_attempted"] * 2 and rows["00_vandal"]["score"] == 2


def test_no_process_outlives_its_row(graded):
    pids = {key: [int(p.read_text()) for p in c["drop"].glob("daemon-*")] for key, c in graded.items()}
    assert all(pids.values()), f"a daemon never started: {pids}"
    assert not [pid for group in pids.values() for pid in group if os.path.exists(f"/proc/{pid}")]
    time.sleep(3)  # a daemon still alive would rewrite grades.csv 1 s after it appeared
    for c in graded.values():
        assert (c["root"] / "grades.csv").read_bytes() == c["grades"]


def test_grades_are_utf8_whatever_the_locale(graded):
    text = (graded["hostile"]["root"] / "grades.csv").read_bytes().decode("utf-8")
    assert UNICODE_NAME in text


def test_rows_do_not_depend_on_jobs(graded):
    """--jobs 2 (first class) and --jobs 1 (second class) give the same rows, timings aside."""
    for name in ("00_correct", "00_malformed", "carol/00_welcome"):
        first, second = dict(graded["hostile"]["rows"][name]), dict(graded["same_uid"]["rows"][name])
        for row in (first, second):
            row.pop("seconds")
        assert first == second, name
