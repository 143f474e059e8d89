"""The machinery behind every exercise check.

An :class:`Exercise` holds a float64 reference solution, a generator of random test cases, and the typical
wrong answers as code. Checking a student's function runs it on copies of the cases (time-limited, its
printing and warnings captured, the global random streams saved and restored, in-place changes to its
inputs detected) and compares with the reference. On a mismatch, each wrong answer is run on the same
cases; one that matches on every case names the mistake and brings its own hint.

Three outcomes: ``correct``, ``incorrect`` (with a hint that teaches; never the expected answer) and
``not_attempted`` (the stub still raises ``NotImplementedError``). A check never raises into the notebook.
"""

from __future__ import annotations

import copy
import html
import linecache
import math
import os
import random
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from io import StringIO
from typing import Any

import numpy as np
import torch

CORRECT, INCORRECT, NOT_ATTEMPTED = "correct", "incorrect", "not_attempted"
_LIBRARY_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Case:
    """The arguments of one call: ``Case(*args, **kwargs)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def copy(self) -> Case:
        return Case(*copy.deepcopy(self.args), **copy.deepcopy(self.kwargs))

    def __repr__(self) -> str:
        return f"Case({len(self.args)} args, {sorted(self.kwargs)})"


@dataclass
class WrongAnswer:
    """A typical mistake, written as code, with the hint it deserves."""

    name: str
    implementation: Callable[..., Any]
    hint: str
    deeper_hint: str = ""


@dataclass
class Result:
    """What a check concluded. ``message`` says what was observed, ``hints`` what to think about."""

    exercise: str
    chapter: str
    outcome: str
    message: str = ""
    hints: list[str] = field(default_factory=list)
    wrong_answer: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.outcome == CORRECT

    def __str__(self) -> str:
        head = {CORRECT: "[correct]", INCORRECT: "[incorrect]", NOT_ATTEMPTED: "[not attempted]"}[self.outcome]
        lines = [f"{head} chapter {self.chapter}, {self.exercise}"]
        if self.message:
            lines.append(f"  {self.message}")
        lines += [f"  Hint: {h}" for h in self.hints]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        colour, icon, title = {
            CORRECT: ("#1a7f37", "&#10004;", "Correct"),
            INCORRECT: ("#b35900", "&#10008;", "Not yet"),
            NOT_ATTEMPTED: ("#57606a", "&#9998;", "Not attempted"),
        }[self.outcome]
        parts = [
            f'<div style="border-left:6px solid {colour};padding:6px 12px;margin:4px 0;background:#f6f8fa">',
            f'<b style="color:{colour}">{icon} {title}</b> &mdash; <code>{html.escape(self.exercise)}</code>'
            f" (chapter {html.escape(self.chapter)})",
        ]
        if self.message:
            parts.append(f"<div>{html.escape(self.message)}</div>")
        for h in self.hints:
            parts.append(f"<div><i>Hint:</i> {html.escape(h)}</div>")
        parts.append("</div>")
        return "".join(parts)


class _StudentError(Exception):
    """The student's code failed; ``message`` is written for the student."""

    def __init__(self, message: str, not_attempted: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.not_attempted = not_attempted


class _TimeLimit(BaseException):
    """Raised inside the student's code by the alarm (a BaseException, so `except Exception` can't eat it)."""


# ---------------------------------------------------------------------------------------------------------
# Comparison of outputs
# ---------------------------------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape}"
    return f"a {type(value).__name__}"


def compare_values(
    got: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-6, what: str = "your result"
) -> str | None:
    """Compare a student's output with the reference. Returns None when they agree, else a message that
    describes the difference without giving the expected values away."""
    if got is None and expected is not None:
        return f"{what} is None: did you forget a `return` statement?"
    if isinstance(expected, torch.Tensor):
        if isinstance(got, np.ndarray):
            return f"{what} is a numpy array; return a torch.Tensor (torch.as_tensor(...) converts)."
        if not isinstance(got, torch.Tensor):
            if isinstance(got, (int, float)) and expected.dim() == 0:
                got = torch.tensor(float(got))
            else:
                return f"{what} should be a torch.Tensor, got {_describe(got)}."
        if tuple(got.shape) != tuple(expected.shape):
            return f"{what} has shape {tuple(got.shape)}, but shape {tuple(expected.shape)} was asked for."
        if got.dtype == torch.bool or expected.dtype == torch.bool:
            if got.dtype != expected.dtype:
                kind = "a boolean" if expected.dtype == torch.bool else "a numeric"
                return f"{what} should be {kind} tensor, got dtype {got.dtype}."
            return None if torch.equal(got, expected) else f"{what} differs from the correct answer in some entries."
        if got.is_complex():
            return f"{what} has a complex dtype; the answer is real."
        got_np, expected_np = got.detach().cpu().double().numpy(), expected.detach().cpu().double().numpy()
        return _compare_arrays(got_np, expected_np, rtol, atol, what)
    if isinstance(expected, np.ndarray):
        if isinstance(got, torch.Tensor):
            got = got.detach().cpu().numpy()
        got = np.asarray(got)
        if got.shape != expected.shape:
            return f"{what} has shape {got.shape}, but shape {expected.shape} was asked for."
        return _compare_arrays(got.astype(float), expected.astype(float), rtol, atol, what)
    if isinstance(expected, (bool, np.bool_)):
        if isinstance(got, (bool, np.bool_)) and bool(got) == bool(expected):
            return None
        return f"{what} is not the right truth value."
    if isinstance(expected, (int, float, np.floating, np.integer)):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, np.ndarray) and got.size == 1:
            got = got.item()
        if not isinstance(got, (int, float, np.floating, np.integer)):
            return f"{what} should be a number, got {_describe(got)}."
        return _compare_arrays(np.array([float(got)]), np.array([float(expected)]), rtol, atol, what)
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"{what} should be a tuple of {len(expected)} items, got {_describe(got)}."
        if len(got) != len(expected):
            return f"{what} has {len(got)} items; {len(expected)} were asked for."
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            message = compare_values(g, e, rtol, atol, what=f"item {i} of {what}")
            if message:
                return message
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{what} should be a dict with keys {sorted(expected)}, got {_describe(got)}."
        missing = sorted(set(expected) - set(got))
        if missing:
            return f"{what} is missing the keys {missing}."
        for key in expected:
            message = compare_values(got[key], expected[key], rtol, atol, what=f"{what}[{key!r}]")
            if message:
                return message
        return None
    return None if got == expected else f"{what} is not correct."


