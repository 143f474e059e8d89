"""Modes covered and high-quality share on the 2-D Gaussian mixtures (course_lib.metrics.toy2d)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.data.toys import grid_centres, make_gaussian_grid, make_gaussian_ring, ring_centres
from course_lib.metrics.toy2d import MIN_SHARE, assign_modes, high_quality_share, mode_counts, modes_covered

RING, GRID = ring_centres(8, 2.0), grid_centres(5, 2.0)


def test_centres_and_generators_agree():
    assert RING.shape == (8, 2) and GRID.shape == (25, 2)
    assert torch.allclose(RING.norm(dim=1), torch.full((8,), 2.0))
    assert sorted(set(GRID[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    x = make_gaussian_ring(4000, seed=3)
    counts = mode_counts(x, RING, 0.02)
    assert counts.sum() > 0.97 * 4000 and counts.min() > 400  # every mode about 500


def test_assign_modes_uses_standard_deviations_not_variances():
    std = 0.02
    offsets = torch.tensor([[2.5 * std, 0.0], [0.0, 2.9 * std], [3.2 * std, 0.0], [0.0, 10 * std]])
    x = RING[[1, 2, 3, 4]] + offsets
    assert assign_modes(x, RING, std).tolist() == [1, 2, -1, -1]
    assert assign_modes(x, RING, std, radius_in_std=4.0).tolist() == [1, 2, 3, -1]
    assert high_quality_share(x, RING, std) == 0.5


@pytest.mark.parametrize("n", [1000, 2500])
@pytest.mark.parametrize("task", ["ring8", "grid25"])
def test_a_perfect_sampler_covers_every_mode(task, n):
    for seed in range(5):
        if task == "ring8":
            x, centres, std = make_gaussian_ring(n, seed=seed), RING, 0.02
        else:
            x, centres, std = make_gaussian_grid(n, seed=seed), GRID, 0.05
        assert modes_covered(x, centres, std) == len(centres)
        assert abs(high_quality_share(x, centres, std) - (1 - np.exp(-4.5))) < 0.015  # 0.989 for a 2-D Gaussian


def test_modes_are_counted_not_samples_and_stray_points_do_not_cover():
    x = make_gaussian_ring(1000, seed=0)
    modes = assign_modes(x, RING, 0.02)
    collapsed = x[(modes == 0) | (modes == 5)]  # a sampler that dropped six modes
    assert modes_covered(collapsed, RING, 0.02) == 2
    strays = torch.cat([collapsed, RING[3:4].repeat(int(MIN_SHARE * len(collapsed)) - 1, 1)])
    assert modes_covered(strays, RING, 0.02) == 2  # just under 1 % of the samples: not covered
    enough = torch.cat([strays, RING[3:4].repeat(3, 1)])
    assert modes_covered(enough, RING, 0.02) == 3


def test_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        assign_modes(torch.zeros(5, 3), RING, 0.02)
    with pytest.raises(ValueError, match="positive"):
        assign_modes(torch.zeros(5, 2), RING, 0.0)
    with pytest.raises(ValueError, match="share"):
        modes_covered(torch.zeros(5, 2), RING, 0.02, min_share=5)
