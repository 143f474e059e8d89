"""A recurrent character model: a GRU reads the name left to right and predicts the next character.

log p(name) = sum_t log p(c_t | h_{t-1}),  h_s = GRU(h_{s-1}, embed(c_s)),  h_{-1} = 0,
so the state h_s summarises the whole prefix c_0..c_s (not a fixed window as in the context MLP), and it is
causal by construction: h_s is computed from c_0..c_s only. Cho et al., 2014, "Learning Phrase
Representations using RNN Encoder-Decoder for Statistical Machine Translation", arXiv:1406.1078 (the GRU);
character-level recurrent language models: Sutskever et al., 2011; Graves, 2013, arXiv:1308.0850.
"""

from __future__ import annotations

from torch import Tensor, nn

from course_lib.models.char_models import CharModel

__all__ = ["GRUCharModel"]


class GRUCharModel(CharModel):
    """Embedding -> `num_layers` GRU layers of `hidden` units -> linear read-out to next-character logits."""

    def __init__(self, vocab_size: int = 27, embed_dim: int = 16, hidden: int = 128, num_layers: int = 1,
                 dropout: float = 0.0, max_length: int = 32):
        super().__init__(vocab_size, max_length)
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.gru = nn.GRU(embed_dim, hidden, num_layers=num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab_size)

    def next_logits(self, tokens: Tensor) -> Tensor:
        """tokens: (B, t) ids. Returns (B, t, V): the logits at s depend on tokens 0..s only."""
        states, _ = self.gru(self.embed(tokens))  # (B, t, hidden), starting from a zero state
        return self.head(self.drop(states))  # (B, t, V)
