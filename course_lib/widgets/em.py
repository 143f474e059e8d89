"""Watching EM fit a Gaussian mixture to 2-D data: snapshots, one drawing per iteration, and a slider.

``em_snapshots`` runs EM (:class:`course_lib.distributions.GaussianMixture`) and keeps a copy of the model
before the first and after every iteration. ``draw_em_state`` draws one snapshot: the points coloured by
their responsibilities, each component's 1- and 2-sigma ellipses and its mean. ``em_explorer`` puts a slider
over the snapshots; it returns the ``ipywidgets.interactive`` widget, so a test (or a kernel) can set
``slider(widget, "iteration").value`` and read the drawn :class:`EMFrame` from ``widget.result``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse
from torch import Tensor

from course_lib.distributions import GaussianMixture
from course_lib.widgets.common import figure_to_png

COLOURS = np.array([[0.12, 0.47, 0.71], [1.0, 0.5, 0.05], [0.17, 0.63, 0.17], [0.84, 0.15, 0.16],
                    [0.58, 0.4, 0.74], [0.55, 0.34, 0.29], [0.89, 0.47, 0.76], [0.5, 0.5, 0.5]])


@dataclass
class EMFrame:
    """What the explorer drew last: the iteration, the mean training log-likelihood (nats per point)."""

    iteration: int
    log_likelihood: float
    figure: Figure


def em_snapshots(x: Tensor, num_components: int, num_iterations: int = 30, *, seed: int = 0,
                 init: GaussianMixture | None = None) -> list[GaussianMixture]:
    """Run EM on x (N, 2) and return num_iterations + 1 copies: before the first step and after each.

    Runs every iteration (no early stop), so the slider always has the same length. ``init`` starts from a
    given mixture (it is copied, not changed); otherwise from K random data points (seeded).
    """
    x = torch.as_tensor(x).double()
    if init is None:
        model = GaussianMixture.init_from_data(x, num_components, generator=torch.Generator().manual_seed(seed))
    else:
        model = copy.deepcopy(init)
    snapshots: list[GaussianMixture] = []
    model.em(x, num_iterations, tol=-float("inf"), callback=lambda m, it: snapshots.append(copy.deepcopy(m)))
    return snapshots


def _ellipse(ax: Axes, mean: np.ndarray, cov: np.ndarray, n_std: float, colour, **kwargs) -> None:
    values, vectors = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
    width, height = 2 * n_std * np.sqrt(np.maximum(values[::-1], 0))
    ax.add_patch(Ellipse(tuple(mean), width, height, angle=angle, fill=False, color=colour, **kwargs))


def draw_em_state(x: Tensor, model: GaussianMixture, ax: Axes | None = None, *, title: str | None = None
                  ) -> Axes:
    """Points coloured by responsibility (a blend of the component colours), 1- and 2-sigma ellipses, means."""
    if ax is None:
        ax = Figure(figsize=(4, 4)).subplots()
    x = torch.as_tensor(x).double()
    k = model.num_components
    palette = COLOURS[np.arange(k) % len(COLOURS)]
    resp = model.e_step(x).exp().numpy()  # (N, K)
    pts = x.numpy()
    ax.scatter(pts[:, 0], pts[:, 1], s=5, c=np.clip(resp @ palette, 0, 1), alpha=0.7, linewidths=0)
    means, covs = model.means.numpy(), model.covariances.numpy()
    for j in range(k):
        for n_std, style in [(1.0, "-"), (2.0, "--")]:
            _ellipse(ax, means[j], covs[j], n_std, palette[j], lw=1.5, ls=style)
        ax.plot(*means[j], "x", color="k", ms=8, mew=2.5)
        ax.plot(*means[j], "x", color=palette[j], ms=7, mew=1.5)
    pad = 0.1 * (pts.max(0) - pts.min(0))
    ax.set_xlim(pts[:, 0].min() - pad[0], pts[:, 0].max() + pad[0])
    ax.set_ylim(pts[:, 1].min() - pad[1], pts[:, 1].max() + pad[1])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def draw_em_iterations(x: Tensor, snapshots: Sequence[GaussianMixture], iterations: Sequence[int],
                       *, ncols: int = 4) -> Figure:
    """Small multiples: one panel per chosen iteration, titled with the training log-likelihood."""
    rows = -(-len(iterations) // ncols)
    fig = Figure(figsize=(3 * ncols, 3 * rows + 0.2), dpi=80)
    axes = np.atleast_1d(fig.subplots(rows, ncols)).reshape(-1)
    for ax, it in zip(axes, iterations, strict=False):
        ll = snapshots[it].log_prob(torch.as_tensor(x).double()).mean().item()
        draw_em_state(x, snapshots[it], ax, title=f"iteration {it}: {ll:.3f} nats/point")
    for ax in axes[len(iterations):]:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def em_explorer(x: Tensor, snapshots: Sequence[GaussianMixture]):
    """A slider over EM's iterations: the mixture on the data (left) and the log-likelihood curve (right).

    Returns the ``ipywidgets.interactive`` widget; its control is described as ``"iteration"`` and
    ``widget.result`` is the last :class:`EMFrame`.
    """
    import ipywidgets as widgets
    from IPython.display import display

    x = torch.as_tensor(x).double()
    curve = np.array([m.log_prob(x).mean().item() for m in snapshots])  # (T + 1,)

    def draw(iteration: int) -> EMFrame:
        frame = EMFrame(iteration, float(curve[iteration]), Figure(figsize=(9, 4), dpi=72))
        left, right = frame.figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.2]})
        draw_em_state(x, snapshots[iteration], left, title=f"EM iteration {iteration}")
        right.plot(np.arange(len(curve)), curve, "o-", ms=3, color="C0")
        right.plot(iteration, curve[iteration], "o", ms=9, color="C3")
        right.set_xlabel("EM iteration")
        right.set_ylabel("training log-likelihood (nats per point)")
        right.set_title(f"{curve[iteration]:.4f} nats per point", fontsize=10)
        frame.figure.tight_layout()
        display(figure_to_png(frame.figure))
        return frame

    control = widgets.IntSlider(value=0, min=0, max=len(snapshots) - 1, step=1, description="iteration",
                                continuous_update=True)
    return widgets.interactive(draw, iteration=control)
