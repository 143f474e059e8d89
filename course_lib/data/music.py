"""Bach's four-part chorales from music21's bundled corpus: parsing, a cache, one fixed split, note tokens,
piano rolls and sound.

Source and licence. music21 (BSD-3-Clause code) ships the 371 chorales of the Riemenschneider edition as
``music21.corpus.chorales.Iterator()``. The music is in the public domain. The encodings are not music21's:
its ``corpus/license.txt`` says they are "distributed with the permission of the encoders" and that some
"may not be used for commercial uses or have other restrictions", so see each file. Of the 371, 368 are
MusicXML files, and in the copy installed here 354 of them credit the encoder, "(c) 2004 Margaret Greentree",
with no further licence terms. The other 3 (BWV 277, 281, 366) are Humdrum files that say "Copyright 1994,
Center for Computer Assisted Research in the Humanities. Rights to all derivative electronic formats
reserved". Our cache is a derived electronic format, so we leave those 3 out and use the 368 MusicXML
chorales. This is for private study and teaching, inside the permission music21 was given. Do not pass on
the cache or the parsed notes without checking the encoders' terms. (We read this in music21 10.5.1's
``corpus/license.txt``, its README and the files themselves: sure as to what they say, unsure about what
the permission covers, since music21 does not publish the encoders' terms.)

Notes. A voice is a float64 array (N, 3): MIDI pitch, onset and duration, in quarter notes from the start
of the piece. Tied notes are merged into one. Rests leave gaps. Grace notes (no duration) are dropped. A
chord in a voice keeps only its top note.

Cache. The parse runs once; it took 150 s on a 2-core machine shared with other jobs (music21 reads the
MusicXML in about 0.2 s a chorale on a quiet machine, so count on a minute or two). Loading the cache takes
under 0.1 s. It is stored as plain numpy arrays (``.npz``, no pickle) in ``course_lib.data.downloads.
cache_dir() / "music"``, in a file whose name holds :data:`PARSER_VERSION` and music21's version, which are
also recorded inside and checked on loading. A new parser or a new music21 writes a new file and deletes
the stale one. The file is written to a temporary name and then renamed, so an interrupted parse never
leaves half a cache.

Split. Several chorales harmonise the same hymn tune, so a split by chorale alone would put one melody in
both train and test. Chorales whose soprano lines open with the same 12 intervals count as one tune (the
368 chorales hold 256 such tunes). The tunes are shuffled (seed 0) and dealt out 80 / 10 / 10. With seed 0
that gives 294 / 37 / 37 chorales, and test_music_data.py checks these counts on the cached corpus.

Tokens (one voice; :class:`NoteVocabulary`). One token per note or rest: the pair (pitch, duration), with
durations rounded to the nearest of :data:`DURATIONS` on a log scale. In the soprano lines 17 of the
18,508 notes move (such as a 32nd note to a 16th, or a 14-beat hold to 8), and so do 9 of the 196 rests. A
rest token fills each gap between notes. Token 0 marks the start and the end, as in chapter 03's names, so
a chorale is encoded as [0, t_1..t_n, 0, PAD...] and chapter 03's ``CharModel`` subclasses model it as
they are. We prefer this to one token per sixteenth step with hold tokens for two reasons. The NLL of a
token is then exactly nats per note. And a sequence is about 4 times shorter (4.2 sixteenth steps per
token in the soprano), which matters for a GRU on a CPU.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from course_lib.data.downloads import cache_dir

__all__ = [
    "PARSER_VERSION", "VOICES", "DURATIONS", "Chorale", "ChoraleSplit", "NoteVocabulary", "SOPRANO",
    "parse_score", "corpus_names", "load_chorales", "cache_path", "split_chorales", "load_chorale_split",
    "encode_voice", "transpose", "piano_roll", "midi_to_hz", "synthesize",
]

PARSER_VERSION = 1  # raise it whenever parse_score's output changes: the cache is then rebuilt
VOICES = ("soprano", "alto", "tenor", "bass")
DURATIONS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)  # quarter notes: 16th .. two whole notes
_EXCLUDED_SUFFIXES = (".krn",)  # the CCARH Humdrum encodings (see the licence note above)
_TUNE_PREFIX = 12  # chorales whose soprano opens with the same 12 intervals are one tune


@dataclass(frozen=True)
class Chorale:
    """One chorale: its corpus name, time signature, key signature (sharps > 0, flats < 0) and voices."""

    name: str
    time_signature: str
    key_sharps: int
    voices: dict[str, np.ndarray] = field(repr=False)  # voice -> (N, 3) pitch, onset, duration


# ---- parsing ------------------------------------------------------------------------------------------------


def _voice_of(part) -> str | None:
    label = f"{part.id or ''} {part.partName or ''}".lower()
    match = re.search(r"\b(soprano|alto|tenor|bass)\b", label)
    return match.group(1) if match else None


def _part_notes(part) -> np.ndarray:
    """(N, 3) notes of one part; a note tied to the previous one (same pitch, starting where it ends) extends
    it. (music21's ``stripTies`` does the same, about ten times slower.)"""
    rows: list[list[float]] = []
    for element in part.flatten().notes:
        duration = float(element.quarterLength)
        if duration <= 0:  # a grace note
            continue
        pitch, onset = max(p.midi for p in element.pitches), float(element.offset)  # a chord: its top note
        tie = element.tie.type if element.tie is not None else None
        if (tie in ("continue", "stop") and rows and rows[-1][0] == pitch
                and abs(rows[-1][1] + rows[-1][2] - onset) < 1e-6):
            rows[-1][2] += duration
        else:
            rows.append([pitch, onset, duration])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def parse_score(score, name: str = "") -> Chorale:
    """A music21 ``Score`` with parts named Soprano, Alto, Tenor and Bass -> :class:`Chorale`.

    The first part whose id or name contains a voice's name is that voice. Other parts (instruments,
    continuo) are ignored.
    """
    found: dict[str, object] = {}
    for part in score.parts:
        voice = _voice_of(part)
        if voice is not None and voice not in found:
            found[voice] = part
    missing = [v for v in VOICES if v not in found]
    if missing:
        names = [p.partName or p.id for p in score.parts]
        raise ValueError(f"{name or 'the score'} has no part named {missing} (parts: {names}); name the parts "
                         "Soprano, Alto, Tenor and Bass")
    signature = score.recurse().getElementsByClass("TimeSignature").first()
    key = score.recurse().getElementsByClass("KeySignature").first()
    return Chorale(name=name, time_signature=signature.ratioString if signature is not None else "4/4",
                   key_sharps=int(key.sharps) if key is not None else 0,
                   voices={v: _part_notes(found[v]) for v in VOICES})


def corpus_names() -> list[str]:
    """The Riemenschneider chorales of music21's corpus that we use (the 368 MusicXML files)."""
    from music21 import corpus
    from music21.corpus import chorales

    names = []
    for name in chorales.Iterator(returnType="filename"):
        paths = corpus.getWork(name)
        paths = paths if isinstance(paths, list) else [paths]
        if not any(str(p).endswith(_EXCLUDED_SUFFIXES) for p in paths):
            names.append(name)
    return names


def _parse_corpus(progress: bool = True) -> list[Chorale]:
    """Parse every chorale of :func:`corpus_names` (about a minute), with a progress bar."""
    from music21 import corpus
    from tqdm.auto import tqdm

    names = corpus_names()
    # forceSource: read the MusicXML itself, so music21 does not write pickles of its own to a temp folder
    return [parse_score(corpus.parse(n, forceSource=True), n)
            for n in tqdm(names, desc="parsing chorales", disable=not progress, leave=False)]


def _music21_version() -> str:
    return importlib.metadata.version("music21")  # without importing music21 (about a second)


def cache_path() -> Path:
    """Where the parsed chorales are cached: the file name holds the parser's and music21's versions."""
    return cache_dir() / "music" / f"bach_chorales_parser{PARSER_VERSION}_music21-{_music21_version()}.npz"


def _versions() -> np.ndarray:
    return np.array([f"parser {PARSER_VERSION}", f"music21 {_music21_version()}"])


def _save(path: Path, chorales: Sequence[Chorale]) -> None:
    """Plain arrays only (no pickle): every voice's notes stacked, with the number of notes of each."""
    counts = np.array([[len(c.voices[v]) for v in VOICES] for c in chorales], dtype=np.int64).reshape(-1, 4)
    notes = np.concatenate([c.voices[v] for c in chorales for v in VOICES] or [np.zeros((0, 3))])
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as handle:
        np.savez(handle, versions=_versions(), names=np.array([c.name for c in chorales], dtype=str),
                 time_signatures=np.array([c.time_signature for c in chorales], dtype=str),
                 key_sharps=np.array([c.key_sharps for c in chorales], dtype=np.int64), counts=counts, notes=notes)
    os.replace(handle.name, path)  # atomic on one file system: a reader never sees half a file


def _load(path: Path) -> list[Chorale] | None:
    """The cached chorales, or None when the file is missing, unreadable or of other versions."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if data["versions"].tolist() != _versions().tolist():
                return None
            ends = np.cumsum(data["counts"].reshape(-1))
            pieces = np.split(data["notes"], ends[:-1]) if len(ends) else []
            return [Chorale(str(name), str(signature), int(sharps),
                            dict(zip(VOICES, pieces[4 * i : 4 * i + 4], strict=True)))
                    for i, (name, signature, sharps) in enumerate(zip(data["names"], data["time_signatures"],
                                                                       data["key_sharps"], strict=True))]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def load_chorales(*, progress: bool = True, refresh: bool = False,
                  parse: Callable[[bool], list[Chorale]] | None = None) -> list[Chorale]:
    """The 368 chorales, from the cache, or parsed once and cached (see the module docstring).

    Args:
        progress: show a progress bar while parsing.
        refresh: parse again even if a valid cache exists.
        parse: what produces the chorales on a cache miss (default: parse the corpus; tests pass a tiny one).
    """
    path = cache_path()
    chorales = None if refresh else _load(path)
    if chorales is not None:
        return chorales
    chorales = (parse or _parse_corpus)(progress)
    _save(path, chorales)
    for stale in path.parent.glob("bach_chorales_*"):
        if stale != path and stale.suffix in (".npz", ".json"):
            stale.unlink(missing_ok=True)
    return chorales


# ---- the split ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChoraleSplit:
    """Disjoint lists of chorales; no hymn tune is in two of them."""

    train: list[Chorale]
    val: list[Chorale]
    test: list[Chorale]


def _tune(chorale: Chorale) -> tuple[int, ...]:
    pitches = chorale.voices["soprano"][:, 0].astype(int)
    return tuple(np.diff(pitches)[:_TUNE_PREFIX].tolist())


def split_chorales(chorales: Sequence[Chorale], seed: int = 0,
                   fractions: tuple[float, float] = (0.8, 0.1)) -> ChoraleSplit:
    """Shuffle the tunes with ``seed`` and deal them to test, then validation (each until it holds its
    share ``1 - sum(fractions)`` and ``fractions[1]`` of the chorales), then train."""
    tunes: dict[tuple[int, ...], list[Chorale]] = {}
    for chorale in sorted(chorales, key=lambda c: c.name):
        tunes.setdefault(_tune(chorale), []).append(chorale)
    groups = list(tunes.values())
    order = np.random.default_rng(seed).permutation(len(groups))
    targets = [(1.0 - sum(fractions)) * len(chorales), fractions[1] * len(chorales)]
    test: list[Chorale] = []
    val: list[Chorale] = []
    train: list[Chorale] = []
    for i in order:
        open_buckets = [b for b, share in zip((test, val), targets, strict=True) if len(b) < share]
        (open_buckets[0] if open_buckets else train).extend(groups[i])
    return ChoraleSplit(train, val, test)


def load_chorale_split(seed: int = 0, *, progress: bool = True) -> ChoraleSplit:
    """The course's split of the chorales (294 / 37 / 37 with seed 0)."""
    return split_chorales(load_chorales(progress=progress), seed)


# ---- tokens -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteVocabulary:
    """Tokens for one voice: 0 = start/end; 1 + d * (P + 1) + p for pitch index p (p = P: a rest), duration d.

    ``low``..``high`` is the MIDI range (inclusive), P = high - low + 1 pitches; durations as
    :data:`DURATIONS` (quarter notes).
    """

    low: int = 52
    high: int = 88
    durations: tuple[float, ...] = DURATIONS

    @property
    def num_pitches(self) -> int:
        return self.high - self.low + 1

    @property
    def size(self) -> int:
        """Vocabulary size, the start/end token included."""
        return 1 + (self.num_pitches + 1) * len(self.durations)

    def _duration_index(self, quarters: float) -> int:
        logs = np.log2(np.asarray(self.durations))
        return int(np.argmin(np.abs(logs - math.log2(quarters))))

    def token(self, pitch: int | None, quarters: float) -> int:
        """The token of a note (``pitch`` MIDI) or a rest (``pitch=None``) of ``quarters`` quarter notes."""
        if pitch is None:
            index = self.num_pitches
        elif self.low <= pitch <= self.high:
            index = int(pitch) - self.low
        else:
            raise ValueError(f"pitch {pitch} is outside this vocabulary's range {self.low}..{self.high}; "
                             "build a NoteVocabulary(low=..., high=...) that covers the voice")
        return 1 + self._duration_index(quarters) * (self.num_pitches + 1) + index

    def encode(self, notes: np.ndarray) -> np.ndarray:
        """A monophonic voice (N, 3) -> tokens (M,) int64 (no start/end), a rest token for every gap."""
        notes = np.asarray(notes, dtype=np.float64).reshape(-1, 3)
        notes = notes[np.argsort(notes[:, 1], kind="stable")]
        tokens, now = [], 0.0
        for pitch, onset, duration in notes:
            if onset < now - 1e-6:
                raise ValueError(f"the voice is not monophonic: a note starts at {onset} before the previous "
                                 f"one ends at {now}")
            if onset > now + 1e-6:
                tokens.append(self.token(None, onset - now))
            tokens.append(self.token(int(round(pitch)), duration))
            now = onset + duration
        return np.asarray(tokens, dtype=np.int64)

    def decode(self, tokens: Sequence[int] | np.ndarray | Tensor) -> np.ndarray:
        """Tokens -> notes (N, 3), onsets from the running sum of durations; 0 and PAD (-1) end the voice."""
        rows, now = [], 0.0
        for token in np.asarray(tokens, dtype=np.int64).tolist():
            if token <= 0:
                if rows or now > 0:  # a leading start token is skipped; any later 0 or PAD ends the voice
                    break
                continue
            d, p = divmod(token - 1, self.num_pitches + 1)
            quarters = self.durations[d]
            if p < self.num_pitches:
                rows.append((self.low + p, now, quarters))
            now += quarters
        return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


SOPRANO = NoteVocabulary()  # MIDI 52..88: the soprano's 57..81 with room to transpose by -5..+6 semitones


def transpose(notes: np.ndarray, semitones: int) -> np.ndarray:
    """The same notes moved by ``semitones`` (positive: up)."""
    moved = np.array(notes, dtype=np.float64).reshape(-1, 3)
    moved[:, 0] += semitones
    return moved


def encode_voice(chorales: Sequence[Chorale], voice: str = "soprano", vocab: NoteVocabulary = SOPRANO,
                 transpositions: Sequence[int] = (0,)) -> Tensor:
    """(B, T) LongTensor [0, t_1..t_n, 0, PAD = -1 ...], one row per chorale and transposition that fits the
    vocabulary's range (a transposition that would leave it is skipped); T = longest + 2."""
    rows = []
    for chorale in chorales:
        notes = chorale.voices[voice]
        for shift in transpositions:
            if len(notes) and vocab.low <= notes[:, 0].min() + shift and notes[:, 0].max() + shift <= vocab.high:
                rows.append(vocab.encode(transpose(notes, shift)))
    if not rows:
        raise ValueError("no chorale fits the vocabulary's range; widen NoteVocabulary(low=..., high=...)")
    x = torch.full((len(rows), max(map(len, rows)) + 2), -1, dtype=torch.long)
    for i, row in enumerate(rows):
        x[i, 0] = 0
        x[i, 1 : len(row) + 1] = torch.from_numpy(row)
        x[i, len(row) + 1] = 0
    return x


# ---- piano roll and sound -------------------------------------------------------------------------------------


def piano_roll(notes: np.ndarray | Sequence[Sequence[float]], steps_per_quarter: int,
               num_steps: int | None = None) -> np.ndarray:
    """Notes (N, 3) -> boolean (128, T): roll[p, s] is True while MIDI pitch p sounds during step s.

    A note covers the steps from round(onset * steps_per_quarter) up to, but not including,
    round((onset + duration) * steps_per_quarter). So a quarter note at onset 0 fills steps 0..3 when
    steps_per_quarter = 4, and a note that follows it starts at step 4. T = the last note's end unless
    ``num_steps`` is given (notes beyond it are cut).
    """
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 3)
    starts = np.rint(notes[:, 1] * steps_per_quarter).astype(int)
    ends = np.rint((notes[:, 1] + notes[:, 2]) * steps_per_quarter).astype(int)
    total = int(ends.max(initial=0)) if num_steps is None else num_steps
    roll = np.zeros((128, total), dtype=bool)
    for pitch, start, end in zip(notes[:, 0].astype(int), starts, ends, strict=True):
        roll[pitch, start:end] = True  # end is exclusive
    return roll


