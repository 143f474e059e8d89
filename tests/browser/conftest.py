"""Fixtures for the real-browser test: Debian's chromium, a throw-away JupyterLab server, Playwright.

Everything here is bounded in time and cleaned up in teardown:
- `chromium_path` finds `chromium`, or installs Debian's package (`apt-get install -y chromium`) when the
  test runs as root on a Debian machine; otherwise the test is skipped with instructions.
- `lab_server` starts `jupyter lab` on 127.0.0.1, on a free port, with a random token and temporary
  config/runtime/settings/workspace directories, serving a temporary copy of the notebook under test
  (the repository's notebook is never touched), with COURSE_FAST=1 for the kernel.
- `page` is a headless Chromium page driven by Python Playwright through `executable_path`
  (never `playwright install`, which downloads a browser and fails offline).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "tests") not in sys.path:  # tests/chromium_setup.py, shared with tests/test_site.py
    sys.path.insert(0, str(REPO / "tests"))
from chromium_setup import chromium_or_reason  # noqa: E402

HERE = Path(__file__).resolve().parent

INSTALL_HINT = (
    "install Debian's chromium with `sudo apt-get update && sudo apt-get install -y chromium` "
    "(or put a Chromium/Chrome binary named `chromium` on PATH), then rerun the tests"
)
SERVER_START_TIMEOUT = 60  # seconds until /api answers
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of Debian's chromium, installed on demand (root + apt-get), else skip with instructions."""
    pytest.importorskip("playwright.sync_api", reason="pip install -r requirements.txt")
    path, reason = chromium_or_reason()
    if path is None:
        pytest.skip(f"chromium not found and {reason}: {INSTALL_HINT}")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    """A running JupyterLab: where it listens, its token, and the folder it serves."""

    url: str  # e.g. http://127.0.0.1:8890
    token: str
    root: Path  # the folder served (holds the notebook copy)
    log_path: Path

    def api(self, path: str, method: str = "GET", timeout: float = 5.0) -> bytes:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"},
                                         data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


def _write_lab_settings(settings_dir: Path) -> None:
    """overrides.json (news/update toasts off, every cell in the DOM) into JupyterLab's app settings dir."""
    settings_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "overrides.json", settings_dir / "overrides.json")


def _start_lab(root: Path, tmp: Path) -> tuple[subprocess.Popen, LabServer]:
    token = secrets.token_hex(24)
    port = _free_port()
    env = dict(os.environ)
    # in a browser the kernel must use its inline backend, or plt.show() draws nothing
    env.pop("MPLBACKEND", None)
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_DATA_DIR=str(tmp / "data"),  # notebook signatures etc.; kernels and extensions come from the venv
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        IPYTHONDIR=str(tmp / "ipython"),
        MPLCONFIGDIR=str(tmp / "matplotlib"),
        COURSE_FAST="1",
        PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    for name in ("config", "runtime", "data", "user-settings", "workspaces", "ipython", "matplotlib"):
        (tmp / name).mkdir(parents=True, exist_ok=True)
    _write_lab_settings(tmp / "app-settings")
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.app_settings_dir={tmp / 'app-settings'}",
    ]
    log_path = tmp / "jupyter-lab.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return proc, LabServer(url=f"http://127.0.0.1:{port}", token=token, root=root, log_path=log_path)


def _wait_for_lab(proc: subprocess.Popen, server: LabServer) -> bool:
    """Poll /api with the token until it answers; False if the process died (e.g. port taken)."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            server.api("/api/status", timeout=2)
            return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.25)
    raise TimeoutError(f"JupyterLab did not answer in {SERVER_START_TIMEOUT} s; log:\n{server.log_tail()}")


def _stop_lab(proc: subprocess.Popen, server: LabServer) -> None:
    """Ask the server to shut down (it stops its kernels), then make sure its process group is gone."""
    if proc.poll() is None:
        try:
            server.api("/api/shutdown", method="POST", timeout=5)
        except (urllib.error.URLError, OSError):
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    # The kernels run in the server's process group (start_new_session): stop any that are left.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        time.sleep(1.0)
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def _blank_copy(source: Path, target: Path) -> None:
    """Copy a notebook without outputs, execution counts or widget state: the page shows only this run."""
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, target)


@pytest.fixture
def notebook_copy(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A blanked copy of the test module's `NOTEBOOK`, alone in a folder (the original is untouched)."""
    notebook = Path(request.module.NOTEBOOK)
    folder = tmp_path / "served"
    folder.mkdir()
    _blank_copy(notebook, folder / notebook.name)
    return folder / notebook.name


@pytest.fixture
def lab_server(notebook_copy: Path, tmp_path: Path) -> Iterator[LabServer]:
    """JupyterLab serving the folder that holds `notebook_copy`; stopped (with its kernels) in teardown."""
    root = notebook_copy.parent
    for attempt in range(3):  # a free port can be taken by someone else before the server binds it
        proc, server = _start_lab(root, tmp_path / f"lab{attempt}")
        try:
            started = _wait_for_lab(proc, server)
        except BaseException:
            _stop_lab(proc, server)
            raise
        if started:
            break
        _stop_lab(proc, server)
    else:
        raise RuntimeError(f"JupyterLab failed to start three times; last log:\n{server.log_tail()}")
    try:
        yield server
    finally:
        _stop_lab(proc, server)


@pytest.fixture
def page(chromium_path: str):
    """A headless Chromium page (1400x1000), closed in teardown."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            yield context.new_page()
            context.close()
        finally:
            browser.close()
