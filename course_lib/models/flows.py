"""Normalising flows: affine coupling layers (RealNVP), ActNorm, permutations, and a flow on the 17-level digits.

Change of variables: for an invertible map z = f(x) with base density N(0, I),

    log p(x) = log N(f(x); 0, I) + log |det df/dx| ,

and a stack of maps adds its layers' log-determinants. An affine coupling keeps the part of x under a mask b and
moves the rest by an affine map whose scale and shift depend only on the kept part,

    y = b * x + (1 - b) * (x * exp(s(b * x)) + t(b * x)),     log |det dy/dx| = sum_i (1 - b_i) s_i(b * x),

so its Jacobian is triangular and its inverse, x = b * y + (1 - b) * (y - t(b * y)) * exp(-s(b * y)), costs one
pass of the nets. Dinh, Sohl-Dickstein and Bengio, 2017, arXiv:1605.08803 (RealNVP); ActNorm and the invertible
1x1 convolution: Kingma and Dhariwal, 2018, arXiv:1807.03039 (Glow); variational dequantisation: Ho et al., 2019,
arXiv:1902.00275 (Flow++).

Convention: a :class:`Bijection`'s ``forward(x, context=None) -> (y, log_det)`` runs in the normalising direction
(data -> noise) and returns log |det dy/dx| per example, (B,); ``inverse(y, context=None) -> x`` runs back
(noise -> data, used for sampling). Channels (or features) are dimension 1: (B, D) vectors or (B, C, H, W) images.

Models: :class:`NormalizingFlow` (any stack of bijections over N(0, I), an exact ``log_prob``), :class:`RealNVP`
(MLP couplings on vectors, e.g. the 2-D toys) and :class:`DigitsFlow` (the 17-level digits: a flow on the
logit-preprocessed, dequantised images; it has only bounds on log P(x), so ``elbo`` and no ``log_prob``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.metrics.dequantization import logit_postprocess, logit_preprocess, per_example_sum
from course_lib.metrics.likelihood import log_mean_exp
from course_lib.models.base import DensityModel, Model, check_levels
from course_lib.models.vae import standard_normal_log_prob
from course_lib.nn import MLP

__all__ = ["affine_coupling_forward", "affine_coupling_inverse", "Bijection", "AffineCoupling", "ActNorm",
           "Permutation", "ReversePermutation", "RandomPermutation", "InvertibleLinear", "Squeeze", "Unsqueeze",
           "Flattened", "FlowSequence", "alternating_mask", "checkerboard_mask", "channel_mask", "coupling_mlp",
           "coupling_cnn", "NormalizingFlow", "RealNVP", "VariationalDequantizer", "DigitsFlow", "image_flow_layers"]

Net = Callable[[Tensor], Tensor]
DIGITS_ALPHA = 1e-3  # the digits flow's logit margin: chosen on the validation split (see ladder/ch06_flows.py)


# ---- the affine coupling, written once ---------------------------------------------------------------------------

def affine_coupling_forward(x: Tensor, mask: Tensor, scale_net: Net, shift_net: Net) -> tuple[Tensor, Tensor]:
    """One affine coupling, data -> noise. x: (B, ...); mask: 0/1, broadcastable to x (1 = kept unchanged).

    scale_net and shift_net map the kept part b * x (zeros elsewhere) to the log-scale s and the shift t, each the
    shape of x. Returns y = x * exp(s) + t on the moved part (x itself on the kept part) and log |det dy/dx| =
    the sum of s over the moved part, (B,).
    """
    kept = x * mask
    moved = 1 - mask
    s = scale_net(kept) * moved
    t = shift_net(kept) * moved
    return x * torch.exp(s) + t, per_example_sum(s)


def affine_coupling_inverse(y: Tensor, mask: Tensor, scale_net: Net, shift_net: Net) -> Tensor:
    """The inverse of :func:`affine_coupling_forward`: x = (y - t) * exp(-s), the shift undone before the scale.

    The kept part b * y equals b * x, so the nets see the same input as in the forward pass.
    """
    kept = y * mask
    moved = 1 - mask
    s = scale_net(kept) * moved
    t = shift_net(kept) * moved
    return (y - t) * torch.exp(-s)


# ---- bijections -----------------------------------------------------------------------------------------------------

class Bijection(nn.Module):
    """An invertible layer: ``forward(x, context=None) -> (y, log|det dy/dx|)`` and ``inverse(y, context=None)``."""

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        raise NotImplementedError


def _zero_log_det(x: Tensor) -> Tensor:
    return x.new_zeros(len(x))


class AffineCoupling(Bijection):
    """An affine coupling layer with one net for the log-scale and the shift.

    Args:
        mask: 0/1, broadcastable to an event ((D,) for vectors, (1, H, W) or (C, 1, 1) for images); 1 = kept.
        net: maps the kept part (concatenated with the context along dimension 1, if any) to 2 C channels (or
            2 D features): the raw log-scale, then the shift. Its last layer starts at zero (the identity map).
        clamp: the log-scale is clamp * tanh(raw / clamp), so no layer scales by more than exp(clamp).
    """

    def __init__(self, mask: Tensor, net: nn.Module, clamp: float = 2.0) -> None:
        super().__init__()
        self.register_buffer("mask", mask.float())
        self.net = net
        self.clamp = clamp

    def scale_shift(self, kept: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The log-scale and shift, each the shape of ``kept`` (the masked input)."""
        h = kept if context is None else torch.cat([kept, context], 1)
        raw, shift = self.net(h).chunk(2, dim=1)
        return self.clamp * torch.tanh(raw / self.clamp), shift

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s, t = self.scale_shift(x * self.mask, context)  # the net runs once; the plain function applies s, t
        return affine_coupling_forward(x, self.mask, lambda _: s, lambda _: t)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        s, t = self.scale_shift(y * self.mask, context)
        return affine_coupling_inverse(y, self.mask, lambda _: s, lambda _: t)


