"""The causal transformer: the mask, the autoregressive property, normalisation, learning on names."""

import itertools
import math

import torch

from course_lib.data.text import encode_names, load_names
from course_lib.models.char_models import nll_per_char
from course_lib.models.transformer import CausalTransformer, causal_attention_mask
from course_lib.train import fit


def test_causal_mask():
    m = causal_attention_mask(4)
    assert m.dtype == torch.bool
    assert m.tolist() == [[True, False, False, False], [True, True, False, False],
                          [True, True, True, False], [True, True, True, True]]


def test_autoregressive_property():
    """d logits at position s / d (embedded input at position r) is zero for every r > s."""
    torch.manual_seed(0)
    model = CausalTransformer(vocab_size=7, max_length=6, dim=16, num_heads=2, num_layers=2, dropout=0.0).eval()
    tokens = torch.randint(0, 7, (1, 6))
    captured = {}

    def keep(module, inputs, output):
        output.retain_grad()
        captured["h"] = output

    handle = model.tok.register_forward_hook(keep)
    logits = model.next_logits(tokens)  # (1, 6, 7)
    handle.remove()
    for s in range(6):
        captured["h"].grad = None
        logits[0, s].sum().backward(retain_graph=True)
        g = captured["h"].grad[0].abs().sum(-1)  # (6,): sensitivity to each input position
        assert (g[s + 1:] == 0).all(), f"position {s} sees the future"
        assert g[s] > 0


def test_log_prob_normalises_by_enumeration():
    """Over all token sequences of a fixed length after the start token, the chain rule sums to one."""
    torch.manual_seed(0)
    model = CausalTransformer(vocab_size=3, max_length=4, dim=8, num_heads=2, num_layers=1, dropout=0.0).eval()
    seqs = torch.tensor([[0, *rest] for rest in itertools.product(range(3), repeat=3)])  # (27, 4)
    total = torch.logsumexp(model.token_log_probs(seqs).sum(1), 0)
    assert abs(total.item()) < 1e-5


def test_samples_are_valid_names():
    model = CausalTransformer(max_length=13, dim=16, num_heads=2, num_layers=1)
    x = model.sample(10, generator=torch.Generator().manual_seed(0), temperature=0.8, top_k=5)
    assert x.shape[0] == 10 and x.shape[1] <= 13 and (x[:, 0] == 0).all()


def test_beats_the_unigram_baseline_on_held_out_names():
    names = load_names()
    train, val = encode_names(names.train, 13), encode_names(names.val, 13)
    targets = train[:, 1:][train[:, 1:] >= 0]
    freq = torch.bincount(targets, minlength=27).double() + 1
    vt = val[:, 1:][val[:, 1:] >= 0]
    unigram = -(freq / freq.sum()).log()[vt].mean().item()  # about 2.9 nats per character
    torch.manual_seed(0)
    model = CausalTransformer(max_length=13, dim=32, num_heads=2, num_layers=1, dropout=0.0)
    fit(model, train, epochs=2, lr=1e-2, batch_size=256, progress=False)
    assert nll_per_char(model, val) < unigram - 0.2 < math.log(27)
