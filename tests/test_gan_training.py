"""Each GAN of the library learns: on a short run its metric improves clearly over its untrained state.

The 2-D GANs on the ring of eight Gaussians (distance of samples to the nearest centre, modes reached within
10 std), the DCGAN on digits (Fréchet distance over its floor) and the conditional DCGAN (the fixed classifier
recognises the class it was asked for). Budgets are a few hundred steps; the benchmarks are in
course_lib.experiments.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.config import torch_threads
from course_lib.data import load_digits_split
from course_lib.data.toys import make_gaussian_ring, ring_centres
from course_lib.metrics.features import classify, from_gan_range, to_gan_range
from course_lib.metrics.frechet import frechet_distance_digits, frechet_floor
from course_lib.metrics.toy2d import modes_covered
from course_lib.models.gan import GAN, conditional_dcgan, dcgan, mlp_gan
from course_lib.train import fit

RING = ring_centres(8, 2.0)


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _samples(model: GAN, n: int = 1000, context: torch.Tensor | None = None) -> torch.Tensor:
    return model.eval().sample(n, context=context, generator=torch.Generator().manual_seed(1))


def _distance_to_ring(x: torch.Tensor) -> float:
    return torch.cdist(x, RING).min(dim=1).values.mean().item()


@pytest.mark.parametrize("options, steps, lr", [
    (dict(), 200, 1e-3),
    (dict(loss="wasserstein", gradient_penalty=10.0, n_critic=5), 100, 1e-3),
], ids=["non-saturating", "wgan-gp"])
def test_2d_gan_moves_its_samples_onto_the_ring(options, steps, lr):
    torch.manual_seed(0)
    model = mlp_gan(hidden=64, **options)
    before = _samples(model)
    fit(model, make_gaussian_ring(4000, seed=0), steps=steps, batch_size=128,
        optimizer=model.adam_optimizers(lr=lr, betas=(0.5, 0.9)), progress=False)
    after = _samples(model)
    assert _distance_to_ring(after) < 0.7 * _distance_to_ring(before)
    assert modes_covered(after, RING, 0.02, radius_in_std=10) > modes_covered(before, RING, 0.02, radius_in_std=10)


def test_dcgan_lowers_its_frechet_distance():
    split = load_digits_split()
    torch.manual_seed(0)
    model = dcgan(channels=32)  # the recipe's network at a quarter of its width: a short test
    before = frechet_distance_digits(from_gan_range(_samples(model)), split.test) / frechet_floor()
    fit(model, to_gan_range(split.train), steps=150, batch_size=64, optimizer=model.adam_optimizers(),
        progress=False)
    after = frechet_distance_digits(from_gan_range(_samples(model)), split.test) / frechet_floor()
    assert after < 0.4 * before, (before, after)


def test_conditional_dcgan_draws_the_class_it_is_asked_for():
    split = load_digits_split()
    torch.manual_seed(0)
    model = conditional_dcgan(channels=32)
    labels = torch.arange(1000) % 10
    before = (classify(from_gan_range(_samples(model, context=labels))) == labels.numpy()).mean()
    fit(model, (to_gan_range(split.train), split.train_labels), steps=200, batch_size=64,
        optimizer=model.adam_optimizers(), progress=False)
    after = (classify(from_gan_range(_samples(model, context=labels))) == labels.numpy()).mean()
    assert before < 0.15 and after > max(0.15, before + 0.05), (before, after)
    assert np.isfinite(after)
