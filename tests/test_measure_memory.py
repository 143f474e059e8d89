"""The memory table's script: a kernel's peak resident memory (not its memory at the end), its time, the table,
and a run over several notebooks that neither hangs on a stuck cell nor stops at a failed notebook."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from queue import Empty

import nbformat
import pytest
import zmq
import zmq.asyncio
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session

from course_lib import kernel, measure_memory

pytestmark = [pytest.mark.notebook,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")]

EXPLORER = """
import ipywidgets as w
from IPython.display import display
def show(k):
    print("k =", k)
explorer = w.interactive(show, k=w.IntSlider(value=1, min=1, max=9))
display(explorer)
for value in range(2, 9):
    explorer.children[0].value = value
"""


def _notebook(path: Path, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)
    return path


def test_the_peak_is_measured_even_after_the_memory_is_freed(tmp_path: Path):
    path = _notebook(tmp_path / "07_probe.ipynb",
                     "block = b'x' * (300 * 2**20)  # 300 MiB, written",
                     "del block\nimport gc\ngc.collect()",
                     "import os\nassert os.environ['COURSE_FAST'] == '0'",
                     "import time\nt = time.process_time()\nwhile time.process_time() - t < 2:\n    pass")
    measured = measure_memory.measure(path)
    assert measured.errors == 0 and not measured.failure, "full mode: the kernel sees COURSE_FAST=0"
    assert 300 < measured.peak_rss_mib < 2000
    assert measured.peak_cell == 1, "the first code cell reached the peak"
    assert measured.seconds > 0 and measured.cores >= 1
    assert 2 <= measured.cpu_seconds < 2 + 60, "the kernel's own CPU time, with the 2 s the last cell spins"
    assert nbformat.read(path, as_version=4).cells[0].outputs == [], "the notebook on disk is not written"


def test_a_stuck_cell_stops_its_notebook_with_a_clear_error_and_the_run_goes_on(tmp_path: Path):
    """One command, four notebooks: a cell that never ends, a kernel that dies, a widget explorer, a plain one."""
    stuck = _notebook(tmp_path / "a_stuck.ipynb", "x = 1", "import time\nwhile True:\n    time.sleep(0.1)", "y = 2")
    dies = _notebook(tmp_path / "b_dies.ipynb", "import os\nos._exit(3)")
    widgets = _notebook(tmp_path / "c_widgets.ipynb", EXPLORER, "z = 3")
    plain = _notebook(tmp_path / "d_plain.ipynb", "block = b'x' * (100 * 2**20)")
    document = tmp_path / "teaching.md"
    document.write_text(f"# Guide\n{measure_memory.BEGIN}\n{measure_memory.END}\n")
    command = [sys.executable, "-m", "course_lib.measure_memory", "--fast", "--timeout", "5", "--update",
               str(document), str(stuck), str(dies), str(widgets), str(plain)]
    environment = {**os.environ, "PYTHONPATH": str(measure_memory.ROOT)}
    start = time.perf_counter()
    try:  # four kernels start and stop on a possibly loaded machine; a hang would take 900 s per cell
        done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=400)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the command hung: no result after {time.perf_counter() - start:.0f} s")
    assert done.returncode == 1, "a stopped notebook makes the command fail"
    rows = measure_memory._table_rows(document.read_text())
    assert sorted(rows) == ["a_stuck.ipynb", "b_dies.ipynb", "c_widgets.ipynb", "d_plain.ipynb"], done.stderr
    assert "stopped: code cell [2] ('import time') did not finish within 5 s" in rows["a_stuck.ipynb"]
    seconds = float(rows["a_stuck.ipynb"].split("|")[5])  # the wall time column
    assert 5 <= seconds < 60, "the stuck cell is given up after its limit (cell 0 is quick)"
    assert "the kernel died in code cell [1]" in rows["b_dies.ipynb"]
    for name in ("c_widgets.ipynb", "d_plain.ipynb"):
        assert rows[name].rstrip().endswith("|  |"), f"{name} ran to its end: {rows[name]}"
    assert float(rows["d_plain.ipynb"].split("|")[3]) > 100


def _channel(channel_class: type, arrival: float) -> AsyncZMQSocketChannel:
    """A channel of ``channel_class`` on a ``_LateSocket`` (the channel checks its socket's type when made)."""
    session = Session(key=b"secret")
    context = zmq.asyncio.Context()
    channel = channel_class(context.socket(zmq.DEALER), session)
    channel.socket.close()
    context.term()
    channel.socket = _LateSocket(arrival, session)
    return channel


def test_a_kernel_that_does_not_start_gets_a_row_and_the_next_notebook_is_measured(tmp_path: Path, monkeypatch):
    def measure(path: Path, *, fast: bool, timeout: int) -> measure_memory.Measurement:
        if path.name == "a.ipynb":
            raise RuntimeError("Kernel didn't respond in 300 seconds")
        return measure_memory.Measurement(path.name, 500.0, 10.0, 0, 2, 1.0, 1.0, fast=fast)

    monkeypatch.setattr(measure_memory, "measure", measure)
    document = tmp_path / "teaching.md"
    document.write_text(f"{measure_memory.BEGIN}\n{measure_memory.END}\n")
    assert measure_memory.main([str(tmp_path / "a.ipynb"), str(tmp_path / "b.ipynb"), "--update", str(document)]) == 1
    rows = measure_memory._table_rows(document.read_text())
    assert "stopped: the kernel did not start: Kernel didn't respond" in rows["a.ipynb"]
    assert rows["b.ipynb"] == measure_memory.row(measure_memory.Measurement("b.ipynb", 500.0, 10.0, 0, 2, 1.0, 1.0,
                                                                            date=rows["b.ipynb"].split("|")[8].strip()))


class _LateSocket:
    """A shell socket whose reply arrives after ``arrival`` s but whose poll never wakes early (a missed wake-up)."""

    def __init__(self, arrival: float, session: Session):
        self.ready_at = time.monotonic() + arrival
        self.frames = session.serialize(session.msg("execute_reply", content={"status": "ok"}))

    async def poll(self, timeout_ms: int | None) -> int:
        await asyncio.sleep(1e-3 * timeout_ms)
        return int(time.monotonic() >= self.ready_at)

    async def recv_multipart(self, copy: bool = True) -> list[bytes]:
        return [frame if isinstance(frame, bytes) else frame.encode() for frame in self.frames]


def test_a_missed_wake_up_costs_one_slice_not_the_whole_timeout():
    channel = _channel(kernel.SlicedChannel, 0.2)
    start = time.monotonic()
    reply = asyncio.run(asyncio.wait_for(channel.get_msg(timeout=30), 10))
    assert reply["msg_type"] == "execute_reply"
    assert time.monotonic() - start < 0.2 + kernel.POLL_SLICE + 2


def test_the_fake_socket_models_the_hang_nbclients_own_channel_waits_out_its_poll():
    channel = _channel(AsyncZMQSocketChannel, 0.2)
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(asyncio.wait_for(channel.get_msg(timeout=30), 3))


def test_the_sliced_channel_still_gives_up_at_its_timeout():
    channel = _channel(kernel.SlicedChannel, 60)
    start = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(channel.get_msg(timeout=2.5))
    assert 2.5 <= time.monotonic() - start < 6


def test_rows_of_other_notebooks_are_kept_and_a_notebook_measured_again_replaces_its_row(tmp_path: Path):
    old = measure_memory.Measurement("00_welcome.ipynb", 443.2, 36.4, 0, 2, 8.6, 8.3, cpu_seconds=30.2,
                                     peak_cell=7, date="2026-12-01 10:00")
    other = measure_memory.Measurement("01_data.ipynb", 700.0, 60.0, 0, 2, 1.0, 2.0, date="2026-12-01 10:05")
    expected = "| 00_welcome.ipynb | full | 443 | [7] | 36 | 30 | 8.6 → 8.3 | 2026-12-01 10:00 |  |"
    assert measure_memory.row(old) == expected
    document = tmp_path / "teaching.md"
    older_header = "| notebook | peak RSS of the kernel (MiB) | wall time (s) |\n|---|---:|---:|"
    document.write_text(f"# Guide\nbefore\n{measure_memory.BEGIN}\n{older_header}\nold table\n{measure_memory.END}\n"
                        "after\n")
    measure_memory.update(document, [other, old])
    new = measure_memory.Measurement("00_welcome.ipynb", 450.0, 40.0, 2, 2, 3.0, 3.5, failure="cell 4 timed out",
                                     date="2026-12-02 10:00")
    text = measure_memory.update(document, [new])
    content = document.read_text()
    assert "old table" not in content and text in content and "2 cores" in text
    assert content.count("| notebook |") == 1, "one header, also when the old table had other columns"
    assert content.startswith(f"# Guide\nbefore\n{measure_memory.BEGIN}\n")
    assert content.endswith(f"{measure_memory.END}\nafter\n")
    rows = measure_memory._table_rows(content)
    assert rows == {"00_welcome.ipynb": measure_memory.row(new), "01_data.ipynb": measure_memory.row(other)}
    assert "2 cells raised; stopped: cell 4 timed out" in rows["00_welcome.ipynb"]
    assert text.index("00_welcome") < text.index("01_data"), "rows sorted by notebook"
