"""The names data: source, a fixed disjoint split, and the encoding."""

import pytest
import torch

from course_lib.data import text
from course_lib.data.text import PAD, decode_names, encode_names, load_names


def test_split_is_fixed_disjoint_and_complete():
    a, b = load_names(), load_names()
    assert a == b
    assert (len(a.train), len(a.val), len(a.test)) == (4130, 516, 517)
    sets = [set(a.train), set(a.val), set(a.test)]
    assert sum(len(s) for s in sets) == len(set.union(*sets)) == 5163
    assert all(w.isalpha() and w.islower() for w in a.train)


def test_source_and_licence_are_documented():
    assert "names" in text.__doc__ and "MIT" in text.__doc__ and "Census" in text.__doc__


def test_encode_decode_round_trip():
    words = ["ann", "bo", "christina"]
    x = encode_names(words)
    assert x.shape == (3, 11)
    assert x[1].tolist() == [0, 2, 15, 0] + [PAD] * 7
    assert decode_names(x) == words


def test_encode_rejects_bad_input():
    with pytest.raises(ValueError, match="a-z"):
        encode_names(["Ann"])
    with pytest.raises(ValueError, match="tokens"):
        encode_names(["anna"], length=4)


def test_decode_reads_samples_without_end():
    assert decode_names(torch.tensor([[0, 1, 2, 3]])) == ["abc"]