def midi_to_hz(pitch: np.ndarray | float) -> np.ndarray:
    """Equal temperament with A4 (MIDI 69) = 440 Hz."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def synthesize(notes: np.ndarray, *, tempo: float = 90.0, sample_rate: int = 16_000,
               harmonics: Sequence[float] = (1.0, 0.4, 0.2, 0.1), attack: float = 0.01,
               release: float = 0.08) -> np.ndarray:
    """Additive synthesis of notes (N, 3) (any number of voices) -> a mono waveform float32 in [-1, 1].

    ``tempo`` in quarter notes per minute. Each note is a sum of harmonics k = 1, 2, ... with amplitudes
    ``harmonics``, under a linear attack and an exponential decay with a ``release`` fade at the end, so
    notes neither click nor run into each other. Play it with ``IPython.display.Audio(wave, rate=sample_rate)``.
    """
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 3)
    seconds_per_quarter = 60.0 / tempo
    total = notes[:, 1:].sum(1).max(initial=0.0) * seconds_per_quarter + release
    wave = np.zeros(int(math.ceil(total * sample_rate)) + 1)
    for pitch, onset, duration in notes:
        start = int(round(onset * seconds_per_quarter * sample_rate))
        n = max(1, int(round(duration * seconds_per_quarter * sample_rate)))
        t = np.arange(n) / sample_rate
        frequency = float(midi_to_hz(pitch))
        tone = sum(a * np.sin(2 * np.pi * k * frequency * t) for k, a in enumerate(harmonics, start=1)
                   if k * frequency < sample_rate / 2)  # no harmonic above the Nyquist frequency
        envelope = np.minimum(1.0, t / attack) * np.exp(-1.5 * t) * np.minimum(1.0, (n / sample_rate - t) / release)
        wave[start : start + n] += (tone * envelope)[: len(wave) - start]
    peak = np.abs(wave).max(initial=0.0)
    return (wave / peak * 0.9 if peak > 0 else wave).astype(np.float32)
