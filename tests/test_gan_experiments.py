"""The chapter 05 experiments: the stabiliser table's command line and records, and the digits recipes'
scoring (course_lib.experiments.gan_stabilisers, course_lib.experiments.gan_digits)."""

from __future__ import annotations

import json

import pytest
import torch

from course_lib.config import torch_threads
from course_lib.data import load_digits_split
from course_lib.experiments import gan_digits, gan_stabilisers
from course_lib.models.gan import mlp_gan


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def test_run_row_returns_the_record_the_command_writes(tmp_path):
    record = gan_stabilisers.run_row("spectral_norm", "grid25", seed=1, fast=True)
    assert record["task"] == "grid25" and record["row"] == "spectral_norm" and record["seed"] == 1
    assert record["modes"] == 25 and 0 <= record["modes_covered"] <= 25 and 0 <= record["high_quality"] <= 1
    assert record["steps"] == gan_stabilisers.BUDGET["fast"].steps and record["fast"] and record["seconds"] > 0
    out = tmp_path / "table.jsonl"
    gan_stabilisers.main(["--seeds", "1", "--fast", "--only", "spectral_norm", "--task", "grid25",
                          "--out", str(out)])
    header, records = gan_stabilisers.read_results(out)
    assert header["cpu_count"] and header["torch_threads"] == 1 and "--only spectral_norm" in header["command"]
    assert len(records) == 1
    clocks = {"seconds", "cpu_seconds"}
    assert record["cpu_seconds"] > 0
    assert {k: v for k, v in records[0].items() if k not in clocks} == {k: v for k, v in record.items()
                                                                        if k not in clocks}


def test_rows_cover_the_issue_and_unknown_names_are_refused():
    assert set(gan_stabilisers.ROWS) == {"minimax", "non_saturating", "batch_norm", "spectral_norm", "wgan_clip",
                                         "wgan_gp", "grad_clip", "ttur"}
    with pytest.raises(ValueError, match="unknown row"):
        gan_stabilisers.run_row("dropout", "ring8", fast=True)
    with pytest.raises(ValueError, match="unknown task"):
        gan_stabilisers.run_row("ttur", "ring9", fast=True)


def test_summarise_counts_seeds_that_meet_the_benchmark():
    records = [{"task": "ring8", "row": "a", "seed": s, "modes": 8, "modes_covered": m, "high_quality": q,
                "seconds": 1.0} for s, m, q in [(0, 8, 0.95), (1, 8, 0.85), (2, 7, 0.97)]]
    (row,) = gan_stabilisers.summarise(records)
    assert row["all_modes"] == 2 and row["benchmark"] == 1 and row["modes_covered"] == pytest.approx(23 / 3)
    assert row["high_quality_min"] == 0.85


def test_read_results_needs_a_header(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"task": "ring8"}) + "\n")
    with pytest.raises(ValueError, match="header"):
        gan_stabilisers.read_results(path)


def test_committed_results_hold_every_row_task_and_seed():
    from pathlib import Path

    path = Path(gan_stabilisers.__file__).parent / "results" / "gan_stabilisers.jsonl"
    if not path.exists():
        pytest.skip("the results file has not been computed yet")
    header, records = gan_stabilisers.read_results(path)
    assert "--seeds 0 1 2" in header["command"] and not any(r["fast"] for r in records)
    keys = {(r["task"], r["row"], r["seed"]) for r in records}
    assert keys == {(t, r, s) for t in gan_stabilisers.TASKS for r in gan_stabilisers.ROWS for s in (0, 1, 2)}


def test_evaluate_digits_on_real_images_scores_like_real_images():
    split = load_digits_split()
    scores = gan_digits.evaluate_digits(split.val.float(), split)
    assert 0.5 < scores["fd_over_floor"] < 4  # 350 real images: near the floor (smaller sets score higher)
    assert scores["precision"] > 0.7 and scores["recall"] > 0.7 and scores["min_class_share"] > 0.05
    assert scores["near_copies"] < 0.05  # new images of the same distribution are not copies
    copies = gan_digits.evaluate_digits(split.train[:400].float(), split)
    assert copies["near_copies"] == 1.0  # the training images themselves are
    with pytest.raises(ValueError, match="never the training"):
        gan_digits.evaluate_digits(split.val.float(), split, reference="train")


