"""Character-level models of names: bigram counts, the same bigram as a neural net, and an MLP over a window.

Every model factorises a name c_1..c_n with start/end token '.' (index 0) as
    log p(name) = sum_{t=1}^{n+1} log p(c_t | c_<t),   c_0 = c_{n+1} = '.',
and differs only in what it keeps of the context c_<t: the last character (bigram) or the last
`context` characters (the MLP of Bengio et al., 2003, "A Neural Probabilistic Language Model", JMLR 3).
Batches are encoded by `course_lib.data.text.encode_names`: (B, T) with PAD = -1 after the end token.

`CharModel` holds what they share (log_prob, loss, sampling with temperature and top-k); a model only says
how it turns a prefix into next-character logits. The causal transformer (`models/transformer.py`) is one
more subclass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CharModel", "BigramCounts", "NeuralBigram", "ContextMLP", "nll_per_char", "bigram_counts"]

PAD = -1


class CharModel(nn.Module):
    """Base class: subclasses implement `next_logits(tokens) -> (B, t, V)` for tokens (B, t) without PAD."""

    vocab_size: int
    max_length: int = 32  # longest sequence (start token included) that `sample` generates

    def next_logits(self, tokens: Tensor) -> Tensor:
        """tokens: (B, t) ids. Returns (B, t, V): logits of p(c_{s+1} | c_0..c_s) at every position s."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.buffers(), next(self.parameters(), torch.empty(0))).device

    def token_log_probs(self, x: Tensor) -> Tensor:
        """x: (B, T) encoded names. Returns (B, T-1): log p of each next token, 0 at padding."""
        inputs, targets = x[:, :-1].clamp(min=0), x[:, 1:]
        logits = self.next_logits(inputs)  # (B, T-1, V)
        nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=PAD, reduction="none")
        return -nll

    def log_prob(self, x: Tensor) -> Tensor:
        """x: (B, T) encoded names. Returns (B,) exact log p(name) in nats (end token included)."""
        return self.token_log_probs(x).sum(1)

    def loss(self, x: Tensor) -> Tensor:
        """Mean NLL per predicted character (the end token counts as a character), in nats."""
        return -self.token_log_probs(x).sum() / (x[:, 1:] != PAD).sum()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0,
               top_k: int | None = None) -> Tensor:
        """Generate n names token by token; returns (n, T) ids in the `encode_names` layout (PAD after end).

        temperature divides the logits (T < 1 sharper, T > 1 flatter); top_k keeps the k likeliest tokens.
        """
        x = torch.zeros(n, 1, dtype=torch.long, device=self.device)
        done = torch.zeros(n, dtype=torch.bool, device=self.device)
        while x.shape[1] < self.max_length and not done.all():
            logits = self.next_logits(x.clamp(min=0))[:, -1] / temperature  # (n, V); PAD read as end
            if top_k is not None:
                kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            nxt = torch.multinomial(F.softmax(logits, -1), 1, generator=generator).squeeze(1)
            nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
            x = torch.cat([x, nxt[:, None]], 1)
            done = done | (nxt == 0)
        return x


def nll_per_char(model: CharModel, x: Tensor) -> float:
    """Held-out NLL in nats per character (end token included) of encoded names x (B, T)."""
    model.eval()
    with torch.no_grad():
        return float(-model.token_log_probs(x).sum() / (x[:, 1:] != PAD).sum())


def bigram_counts(x: Tensor, vocab_size: int = 27) -> Tensor:
    """Counts N[a, b] of token b following token a in encoded names x (B, T). Returns (V, V) float64."""
    a, b = x[:, :-1].flatten(), x[:, 1:].flatten()
    keep = b != PAD
    flat = torch.bincount(a[keep] * vocab_size + b[keep], minlength=vocab_size ** 2)
    return flat.view(vocab_size, vocab_size).double()


class BigramCounts(CharModel):
    """p(b | a) = (N[a, b] + alpha) / (sum_b' N[a, b'] + V alpha): the smoothed maximum-likelihood bigram."""

    def __init__(self, x: Tensor, vocab_size: int = 27, alpha: float = 1.0):
        super().__init__()
        self.vocab_size = vocab_size
        counts = bigram_counts(x, vocab_size) + alpha
        self.register_buffer("log_probs", (counts / counts.sum(1, keepdim=True)).log().float())  # (V, V)

    def next_logits(self, tokens: Tensor) -> Tensor:
        return self.log_probs[tokens]  # (B, t, V), already normalised


class NeuralBigram(CharModel):
    """The bigram as a one-layer net: logits = W[a] (one-hot(a) @ W). Trained by gradient descent on the NLL,
    W converges to the log of the count estimate (up to a per-row constant); weight decay plays alpha's role."""

    def __init__(self, vocab_size: int = 27):
        super().__init__()
        self.vocab_size = vocab_size
        self.W = nn.Parameter(torch.zeros(vocab_size, vocab_size))

    def next_logits(self, tokens: Tensor) -> Tensor:
        return self.W[tokens]  # (B, t, V)


class ContextMLP(CharModel):
    """An MLP over the last `context` characters (left-padded with '.'): embed, concatenate, hidden layer."""

    def __init__(self, vocab_size: int = 27, context: int = 4, embed_dim: int = 16, hidden: int = 128,
                 dropout: float = 0.0):
        super().__init__()
        self.vocab_size, self.context = vocab_size, context
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.net = nn.Sequential(nn.Linear(context * embed_dim, hidden), nn.Tanh(), nn.Dropout(dropout),
                                 nn.Linear(hidden, vocab_size))

    def next_logits(self, tokens: Tensor) -> Tensor:
        padded = F.pad(tokens, (self.context - 1, 0), value=0)  # (B, t + context - 1)
        windows = padded.unfold(1, self.context, 1)  # (B, t, context): the last `context` tokens up to s
        return self.net(self.embed(windows).flatten(2))  # (B, t, V)
