"""Running student code safely: the one place where a check calls it.

``run_call`` calls the student's code on a copy of a case and returns an :class:`Attempt`, a small record
of plain data: the value (tensors, arrays, numbers, tuples, dicts; anything else becomes an ``Opaque``),
or a message for the student. Whatever the code does, nothing escapes: every exception (``SystemExit``,
``KeyboardInterrupt`` included) becomes a message; its printing (Python's and the C level's) and warnings
are swallowed; the global random streams, torch's thread count, grad mode and default dtype are restored.
The CPU time of the call (without imports) is measured; an endless loop meets the hard stop (``interrupt``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from course_lib.check.compare import Opaque, outputs_equal
from course_lib.check.interrupt import Backstop, TimeLimit
from course_lib.check.watch import Watch
from course_lib.check.where import student_line


@dataclass
class Attempt:
    """What one call of the student's code gave, as plain data (the judge needs nothing else).

    value: what the ``call`` adapter returned, made plain (None after a failure).
    error: a message for the student when the call failed, else None.
    not_attempted: the code still raises NotImplementedError.
    timed_out: the hard stop ended the call (an endless loop).
    cpu_seconds: CPU time of the process during the call, minus the time spent importing modules.
    wall_seconds: wall time of the call.
    delegated: what forbidden code the call ran (the library's own implementation, the checker's
        reference or one of its wrong answers), else None.
    """

    value: Any = None
    error: str | None = None
    not_attempted: bool = False
    timed_out: bool = False
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    delegated: str | None = None

    @property
    def failed(self) -> bool:
        return bool(self.error or self.not_attempted or self.timed_out or self.delegated)


class _Sink(io.TextIOBase):
    """A text stream that swallows what is written (the student's printing is never shown)."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow printing (sys.stdout/stderr and file descriptors 1 and 2), warnings and logging."""
    saved_fds = []
    try:
        for fd in (1, 2):
            saved_fds.append((fd, os.dup(fd)))
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            for fd, _ in saved_fds:
                os.dup2(devnull, fd)
        finally:
            os.close(devnull)
    except OSError:  # no usable descriptors (an embedded interpreter): Python-level capture only
        pass
    previous_logging = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(_Sink()), contextlib.redirect_stderr(_Sink()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous_logging)
        for fd, saved in saved_fds:
            with contextlib.suppress(OSError):
                os.dup2(saved, fd)
            os.close(saved)


@contextlib.contextmanager
def preserved_state() -> Iterator[None]:
    """Save and restore the global random streams (python, numpy, torch), torch's thread count, grad mode
    and default dtype: a check must not shift the student's random numbers or settings."""
    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    threads, grad, dtype = torch.get_num_threads(), torch.is_grad_enabled(), torch.get_default_dtype()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        torch.set_grad_enabled(grad)
        torch.set_default_dtype(dtype)


def seed_globals(seed: int) -> None:
    """Seed the global streams, so a layer initialised inside the call matches the reference's."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def plain(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` made of plain data only: base-class tensors and arrays, Python numbers, strings,
    tuples, lists and dicts of them. Anything else becomes an ``Opaque`` that keeps only its type name."""
    if depth > 20:
        return Opaque("deeply nested container")
    if value is None or type(value) in (bool, int, float, complex, str):
        return value
    if isinstance(value, torch.Tensor):
        with torch._C.DisableTorchFunctionSubclass():
            out = torch.Tensor.detach(value).clone()
        return out if type(out) is torch.Tensor else out.as_subclass(torch.Tensor)
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return Opaque("numpy array of Python objects")
        return np.array(value, subok=False, copy=True)
    if isinstance(value, np.generic):
        return value.item()
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, (tuple, list)):
        items = [plain(v, depth + 1) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {plain(k, depth + 1): plain(v, depth + 1) for k, v in value.items()}
    return Opaque(type(value).__name__)


def _message(error: BaseException) -> str:
    """What to tell the student about an exception their code raised."""
    if isinstance(error, SystemExit):
        return ("your code called sys.exit() (or raised SystemExit). A function hands back its result with "
                "`return`; it should not end the program.")
    if isinstance(error, KeyboardInterrupt):
        return "your code was interrupted (KeyboardInterrupt) before it returned."
    try:
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    except Exception:  # noqa: BLE001 - an exception whose str() fails still gets a message
        text = ""
    name = type(error).__name__
    return f"your code raised {name}{': ' + text if text else ''}{student_line(error.__traceback__)}."


def run_call(call: Callable[[Any, Any], Any], impl: Any, case: Any, *, seed: int, hard_stop: float,
             watched: dict[int, str]) -> Attempt:
    """Call ``call(impl, copy of case)`` safely and return what happened. Never raises."""
    pristine, work = case.copy(), case.copy()
    attempt = Attempt()
    with preserved_state(), quiet(), Backstop(hard_stop) as stop:
        seed_globals(seed)
        watch = Watch(watched)
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            try:
                with watch:
                    value = call(impl, work)
            finally:
                attempt.cpu_seconds = max(time.process_time() - cpu - watch.import_cpu, 0.0)
                attempt.wall_seconds = time.perf_counter() - wall
            attempt.value = plain(value)
        except NotImplementedError:
            attempt.not_attempted = True
        except TimeLimit:
            attempt.timed_out = True
        except BaseException as error:  # noqa: BLE001 - whatever student code raises becomes a message
            attempt.error = _message(error)
    attempt.delegated = watch.delegated
    if stop.fired:
        attempt.timed_out, attempt.not_attempted = True, False
    if attempt.timed_out or attempt.not_attempted:
        attempt.value, attempt.error = None, None
    elif attempt.error is None and not _same_inputs(pristine, work):
        attempt.value = None
        attempt.error = ("your function changed one of its input tensors in place; work on a copy "
                         "(x = x.clone()) or use out-of-place operations (x = x + 1, not x += 1).")
    return attempt


def _same_inputs(before: Any, after: Any) -> bool:
    pairs = zip([*before.args, *before.kwargs.values()], [*after.args, *after.kwargs.values()], strict=True)
    return all(outputs_equal(a, b) for a, b in pairs if isinstance(a, (torch.Tensor, np.ndarray)))
