"""An exercise: its reference, its cases, its typical wrong answers, and the two steps of a check.

1. ``attempts = exercise.run_student(student)`` calls the student's code (through the ``call`` adapter) on
   copies of the cases and returns plain :class:`~course_lib.check.sandbox.Attempt` records. It is the
   only place where student code runs.
2. ``result = exercise.judge(attempts)`` is trusted: it makes the cases again, runs the reference and the
   wrong answers itself, compares values and decides the outcome and the hint. It never calls student code,
   so the grader can run it in a process no student code has run in.

``evaluate(student)`` is ``judge(run_student(student))`` and records the progress; calling the exercise
shows the result.
"""

from __future__ import annotations

import copy
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from course_lib.check.compare import compare_values, describe
from course_lib.check.registry import exercises_of_chapter, record, register
from course_lib.check.result import CORRECT, INCORRECT, NOT_ATTEMPTED, Result, show
from course_lib.check.sandbox import Attempt, plain, preserved_state, quiet, run_call, seed_globals
from course_lib.check.watch import watched_code

_CHAPTER_MODULE = re.compile(r"course_lib\.check\.ch(\d+)")


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


def default_call(impl: Any, case: Case) -> Any:
    """The plain adapter: call the implementation with the case's arguments."""
    return impl(*case.args, **case.kwargs)


