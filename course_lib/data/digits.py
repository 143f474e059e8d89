"""scikit-learn's bundled 8x8 digits with the course's one fixed split.

1797 images of 64 pixels, integers 0..16. Train = the first 1000 images, validation = the next 350,
test = the last 447, in scikit-learn's order: the split of Tomczak's Deep Generative Modeling notebooks,
so NLLs in this course compare with published ones. Every model in the course uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

NUM_LEVELS = 17  # grey levels 0..16
NUM_PIXELS = 64  # 8 x 8
TRAIN_SIZE, VAL_SIZE, TEST_SIZE = 1000, 350, 447
BINARY_THRESHOLD = 8  # a pixel is "on" when its value is >= 8, about half of the 0..16 range


@dataclass(frozen=True)
class DigitsSplit:
    """The fixed split. ``train``/``val``/``test`` are LongTensors (N, 64) with values 0..16."""

    train: Tensor
    val: Tensor
    test: Tensor
    train_labels: Tensor
    val_labels: Tensor
    test_labels: Tensor

    @staticmethod
    def binarized(x: Tensor) -> Tensor:
        """The binary view used for ``digits2``: 1.0 where x >= 8, else 0.0 (float32)."""
        return (x >= BINARY_THRESHOLD).float()

    @staticmethod
    def as_float(x: Tensor) -> Tensor:
        """Values scaled to [0, 1] (x / 16), float32: for plotting and for real-valued models."""
        return x.float() / (NUM_LEVELS - 1)

    @staticmethod
    def as_images(x: Tensor) -> Tensor:
        """(N, 64) -> (N, 8, 8)."""
        return x.reshape(-1, 8, 8)


@lru_cache(maxsize=1)
def _load_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    bunch = load_digits()
    return bunch.data.astype(np.int64), bunch.target.astype(np.int64)


def load_digits_split() -> DigitsSplit:
    """Return the course's fixed split of scikit-learn's digits (fresh tensors on every call)."""
    pixels, labels = _load_arrays()
    if len(pixels) != TRAIN_SIZE + VAL_SIZE + TEST_SIZE:
        raise RuntimeError(f"expected 1797 digits from scikit-learn, got {len(pixels)}; reinstall scikit-learn")
    a, b = TRAIN_SIZE, TRAIN_SIZE + VAL_SIZE
    x = torch.from_numpy(pixels.copy())
    y = torch.from_numpy(labels.copy())
    return DigitsSplit(train=x[:a], val=x[a:b], test=x[b:], train_labels=y[:a], val_labels=y[a:b], test_labels=y[b:])