def _compare_arrays(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float, what: str) -> str | None:
    bad_got, bad_expected = ~np.isfinite(got), ~np.isfinite(expected)
    if np.isnan(got).any() and not np.isnan(expected).any():
        return f"{what} contains NaN (not a number): look for 0/0, log of a negative number or inf - inf."
    if (bad_got != bad_expected).any() or (got[bad_got] != expected[bad_expected]).any():
        if np.isinf(got).any() and not np.isinf(expected[bad_got]).all():
            return f"{what} contains infinite values where finite ones were expected (an overflow or log(0)?)."
        return f"{what} is finite where it should be infinite (or has the wrong sign of infinity)."
    ok = np.isfinite(expected)
    if not np.allclose(got[ok], expected[ok], rtol=rtol, atol=atol):
        return f"{what} has the right type and shape, but its values are not correct."
    return None


def _outputs_equal(a: Any, b: Any, rtol: float, atol: float) -> bool:
    try:
        return compare_values(a, b, rtol, atol) is None
    except Exception:  # noqa: BLE001 - two outputs we cannot compare are simply not equal
        return False


# ---------------------------------------------------------------------------------------------------------
# Running student code safely
# ---------------------------------------------------------------------------------------------------------


@contextmanager
def _preserved_random_state():
    """Save and restore the global random streams: a check must not shift the student's random numbers."""
    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)


