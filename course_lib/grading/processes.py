"""Process control for grading: become a child subreaper, find every descendant, kill them all.

A supervisor grades one submission. It marks itself a *child subreaper* (Linux ``prctl``), so a process
the student's kernel double-forks (``fork; setsid; fork``) is reparented to the supervisor instead of to
init, and stays visible as a descendant. After the run the supervisor kills every descendant it finds by
walking ``/proc``, reaps them, and repeats until none is left. When the kernels run under a uid of their own,
:func:`kill_uid` also kills every process of that uid in one ``kill(-1)``, which a fork bomb cannot outrun.

On other systems there is no subreaper and no ``/proc``: :func:`kill_tree` falls back to the kernel's process
group (the kernel starts in its own session), which misses a daemon that left the group. ``SUBREAPER`` says
which of the two is in force.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time

from course_lib.grading.launch import prctl

_PR_SET_CHILD_SUBREAPER = 36
SUBREAPER = sys.platform.startswith("linux") and os.path.isdir("/proc/self")


def become_subreaper() -> bool:
    """Make orphaned descendants of this process reparent to it (Linux). Returns whether it worked."""
    return SUBREAPER and prctl(_PR_SET_CHILD_SUBREAPER, 1)


def parent_of(pid: int) -> int | None:
    """The parent pid from ``/proc/<pid>/stat``, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # the command name sits in parentheses and may itself contain spaces and parentheses
    fields = stat[stat.rfind(b")") + 2:].split()
    return int(fields[1]) if len(fields) > 1 else None


def descendants(pid: int | None = None) -> list[int]:
    """Every live process below ``pid`` (default: this process), zombies included, found through /proc."""
    root = os.getpid() if pid is None else pid
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            parent = parent_of(int(name))
            if parent is not None:
                children.setdefault(parent, []).append(int(name))
    found, todo = [], list(children.get(root, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children.get(child, [])
    return found


def reap() -> None:
    """Collect the exit status of every finished child, so that no zombie is left behind."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_uid(uid: int) -> None:
    """Kill every process of ``uid`` at once: a child drops to ``uid`` and calls ``kill(-1, SIGKILL)``.

    Only for a uid that nothing but the grader's kernels use. Needs root; a no-op elsewhere.
    """
    if os.geteuid() != 0 or uid == 0:
        return
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)  # every process this uid may signal, except the caller itself
        except OSError:
            pass
        os._exit(0)
    os.waitpid(child, 0)


def kill_tree(leader: int | None, uid: int | None = None, timeout: float = 10.0) -> list[int]:
    """Kill the process group of ``leader`` (if given), every process of ``uid`` (if given) and, on Linux,
    every descendant of this process.

    Repeats until nothing is left or ``timeout`` passes; returns the pids still alive (normally none).
    """
    deadline = time.monotonic() + timeout
    while True:
        if leader is not None:
            try:
                os.killpg(leader, signal.SIGKILL)
            except OSError as error:
                if error.errno not in (errno.ESRCH, errno.EPERM):
                    raise
        if uid is not None:
            kill_uid(uid)
        alive = []
        if SUBREAPER:
            for pid in descendants():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                alive.append(pid)
        reap()
        if SUBREAPER:
            alive = [pid for pid in descendants() if not _is_zombie(pid)]
        if not alive or time.monotonic() > deadline:
            reap()
            return alive
        time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return True  # gone
    return stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3] in (b"Z", b"X")