class ActNorm(Bijection):
    """y = x * exp(log_scale) + bias per channel (dimension 1), log |det| = positions * sum(log_scale).

    Data-dependent initialisation (Glow): the first forward pass in training mode sets the parameters so that
    this batch leaves with zero mean and unit variance per channel; ``initialize(x)`` does it explicitly.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("initialized", torch.tensor(False))

    def _shaped(self, p: Tensor, x: Tensor) -> Tensor:
        return p.view(1, -1, *([1] * (x.dim() - 2)))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Set the scale and bias from the batch x: (B, C, ...)."""
        dims = [0, *range(2, x.dim())]
        mean, std = x.mean(dims), x.std(dims, unbiased=False).clamp_min(1e-3)
        self.log_scale.copy_(-torch.log(std))
        self.bias.copy_(-mean / std)
        self.initialized.fill_(True)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialized):
            self.initialize(x)
        y = x * self._shaped(self.log_scale.exp(), x) + self._shaped(self.bias, x)
        positions = x[0, 0].numel()
        return y, (self.log_scale.sum() * positions).expand(len(x))

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        return (y - self._shaped(self.bias, y)) * self._shaped((-self.log_scale).exp(), y)


class Permutation(Bijection):
    """Reorders the channels (dimension 1) by a fixed permutation: volume-preserving, log |det| = 0."""

    def __init__(self, perm: Tensor) -> None:
        super().__init__()
        if not torch.equal(perm.sort().values, torch.arange(len(perm))):
            raise ValueError("perm must hold every index 0..n-1 once")
        self.register_buffer("perm", perm.long())
        self.register_buffer("inverse_perm", torch.argsort(perm))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return x.index_select(1, self.perm), _zero_log_det(x)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        return y.index_select(1, self.inverse_perm)


class ReversePermutation(Permutation):
    """The channels in reverse order."""

    def __init__(self, num_features: int) -> None:
        super().__init__(torch.arange(num_features - 1, -1, -1))


class RandomPermutation(Permutation):
    """A random order of the channels, fixed at construction from ``seed``."""

    def __init__(self, num_features: int, seed: int = 0) -> None:
        super().__init__(torch.randperm(num_features, generator=torch.Generator().manual_seed(seed)))


