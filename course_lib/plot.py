"""Figures used across the course. Each function draws on ``ax`` (a new one if None) and returns it;
none saves a file or calls ``plt.show()``."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from torch import Tensor


def _numpy(x: Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def _new_ax(ax: Axes | None, figsize: tuple[float, float] = (5, 4)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def image_grid(
    images: Tensor | np.ndarray,
    nrow: int | None = None,
    ax: Axes | None = None,
    *,
    vmin: float | None = 0.0,
    vmax: float | None = None,
    cmap: str = "gray_r",
    padding: int = 1,
    title: str | None = None,
) -> Axes:
    """Tile images into one picture. ``images``: (N, 64) digits, (N, H, W) or (N, 1, H, W).

    ``vmax`` defaults to 16 for integer digits (0..16) and to the data's maximum otherwise.
    """
    x = _numpy(images)
    if x.ndim == 2:
        side = int(round(math.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise ValueError(f"(N, D) images need a square D, got D={x.shape[1]}; pass (N, H, W) instead")
        x = x.reshape(len(x), side, side)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"expected images of shape (N, 64), (N, H, W) or (N, 1, H, W), got {x.shape}")
    if vmax is None:
        vmax = 16.0 if np.issubdtype(x.dtype, np.integer) else float(np.nanmax(x)) if x.size else 1.0
    n, h, w = x.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    ncol = int(math.ceil(n / nrow))
    canvas = np.full((ncol * (h + padding) + padding, nrow * (w + padding) + padding), np.nan)
    for i in range(n):
        r, c = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        canvas[top : top + h, left : left + w] = x[i]
    ax = _new_ax(ax, figsize=(0.6 * nrow + 0.5, 0.6 * ncol + 0.5))
    cmap_obj = plt.get_cmap(cmap).with_extremes(bad="#d0d7de")  # padding shows as light grey
    ax.imshow(canvas, cmap=cmap_obj, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def scatter_2d(
    x: Tensor | np.ndarray,
    labels: Tensor | np.ndarray | None = None,
    ax: Axes | None = None,
    *,
    s: float = 4.0,
    alpha: float = 0.6,
    title: str | None = None,
) -> Axes:
    """Scatter plot of 2-D points (N, 2), coloured by integer ``labels`` if given."""
    points = _numpy(x)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"scatter_2d needs points of shape (N, 2), got {points.shape}")
    ax = _new_ax(ax)
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=s, alpha=alpha, color="tab:blue", linewidths=0)
    else:
        lab = _numpy(labels)
        for value in np.unique(lab):
            keep = lab == value
            ax.scatter(points[keep, 0], points[keep, 1], s=s, alpha=alpha, label=str(value), linewidths=0)
        ax.legend(markerscale=3, fontsize="small", frameon=False)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return ax


@torch.no_grad()
def density_2d(
    log_prob: Callable[[Tensor], Tensor],
    xlim: tuple[float, float] = (-3.0, 3.0),
    ylim: tuple[float, float] = (-3.0, 3.0),
    ax: Axes | None = None,
    *,
    resolution: int = 200,
    data: Tensor | np.ndarray | None = None,
    log_scale: bool = False,
    cmap: str = "viridis",
    title: str | None = None,
) -> Axes:
    """Heat map of a 2-D density from any ``log_prob`` ((N, 2) -> (N,), nats), optionally with data on top.

    Shows p(x) (or log p(x) with ``log_scale=True``) on a ``resolution`` x ``resolution`` grid.
    """
    xs = torch.linspace(*xlim, resolution)
    ys = torch.linspace(*ylim, resolution)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)  # (R*R, 2)
    values = log_prob(grid).reshape(resolution, resolution).double()
    image = values if log_scale else values.exp()
    ax = _new_ax(ax)
    ax.imshow(image.numpy(), origin="lower", extent=(*xlim, *ylim), cmap=cmap, aspect="auto")
    if data is not None:
        points = _numpy(data)
        ax.scatter(points[:, 0], points[:, 1], s=2, color="white", alpha=0.5, linewidths=0)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return ax


def _validation_epochs(history: object, n_val: int, n_epochs: int) -> np.ndarray:
    """Where each validation was taken, in epochs: from ``val_steps`` when the history has them."""
    val_steps = list(getattr(history, "val_steps", []) or [])
    steps = getattr(history, "steps", 0) or 0
    if len(val_steps) == n_val and steps and n_epochs:
        return np.asarray(val_steps, dtype=float) * n_epochs / steps
    return np.arange(1, n_val + 1, dtype=float)


def _best_validation_index(history: object, n_val: int) -> int | None:
    """Index into ``val_loss`` of the best validation (``best_step`` first, else ``best_epoch``)."""
    val_steps = list(getattr(history, "val_steps", []) or [])
    best_step = getattr(history, "best_step", None)
    if best_step is not None and best_step in val_steps:
        return val_steps.index(best_step)
    best = getattr(history, "best_epoch", None)
    return best if best is not None and 0 <= best < n_val else None


def training_curves(
    history: object,
    ax: Axes | None = None,
    *,
    label: str = "",
    ylabel: str = "loss",
    logy: bool = False,
) -> Axes:
    """Training (solid) and validation (dashed) loss from a ``train.History``; marks the best validation.

    The x axis counts epochs. A validation taken every ``eval_every`` steps sits at its own step, converted to
    (fractional) epochs with the history's steps per epoch, so several validations per epoch, or one every few
    epochs, land where they were measured.
    """
    train_loss: Sequence[float] = getattr(history, "train_loss", [])
    val_loss: Sequence[float] = getattr(history, "val_loss", [])
    ax = _new_ax(ax, figsize=(6, 3.5))
    prefix = f"{label} " if label else ""
    epochs = np.arange(1, len(train_loss) + 1)
    (line,) = ax.plot(epochs, train_loss, label=f"{prefix}train")
    if len(val_loss):
        val_x = _validation_epochs(history, len(val_loss), len(train_loss))
        ax.plot(val_x, val_loss, "--", color=line.get_color(), label=f"{prefix}validation")
        best = _best_validation_index(history, len(val_loss))
        if best is not None:
            ax.plot(val_x[best], val_loss[best], "o", color=line.get_color())
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    return ax
