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


# ---- chapter 04: the importance-weighted estimate of log p(x) for latent variable models ----


def log_mean_exp(log_w: Tensor, dim: int = 0) -> Tensor:
    """log((1/k) sum_i exp(log_w_i)) along ``dim`` (k = its length), computed stably with logsumexp."""
    return torch.logsumexp(log_w, dim) - math.log(log_w.shape[dim])


@torch.no_grad()
def importance_weighted_log_likelihood(
    log_weights: Callable[[Tensor, int], Tensor], x: Tensor, k: int = 1000, batch_size: int = 64, chunk: int = 250
) -> Tensor:
    """Importance-weighted estimate of log p(x) per example, (N,) in nats (Burda et al., 2016, arXiv:1509.00519).

    log p(x) ~ log (1/k) sum_i p(x, z_i) / q(z_i | x), z_i ~ q(z | x). ``log_weights(x_batch, m)`` returns the
    log-weights log p(x, z_i) - log q(z_i | x) of m fresh samples, shape (m, b) (a VAE's ``log_weights``).
    With k = 1 it is a one-sample ELBO; its expectation rises with k towards log p(x) and stays below it
    (Jensen). The k samples are drawn in chunks of ``chunk`` and combined exactly with logsumexp.
    """
    if k < 1:
        raise ValueError(f"k must be a positive number of samples, got {k}")
    out = []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        parts = [log_weights(xb, min(chunk, k - s)) for s in range(0, k, chunk)]
        log_w = torch.cat(parts, dim=0)  # (k, b)
        if log_w.shape != (k, len(xb)):
            raise ValueError(f"log_weights(x, m) must return shape (m, batch); got {tuple(log_w.shape)}")
        out.append(log_mean_exp(log_w, dim=0))
    return torch.cat(out)
