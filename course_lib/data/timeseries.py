"""Yearly sunspot numbers, 1700-2008, as bundled with statsmodels, with a fixed train / val / test split.

Source: `statsmodels.datasets.sunspots` (Wolf / SIDC yearly mean sunspot numbers; public data, shipped in
statsmodels' BSD-licensed package). We model the square root of the counts: the counts are non-negative and
their spread grows with the level, and the square root makes a Gaussian noise model far more reasonable.
Split in time (never shuffled): train 1700-1919, validation 1920-1959, test 1960-2008.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SunspotSeries", "load_sunspots"]


@dataclass(frozen=True)
class SunspotSeries:
    """`years` (N,) and `values` (N,) float64 square-root sunspot numbers; the split is by index."""

    years: np.ndarray
    values: np.ndarray
    train_end: int  # values[:train_end] is the training segment
    val_end: int  # values[train_end:val_end] validation, values[val_end:] test

    @property
    def train(self) -> np.ndarray:
        return self.values[: self.train_end]

    @property
    def val(self) -> np.ndarray:
        return self.values[self.train_end : self.val_end]

    @property
    def test(self) -> np.ndarray:
        return self.values[self.val_end :]


def load_sunspots(transform: str = "sqrt") -> SunspotSeries:
    """The yearly sunspot series; `transform` is "sqrt" (default) or "none"."""
    from statsmodels.datasets import sunspots

    data = sunspots.load_pandas().data
    years = data["YEAR"].to_numpy().astype(int)
    raw = data["SUNACTIVITY"].to_numpy().astype(np.float64)
    if transform == "sqrt":
        values = np.sqrt(raw)
    elif transform == "none":
        values = raw
    else:
        raise ValueError(f"transform must be 'sqrt' or 'none', got {transform!r}")
    return SunspotSeries(years, values, int(np.searchsorted(years, 1920)), int(np.searchsorted(years, 1960)))
