"""Find Debian's chromium for the browser tests, or install it once (root + apt-get) for every test worker.

pytest-xdist runs the site test and the JupyterLab tests in several processes at once. Two `apt-get update`
runs at the same time make the second fail on apt's lock, so the install is serialised by a file lock: the
first worker installs, the others wait for it and then find chromium on PATH.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

APT_TIMEOUT = 600  # seconds for `apt-get update` and for `apt-get install`, each
LOCK_PATH = Path(tempfile.gettempdir()) / "course_browser_test_apt.lock"
LOG_PATH = Path(tempfile.gettempdir()) / "course_browser_test_apt.log"


def find_chromium() -> str | None:
    """The path of a Chromium binary on PATH, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _apt_install() -> str | None:
    """Install Debian's chromium with apt-get; a reason string when that is impossible or failed."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not running as root, so chromium cannot be installed automatically"
    if shutil.which("apt-get") is None or not Path("/etc/debian_version").exists():
        return "not a Debian machine (no apt-get), so chromium cannot be installed automatically"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open(LOG_PATH, "a", encoding="utf-8") as log:
        wait_for_lock = ["-o", "DPkg::Lock::Timeout=120"]  # an apt run outside the tests may hold the lock
        for cmd in (["apt-get", *wait_for_lock, "update", "-q"],
                    ["apt-get", *wait_for_lock, "install", "-y", "-q", "chromium"]):
            log.write(f"$ {' '.join(cmd)}\n")
            log.flush()
            try:
                done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=env, timeout=APT_TIMEOUT, check=False)
            except subprocess.TimeoutExpired:
                return f"`{' '.join(cmd)}` took more than {APT_TIMEOUT} s (no network?); see {LOG_PATH}"
            if done.returncode != 0:
                return f"`{' '.join(cmd)}` failed with exit code {done.returncode} (no network?); see {LOG_PATH}"
    return None


def chromium_or_reason() -> tuple[str | None, str | None]:
    """(path, None) when chromium is on PATH or was just installed; (None, why not) otherwise."""
    path = find_chromium()
    if path is not None:
        return path, None
    with open(LOCK_PATH, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time; the others wait here
        try:
            path = find_chromium()  # another worker may have installed it while this one waited
            if path is not None:
                return path, None
            reason = _apt_install()
            path = find_chromium()
            if path is None:
                return None, reason or f"apt-get finished but `chromium` is still not on PATH; see {LOG_PATH}"
            return path, None
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
