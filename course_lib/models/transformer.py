"""A small causal transformer over characters: self-attention in which position s sees positions 0..s only.

log p(name) = sum_t log p(c_t | c_<t), like every `CharModel`; the causal mask is what makes each output
depend on the past only, so one pass gives all the factors. Vaswani et al., 2017, "Attention Is All You
Need", arXiv:1706.03762; the layout (pre-norm blocks, learned positions) follows GPT-2 (Radford et al., 2019).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.models.char_models import CharModel

__all__ = ["causal_attention_mask", "CausalSelfAttention", "CausalTransformer"]


def causal_attention_mask(T: int, device: torch.device | None = None) -> Tensor:
    """(T, T) boolean mask: entry [s, r] is True when query s may attend to key r, that is when r <= s."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with a causal mask, written out (no fused kernel) so it can be read."""

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: Tensor) -> Tensor:  # (B, T, D) -> (B, T, D)
        B, T, D = h.shape
        q, k, v = self.qkv(h).view(B, T, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-2, -1) / math.sqrt(D // self.num_heads)  # (B, heads, T, T)
        scores = scores.masked_fill(~causal_attention_mask(T, h.device), float("-inf"))
        attn = self.dropout(F.softmax(scores, dim=-1))
        return self.proj((attn @ v).transpose(1, 2).reshape(B, T, D))


class _Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, num_heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout))

    def forward(self, h: Tensor) -> Tensor:
        h = h + self.attn(self.ln1(h))
        return h + self.mlp(self.ln2(h))


class CausalTransformer(CharModel):
    """Token and position embeddings, `num_layers` pre-norm blocks, a linear read-out to next-token logits."""

    def __init__(self, vocab_size: int = 27, max_length: int = 16, dim: int = 64, num_heads: int = 4,
                 num_layers: int = 2, dropout: float = 0.1):
        super().__init__(vocab_size, max_length)
        self.tok = nn.Embedding(vocab_size, dim)
        self.pos = nn.Embedding(max_length, dim)
        self.blocks = nn.Sequential(*[_Block(dim, num_heads, dropout) for _ in range(num_layers)])
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)
        self.drop = nn.Dropout(dropout)

    def next_logits(self, tokens: Tensor) -> Tensor:
        B, T = tokens.shape
        if T > self.max_length:
            raise ValueError(f"sequences of length {T} exceed max_length={self.max_length}; build the model "
                             "with a larger max_length")
        h = self.drop(self.tok(tokens) + self.pos(torch.arange(T, device=tokens.device)))  # (B, T, D)
        return self.head(self.ln(self.blocks(h)))  # (B, T, V)
