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
    # chapter 05: the 2-D mixtures, the fixed digits classifier, the Fréchet distance
    "assign_modes": "course_lib.metrics.toy2d",
    "mode_counts": "course_lib.metrics.toy2d",
    "modes_covered": "course_lib.metrics.toy2d",
    "high_quality_share": "course_lib.metrics.toy2d",
    "digits_classifier": "course_lib.metrics.features",
    "digit_features": "course_lib.metrics.features",
    "classify": "course_lib.metrics.features",
    "class_histogram": "course_lib.metrics.features",
    "to_gan_range": "course_lib.metrics.features",
    "from_gan_range": "course_lib.metrics.features",
    "fit_gaussian": "course_lib.metrics.frechet",
    "frechet_distance": "course_lib.metrics.frechet",
    "frechet_distance_features": "course_lib.metrics.frechet",
    "frechet_distance_digits": "course_lib.metrics.frechet",
    "frechet_floor": "course_lib.metrics.frechet",
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
    # chapter 06: dequantisation (flows)
    "dequantize": "course_lib.metrics.dequantization",
    "dequantized_nll_bound": "course_lib.metrics.dequantization",
    "dequantized_bound": "course_lib.metrics.dequantization",
    "to_unit_cube": "course_lib.metrics.dequantization",
    "from_unit_cube": "course_lib.metrics.dequantization",
    "logit_transform": "course_lib.metrics.dequantization",
    "logit_inverse": "course_lib.metrics.dequantization",
    "logit_preprocess": "course_lib.metrics.dequantization",
    "logit_postprocess": "course_lib.metrics.dequantization",
}

__all__ = ["bits_per_dim", "mean_nll", "log_mean_exp", "importance_weighted_log_likelihood", *_WHERE]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'course_lib.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
