"""The grader's parts that need no kernel: the safe value format, the process sweep, the file-system view,
reading notebooks and writing grades."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib.check import Case, exercises_of_chapter
from course_lib.check.compare import Opaque, compare_values
from course_lib.grading import checking, values
from course_lib.grading.report import Row, write_csv, write_jsonl
from course_lib.grading.supervisor import chapter_of, code_cells
from course_lib.grading.workspace import plan_view

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("chapter", ["00", "01", "02", "03", "04"])
def test_every_case_of_every_chapter_crosses_as_data(chapter):
    """Cases (tensors, distributions, modules) arrive equal: the reference gives the same values on both."""
    for exercise in checking.exercises(chapter):
        cases = exercise.cases()
        text, npz = values.dumps(checking.cases_as_data(exercise), objects=True)
        back = [Case(*args, **kwargs) for args, kwargs in values.loads(text, npz, objects=True)]
        assert len(back) == len(cases)
        for original, copy in zip(cases, back, strict=True):
            expected, got = exercise._run_trusted(exercise.reference, original), exercise._run_trusted(
                exercise.reference, copy)
            # the arrays themselves cross bit for bit (next test); a float32 conv need not repeat to the last bit
            assert compare_values(got, expected, rtol=1e-6, atol=1e-7) is None, exercise.name
    assert exercises_of_chapter(chapter)


def test_plain_values_round_trip_exactly():
    value = {"t": torch.arange(6, dtype=torch.float64).reshape(2, 3).requires_grad_(), "b": torch.tensor([True]),
             "half": torch.ones(2, dtype=torch.bfloat16), "n": np.float32(1.5), "a": np.arange(3),
             "nested": [1, 2 ** 80, float("nan"), float("-inf"), "é", None, (torch.Size([2, 3]),)], 3: {4, 5}}
    back = values.loads(*values.dumps(value))
    assert back["t"].dtype == torch.float64 and back["t"].requires_grad and torch.equal(back["t"], value["t"])
    assert back["half"].dtype == torch.bfloat16 and back["b"].dtype == torch.bool
    assert back["n"] == np.float32(1.5) and back["a"].tolist() == [0, 1, 2]
    assert back["nested"][1] == 2 ** 80 and np.isnan(back["nested"][2]) and back["nested"][3] == float("-inf")
    assert back["nested"][4:] == ["é", None, (torch.Size([2, 3]),)] and back[3] == {4, 5}


def test_what_a_student_returns_is_read_as_plain_data_only():
    returned = [torch.distributions.Normal(0.0, 1.0), torch.nn.Linear(2, 2), object(), Opaque("generator")]
    back = values.loads(*values.dumps(returned, objects=False))
    assert all(isinstance(v, Opaque) for v in back)
    assert [v.type_name for v in back] == ["Normal", "Linear", "object", "generator"]
    as_case = values.dumps([torch.nn.Linear(2, 2)], objects=True)  # a module is allowed in cases ...
    assert isinstance(values.loads(*as_case, objects=False)[0], Opaque)  # ... never rebuilt from a kernel's file


def _npz(member: str, data: bytes, compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.writestr(member, data)
    return buffer.getvalue()


def test_crafted_files_are_refused():
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    tensor = json.dumps({"$": "ndarray", "array": "a0"}).encode()
    with pytest.raises(values.FormatError):  # an object array would need pickle
        values.loads(tensor, _npz("a0.npy", pickled.getvalue()))
    array = io.BytesIO()
    np.save(array, np.zeros(10))
    with pytest.raises(values.FormatError):  # compressed members could expand into anything
        values.loads(tensor, _npz("a0.npy", array.getvalue(), zipfile.ZIP_DEFLATED))
    with pytest.raises(values.FormatError):  # more than the grader reads
        values.loads(tensor, _npz("a0.npy", array.getvalue()), max_bytes=16)
    module = json.dumps({"$": "module", "class": "os:system", "state": None}).encode()
    with pytest.raises(values.FormatError):  # classes come from torch or course_lib only
        values.loads(module, _npz("x.npy", b""), objects=True)
    for text in (b"[1, 2]", b'{"$": "eval", "v": "1"}', b"not json", b"[" * 100_000):
        with pytest.raises(values.FormatError):
            values.loads(text, _npz("x.npy", b""))
    assert values.loads(*values.dumps(torch.zeros(2)), max_bytes=1000).shape == (2,)


def test_values_are_read_without_following_links(tmp_path):
    values.write(str(tmp_path), "ok", torch.ones(3))
    (tmp_path / "elsewhere.json").symlink_to(tmp_path / "ok.json")
    (tmp_path / "elsewhere.npz").symlink_to(tmp_path / "ok.npz")
    os.mkfifo(tmp_path / "pipe.json")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert values.read_untrusted(fd, "ok").sum() == 3
        for name in ("elsewhere", "pipe", "missing"):
            with pytest.raises(values.FormatError):
                values.read_untrusted(fd, name)
    finally:
        os.close(fd)


def test_attempts_from_a_kernel_are_checked_field_by_field():
    exercise = checking.find_exercise("00", "normal_log_prob")
    good = checking.attempts_to_data(exercise.run_student(exercise.reference, trusted=True))
    assert checking.judge(exercise, good)[0] == "correct"
    for broken in ([{"value": 1}], "all correct", [dict(good[0], error=["x"])], [dict(good[0], cpu_seconds=-1)]):
        outcome, message = checking.judge(exercise, broken)
        assert outcome == "incorrect" and "could not be read back" in message
    wrong = [dict(a, value=a["value"] + 1) for a in good]  # a plausible value, but not the answer
    assert checking.judge(exercise, wrong)[0] == "incorrect"


def test_a_double_forked_daemon_is_found_and_killed():
    """In a subreaper, the grandchild of a double fork stays a descendant, and kill_tree removes it."""
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from course_lib.grading import processes
        assert processes.become_subreaper()
        child = os.fork()
        if child == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(60)
            os._exit(0)
        os.waitpid(child, 0)
        time.sleep(0.3)
        found = processes.descendants()
        assert len(found) == 1, found
        assert processes.kill_tree(None) == []
        assert processes.descendants() == [] and not os.path.exists(f"/proc/{{found[0]}}")
        print("ok")
    """)
    if not sys.platform.startswith("linux"):
        pytest.skip("subreapers are Linux only")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_the_view_masks_what_the_uid_cannot_enter():
    tmp_path = Path(tempfile.mkdtemp())  # not under pytest's folder, which only its owner may enter
    private, shared = tmp_path / "private", tmp_path / "shared"
    (private / "python" / "lib").mkdir(parents=True)
    (shared / "class").mkdir(parents=True)
    os.chmod(tmp_path, 0o755)
    os.chmod(private, 0o700)
    os.chmod(shared, 0o755)
    needed = [str(private / "python" / "lib"), str(private / "python"), str(shared / "lib")]
    view = plan_view(needed, [str(shared / "class"), str(shared), str(tmp_path / "grades")], [], 61234)
    assert view["masks"] == [(str(private), [str(private / "python")])]
    # shared/ holds a needed path, so only its class/ folder is hidden
    assert sorted(view["hides"]) == sorted([str(shared / "class"), str(tmp_path / "grades")])
    shutil.rmtree(tmp_path)


