"""What the student's call executes: any code of a forbidden implementation (delegation), and the CPU time
spent importing modules (which the time limit does not charge to the student).

A profile hook (``sys.setprofile``) sees every Python call; it costs one dictionary lookup per call, keyed
by the identity of the called code object. Using torch, numpy or scipy is never delegation: only the code
objects listed (the library's own solution of the exercise, the checker's references and wrong answers)
are watched.
"""

from __future__ import annotations

import _frozen_importlib  # the import system's own functions (importlib._bootstrap)
import functools
import sys
import time
from collections.abc import Iterable, Iterator
from types import CodeType, FrameType, MethodType
from typing import Any

_IMPORTING = "<import>"  # the tag of the import machinery's entry point
_FIND_AND_LOAD = _frozen_importlib._find_and_load.__code__


def code_objects(obj: Any) -> Iterator[CodeType]:
    """The code objects of a function (with its nested functions), a method, or every method of a class."""
    if isinstance(obj, functools.partial):
        obj = obj.func
    if isinstance(obj, (staticmethod, classmethod, MethodType)):
        obj = obj.__func__
    if isinstance(obj, property):
        for part in (obj.fget, obj.fset, obj.fdel):
            if part is not None:
                yield from code_objects(part)
        return
    if isinstance(obj, type):
        for value in vars(obj).values():
            if isinstance(value, (staticmethod, classmethod, property, functools.partial, type)) or callable(value):
                yield from code_objects(value)
        return
    code = getattr(obj, "__code__", None)
    if isinstance(code, CodeType):
        yield from _nested(code)
    wrapped = getattr(obj, "__wrapped__", None)
    if wrapped is not None and wrapped is not obj:
        yield from code_objects(wrapped)


def _nested(code: CodeType) -> Iterator[CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _nested(const)


def watched_code(items: Iterable[tuple[Any, str]]) -> dict[int, str]:
    """``{id(code object): description}`` for each (object, description); the first description wins."""
    watched: dict[int, str] = {}
    for obj, description in items:
        for code in code_objects(obj):
            watched.setdefault(id(code), description)
    return watched


class Watch:
    """``with Watch(watched) as w: call()``; then ``w.delegated`` names the first watched code that ran (or
    None) and ``w.import_cpu`` is the CPU time spent in imports."""

    def __init__(self, watched: dict[int, str]) -> None:
        self._watched = {**watched, id(_FIND_AND_LOAD): _IMPORTING}
        self.delegated: str | None = None
        self.import_cpu = 0.0

    def __enter__(self) -> Watch:
        self._previous = sys.getprofile()
        sys.setprofile(self._make_hook())
        return self

    def __exit__(self, *exc: Any) -> None:
        sys.setprofile(self._previous)

    def _make_hook(self) -> Any:
        lookup, imports, clock = self._watched.get, [], time.process_time
        started = [0.0]

        def hook(frame: FrameType, event: str, arg: Any) -> None:
            if event == "call":
                tag = lookup(id(frame.f_code))
                if tag is None:
                    return
                if tag is _IMPORTING:
                    if not imports:
                        started[0] = clock()
                    imports.append(frame)
                elif self.delegated is None:
                    self.delegated = tag
            elif event == "return" and imports and frame is imports[-1]:
                imports.pop()
                if not imports:
                    self.import_cpu += clock() - started[0]

        return hook
