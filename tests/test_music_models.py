"""The note models: the smoothed n-gram sums to one, its samples follow its own log_prob, and both the n-gram and
chapter 03's GRU beat the unigram on held-out melodies of a tiny corpus the test builds."""

import itertools

import numpy as np
import pytest
import torch
from scipy import stats

from course_lib.applications import music as am
from course_lib.data import music
from course_lib.models.gru import GRUCharModel

VOCAB = music.NoteVocabulary(low=60, high=63, durations=(1.0, 2.0))  # 11 tokens


def _melody(rng, length):
    """A second-order process: the next pitch is set by the last two (90 %), its duration by the pitch."""
    pitches = list(rng.integers(60, 64, size=2))
    while len(pitches) < length:
        a, b = pitches[-2], pitches[-1]
        pitches.append(60 + (a + 2 * b + 1) % 4 if rng.random() < 0.9 else int(rng.integers(60, 64)))
    durations = [2.0 if p == 63 else 1.0 for p in pitches]
    onsets = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    return np.stack([pitches, onsets, durations], 1).astype(np.float64)


def _corpus(n, seed):
    rng = np.random.default_rng(seed)
    chorales = [music.Chorale(f"m{i}", "4/4", 0, {"soprano": _melody(rng, int(rng.integers(12, 30)))})
                for i in range(n)]
    return music.encode_voice(chorales, vocab=VOCAB)


@pytest.fixture(scope="module")
def data():
    return _corpus(120, 0), _corpus(30, 1), _corpus(40, 2)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_ngram_is_normalised_and_order_one_is_the_smoothed_unigram(data, order):
    train = data[0]
    model = am.NGramModel(train, VOCAB.size, order=order, alpha=0.7)
    for context in [(0,), (0, 3), (5, 2, 7), (9, 9, 9, 9)]:
        p = model.probs(context)
        assert p.shape == (VOCAB.size,) and (p > 0).all() and abs(p.sum() - 1) < 1e-12
    if order == 1:
        targets = train[:, 1:][train[:, 1:] != -1]
        counts = torch.bincount(targets, minlength=VOCAB.size).double().numpy()
        want = (counts + 0.7 / VOCAB.size) / (counts.sum() + 0.7)
        np.testing.assert_allclose(model.probs((4,)), want, rtol=1e-12)
    if order == 2:  # the first note follows the start token: p(w | 0) from the counts of first notes
        firsts = torch.bincount(train[:, 1], minlength=VOCAB.size).double().numpy()
        unigram = am.NGramModel(train, VOCAB.size, order=1, alpha=0.7).probs(())
        want = (firsts + 0.7 * unigram) / (firsts.sum() + 0.7)
        np.testing.assert_allclose(model.probs((0,)), want, rtol=1e-12)


def test_ngram_samples_follow_its_log_prob():
    x = torch.tensor([[0, 1, 2, 0], [0, 2, 2, 0], [0, 1, 0, -1]])
    model = am.NGramModel(x, vocab_size=3, order=2, alpha=0.5, max_length=4)
    rows = [[0, 0, -1, -1]] + [[0, a, 0, -1] for a in (1, 2)] + [[0, a, b, 0] for a in (1, 2) for b in (1, 2)]
    rows += [[0, a, b, c] for a, b, c in itertools.product((1, 2), repeat=3)]  # truncated: no end token
    everything = torch.tensor(rows)
    p = model.log_prob(everything).double().exp()
    assert abs(p.sum().item() - 1) < 1e-5  # every row sample can return, and they sum to one
    samples = model.sample(20_000, generator=torch.Generator().manual_seed(0))
    index = {tuple(r): i for i, r in enumerate(rows)}
    observed = np.bincount([index[tuple(r)] for r in samples.tolist()], minlength=len(rows))
    expected = p.numpy() * len(samples)
    assert stats.chisquare(observed, expected * observed.sum() / expected.sum()).pvalue > 1e-3


def test_ngram_beats_the_unigram_and_selection_picks_a_context(data):
    train, val, test = data
    unigram = am.NGramModel(train, VOCAB.size, order=1, alpha=1.0)
    best, scores = am.select_ngram({"original": train}, val, VOCAB.size, orders=(1, 2, 3), alphas=(0.3, 1.0))
    assert len(scores) == 6 and best.order >= 2
    assert am.nats_per_note(best, test) < am.nats_per_note(unigram, test) - 0.3


def test_gru_learns_and_beats_the_unigram_on_held_out_melodies(data):
    train, val, test = data
    recipe = am.GRURecipe(embed_dim=16, hidden=32, dropout=0.0, lr=1e-2, batch_size=32, steps=150,
                          eval_every=50, patience=3)
    model, history = am.train_gru(train, val, VOCAB, recipe, seed=0)
    unigram = am.NGramModel(train, VOCAB.size, order=1, alpha=1.0)
    assert history.steps > 0 and history.best_val_loss is not None
    assert am.nats_per_note(model, test) < am.nats_per_note(unigram, test) - 0.3


