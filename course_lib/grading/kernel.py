"""One untrusted Jupyter kernel: started through :mod:`~course_lib.grading.launch`, driven cell by cell, killed.

The client listens on the shell channel only. Printed text, figures and results go out on the kernel's iopub
channel, to which nobody subscribes, so the kernel drops them as they are made: 50 MB of printing costs the
grader nothing. A cell's reply still says whether it raised (name and message, capped). No message larger than
``MAX_MESSAGE`` is accepted. The kernel's own stdout and stderr go to a log file whose size the file-size
limit caps; only its first lines are read, when the kernel fails to start.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import zmq
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from course_lib.grading import processes

MAX_MESSAGE = 64 << 20
LAUNCHER = Path(__file__).with_name("launch.py")


@dataclass
class Limits:
    """What a submission may use. ``time_limit`` is wall-clock seconds for all of the notebook's cells."""

    time_limit: float = 300.0
    memory_mb: int | None = 4096  # address space of the kernel; ``import torch`` alone maps about 0.65 GB
    file_mb: int = 512  # the largest file the kernel may write
    processes: int = 1024  # processes and threads of the kernel's uid (only enforced when it has its own uid)
    startup: float = 120.0  # for the kernel to answer its first request
    grace: float = 5.0  # after an interrupt, before the kernel is killed
    runner_time: float = 120.0  # for the checks of one exercise, after the cells


@dataclass
class CellResult:
    """``status``: ok | error (the cell raised) | interrupted (ran out of time, then stopped) |
    hung (would not stop; the kernel must go) | died (the kernel process ended)."""

    status: str
    error: str = ""


class KernelError(RuntimeError):
    """The kernel could not be started; the message says why (and quotes its log)."""


class Kernel:
    """A kernel in ``folder`` (its working folder), with ``home`` for its private files."""

    def __init__(self, folder: Path, home: Path, *, uid: int | None, env: dict[str, str], limits: Limits,
                 view: dict | None = None) -> None:
        self.folder, self.home, self.uid, self.env, self.limits = folder, home, uid, env, limits
        self.view = view or {"masks": [], "hides": [], "stage": str(home)}
        self.process: subprocess.Popen | None = None
        self.client: BlockingKernelClient | None = None
        self._context: zmq.Context | None = None

    # -- life cycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        """Launch the kernel and wait until it answers; raises :class:`KernelError`."""
        connection = self.home / "kernel.json"
        write_connection_file(str(connection), ip="127.0.0.1", key=secrets.token_hex(32).encode(),
                              transport="tcp", signature_scheme="hmac-sha256", kernel_name="python3")
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection),
                "--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]
        config = {"uid": self.uid, "gid": self.uid, "cwd": str(self.folder), "argv": argv, "env": self.env,
                  "supervisor": os.getpid(), "limits": {"memory_mb": self.limits.memory_mb,
                  "file_mb": self.limits.file_mb, "processes": self.limits.processes if self.uid else None},
                  **self.view}
        config_path = self.home.parent / "launch.json"  # in the supervisor's folder: root-owned, not the kernel's
        config_path.write_text(json.dumps(config), encoding="utf-8")
        if self.uid is not None:
            os.chown(connection, self.uid, self.uid)
        self._log = self.home.parent / "kernel.log"
        with open(self._log, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-I", str(LAUNCHER), str(config_path)],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            cwd=str(self.home.parent), start_new_session=True, close_fds=True)
        self._context = zmq.Context()
        self._context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        self._context.setsockopt(zmq.LINGER, 0)
        self.client = BlockingKernelClient(context=self._context)
        self.client.load_connection_file(str(connection))
        self.client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        msg_id = self.client.kernel_info()
        deadline = time.monotonic() + self.limits.startup
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise KernelError(f"the kernel exited at start (code {self.process.returncode}): {self.log()}")
            reply = self._reply(msg_id, 0.25)
            if reply is not None:
                return
        raise KernelError(f"the kernel did not answer within {self.limits.startup:.0f} s: {self.log()}")

    def log(self, limit: int = 600) -> str:
        try:
            with open(self._log, "rb") as handle:
                return handle.read(limit).decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> list[int]:
        """Kill the kernel and everything it started; returns pids that survived (normally none)."""
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        if self._context is not None:
            self._context.destroy(linger=0)
            self._context = None
        if self.process is None:
            return []
        survivors = processes.kill_tree(self.process.pid, self.uid)
        try:
            self.process.wait(timeout=1)
        except (subprocess.TimeoutExpired, ChildProcessError):
            pass
        return survivors

    # -- running code -------------------------------------------------------------------------------------
    def _reply(self, msg_id: str, timeout: float) -> dict | None:
        try:
            message = self.client.get_shell_msg(timeout=timeout)
        except queue.Empty:
            return None
        except Exception:  # noqa: BLE001 - a message the client cannot read is no reply
            return None
        return message["content"] if message.get("parent_header", {}).get("msg_id") == msg_id else None

    def run(self, code: str, deadline: float) -> CellResult:
        """Run ``code``; at ``deadline`` (time.monotonic) interrupt it, and give up ``grace`` seconds later."""
        msg_id = self.client.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        interrupted_at = None
        while True:
            now = time.monotonic()
            if interrupted_at is None and now >= deadline:
                os.kill(self.process.pid, signal.SIGINT)  # KeyboardInterrupt in the cell
                interrupted_at = now
            if interrupted_at is not None and now >= interrupted_at + self.limits.grace:
                return CellResult("hung", "the cell ran past the time limit and did not stop when interrupted")
            if not self.alive():
                return CellResult("died", f"the kernel ended (exit code {self.process.returncode})")
            reply = self._reply(msg_id, 0.2)
            if reply is None:
                continue
            if interrupted_at is not None:
                return CellResult("interrupted", "the cell ran past the time limit and was interrupted")
            if reply.get("status") == "ok":
                return CellResult("ok")
            name, value = str(reply.get("ename", "Error")), str(reply.get("evalue", ""))
            return CellResult("error", f"{name}: {value}"[:300])
