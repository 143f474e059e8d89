"""The browser tests' chromium install is serialised: a worker that waited for the lock finds what the first
worker installed instead of running apt-get a second time (two at once fail on apt's lock)."""

from __future__ import annotations

import chromium_setup


def test_a_waiting_worker_takes_the_chromium_another_worker_installed(monkeypatch, tmp_path):
    found = iter([None, "/usr/bin/chromium"])  # absent before the lock, present once the lock is ours
    monkeypatch.setattr(chromium_setup, "find_chromium", lambda: next(found))
    monkeypatch.setattr(chromium_setup, "LOCK_PATH", tmp_path / "apt.lock")

    def no_second_install() -> str:
        raise AssertionError("apt-get ran although chromium was already installed")

    monkeypatch.setattr(chromium_setup, "_apt_install", no_second_install)
    assert chromium_setup.chromium_or_reason() == ("/usr/bin/chromium", None)


def test_a_failed_install_gives_its_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(chromium_setup, "find_chromium", lambda: None)
    monkeypatch.setattr(chromium_setup, "LOCK_PATH", tmp_path / "apt.lock")
    monkeypatch.setattr(chromium_setup, "_apt_install", lambda: "`apt-get update` failed with exit code 100")
    assert chromium_setup.chromium_or_reason() == (None, "`apt-get update` failed with exit code 100")
