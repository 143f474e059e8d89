"""Comparing a student's value with the reference's, in words that never give the expected value away.

Everything here is a pure function of plain values (tensors, arrays, numbers, tuples, dicts): judging
never calls student code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch


class Opaque:
    """Stands for a returned object that is not plain data (a module, a generator ...): only its type name
    is kept, so comparing it never runs the student's code."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"Opaque({self.type_name})"


def describe(value: Any) -> str:
    """A few words about a value's kind and shape, for messages."""
    if isinstance(value, Opaque):
        return f"a {value.type_name}"
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
        return _compare_tensor(got, expected, rtol, atol, what)
    if isinstance(expected, np.ndarray):
        if isinstance(got, torch.Tensor):
            got = got.detach().cpu().numpy()
        if not isinstance(got, (np.ndarray, list, tuple, int, float)):
            return f"{what} should be a numpy array, got {describe(got)}."
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
            return f"{what} should be a number, got {describe(got)}."
        return _compare_arrays(np.array([float(got)]), np.array([float(expected)]), rtol, atol, what)
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"{what} should be a tuple of {len(expected)} items, got {describe(got)}."
        if len(got) != len(expected):
            return f"{what} has {len(got)} items; {len(expected)} were asked for."
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            message = compare_values(g, e, rtol, atol, what=f"item {i} of {what}")
            if message:
                return message
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{what} should be a dict with keys {sorted(expected)}, got {describe(got)}."
        missing = sorted(set(expected) - set(got))
        if missing:
            return f"{what} is missing the keys {missing}."
        for key in expected:
            message = compare_values(got[key], expected[key], rtol, atol, what=f"{what}[{key!r}]")
            if message:
                return message
        return None
    if isinstance(got, Opaque):
        return f"{what} should be {describe(expected)}, got {describe(got)}."
    return None if got == expected else f"{what} is not correct."


def _compare_tensor(got: Any, expected: torch.Tensor, rtol: float, atol: float, what: str) -> str | None:
    if isinstance(got, np.ndarray):
        return f"{what} is a numpy array; return a torch.Tensor (torch.as_tensor(...) converts)."
    if not isinstance(got, torch.Tensor):
        if isinstance(got, (int, float)) and expected.dim() == 0:
            got = torch.tensor(float(got))
        else:
            return f"{what} should be a torch.Tensor, got {describe(got)}."
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


def outputs_equal(a: Any, b: Any, rtol: float = 0.0, atol: float = 0.0) -> bool:
    """Whether two plain values agree (two values that cannot be compared are simply not equal)."""
    try:
        return compare_values(a, b, rtol, atol) is None
    except Exception:  # noqa: BLE001 - values we cannot compare are not equal
        return False


def agrees_on_property(test: Callable[[Any], str | None], got: Any, expected: Any) -> str | None:
    """Judge ``got`` by a property ``test`` (a function of one value: None when it holds, else a message).

    ``got`` must pass when ``expected`` passes (against the reference), and fail when ``expected`` fails
    (against a wrong answer that breaks the property): so a student's answer is recognised as that wrong
    answer by the same failure. Returns None when they agree, else a message.
    """
    message = test(got)
    if (message is None) == (test(expected) is None):
        return None
    return message or "your result passes a test that the answer it is compared with fails."
