"""Chapter 08's anomaly sets (course_lib.applications.anomaly) and the benchmark's core on a tiny budget."""

import json

import torch

from course_lib.applications import anomaly_benchmark
from course_lib.applications.anomaly import ANOMALY_TYPES, anomaly_split, knn_distance
from course_lib.applications.augmentation import shift
from course_lib.data import load_digits_split
from course_lib.metrics.roc import roc_auc


def test_anomaly_sets_follow_their_definitions():
    split = load_digits_split()
    data = anomaly_split(split, 3, seed=0)
    assert list(data.anomalies) == list(ANOMALY_TYPES)
    assert len(data.train) + len(data.val) + len(data.test) + len(data.anomalies["held-out class"]) == 1797
    assert len(data.test) == (split.test_labels != 3).sum()
    a = data.anomalies
    assert all(len(a[k]) == len(data.test) for k in ("noise", "constant", "inverted", "shifted"))
    assert (a["constant"] == a["constant"][:, :1]).all() and a["noise"].max() == 16 and a["noise"].min() == 0
    torch.testing.assert_close(a["inverted"], 16 - data.test)
    moves = torch.stack([shift(data.test, dx, dy) for dx, dy in ((2, 0), (-2, 0), (0, 2), (0, -2))])
    assert ((moves == a["shifted"]).all(-1)).any(0).all()  # every image moved in one of the four directions
    again = anomaly_split(split, 3, seed=0)
    assert all(torch.equal(a[k], again.anomalies[k]) for k in ANOMALY_TYPES)


def test_knn_distance_separates_noise():
    data = anomaly_split(load_digits_split(), 9)
    score = knn_distance(data.train)
    assert roc_auc(score(data.test), score(data.anomalies["noise"])) > 0.99


def test_benchmark_core_on_a_tiny_budget(tmp_path):
    rows = anomaly_benchmark.run(classes=(0, 9), seeds=(0,), bandwidths=(1.0, 2.5), floors=(0.0, 0.5))
    path = tmp_path / "anomaly.jsonl"
    anomaly_benchmark.write(path, {"command": "test"}, rows)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    header, body, summary = lines[0], lines[1:-1], lines[-1]
    assert header == {"command": "test"}
    detectors = {r["detector"] for r in body}
    assert len(body) == 2 * len(detectors) and {r["held_out"] for r in body} == {0, 9}
    assert {"k-NN distance", "Isolation Forest", "independent pixels", anomaly_benchmark.KDE} <= detectors
    for row in body:
        assert set(row["auroc"]) == set(ANOMALY_TYPES)
        assert all(0.0 <= v <= 1.0 for v in row["auroc"].values())
    assert set(summary["summary"]) == detectors and summary["classes"] == [0, 9]
    kde = next(r for r in body if r["detector"] == anomaly_benchmark.KDE)
    assert kde["params"]["bandwidth"] in (1.0, 2.5) and kde["params"]["floor"] in (0.0, 0.5)


def test_main_writes_a_header_with_the_provenance(tmp_path):
    out = tmp_path / "one_class.jsonl"
    anomaly_benchmark.main(["--classes", "9", "--seeds", "0", "--out", str(out)])
    header = json.loads(out.read_text().splitlines()[0])
    assert {"command", "date", "commit", "cores", "torch_threads", "wall_seconds", "cpu_seconds"} <= set(header)
    assert header["command"].startswith("python -m course_lib.applications.anomaly_benchmark")
