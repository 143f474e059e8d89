"""The folders of one kernel run, and the view of the file system its unprivileged uid gets.

``base/`` (root, 0711: enterable, not listable) holds ``work/`` (the kernel's working folder, owned by the
kernel's uid, holding only the copy of the notebook), ``home/`` (its HOME, caches and connection file) and
the launcher's files. Everything is deleted after the run, once every process of the run is gone.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

from course_lib.grading import inert


class Workspace:
    """A fresh ``base`` folder with ``work`` and ``home`` inside, owned by ``uid`` (None: this process's)."""

    def __init__(self, notebook_name: str, notebook: bytes, uid: int | None) -> None:
        self.uid = uid
        self.base = Path(tempfile.mkdtemp(prefix="course-grade-"))
        os.chmod(self.base, 0o711)
        self.work, self.home, self.stage = self.base / "work", self.base / "home", self.base / "stage"
        for folder in (self.work, self.home, self.stage):
            folder.mkdir(mode=0o700)
        for sub in ("tmp", "cache", "config", "mpl", "ipython"):
            (self.home / sub).mkdir(mode=0o700)
        _copy_font_cache(self.home / "mpl")
        inert.write_startup(str(self.home / "ipython"))
        (self.work / notebook_name).write_bytes(notebook)
        if uid is not None:
            for top in (self.work, self.home):
                for parent, dirs, files in os.walk(top):
                    for name in [".", *dirs, *files]:
                        os.chown(os.path.join(parent, name), uid, uid, follow_symlinks=False)

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        """The kernel's whole environment: nothing of the grader's leaks in (no tokens, no paths of its own)."""
        home = str(self.home)
        return {"PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin", "HOME": home,
                "USER": "student", "LOGNAME": "student", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                "TMPDIR": f"{home}/tmp", "XDG_CACHE_HOME": f"{home}/cache", "XDG_CONFIG_HOME": f"{home}/config",
                "MPLCONFIGDIR": f"{home}/mpl", "IPYTHONDIR": f"{home}/ipython", "JUPYTER_RUNTIME_DIR": f"{home}/tmp",
                "JUPYTER_PLATFORM_DIRS": "1", "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
                "PYDEVD_DISABLE_FILE_VALIDATION": "1", **extra}

    def grading_folder(self) -> Path:
        """``work/.grading``: the cases go in, the returned values come out (created after the cells ran)."""
        folder = self.work / ".grading"
        if folder.is_symlink() or folder.exists():
            _remove(folder)  # whatever the student put there
        folder.mkdir(mode=0o700)
        if self.uid is not None:
            os.chown(folder, self.uid, self.uid)
        return folder

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)  # fd-based on Linux: a planted symlink is not followed


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink()
    else:
        shutil.rmtree(path)


def _copy_font_cache(target: Path) -> None:
    """Reuse this process's matplotlib font list, so that each kernel does not rebuild it (seconds)."""
    try:
        import matplotlib

        source = Path(matplotlib.get_cachedir())
        for cache in source.glob("fontlist-*.json"):
            shutil.copyfile(cache, target / cache.name)
    except (ImportError, OSError):
        pass


def _searchable(path: str, uid: int, gid: int) -> bool:
    try:
        info = os.stat(path)
    except OSError:
        return False
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def needed_paths(library_root: Path) -> list[str]:
    """What a kernel must reach: the interpreter, its prefixes, every import path of this process, the course."""
    paths = {os.path.realpath(sys.executable), sys.prefix, sys.base_prefix, str(library_root)}
    paths |= {p for p in sys.path if p and os.path.isabs(p) and os.path.exists(p)}
    return sorted(os.path.realpath(p) for p in paths)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def plan_view(needed: list[str], hide: list[str], keep_visible: list[str], uid: int) -> dict:
    """Masks that make ``needed`` reachable for ``uid``, and the ``hide`` folders that can be covered.

    A folder on the way to a needed path that ``uid`` cannot enter (``/root``, 0700) becomes a mask: an empty
    tmpfs into which the needed paths below it are bind-mounted back. A folder to hide is left visible when
    something needed or ``keep_visible`` lies inside it.
    """
    masks: dict[str, list[str]] = {}
    for path in needed:
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            ancestor = "/" + "/".join(parts[:depth])
            if not _searchable(ancestor, uid, uid):
                masks.setdefault(ancestor, []).append(path)
                break
    for mask, keeps in masks.items():
        kept = sorted(set(keeps), key=len)
        masks[mask] = [k for i, k in enumerate(kept) if not any(_inside(k, other) for other in kept[:i])]
    visible = needed + keep_visible
    hides = []
    for folder in sorted({os.path.realpath(h) for h in hide}, key=len):
        if any(_inside(folder, h) for h in hides) or any(_inside(v, folder) for v in visible):
            continue
        if any(_inside(folder, m) or _inside(m, folder) for m in masks):
            continue
        hides.append(folder)
    return {"masks": sorted(masks.items()), "hides": hides}
