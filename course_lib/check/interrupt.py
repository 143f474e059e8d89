"""The hard stop: a backstop for endless loops that can only interrupt the student's own code.

A check's verdict on speed comes from CPU time, measured after the call returns (see ``sandbox``). This stop
is only for code that would never return. After ``seconds`` of wall time a SIGALRM arrives; its handler
never raises inside an import or inside library code (that could leave a half-imported module or a
library's state broken for the rest of the session). Instead:

- if the interrupted frame is the student's and no import is in progress, it raises ``TimeLimit`` there;
- otherwise it sets a trace function on the student's frames (``sys.settrace`` and ``frame.f_trace``) that
  raises at the student's next line event, once the library call or the import has returned.

A bare ``except:`` in the student's code cannot swallow the stop: CPython switches tracing off when a
trace function raises, so it is switched on again when the caught ``TimeLimit`` is released (its
``__del__``) and at every further alarm (the timer repeats), and the next student line raises again,
until the exception leaves the student's code. Unix and the main thread only; elsewhere there is no hard
stop (the CPU-time verdict still applies).
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from course_lib.check.where import importing, is_student_code

_REPEAT = 0.05  # seconds between alarms once the stop has fired


class TimeLimit(BaseException):
    """Raised inside the student's code by the hard stop (a BaseException: `except Exception` lets it pass)."""

    def __init__(self, stop: Backstop | None = None) -> None:
        super().__init__("the check's hard stop")
        self.stop = stop

    def __del__(self) -> None:
        # a bare `except:` has just dropped this exception: switch tracing on again at once
        if self.stop is not None:
            self.stop.trace_student_frames(sys._getframe(1))


class Backstop:
    """``with Backstop(seconds) as stop: call()`` stops ``call`` only at a line of the student's code."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._active = self._traced = False
        self._line, self._call = self._trace_line, self._trace_call  # one bound method each, compared by `is`
        self._usable = (hasattr(signal, "setitimer") and math.isfinite(seconds)
                        and threading.current_thread() is threading.main_thread())

    def __enter__(self) -> Backstop:
        if not self._usable:
            return self
        self._previous_trace = sys.gettrace()
        self._previous_handler = signal.signal(signal.SIGALRM, self._on_alarm)
        self._previous_timer = signal.setitimer(signal.ITIMER_REAL, max(self.seconds, 1e-3), _REPEAT)
        self._start = time.perf_counter()
        self._boundary = sys._getframe(1)  # the frame that calls the student's code: never stop at or below it
        self._traced_frames: list[tuple[FrameType, Any]] = []
        self._active = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._usable:
            return
        self._active = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous_handler)
        if self._traced:
            sys.settrace(self._previous_trace)
            for frame, previous in self._traced_frames:  # frames that outlive the call (generators)
                frame.f_trace = previous
            self._traced_frames.clear()
        delay, interval = self._previous_timer
        if delay > 0:  # someone else's alarm (a test runner's timeout): give it back, minus the time spent
            signal.setitimer(signal.ITIMER_REAL, max(delay - (time.perf_counter() - self._start), 1e-3), interval)

    def _raise(self) -> None:
        raise TimeLimit(self)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if not self._active:
            return
        self.fired = True
        if frame is not None and is_student_code(frame.f_code) and not importing(frame, self._boundary):
            self.trace_student_frames(frame)
            self._raise()
        self.trace_student_frames(frame)

    def trace_student_frames(self, frame: FrameType | None) -> None:
        """Trace new frames and every student frame on the stack, so the next student line raises."""
        if not self._active or threading.current_thread() is not threading.main_thread():
            return
        sys.settrace(self._call)
        self._traced = True
        while frame is not None and frame is not self._boundary:
            if is_student_code(frame.f_code) and frame.f_trace is not self._line:
                self._traced_frames.append((frame, frame.f_trace))
                frame.f_trace = self._line
            frame = frame.f_back

    def _trace_call(self, frame: FrameType, event: str, arg: Any) -> Any:
        return self._line if self._active and is_student_code(frame.f_code) else None

    def _trace_line(self, frame: FrameType, event: str, arg: Any) -> Any:
        if self._active and event == "line" and not importing(frame, self._boundary):
            self._raise()
        return self._line if self._active else None
