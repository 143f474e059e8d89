"""Build exercises/ from solutions/ (the single source of the exercises), or verify they are in sync.

In each code cell, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers)
become a stub, indented like the markers::

    # YOUR CODE HERE
    raise NotImplementedError()

Outputs and execution counts are cleared; everything else is kept as it is. Each generated notebook
records a digest of its cells, so a student's edits to a notebook in exercises/ are never overwritten
(use --force to overwrite anyway).

Usage::

    python -m course_lib.assign            # regenerate exercises/ from solutions/
    python -m course_lib.assign --check    # exit 1, naming the notebooks, if exercises/ is out of date
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ROOT = Path(__file__).resolve().parent.parent


class AssignError(ValueError):
    """A solution notebook whose markers cannot be turned into an exercise."""


def strip_solution(source: str, where: str = "cell") -> str:
    """Replace every BEGIN/END SOLUTION block in ``source`` by the stub."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise AssignError(f"{where}, line {number}: a second {BEGIN} before {END}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + s for s in STUB]
        elif stripped.startswith(END):
            if not inside:
                raise AssignError(f"{where}, line {number}: {END} without a {BEGIN} before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise AssignError(f"{where}: {BEGIN} without a matching {END}")
    return "\n".join(out)


def _digest(cells: list) -> str:
    payload = json.dumps([{"type": c["cell_type"], "source": c["source"]} for c in cells], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def make_exercise(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The student version of a solution notebook (a new notebook; the input is not changed)."""
    notebook = copy.deepcopy(solution)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            cell.source = strip_solution(cell.source, where=f"{name}, cell {index}")
            cell.outputs = []
            cell.execution_count = None
        elif BEGIN in cell.source or END in cell.source:
            raise AssignError(f"{name}, cell {index}: solution markers are only allowed in code cells")
        cell.get("metadata", {}).pop("execution", None)
    notebook.metadata["course_lib"] = {"generated_from": f"solutions/{name}", "digest": _digest(notebook.cells)}
    return notebook


def _render(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook, version=4) + "\n"


def _edited_by_hand(path: Path) -> bool:
    """True when an existing exercise notebook's cells differ from the digest it was generated with."""
    try:
        existing = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - unreadable means we must not silently replace it
        return True
    recorded = existing.metadata.get("course_lib", {}).get("digest")
    has_outputs = any(c.get("outputs") for c in existing.cells if c.cell_type == "code")
    return recorded != _digest(existing.cells) or has_outputs


def build(solutions: Path, exercises: Path, *, check: bool = False, force: bool = False) -> list[str]:
    """Generate (or with ``check=True`` compare) every exercise notebook; return the problems found."""
    problems: list[str] = []
    sources = sorted(solutions.glob("*.ipynb"))
    if not sources:
        return [f"no solution notebooks in {solutions}"]
    exercises.mkdir(parents=True, exist_ok=True)
    for source in sources:
        target = exercises / source.name
        try:
            text = _render(make_exercise(nbformat.read(source, as_version=4), source.name))
        except AssignError as error:
            problems.append(str(error))
            continue
        current = target.read_text() if target.exists() else None
        if current == text:
            continue
        if check:
            problems.append(f"{target} is out of date with {source}: run `python -m course_lib.assign`")
        elif current is not None and _edited_by_hand(target) and not force:
            problems.append(f"{target} has changes that were not generated (a student's work?); not overwritten. "
                            "Move it aside, or use --force to overwrite it.")
        else:
            target.write_text(text)
            print(f"wrote {target}")
    for stale in sorted(set(p.name for p in exercises.glob("*.ipynb")) - set(p.name for p in sources)):
        problems.append(f"{exercises / stale} has no solution notebook in {solutions}; remove it")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build exercises/ from solutions/, or check they are in sync.")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if anything is out of date")
    parser.add_argument("--force", action="store_true", help="overwrite exercise notebooks edited by hand")
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    parser.add_argument("--exercises", type=Path, default=ROOT / "exercises")
    args = parser.parse_args(argv)
    problems = build(args.solutions, args.exercises, check=args.check, force=args.force)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems and args.check:
        print(f"exercises/ is in sync with solutions/ ({len(list(args.solutions.glob('*.ipynb')))} notebooks)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
