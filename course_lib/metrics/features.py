"""The course's one fixed digits classifier, and the feature space in which samples of digits are compared.

Public names: ``digits_classifier``, ``DigitsClassifier``, ``digit_features``, ``classify``,
``class_histogram``, ``to_gan_range``, ``from_gan_range``.

A GAN has no likelihood, so chapter 05 (and chapter 07) compare its samples with real images in the feature
space of a classifier, as the Fréchet Inception distance does with Inception-v3 (Heusel et al., 2017,
arXiv:1706.08500). Here the classifier is a small MLP on the 8x8 digits, 64 -> 128 -> 64 -> 10 (ReLU),
trained once per process on ``load_digits_split().train`` only (seeded, one thread, a few seconds) and kept
in memory; ``digit_features`` are its penultimate layer (64 ReLU units). Every Fréchet distance in the course
uses this one classifier (``seed=0``); FD changes with the classifier, FD relative to its train-vs-test floor
much less, so always report the ratio (see ``course_lib.metrics.frechet``).

Inputs are digits on the data's own 0..16 scale, (N, 64) or (N, 8, 8), integer or float (samples of a
continuous model need not be whole numbers). A GAN that works on [-1, 1] maps its output back first:
``from_gan_range(y) = (y + 1) * 8``, clamped to 0..16; ``to_gan_range(x) = x / 8 - 1`` is the way in.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.config import torch_threads
from course_lib.data.digits import NUM_LEVELS, NUM_PIXELS, load_digits_split

__all__ = ["DigitsClassifier", "digits_classifier", "digit_features", "classify", "class_histogram",
           "to_gan_range", "from_gan_range", "NUM_CLASSES"]

NUM_CLASSES = 10
_MAX_LEVEL = NUM_LEVELS - 1  # 16
_STEPS, _BATCH, _LR, _WEIGHT_DECAY = 600, 100, 2e-3, 1e-4


def to_gan_range(x: Tensor) -> Tensor:
    """Digits on 0..16 -> float32 on [-1, 1] (x / 8 - 1), the range of a generator with a tanh output."""
    return x.float() / (_MAX_LEVEL / 2) - 1.0


def from_gan_range(y: Tensor) -> Tensor:
    """A generator's [-1, 1] output -> float32 digits on 0..16 ((y + 1) * 8, clamped), for the metrics here."""
    return ((y.float() + 1.0) * (_MAX_LEVEL / 2)).clamp(0.0, float(_MAX_LEVEL))


class DigitsClassifier(nn.Module):
    """An MLP 64 -> 128 -> 64 -> 10 on digits scaled to [0, 1]; ``features`` is the 64-unit penultimate layer."""

    def __init__(self, hidden: tuple[int, int] = (128, 64)) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(NUM_PIXELS, hidden[0]), nn.ReLU(), nn.Linear(hidden[0], hidden[1]),
                                  nn.ReLU())
        self.head = nn.Linear(hidden[1], NUM_CLASSES)

    def features(self, x: Tensor) -> Tensor:
        """x: (B, 64) on 0..16. Returns (B, 64) penultimate features."""
        return self.body(x.float() / _MAX_LEVEL)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, 64) on 0..16. Returns (B, 10) class logits."""
        return self.head(self.features(x))

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        """Mean cross-entropy in nats (what ``course_lib.train.fit`` minimises)."""
        return F.cross_entropy(self(x), y)


def digits_classifier(seed: int = 0) -> DigitsClassifier:
    """The fixed classifier, trained on split.train on first use and cached for the process (eval mode).

    Adam (lr 2e-3, weight decay 1e-4), 600 steps of batch 100 on one thread; the initial weights come from
    ``seed`` in a forked random stream, so the global streams are left alone. Do not train it further: every
    distance in the course is measured with these weights (seed 0).
    """
    return _trained_classifier(int(seed))


@lru_cache(maxsize=4)
def _trained_classifier(seed: int) -> DigitsClassifier:
    from course_lib.train import fit  # imported here: train imports models, which import metrics lazily

    split = load_digits_split()
    with torch.random.fork_rng(devices=[]), torch_threads(1), torch.enable_grad():
        torch.manual_seed(seed)
        model = DigitsClassifier()
        fit(model, (split.train, split.train_labels), steps=_STEPS, batch_size=_BATCH, lr=_LR,
            weight_decay=_WEIGHT_DECAY, seed=seed)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _as_digits(x: Tensor | np.ndarray) -> Tensor:
    """(N, 64) or (N, 8, 8) digits on 0..16 -> float32 (N, 64); a clear error for anything else."""
    x = torch.as_tensor(x)
    if x.dim() == 3 and tuple(x.shape[1:]) == (8, 8):
        x = x.reshape(len(x), NUM_PIXELS)
    if x.dim() != 2 or x.shape[1] != NUM_PIXELS:
        raise ValueError(f"expected digits of shape (N, 64) or (N, 8, 8), got {tuple(x.shape)}")
    if x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"expected real-valued digits on 0..16, got dtype {x.dtype}")
    x = x.float()
    if len(x) and (x.min() < -0.5 or x.max() > _MAX_LEVEL + 0.5):
        hint = (" A GAN's tanh output on [-1, 1] maps back with course_lib.metrics.features.from_gan_range(y)."
                if x.min() >= -1.0 and x.max() <= 1.0 else "")
        raise ValueError(f"expected digits on the 0..16 scale, got values in {float(x.min()):.3g}.."
                         f"{float(x.max()):.3g}.{hint}")
    return x.cpu()


@torch.no_grad()
def digit_features(x: Tensor | np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, 64) float64 numpy: the fixed classifier's penultimate features of digits on 0..16."""
    return digits_classifier(seed).features(_as_digits(x)).double().numpy()


@torch.no_grad()
def classify(x: Tensor | np.ndarray, seed: int = 0) -> np.ndarray:
    """(N,) int64 numpy: the fixed classifier's predicted class (0..9) of each digit."""
    return digits_classifier(seed)(_as_digits(x)).argmax(dim=1).numpy()


def class_histogram(x: Tensor | np.ndarray, seed: int = 0) -> np.ndarray:
    """(10,) float64 numpy: the share of the digits that the fixed classifier puts in each class (sums to 1)."""
    predicted = classify(x, seed)
    return np.bincount(predicted, minlength=NUM_CLASSES) / max(len(predicted), 1)
