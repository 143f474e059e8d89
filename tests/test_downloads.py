"""The download code, run for real (urllib, cache, checksum, IDX parsing) on small files the test writes."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from course_lib.data import downloads


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_mirror(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, size=(5, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, size=5),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, size=(3, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, size=3),
    }
    for name, array in files.items():
        _write_idx(mirror / name, array)
    md5 = {name: downloads.md5_of(mirror / name) for name in files}
    source = downloads.Source(mirrors=(mirror.as_uri() + "/",), md5=md5)
    monkeypatch.setitem(downloads.SOURCES, "mnist", source)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    return mirror, files


def test_download_cache_and_read(fake_mirror, tmp_path):
    mirror, files = fake_mirror
    images, labels = downloads.load_mnist("mnist", "train")
    assert images.shape == (5, 28, 28) and labels.tolist() == files["train-labels-idx1-ubyte.gz"].tolist()
    assert np.array_equal(images.numpy(), files["train-images-idx3-ubyte.gz"])
    for name in files:
        (mirror / name).unlink()  # now "offline": the cache must serve
    images, _ = downloads.load_mnist("mnist", "train")
    assert images.shape == (5, 28, 28)


def test_offline_gives_a_clear_message(fake_mirror):
    mirror, files = fake_mirror
    for name in files:
        (mirror / name).unlink()
    with pytest.raises(downloads.DownloadError, match="If you are offline"):
        downloads.load_mnist("mnist", "test")


def test_a_corrupt_download_is_rejected_and_not_cached(fake_mirror, tmp_path):
    mirror, _ = fake_mirror
    (mirror / "t10k-labels-idx1-ubyte.gz").write_bytes(b"corrupt")
    with pytest.raises(downloads.DownloadError, match="checksum"):
        downloads.load_mnist("mnist", "test")
    assert not (tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list((tmp_path / "cache" / "mnist").glob("*.part"))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown data set"):
        downloads.load_mnist("cifar")
    with pytest.raises(ValueError, match="split"):
        downloads.load_mnist("mnist", "validation")
