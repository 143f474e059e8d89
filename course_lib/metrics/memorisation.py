"""Memorisation: does a model copy its training data, and can an attacker tell who was in it?

- Near-copies. Held-out test images show how close a NEW image of the same distribution typically comes to
  the training set. A sample is a near-copy when its distance to its nearest training image is at most the
  ``quantile`` (1 % by default) quantile of the test images' distances to their nearest training image: closer
  to the training set than 99 % of genuinely new images are. A model that generalises like the test split
  itself scores about ``quantile``; a model that replays its training set scores about 1.
- Membership inference (Shokri et al., 2017; Yeom et al., 2018): an attack scores each example, higher meaning
  "was in the training set" (a model's log-likelihood, say, which an over-fitted model raises on its training
  images). Its ROC AUC between members and non-members is 0.5 when nothing leaks and 1 when membership is
  plain to see.

Inputs are (N, F) features or images (trailing dimensions are flattened), numpy or torch; distances are
Euclidean, in float64, computed in blocks (see ``sample_quality.distance_blocks``).
"""

from __future__ import annotations

import numpy as np

from course_lib.metrics.roc import roc_auc
from course_lib.metrics.sample_quality import as_features, distance_blocks


def nearest_neighbours(queries, pool, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each query to its nearest point of ``pool``, and that point's index.

    Args:
        queries: (N, F); pool: (M, F).
        exclude_self: True when ``queries`` IS ``pool`` (the same rows in the same order): row i is then not
            its own neighbour. A duplicate of it elsewhere in the pool still is.

    Returns:
        (distances (N,) float64, indices (N,) int64 into pool).
    """
    q, p = as_features(queries, "queries"), as_features(pool, "pool")
    if q.shape[1] != p.shape[1]:
        raise ValueError(f"queries and pool must have the same number of features, got {q.shape[1]} and "
                         f"{p.shape[1]}")
    if exclude_self and (len(q) != len(p) or len(p) < 2):
        raise ValueError("exclude_self=True means queries and pool are the same set of at least 2 rows, got "
                         f"{len(q)} queries and {len(p)} pool rows")
    distances, indices = np.empty(len(q)), np.empty(len(q), dtype=np.int64)
    for start, dist in distance_blocks(q, p):
        if exclude_self:
            rows = np.arange(len(dist))
            dist[rows, start + rows] = np.inf
        nearest = dist.argmin(1)
        indices[start : start + len(dist)] = nearest
        distances[start : start + len(dist)] = dist[np.arange(len(dist)), nearest]
    return distances, indices


def nearest_distances(queries, pool, exclude_self: bool = False) -> np.ndarray:
    """(N,) distance from each query (N, F) to its nearest point of ``pool`` (M, F); see ``nearest_neighbours``."""
    return nearest_neighbours(queries, pool, exclude_self)[0]


def near_copy_threshold(train, test, quantile: float = 0.01) -> float:
    """The distance below which a sample counts as a near-copy: the ``quantile`` of test-to-train distances."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be strictly between 0 and 1, got {quantile}")
    return float(np.quantile(nearest_distances(test, train), quantile))


def near_copy_share(samples, train, test, quantile: float = 0.01) -> float:
    """Share of samples that are near-copies of a training image (definition in the module docstring).

    Args:
        samples: (N, F) model samples; train: (M, F) the model's training data; test: (T, F) held-out data of
            the same distribution, never trained on, in the same space (pixels or features) as the others.
        quantile: the share of test images that count as near-copies by the rule itself (the false-alarm rate).

    Returns:
        The share of samples whose nearest training image is at most ``near_copy_threshold`` away, in [0, 1].
    """
    threshold = near_copy_threshold(train, test, quantile)
    return float((nearest_distances(samples, train) <= threshold).mean())


def membership_auc(scores_members, scores_non_members) -> float:
    """ROC AUC of a membership-inference attack that scores members (training examples) higher.

    Args:
        scores_members: (N,) attack scores of training examples, e.g. the model's log p(x) (not the NLL).
        scores_non_members: (M,) the same score on held-out examples.

    Returns:
        P(member outscores non-member) + 1/2 P(tie): 0.5 means the attack learns nothing.
    """
    return roc_auc(scores_non_members, scores_members)
