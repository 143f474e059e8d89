"""Chapter 06's flow rungs of the ladder: the fast twins run through the leaderboard and give labelled bounds."""

from __future__ import annotations

import math

import pytest

from course_lib import leaderboard
from course_lib.ladder import ch06_flows
from course_lib.ladder.ch06_flows import UNIFORM, VARIATIONAL, fast_twin


@pytest.fixture(scope="module")
def rows():
    names = ["RealNVP (uniform dequantisation)", "RealNVP (variational dequantisation)"]
    return {r.model: r for r in leaderboard.run(names, fast=True, progress=False)}


def test_flow_rows_are_labelled_bounds_and_an_estimate_on_the_17_level_digits(rows):
    assert set(rows) == {"RealNVP (uniform dequantisation), negative ELBO",
                         "RealNVP (variational dequantisation), negative ELBO",
                         f"RealNVP (variational dequantisation), IW k={fast_twin(VARIATIONAL).iw_k}"}
    for name, r in rows.items():
        kind = "estimate" if ", IW k=" in name else "bound"  # as chapter 04's IWAE rows
        assert r.chapter == "06" and r.data == "digits17" and r.kind == kind
        assert math.isfinite(r.test_nll_nats) and r.train_seconds > 0 and r.params > 0
        # two epochs of a small flow already beat the uniform distribution over the 17 levels
        assert 64 * math.log(2) < r.test_nll_nats < 64 * math.log(17)
    elbo = rows["RealNVP (variational dequantisation), negative ELBO"].test_nll_nats
    iw = rows[f"RealNVP (variational dequantisation), IW k={fast_twin(VARIATIONAL).iw_k}"].test_nll_nats
    assert iw < elbo  # the k-sample estimate is no looser than the ELBO


def test_fast_twins_keep_the_recipe_and_shrink_the_budget():
    for recipe in (UNIFORM, VARIATIONAL):
        twin = fast_twin(recipe)
        assert twin.dequantization == recipe.dequantization and twin.net == recipe.net
        assert twin.epochs < recipe.epochs and twin.hidden <= recipe.hidden
    assert ch06_flows.VARIATIONAL.dequantization == "variational" and ch06_flows.UNIFORM.dequantization == "uniform"