def test_notebooks_are_read_as_plain_json():
    notebook = {"nbformat": 4, "cells": [{"cell_type": "markdown", "source": "# x"},
                                         {"cell_type": "code", "source": ["a = 1\n", "b = 2"]},
                                         {"cell_type": "code", "source": "c = 3"}]}
    assert code_cells(json.dumps(notebook).encode()) == ["a = 1\nb = 2", "c = 3"]
    for bad in (b"", b"{ not json", b"[]", json.dumps({"nbformat": 3, "worksheets": []}).encode(), b"\xff\xfe"):
        with pytest.raises(ValueError):
            code_cells(bad)
    assert chapter_of("alice/03_autoregressive_models.ipynb") == "03" and chapter_of("alice.ipynb") is None


def test_grades_are_written_atomically_in_utf8(tmp_path):
    rows = [Row("Zoë Ångström", "00_x.ipynb", "00", "f00", outcomes={"a": "correct", "b": "incorrect"}),
            Row("bob", "00_y.ipynb", "00", "", status="unreadable", first_error="not, a \"notebook\"\nat all")]
    write_csv(rows, tmp_path / "grades.csv")
    write_jsonl(rows, tmp_path / "grades.jsonl")
    text = (tmp_path / "grades.csv").read_bytes().decode("utf-8")
    assert text.splitlines()[0].startswith("student,notebook,chapter,status,score,total,a,b,")
    assert "Zoë Ångström" in text and sorted(os.listdir(tmp_path)) == ["grades.csv", "grades.jsonl"]
    records = [json.loads(line) for line in (tmp_path / "grades.jsonl").read_text(encoding="utf-8").splitlines()]
    assert records[0]["score"] == 1 and records[1]["first_error"] == "not, a \"notebook\"\nat all"
