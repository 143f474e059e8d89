"""Start a student's kernel: limits, a private view of the file system, an unprivileged uid, then exec.

Run by the supervisor as a script (``python -I launch.py config.json``), in a new session, before any
student code exists in the process. Standard library only, so that it starts fast and imports nothing from a
folder a student could write. In order:

1. the file-system view (root only, Linux): in a private mount namespace, a directory that the kernel's uid
   cannot enter but that holds what the kernel needs (Python under ``/root/.pyenv``, say) is covered by an
   empty tmpfs into which only the needed folders are bind-mounted back; the submissions and the grades'
   folder are covered by an empty read-only tmpfs, so the kernel can neither read nor write them;
2. resource limits: address space (``--memory-limit``), size of any file written, no core dumps, and a
   process count for the kernel's uid;
3. the uid drop (root only): no supplementary groups, the uid and gid of the slot, no new privileges (a
   set-uid program cannot regain root), and death with the supervisor;
4. ``chdir`` into the working folder and ``execve`` the kernel with the environment the supervisor chose.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
_CLONE_NEWNS = 0x00020000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_MOVE, _MS_REC, _MS_PRIVATE = 1, 2, 4, 4096, 8192, 16384, 1 << 18


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def prctl(option: int, value: int) -> bool:
    """``prctl(option, value)`` through libc; False when it failed or there is no libc (not Linux)."""
    try:
        return _libc().prctl(option, ctypes.c_ulong(value), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    if _libc().mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {target}: {os.strerror(error)}")


def apply_view(masks: list[tuple[str, list[str]]], hides: list[str], stage: str) -> None:
    """Build the kernel's view of the file system in a new mount namespace (see the module docstring).

    ``masks``: (directory, folders inside it to keep visible); ``hides``: directories to cover entirely;
    ``stage``: an empty directory outside every mask, used while the kept folders move into place.
    """
    if _libc().unshare(_CLONE_NEWNS) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"unshare(CLONE_NEWNS): {os.strerror(error)}")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing done here leaks out to the host
    for index, (mask, keeps) in enumerate(masks):
        staged = []
        for number, keep in enumerate(keeps):
            place = os.path.join(stage, f"{index}-{number}")
            os.mkdir(place, 0o700)
            _mount(keep, place, None, _MS_BIND | _MS_REC)
            staged.append((place, keep))
        _mount("tmpfs", mask, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m")
        for place, keep in staged:
            os.makedirs(keep, 0o755, exist_ok=True)
            _mount(place, keep, None, _MS_MOVE)
    for hide in hides:
        _mount("tmpfs", hide, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_RDONLY, "mode=0555,size=4k")


def set_limits(memory_mb: int | None, file_mb: int | None, processes: int | None) -> None:
    """Address space, largest file written, number of processes of the uid; no core dumps."""
    for which, value in ((resource.RLIMIT_AS, memory_mb), (resource.RLIMIT_FSIZE, file_mb)):
        if value:
            resource.setrlimit(which, (value << 20, value << 20))
    if processes:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def drop_privileges(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` for good, with no supplementary groups and no way back to root."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError(f"could not drop to uid {uid}")


def main(config_path: str) -> None:
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    if config.get("masks") or config.get("hides"):
        try:
            apply_view([(m, list(k)) for m, k in config["masks"]], config["hides"], config["stage"])
        except OSError as error:
            if config.get("masks"):  # without the masks the interpreter is out of the uid's reach
                sys.stderr.write(f"course_lib.grading.launch: {error}; the kernel's uid cannot reach "
                                 f"{[m for m, _ in config['masks']]}. Install Python and the course where every "
                                 "user can read them, or run the grader with --no-drop.\n")
                sys.exit(3)
            sys.stderr.write(f"course_lib.grading.launch: {error}; the submissions stay readable (not "
                             "writable) for the kernel.\n")
    limits = config["limits"]
    set_limits(limits.get("memory_mb"), limits.get("file_mb"), limits.get("processes"))
    if config.get("uid") is not None:
        drop_privileges(config["uid"], config["gid"])
        prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it
    if os.getppid() != config["supervisor"]:
        sys.exit(4)  # the supervisor died before the death signal was armed
    os.chdir(config["cwd"])
    os.execve(config["argv"][0], config["argv"], config["env"])


if __name__ == "__main__":
    main(sys.argv[1])
