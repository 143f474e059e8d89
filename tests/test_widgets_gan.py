"""The chapter 05 GAN training explorer, without a browser: snapshots of a real (tiny) GAN, the slider, the counts."""

import numpy as np
import pytest
import torch

from course_lib.data.toys import make_gaussian_ring, ring_centres
from course_lib.metrics.toy2d import high_quality_share, modes_covered
from course_lib.models.gan import mlp_gan
from course_lib.train import Snapshots, fit
from course_lib.widgets import slider
from course_lib.widgets.gan import GANFrame, draw_gan_snapshot, frame_title, gan_training_explorer, snapshot_2d


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    model = mlp_gan(noise_dim=2, hidden=16, layers=2)
    z = torch.randn(200, 2, generator=torch.Generator().manual_seed(1))
    snaps = Snapshots(every=5, fn=snapshot_2d(z, limits=(-3, 3), resolution=20))
    fit(model, make_gaussian_ring(512, seed=0), steps=15, batch_size=64, optimizer=model.adam_optimizers(lr=1e-3),
        callbacks=[snaps], progress=False)
    return model, z, snaps


def test_snapshots_hold_the_samples_of_the_fixed_noise_and_d_on_the_grid(trained):
    model, z, snaps = trained
    assert snaps.steps == [0, 5, 10, 15]
    last = snaps.values[-1]
    with torch.no_grad():
        assert np.allclose(last["samples"], model.generate(z).numpy(), atol=1e-6)  # eval mode, same weights
        # surface[i, j] is D at (x_j, y_i): check one corner and one off-diagonal point
        axis = torch.linspace(-3, 3, 20)
        point = torch.stack([axis[3], axis[17]])[None]  # x = axis[3], y = axis[17]
        assert np.isclose(last["surface"][17, 3], torch.sigmoid(model.discriminate(point)).item(), atol=1e-6)
    assert last["surface"].shape == (20, 20) and (0 < last["surface"]).all() and (last["surface"] < 1).all()
    assert not np.allclose(snaps.values[0]["samples"], last["samples"])  # training moved the samples


def test_the_slider_redraws_and_counts_the_modes(trained):
    import ipywidgets as widgets

    _, _, snaps = trained
    centres = ring_centres(8, 2.0)
    explorer = gan_training_explorer(snaps.steps, snaps.values, centres=centres, std=0.02)
    control = slider(explorer, "snapshot")
    assert isinstance(control, widgets.IntSlider) and (control.min, control.max) == (0, 3)
    first = explorer.result
    assert isinstance(first, GANFrame) and first.step == 0
    control.value = 3
    last = explorer.result
    assert last.step == 15 and last.figure is not first.figure
    samples = snaps.values[3]["samples"]
    assert last.modes == modes_covered(samples, centres, 0.02)
    assert last.quality == high_quality_share(samples, centres, 0.02)


def test_explorer_refuses_mismatched_inputs(trained):
    _, _, snaps = trained
    with pytest.raises(ValueError, match="one step per snapshot"):
        gan_training_explorer(snaps.steps[:-1], snaps.values)


def test_titles_and_drawing():
    assert frame_title(1200, 7, 0.914, 8) == "step 1200: 7/8 modes, 91 % high quality"
    assert frame_title(5, None, None, None) == "step 5"
    assert frame_title(5, 3, 0.5, 8, sep="\n") == "step 5\n3/8 modes, 50 % high quality"
    snapshot = {"samples": np.zeros((3, 2)), "surface": np.full((4, 4), 0.5), "limits": (-1.0, 1.0)}
    ax = draw_gan_snapshot(snapshot, data=np.ones((5, 2)), centres=np.zeros((1, 2)), title="t")
    assert ax.get_title() == "t" and ax.get_xlim() == (-1.0, 1.0)
