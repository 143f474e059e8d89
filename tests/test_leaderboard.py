"""The digits NLL ladder: registry, runner, table, JSON and the command line; chapter 02's rungs."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib import leaderboard
from course_lib.leaderboard import LadderResult

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"model", "chapter", "data", "test_nll_nats", "bits_per_dim", "kind", "train_seconds", "params"}


@pytest.fixture(scope="module")
def chapter02():
    return leaderboard.run(chapters=["02"], fast=True, progress=False)


def test_chapter02_rungs(chapter02):
    by_name = {r.model: r for r in chapter02}
    assert set(by_name) == {"uniform (17 levels)", "independent categorical", "mixture of categoricals (EM)"}
    assert by_name["uniform (17 levels)"].test_nll_nats == pytest.approx(64 * math.log(17), abs=1e-9)
    assert by_name["uniform (17 levels)"].test_nll_nats == pytest.approx(181.33, abs=0.01)
    assert by_name["independent categorical"].test_nll_nats <= 107
    assert by_name["mixture of categoricals (EM)"].test_nll_nats < by_name["independent categorical"].test_nll_nats
    for r in chapter02:
        assert r.chapter == "02" and r.data == "digits17" and r.kind == "exact"
        assert r.bits_per_dim == pytest.approx(r.test_nll_nats / (64 * math.log(2)))


def test_table_and_json(chapter02):
    table = leaderboard.format_table(chapter02)
    assert "181.33" in table and "bits/dim" in table
    rows = [json.loads(line) for line in leaderboard.to_json_lines(chapter02).splitlines()]
    assert len(rows) == 3 and all(set(r) == KEYS for r in rows)


def test_several_seeds_give_mean_and_std():
    fake = [LadderResult("m", "02", "digits17", v, v / (64 * math.log(2)), "exact", 1.0, 5) for v in (10.0, 12.0)]
    (row,) = leaderboard.aggregate(fake)
    assert row["test_nll_nats"] == pytest.approx(11.0)
    assert row["seeds"] == 2 and row["test_nll_std"] == pytest.approx(math.sqrt(2))
    assert set(row) == KEYS | {"seeds", "test_nll_std"}
    assert "±" in leaderboard.format_table(fake)


def test_result_validates_kind_and_data():
    with pytest.raises(ValueError, match="kind"):
        LadderResult("m", "02", "digits17", 1.0, 1.0, "guess", 0.0, 0)
    with pytest.raises(ValueError, match="data"):
        LadderResult("m", "02", "mnist", 1.0, 1.0, "exact", 0.0, 0)


def test_unknown_name_lists_registered_names():
    with pytest.raises(KeyError, match="independent categorical"):
        leaderboard.run(["no such model"], fast=True)


def test_registering_the_same_name_twice_from_elsewhere_fails():
    def other(split, *, fast, seed):
        return []

    with pytest.raises(ValueError, match="registered twice"):
        leaderboard.register("uniform (17 levels)", chapter="02")(other)


def test_command_line_json_and_errors():
    cmd = [sys.executable, "-m", "course_lib.leaderboard", "--fast", "--json", "--only", "uniform (17 levels)"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    header, row = [json.loads(line) for line in done.stdout.splitlines()]
    assert set(row) == KEYS and row["test_nll_nats"] == pytest.approx(181.33, abs=0.01)
    assert header["command"] == "python -m course_lib.leaderboard --fast --json --only uniform (17 levels)"
    assert header["cores"] == os.cpu_count() and header["date"].endswith("Z") and header["wall_seconds"] >= 0
    assert "[ladder]" in done.stderr and "[ladder]" not in done.stdout
    bad = subprocess.run([sys.executable, "-m", "course_lib.leaderboard", "--only", "nope"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "registered" in bad.stderr and "uniform (17 levels)" in bad.stderr


def test_run_prints_a_line_per_entry_and_seed_as_it_finishes(capsys):
    results = leaderboard.run(["uniform (17 levels)", "independent categorical"], fast=True, seeds=[0, 1])
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "[ladder] uniform (17 levels) (chapter 02, seed 0)", "[ladder] uniform (17 levels) (chapter 02, seed 1)",
        "[ladder] independent categorical (chapter 02, seed 0)",
        "[ladder] independent categorical (chapter 02, seed 1)"]
    assert "181.33 nats" in lines[0] and len(results) == 4


@pytest.mark.parametrize(("eval_from", "epochs"), [(0.5, [2, 4]), (0.8, [4])])
def test_pixelcnn_recipe_validates_every_few_epochs_late_and_at_the_end(eval_from, epochs):
    from course_lib.data import load_digits_split
    from course_lib.ladder.ch03 import PixelCNNRecipe, train_pixelcnn

    recipe = PixelCNNRecipe(orderings=1, channels=8, num_blocks=1, epochs=4, eval_every=2, eval_from=eval_from,
                            threads=1)
    model, log = train_pixelcnn(load_digits_split(), recipe, seed=0)
    assert log["epoch"] == epochs and len(log["val_nll"]) == len(epochs)
    assert log["val_nll"][log["epoch"].index(log["best_epoch"])] == min(log["val_nll"]) < 181.33
    assert not model.training
