"""More training data for a digits classifier: classical augmentation and a mix of real and synthetic images.

Classical augmentation moves each 8x8 digit by a random whole-pixel shift (up to ``max_shift`` in each
direction, zeros coming in at the edges) and rotates it by a small random angle about its centre (bilinear,
scipy.ndimage). The label is kept. A rotation of a few degrees keeps a 6 a 6, which is why the angles stay
small, and the digits are never flipped. Simard, Steinkraus & Platt, 2003, "Best Practices for
Convolutional Neural Networks Applied to Visual Document Analysis" (ICDAR) make the case for such
distortions.

Images are (N, 64) or (N, 8, 8) on the digits' 0..16 scale. Integer inputs come back rounded to the 17
levels, floating-point ones unrounded. Every random choice comes from ``np.random.default_rng(seed)``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

__all__ = ["shift", "rotate", "augment", "mix_synthetic"]

_SIDE = 8
_MAX_LEVEL = 16


def _as_images(x: Tensor | np.ndarray) -> tuple[np.ndarray, tuple[int, ...], bool]:
    array = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if array.ndim not in (2, 3) or array.shape[1:] not in ((_SIDE * _SIDE,), (_SIDE, _SIDE)):
        raise ValueError(f"expected 8x8 digits of shape (N, 64) or (N, 8, 8), got {array.shape}")
    integer = not np.issubdtype(array.dtype, np.floating)
    return array.reshape(-1, _SIDE, _SIDE).astype(np.float64), array.shape, integer


def _like(images: np.ndarray, shape: tuple[int, ...], integer: bool, like: Tensor | np.ndarray):
    images = np.clip(images, 0, _MAX_LEVEL)
    images = np.rint(images) if integer else images
    out = images.reshape(shape).astype(like.dtype if isinstance(like, np.ndarray) else np.float64)
    if isinstance(like, Tensor):
        return torch.as_tensor(out).to(like.dtype)
    return out


def shift(x: Tensor | np.ndarray, dx: int, dy: int):
    """Move every image ``dx`` pixels right and ``dy`` pixels down (negative: left / up), filling with 0."""
    images, shape, integer = _as_images(x)
    out = np.zeros_like(images)
    rows = slice(max(dy, 0), _SIDE + min(dy, 0)), slice(max(-dy, 0), _SIDE + min(-dy, 0))
    cols = slice(max(dx, 0), _SIDE + min(dx, 0)), slice(max(-dx, 0), _SIDE + min(-dx, 0))
    out[:, rows[0], cols[0]] = images[:, rows[1], cols[1]]
    return _like(out, shape, integer, x)


def rotate(x: Tensor | np.ndarray, degrees: float):
    """Rotate every image by ``degrees`` (counter-clockwise) about its centre, bilinear, 0 outside."""
    images, shape, integer = _as_images(x)
    out = ndimage.rotate(images, degrees, axes=(1, 2), reshape=False, order=1, mode="constant", cval=0.0)
    return _like(out, shape, integer, x)


def augment(x: Tensor | np.ndarray, y: Tensor | np.ndarray, copies: int = 4, max_shift: int = 1,
            max_degrees: float = 15.0, seed: int = 0):
    """The originals followed by ``copies`` distorted copies of each image: (x', y') with (1 + copies) N rows.

    Each copy has its own random shift (whole pixels in -max_shift..max_shift along each axis) and rotation
    (uniform in +-max_degrees).
    """
    images, shape, integer = _as_images(x)
    rng = np.random.default_rng(seed)
    out = [images]
    for _ in range(copies):
        moved = np.empty_like(images)
        for i, image in enumerate(images):
            dx, dy = rng.integers(-max_shift, max_shift + 1, size=2)
            turned = ndimage.rotate(image, rng.uniform(-max_degrees, max_degrees), reshape=False, order=1,
                                    mode="constant", cval=0.0)
            moved[i] = np.asarray(shift(turned[None], int(dx), int(dy)))[0]
        out.append(moved)
    stacked = np.concatenate(out)
    new_x = _like(stacked, (len(stacked), *shape[1:]), integer, x)
    labels = y.repeat(copies + 1) if isinstance(y, Tensor) else np.tile(np.asarray(y), copies + 1)
    return new_x, labels


def mix_synthetic(real_x: Tensor, real_y: Tensor, synth_x: Tensor, synth_y: Tensor, ratio: float,
                  seed: int = 0) -> tuple[Tensor, Tensor]:
    """All real examples plus k = round(ratio * len(real_x)) synthetic ones drawn at random without
    replacement, each with its own label, shuffled together. Returns (x, y) with len(real_x) + k rows.

    ``ratio`` counts synthetic examples per real one (1.0 doubles the training set). The synthetic labels are
    those the conditional generator was asked for (``context``), one per synthetic image.
    """
    if len(real_x) != len(real_y) or len(synth_x) != len(synth_y):
        raise ValueError(f"images and labels must pair up: {len(real_x)} real images for {len(real_y)} labels, "
                         f"{len(synth_x)} synthetic images for {len(synth_y)} labels")
    k = int(round(ratio * len(real_x)))
    if ratio < 0 or k > len(synth_x):
        raise ValueError(f"ratio={ratio} asks for {k} synthetic examples; there are {len(synth_x)} (ratio >= 0)")
    rng = np.random.default_rng(seed)
    chosen = torch.from_numpy(rng.permutation(len(synth_x))[:k])
    x = torch.cat([torch.as_tensor(real_x), torch.as_tensor(synth_x)[chosen].to(torch.as_tensor(real_x).dtype)])
    y = torch.cat([torch.as_tensor(real_y), torch.as_tensor(synth_y)[chosen].to(torch.as_tensor(real_y).dtype)])
    order = torch.from_numpy(rng.permutation(len(x)))
    return x[order], y[order]  # one permutation for both: each image keeps its label
