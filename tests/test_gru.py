"""The GRU character model: causal, normalised, its sampler follows its log_prob, and it learns names."""

import itertools

import numpy as np
import pytest
import torch
from scipy import stats

from course_lib.data.text import PAD, encode_names, load_names
from course_lib.models.char_models import BigramCounts, nll_per_char
from course_lib.models.gru import GRUCharModel
from course_lib.train import fit


def _random_gru(vocab_size: int = 27, max_length: int = 32, scale: float = 1.0, seed: int = 0) -> GRUCharModel:
    torch.manual_seed(seed)
    model = GRUCharModel(vocab_size=vocab_size, embed_dim=8, hidden=16, max_length=max_length).eval()
    with torch.no_grad():  # larger weights: a peaked, far-from-uniform distribution that tests can tell apart
        for p in model.parameters():
            p.mul_(scale)
    return model


def test_no_future_token_changes_a_logit():
    model = _random_gru()
    x = torch.randint(0, 27, (2, 9), generator=torch.Generator().manual_seed(1))
    base = model.next_logits(x)
    for r in range(9):
        y = x.clone()
        y[:, r] = (y[:, r] + 1) % 27
        changed = (model.next_logits(y) - base).abs().amax(-1) > 1e-6  # (2, 9)
        assert not changed[:, :r].any(), f"a logit before position {r} depends on the token at {r}"
        assert changed[:, r:].all(), "a recurrent state should carry the token at r to every later position"


def test_log_prob_sums_to_one_over_every_sequence():
    """All 3^4 token sequences after the start token, over a vocabulary of 3: the chain rule sums to one."""
    model = _random_gru(vocab_size=3, scale=3.0)
    seqs = torch.tensor([[0, *r] for r in itertools.product(range(3), repeat=4)])  # (81, 5)
    total = torch.logsumexp(model.token_log_probs(seqs).sum(1).double(), 0)
    assert abs(total.item()) < 1e-5


def _outcomes(vocab_size: int, max_length: int) -> torch.Tensor:
    """Every sequence `sample` can return: a name that ended ([0, c.., 0, PAD..]) or one cut at max_length."""
    rows = []
    for m in range(max_length - 1):  # names of m letters and their end token
        for letters in itertools.product(range(1, vocab_size), repeat=m):
            rows.append([0, *letters, 0] + [PAD] * (max_length - m - 2))
    for letters in itertools.product(range(1, vocab_size), repeat=max_length - 1):  # no end within max_length
        rows.append([0, *letters])
    return torch.tensor(rows)


def test_samples_follow_log_prob():
    model = _random_gru(vocab_size=3, max_length=5, scale=3.0)
    outcomes = _outcomes(3, 5)  # (31, 5)
    with torch.no_grad():
        probs = model.token_log_probs(outcomes).sum(1).double().exp()
    assert abs(probs.sum().item() - 1) < 1e-5
    n = 20_000
    samples = model.sample(n, generator=torch.Generator().manual_seed(0))
    samples = torch.nn.functional.pad(samples, (0, 5 - samples.shape[1]), value=PAD)
    index = {tuple(r): i for i, r in enumerate(outcomes.tolist())}
    counts = np.bincount([index[tuple(r)] for r in samples.tolist()], minlength=len(outcomes))
    expected = probs.numpy() * n
    keep = expected >= 5  # pool the rare outcomes into one cell, as a chi-square test needs
    observed = np.append(counts[keep], counts[~keep].sum())
    expected = np.append(expected[keep], expected[~keep].sum())
    assert stats.chisquare(observed, expected).pvalue > 1e-3


@pytest.fixture(scope="module")
def names():
    data = load_names()
    T = max(len(w) for w in data.train + data.val) + 2
    return encode_names(data.train, T), encode_names(data.val, T)


def test_beats_the_bigram_on_held_out_names_after_a_short_run(names):
    x_train, x_val = names
    bigram = min(nll_per_char(BigramCounts(x_train, alpha=a), x_val) for a in (0.03, 0.1, 0.3, 1.0))
    torch.manual_seed(0)
    model = GRUCharModel(embed_dim=16, hidden=64)
    fit(model, x_train, epochs=2, lr=1e-2, batch_size=128, progress=False)
    assert nll_per_char(model, x_val) < bigram - 0.05
