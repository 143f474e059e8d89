"""Anomaly scores from likelihoods: the raw NLL, a likelihood ratio against a background model, and typicality.

Convention: every ``*_score`` here is an anomaly score, higher for inputs that look more anomalous. So
``course_lib.metrics.roc.roc_auc(score(normal), score(anomalous))`` is the AUROC of the detector, and 0.5
means no better than chance.

- ``nll_score``: -log p(x). A density model trained on digits can give simple inputs (constant images,
  smooth ones) a higher likelihood than real digits, and then this score misses them (Nalisnick et al.,
  2019, "Do Deep Generative Models Know What They Don't Know?", arXiv:1810.09136).
- ``likelihood_ratio_score``: log p_background(x) - log p_model(x), minus the log-likelihood ratio (LLR)
  of Ren et al., 2019, "Likelihood Ratios for Out-of-Distribution Detection", arXiv:1906.02845. Their
  background model sees perturbed inputs and learns the low-level statistics that dominate log p. The ratio
  cancels those statistics and keeps what is specific to the data. Ren et al. report the LLR itself, which
  is high for in-distribution inputs. We negate it so that it follows the convention above.
- ``typicality_score`` / ``typicality_test``: a batch of M inputs from the training distribution has a
  mean NLL close to the entropy H, which we estimate by the mean training NLL. The test flags a batch whose
  mean NLL is more than epsilon away from H, on either side: too unlikely and too likely are both atypical
  (Nalisnick, Matsukawa, Teh & Lakshminarayanan, 2019, "Detecting Out-of-Distribution Inputs to Deep
  Generative Models Using Typicality", arXiv:1906.02994). ``typicality_epsilon`` picks epsilon by their
  bootstrap on held-out in-distribution NLLs.

All functions take NumPy arrays or torch tensors. They return float64 (or bool) tensors.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["nll_score", "likelihood_ratio_score", "typicality_score", "typicality_test", "typicality_epsilon"]

ArrayLike = Tensor | np.ndarray | float


def _f64(x: ArrayLike) -> Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def nll_score(log_p: ArrayLike) -> Tensor:
    """-log p(x) (nats): the plain likelihood detector, (N,) -> (N,)."""
    return -_f64(log_p)


def likelihood_ratio_score(log_p_model: ArrayLike, log_p_background: ArrayLike) -> Tensor:
    """log p_background(x) - log p_model(x) (nats), (N,) -> (N,): high where the background model explains x
    as well as the model does, so that what the model finds likely is only low-level statistics."""
    return _f64(log_p_background) - _f64(log_p_model)


def typicality_score(nll_batch: ArrayLike, train_nll_mean: float) -> Tensor:
    """|mean NLL of the batch - H|, with H ~ ``train_nll_mean``, in nats per input.

    ``nll_batch`` is (..., M): M inputs per batch, over the last axis. It returns (...). With M = 1 it is a
    per-input score.
    """
    nll = _f64(nll_batch)
    if nll.dim() == 0 or nll.shape[-1] == 0:
        raise ValueError(f"nll_batch must hold M >= 1 NLLs on its last axis, got shape {tuple(nll.shape)}")
    return (nll.mean(-1) - float(train_nll_mean)).abs()


def typicality_test(nll_batch: ArrayLike, train_nll_mean: float, epsilon: float) -> Tensor:
    """True where a batch is out of distribution: its mean NLL lies outside [H - epsilon, H + epsilon]."""
    if epsilon < 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    return typicality_score(nll_batch, train_nll_mean) > epsilon


def typicality_epsilon(held_out_nll: ArrayLike, train_nll_mean: float, batch_size: int,
                       false_alarm: float = 0.01, num_batches: int = 5000, seed: int = 0) -> float:
    """The (1 - false_alarm) quantile of ``typicality_score`` over bootstrap batches of ``batch_size``
    in-distribution NLLs (drawn with replacement from ``held_out_nll``). A typicality test with this epsilon
    flags about a ``false_alarm`` share of in-distribution batches."""
    nll = _f64(held_out_nll).flatten()
    if len(nll) == 0 or batch_size < 1 or not 0 < false_alarm < 1:
        raise ValueError("need held-out NLLs, batch_size >= 1 and 0 < false_alarm < 1")
    index = np.random.default_rng(seed).integers(0, len(nll), size=(num_batches, batch_size))
    scores = typicality_score(nll[torch.from_numpy(index)], train_nll_mean)
    return float(torch.quantile(scores, 1.0 - false_alarm))
