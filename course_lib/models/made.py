"""MADE: a masked MLP that outputs p(x_i | x_<i) for every i in one pass.

log p(x) = sum_i log p(x_i | x_<i), each factor a categorical over `num_levels` values (2 for binarised
digits, 17 for the grey levels). Germain et al., 2015, "MADE: Masked Autoencoder for Distribution
Estimation", arXiv:1502.03509.

Each unit gets a degree: input copies of pixel i have degree i (1-based), a hidden unit may see the inputs
whose degree is at most its own, and an output for pixel i may see only hidden units of degree strictly
below i. Composing the masks, output i depends on inputs 1 .. i-1 only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.models.base import DensityModel, check_levels
from course_lib.nn import MaskedLinear, sample_logits

__all__ = ["MADE", "made_masks", "hidden_degrees"]


def made_masks(degrees_in: Tensor, degrees_hidden: Sequence[Tensor], degrees_out: Tensor) -> list[Tensor]:
    """The 0/1 masks of a MADE, one per layer, each of shape (units_out, units_in).

    Hidden layers: mask[k, j] = degree_k >= degree_j (a hidden unit sees its own degree and below).
    Output layer: mask[i, k] = degree_i > degree_k (strict, so output i never sees input i).
    """
    degrees = [degrees_in, *degrees_hidden]
    masks = [(d_out[:, None] >= d_in[None, :]).float() for d_in, d_out in zip(degrees[:-1], degrees[1:], strict=True)]
    masks.append((degrees_out[:, None] > degrees[-1][None, :]).float())
    return masks


def hidden_degrees(num_units: int, num_dims: int) -> Tensor:
    """Spread hidden degrees evenly over 1 .. num_dims - 1 (degree num_dims would feed no output)."""
    return torch.arange(num_units) % max(num_dims - 1, 1) + 1


class MADE(DensityModel):
    """A MADE over `num_dims` discrete variables with `num_levels` values each, in the natural order.

    Events: (num_dims,) integer levels in 0..num_levels-1 (flatten 8x8 digits with x.view(len(x), -1)).
    Inputs are one-hot encoded (num_dims * num_levels units, each copy of pixel i has degree i); the output
    holds num_levels logits per variable.
    """

    def __init__(self, num_dims: int = 64, num_levels: int = 2, hidden: Sequence[int] = (512, 512),
                 dropout: float = 0.0):
        super().__init__((num_dims,))
        self.num_dims, self.num_levels = num_dims, num_levels
        d_in = torch.arange(1, num_dims + 1).repeat_interleave(num_levels)  # (D*K,)
        d_hidden = [hidden_degrees(h, num_dims) for h in hidden]
        masks = made_masks(d_in, d_hidden, d_in)
        sizes = [num_dims * num_levels, *hidden, num_dims * num_levels]
        layers = zip(sizes[:-1], sizes[1:], masks, strict=True)
        self.layers = nn.ModuleList(MaskedLinear(a, b, m) for a, b, m in layers)
        self.dropout = nn.Dropout(dropout)

    def validate(self, x: Tensor) -> Tensor:
        """x: (B, D) integer levels in 0..num_levels-1; returns x.long()."""
        return check_levels(super().validate(x), self.num_levels, self)

    def logits_from_onehot(self, h: Tensor) -> Tensor:
        """h: (B, D*K) one-hot (or any real) inputs. Returns (B, D, K) logits of p(x_i | x_<i)."""
        for layer in self.layers[:-1]:
            h = self.dropout(F.relu(layer(h)))
        return self.layers[-1](h).view(len(h), self.num_dims, self.num_levels)

    def _logits(self, x: Tensor) -> Tensor:
        return self.logits_from_onehot(F.one_hot(x, self.num_levels).float().flatten(1))

    def logits(self, x: Tensor) -> Tensor:
        """x: (B, D) integer values. Returns (B, D, K) logits."""
        return self._logits(self.validate(x))

    def _log_prob(self, x: Tensor, context: None) -> Tensor:
        """x: (B, D) integer values. Returns (B,) exact log-probabilities in nats."""
        return -F.cross_entropy(self._logits(x).transpose(1, 2), x, reduction="none").sum(1)

    def _sample(self, n: int, context: None, generator: torch.Generator | None) -> Tensor:
        """Draw (n, D) samples, one variable per pass (D passes of the network): x_i ~ p(x_i | x_<i)."""
        x = torch.zeros(n, self.num_dims, dtype=torch.long, device=self.device)
        for i in range(self.num_dims):
            x[:, i] = sample_logits(self._logits(x)[:, i], generator)  # (n,)
        return x
