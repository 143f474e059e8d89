"""Grade a folder of submitted exercise notebooks: one row per student, whatever state the notebooks are in.

Each notebook runs in its own fresh kernel (a new process) with a time limit, errors allowed, so one broken
cell does not hide the rest. Then the grader reruns every check of the chapter inside that kernel on the
functions the notebook defined (the notebook's stored outputs are ignored) and records the outcomes. A
notebook that cannot be read, times out or crashes its kernel gets a row saying so; grading goes on.

Usage::

    python -m course_lib.grade submissions/ --chapter 01 --csv grades.csv --json grades.jsonl

``submissions/`` holds ``alice.ipynb``, ``bob.ipynb`` ... or ``alice/01_data_distributions.ipynb`` ...; the
student's name is the path relative to the folder, without ``.ipynb``. The chapter defaults to the
two-digit prefix of each notebook's file name.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from course_lib.check import CORRECT

_MARK = "COURSE_GRADE_RESULT:"
_GRADING_CELL = """
import json as _json
import course_lib.check as _core
from course_lib.check import {module} as _chapter_checks  # noqa: F401  (registers the chapter's exercises)
_rows = {{}}
for _exercise in _core.exercises_of_chapter({chapter!r}):
    _student = globals().get(_exercise.name)
    if _student is None:
        _rows[_exercise.name] = "missing"
    else:
        _rows[_exercise.name] = _exercise.evaluate(_student).outcome
print({mark!r} + _json.dumps(_rows))
"""


@dataclass
class GradeRow:
    """The grade of one submitted notebook."""

    student: str
    notebook: str
    chapter: str
    status: str = "ok"  # ok | unreadable | timeout | kernel died | no chapter
    outcomes: dict[str, str] = field(default_factory=dict)
    errors: int = 0  # cells that raised
    first_error: str = ""
    seconds: float = 0.0

    @property
    def score(self) -> int:
        return sum(1 for o in self.outcomes.values() if o == CORRECT)

    def as_dict(self) -> dict:
        return {"student": self.student, "notebook": self.notebook, "chapter": self.chapter, "status": self.status,
                "score": self.score, "total": len(self.outcomes), **self.outcomes, "errors": self.errors,
                "first_error": self.first_error, "seconds": round(self.seconds, 1)}


def _chapter_of(path: Path) -> str | None:
    match = re.match(r"(\d\d)_", path.name)
    return match.group(1) if match else None


def _cell_errors(notebook: nbformat.NotebookNode) -> list[str]:
    errors = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors.append(f"cell {index}: {output.get('ename')}: {output.get('evalue', '')}"[:300])
    return errors


def grade_notebook(path: Path, student: str, chapter: str | None = None, *, time_limit: float = 300.0,
                   fast: bool = True) -> GradeRow:
    """Run one submission in a fresh kernel and rerun its chapter's checks; never raises for a bad notebook."""
    chapter = chapter or _chapter_of(path)
    row = GradeRow(student=student, notebook=str(path), chapter=chapter or "")
    if chapter is None:
        row.status = "no chapter"
        row.first_error = "cannot tell the chapter from the file name; pass --chapter"
        return row
    start = time.perf_counter()
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as error:  # noqa: BLE001 - a corrupt file is a row, not a crash
        row.status, row.first_error = "unreadable", f"{type(error).__name__}: {error}"[:300]
        return row
    notebook.cells.append(nbformat.v4.new_code_cell(
        _GRADING_CELL.format(module=f"ch{chapter}", chapter=chapter, mark=_MARK)))
    deadline = time.monotonic() + time_limit
    env_before = {k: os.environ.get(k) for k in ("COURSE_FAST", "COURSE_CHECK_STRICT")}
    os.environ["COURSE_FAST"] = "1" if fast else "0"
    os.environ.pop("COURSE_CHECK_STRICT", None)
    def cell_timeout(cell: nbformat.NotebookNode) -> int:
        if _MARK in cell.source:
            return 120  # the grading cell has its own allowance, even after a student's cell ran out of time
        return max(1, int(deadline - time.monotonic()))

    client = NotebookClient(notebook, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
                            timeout_func=cell_timeout, resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellTimeoutError:
        row.status = "timeout"
    except DeadKernelError:
        row.status = "kernel died"
    except Exception as error:  # noqa: BLE001 - keep grading the others
        row.status, row.first_error = "failed", f"{type(error).__name__}: {error}"[:300]
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    row.seconds = time.perf_counter() - start
    errors = _cell_errors(notebook)
    if any("KeyboardInterrupt" in e for e in errors) and row.status == "ok":
        row.status = "timeout"  # a cell ran past the time limit and was interrupted; the checks still ran
    grading_outputs = notebook.cells[-1].get("outputs", [])
    text = "".join(o.get("text", "") for o in grading_outputs if o.get("output_type") == "stream")
    if _MARK in text:
        row.outcomes = json.loads(text.split(_MARK, 1)[1].strip().splitlines()[0])
    elif row.status == "ok":
        row.status = "failed"
    if errors and errors[-1].startswith(f"cell {len(notebook.cells) - 1}:"):
        row.status = "failed"  # the grading cell itself failed (e.g. the student broke course_lib's import)
    row.errors = len(errors)
    row.first_error = row.first_error or (errors[0] if errors else "")
    return row


def grade_folder(folder: Path, chapter: str | None = None, *, time_limit: float = 300.0,
                 fast: bool = True) -> list[GradeRow]:
    """Grade every notebook under ``folder`` (checkpoints excluded), in name order."""
    paths = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    rows = []
    for path in paths:
        student = str(path.relative_to(folder).with_suffix(""))
        row = grade_notebook(path, student, chapter, time_limit=time_limit, fast=fast)
        print(f"{row.status:>11}  {row.score}/{len(row.outcomes)}  {student}", file=sys.stderr)
        rows.append(row)
    return rows


def write_csv(rows: list[GradeRow], path: Path) -> None:
    """One row per student; one column per exercise (the union over all rows)."""
    records = [r.as_dict() for r in rows]
    columns: list[str] = []
    for record in records:
        columns += [k for k in record if k not in columns]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Grade a folder of submitted exercise notebooks.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--chapter", help="two-digit chapter, e.g. 01 (default: from each file name)")
    parser.add_argument("--csv", type=Path, default=Path("grades.csv"))
    parser.add_argument("--json", type=Path, help="also write one JSON object per line")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per notebook")
    parser.add_argument("--full", action="store_true", help="run notebooks in full mode (default: fast mode)")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder of notebooks")
    rows = grade_folder(args.folder, args.chapter, time_limit=args.time_limit, fast=not args.full)
    if not rows:
        print(f"no notebooks found under {args.folder}", file=sys.stderr)
        return 1
    write_csv(rows, args.csv)
    if args.json:
        args.json.write_text("".join(json.dumps(r.as_dict()) + "\n" for r in rows))
    print(f"graded {len(rows)} notebooks -> {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
