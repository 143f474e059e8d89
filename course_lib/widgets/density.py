"""The density explorer of chapter 01, built on ``ipywidgets.interactive``.

``density_explorer`` (chapter 01) fits a histogram and a Gaussian KDE to 1-D data and redraws both when the
bins or bandwidth slider moves, with the training and held-out log-likelihood per point beside curves of
both against the slider: the first sight of over-fitting. Every explorer returns its widget, so a test (or
a kernel) can set a slider's value and read what it drew from ``widget.result`` or ``widget.out``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from course_lib.distributions import KDE, Histogram
from course_lib.widgets.common import figure_to_png


@dataclass
class DensityFit:
    """What the density explorer drew last: slider values and mean log-likelihoods (nats per point)."""

    bins: int
    bandwidth: float
    histogram_train: float
    histogram_heldout: float  # -inf when a held-out point falls in an empty bin
    kde_train: float
    kde_heldout: float
    figure: Figure


def _mean_ll(model: Histogram | KDE, x: Tensor) -> float:
    return float(model.log_prob(x).double().mean())


def _bandwidth_options(x: Tensor, count: int = 25) -> list[float]:
    """Log-spaced bandwidths from a tiny fraction of the data's spread to about its whole spread."""
    spread = float(x.double().std())
    return [float(f"{h:.3g}") for h in np.geomspace(spread / 200, spread, count)]


def _nearest(options: Sequence[float], value: float) -> float:
    return min(options, key=lambda o: abs(math.log(o) - math.log(value)))


def _fmt(v: float) -> str:
    return "−∞" if v == -math.inf else f"{v:.3f}"


def _plot_curves(ax: Axes, xs: np.ndarray, train: np.ndarray, held: np.ndarray, current: float, xlabel: str):
    """Training and held-out log-likelihood against a slider; the y-range shows the best held-out region."""
    finite = np.isfinite(held)
    top = float(np.max(train)) + 0.3
    bottom = max(min(float(np.min(train)), float(np.max(held[finite])) if finite.any() else top) - 1.5,
                 top - 6.0)
    ax.plot(xs, train, "o-", ms=3, color="C0", label="training")
    ax.plot(xs[finite], held[finite], "o-", ms=3, color="C3", label="held-out")
    if (~finite).any():
        ax.plot(xs[~finite], np.full((~finite).sum(), bottom + 0.15), "v", color="C3", ms=5, ls="none",
                label="held-out = −∞ (empty bin)")
    ax.set_ylim(bottom, top)
    ax.axvline(current, color="k", lw=1, ls="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean log-likelihood\n(nats per point)")
    ax.legend(fontsize=8, loc="lower left")


