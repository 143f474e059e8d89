"""The chorale data: the parser on a small score built here with music21, the versioned cache (on a tiny corpus
the test writes), the split, the note tokens, the piano roll's note ends and the synthesiser."""

import numpy as np
import pytest
import torch

from course_lib.data import music

music21 = pytest.importorskip("music21")
from music21 import chord, meter, note, stream, tie  # noqa: E402


def _part(name, items):
    """items: (pitch name or None for a rest or a list for a chord, quarter length, tie type or None)."""
    part = stream.Part(id=name)
    part.partName = name
    part.append(meter.TimeSignature("3/4"))
    for pitch, quarters, tie_type in items:
        if pitch is None:
            element = note.Rest(quarterLength=quarters)
        elif isinstance(pitch, list):
            element = chord.Chord(pitch, quarterLength=quarters)
        else:
            element = note.Note(pitch, quarterLength=quarters)
        if tie_type:
            element.tie = tie.Tie(tie_type)
        part.append(element)
    return part


def small_score():
    score = stream.Score()
    score.insert(0, _part("Violin", [("C6", 3.0, None)]))  # an instrument: ignored
    score.insert(0, _part("Soprano", [("E5", 1.0, None), ("D5", 0.5, None), ("D5", 0.5, "start"),
                                      ("D5", 1.0, "stop"), (None, 1.0, None), ("C5", 2.0, None)]))
    score.insert(0, _part("Alto", [("G4", 2.0, None), (["A4", "C5"], 1.0, None), ("G4", 3.0, None)]))
    score.insert(0, _part("Tenor", [("E4", 3.0, None), ("E4", 3.0, None)]))
    score.insert(0, _part("Bass", [("C3", 1.5, None), ("G2", 1.5, None), ("C3", 3.0, None)]))
    grace = note.Note("F5").getGrace()
    score.parts[1].insert(0.0, grace)
    return score


def test_parse_score_reads_voices_ties_rests_and_chords():
    chorale = music.parse_score(small_score(), "test/small")
    assert chorale.name == "test/small" and chorale.time_signature == "3/4" and chorale.key_sharps == 0
    np.testing.assert_array_equal(chorale.voices["soprano"],  # the tie is one note, the rest a gap, no grace
                                  [[76, 0.0, 1.0], [74, 1.0, 0.5], [74, 1.5, 1.5], [72, 4.0, 2.0]])
    np.testing.assert_array_equal(chorale.voices["alto"], [[67, 0, 2], [72, 2, 1], [67, 3, 3]])  # top of chord
    np.testing.assert_array_equal(chorale.voices["tenor"], [[64, 0, 3], [64, 3, 3]])  # untied: two notes
    assert chorale.voices["bass"][:, 0].tolist() == [48, 43, 48]


def test_parse_score_says_which_voice_is_missing():
    score = small_score()
    score.remove(score.parts[-1])
    with pytest.raises(ValueError, match="bass"):
        music.parse_score(score)


# ---- the cache ----------------------------------------------------------------------------------------------


def _tiny_corpus(progress=True):
    return [music.parse_score(small_score(), f"test/c{i}") for i in range(3)]


def _refuse(progress=True):
    raise AssertionError("parsed again although the cache was valid")


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    return tmp_path / "music"


def test_cache_is_written_once_and_read_back(cache_root):
    first = music.load_chorales(parse=_tiny_corpus)
    assert music.cache_path().parent == cache_root and music.cache_path().exists()
    assert not list(cache_root.glob("*.part"))  # written atomically: no temporary file left
    again = music.load_chorales(parse=_refuse)
    assert [c.name for c in again] == [c.name for c in first]
    for a, b in zip(first, again, strict=True):
        assert a.time_signature == b.time_signature and a.key_sharps == b.key_sharps
        for voice in music.VOICES:
            np.testing.assert_array_equal(a.voices[voice], b.voices[voice])


@pytest.mark.parametrize("change", ["parser", "music21"])
def test_cache_is_rebuilt_when_a_version_changes(cache_root, monkeypatch, change):
    music.load_chorales(parse=_tiny_corpus)
    old = music.cache_path()
    if change == "parser":
        monkeypatch.setattr(music, "PARSER_VERSION", music.PARSER_VERSION + 1)
    else:
        monkeypatch.setattr(music, "_music21_version", lambda: "99.0")
    calls = []
    music.load_chorales(parse=lambda progress: calls.append(1) or _tiny_corpus()[:2])
    assert calls == [1] and music.cache_path() != old
    assert not old.exists()  # the stale file is removed
    assert len(music.load_chorales(parse=_refuse)) == 2


def test_cache_with_other_versions_inside_is_not_trusted(cache_root, monkeypatch):
    music.load_chorales(parse=_tiny_corpus)
    path = music.cache_path()
    monkeypatch.setattr(music, "PARSER_VERSION", music.PARSER_VERSION + 1)
    path.rename(music.cache_path())  # an old file under the new name: its recorded versions must be checked
    assert len(music.load_chorales(parse=lambda progress: _tiny_corpus()[:1])) == 1


def test_a_corrupt_cache_is_parsed_again(cache_root):
    music.load_chorales(parse=_tiny_corpus)
    music.cache_path().write_bytes(b"not a zip file")
    assert len(music.load_chorales(parse=_tiny_corpus)) == 3


