"""Metrics of the course, one module per question asked of a model.

- ``likelihood``: mean NLL in nats, bits per dimension, the importance-weighted estimate (chapters 02-04);
- ``dequantization``: bounds on a discrete NLL from a continuous density (chapter 06);
- ``toy2d``: modes covered and high-quality share on the 2-D Gaussian mixtures (chapter 05);
- ``features``: the course's one fixed digits classifier and its feature space (chapter 05);
- ``frechet``: the Fréchet distance between Gaussians fitted to features (chapter 05);
- ``sample_quality``: kernel distance (KID), precision/recall, density/coverage (chapter 07);
- ``memorisation``: nearest-neighbour copies and membership inference (chapter 07).

Every public name is importable from ``course_lib.metrics`` directly; names are imported on first use, so
importing the package stays cheap. A new metric module adds its names to ``_WHERE``.
"""

from __future__ import annotations

import importlib

from course_lib.metrics.likelihood import (
    bits_per_dim,
    importance_weighted_log_likelihood,
    log_mean_exp,
    mean_nll,
)

_WHERE: dict[str, str] = {
    # name -> module, for the modules that import heavier things (torch models, scipy.linalg, sklearn)
    "roc_auc": "course_lib.metrics.roc",
    "roc_curve": "course_lib.metrics.roc",
    "knn_radii": "course_lib.metrics.sample_quality",
    "precision_recall": "course_lib.metrics.sample_quality",
    "density_coverage": "course_lib.metrics.sample_quality",
    "kernel_distance": "course_lib.metrics.sample_quality",
    "nearest_neighbours": "course_lib.metrics.memorisation",
    "nearest_distances": "course_lib.metrics.memorisation",
    "near_copy_threshold": "course_lib.metrics.memorisation",
    "near_copy_share": "course_lib.metrics.memorisation",
    "membership_auc": "course_lib.metrics.memorisation",
}

__all__ = ["bits_per_dim", "mean_nll", "log_mean_exp", "importance_weighted_log_likelihood", *_WHERE]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'course_lib.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
