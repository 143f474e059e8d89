"""The memory table's script: a kernel's peak resident memory (not its memory at the end), its time, the table."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import measure_memory

pytestmark = [pytest.mark.notebook,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")]


def test_the_peak_is_measured_even_after_the_memory_is_freed(tmp_path: Path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("block = b'x' * (300 * 2**20)  # 300 MiB, written"),
                      nbformat.v4.new_code_cell("del block\nimport gc\ngc.collect()"),
                      nbformat.v4.new_code_cell("import os\nassert os.environ['COURSE_FAST'] == '0'")]
    path = tmp_path / "07_probe.ipynb"
    nbformat.write(notebook, path)
    measured = measure_memory.measure(path)
    assert measured.errors == 0, "full mode: the kernel sees COURSE_FAST=0"
    assert 300 < measured.peak_rss_mib < 2000
    assert measured.seconds > 0 and measured.cores >= 1
    assert nbformat.read(path, as_version=4).cells[0].outputs == [], "the notebook on disk is not written"


def test_the_table_replaces_only_its_own_lines(tmp_path: Path):
    rows = [measure_memory.Measurement("00_welcome.ipynb", 443.2, 36.4, 0, 2, 8.6, 8.3)]
    text = measure_memory.table(rows)
    assert "| 00_welcome.ipynb | 443 | 36 | 8.6 → 8.3 |" in text and "2 cores" in text
    document = tmp_path / "teaching.md"
    document.write_text(f"# Guide\nbefore\n{measure_memory.BEGIN}\nold table\n{measure_memory.END}\nafter\n")
    measure_memory.update(document, text)
    content = document.read_text()
    assert "old table" not in content and text in content and content.startswith("# Guide\nbefore\n")
    assert content.endswith(f"{measure_memory.END}\nafter\n")
