"""The course's few global choices: fast mode, sizes by budget, seeding, device and threads.

Fast mode (``COURSE_FAST=1``, set by the test harness) shrinks step counts and sizes through
:func:`budget`; it never selects a different code path.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")


def fast_mode() -> bool:
    """True when the environment variable ``COURSE_FAST`` is ``1`` (the tests set it)."""
    return os.environ.get("COURSE_FAST", "0").strip() == "1"


FAST: bool = fast_mode()


def budget(full: T, fast: T) -> T:
    """Pick a size or step count: ``fast`` in fast mode, ``full`` otherwise.

    Reads the environment each call, so a notebook kernel started with ``COURSE_FAST=1`` and a test that
    sets the variable later both see the right value.
    """
    return fast if fast_mode() else full


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and torch's global random streams, so a rerun gives the same numbers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def get_device(preference: str = "auto") -> torch.device:
    """The device to train on: ``"auto"`` picks cuda, then mps, then cpu; or name one explicitly."""
    if preference != "auto":
        device = torch.device(preference)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("CUDA was requested but is not available here; use get_device('cpu') or 'auto'")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` intra-op torch threads, then restore the previous number.

    On 2-core machines some small models train several times faster on one thread (see DESIGN.md): a
    model's training recipe chooses, measured, and says why.
    """
    if n < 1:
        raise ValueError(f"n must be a positive number of threads, got {n}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
