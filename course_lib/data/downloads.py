"""Larger image sets that must be downloaded: MNIST and Fashion-MNIST, with a cache and a checksum.

The course never needs them (scikit-learn's bundled digits are the default); they are here for students who
want to scale a chapter up. Files are cached in ``$COURSE_DATA_DIR`` (default ``~/.cache/course_lib``),
verified by MD5 against the published checksums, and read from the IDX format. Offline, a missing file raises
:class:`DownloadError` saying where to put the file by hand.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


class DownloadError(RuntimeError):
    """A data file could not be fetched or failed its checksum."""


@dataclass(frozen=True)
class Source:
    """Where a data set's files come from and their published MD5 checksums."""

    mirrors: tuple[str, ...]
    md5: dict[str, str]


SOURCES: dict[str, Source] = {
    "mnist": Source(
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion_mnist": Source(
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
}


def cache_dir() -> Path:
    """``$COURSE_DATA_DIR`` if set, else ``~/.cache/course_lib``."""
    return Path(os.environ.get("COURSE_DATA_DIR", Path.home() / ".cache" / "course_lib"))


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(name: str, filename: str, *, root: Path | None = None, timeout: float = 30.0) -> Path:
    """The cached path of ``filename`` of data set ``name``, downloading and verifying it if needed."""
    source = SOURCES[name]
    expected = source.md5[filename]
    target = (root or cache_dir()) / name / filename
    if target.exists() and md5_of(target) == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for mirror in source.mirrors:
        url = mirror + filename
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as part:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    shutil.copyfileobj(response, part)
            except (urllib.error.URLError, OSError) as error:
                failures.append(f"{url}: {error}")
                os.unlink(part.name)
                continue
        if md5_of(Path(part.name)) != expected:
            failures.append(f"{url}: the file's MD5 checksum does not match the published one")
            os.unlink(part.name)
            continue
        os.replace(part.name, target)  # atomic: a half-written file is never taken for the real one
        return target
    raise DownloadError(
        f"could not get {filename} of {name} ({'; '.join(failures)}). If you are offline, download it on another "
        f"machine from {source.mirrors[0]}{filename} and put it at {target} (or set COURSE_DATA_DIR)."
    )


def read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped) IDX file of unsigned bytes: images (N, H, W) or labels (N,)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DownloadError(f"{path} is not an IDX file of unsigned bytes; delete it so it is downloaded again")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DownloadError(f"{path} is truncated (expected {shape}); delete it so it is downloaded again")
    return data.reshape(shape)


def load_mnist(name: str = "mnist", split: str = "train", *, root: Path | None = None) -> tuple[Tensor, Tensor]:
    """Images (N, 28, 28) as uint8 0..255 and labels (N,) of MNIST or Fashion-MNIST (``name="fashion_mnist"``)."""
    if name not in SOURCES:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(SOURCES)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(fetch(name, f"{prefix}-images-idx3-ubyte.gz", root=root))
    labels = read_idx(fetch(name, f"{prefix}-labels-idx1-ubyte.gz", root=root))
    if len(images) != len(labels):
        raise DownloadError(f"{name} {split}: {len(images)} images but {len(labels)} labels")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))
