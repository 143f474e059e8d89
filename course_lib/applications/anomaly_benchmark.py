"""Chapter 08's anomaly benchmark: every detector's AUROC on every anomaly type, for each held-out digit class.

    python -m course_lib.applications.anomaly_benchmark --out course_lib/applications/results/anomaly_benchmark.jsonl

For each of the ten classes held out in turn, :func:`course_lib.applications.anomaly.anomaly_split` gives the
normal data (the other nine classes) and the five anomaly sets. The detectors, each trained on the normal
training images only:

- "kernel density (Gaussian)": :class:`course_lib.distributions.DiscreteKDE` with a Gaussian kernel and no
  floor (Parzen's estimator), bandwidth chosen by the mean validation log-likelihood;
- "kernel density (chosen on validation)": the same model with the kernel (Gaussian or Laplace), the
  bandwidth and the background floor all chosen on validation;
- "independent pixels": :class:`~course_lib.distributions.IndependentCategorical`, add-one smoothing;
- "LR: kernel density / independent pixels" and "typicality, M = 1 (kernel density)": the likelihood ratio
  and the per-image typicality score of :mod:`course_lib.metrics.anomaly` on the chosen kernel density;
  the entropy is estimated by its mean validation NLL (its training NLL would count each image's own kernel);
- "k-NN distance" (k = 5) and "Isolation Forest" (seeds 0, 1, 2: one row each).

The AUROC (:func:`course_lib.metrics.roc.roc_auc`) compares each anomaly set with the normal test images.
The deep models of the lecture (PixelCNN, VAE, flow) are not here: training them ten times is beyond a
benchmark meant to run in minutes on two busy cores; the lecture trains them for the held-out 9s only.

The file is JSON lines: a header with the provenance (command, date, commit, cores, torch threads, wall and
CPU seconds), one row per held-out class and detector (``held_out``, ``detector``, ``seed``, ``auroc`` by
anomaly type, ``params``), and a last row with ``summary``: each detector's AUROC averaged over the classes
(and the seeds). No number here depends on the test split except the AUROCs themselves.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from course_lib.applications.anomaly import ANOMALY_TYPES, anomaly_split, isolation_forest, knn_distance
from course_lib.data import load_digits_split
from course_lib.data.digits import NUM_LEVELS
from course_lib.distributions import KERNELS, DiscreteKDE, IndependentCategorical
from course_lib.leaderboard import provenance
from course_lib.metrics import anomaly
from course_lib.metrics.roc import roc_auc

FLOORS = (0.0, 0.03, 0.1, 0.2, 0.3, 0.5, 0.7)  # background weights tried on validation
SEEDS = (0, 1, 2)
KDE = "kernel density (chosen on validation)"


def _kde_params(model: DiscreteKDE) -> dict:
    return {"kernel": model.kernel, "bandwidth": model.bandwidth, "floor": model.floor,
            "val_log_prob": model.validation[(model.kernel, model.bandwidth, model.floor)]}


def benchmark_class(held_out: int, seeds: Sequence[int] = SEEDS, bandwidths: Sequence[float] | None = None,
                    floors: Sequence[float] = FLOORS) -> list[dict]:
    """Every detector on one held-out class: one row per detector (and per seed for the seeded ones)."""
    data = anomaly_split(load_digits_split(), held_out)
    sets = {"normal": data.test, **data.anomalies}
    parzen = DiscreteKDE.fit(data.train, data.val, NUM_LEVELS, bandwidths=bandwidths)
    kde = DiscreteKDE.fit(data.train, data.val, NUM_LEVELS, bandwidths=bandwidths, floors=floors, kernels=KERNELS)
    independent = IndependentCategorical.fit(data.train, NUM_LEVELS, alpha=1.0)
    with torch.no_grad():
        ll = {name: {s: m.log_prob(x) for s, x in sets.items()}
              for name, m in [("parzen", parzen), ("kde", kde), ("independent", independent)]}
        entropy = float(-kde.log_prob(data.val).mean())
    scores = {  # detector -> (params, seed, {set: (M,) anomaly scores})
        "kernel density (Gaussian)": (_kde_params(parzen), None,
                                      {s: anomaly.nll_score(v) for s, v in ll["parzen"].items()}),
        KDE: (_kde_params(kde), None, {s: anomaly.nll_score(v) for s, v in ll["kde"].items()}),
        "independent pixels": ({"alpha": 1.0}, None, {s: anomaly.nll_score(v) for s, v in ll["independent"].items()}),
        "LR: kernel density / independent pixels": ({}, None, {s: anomaly.likelihood_ratio_score(
            ll["kde"][s], ll["independent"][s]) for s in sets}),
        "typicality, M = 1 (kernel density)": ({"entropy": entropy}, None, {s: anomaly.typicality_score(
            -ll["kde"][s][:, None], entropy) for s in sets}),
    }
    knn = knn_distance(data.train, k=5)
    scores["k-NN distance"] = ({"k": 5}, None, {s: knn(x) for s, x in sets.items()})
    for seed in seeds:
        forest = isolation_forest(data.train, seed=seed)
        by_set = {s: forest(x) for s, x in sets.items()}
        scores[f"Isolation Forest, seed {seed}"] = ({"n_estimators": 200}, seed, by_set)
    rows = []
    for name, (params, seed, by_set) in scores.items():
        auroc = {a: roc_auc(by_set["normal"], by_set[a]) for a in ANOMALY_TYPES}
        rows.append({"held_out": held_out, "detector": name.split(", seed")[0], "seed": seed, "auroc": auroc,
                     "params": params})
    return rows


def summarise(rows: Sequence[dict]) -> dict[str, dict[str, float]]:
    """Each detector's AUROC per anomaly type, averaged over every row it has (classes and seeds)."""
    detectors = dict.fromkeys(r["detector"] for r in rows)
    return {d: {a: statistics.mean(r["auroc"][a] for r in rows if r["detector"] == d) for a in ANOMALY_TYPES}
            for d in detectors}


def run(classes: Sequence[int] = range(10), seeds: Sequence[int] = SEEDS, bandwidths: Sequence[float] | None = None,
        floors: Sequence[float] = FLOORS) -> list[dict]:
    """Rows for every held-out class, then the summary row."""
    rows = [row for c in classes for row in benchmark_class(c, seeds, bandwidths, floors)]
    return [*rows, {"summary": summarise(rows), "classes": list(classes)}]


def write(path: Path, header: dict, rows: Sequence[dict]) -> None:
    """The header line, then one JSON line per row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in [header, *rows]))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="*", default=list(range(10)), help="held-out digit classes")
    parser.add_argument("--seeds", type=int, nargs="*", default=list(SEEDS), help="Isolation Forest seeds")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON lines here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # small models: one thread, as in the lecture
    start, cpu = time.perf_counter(), time.process_time()
    rows = run(args.classes, args.seeds)
    argv = list(sys.argv[1:] if argv is None else argv)
    header = provenance(argv, time.perf_counter() - start)
    header["command"] = " ".join(["python -m course_lib.applications.anomaly_benchmark", *argv])
    header["cpu_seconds"] = round(time.process_time() - cpu, 1)
    summary = rows[-1]["summary"]
    print(f"{'detector':<42}" + "".join(f"{a:>16}" for a in ANOMALY_TYPES))
    for d, by_type in summary.items():
        print(f"{d:<42}" + "".join(f"{by_type[a]:>16.3f}" for a in ANOMALY_TYPES))
    print(f"{header['cpu_seconds']} s of CPU, {header['wall_seconds']} s wall clock")
    if args.out is not None:
        write(args.out, header, rows)


if __name__ == "__main__":
    main()
