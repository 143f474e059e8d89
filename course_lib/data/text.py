"""First names for character-level models, with one fixed train / validation / test split.

Source: the US Census Bureau's 1990 lists of male and female first names ("dist.male.first" and
"dist.female.first"), as shipped by the PyPI package `names` 0.3.0 (Trey Hunner, MIT licence). The census
lists are public-domain US government data. We take the union of the two lists (5,163 distinct names, letters
a-z only, 2 to 11 characters), lower-case it, sort it, shuffle it with a fixed seed and cut it 80 / 10 / 10.

Encoding: '.' (index 0) marks both the start and the end of a name; 'a'..'z' are 1..26. A batch of names is a
LongTensor (N, T) holding [0, c_1, ..., c_n, 0] followed by PAD = -1 (ignored by the losses).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["NamesSplit", "load_names", "encode_names", "decode_names", "VOCAB", "PAD", "END"]

VOCAB = "." + "abcdefghijklmnopqrstuvwxyz"  # index 0 is the start/end token
END = 0
PAD = -1


@dataclass(frozen=True)
class NamesSplit:
    """Lists of lower-case names; `train`, `val`, `test` are disjoint."""

    train: list[str]
    val: list[str]
    test: list[str]


def _census_first_names() -> list[str]:
    import names  # the PyPI package `names` 0.3.0 ships the census files

    folder = os.path.dirname(names.__file__)
    found: set[str] = set()
    for filename in ("dist.male.first", "dist.female.first"):
        with open(os.path.join(folder, filename)) as f:
            found.update(line.split()[0].lower() for line in f if line.strip())
    return sorted(found)


def load_names(seed: int = 0, fractions: tuple[float, float] = (0.8, 0.1)) -> NamesSplit:
    """The census first names, split into train / val / test (about 4,130 / 516 / 517) by a seeded shuffle."""
    all_names = _census_first_names()
    order = np.random.default_rng(seed).permutation(len(all_names))
    shuffled = [all_names[i] for i in order]
    n_train = int(round(fractions[0] * len(shuffled)))
    n_val = int(round(fractions[1] * len(shuffled)))
    return NamesSplit(shuffled[:n_train], shuffled[n_train:n_train + n_val], shuffled[n_train + n_val:])


def encode_names(words: list[str], length: int | None = None) -> Tensor:
    """Encode names as (N, T) token ids [0, c_1..c_n, 0, PAD...]; T = longest name + 2 unless given."""
    bad = [w for w in words if not w or any(c not in VOCAB[1:] for c in w)]
    if bad:
        raise ValueError(f"names must be non-empty and use only a-z, got e.g. {bad[:3]}; lower-case them first")
    T = max(len(w) for w in words) + 2 if length is None else length
    out = torch.full((len(words), T), PAD, dtype=torch.long)
    for n, w in enumerate(words):
        ids = [END] + [VOCAB.index(c) for c in w] + [END]
        if len(ids) > T:
            raise ValueError(f"name {w!r} needs {len(ids)} tokens but length={T}")
        out[n, :len(ids)] = torch.tensor(ids)
    return out


def decode_names(tokens: Tensor) -> list[str]:
    """Inverse of `encode_names` (also reads samples): the letters between the start and the first end."""
    words = []
    for row in tokens.tolist():
        letters = []
        for t in row[1:]:
            if t <= 0:
                break
            letters.append(VOCAB[t])
        words.append("".join(letters))
    return words
