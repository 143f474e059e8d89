"""Character-level models of names: bigram counts, the same bigram as a neural net, and an MLP over a window.

Every model factorises a name c_1..c_n with start/end token '.' (index 0) as
    log p(name) = sum_{t=1}^{n+1} log p(c_t | c_<t),   c_0 = c_{n+1} = '.',
and differs only in what it keeps of the prefix c_<t: the last character (bigram) or the last
`window` characters (the MLP of Bengio et al., 2003, "A Neural Probabilistic Language Model", JMLR 3).
Batches are encoded by `course_lib.data.text.encode_names`: (B, T) with PAD = -1 after the end token.

`CharModel` holds what they share (log_prob, loss, sampling with temperature and top-k); a model only says
how it turns a prefix into next-character logits. The causal transformer (`models/transformer.py`) is one
more subclass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.models.base import DensityModel
from course_lib.nn import sample_logits

__all__ = ["CharModel", "BigramCounts", "NeuralBigram", "ContextMLP", "nll_per_char", "bigram_counts"]

PAD = -1


class CharModel(DensityModel):
    """Base class: subclasses implement `next_logits(tokens) -> (B, t, V)` for tokens (B, t) without PAD.

    Events: token sequences in the `encode_names` layout, [0, c_1..c_n, 0, PAD...], up to `max_length` tokens
    (start token included); ``event_shape`` is (max_length,). ``log_prob`` accepts batches (B, T) of any
    2 <= T <= max_length (names padded to the longest in the batch), and ``sample`` pads its rows to
    max_length. A sampled row that reaches max_length without an end token is a truncated name: its
    probability is that of its prefix, which is what ``log_prob`` gives a row without an end token that fills
    max_length, so that exp(log_prob) sums to one over everything ``sample`` can return.
    """

    def __init__(self, vocab_size: int = 27, max_length: int = 32):
        super().__init__((max_length,))
        self.vocab_size = vocab_size

    @property
    def max_length(self) -> int:
        """Longest sequence (start token included) that `sample` generates: event_shape[0]."""
        return self.event_shape[0]

    @max_length.setter
    def max_length(self, value: int) -> None:
        self.event_shape = torch.Size([int(value)])

    def next_logits(self, tokens: Tensor) -> Tensor:
        """tokens: (B, t) ids. Returns (B, t, V): logits of p(c_{s+1} | c_0..c_s) at every position s."""
        raise NotImplementedError

    def validate(self, x: Tensor) -> Tensor:
        """x: (B, T) token ids in the `encode_names` layout, 2 <= T <= max_length; returns x.long()."""
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} expects a torch.Tensor of token ids (B, T), got {type(x).__name__}; "
                            "encode names with course_lib.data.text.encode_names")
        if x.dim() != 2 or not 2 <= x.shape[1] <= self.max_length:
            raise ValueError(f"{name} expects token ids of shape (B, T) with 2 <= T <= max_length = "
                             f"{self.max_length}, got shape {tuple(x.shape)}")
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"{name} expects integer token ids, got dtype {x.dtype}; convert with x.long()")
        x = x.long()
        if x.numel() and (int(x.min()) < PAD or int(x.max()) >= self.vocab_size):
            raise ValueError(f"{name} expects token ids in 0..{self.vocab_size - 1} (and PAD = {PAD}), got "
                             f"values in {int(x.min())}..{int(x.max())}")
        ended = torch.cumsum((x[:, 1:] == 0).long(), 1) - (x[:, 1:] == 0).long() > 0  # after the first end token
        padded = x[:, 1:] == PAD
        if (x[:, 0] != 0).any() or (padded != ended).any():
            raise ValueError(f"{name} expects rows [0, c_1..c_n, 0, PAD...]: the start token 0, letters, one end "
                             "token 0, then only PAD = -1; encode names with course_lib.data.text.encode_names")
        if x.shape[1] < self.max_length and not (x[:, 1:] == 0).any(1).all():
            raise ValueError(f"{name}: a row without an end token 0 must fill max_length = {self.max_length}")
        return x

    def token_log_probs(self, x: Tensor) -> Tensor:
        """x: (B, T) token ids (not checked: any prefix will do). Returns (B, T-1): log p of each next token,
        0 at padding."""
        inputs, targets = x[:, :-1].clamp(min=0), x[:, 1:]
        logits = self.next_logits(inputs)  # (B, T-1, V)
        nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=PAD, reduction="none")
        return -nll

    def _log_prob(self, x: Tensor, context: None) -> Tensor:
        """x: (B, T) encoded names. Returns (B,) exact log p(name) in nats (end token included)."""
        return self.token_log_probs(x).sum(1)

    def loss(self, x: Tensor, context: None = None) -> Tensor:
        """Mean NLL per predicted character (the end token counts as a character), in nats.

        Not the default mean NLL per name: dividing by the number of characters makes the number comparable
        across data sets and with the course's tables of nats per character.
        """
        x = self.validate(x)
        self.validate_context(context, len(x))
        return -self.token_log_probs(x).sum() / (x[:, 1:] != PAD).sum()

    def sample(self, n: int, context: None = None, generator: torch.Generator | None = None, *,
               temperature: float = 1.0, top_k: int | None = None) -> Tensor:
        """Generate n names token by token; returns (n, max_length) ids in the `encode_names` layout.

        temperature divides the logits (T < 1 sharper, T > 1 flatter); top_k keeps the k likeliest tokens.
        """
        return super().sample(n, context, generator, temperature=temperature, top_k=top_k)

    def _sample(self, n: int, context: None, generator: torch.Generator | None, *, temperature: float = 1.0,
                top_k: int | None = None) -> Tensor:
        x = torch.zeros(n, 1, dtype=torch.long, device=self.device)
        done = torch.zeros(n, dtype=torch.bool, device=self.device)
        while x.shape[1] < self.max_length and not done.all():
            logits = self.next_logits(x.clamp(min=0))[:, -1]  # (n, V); PAD read as end
            nxt = sample_logits(logits, generator, temperature=temperature, top_k=top_k)
            nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
            x = torch.cat([x, nxt[:, None]], 1)
            done = done | (nxt == 0)
        return F.pad(x, (0, self.max_length - x.shape[1]), value=PAD)


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
        super().__init__(vocab_size)
        counts = bigram_counts(x, vocab_size) + alpha
        self.register_buffer("log_probs", (counts / counts.sum(1, keepdim=True)).log().float())  # (V, V)

    def next_logits(self, tokens: Tensor) -> Tensor:
        return self.log_probs[tokens]  # (B, t, V), already normalised


class NeuralBigram(CharModel):
    """The bigram as a one-layer net: logits = W[a] (one-hot(a) @ W). Trained by gradient descent on the NLL,
    W converges to the log of the count estimate (up to a per-row constant); weight decay plays alpha's role."""

    def __init__(self, vocab_size: int = 27):
        super().__init__(vocab_size)
        self.W = nn.Parameter(torch.zeros(vocab_size, vocab_size))

    def next_logits(self, tokens: Tensor) -> Tensor:
        return self.W[tokens]  # (B, t, V)


class ContextMLP(CharModel):
    """An MLP over the last `window` characters (left-padded with '.'): embed, concatenate, hidden layer."""

    def __init__(self, vocab_size: int = 27, window: int = 4, embed_dim: int = 16, hidden: int = 128,
                 dropout: float = 0.0):
        super().__init__(vocab_size)
        self.window = window
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.net = nn.Sequential(nn.Linear(window * embed_dim, hidden), nn.Tanh(), nn.Dropout(dropout),
                                 nn.Linear(hidden, vocab_size))

    def next_logits(self, tokens: Tensor) -> Tensor:
        padded = F.pad(tokens, (self.window - 1, 0), value=0)  # (B, t + window - 1)
        windows = padded.unfold(1, self.window, 1)  # (B, t, window): the last `window` tokens up to s
        return self.net(self.embed(windows).flatten(2))  # (B, t, V)