class Exercise:
    """One checked exercise. Call it on the student's function to check it and show the result.

    Args:
        name: the name of the function (or class) the student writes.
        reference: a float64 solution, the judge of every case.
        make_cases: ``make_cases(rng) -> [Case, ...]``, drawn from the exercise's own generator.
        hint: the first hint on a wrong answer that is not one of ``wrong_answers``.
        deeper_hint: shown after a second failure (or with ``hint=2``).
        wrong_answers: typical mistakes as code, each with its own hint.
        compare: ``compare(got, expected, case) -> message or None``; default ``compare_values``.
        call: ``call(impl, case) -> value``, the adapter that turns an implementation into the values that
            are judged (default: ``impl(*case.args, **case.kwargs)``). The reference and the wrong answers go
            through the same adapter. A check that needs more than the return value (many samples, a
            Jacobian, gradients) computes it here, from the student's code, as plain tensors. An adapter runs
            inside the student's call, so it must not call the chapter's references or wrong answers.
        forbidden: the library's own implementations of what the exercise asks for (functions, classes or
            methods). An answer whose call runs any of them, or the checker's references or wrong answers
            of this chapter, is incorrect.
        time_limit: CPU seconds the student's calls may take in all (imports not counted).
        hard_stop: wall seconds after which an endless loop is stopped; default max(30, 10 x time_limit).
        chapter: optional; derived from the defining module (``course_lib.check.ch03`` -> "03").
    """

    def __init__(
        self,
        *,
        name: str,
        reference: Callable[..., Any],
        make_cases: Callable[[np.random.Generator], Sequence[Case]],
        hint: str,
        deeper_hint: str = "",
        wrong_answers: Sequence[WrongAnswer] = (),
        compare: Callable[[Any, Any, Case], str | None] | None = None,
        call: Callable[[Any, Case], Any] = default_call,
        forbidden: Sequence[Any] = (),
        rtol: float = 1e-4,
        atol: float = 1e-6,
        time_limit: float = 3.0,
        hard_stop: float | None = None,
        seed: int | None = None,
        chapter: str | None = None,
    ) -> None:
        self.chapter, self.name = self._chapter_of_definition(chapter, name), name
        self.reference, self.make_cases = reference, make_cases
        self.hint, self.deeper_hint = hint, deeper_hint
        self.wrong_answers = list(wrong_answers)
        self.call, self.forbidden = call, tuple(forbidden)
        self.rtol, self.atol = rtol, atol
        self.time_limit = time_limit
        self.hard_stop = hard_stop if hard_stop is not None else max(30.0, 10 * time_limit)
        self._compare = compare
        # each exercise draws its cases from its own generator; the seed depends on the name only
        key = f"{self.chapter}/{name}"
        self.seed = seed if seed is not None else sum((i + 1) * ord(c) for i, c in enumerate(key))
        names = [w.name for w in self.wrong_answers]
        if len(set(names)) != len(names):
            raise ValueError(f"exercise {name}: wrong answers need distinct names, got {names}")
        self._expected: list[Any] | None = None
        self._wrong_outputs: dict[str, list[Any] | None] = {}
        register(self)

    def _chapter_of_definition(self, chapter: str | None, name: str) -> str:
        frame = sys._getframe(1)  # skip __init__ (and a subclass's __init__): their `self` is this exercise
        while frame is not None and frame.f_locals.get("self") is self:
            frame = frame.f_back
        module = frame.f_globals.get("__name__", "") if frame is not None else ""
        match = _CHAPTER_MODULE.fullmatch(module)
        if match is None:
            if chapter is None:
                raise ValueError(f"exercise {name}: define it in course_lib/check/chNN.py, or pass chapter='NN'")
            return chapter
        if chapter is not None and chapter != match.group(1):
            raise ValueError(f"exercise {name}: chapter={chapter!r}, but it is defined in {module}")
        return match.group(1)

    def __repr__(self) -> str:
        return f"Exercise(chapter={self.chapter!r}, name={self.name!r}, {len(self.wrong_answers)} wrong answers)"

    # -- trusted computations ----------------------------------------------------------------------------
    def compare(self, got: Any, expected: Any, case: Case) -> str | None:
        if self._compare is not None:
            return self._compare(got, expected, case)
        return compare_values(got, expected, self.rtol, self.atol)

    def cases(self) -> list[Case]:
        """The check's cases, drawn from the exercise's own generator (never the global streams)."""
        with preserved_state():
            torch.manual_seed(self.seed)
            return list(self.make_cases(np.random.default_rng(self.seed)))

    def _run_trusted(self, impl: Callable[..., Any], case: Case) -> Any:
        """A reference or a wrong answer through the adapter, seeded and quiet, as plain values."""
        with preserved_state(), quiet():
            seed_globals(self.seed)
            return plain(self.call(impl, case.copy()))

    def expected(self, cases: Sequence[Case]) -> list[Any]:
        """The reference's values on the exercise's ``cases``, computed once per process (the cases are the
        same every time, drawn from the exercise's seed)."""
        if self._expected is None:
            self._expected = [self._run_trusted(self.reference, case) for case in cases]
        return self._expected

    def _outputs_of(self, wrong: WrongAnswer, cases: Sequence[Case]) -> list[Any] | None:
        if wrong.name not in self._wrong_outputs:
            try:
                self._wrong_outputs[wrong.name] = [self._run_trusted(wrong.implementation, c) for c in cases]
            except Exception:  # noqa: BLE001 - a wrong answer that fails on a case cannot be the match
                self._wrong_outputs[wrong.name] = None
        return self._wrong_outputs[wrong.name]

    def _watched(self) -> dict[int, str]:
        """The code an answer must not run: forbidden items, then the chapter's references and mistakes."""
        items = []
        for item in self.forbidden:
            name = f"{getattr(item, '__module__', '?')}.{getattr(item, '__qualname__', repr(item))}"
            what = "the library's own implementation of this exercise"
            if isinstance(item, type):
                items += [(method, f"{name}.{attr} ({what})") for attr, method in vars(item).items()]
            else:
                items.append((item, f"{name} ({what})"))
        for exercise in [self, *exercises_of_chapter(self.chapter)]:
            items.append((exercise.reference, f"the check's own reference solution of {exercise.name}"))
            items += [(w.implementation, f"the check's own version of the mistake {w.name!r} in {exercise.name}")
                      for w in exercise.wrong_answers]
        return watched_code(items)

    # -- step 1: run the student's code ------------------------------------------------------------------
    def run_student(self, student: Any, *, trusted: bool = False) -> list[Attempt]:
        """Call ``student`` on copies of the cases; one :class:`Attempt` per case, up to the first failure.

        The reference runs first, so the imports it needs are warm before the student's clock starts.
        ``trusted=True`` (tests only) runs one of the checker's own implementations without treating the
        calls of it as delegation. Never raises.
        """
        if student is None:
            return [Attempt(error=f"the check received None instead of your function; pass the function "
                                  f"itself, e.g. check.ch{self.chapter}.{self.name}({self.name}).")]
        if not callable(student):
            return [Attempt(error=f"the check expects your function (or class), got {describe(student)}.")]
        try:
            with preserved_state():
                cases = self.cases()
                self.expected(cases)
                watched = {} if trusted else self._watched()
                attempts: list[Attempt] = []
                start, cpu = time.perf_counter(), 0.0
                for case in cases:
                    remaining = max(self.hard_stop - (time.perf_counter() - start), 1e-3)
                    attempt = run_call(self.call, student, case, seed=self.seed, hard_stop=remaining,
                                       watched=watched)
                    attempts.append(attempt)
                    cpu += attempt.cpu_seconds
                    if attempt.failed or cpu > self.time_limit:
                        break
                return attempts
        except Exception as error:  # noqa: BLE001 - a bug in a check must not crash the student's kernel
            return [Attempt(error=_check_failed(error))]

    # -- step 2: judge the values ------------------------------------------------------------------------
    def judge(self, attempts: Sequence[Attempt], hint: int = 1) -> Result:
        """Decide the outcome from the attempts' plain values. Trusted: never calls student code."""
        try:
            with preserved_state():
                return self._judge(list(attempts), hint)
        except Exception as error:  # noqa: BLE001 - a bug in a check must not crash the student's kernel
            return self._result(INCORRECT, _check_failed(error))

    def _judge(self, attempts: list[Attempt], hint: int) -> Result:
        cpu = sum(a.cpu_seconds for a in attempts)
        if any(a.not_attempted for a in attempts):
            return self._result(NOT_ATTEMPTED, "your function still raises NotImplementedError: replace it "
                                "with your code, then run this cell again.", cpu=cpu)
        for a in attempts:
            if a.timed_out:
                return self._result(INCORRECT, f"your function was still running after {self.hard_stop:g} s, "
                                    "so the check stopped it. Look for an endless loop (a loop whose condition "
                                    "never becomes false).", cpu=cpu)
            if a.delegated:
                return self._result(INCORRECT, f"your code called {a.delegated}, so the check cannot tell "
                                    "whether you can compute it yourself. Write the computation with your own "
                                    "code; torch, numpy and scipy functions are fine.", cpu=cpu)
            if a.error:
                return self._result(INCORRECT, a.error, [self.hint], cpu=cpu)
        cases = self.cases()
        complete = len(attempts) == len(cases)  # a slow answer's calls stop once it is over the limit
        mismatch = next((m for a, e, c in zip(attempts, self.expected(cases), cases, strict=False)
                         if (m := self._mismatch(a.value, e, c)) is not None), None)
        if cpu > self.time_limit:
            verdict = ("its results are right, so only the speed is missing" if mismatch is None
                       else "look for a Python loop over many elements that a tensor operation could replace")
            return self._result(INCORRECT, f"your function took {cpu:.1f} s of CPU time; the check allows "
                                f"{self.time_limit:g} s ({verdict}).", cpu=cpu)
        if not complete:
            return self._result(INCORRECT, f"the check received {len(attempts)} results for {len(cases)} cases; "
                                "run the check again.", cpu=cpu)
        if mismatch is None:
            return self._result(CORRECT, "Well done.", cpu=cpu)
        wrong = self._recognise(cases, [a.value for a in attempts])
        hints = [wrong.hint if wrong else self.hint]
        if hint >= 2:
            hints += [h for h in [self.deeper_hint_for(wrong.name if wrong else None)] if h]
        return self._result(INCORRECT, mismatch, hints, wrong.name if wrong else None, cpu=cpu)

    def _mismatch(self, got: Any, expected: Any, case: Case) -> str | None:
        try:
            return self.compare(got, expected, case)
        except Exception as error:  # noqa: BLE001 - a value the comparison cannot handle is not right
            return f"your result could not be compared with the answer ({type(error).__name__})."

    def _recognise(self, cases: Sequence[Case], values: Sequence[Any]) -> WrongAnswer | None:
        for wrong in self.wrong_answers:
            outputs = self._outputs_of(wrong, cases)
            if outputs is not None and all(self._mismatch(v, o, c) is None
                                           for v, o, c in zip(values, outputs, cases, strict=True)):
                return wrong
        return None

    def deeper_hint_for(self, wrong_answer: str | None) -> str:
        for wrong in self.wrong_answers:
            if wrong.name == wrong_answer:
                return wrong.deeper_hint or self.deeper_hint
        return self.deeper_hint

    def _result(self, outcome: str, message: str = "", hints: Sequence[str] = (), wrong: str | None = None,
                cpu: float = 0.0) -> Result:
        message = message[:1].upper() + message[1:]
        return Result(self.name, self.chapter, outcome, message, list(hints), wrong, cpu_seconds=cpu)

    # -- both steps ----------------------------------------------------------------------------------------
    def evaluate(self, student: Any, hint: int = 1, *, trusted: bool = False) -> Result:
        """Check ``student`` and return the :class:`Result` (nothing is displayed). Never raises."""
        start = time.perf_counter()
        result = self.judge(self.run_student(student, trusted=trusted), hint=hint)
        result.seconds = time.perf_counter() - start
        failures = record(result)
        if result.outcome == INCORRECT and result.hints and hint < 2 and failures >= 2:
            result.hints += [h for h in [self.deeper_hint_for(result.wrong_answer)] if h]
        return result

    def __call__(self, student: Any, hint: int = 1) -> None:
        """Check ``student`` and show the outcome (HTML in Jupyter, text elsewhere).

        Under nbgrader (``NBGRADER_EXECUTION`` set), the check of the notebook's own answer (the object bound to
        the exercise's name) raises ``AssertionError`` when it is not correct, so nbgrader's test cell scores
        zero; a check of any other function, and every check outside nbgrader, never raises.
        """
        result = self.evaluate(student, hint=hint)
        show(result)
        if not result.passed and os.environ.get("NBGRADER_EXECUTION") and _is_the_answer(self.name, student):
            raise AssertionError(f"{self.name}: {result.outcome.replace('_', ' ')}. {result.message}")


def _is_the_answer(name: str, student: Any) -> bool:
    """True when ``student`` is what the notebook's namespace binds to ``name`` (the answer nbgrader grades)."""
    main = sys.modules.get("__main__")
    return student is not None and getattr(main, name, None) is student


def _check_failed(error: BaseException) -> str:
    return (f"the check itself failed ({type(error).__name__}: {error}). Please report this to your "
            "instructor; your answer may be fine.")
