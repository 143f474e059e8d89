"""ROC curve and its area for a score where higher means "more positive" (anomalous, a member, real...).

AUC = P(S_pos > S_neg) + 1/2 P(S_pos = S_neg) for a random positive and a random negative: the Mann-Whitney U
statistic divided by n_pos * n_neg (Hanley and McNeil, 1982). It is computed from average ranks in O(n log n);
a tie between a positive and a negative counts one half, so a constant score has AUC 1/2 exactly.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def as_scores(scores, name: str) -> np.ndarray:
    """A 1-D float64 numpy copy of ``scores`` (numpy, torch or a list); clear errors for empty or NaN input."""
    if hasattr(scores, "detach"):  # a torch tensor
        scores = scores.detach().cpu().double().numpy()
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"{name} must be one score per example, shape (N,), got shape {values.shape}; "
                         "flatten it with .reshape(-1) if every entry is one example")
    if len(values) == 0:
        raise ValueError(f"{name} is empty: an AUC needs at least one negative and one positive score")
    if np.isnan(values).any():
        raise ValueError(f"{name} contains NaN; compute the scores in float64 or drop the failed examples first")
    return values


def roc_auc(scores_neg, scores_pos) -> float:
    """Area under the ROC curve: the probability that a positive outscores a negative, ties counting 1/2.

    Args:
        scores_neg: (N_neg,) scores of the negatives (normal data, non-members).
        scores_pos: (N_pos,) scores of the positives (anomalies, members); higher = more positive.

    Returns:
        AUC in [0, 1]; 0.5 is chance, 1 a perfect separation, 0 a perfect separation the wrong way round.
    """
    neg, pos = as_scores(scores_neg, "scores_neg"), as_scores(scores_pos, "scores_pos")
    ranks = rankdata(np.concatenate([neg, pos]))  # average ranks 1..n: a tie group shares its mean rank
    rank_sum_pos = ranks[len(neg):].sum()
    u_pos = rank_sum_pos - len(pos) * (len(pos) + 1) / 2  # pairs (neg, pos) with pos ahead, ties counted 1/2
    return float(u_pos / (len(pos) * len(neg)))


def roc_curve(scores_neg, scores_pos) -> tuple[np.ndarray, np.ndarray]:
    """The ROC curve: false- and true-positive rates as the threshold falls through every distinct score.

    A point is (share of negatives with score >= t, share of positives with score >= t) for each distinct
    score t, from (0, 0) (threshold above every score) to (1, 1). Tied scores move both rates in one step, so
    the trapezoidal area under the returned curve equals ``roc_auc`` exactly.

    Returns:
        (fpr, tpr), each (T + 1,) float64 for T distinct scores, non-decreasing.
    """
    neg, pos = as_scores(scores_neg, "scores_neg"), as_scores(scores_pos, "scores_pos")
    scores = np.concatenate([neg, pos])
    is_pos = np.concatenate([np.zeros(len(neg)), np.ones(len(pos))])
    order = np.argsort(-scores, kind="stable")  # highest first
    scores, is_pos = scores[order], is_pos[order]
    last_of_group = np.r_[scores[1:] != scores[:-1], True]  # the last index of each run of equal scores
    true_pos = np.cumsum(is_pos)[last_of_group]
    false_pos = np.cumsum(1.0 - is_pos)[last_of_group]
    fpr = np.r_[0.0, false_pos / len(neg)]
    tpr = np.r_[0.0, true_pos / len(pos)]
    return fpr, tpr
