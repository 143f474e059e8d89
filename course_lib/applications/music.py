"""Note-level models of a chorale voice: smoothed n-gram baselines and chapter 03's GRU, scored in nats per note.

Every model here is a chapter 03 ``CharModel`` over the tokens of :mod:`course_lib.data.music`:
log p(voice) = sum_t log p(x_t | x_<t), with one token per note or rest and one end token per chorale.
``nats_per_note`` is the held-out NLL divided by the number of predicted tokens (the end token counts as
one, as a name's end character does in chapter 03). It is exact: every model here has an exact likelihood.

The n-gram model uses interpolated Dirichlet smoothing. Each order backs off to the one below, and the
uniform distribution sits below order 1:
    p_k(w | h) = (c(h, w) + alpha p_{k-1}(w | h')) / (c(h) + alpha),   h' = h without its oldest token.
This is the hierarchical Dirichlet prior of MacKay & Peto, 1995, "A hierarchical Dirichlet language model",
Natural Language Engineering 1(3). It sums to one for any alpha > 0. Order 1 is the unigram. The order and
alpha are chosen on the validation split (:func:`select_ngram`).

The neural model is chapter 03's ``GRUCharModel`` with its recurrence and read-out unchanged. ``NoteGRU``
subclasses it to give the input a factorised embedding (pitch + duration) and to skip the padding. It is
trained with ``course_lib.train.fit`` on the training chorales and on their transpositions by -5 to +6
semitones, every key once, keeping those that stay in the vocabulary's range. Transposing leaves a melody's
intervals and rhythm as they were, so it is the music version of shifting a digit. The baselines can use
the same transpositions, and :func:`select_ngram` decides on validation whether they should.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from course_lib.config import torch_threads
from course_lib.data.music import SOPRANO, NoteVocabulary
from course_lib.models.char_models import PAD, CharModel, nll_per_char
from course_lib.models.gru import GRUCharModel
from course_lib.train import History, fit

__all__ = ["pitch_class_histogram", "interval_histogram", "pitch_range", "NGramModel", "select_ngram",
           "nats_per_note", "GRURecipe", "GRU_FULL", "GRU_FAST", "train_gru", "TRANSPOSITIONS", "NoteGRU",
           "NoteEmbedding", "trim_padding"]

TRANSPOSITIONS = tuple(range(-5, 7))  # -5 .. +6 semitones: every key once


def nats_per_note(model: CharModel, x: Tensor) -> float:
    """Held-out NLL in nats per token (notes, rests and one end token per chorale) of encoded voices x (B, T)."""
    return nll_per_char(model, x)


def pitch_class_histogram(notes: np.ndarray) -> np.ndarray:
    """Notes (N, 3) -> (12,) the share of the sounding time spent in each pitch class (0 = C, ..., 11 = B)."""
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 3)
    hist = np.bincount(notes[:, 0].astype(int) % 12, weights=notes[:, 2], minlength=12)
    return hist / hist.sum() if hist.sum() > 0 else hist


def interval_histogram(notes: np.ndarray, max_interval: int = 12) -> np.ndarray:
    """Shares of the melodic intervals between consecutive notes (rests skipped), in semitones
    -max_interval..max_interval, larger leaps counted at the ends: (2 * max_interval + 1,)."""
    pitches = np.asarray(notes, dtype=np.float64).reshape(-1, 3)[:, 0]
    steps = np.clip(np.diff(pitches).astype(int), -max_interval, max_interval) + max_interval
    hist = np.bincount(steps, minlength=2 * max_interval + 1).astype(np.float64)
    return hist / hist.sum() if hist.sum() > 0 else hist


def pitch_range(notes: np.ndarray) -> int:
    """Highest minus lowest MIDI pitch, in semitones (0 for fewer than one note)."""
    pitches = np.asarray(notes, dtype=np.float64).reshape(-1, 3)[:, 0]
    return int(pitches.max() - pitches.min()) if len(pitches) else 0


class NGramModel(CharModel):
    """An order-``order`` Markov chain over tokens with interpolated Dirichlet smoothing (module docstring).

    ``order = 1`` is the unigram, ``order = 2`` the bigram (one token of context). Near the start the context
    is shorter: the start token and what follows it.
    """

    def __init__(self, x: Tensor, vocab_size: int, order: int = 2, alpha: float = 1.0, max_length: int = 256):
        super().__init__(vocab_size, max_length)
        if order < 1 or alpha <= 0:
            raise ValueError(f"order must be >= 1 and alpha > 0, got order={order}, alpha={alpha}")
        self.order, self.alpha = order, float(alpha)
        # counts[h] -> {w: c(h, w)} for every context h of length 0 .. order - 1
        self.counts: dict[tuple[int, ...], dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for row in self.validate(x).tolist():
            row = [t for t in row if t != PAD]
            for t in range(1, len(row)):
                for k in range(min(order, t + 1)):
                    self.counts[tuple(row[t - k : t])][row[t]] += 1.0
        self._cache: dict[tuple[int, ...], np.ndarray] = {}
        # the counts are sparse Python dicts, not tensors: this empty buffer carries the model's device, so
        # that `device`, `sample` and `.to(...)` behave as for every other model
        self.register_buffer("device_anchor", torch.zeros(0))

    def probs(self, context: Sequence[int]) -> np.ndarray:
        """p(. | context) over the vocabulary, (V,) float64; only the last order - 1 tokens are used."""
        context = tuple(context)[max(0, len(context) - self.order + 1):] if self.order > 1 else ()
        if context not in self._cache:
            lower = self.probs(context[1:]) if context else np.full(self.vocab_size, 1.0 / self.vocab_size)
            seen = self.counts.get(context, {})
            p = self.alpha * lower
            for w, c in seen.items():
                p[w] += c
            self._cache[context] = p / (sum(seen.values()) + self.alpha)
        return self._cache[context]

    def next_logits(self, tokens: Tensor) -> Tensor:
        """tokens (B, t) -> (B, t, V) log-probabilities (normalised logits) of the next token."""
        rows = tokens.tolist()
        out = np.full((len(rows), tokens.shape[1], self.vocab_size), 1.0 / self.vocab_size)
        for b, row in enumerate(rows):
            for s in range(len(row)):
                out[b, s] = self.probs(row[max(0, s - self.order + 2) : s + 1])
                if s > 0 and row[s] == 0:  # the end token: what follows is padding, never scored
                    break
        return torch.from_numpy(np.log(out)).float().to(tokens.device)


def select_ngram(trains: dict[str, Tensor], val: Tensor, vocab_size: int, orders: Sequence[int] = (1, 2, 3, 4),
                 alphas: Sequence[float] = (0.1, 0.3, 1.0, 3.0, 10.0)) -> tuple[NGramModel, dict]:
    """The n-gram with the lowest validation NLL over training sets (e.g. {"original": x, "transposed": x'}),
    orders and alphas. Returns it and a dict of every validation NLL, keyed by (train name, order, alpha)."""
    scores, best, best_score = {}, None, float("inf")
    for name, train in trains.items():
        for order in orders:
            for alpha in alphas:
                model = NGramModel(train, vocab_size, order, alpha)
                scores[(name, order, alpha)] = score = nats_per_note(model, val)
                if score < best_score:
                    best, best_score = model, score
    return best, scores


def trim_padding(x: Tensor) -> Tensor:
    """x (B, T) without its trailing columns of PAD only (a batch of short chorales needs fewer GRU steps)."""
    used = (x != PAD).any(0).nonzero()
    return x[:, : int(used.max()) + 1] if len(used) else x


class NoteEmbedding(nn.Module):
    """embed(token) = E_pitch[pitch of token] + E_duration[duration of token]: a note shares what it learns
    with every note of the same pitch and with every note of the same length. The start/end token and the
    rest have rows of their own.

    With ``metre_steps = M > 0`` a third term, E_metre[position], tells the model where the next note starts:
    the running sum of the durations read so far, in sixteenth notes, modulo M (16 = one 4/4 bar). It is a
    function of the tokens already read, so the model is still an exact, unconditional p(voice); it only
    spares the GRU from learning to add durations. The bar line itself is not given: a chorale that opens
    with an upbeat is shifted by it, and the model has to infer that from the first notes.
    """

    def __init__(self, vocab: NoteVocabulary, dim: int, metre_steps: int = 0):
        super().__init__()
        pitch = torch.full((vocab.size,), vocab.num_pitches + 1)  # the start/end token
        duration = torch.full((vocab.size,), len(vocab.durations))
        tokens = torch.arange(1, vocab.size)
        duration[1:], pitch[1:] = (tokens - 1) // (vocab.num_pitches + 1), (tokens - 1) % (vocab.num_pitches + 1)
        self.register_buffer("pitch", pitch)
        self.register_buffer("duration", duration)
        self.pitch_table = nn.Embedding(vocab.num_pitches + 2, dim)  # pitches, rest, start/end
        self.duration_table = nn.Embedding(len(vocab.durations) + 1, dim)
        self.metre_steps = int(metre_steps)
        if self.metre_steps > 0:
            sixteenths = torch.tensor([round(4 * d) for d in vocab.durations] + [0])  # start/end: no time
            if any(abs(4 * d - round(4 * d)) > 1e-9 for d in vocab.durations):
                raise ValueError("a metre embedding needs durations in whole sixteenth notes")
            self.register_buffer("sixteenths", sixteenths[duration])  # (V,) length of each token
            self.metre_table = nn.Embedding(self.metre_steps, dim)

    def forward(self, tokens: Tensor) -> Tensor:  # (B, t) -> (B, t, dim)
        out = self.pitch_table(self.pitch[tokens]) + self.duration_table(self.duration[tokens])
        if self.metre_steps > 0:
            onset_next = self.sixteenths[tokens].cumsum(1) % self.metre_steps  # (B, t): where token s+1 starts
            out = out + self.metre_table(onset_next)
        return out


class NoteGRU(GRUCharModel):
    """Chapter 03's GRU over note tokens, with a factorised input embedding (:class:`NoteEmbedding`); its
    training loss first drops the batch's trailing padding, which does not change the loss (padding is
    ignored) but saves the recurrent steps over it."""

    def __init__(self, vocab: NoteVocabulary = SOPRANO, embed_dim: int = 32, hidden: int = 128,
                 num_layers: int = 1, dropout: float = 0.0, max_length: int = 256, factorised: bool = True,
                 metre_steps: int = 0):
        super().__init__(vocab.size, embed_dim, hidden, num_layers, dropout, max_length)
        if metre_steps and not factorised:
            raise ValueError("metre_steps needs the factorised embedding (factorised=True)")
        if factorised:
            self.embed = NoteEmbedding(vocab, embed_dim, metre_steps)

    def loss(self, x: Tensor, context: None = None) -> Tensor:
        return super().loss(trim_padding(x), context)


@dataclass(frozen=True)
class GRURecipe:
    """A GRU note model and how it is trained. The full recipe was chosen on the validation split: a hidden
    size of 256 learned faster per step than 128 (validation 2.45 against 2.58 nats per note after 200
    steps), and the factorised embedding beat the joint one (2.46 against 2.53 after 300 steps). The metre
    embedding (``metre_steps``) is compared with the GRU without it on validation by
    ``music_benchmark --recipe metre_steps=0`` (see that module)."""

    embed_dim: int = 32
    hidden: int = 256
    num_layers: int = 1
    dropout: float = 0.3
    lr: float = 3e-3
    batch_size: int = 32
    steps: int = 1000
    eval_every: int = 50
    patience: int = 6  # validations without improvement before stopping
    threads: int = 1
    factorised: bool = True  # the input embedding (NoteEmbedding)
    metre_steps: int = 16  # NoteEmbedding's position in a 4/4 bar, in sixteenths (0: none)


GRU_FULL = GRURecipe()
GRU_FAST = GRURecipe(hidden=64, steps=60, eval_every=20, patience=2)  # the tests' and fast mode's twin


def train_gru(train: Tensor, val: Tensor, vocab: NoteVocabulary = SOPRANO, recipe: GRURecipe = GRU_FULL,
              seed: int = 0, progress: bool | None = None) -> tuple[NoteGRU, History]:
    """Train chapter 03's GRU on encoded voices (B, T) with early stopping on ``val``; returns it in eval mode."""
    torch.manual_seed(seed)
    model = NoteGRU(vocab, recipe.embed_dim, recipe.hidden, recipe.num_layers, recipe.dropout,
                    max_length=max(256, train.shape[1], val.shape[1]), factorised=recipe.factorised,
                    metre_steps=recipe.metre_steps)
    start = time.perf_counter()
    with torch_threads(recipe.threads):
        history = fit(model, train, val, steps=recipe.steps, lr=recipe.lr, batch_size=recipe.batch_size,
                      clip_grad=1.0, eval_every=recipe.eval_every, patience=recipe.patience, seed=seed,
                      progress=progress)
    history.seconds = time.perf_counter() - start
    return model, history
