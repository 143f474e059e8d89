"""The Fréchet distance between two Gaussians, and between two sets of digits in the fixed classifier's features.

Public names: ``fit_gaussian``, ``frechet_distance``, ``frechet_distance_features``, ``frechet_distance_digits``,
``frechet_floor``.

For N(mu1, C1) and N(mu2, C2) the squared 2-Wasserstein (Fréchet) distance is

    FD = ||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^{1/2})

(Dowson and Landau, 1982); fitted to classifier features it is the FID of Heusel et al., 2017, arXiv:1706.08500,
here in the 64-dimensional feature space of ``course_lib.metrics.features`` instead of Inception-v3's.
``frechet_floor()`` is the distance between the training and the test images: what two samples of the *same*
distribution score at these sizes (the estimate is biased upwards by finite samples), so a model is judged by
FD / floor, never by FD alone.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np
import scipy.linalg
from torch import Tensor

from course_lib.data.digits import load_digits_split
from course_lib.metrics.features import digit_features

__all__ = ["fit_gaussian", "frechet_distance", "frechet_distance_features", "frechet_distance_digits",
           "frechet_floor"]

_IMAGINARY_TOLERANCE = 1e-3  # relative to the trace: more imaginary residue than this is not round-off


def fit_gaussian(features: np.ndarray | Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The mean (F,) and the unbiased covariance (F, F) (divided by N - 1) of features (N, F), in float64."""
    x = features.detach().cpu().numpy() if isinstance(features, Tensor) else np.asarray(features)
    x = x.astype(np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"features must be (N, F) with N >= 2 rows, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values: check the samples fed to the classifier")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _sqrtm(a: np.ndarray) -> tuple[np.ndarray, float]:
    """scipy.linalg.sqrtm(a) and its relative residual ||root^2 - a|| / ||a|| (inf when not finite); sqrtm's
    warning about singular input is replaced by this explicit check of the result."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(a)
    if not np.isfinite(root).all():
        return root, math.inf
    return root, float(np.linalg.norm(root @ root - a) / max(np.linalg.norm(a), 1e-300))


def _sqrtm_product(cov1: np.ndarray, cov2: np.ndarray) -> np.ndarray:
    """(C1 C2)^{1/2} by scipy.linalg.sqrtm, made robust.

    C1 C2 is not symmetric, but it is similar to C1^{1/2} C2 C1^{1/2}, whose eigenvalues are real and >= 0, so
    its principal square root is real in exact arithmetic. Two numerical problems are handled in the open:
    - near-singular covariances (fewer samples than features, dead ReLU units that are always 0): sqrtm may
      return NaN/inf or an inaccurate root; when its residual exceeds 1e-6, both covariances get eps * I
      added (eps = 1e-6 times their mean diagonal, as pytorch-fid does) and the root is taken again;
    - round-off leaves a small imaginary part: it is dropped when tiny relative to the traces, and an error is
      raised when it is not (that would mean the inputs are not covariance matrices).
    """
    root, residual = _sqrtm(cov1 @ cov2)
    if residual > 1e-6:
        eps = 1e-6 * max(float(np.mean(np.diag(cov1)) + np.mean(np.diag(cov2))) / 2, 1e-12)
        offset = eps * np.eye(len(cov1))
        root, residual = _sqrtm((cov1 + offset) @ (cov2 + offset))
        if not math.isfinite(residual):
            raise ValueError("the square root of C1 C2 is not finite even with eps * I added: do the "
                             "covariances hold NaN or huge values?")
    if np.iscomplexobj(root):
        scale = max(abs(np.trace(cov1)) + abs(np.trace(cov2)), 1e-12)
        if np.abs(root.imag).max() > _IMAGINARY_TOLERANCE * scale:
            raise ValueError("the square root of C1 C2 has a large imaginary part: are cov1 and cov2 symmetric "
                             "positive semi-definite covariance matrices (e.g. from fit_gaussian)?")
        root = root.real
    return root


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^{1/2}) for two Gaussians, a float >= 0 (squared units of the
    features). Means (F,), covariances (F, F); numpy or anything ``np.asarray`` takes."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, dtype=np.float64)), np.atleast_2d(np.asarray(cov2, dtype=np.float64))
    d = len(mu1)
    if mu2.shape != (d,) or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"expected means (F,) and covariances (F, F) of one F, got {mu1.shape}, {cov1.shape}, "
                         f"{mu2.shape}, {cov2.shape}")
    mean_term = float(np.sum((mu1 - mu2) ** 2))
    trace_term = float(np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(_sqrtm_product(cov1, cov2)))
    return max(mean_term + trace_term, 0.0)  # round-off can leave -1e-12 for identical Gaussians


def frechet_distance_features(features1: np.ndarray | Tensor, features2: np.ndarray | Tensor) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of features, (N1, F) and (N2, F)."""
    return frechet_distance(*fit_gaussian(features1), *fit_gaussian(features2))


def frechet_distance_digits(x: Tensor | np.ndarray, reference: Tensor | np.ndarray) -> float:
    """FD between digits ``x`` and ``reference`` ((N, 64) or (N, 8, 8), on 0..16) in the fixed classifier's
    features. Map a GAN's [-1, 1] output back first: ``course_lib.metrics.features.from_gan_range(y)``."""
    return frechet_distance_features(digit_features(x), digit_features(reference))


@lru_cache(maxsize=1)
def frechet_floor() -> float:
    """FD between the 1,000 training and the 447 test images: the score of real data (cached per process)."""
    split = load_digits_split()
    return frechet_distance_digits(split.train, split.test)
