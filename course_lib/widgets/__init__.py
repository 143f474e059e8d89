"""Interactive explorers for the lectures, built on ``ipywidgets.interactive``; one module per explorer.

- ``density_explorer`` (chapter 01): histogram and KDE fits with bins and bandwidth sliders.
- ``em_explorer`` (chapter 02): the iterations of EM on a Gaussian mixture, one slider step per iteration.
- ``latent_explorer`` (chapter 04): two latent coordinates of a VAE -> the decoded digit.
- ``gan_training_explorer`` (chapter 05): a slider over a 2-D GAN's training snapshots (samples, D's surface).

Each returns its widget, so a test (or a kernel) can set a slider with ``slider(widget, name).value = ...``
and read what it drew.
"""

from course_lib.widgets.common import figure_to_png, slider
from course_lib.widgets.density import DensityFit, density_explorer
from course_lib.widgets.em import EMFrame, draw_em_iterations, draw_em_state, em_explorer, em_snapshots
from course_lib.widgets.gan import GANFrame, draw_gan_snapshot, gan_training_explorer, snapshot_2d
from course_lib.widgets.latent import LatentView, decode_point, latent_explorer

__all__ = [
    "DensityFit",
    "EMFrame",
    "GANFrame",
    "LatentView",
    "decode_point",
    "density_explorer",
    "draw_em_iterations",
    "draw_em_state",
    "draw_gan_snapshot",
    "em_explorer",
    "em_snapshots",
    "figure_to_png",
    "gan_training_explorer",
    "latent_explorer",
    "slider",
    "snapshot_2d",
]