# ---- the split ----------------------------------------------------------------------------------------------


def _melody_chorale(name, pitches):
    notes = np.array([[p, i, 1.0] for i, p in enumerate(pitches)], dtype=np.float64)
    return music.Chorale(name, "4/4", 0, {v: notes for v in music.VOICES})


def test_split_keeps_each_tune_on_one_side_and_is_seeded():
    rng = np.random.default_rng(0)
    tunes = [rng.integers(60, 80, size=20) for _ in range(40)]
    chorales = [_melody_chorale(f"c{i}", tunes[i % 40] + (i // 40)) for i in range(100)]  # 40 tunes, transposed
    split = music.split_chorales(chorales, seed=0)
    parts = [{c.name for c in part} for part in (split.train, split.val, split.test)]
    assert sum(map(len, parts)) == 100 and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    tune_of = {f"c{i}": i % 40 for i in range(100)}
    tune_sets = [{tune_of[n] for n in part} for part in parts]
    assert not (tune_sets[0] & tune_sets[1] or tune_sets[0] & tune_sets[2] or tune_sets[1] & tune_sets[2])
    assert 8 <= len(parts[2]) <= 13 and 8 <= len(parts[1]) <= 13
    again = music.split_chorales(list(reversed(chorales)), seed=0)
    assert [c.name for c in again.test] == [c.name for c in split.test]
    assert [c.name for c in music.split_chorales(chorales, seed=1).test] != [c.name for c in split.test]


@pytest.mark.skipif(not music.cache_path().exists(), reason="the chorales are not cached on this machine")
def test_the_course_split_of_the_cached_corpus():
    split = music.load_chorale_split()
    assert (len(split.train), len(split.val), len(split.test)) == (294, 37, 37)


# ---- tokens -------------------------------------------------------------------------------------------------


def test_tokens_round_trip_with_rests_and_rounded_durations():
    vocab = music.NoteVocabulary(low=60, high=72)
    notes = np.array([[60, 0.5, 1.0], [62, 1.5, 0.5], [72, 3.0, 2.0], [64, 5.0, 0.125]])
    tokens = vocab.encode(notes)
    assert len(tokens) == 6 and (tokens >= 1).all() and (tokens < vocab.size).all()
    decoded = vocab.decode(np.concatenate([[0], tokens, [0, -1]]))
    want = notes.copy()
    want[-1, 2] = 0.25  # a 32nd note is rounded to the nearest duration, a 16th
    np.testing.assert_array_equal(decoded, want)
    assert vocab.token(None, 1.0) != vocab.token(60, 1.0) != vocab.token(60, 2.0)


def test_tokens_refuse_out_of_range_pitches_and_overlaps():
    vocab = music.NoteVocabulary(low=60, high=72)
    with pytest.raises(ValueError, match="range"):
        vocab.encode([[59, 0, 1]])
    with pytest.raises(ValueError, match="monophonic"):
        vocab.encode([[60, 0, 2], [62, 1, 1]])


def test_encode_voice_layout_and_transpositions():
    chorale = _melody_chorale("c", [60, 62, 64])
    vocab = music.NoteVocabulary(low=58, high=66)
    x = music.encode_voice([chorale], vocab=vocab, transpositions=(-2, 0, 2, 3))  # +3 leaves the range
    assert x.shape == (3, 5) and x.dtype == torch.long
    assert (x[:, 0] == 0).all() and (x[:, -1] == 0).all()
    np.testing.assert_array_equal(vocab.decode(x[1])[:, 0], [60, 62, 64])
    np.testing.assert_array_equal(vocab.decode(x[2])[:, 0], [62, 64, 66])


# ---- piano roll and sound ---------------------------------------------------------------------------------------


def test_piano_roll_note_ends_are_exclusive():
    notes = [(60, 0.0, 1.0), (62, 1.0, 0.5), (60, 1.5, 0.5)]
    roll = music.piano_roll(notes, steps_per_quarter=4)
    assert roll.shape == (128, 8) and roll.dtype == bool
    assert roll[60].tolist() == [True] * 4 + [False] * 2 + [True] * 2
    assert roll[62].tolist() == [False] * 4 + [True] * 2 + [False] * 2
    assert roll.sum() == 8  # every step holds exactly one note: no overlap at the joins
    assert music.piano_roll(notes, 2, num_steps=10).shape == (128, 10)


def test_synthesize_plays_the_right_pitch_for_the_right_time():
    rate = 8000
    wave = music.synthesize(np.array([[69, 0.0, 2.0]]), tempo=60.0, sample_rate=rate, harmonics=(1.0,))
    assert wave.dtype == np.float32 and np.abs(wave).max() <= 1.0
    assert abs(len(wave) / rate - 2.08) < 0.01  # 2 quarters at 60 per minute, plus the release
    spectrum = np.abs(np.fft.rfft(wave))
    assert abs(np.fft.rfftfreq(len(wave), 1 / rate)[spectrum.argmax()] - 440.0) < 1.0
    two = music.synthesize(np.array([[60, 0.0, 1.0], [64, 1.0, 1.0]]), tempo=60.0, sample_rate=rate)
    assert np.abs(two[: rate // 2]).max() > 0.1 and np.abs(two[rate + rate // 4 : rate + rate // 2]).max() > 0.1
