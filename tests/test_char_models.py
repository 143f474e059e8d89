"""Character models of names: counts, the neural bigram that matches them, the context MLP."""

import itertools
import math

import pytest
import torch

from course_lib.data.text import VOCAB, encode_names
from course_lib.models.char_models import BigramCounts, ContextMLP, NeuralBigram, bigram_counts, nll_per_char
from course_lib.train import fit

WORDS = ["anna", "bob", "ada", "abba", "bab", "an"]


def test_counts_by_hand():
    n = bigram_counts(encode_names(["ab", "b"]))
    a, b = VOCAB.index("a"), VOCAB.index("b")
    assert n[0, a] == 1 and n[a, b] == 1 and n[b, 0] == 2 and n[0, b] == 1 and n.sum() == 5


def test_bigram_log_prob_by_hand():
    x = encode_names(WORDS)
    model = BigramCounts(x, alpha=0.5)
    counts = bigram_counts(x) + 0.5
    P = counts / counts.sum(1, keepdim=True)
    ids = [0] + [VOCAB.index(c) for c in "abba"] + [0]
    expected = sum(math.log(P[i, j]) for i, j in zip(ids[:-1], ids[1:], strict=True))
    assert model.log_prob(encode_names(["abba"]))[0].item() == pytest.approx(expected, rel=1e-5)


def test_neural_bigram_matches_the_counts():
    x = encode_names(WORDS * 5)
    counts_model = BigramCounts(x, alpha=1e-3)
    torch.manual_seed(0)
    neural = NeuralBigram()
    fit(neural, x, steps=300, lr=0.2, batch_size=len(x), progress=False)
    assert nll_per_char(neural, x) == pytest.approx(nll_per_char(counts_model, x), abs=0.01)


@pytest.mark.parametrize("model", [BigramCounts(encode_names(WORDS)), NeuralBigram(), ContextMLP(window=3)],
                         ids=["counts", "neural", "mlp"])
def test_chain_rule_normalises_by_enumeration(model):
    """Summed over every token sequence of length 3 after the start token, the probabilities give one."""
    torch.manual_seed(0)
    if isinstance(model, NeuralBigram):
        torch.nn.init.normal_(model.W)
    V = 27
    seqs = torch.tensor([[0, *r] for r in itertools.product(range(V), repeat=2)])  # (729, 3)
    total = torch.logsumexp(model.token_log_probs(seqs).sum(1), 0)
    assert abs(total.item()) < 1e-4


def test_context_mlp_is_autoregressive():
    torch.manual_seed(0)
    model = ContextMLP(window=3).eval()
    x = torch.randint(0, 27, (1, 8))
    base = model.next_logits(x)
    for r in range(8):
        y = x.clone()
        y[0, r] = (y[0, r] + 1) % 27
        changed = (model.next_logits(y) - base).abs().sum(-1)[0] > 1e-6  # (8,)
        assert not changed[:r].any(), "a position depends on a later token"
        assert changed[r:r + 3].all() and not changed[r + 3:].any()  # exactly the window of 3


def test_sampling_with_top_k_one_is_greedy():
    x = encode_names(WORDS)
    model = BigramCounts(x)
    a = model.sample(5, generator=torch.Generator().manual_seed(0), top_k=1)
    b = model.sample(5, generator=torch.Generator().manual_seed(1), top_k=1)
    assert torch.equal(a, b)
    assert (a[:, 0] == 0).all()
