"""Chapter 06's diffusion rung of the ladder, on its fast twin (same code path, fewer steps)."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib import leaderboard
from course_lib.ladder import ch06_diffusion


def test_fast_twin_gives_one_bound_row():
    (row,) = leaderboard.run(["diffusion (categorical decoder)"], fast=True, progress=False)
    assert row.model == ch06_diffusion.NAME and row.chapter == "06" and row.data == "digits17"
    assert row.kind == "bound" and row.params > 0 and row.train_seconds > 0
    assert math.isfinite(row.test_nll_nats) and 0 < row.test_nll_nats < 2 * 64 * math.log(17)
    assert row.bits_per_dim == pytest.approx(row.test_nll_nats / (64 * math.log(2)))


def test_command_line_reports_validation_and_standard_error(capsys):
    ch06_diffusion.main(["--fast", "--set", "steps=10", "eval_every=5"])
    out = capsys.readouterr().out
    assert "val bound" in out and "±" in out and "test bound" not in out  # test only on request


def test_flow_matching_recipe_reports_a_frechet_distance(capsys):
    ch06_diffusion.main(["--model", "flow_matching", "--fast", "--set", "steps=10", "eval_every=5"])
    out = capsys.readouterr().out
    assert "Fréchet floor" in out and "val FD" in out and "x floor" in out and "test FD" not in out


def test_refitting_the_time_proposal_during_training_keeps_a_distribution():
    from course_lib.data import load_digits_split

    recipe = ch06_diffusion.DIFFUSION_FAST
    recipe = type(recipe)(**{**recipe.__dict__, "steps": 12, "eval_every": 6, "proposal_every": 4})
    model, seconds, vals = ch06_diffusion.train_digits_diffusion(load_digits_split(), recipe, seed=0)
    q = model.time_proposal
    assert q.sum().item() == pytest.approx(1.0) and (q > 0).all() and not torch.allclose(q, q.mean().expand_as(q))
    assert len(vals) == 2 and seconds > 0