def density_explorer(
    x_train: Tensor,
    x_heldout: Tensor,
    *,
    true_log_prob: Callable[[Tensor], Tensor] | None = None,
    bins: int = 12,
    bandwidth: float | None = None,
    max_bins: int = 80,
):
    """Build the histogram / KDE explorer for 1-D data and return the ``ipywidgets.interactive`` widget.

    Args:
        x_train: (N,) training points (the fits use only these).
        x_heldout: (M,) held-out points, scored live.
        true_log_prob: the data's true log-density, drawn for comparison when known.
        bins: the bins slider's first value.
        bandwidth: the bandwidth slider's first value (default: Scott's rule, snapped to the slider's grid).
        max_bins: the bins slider's largest value.

    The widget has two sliders, ``bins`` (IntSlider) and ``bandwidth`` (SelectionSlider, log-spaced);
    ``widget.result`` is the last :class:`DensityFit`, and in a notebook ``widget.out`` shows the figure.
    """
    import ipywidgets as widgets
    from IPython.display import display

    x_train = torch.as_tensor(x_train).double().flatten()
    x_heldout = torch.as_tensor(x_heldout).double().flatten()
    both = torch.cat([x_train, x_heldout])
    lo, hi = float(both.min()), float(both.max())  # the histogram's range covers every point
    span = hi - lo
    grid = torch.linspace(lo - 0.1 * span, hi + 0.1 * span, 2000, dtype=torch.float64)  # (G,)
    truth = true_log_prob(grid).exp().numpy() if true_log_prob is not None else None
    smooth = KDE(x_train).log_prob(grid).exp().numpy()
    y_top = 2.0 * float(max(smooth.max(), truth.max() if truth is not None else 0.0))  # spikes are cut off

    bandwidths = _bandwidth_options(x_train)
    start_h = _nearest(bandwidths, bandwidth if bandwidth is not None else KDE.rule_of_thumb(x_train))
    bin_counts = np.unique(np.geomspace(1, max_bins, 30).round().astype(int))

    # the curves under the sliders do not depend on the sliders: compute them once
    def hist(b: int) -> Histogram:
        return Histogram(x_train, bins=int(b), range=(lo, hi))

    hist_train = np.array([_mean_ll(hist(b), x_train) for b in bin_counts])
    hist_held = np.array([_mean_ll(hist(b), x_heldout) for b in bin_counts])
    kde_train = np.array([_mean_ll(KDE(x_train, h), x_train) for h in bandwidths])
    kde_held = np.array([_mean_ll(KDE(x_train, h), x_heldout) for h in bandwidths])

    def draw(bins: int, bandwidth: float) -> DensityFit:
        h_model, k_model = hist(bins), KDE(x_train, bandwidth)
        fit = DensityFit(bins, bandwidth, _mean_ll(h_model, x_train), _mean_ll(h_model, x_heldout),
                         _mean_ll(k_model, x_train), _mean_ll(k_model, x_heldout),
                         Figure(figsize=(10, 6.2), dpi=72))
        axes = fit.figure.subplots(2, 2)
        fit.figure.subplots_adjust(hspace=0.45, wspace=0.28, left=0.09, right=0.98, top=0.92, bottom=0.1)
        for ax, model, name in [(axes[0, 0], h_model, f"histogram, {bins} bins"),
                                (axes[0, 1], k_model, f"KDE, bandwidth h = {bandwidth:g}")]:
            if truth is not None:
                ax.plot(grid, truth, color="0.5", lw=1.5, ls="--", label="true density")
            ax.plot(grid, model.log_prob(grid).exp().numpy(), color="C0", lw=1.5, label="fit")
            rug = 0.04 * y_top
            ax.plot(x_train, np.full(len(x_train), -rug), "|", color="C0", ms=6, alpha=0.4, label="training")
            ax.plot(x_heldout, np.full(len(x_heldout), -2.2 * rug), "|", color="C3", ms=6, alpha=0.4,
                    label="held-out")
            ax.set_ylim(-3.2 * rug, y_top)
            ax.set_title(name, fontsize=11)
            ax.set_xlabel("x")
            ax.set_ylabel("density p(x)")
            ax.legend(fontsize=8, loc="upper right")
        _plot_curves(axes[1, 0], bin_counts.astype(float), hist_train, hist_held, bins, "number of bins")
        _plot_curves(axes[1, 1], np.array(bandwidths), kde_train, kde_held, bandwidth, "bandwidth h")
        axes[1, 1].set_xscale("log")
        axes[1, 0].set_xscale("log")
        axes[1, 0].set_title(f"train {_fmt(fit.histogram_train)}, held-out {_fmt(fit.histogram_heldout)} "
                             "nats/point", fontsize=10)
        axes[1, 1].set_title(f"train {_fmt(fit.kde_train)}, held-out {_fmt(fit.kde_heldout)} nats/point",
                             fontsize=10)
        display(figure_to_png(fit.figure))  # a PNG, whatever the matplotlib backend of the kernel
        print(f"histogram ({bins} bins): training {_fmt(fit.histogram_train)}, held-out "
              f"{_fmt(fit.histogram_heldout)} nats per point\n"
              f"KDE (h = {bandwidth:g}): training {_fmt(fit.kde_train)}, held-out {_fmt(fit.kde_heldout)} "
              "nats per point")
        return fit

    bins_slider = widgets.IntSlider(value=bins, min=1, max=max_bins, step=1, description="bins",
                                    continuous_update=False)
    h_slider = widgets.SelectionSlider(options=[(f"{h:g}", h) for h in bandwidths], value=start_h,
                                       description="bandwidth", continuous_update=False)
    return widgets.interactive(draw, bins=bins_slider, bandwidth=h_slider)
