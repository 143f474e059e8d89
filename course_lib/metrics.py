"""Likelihood metrics: mean NLL in nats, bits per dimension, and (from chapter 04) importance weighting.

Units: a log-probability from ``log_prob`` is in nats (natural log). Bits per dimension divide the NLL by
``num_dims * ln 2``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor


def bits_per_dim(nll_nats: float | Tensor, num_dims: int) -> float | Tensor:
    """Convert an NLL in nats per example to bits per dimension: nll / (num_dims * ln 2)."""
    if num_dims < 1:
        raise ValueError(f"num_dims must be positive, got {num_dims}")
    return nll_nats / (num_dims * math.log(2.0))


@torch.no_grad()
def mean_nll(log_prob: Callable[[Tensor], Tensor], x: Tensor, batch_size: int = 512) -> float:
    """Mean negative log-likelihood of ``x`` (N, ...) in nats per example, evaluated in batches."""
    if len(x) == 0:
        raise ValueError("mean_nll needs at least one example")
    total = 0.0
    for start in range(0, len(x), batch_size):
        lp = log_prob(x[start : start + batch_size])
        if lp.dim() != 1:
            raise ValueError(f"log_prob must return one value per example (B,), got shape {tuple(lp.shape)}")
        total += -lp.double().sum().item()
    return total / len(x)
