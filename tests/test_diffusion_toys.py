"""Diffusion and flow matching on a 2-D toy: a short run brings each sampler's samples close to held-out data.

Closeness is the energy distance 2 E|a - b| - E|a - a'| - E|b - b'| (Székely), zero only for equal
distributions; the untrained model's samples are the reference.
"""

from __future__ import annotations

import pytest
import torch

from course_lib.config import torch_threads
from course_lib.data import make_two_moons
from course_lib.models.diffusion import diffusion_2d
from course_lib.models.flow_matching import flow_matching_2d
from course_lib.train import fit


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


def energy_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return (2 * torch.cdist(a, b).mean() - torch.cdist(a, a).mean() - torch.cdist(b, b).mean()).item()


SAMPLERS = {
    "flow matching, midpoint": (lambda: flow_matching_2d(hidden=64, blocks=2), {"steps": 20}),
    "flow matching, euler": (lambda: flow_matching_2d(hidden=64, blocks=2), {"steps": 40, "method": "euler"}),
    "diffusion, DDPM": (lambda: diffusion_2d(timesteps=100, hidden=64, blocks=2), {"method": "ddpm"}),
    "diffusion, DDIM 20 steps": (lambda: diffusion_2d(timesteps=100, hidden=64, blocks=2),
                                 {"method": "ddim", "steps": 20}),
}


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_a_short_run_on_two_moons_brings_samples_close_to_held_out_data(name):
    build, options = SAMPLERS[name]
    train, held_out = make_two_moons(2000, seed=0), make_two_moons(1000, seed=1)
    torch.manual_seed(0)
    model = build()
    generator = torch.Generator().manual_seed(0)
    before = energy_distance(model.sample(1000, generator=generator, **options), held_out)
    fit(model, train, steps=400, lr=3e-3, batch_size=256, progress=False)
    after = energy_distance(model.sample(1000, generator=torch.Generator().manual_seed(0), **options), held_out)
    floor = energy_distance(make_two_moons(1000, seed=2), held_out)  # two samples of the data itself
    assert after < 0.25 * before and after < 0.05, (before, after, floor)
