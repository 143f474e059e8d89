"""The grader: one row per student, whatever state each notebook is in."""

import csv
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from course_lib import grade

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.notebook
def test_grade_a_class_with_good_blank_broken_and_corrupt_notebooks(tmp_path: Path):
    class_dir = tmp_path / "class"
    class_dir.mkdir()
    shutil.copy(ROOT / "solutions" / "00_welcome.ipynb", class_dir / "00_alice.ipynb")
    shutil.copy(ROOT / "exercises" / "00_welcome.ipynb", class_dir / "00_bob.ipynb")
    broken = nbformat.read(ROOT / "solutions" / "00_welcome.ipynb", as_version=4)
    broken.cells.insert(2, nbformat.v4.new_code_cell("def broken(:"))
    broken.cells.insert(3, nbformat.v4.new_code_cell("import time\nwhile True:\n    time.sleep(0.1)"))
    nbformat.write(broken, class_dir / "00_carol.ipynb")
    (class_dir / "00_dave.ipynb").write_text("{ not json")

    rows = {r.student: r for r in grade.grade_folder(class_dir, time_limit=12)}
    assert rows["00_alice"].status == "ok" and rows["00_alice"].score == 2
    assert set(rows["00_bob"].outcomes.values()) == {"not_attempted"} and rows["00_bob"].score == 0
    assert rows["00_carol"].status == "timeout" and "SyntaxError" in rows["00_carol"].first_error
    assert rows["00_carol"].score == 2  # the checks still ran after the endless loop was interrupted
    assert rows["00_dave"].status == "unreadable"

    grade.write_csv(list(rows.values()), tmp_path / "grades.csv")
    with open(tmp_path / "grades.csv") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 4 and "normal_log_prob" in table[0]
    json.dumps([r.as_dict() for r in rows.values()])