class InvertibleLinear(Bijection):
    """y = W x over the channels at every position (an invertible 1x1 convolution on images, Glow).

    log |det dy/dx| = positions * log |det W|. W starts as a random rotation drawn from ``seed``.
    """

    def __init__(self, num_features: int, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(num_features, num_features, generator=gen))
        self.weight = nn.Parameter(q)

    @staticmethod
    def _mix(matrix: Tensor, x: Tensor) -> Tensor:
        return torch.einsum("ij,bj...->bi...", matrix, x)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        positions = x[0, 0].numel()
        log_det = torch.linalg.slogdet(self.weight).logabsdet * positions
        return self._mix(self.weight, x), log_det.expand(len(x))

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        return self._mix(torch.linalg.inv(self.weight), y)


class Squeeze(Bijection):
    """(B, C, H, W) -> (B, 4 C, H / 2, W / 2): each 2 x 2 block of pixels becomes 4 channels; log |det| = 0."""

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        b, c, h, w = x.shape
        if h % 2 or w % 2:
            raise ValueError(f"Squeeze needs an even height and width, got {h} x {w}")
        y = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
        return y.reshape(b, 4 * c, h // 2, w // 2), _zero_log_det(x)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        b, c4, h, w = y.shape
        x = y.view(b, c4 // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
        return x.reshape(b, c4 // 4, 2 * h, 2 * w)


class Unsqueeze(Squeeze):
    """The inverse of :class:`Squeeze`: (B, 4 C, H, W) -> (B, C, 2 H, 2 W), so a flow ends in the shape it began."""

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return Squeeze.inverse(self, x), _zero_log_det(x)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        return Squeeze.forward(self, y)[0]


class Flattened(Bijection):
    """Applies a bijection of vectors to flattened events: (B, C, H, W) -> (B, C H W) -> layer -> (B, C, H, W)."""

    def __init__(self, layer: Bijection) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        y, log_det = self.layer(x.flatten(1))
        return y.view(x.shape), log_det

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        return self.layer.inverse(y.flatten(1)).view(y.shape)


class FlowSequence(Bijection):
    """Bijections applied in order (their log-determinants added); ``inverse`` runs them backwards."""

    def __init__(self, layers: Sequence[Bijection]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        log_det = _zero_log_det(x)
        for layer in self.layers:
            x, ld = layer(x, context)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        for layer in reversed(self.layers):
            y = layer.inverse(y, context)
        return y


# ---- masks and coupling nets ----------------------------------------------------------------------------------------

def alternating_mask(num_features: int, parity: int = 0) -> Tensor:
    """(D,) with 1 at the even features (parity 0) or the odd ones (parity 1)."""
    return (torch.arange(num_features) % 2 == parity % 2).float()


def checkerboard_mask(height: int, width: int, parity: int = 0) -> Tensor:
    """(1, H, W) with 1 where (row + column) % 2 == parity: broadcasts over the channels."""
    rows, cols = torch.arange(height)[:, None], torch.arange(width)[None, :]
    return ((rows + cols) % 2 == parity % 2).float()[None]


def channel_mask(num_channels: int, parity: int = 0) -> Tensor:
    """(C, 1, 1) with 1 on the first half of the channels (parity 0) or the second half (parity 1)."""
    first = (torch.arange(num_channels) < num_channels // 2).float()
    return (first if parity % 2 == 0 else 1 - first)[:, None, None]


def _zero_last(net: nn.Module) -> nn.Module:
    """Start the net's last layer at zero, so a coupling starts as the identity map."""
    last = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return net


def coupling_mlp(in_features: int, out_features: int, hidden: int = 64, depth: int = 2,
                 dropout: float = 0.0) -> nn.Module:
    """An MLP for a coupling on vectors (B, in) -> (B, out), ``depth`` hidden layers, last layer zero."""
    return _zero_last(MLP(in_features, [hidden] * depth, out_features, dropout=dropout))


class _FlatMLP(nn.Module):
    """An MLP on flattened images: (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, in_shape: Sequence[int], out_channels: int, hidden: int, depth: int, dropout: float) -> None:
        super().__init__()
        self.out_shape = (out_channels, *in_shape[1:])
        self.mlp = coupling_mlp(math.prod(in_shape), math.prod(self.out_shape), hidden, depth, dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x.flatten(1)).view(len(x), *self.out_shape)


def coupling_cnn(in_channels: int, out_channels: int, hidden: int = 64, depth: int = 2,
                 dropout: float = 0.0) -> nn.Module:
    """A 'same'-padded CNN for a coupling on images: 3x3 convolutions, ReLU, dropout, last layer zero."""
    layers: list[nn.Module] = []
    sizes = [in_channels, *[hidden] * depth]
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Conv2d(a, b, 3, padding=1), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Conv2d(sizes[-1], out_channels, 3, padding=1))
    return _zero_last(nn.Sequential(*layers))


def image_flow_layers(image_shape: Sequence[int], channels: int = 1, *, num_checkerboard: int = 4,
                      num_channel: int = 0, net: str = "conv", hidden: int = 64, depth: int = 2,
                      dropout: float = 0.0, context_channels: int = 0, actnorm: bool = True,
                      mixing: str = "none", clamp: float = 2.0) -> list[Bijection]:
    """The layers of a coupling flow on images (C, H, W).

    ``num_checkerboard`` couplings with alternating checkerboard masks, then (if ``num_channel`` > 0) a squeeze
    to (4 C, H / 2, W / 2), ``num_channel`` couplings with alternating channel masks and the inverse squeeze.
    ActNorm before each coupling (``actnorm``); before each channel coupling ``mixing`` = ``"none"``,
    ``"reverse"`` (a permutation) or ``"linear"`` (an invertible 1x1 convolution), or ``"full"``: before every
    coupling but the first, an invertible linear map of all C H W values (for MLP nets, which do not use
    locality anyway). ``net`` = ``"conv"`` or ``"mlp"`` (on the flattened image).
    A context (B, context_channels, H, W) is concatenated to every net's input (checkerboard couplings only).
    """
    if net not in ("conv", "mlp"):
        raise ValueError(f"net must be 'conv' or 'mlp', got {net!r}")
    if mixing not in ("none", "reverse", "linear", "full"):
        raise ValueError(f"mixing must be 'none', 'reverse', 'linear' or 'full', got {mixing!r}")
    if num_channel and context_channels:
        raise ValueError("a context is only supported in checkerboard couplings (num_channel=0)")
    height, width = image_shape

    def coupling(mask: Tensor, c: int, h: int, w: int) -> AffineCoupling:
        c_in = c + context_channels
        body = (coupling_cnn(c_in, 2 * c, hidden, depth, dropout) if net == "conv"
                else _FlatMLP((c_in, h, w), 2 * c, hidden, depth, dropout))
        return AffineCoupling(mask, body, clamp)

    layers: list[Bijection] = []

    def full_mixing(i: int) -> list[Bijection]:
        return [Flattened(InvertibleLinear(channels * height * width, seed=100 + i))] if mixing == "full" and i else []

    for i in range(num_checkerboard):
        layers += [ActNorm(channels)] if actnorm else []
        layers += full_mixing(i)
        layers.append(coupling(checkerboard_mask(height, width, i), channels, height, width))
    if num_channel:
        layers.append(Squeeze())
        c, h, w = 4 * channels, height // 2, width // 2
        for i in range(num_channel):
            layers += [ActNorm(c)] if actnorm else []
            layers += full_mixing(num_checkerboard + i)
            if mixing == "reverse":
                layers.append(ReversePermutation(c))
            elif mixing == "linear":
                layers.append(InvertibleLinear(c, seed=i))
            layers.append(coupling(channel_mask(c, i), c, h, w))
        layers.append(Unsqueeze())  # back to (C, H, W): the base density and samples keep the input's shape
    return layers


# ---- models with an exact density -------------------------------------------------------------------------------

class NormalizingFlow(DensityModel):
    """A density p(x) = N(f(x); 0, I) |det df/dx| for a stack f of bijections, over events of ``event_shape``.

    ``forward(x) -> (z, log|det dz/dx|)`` maps data to noise, ``inverse(z) -> x`` maps noise to data (both for
    drawing the map, e.g. a warped grid); ``log_prob`` is exact (nats); ``sample`` runs the inverse on N(0, I).
    """

    def __init__(self, layers: Sequence[Bijection], event_shape: Sequence[int]) -> None:
        super().__init__(event_shape)
        self.transform = FlowSequence(layers)

    def validate(self, x: Tensor) -> Tensor:
        x = super().validate(x)
        if not x.is_floating_point():
            raise TypeError(f"{type(self).__name__} models continuous data, got dtype {x.dtype}; integer levels "
                            "need dequantising first (course_lib.metrics.dequantization)")
        return x.to(self._dtype())

    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Data -> noise: (z, log |det dz/dx|), (B, *event_shape) and (B,)."""
        return self.transform(x.to(self._dtype()), context)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """Noise -> data, (B, *event_shape)."""
        return self.transform.inverse(z.to(self._dtype()), context)

    def _log_prob(self, x: Tensor, context: Tensor | None) -> Tensor:
        z, log_det = self.transform(x)
        return standard_normal_log_prob(z.flatten(1)) + log_det

    def _sample(self, n: int, context: Tensor | None, generator: torch.Generator | None) -> Tensor:
        z = torch.randn((n, *self.event_shape), generator=generator, device=self.device, dtype=self._dtype())
        return self.transform.inverse(z)


class RealNVP(NormalizingFlow):
    """RealNVP on vectors (B, D): affine couplings with alternating masks and MLP nets, ActNorm before each.

    Args:
        dim: D >= 2. num_couplings: coupling layers. hidden, depth, dropout: of each coupling's MLP.
        actnorm: an ActNorm before every coupling (initialised on the first training batch).
        permutation: None (the alternating masks mix the features), ``"reverse"``, ``"random"`` or ``"linear"``
            (a learned invertible linear map) between couplings.
        clamp: bound on each log-scale (see :class:`AffineCoupling`).
    """

    def __init__(self, dim: int = 2, num_couplings: int = 8, hidden: int = 64, depth: int = 2,
                 dropout: float = 0.0, actnorm: bool = True, permutation: str | None = None,
                 clamp: float = 2.0) -> None:
        if dim < 2:
            raise ValueError(f"a coupling flow needs dim >= 2 (one part conditions the other), got {dim}")
        makers = {None: None, "reverse": ReversePermutation, "random": RandomPermutation,
                  "linear": InvertibleLinear}
        if permutation not in makers:
            raise ValueError(f"permutation must be one of {list(makers)}, got {permutation!r}")
        layers: list[Bijection] = []
        for i in range(num_couplings):
            if permutation is not None and i > 0:
                layers.append(makers[permutation](dim) if permutation == "reverse" else makers[permutation](dim, i))
            layers += [ActNorm(dim)] if actnorm else []
            layers.append(AffineCoupling(alternating_mask(dim, i),
                                         coupling_mlp(dim, 2 * dim, hidden, depth, dropout), clamp))
        super().__init__(layers, (dim,))


# ---- the 17-level digits: dequantisation and a bound on log P(x) ---------------------------------------------------

class VariationalDequantizer(nn.Module):
    """q(u | x) on (0, 1)^(H x W): u = sigmoid(g(eps; x)), eps ~ N(0, I), g a conditional coupling flow (Flow++).

    log q(u | x) = log N(eps; 0, I) - log |det dg/deps| - sum_i log sigmoid'(a_i), a = g(eps; x), so the density
    of u is exact and its support lies inside the unit cell of x. The conditioning net (a small CNN, or an MLP on
    the flattened image for ``net="mlp"``) sees x scaled to [-1, 1].
    """

    def __init__(self, image_shape: Sequence[int], num_levels: int, *, num_couplings: int = 4, hidden: int = 32,
                 context_channels: int = 8, net: str = "conv", dropout: float = 0.0) -> None:
        super().__init__()
        self.num_levels = num_levels
        self.encoder = (nn.Sequential(nn.Conv2d(1, hidden, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(hidden, context_channels, 3, padding=1)) if net == "conv"
                        else _FlatMLP((1, *image_shape), context_channels, hidden, 1, 0.0))
        self.flow = FlowSequence(image_flow_layers(image_shape, 1, num_checkerboard=num_couplings, net=net,
                                                   hidden=hidden, dropout=dropout,
                                                   context_channels=context_channels, actnorm=False))

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """x: (B, 1, H, W) levels as floats. Returns u ~ q(u | x), (B, 1, H, W) in (0, 1), and log q(u | x), (B,)."""
        context = self.encoder(x * (2 / (self.num_levels - 1)) - 1)
        eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        a, log_det = self.flow(eps, context)
        log_sigmoid_slope = F.logsigmoid(a) + F.logsigmoid(-a)  # log sigmoid'(a)
        log_q = standard_normal_log_prob(eps.flatten(1)) - log_det - per_example_sum(log_sigmoid_slope)
        return torch.sigmoid(a), log_q


class DigitsFlow(Model):
    """A coupling flow on the 17-level digits, with uniform or variational dequantisation: only bounds on log P(x).

    Events: (H * W,) integer levels 0..L-1 (the digits split's rows, (B, 64)). The discrete model is
    P(x) = int_{[0,1)^D} p_y(x + u) du, with bins of width 1 on the integer scale and
    log p_y(y) = log p_w(w) + log |det dw/dy|, w = logit_preprocess(y) (the unit cube's -D log L and the logit's
    log-det counted; see :mod:`course_lib.metrics.dequantization`) and p_w a :class:`NormalizingFlow` on (1, H, W).

    - ``elbo(x)``: log p_y(x + u) - log q(u | x) for one u ~ q (uniform: q = 1 on [0, 1)^D), (B,) nats; its
      expectation is a lower bound on log P(x) by Jensen's inequality;
    - ``iw_bound(x, k)``: log (1/k) sum_i p_y(x + u_i) / q(u_i | x); its expectation is also a lower bound on
      log P(x) (Jensen on the k-sample average, Burda et al., 2016), no looser than the ELBO's and tightening as k
      grows; ``log_weights(x, k)`` gives the k terms, (k, B), for ``importance_weighted_log_likelihood``;
    - ``sample(n)``: floor(y) for y from the flow, redrawing the images that fall outside [0, L)^D, i.e. draws
      from P(x) / sum P, a normalised discrete model whose NLL is at most the bounds above. What it costs: a
      draw is kept with probability a = sum_x P(x), the flow's mass inside the cube, so n images take about
      n / a flow inverses (one pass each, in rounds of n). a is large for a well-trained flow with a small
      logit margin (0.8-0.9 for the lecture's models and the ladder's recipe at alpha = 1e-3), but it was 0.03-0.06
      after short runs and 0.016 at alpha = 0.05: then n images cost 17-60 n inverses, and after 100 rounds
      (100 n inverses) the sampler raises. A cheaper, still honest alternative is
      ``floor(clip(y, 0, L - 1))`` (the lecture's ``flow_samples``): it gives the mass outside to the edge cells,
      a normalised model Q with Q(x) >= P(x), so the same bounds hold for it; its samples are not draws from
      P / sum P.

    Args:
        dequantization: ``"uniform"`` or ``"variational"`` (:class:`VariationalDequantizer`).
        num_checkerboard, num_channel, net, hidden, depth, dropout, mixing: the flow's layers
            (:func:`image_flow_layers`); ``num_channel`` > 0 needs an even height and width.
        dequantizer: keyword options of :class:`VariationalDequantizer` (its ``net`` defaults to the flow's).
        alpha: the logit's margin. A small one matters on the digits: the background pixels sit at the cube's
            face, and with alpha = 0.05 the flow spills much of its mass outside the cells (lost: a looser bound, and
            most samples redrawn). The defaults are the ladder's recipe (``course_lib/ladder/ch06_flows.py``).
    """

    def __init__(self, dequantization: str = "variational", *, num_levels: int = 17,
                 image_shape: Sequence[int] = (8, 8), num_checkerboard: int = 4, num_channel: int = 4,
                 net: str = "mlp", hidden: int = 256, depth: int = 2, dropout: float = 0.5, mixing: str = "linear",
                 dequantizer: dict | None = None, alpha: float = DIGITS_ALPHA) -> None:
        if dequantization not in ("uniform", "variational"):
            raise ValueError(f"dequantization must be 'uniform' or 'variational', got {dequantization!r}")
        height, width = image_shape
        super().__init__((height * width,))
        self.num_levels, self.image_shape, self.alpha = num_levels, (height, width), alpha
        self.dequantization = dequantization
        self.flow = NormalizingFlow(image_flow_layers(image_shape, 1, num_checkerboard=num_checkerboard,
                                                      num_channel=num_channel, net=net, hidden=hidden, depth=depth,
                                                      dropout=dropout, mixing=mixing), (1, height, width))
        options = dict(net=net) | (dequantizer or {})  # the flow's kind of net unless told otherwise
        self.dequantizer = (VariationalDequantizer(image_shape, num_levels, **options)
                            if dequantization == "variational" else None)

    def validate(self, x: Tensor) -> Tensor:
        return check_levels(super().validate(x), self.num_levels, self)

    def _images(self, x: Tensor) -> Tensor:
        return x.view(len(x), 1, *self.image_shape).to(next(self.parameters()).dtype)

    def log_density(self, y: Tensor) -> Tensor:
        """log p_y(y) on the integer scale, y: (B, 1, H, W) in [0, L); (B,) nats, every log-det counted."""
        w, log_det = logit_preprocess(y, self.num_levels, self.alpha)
        return self.flow.log_prob(w) + log_det

    def log_weights(self, x: Tensor, k: int = 1, context: Tensor | None = None,
                    generator: torch.Generator | None = None) -> Tensor:
        """log p_y(x + u_i) - log q(u_i | x) for k draws u_i ~ q(u | x); x (B, D) levels -> (k, B) nats."""
        x = self._images(self.validate(x)).repeat(k, 1, 1, 1)  # (k B, 1, H, W)
        self.validate_context(context, len(x))
        if self.dequantizer is None:
            u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            log_q = x.new_zeros(len(x))
        else:
            u, log_q = self.dequantizer(x, generator)
        return (self.log_density(x + u) - log_q).view(k, -1)

    def elbo(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """One-sample lower bound on log P(x), (B,) nats per image (not a log-probability: see the class)."""
        return self.log_weights(x, 1, context)[0]

    def iw_bound(self, x: Tensor, k: int = 20, context: Tensor | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """log (1/k) sum_i p_y(x + u_i) / q(u_i | x), (B,) nats: in expectation a lower bound on log P(x)."""
        return log_mean_exp(self.log_weights(x, k, context, generator), 0)

    def loss(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """The negative ELBO, nats per image (a bound on the NLL of the 17-level images)."""
        return -self.elbo(x, context).mean()

    def _sample(self, n: int, context: Tensor | None, generator: torch.Generator | None,
                max_rounds: int = 100) -> Tensor:
        """(n, D) levels: floor(y), y = logit_postprocess(flow sample); images leaving [0, L)^D are drawn again."""
        kept: list[Tensor] = []
        count = 0
        for _ in range(max_rounds):
            y = logit_postprocess(self.flow.sample(n, generator=generator), self.num_levels, self.alpha).floor()
            inside = ((y >= 0) & (y < self.num_levels)).flatten(1).all(1)
            kept.append(y[inside].flatten(1).long())
            count += int(inside.sum())
            if count >= n:
                return torch.cat(kept)[:n]
        raise RuntimeError(f"fewer than {n} of {n * max_rounds} flow samples fell inside [0, {self.num_levels})^D: "
                           "the flow puts little mass on the images; train it longer")
