"""Chapter 08's anomaly setting on the digits: the normal data, five kinds of anomaly, two baselines.

One held-out digit class is the unseen kind of input. The normal data are the other nine classes of the
course's split (:func:`course_lib.data.load_digits_split`): models train on their training images, choose
hyperparameters on their validation images and are scored on their test images. The anomalies:

- "held-out class": every image of the held-out class, from all three splits (no model sees any of them);
- "noise": every pixel an independent uniform level in 0..16;
- "constant": one uniform level in 0..16 per image, on every pixel;
- "inverted": 16 - x for the normal test digits;
- "shifted": the normal test digits moved two pixels left, right, up or down (one direction per image).

Noise, constant and shifted have as many images as the normal test set and come from one
``torch.Generator`` seeded with ``seed``. The lecture and ``anomaly_benchmark`` both build their sets here.
The two baselines know nothing of likelihoods: the mean Euclidean distance to the k nearest training images
and an Isolation Forest (Liu, Ting & Zhou, 2008), both on x / 16. Every score is higher for inputs that look
more anomalous, as in :mod:`course_lib.metrics.anomaly`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import NearestNeighbors
from torch import Tensor

from course_lib.applications.augmentation import shift
from course_lib.data.digits import NUM_LEVELS, DigitsSplit

__all__ = ["ANOMALY_TYPES", "AnomalySplit", "anomaly_split", "knn_distance", "isolation_forest"]

ANOMALY_TYPES = ("held-out class", "noise", "constant", "inverted", "shifted")
SHIFTS = ((2, 0), (-2, 0), (0, 2), (0, -2))  # (dx, dy) in pixels


@dataclass(frozen=True)
class AnomalySplit:
    """Normal train / validation / test images (N, 64) of the nine kept classes, and the anomaly sets."""

    held_out: int
    train: Tensor
    val: Tensor
    test: Tensor
    anomalies: dict[str, Tensor]  # ANOMALY_TYPES -> (M, 64) LongTensor of levels 0..16


def anomaly_split(split: DigitsSplit, held_out: int, seed: int = 0) -> AnomalySplit:
    """The normal sets without class ``held_out`` and the five anomaly sets (see the module docstring)."""
    if held_out not in range(10):
        raise ValueError(f"held_out must be a digit class 0..9, got {held_out!r}")
    test = split.test[split.test_labels != held_out]
    gen = torch.Generator().manual_seed(seed)
    n = len(test)
    directions = torch.randint(0, len(SHIFTS), (n,), generator=gen)
    shifted = torch.empty_like(test)
    for k, (dx, dy) in enumerate(SHIFTS):
        shifted[directions == k] = shift(test[directions == k], dx, dy)
    all_x = torch.cat([split.train, split.val, split.test])
    all_y = torch.cat([split.train_labels, split.val_labels, split.test_labels])
    anomalies = {
        "held-out class": all_x[all_y == held_out],
        "noise": torch.randint(0, NUM_LEVELS, (n, 64), generator=gen),
        "constant": torch.randint(0, NUM_LEVELS, (n, 1), generator=gen).expand(n, 64).clone(),
        "inverted": NUM_LEVELS - 1 - test,
        "shifted": shifted,
    }
    return AnomalySplit(held_out, split.train[split.train_labels != held_out],
                        split.val[split.val_labels != held_out], test, anomalies)


def _scaled(x: Tensor) -> np.ndarray:
    return x.double().numpy() / (NUM_LEVELS - 1)


def knn_distance(train: Tensor, k: int = 5) -> Callable[[Tensor], np.ndarray]:
    """A score function x (M, 64) -> (M,): the mean distance from x / 16 to its k nearest training images."""
    index = NearestNeighbors(n_neighbors=k).fit(_scaled(train))
    return lambda x: index.kneighbors(_scaled(x))[0].mean(1)


def isolation_forest(train: Tensor, seed: int = 0, n_estimators: int = 200) -> Callable[[Tensor], np.ndarray]:
    """A score function x (M, 64) -> (M,): minus the Isolation Forest's ``score_samples`` of x / 16."""
    forest = IsolationForest(n_estimators=n_estimators, random_state=seed).fit(_scaled(train))
    return lambda x: -forest.score_samples(_scaled(x))
