"""The latent-space explorer of chapter 04: two sliders choose a point z, the decoder draws its digit.

``latent_explorer(model)`` returns an ``ipywidgets.interactive`` widget with sliders ``z1`` and ``z2`` (the
two latent coordinates shown; any other coordinates stay at 0). Beside the decoded mean image E[x | z] it
draws, when given, the map of encoded digits with a cross at the chosen z. ``widget.result`` is the last
:class:`LatentView`, so a test (or a kernel) can set a slider and read what was drawn, without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from course_lib.models.vae import VAE
from course_lib.widgets.common import figure_to_png


@dataclass
class LatentView:
    """What the explorer drew last: the latent point z (latent_dim,), the decoded mean image (8, 8)."""

    z: np.ndarray
    image: np.ndarray
    figure: Figure


def decode_point(model: VAE, z: Tensor, y: int | None = None) -> np.ndarray:
    """The decoder's mean image E[x | z] for one latent point z (latent_dim,), as an (8, 8) array."""
    model.eval()
    label = None if y is None else torch.tensor([int(y)])
    return model.decode_mean(z.view(1, -1).float(), label).view(8, 8).cpu().numpy()


def latent_explorer(model: VAE, *, embedding: Tensor | None = None, labels: Tensor | None = None,
                    dims: tuple[int, int] = (0, 1), limit: float = 3.0, y: int | None = None):
    """Build the explorer for a trained VAE and return the ``ipywidgets.interactive`` widget.

    Args:
        model: a :class:`~course_lib.models.vae.VAE` (a conditional one needs ``y``).
        embedding: optional (N, latent_dim) posterior means of some digits, drawn as the background map.
        labels: optional (N,) digit labels that colour the map.
        dims: which two latent coordinates the sliders move.
        limit: the sliders run over [-limit, limit] (the prior N(0, 1) puts 99.7% of its mass in [-3, 3]).
        y: the label to condition on, for a conditional VAE.
    """
    import ipywidgets as widgets
    from IPython.display import display

    if model.num_classes and y is None:
        raise ValueError("a conditional VAE needs the digit to draw: latent_explorer(model, y=3)")
    vmax = 16.0 if model.data == "digits17" else 1.0
    points = None if embedding is None else embedding[:, list(dims)].detach().cpu().numpy()

    def draw(z1: float, z2: float) -> LatentView:
        z = torch.zeros(model.latent_dim)
        z[dims[0]], z[dims[1]] = z1, z2
        image = decode_point(model, z, y)
        figure = Figure(figsize=(7.5 if points is not None else 3.2, 3.4), dpi=72)
        if points is not None:
            ax_map, ax_img = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.35, 1]})
            colours = None if labels is None else labels.cpu().numpy()
            sc = ax_map.scatter(points[:, 0], points[:, 1], c=colours, cmap="tab10", s=6, alpha=0.6,
                                vmin=-0.5, vmax=9.5)
            if labels is not None:
                figure.colorbar(sc, ax=ax_map, ticks=range(10), fraction=0.05, pad=0.02)
            ax_map.plot([z1], [z2], "k+", ms=16, mew=2.5)
            ax_map.set_xlim(-limit, limit)
            ax_map.set_ylim(-limit, limit)
            ax_map.set_xlabel(f"z{dims[0] + 1}")
            ax_map.set_ylabel(f"z{dims[1] + 1}")
            ax_map.set_title("encoded digits (posterior means)", fontsize=10)
        else:
            ax_img = figure.subplots()
        ax_img.imshow(image, cmap="gray_r", vmin=0, vmax=vmax)
        ax_img.set_axis_off()
        ax_img.set_title(f"decoded E[x | z], z = ({z1:.2f}, {z2:.2f})", fontsize=10)
        figure.tight_layout()
        display(figure_to_png(figure))
        return LatentView(z.numpy(), image, figure)

    sliders = {name: widgets.FloatSlider(value=0.0, min=-limit, max=limit, step=0.05, description=name,
                                         continuous_update=True) for name in ("z1", "z2")}
    return widgets.interactive(draw, **sliders)
