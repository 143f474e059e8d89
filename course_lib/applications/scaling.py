"""A power law fitted to held-out loss against model size, as in the scaling studies of language models.

L(N) = a N^(-b) is a straight line on log-log axes: log L = log a - b log N. So ``fit_power_law`` is a
least-squares line through (log N, log L). Its slope gives the exponent b and its intercept the coefficient
a. A fit on linear axes would let the largest losses dominate and would not estimate b. With
``irreducible=True`` it fits L(N) = c + a N^(-b) instead. The floor c is what no model size removes (the
entropy of the data, for a good enough model), and the fit is least squares on log L over (log a, b, c >= 0).
Kaplan et al., 2020, "Scaling Laws for Neural Language Models", arXiv:2001.08361. Hoffmann et al., 2022,
"Training Compute-Optimal Large Language Models", arXiv:2203.15556, fit the irreducible form.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import optimize

__all__ = ["PowerLaw", "fit_power_law"]


class PowerLaw(NamedTuple):
    """L(N) = irreducible + coefficient * N ** (-exponent)."""

    coefficient: float
    exponent: float
    irreducible: float = 0.0

    def __call__(self, n: np.ndarray | float) -> np.ndarray:
        return self.irreducible + self.coefficient * np.asarray(n, dtype=np.float64) ** (-self.exponent)


def _line(log_n: np.ndarray, log_loss: np.ndarray) -> PowerLaw:
    slope, intercept = np.polyfit(log_n, log_loss, 1)
    return PowerLaw(float(np.exp(intercept)), float(-slope))


def fit_power_law(params: np.ndarray, losses: np.ndarray, irreducible: bool = False) -> PowerLaw:
    """Fit L = a N^(-b) (or c + a N^(-b)) to sizes ``params`` (N,) and losses (N,), both positive."""
    n, loss = np.asarray(params, dtype=np.float64).ravel(), np.asarray(losses, dtype=np.float64).ravel()
    if len(n) != len(loss) or len(n) < (3 if irreducible else 2):
        raise ValueError(f"need as many losses as sizes, at least {3 if irreducible else 2}; got {len(n)} sizes "
                         f"and {len(loss)} losses")
    if (n <= 0).any() or (loss <= 0).any():
        raise ValueError("sizes and losses must be positive: a power law is fitted on log-log axes")
    start = _line(np.log(n), np.log(loss))
    if not irreducible:
        return start

    def residuals(theta: np.ndarray) -> np.ndarray:
        log_a, b, c = theta
        return np.log(c + np.exp(log_a) * n ** (-b)) - np.log(loss)

    theta0 = np.array([np.log(start.coefficient), max(start.exponent, 1e-3), 0.0])
    upper = [np.inf, np.inf, float(loss.min()) * (1 - 1e-9)]
    result = optimize.least_squares(residuals, theta0, bounds=([-np.inf, 0.0, 0.0], upper))
    log_a, b, c = result.x
    return PowerLaw(float(np.exp(log_a)), float(b), float(c))