def test_fast_digits_recipe_runs_and_leaves_the_global_stream_alone():
    state = torch.get_rng_state()
    model, info = gan_digits.train_digits_gan(recipe="conditional_dcgan", seed=0, fast=True)
    assert torch.equal(state, torch.get_rng_state())
    samples, labels = gan_digits.sample_digits(model, 20)
    assert samples.shape == (20, 64) and samples.min() >= 0 and samples.max() <= 16
    assert labels.tolist() == [i % 10 for i in range(20)] and info["steps"] == gan_digits.RECIPES["dcgan"].fast_steps


class _PrefersRight(torch.nn.Module):
    """A discriminator whose logit grows with x's first coordinate (in units of ``scale``)."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x, context=None):
        return 3 * x[:, 0] / self.scale


def test_rejection_sampling_keeps_the_samples_the_discriminator_prefers():
    torch.manual_seed(0)
    model = mlp_gan()
    plain = model.sample(3000, generator=torch.Generator().manual_seed(1))[:, 0]
    model.discriminator = _PrefersRight(float(plain.std()))
    kept, share = gan_stabilisers.rejection_sample(model, 3000, 0.8, generator=torch.Generator().manual_seed(1))
    assert kept.shape == (3000, 2) and 0 < share < 0.9
    assert kept[:, 0].mean() > plain.mean() + 0.5 * plain.std()
    stricter, fewer = gan_stabilisers.rejection_sample(model, 3000, 0.95, generator=torch.Generator().manual_seed(1))
    assert fewer < share and stricter[:, 0].mean() > kept[:, 0].mean()
    with pytest.raises(ValueError, match="quantile"):
        gan_stabilisers.rejection_sample(model, 10, 1.0)


def test_benchmark_command_writes_plain_and_rejection_scores(tmp_path):
    out = tmp_path / "bench.jsonl"
    gan_stabilisers.main(["--benchmark", "--fast", "--seeds", "0", "--task", "ring8", "--out", str(out)])
    header, (record,) = gan_stabilisers.read_results(out)
    assert header["benchmark"]["steps"] == gan_stabilisers.BENCHMARK.steps and "load_average_start" in header
    assert record["row"] == gan_stabilisers.BENCHMARK.row and record["fast"] and record["cpu_seconds"] > 0
    assert 0 < record["drs_kept"] <= 1 and 0 <= record["drs_high_quality"] <= 1 and len(record["load_average"]) == 3
    with pytest.raises(SystemExit):
        gan_stabilisers.main(["--benchmark", "--only", "ttur", "--out", str(out)])


def test_committed_benchmark_meets_the_issue_with_rejection_sampling():
    from pathlib import Path

    for task, modes in [("ring8", 8), ("grid25", 25)]:
        name = "gan_benchmark.jsonl" if task == "ring8" else f"gan_benchmark_{task}.jsonl"
        header, records = gan_stabilisers.read_results(Path(gan_stabilisers.__file__).parent / "results" / name)
        assert "--benchmark --seeds 0 1 2" in header["command"] and header["torch_threads"] == 1
        assert {r["seed"] for r in records} == {0, 1, 2} and not any(r["fast"] for r in records)
        assert all(r["task"] == task and r["modes"] == modes and r["steps"] == gan_stabilisers.BENCHMARK.steps
                   for r in records)
    ring = gan_stabilisers.read_results(Path(gan_stabilisers.__file__).parent / "results" / "gan_benchmark.jsonl")[1]
    assert all(r["drs_modes_covered"] == 8 and r["drs_high_quality"] >= 0.9 and r["cpu_seconds"] <= 60 for r in ring)
