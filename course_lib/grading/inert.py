"""Under the grader, a notebook's own check cells do nothing: ``check.ch01.x(x)`` and ``check.summary()``.

The grader puts an IPython startup file in the kernel's private IPython folder that calls :func:`install`
before the first cell runs (``COURSE_GRADING=1`` is also set in the kernel's environment). The chapter
attributes of ``course_lib.check`` then give an object on which every attribute is a no-op: the checks cost no
time and a notebook cannot reach an exercise's reference through them. The grader's runner imports the
chapter module itself and takes the attribute away again (:func:`hide_chapter`), so a function that reads
``check.ch01...`` while it is being graded still meets the inert object. This is a convenience, not the
defence: the runner's delegation detection flags any call into the references, and the grade is decided
outside the kernel.
"""

from __future__ import annotations

import os
from typing import Any

STARTUP_FILE = "00-course-grading.py"
STARTUP_CODE = "from course_lib.grading.inert import install\ninstall()\n"


class _Inert:
    """Stands for ``check.chNN`` under grading: every attribute is this object, and calling it does nothing."""

    def __getattr__(self, name: str) -> _Inert:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return None

    def __repr__(self) -> str:
        return "<checks are off while the grader runs this notebook>"


INERT = _Inert()


def install() -> None:
    """Make ``course_lib.check.chNN`` and ``check.summary`` inert in this process (only under grading)."""
    if os.environ.get("COURSE_GRADING") != "1":
        return
    import course_lib.check as check

    original = check.__getattr__

    def inert_getattr(name: str) -> Any:
        if name.startswith("ch") and name[2:].isdigit():
            return INERT
        return original(name)

    check.__getattr__ = inert_getattr
    check.summary = INERT


def hide_chapter(chapter: str) -> None:
    """Take ``chNN`` off the ``course_lib.check`` package again after importing it (it stays importable)."""
    import course_lib.check as check

    check.__dict__.pop(f"ch{chapter}", None)


def write_startup(ipython_dir: str) -> str:
    """Write the startup file into ``<ipython_dir>/profile_default/startup``; returns its path."""
    folder = os.path.join(ipython_dir, "profile_default", "startup")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    path = os.path.join(folder, STARTUP_FILE)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(STARTUP_CODE)
    return path
