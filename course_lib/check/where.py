"""Where a piece of running code lives: the student's (a notebook cell, a file of theirs) or the library's
(course_lib, the standard library, installed packages, the import machinery)."""

from __future__ import annotations

import linecache
import os
import sysconfig
import traceback
from types import CodeType, FrameType, TracebackType

_COURSE_LIB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _library_dirs() -> tuple[str, ...]:
    dirs = {_COURSE_LIB}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs |= {path, os.path.realpath(path)}
    return tuple(os.path.join(d, "") for d in sorted(dirs))


_LIBRARY_DIRS = _library_dirs()
_IMPORT_MACHINERY = "<frozen importlib"
_FROZEN = "<frozen "


def is_library_file(filename: str) -> bool:
    """True for course_lib, the standard library, installed packages and frozen modules."""
    return (filename.startswith(_LIBRARY_DIRS) or filename.startswith(_FROZEN)
            or "site-packages" in filename or "dist-packages" in filename)


def is_student_code(code: CodeType) -> bool:
    return not is_library_file(code.co_filename)


def importing(frame: FrameType | None, boundary: FrameType | None = None) -> bool:
    """Whether an import is in progress on the stack from ``frame`` down to (not including) ``boundary``."""
    while frame is not None and frame is not boundary:
        if frame.f_code.co_filename.startswith(_IMPORT_MACHINERY):
            return True
        frame = frame.f_back
    return False


def student_line(tb: TracebackType | None) -> str:
    """Where in the student's code an error happened, as " (line 3 of your cell: `x = y[5]`)", or ""."""
    for frame in reversed(traceback.extract_tb(tb)):
        name = frame.filename or ""
        if is_library_file(name):
            continue
        line = frame.line or linecache.getline(name, frame.lineno or 0).strip()
        where = "your cell" if "ipykernel" in name or name.startswith("<") else os.path.basename(name)
        return f" (line {frame.lineno} of {where}: `{line}`)" if line else f" (line {frame.lineno} of {where})"
    return ""
