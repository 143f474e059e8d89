"""Build exercises/ from solutions/ (the single source of the exercises), or verify they are in sync.

In each code cell, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers)
become a stub, indented like the markers::

    # YOUR CODE HERE
    raise NotImplementedError()

Outputs and execution counts are cleared; everything else is kept as it is. Each generated notebook
records a digest of its cells, so a student's edits to a notebook in exercises/ are never overwritten
(use --force to overwrite anyway).

For nbgrader, ``--nbgrader COURSE`` writes an nbgrader course folder from solutions/: each notebook becomes the
assignment ``source/NN_name/NN_name.ipynb`` with nbgrader's cell metadata (a cell with solution markers is an
autograded answer; a cell that checks an answer, ``check.chNN.name(name)``, is an autograded test worth one
point per exercise it checks; a demonstration on another function, ``check.ch00.normal_log_prob(forgot_the_log)``,
is no test), and ``nbgrader_config.py`` (per-cell timeout, the course's code stub). Under nbgrader
(``NBGRADER_EXECUTION`` is set) the check of the notebook's own answer, the object bound to the exercise's name,
raises ``AssertionError`` when it is not correct, so its test cell scores zero; everywhere else a check never
raises. nbgrader's student version of such a notebook has the same cells as exercises/
(``tests/test_nbgrader.py`` runs the whole cycle).

Usage::

    python -m course_lib.assign            # regenerate exercises/ from solutions/
    python -m course_lib.assign --check    # exit 1, naming the notebooks, if exercises/ is out of date
    python -m course_lib.assign --nbgrader COURSE [--chapter NN ...]   # an nbgrader course from solutions/
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib
import json
import re
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
# a check of the notebook's own answer: check.ch01.empirical_pmf(empirical_pmf) (not a demonstration on another
# function, such as check.ch00.normal_log_prob(forgot_the_log))
CHECK_CALL = re.compile(r"^[^#\n]*?\bcheck\.ch(\d\d)\.(\w+)\(\s*(\w+)\s*[,)]", re.MULTILINE)
NBGRADER_CONFIG = """\
# nbgrader's settings for the course (written by python -m course_lib.assign --nbgrader)
c = get_config()  # noqa: F821
c.ClearSolutions.code_stub = {{"python": {stub!r}}}  # the stub of exercises/
c.Execute.timeout = {timeout}  # seconds per cell; a lecture-sized training cell in full mode needs minutes
"""
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


def _checked_exercises(source: str) -> list[str]:
    """The exercises whose answer a cell checks: its ``check.chNN.name(name, ...)`` calls of an Exercise."""
    from course_lib.check import Exercise

    names = []
    for chapter, name, argument in CHECK_CALL.findall(source):
        module = importlib.import_module(f"course_lib.check.ch{chapter}")
        if argument == name and isinstance(getattr(module, name, None), Exercise) and name not in names:
            names.append(name)
    return names


def nbgrader_notebook(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The solution notebook with nbgrader's cell metadata: answer cells and test cells (one point each)."""
    notebook = copy.deepcopy(solution)
    grade_ids: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        cell.get("metadata", {}).pop("nbgrader", None)
        if cell.cell_type != "code":
            continue
        answer, checked = BEGIN in cell.source, _checked_exercises(cell.source)
        if answer and checked:
            raise AssignError(f"{name}, cell {index}: a cell holds both an answer and its check; split them")
        if not answer and not checked:
            continue
        grade_id = ("check_" + "_".join(checked)) if checked else f"answer_cell_{index}"
        if grade_id in grade_ids:
            raise AssignError(f"{name}, cell {index}: a second cell checks {', '.join(checked)}")
        grade_ids.add(grade_id)
        meta = {"grade": bool(checked), "solution": answer, "locked": bool(checked), "grade_id": grade_id,
                "schema_version": 3}
        if checked:
            meta["points"] = len(checked)
        cell.metadata["nbgrader"] = meta
    from course_lib.check import exercises_of_chapter

    tested = {n for c in notebook.cells if c.cell_type == "code" for n in _checked_exercises(c.source)}
    untested = [e.name for e in exercises_of_chapter(name[:2]) if e.name not in tested]
    if untested or not tested:
        raise AssignError(f"{name}: no cell checks the answer of {untested or 'any exercise'} "
                          "(check.chNN.name(name)), so nbgrader could not grade it")
    return notebook


def export_nbgrader(solutions: Path, course: Path, chapters: list[str] | None = None,
                    timeout: int = 600) -> list[str]:
    """Write an nbgrader course folder: ``source/<stem>/<stem>.ipynb`` per solution, and nbgrader_config.py."""
    course = Path(course).resolve()
    written = []
    for source in sorted(Path(solutions).glob("[0-9][0-9]_*.ipynb")):
        if chapters and source.name[:2] not in chapters:
            continue
        target = course / "source" / source.stem / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_render(nbgrader_notebook(nbformat.read(source, as_version=4), source.name)))
        written.append(source.stem)
        print(f"wrote {target}")
    if not written:
        raise AssignError(f"no solution notebooks NN_*.ipynb in {solutions} for chapters {chapters}")
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(stub="\n".join(STUB), timeout=timeout))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build exercises/ from solutions/, or check they are in sync.")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if anything is out of date")
    parser.add_argument("--force", action="store_true", help="overwrite exercise notebooks edited by hand")
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    parser.add_argument("--exercises", type=Path, default=ROOT / "exercises")
    parser.add_argument("--nbgrader", type=Path, metavar="COURSE",
                        help="write an nbgrader course folder (source/NN_name/ and nbgrader_config.py) instead")
    parser.add_argument("--chapter", nargs="+", metavar="NN", help="with --nbgrader: only these chapters")
    args = parser.parse_args(argv)
    if args.nbgrader is not None:
        try:
            names = export_nbgrader(args.solutions, args.nbgrader, args.chapter)
        except AssignError as error:
            print(error, file=sys.stderr)
            return 1
        print(f"nbgrader course in {args.nbgrader}: cd there, then `nbgrader generate_assignment {names[0]}`")
        return 0
    problems = build(args.solutions, args.exercises, check=args.check, force=args.force)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems and args.check:
        print(f"exercises/ is in sync with solutions/ ({len(list(args.solutions.glob('*.ipynb')))} notebooks)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
