"""Watching a 2-D GAN train (chapter 05): its samples and its discriminator's decision surface, step by step.

``snapshot_2d(z)`` makes the function that ``course_lib.train.Snapshots`` calls during training: it keeps the
generator's samples for a fixed noise ``z`` and D(x) = sigmoid(logit) on a grid. ``draw_gan_snapshot`` draws one
snapshot (the surface in shades, the data in grey, the samples in red, the mixture's centres as crosses);
``gan_training_explorer`` puts a slider over the snapshots. It returns the ``ipywidgets.interactive`` widget, so
a test (or a kernel) can set ``slider(widget, "snapshot").value`` and read the drawn :class:`GANFrame` from
``widget.result``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from course_lib.widgets.common import figure_to_png

Limits = tuple[float, float]
Points = Tensor | np.ndarray


@dataclass
class GANFrame:
    """What the explorer drew last: the training step, the modes covered and the share of high-quality samples
    (None without the mixture's centres), and the figure."""

    step: int
    modes: int | None
    quality: float | None
    figure: Figure


def snapshot_2d(z: Tensor, limits: Limits = (-3.0, 3.0), resolution: int = 60) -> Callable[[object], dict]:
    """The function to give ``Snapshots(every, fn=...)``: model -> {"samples": (N, 2), "surface": (R, R), "limits"}.

    ``z`` (N, noise_dim) is fixed, so successive snapshots show the same noise moving; ``surface[i, j]`` is
    D(x) at x = (xs[j], xs[i]) on a ``resolution`` x ``resolution`` grid over ``limits`` in both coordinates.
    The model is a ``course_lib.models.gan.GAN`` (``generate`` and ``discriminate``).
    """
    axis = torch.linspace(limits[0], limits[1], resolution)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1).reshape(-1, 2)  # rows: y, then x

    def take(model) -> dict:
        samples = model.generate(z.to(model.device))
        surface = torch.sigmoid(model.discriminate(grid.to(model.device))).reshape(resolution, resolution)
        return {"samples": samples.cpu().numpy(), "surface": surface.cpu().numpy(), "limits": limits}

    return take


def draw_gan_snapshot(snapshot: dict, data: Points | None = None, centres: Points | None = None,
                      ax: Axes | None = None, title: str | None = None) -> Axes:
    """Draw one snapshot on ``ax``: D(x) in shades of blue (dark = "real"), data grey, samples red, centres black."""
    if ax is None:
        ax = Figure(figsize=(4, 4)).subplots()
    low, high = snapshot["limits"]
    ax.imshow(snapshot["surface"], origin="lower", extent=(low, high, low, high), cmap="Blues", vmin=0, vmax=1,
              alpha=0.8)
    if data is not None:
        data = np.asarray(data)
        ax.scatter(data[:, 0], data[:, 1], s=1, color="0.45", alpha=0.3)
    samples = snapshot["samples"]
    ax.scatter(samples[:, 0], samples[:, 1], s=2, color="C3", alpha=0.5)
    if centres is not None:
        centres = np.asarray(centres)
        ax.plot(centres[:, 0], centres[:, 1], "k+", ms=6, mew=1)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def _quality(snapshot: dict, centres, std: float | None) -> tuple[int | None, float | None]:
    if centres is None or std is None:
        return None, None
    from course_lib.metrics.toy2d import high_quality_share, modes_covered

    return modes_covered(snapshot["samples"], centres, std), high_quality_share(snapshot["samples"], centres, std)


def frame_title(step: int, modes: int | None, quality: float | None, num_modes: int | None, sep: str = ": ") -> str:
    """'step 1200: 7/8 modes, 91 % high quality' (only the step without the mixture's centres); ``sep="\n"``
    puts the counts on a second line."""
    if modes is None:
        return f"step {step}"
    return f"step {step}{sep}{modes}/{num_modes} modes, {100 * quality:.0f} % high quality"


def gan_training_explorer(steps: Sequence[int], snapshots: Sequence[dict], data: Points | None = None,
                          centres: Points | None = None, std: float | None = None):
    """A slider over training: the snapshots of ``Snapshots(every, fn=snapshot_2d(z))`` (its ``steps`` and
    ``values``), drawn over the data; with the mixture's ``centres`` and ``std`` the title counts the modes
    covered and the high-quality share (``course_lib.metrics.toy2d``)."""
    import ipywidgets as widgets
    from IPython.display import display

    if len(steps) != len(snapshots) or not snapshots:
        raise ValueError(f"need one step per snapshot and at least one, got {len(steps)} steps and "
                         f"{len(snapshots)} snapshots (pass Snapshots.steps and Snapshots.values)")
    num_modes = None if centres is None else len(centres)

    def draw(snapshot: int) -> GANFrame:
        modes, quality = _quality(snapshots[snapshot], centres, std)
        figure = Figure(figsize=(4.6, 4.6), dpi=72)
        draw_gan_snapshot(snapshots[snapshot], data, centres, ax=figure.subplots(),
                          title=frame_title(steps[snapshot], modes, quality, num_modes))
        figure.tight_layout()
        display(figure_to_png(figure))
        return GANFrame(int(steps[snapshot]), modes, quality, figure)

    control = widgets.IntSlider(value=0, min=0, max=len(snapshots) - 1, step=1, description="snapshot",
                                continuous_update=True)
    return widgets.interactive(draw, snapshot=control)
