"""The chapter's music benchmark: unigram, Markov and GRU models of the chorales' soprano, in nats per note.

    python -m course_lib.applications.music_benchmark --seeds 0 1 2 [--jobs 3] [--out results.json]
    python -m course_lib.applications.music_benchmark --seeds 0 --skip-baselines --recipe metre_steps=0

Every number is an exact held-out NLL in nats per token (notes, rests and one end token per chorale) on the
test split of :func:`course_lib.data.music.load_chorale_split`. The baselines are chosen on the validation
split: the training set (as it is, or with every transposition of :data:`TRANSPOSITIONS` that stays in
range), the order and alpha. "unigram" is the best order 1, "bigram" the best first-order Markov chain, and
"markov" the best n-gram overall. The GRU (``GRU_FULL``) is trained once per seed, each run on one thread,
and its CPU seconds (``time.process_time`` of the process that trained it, which a loaded machine barely
changes) and wall-clock seconds are recorded. ``--jobs N`` trains N seeds at once in their own processes,
while the baselines are fitted in the main one. ``COURSE_FAST=1`` uses ``GRU_FAST`` and a small grid (the
same code path). ``--recipe field=value ...`` changes fields of that recipe (a variant to compare on
validation, e.g. ``metre_steps=0`` for the GRU without the metre embedding). With ``--out`` the file
starts with the provenance of the run (command, date, commit, cores), as the ladder's results files do.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from course_lib.applications.music import (
    GRU_FAST,
    GRU_FULL,
    TRANSPOSITIONS,
    GRURecipe,
    NGramModel,
    nats_per_note,
    select_ngram,
    train_gru,
)
from course_lib.config import budget
from course_lib.data.music import SOPRANO, encode_voice, load_chorale_split
from course_lib.leaderboard import provenance


def _data(progress: bool = False) -> tuple[dict, object, object, object]:
    split = load_chorale_split(progress=progress)
    trains = {"original": encode_voice(split.train),
              "transposed": encode_voice(split.train, transpositions=TRANSPOSITIONS)}
    return trains, encode_voice(split.val), encode_voice(split.test), split


def recipe_with(changes: dict[str, str] | None = None) -> GRURecipe:
    """The GRU recipe of the current budget, with fields replaced by ``changes`` (strings, as on the command
    line, converted to each field's type)."""
    recipe = budget(GRU_FULL, GRU_FAST)
    kinds = {f.name: type(getattr(recipe, f.name)) for f in dataclasses.fields(recipe)}
    changes = changes or {}
    unknown = sorted(set(changes) - set(kinds))
    if unknown:
        raise ValueError(f"unknown recipe fields {unknown}; the fields are {sorted(kinds)}")
    convert = {bool: lambda v: v.lower() in ("1", "true", "yes")}
    return dataclasses.replace(recipe, **{k: convert.get(kinds[k], kinds[k])(v) for k, v in changes.items()})


def train_seed(seed: int, progress: bool = False, changes: dict[str, str] | None = None) -> dict:
    """Train the GRU recipe (:func:`recipe_with`) for one seed; its validation and test nats per note, steps
    and CPU and wall seconds."""
    trains, val, test, _ = _data()
    cpu = time.process_time()
    model, history = train_gru(trains["transposed"], val, SOPRANO, recipe_with(changes), seed=seed,
                               progress=progress)
    run = {"seed": seed, "val": history.best_val_loss, "test": nats_per_note(model, test),
           "steps": history.steps, "best_step": history.best_step,
           "cpu_seconds": time.process_time() - cpu, "seconds": history.seconds}
    if progress:
        print(f"seed {seed}: test {run['test']:.3f} nats per note, {run['cpu_seconds']:.0f} CPU s, "
              f"{run['seconds']:.0f} wall s", flush=True)
    return run


def run(seeds: Sequence[int] = (0, 1, 2), progress: bool = True, baselines: bool = True, jobs: int = 1,
        changes: dict[str, str] | None = None) -> dict:
    """Fit the baselines (unless ``baselines=False``) and train one GRU per seed (``jobs`` at a time, each in
    its own process when ``jobs > 1``); returns every number (see the module docstring)."""
    trains, val, test, split = _data(progress)
    result: dict = {"split": {"train": len(split.train), "val": len(split.val), "test": len(split.test)},
                    "tokens": {"train": int((trains["original"][:, 1:] != -1).sum()),
                               "test": int((test[:, 1:] != -1).sum())}}
    recipe = recipe_with(changes)
    if jobs > 1:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(train_seed, seed, progress, changes) for seed in seeds]
            if baselines:  # meanwhile, in this process
                result.update(_baselines(trains, val, test))
            runs = [f.result() for f in futures]
    else:
        if baselines:
            result.update(_baselines(trains, val, test))
        runs = [train_seed(seed, progress, changes) for seed in seeds]
    if runs:
        tests = [r["test"] for r in runs]
        result["gru"] = {"recipe": recipe.__dict__, "runs": runs, "test_mean": statistics.mean(tests),
                         "test_std": statistics.stdev(tests) if len(tests) > 1 else 0.0}
        if baselines:
            result["gain_over_markov"] = result["baselines"]["markov"]["test"] - statistics.mean(tests)
    return result


def _baselines(trains: dict, val, test) -> dict:
    """Unigram, bigram and the best n-gram, each chosen on validation; their test NLLs."""
    orders = budget((1, 2, 3, 4, 5, 6), (1, 2))
    alphas = budget((1.0, 3.0, 10.0, 30.0, 100.0, 300.0), (1.0, 10.0))
    start, cpu = time.perf_counter(), time.process_time()
    _, scores = select_ngram(trains, val, SOPRANO.size, orders, alphas)
    baselines = {}
    for name, allowed in [("unigram", (1,)), ("bigram", (2,)), ("markov", orders)]:
        (data, order, alpha), val_nll = min(((k, v) for k, v in scores.items() if k[1] in allowed),
                                            key=lambda kv: kv[1])
        model = NGramModel(trains[data], SOPRANO.size, order, alpha)
        baselines[name] = {"train_set": data, "order": order, "alpha": alpha, "val": val_nll,
                           "test": nats_per_note(model, test)}
    return {"baselines": baselines, "baseline_seconds": time.perf_counter() - start,
            "baseline_cpu_seconds": time.process_time() - cpu}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--skip-baselines", action="store_true", help="train the GRU only")
    parser.add_argument("--jobs", type=int, default=1, help="seeds trained at once, each in its own process")
    parser.add_argument("--recipe", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="change fields of the GRU recipe, e.g. metre_steps=0")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if any("=" not in c for c in args.recipe):
        parser.error("--recipe takes FIELD=VALUE pairs, e.g. --recipe metre_steps=0 steps=500")
    changes = dict(c.split("=", 1) for c in args.recipe)
    result = run(args.seeds, baselines=not args.skip_baselines, jobs=args.jobs, changes=changes)
    argv = list(sys.argv[1:] if argv is None else argv)
    header = provenance(argv, time.perf_counter() - start)
    header["command"] = " ".join(["python -m course_lib.applications.music_benchmark", *argv])
    header["torch_threads"] = recipe_with(changes).threads  # per training process
    result = {"provenance": header, **result}
    text = json.dumps(result, indent=1, default=str)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