@contextmanager
def _time_limit(seconds: float):
    """Interrupt the block after ``seconds`` with ``_TimeLimit`` (Unix, main thread); elsewhere measure only."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def _on_alarm(signum, frame):
        raise _TimeLimit()

    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _student_line(tb) -> str:
    """The last line of the traceback that lies outside course_lib and the installed packages."""
    for frame in reversed(traceback.extract_tb(tb)):
        name = frame.filename or ""
        if name.startswith(_LIBRARY_DIR) or "site-packages" in name or "dist-packages" in name:
            continue
        line = frame.line or linecache.getline(name, frame.lineno or 0).strip()
        where = "your cell" if "ipykernel" in name or name.startswith("<") else os.path.basename(name)
        return f" (line {frame.lineno} of {where}: `{line}`)" if line else f" (line {frame.lineno} of {where})"
    return ""


def _same_inputs(before: Case, after: Case) -> bool:
    return all(
        _outputs_equal(a, b, 0.0, 0.0)
        for a, b in zip([*before.args, *before.kwargs.values()], [*after.args, *after.kwargs.values()], strict=True)
        if isinstance(a, (torch.Tensor, np.ndarray))
    )


def _call_student(call: Callable[[Any, Case], Any], impl: Any, case: Case, deadline: float, seed: int) -> Any:
    """Run the student's implementation on a copy of ``case``; translate every failure into _StudentError.

    The global streams are seeded with the exercise's seed first (the caller restores them afterwards), so
    a layer initialised inside the call gets the same weights as in the reference run.
    """
    pristine, work = case.copy(), case.copy()
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        raise _StudentError("your code is too slow: the check's time limit ran out. Look for a Python loop "
                            "over many elements that a tensor operation could replace.")
    out, err = StringIO(), StringIO()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        with redirect_stdout(out), redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _time_limit(remaining):
                result = call(impl, work)
    except _TimeLimit:
        raise _StudentError("your code did not finish within the check's time limit. Look for an endless loop, "
                            "or a Python loop over many elements that a tensor operation could replace.") from None
    except NotImplementedError:
        raise _StudentError("still raises NotImplementedError", not_attempted=True) from None
    except Exception as error:  # noqa: BLE001 - any failure of student code becomes a message
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        where = _student_line(error.__traceback__)
        raise _StudentError(f"your code raised {type(error).__name__}{': ' + text if text else ''}{where}.") from None
    if time.perf_counter() > deadline:
        raise _StudentError("your code is too slow: it went past the check's time limit. Look for a Python "
                            "loop over many elements that a tensor operation could replace.")
    if not _same_inputs(pristine, work):
        raise _StudentError("your function changed one of its input tensors in place; work on a copy "
                            "(x = x.clone()) or use out-of-place operations (x = x + 1, not x += 1).")
    return result


def _default_call(impl: Any, case: Case) -> Any:
    return impl(*case.args, **case.kwargs)


# ---------------------------------------------------------------------------------------------------------
# The exercise
# ---------------------------------------------------------------------------------------------------------

_REGISTRY: dict[str, dict[str, Exercise]] = {}
_PROGRESS: dict[tuple[str, str], Result] = {}
_FAILED_ATTEMPTS: dict[tuple[str, str], int] = {}


class Exercise:
    """One checked exercise. Call it on the student's function to check and display the result."""

    def __init__(
        self,
        *,
        chapter: str,
        name: str,
        reference: Callable[..., Any],
        make_cases: Callable[[np.random.Generator], Sequence[Case]],
        hint: str,
        deeper_hint: str = "",
        wrong_answers: Sequence[WrongAnswer] = (),
        compare: Callable[[Any, Any, Case], str | None] | None = None,
        call: Callable[[Any, Case], Any] = _default_call,
        properties: Sequence[Callable[[Any], str | None]] = (),
        rtol: float = 1e-4,
        atol: float = 1e-6,
        time_limit: float = 3.0,
        seed: int | None = None,
    ) -> None:
        self.chapter, self.name = chapter, name
        self.reference, self.make_cases = reference, make_cases
        self.hint, self.deeper_hint = hint, deeper_hint
        self.wrong_answers = list(wrong_answers)
        self.call, self.properties = call, list(properties)
        self.rtol, self.atol, self.time_limit = rtol, atol, time_limit
        self._compare = compare
        # each exercise draws its cases from its own generator; the seed depends on the name only
        self.seed = seed if seed is not None else sum((i + 1) * ord(c) for i, c in enumerate(f"{chapter}/{name}"))
        names = [w.name for w in self.wrong_answers]
        if len(set(names)) != len(names):
            raise ValueError(f"exercise {name}: wrong answers need distinct names, got {names}")
        _REGISTRY.setdefault(chapter, {})[name] = self

    def __repr__(self) -> str:
        return f"Exercise(chapter={self.chapter!r}, name={self.name!r}, {len(self.wrong_answers)} wrong answers)"

    # -- comparing ---------------------------------------------------------------------------------------
    def compare(self, got: Any, expected: Any, case: Case) -> str | None:
        if self._compare is not None:
            return self._compare(got, expected, case)
        return compare_values(got, expected, self.rtol, self.atol)

    def cases(self) -> list[Case]:
        """The check's cases, drawn from the exercise's own generator (never the global streams)."""
        with _preserved_random_state():
            torch.manual_seed(self.seed)
            return list(self.make_cases(np.random.default_rng(self.seed)))

    def _run_trusted(self, impl: Callable[..., Any], case: Case) -> Any:
        with _preserved_random_state(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            random.seed(self.seed)
            np.random.seed(self.seed)
            torch.manual_seed(self.seed)
            return self.call(impl, case.copy())

    # -- checking ----------------------------------------------------------------------------------------
    def evaluate(self, student: Any, hint: int = 1) -> Result:
        """Check ``student`` and return the :class:`Result` (nothing is displayed)."""
        start = time.perf_counter()
        try:
            with _preserved_random_state():
                result = self._evaluate(student)
        except Exception as error:  # noqa: BLE001 - a bug in a check must not crash the student's kernel
            result = self._result(INCORRECT, f"the check itself failed ({type(error).__name__}: {error}). "
                                  "Please report this to your instructor; your answer may be fine.")
        result.seconds = time.perf_counter() - start
        key = (self.chapter, self.name)
        if result.outcome == INCORRECT:
            _FAILED_ATTEMPTS[key] = _FAILED_ATTEMPTS.get(key, 0) + 1
            if result.hints and (hint >= 2 or _FAILED_ATTEMPTS[key] >= 2):
                result.hints += [h for h in [self._deeper_hint_for(result)] if h]
        _PROGRESS[key] = result
        return result

    def __call__(self, student: Any, hint: int = 1) -> None:
        """Check ``student`` and display the outcome (HTML in Jupyter, text elsewhere)."""
        result = self.evaluate(student, hint=hint)
        _show(result)

    def _result(self, outcome: str, message: str = "", hints: Sequence[str] = (), wrong: str | None = None) -> Result:
        message = message[:1].upper() + message[1:]
        return Result(self.name, self.chapter, outcome, message, list(hints), wrong)

    def _deeper_hint_for(self, result: Result) -> str:
        for wrong in self.wrong_answers:
            if wrong.name == result.wrong_answer:
                return wrong.deeper_hint or self.deeper_hint
        return self.deeper_hint

    def _evaluate(self, student: Any) -> Result:
        if student is None:
            return self._result(INCORRECT, f"the check received None instead of your function; pass the function "
                                f"itself, e.g. check.ch{self.chapter}.{self.name}({self.name}).")
        if not callable(student):
            return self._result(INCORRECT, f"the check expects your function (or class), got {_describe(student)}.")
        cases = self.cases()
        deadline = time.perf_counter() + self.time_limit
        mismatch: str | None = None
        outputs = []
        for case in cases:
            try:
                got = _call_student(self.call, student, case, deadline, self.seed)
            except _StudentError as error:
                if error.not_attempted:
                    return self._result(NOT_ATTEMPTED, "Your function still raises NotImplementedError: replace it "
                                        "with your code, then run this cell again.")
                return self._result(INCORRECT, error.message, [self.hint])
            outputs.append(got)
            if mismatch is None:
                mismatch = self.compare(got, self._run_trusted(self.reference, case), case)
        if mismatch is not None:
            wrong = self._recognise(cases, outputs)
            if wrong is not None:
                return self._result(INCORRECT, mismatch, [wrong.hint], wrong.name)
            return self._result(INCORRECT, mismatch, [self.hint])
        for prop in self.properties:
            try:
                with _preserved_random_state(), _time_limit(max(self.time_limit, 1.0)):
                    message = prop(student)
            except _TimeLimit:
                message = "your code did not finish within the check's time limit."
            except Exception as error:  # noqa: BLE001
                message = f"your code raised {type(error).__name__}: {error}{_student_line(error.__traceback__)}."
            if message:
                wrong = self._recognise_by_property(prop)
                if wrong is not None:
                    return self._result(INCORRECT, message, [wrong.hint], wrong.name)
                return self._result(INCORRECT, message, [self.hint])
        return self._result(CORRECT, "Well done.")

    def _recognise(self, cases: Sequence[Case], outputs: Sequence[Any]) -> WrongAnswer | None:
        for wrong in self.wrong_answers:
            try:
                if all(self.compare(out, self._run_trusted(wrong.implementation, case), case) is None
                       for case, out in zip(cases, outputs, strict=True)):
                    return wrong
            except Exception:  # noqa: BLE001 - a wrong answer that crashes on a case cannot be the match
                continue
        return None

    def _recognise_by_property(self, prop: Callable[[Any], str | None]) -> WrongAnswer | None:
        """A wrong answer that agrees on the cases but fails the same property test."""
        for wrong in self.wrong_answers:
            try:
                with _preserved_random_state(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if prop(wrong.implementation):
                        return wrong
            except Exception:  # noqa: BLE001
                continue
        return None


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _show(obj: Any) -> None:
    if _in_notebook():
        from IPython.display import display

        display(obj)
    else:
        print(str(obj))


# ---------------------------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Summary:
    """Progress on the exercises of some chapters: a row per exercise."""

    rows: list[tuple[str, str, str]]  # (chapter, exercise, outcome or "not checked yet")

    def __str__(self) -> str:
        done = sum(1 for _, _, o in self.rows if o == CORRECT)
        lines = [f"Progress: {done} of {len(self.rows)} exercises correct"]
        lines += [f"  ch{c} {name:<32} {outcome.replace('_', ' ')}" for c, name, outcome in self.rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        done = sum(1 for _, _, o in self.rows if o == CORRECT)
        marks = {CORRECT: "&#10004; correct", INCORRECT: "&#10008; not yet", NOT_ATTEMPTED: "&#9998; not attempted"}
        rows = "".join(
            f"<tr><td>{c}</td><td><code>{html.escape(n)}</code></td><td>{marks.get(o, html.escape(o))}</td></tr>"
            for c, n, o in self.rows
        )
        return (f"<b>Progress: {done} of {len(self.rows)} exercises correct</b>"
                f"<table><tr><th>chapter</th><th>exercise</th><th>status</th></tr>{rows}</table>")


def summary(chapters: Sequence[str] | None = None) -> Summary:
    """Show the progress on every exercise of ``chapters`` (default: the chapters checked in this session).

    Under the test harness (``COURSE_CHECK_STRICT=1``) it also asserts the expected state of the notebook's
    folder: every exercise correct in ``solutions/``, every one not attempted in a blank ``exercises/``.
    """
    if chapters is None:
        chapters = sorted({c for c, _ in _PROGRESS})
    rows = []
    for chapter in chapters:
        for name in _REGISTRY.get(chapter, {}):
            result = _PROGRESS.get((chapter, name))
            rows.append((chapter, name, result.outcome if result else "not checked yet"))
    result = Summary(rows)
    _show(result)
    if os.environ.get("COURSE_CHECK_STRICT") == "1":
        _assert_expected(result)
    return None


def _assert_expected(result: Summary) -> None:
    folder = os.path.basename(os.getcwd())
    expected = {"solutions": CORRECT, "exercises": NOT_ATTEMPTED}.get(folder)
    if expected is None:
        return
    wrong = [(c, n, o) for c, n, o in result.rows if o != expected]
    if wrong or not result.rows:
        not_as_expected = wrong or "no exercises were checked"
        raise AssertionError(f"in {folder}/ every exercise should be {expected}; these are not: {not_as_expected}")


def exercises_of_chapter(chapter: str) -> list[Exercise]:
    """Every registered exercise of a chapter, in definition order."""
    return list(_REGISTRY.get(chapter, {}).values())


def reset_progress() -> None:
    """Forget every result (used by tests and by the grader between notebooks)."""
    _PROGRESS.clear()
    _FAILED_ATTEMPTS.clear()


def progress() -> dict[tuple[str, str], Result]:
    """A copy of the results so far, keyed by (chapter, exercise)."""
    return dict(_PROGRESS)


def is_close(a: float, b: float, rel: float = 1e-6) -> bool:
    """Relative closeness for floats (a small helper for chapter checks)."""
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel)