def test_trim_padding_keeps_the_loss():
    x = torch.tensor([[0, 3, 4, 0, -1, -1], [0, 5, 0, -1, -1, -1]])
    assert am.trim_padding(x).shape == (2, 4)
    torch.manual_seed(0)
    model = am.NoteGRU(VOCAB, embed_dim=8, hidden=8)
    assert torch.allclose(model.loss(x), GRUCharModel.loss(model, x))


def test_note_embedding_shares_pitch_and_duration():
    embed = am.NoteEmbedding(VOCAB, 4)
    short_c, long_c, short_d = VOCAB.token(60, 1.0), VOCAB.token(60, 2.0), VOCAB.token(62, 1.0)
    assert embed.pitch[short_c] == embed.pitch[long_c] != embed.pitch[short_d]
    assert embed.duration[short_c] == embed.duration[short_d] != embed.duration[long_c]
    assert len({int(embed.pitch[0]), int(embed.pitch[VOCAB.token(None, 1.0)])} | set(embed.pitch[1:5].tolist())) == 6


def test_musical_statistics():
    notes = np.array([[60, 0, 1.0], [64, 1, 1.0], [67, 2, 2.0], [72, 4.5, 0.5], [59, 5, 1.0]])
    pcs = am.pitch_class_histogram(notes)
    assert pcs.shape == (12,) and pcs[0] == pytest.approx(1.5 / 5.5) and pcs[7] == pytest.approx(2 / 5.5)
    intervals = am.interval_histogram(notes, max_interval=5)
    assert intervals.shape == (11,) and intervals.sum() == pytest.approx(1.0)
    assert intervals.tolist() == [0.25, 0, 0, 0, 0, 0, 0, 0, 0.25, 0.25, 0.25]  # -13 clipped to -5; +3, +4, +5
    assert am.pitch_range(notes) == 13 and am.pitch_range(np.zeros((0, 3))) == 0


def test_metre_embedding_adds_the_position_where_the_next_note_starts():
    torch.manual_seed(0)
    embed = am.NoteEmbedding(VOCAB, 4, metre_steps=16)
    quarter, half = VOCAB.token(60, 1.0), VOCAB.token(None, 2.0)
    tokens = torch.tensor([[0, quarter, half, quarter, half, half]])
    plain = embed.pitch_table(embed.pitch[tokens]) + embed.duration_table(embed.duration[tokens])
    # the next token starts after 0, 1, 3, 4, 6, 8 quarter notes: sixteenths 0, 4, 12, 16, 24, 32 modulo 16
    want = plain + embed.metre_table(torch.tensor([[0, 4, 12, 0, 8, 0]]))
    assert torch.allclose(embed(tokens), want)


def test_note_gru_with_metre_is_causal_and_normalised():
    torch.manual_seed(0)
    model = am.NoteGRU(VOCAB, embed_dim=8, hidden=8, metre_steps=16, max_length=3).eval()
    x = torch.tensor([[0, 3, 5, 7, 2, 0]])
    changed = x.clone()
    changed[0, 3] = 9  # a different token at position 3 (and so a different metre from there on)
    with torch.no_grad():
        a, b = model.next_logits(x), model.next_logits(changed)
    assert torch.allclose(a[:, :3], b[:, :3]) and not torch.allclose(a[:, 3:], b[:, 3:])
    # every sequence of at most 2 notes plus the ones that fill max_length: their probabilities sum to 1
    rows = [[0, 0]] + [[0, t, 0] for t in range(1, VOCAB.size)]
    rows += [[0, t, u] for t in range(1, VOCAB.size) for u in range(1, VOCAB.size)]
    width = max(map(len, rows))
    batch = torch.tensor([r + [-1] * (width - len(r)) for r in rows])
    with torch.no_grad():
        assert torch.logsumexp(model.log_prob(batch).double(), 0).exp().item() == pytest.approx(1.0, abs=1e-5)


def test_metre_needs_the_factorised_embedding():
    with pytest.raises(ValueError, match="factorised"):
        am.NoteGRU(VOCAB, metre_steps=16, factorised=False)


def test_benchmark_recipe_variants_are_typed_and_checked():
    from course_lib.applications.music_benchmark import recipe_with

    recipe = recipe_with({"metre_steps": "0", "lr": "1e-3", "factorised": "false"})
    assert (recipe.metre_steps, recipe.lr, recipe.factorised) == (0, 1e-3, False)
    assert recipe_with().metre_steps == recipe_with({}).metre_steps > 0
    with pytest.raises(ValueError, match="unknown recipe fields"):
        recipe_with({"hiden": "64"})
