"""Checks for chapter 03: autoregressive models (bigram likelihood, temperature sampling, MADE masks,
causal attention, masked convolutions, AR(p) by least squares, sequential sampling)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.check import Case, Exercise, WrongAnswer, compare_values
from course_lib.check.compare import agrees_on_property

VOCAB = "." + "abcdefghijklmnopqrstuvwxyz"  # the chapter's alphabet: '.' (index 0) starts and ends a name


def _inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The first index k with cumsum(probs)[k] > u, row by row; probs (B, V), u (B,) -> (B,) long."""
    cdf = probs.double().cumsum(-1)
    return torch.searchsorted(cdf, u.double()[:, None], right=True).squeeze(1).clamp(max=probs.shape[-1] - 1)


# ---- 1. bigram_log_likelihood(counts, word, alpha) -----------------------------------------------------


def _bigram_ll(counts, word, alpha, end=True, smooth=True):
    counts = torch.as_tensor(counts, dtype=torch.float64) + (alpha if smooth else 0.0)
    probs = counts / counts.sum(1, keepdim=True)
    ids = [0] + [VOCAB.index(c) for c in word] + ([0] if end else [])
    pairs = zip(ids[:-1], ids[1:], strict=True)
    return float(sum(math.log(probs[a, b]) if probs[a, b] > 0 else -math.inf for a, b in pairs))


def _bigram_reference(counts, word, alpha):
    return _bigram_ll(counts, word, alpha)


def _bigram_no_end(counts, word, alpha):
    return _bigram_ll(counts, word, alpha, end=False)


def _bigram_no_smoothing(counts, word, alpha):
    return _bigram_ll(counts, word, alpha, smooth=False)


def _bigram_cases(rng):
    cases = []
    for _ in range(3):
        counts = rng.poisson(0.6, size=(27, 27)) * rng.integers(1, 6, size=(27, 27))
        length = int(rng.integers(3, 8))
        letters = list(rng.integers(1, 27, size=length))
        # make sure the word contains a pair never seen in the counts
        i = int(rng.integers(0, length - 1))
        a = letters[i]
        unseen = np.flatnonzero(counts[a, 1:] == 0) + 1
        if len(unseen) == 0:
            counts[a, 5] = 0
            unseen = np.array([5])
        letters[i + 1] = int(rng.choice(unseen))
        word = "".join(VOCAB[int(c)] for c in letters)
        cases.append(Case(torch.as_tensor(counts, dtype=torch.float32), word, float(rng.uniform(0.3, 2.0))))
    return cases


bigram_log_likelihood = Exercise(
    chapter="03", name="bigram_log_likelihood", reference=_bigram_reference, make_cases=_bigram_cases,
    hint="Wrap the word as '.' + word + '.', and add log p(b | a) over its consecutive pairs (a, b), with "
    "p(b | a) = (N[a, b] + alpha) / sum_b' (N[a, b'] + alpha).",
    deeper_hint="ids = [VOCAB.index(c) for c in '.' + word + '.']; P = (counts + alpha) / (counts + alpha)"
    ".sum(1, keepdim=True); sum P[a, b].log() over zip(ids[:-1], ids[1:]).",
    wrong_answers=[
        WrongAnswer("no_end_token", _bigram_no_end,
                    hint="You left out the end token: a name must also say that it stops, and p('.' | last "
                    "letter) is a factor of its probability. Without it, the model puts no probability on "
                    "lengths and the word probabilities do not sum to one over all names.",
                    deeper_hint="Use the token sequence '.' + word + '.'."),
        WrongAnswer("no_smoothing", _bigram_no_smoothing,
                    hint="A pair never seen in the counts got probability 0 (log-likelihood -inf): add alpha "
                    "to every count before normalising, so unseen pairs keep a little probability.",
                    deeper_hint="P = (counts + alpha) / (counts + alpha).sum(1, keepdim=True)."),
    ],
)


# ---- 2. sample_with_temperature(logits, temperature, u) ------------------------------------------------


def _temperature_reference(logits, temperature, u):
    return _inverse_cdf(F.softmax(logits.double() / temperature, dim=-1), u)


def _temperature_times(logits, temperature, u):
    return _inverse_cdf(F.softmax(logits.double() * temperature, dim=-1), u)


def _temperature_wrong_axis(logits, temperature, u):
    return _inverse_cdf(F.softmax(logits.double() / temperature, dim=0), u)


def _temperature_cases(rng):
    cases = []
    for temperature in (float(rng.uniform(0.25, 0.5)), float(rng.uniform(2.0, 4.0)), float(rng.uniform(0.3, 0.6))):
        B = int(rng.integers(12, 20))
        V = int(rng.integers(5, 9))
        logits = torch.as_tensor(rng.normal(0, 2.0, size=(B, V)), dtype=torch.float32)
        u = torch.as_tensor(rng.uniform(0.02, 0.98, size=B), dtype=torch.float32)
        cases.append(Case(logits, temperature, u))
    return cases


sample_with_temperature = Exercise(
    chapter="03", name="sample_with_temperature", reference=_temperature_reference, make_cases=_temperature_cases,
    hint="Divide the logits by the temperature, take a softmax over the vocabulary (the last axis), and return, "
    "for each row, the first index k where the cumulative probability exceeds u.",
    deeper_hint="probs = torch.softmax(logits / temperature, dim=-1); cdf = probs.cumsum(-1); "
    "torch.searchsorted(cdf, u[:, None], right=True).squeeze(1).",
    wrong_answers=[
        WrongAnswer("multiplied_by_temperature", _temperature_times,
                    hint="You multiplied the logits by the temperature. The convention is p ∝ exp(logit / T): "
                    "T < 1 sharpens, T > 1 flattens, and T -> 0 is the arg max."),
        WrongAnswer("softmax_wrong_axis", _temperature_wrong_axis,
                    hint="Your softmax normalised over the batch (axis 0). Each row is one distribution over "
                    "the vocabulary, so normalise over the last axis (dim=-1)."),
    ],
)


# ---- 3. made_masks(degrees_in, degrees_hidden, degrees_out) --------------------------------------------


def _masks(degrees_in, degrees_hidden, degrees_out, hidden_op, out_op):
    degrees = [degrees_in, *degrees_hidden]
    pairs = zip(degrees[:-1], degrees[1:], strict=True)
    masks = [hidden_op(d_out[:, None], d_in[None, :]).double() for d_in, d_out in pairs]
    return masks + [out_op(degrees_out[:, None], degrees[-1][None, :]).double()]


def _made_reference(degrees_in, degrees_hidden, degrees_out):
    return _masks(degrees_in, degrees_hidden, degrees_out, torch.ge, torch.gt)


def _made_swapped(degrees_in, degrees_hidden, degrees_out):
    return _masks(degrees_in, degrees_hidden, degrees_out, torch.gt, torch.ge)


def _made_all_ge(degrees_in, degrees_hidden, degrees_out):
    return _masks(degrees_in, degrees_hidden, degrees_out, torch.ge, torch.ge)


def _made_cases(rng):
    cases = []
    for _ in range(3):
        D = int(rng.integers(3, 7))
        d_in = torch.as_tensor(rng.permutation(D) + 1)  # an ordering of the D inputs
        d_hidden = [torch.as_tensor(rng.integers(1, D, size=int(rng.integers(5, 10))))
                    for _ in range(int(rng.integers(1, 3)))]
        cases.append(Case(d_in, d_hidden, d_in.clone()))
    return cases


def _made_compare(got, expected, case):
    if not isinstance(got, (list, tuple)):
        return f"return a list of masks (one per layer), got a {type(got).__name__}."
    if len(got) != len(expected):
        return f"there should be {len(expected)} masks (one per weight matrix), got {len(got)}."
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        if not isinstance(g, torch.Tensor):
            return f"mask {i} should be a torch.Tensor, got a {type(g).__name__}."
        message = compare_values(g.double(), e, 0.0, 0.0, what=f"mask {i}")
        if message:
            return message + " Mask shapes are (units of the layer's output, units of its input)."
    return None


def _made_property_instance():
    """A fixed random MADE of 5 inputs and two hidden layers of 12: its degrees, and the generator for its weights."""
    gen = torch.Generator().manual_seed(3)
    D = 5
    d_in = torch.randperm(D, generator=gen) + 1
    d_hidden = [torch.randint(1, D, (12,), generator=gen) for _ in range(2)]
    return d_in, d_hidden, gen


def _made_call(impl, case):
    """The masks for the case, and the masks for the fixed MADE that the property test builds."""
    d_in, d_hidden, _ = _made_property_instance()
    return impl(*case.args, **case.kwargs), impl(d_in, d_hidden, d_in.clone())


def _made_autoregressive(masks) -> str | None:
    """Build the fixed MADE from these masks and check output i ignores inputs of degree >= its own."""
    d_in, _, gen = _made_property_instance()
    D = len(d_in)
    try:
        masks = [torch.as_tensor(m, dtype=torch.float64) for m in masks]
        weights = [torch.randn(m.shape, generator=gen, dtype=torch.float64) for m in masks]

        def net(x):
            h = x
            for i, (w, m) in enumerate(zip(weights, masks, strict=True)):
                h = h @ (w * m).T
                if i < len(masks) - 1:
                    h = torch.tanh(h)
            return h

        jac = torch.autograd.functional.jacobian(net, torch.randn(D, generator=gen, dtype=torch.float64))
        leaks = (jac.abs() > 1e-12) & (d_in[None, :] >= d_in[:, None])  # (D, D)
    except (TypeError, ValueError, RuntimeError):
        return "a MADE could not be built from your masks: check their shapes (units out, units in)."
    if leaks.any():
        return ("a MADE built with your masks is not autoregressive: an output depends on an input of the same "
                "or a later position in the ordering.")
    return None


def _made_compare_with_property(got, expected, case):
    message = _made_compare(got[0], expected[0], case)
    return message or agrees_on_property(_made_autoregressive, got[1], expected[1])


made_masks = Exercise(
    chapter="03", name="made_masks", reference=_made_reference, make_cases=_made_cases,
    call=_made_call, compare=_made_compare_with_property,
    hint="A hidden unit of degree k may see inputs of degree <= k (mask = d_hidden[:, None] >= "
    "d_prev[None, :]); an output of degree d may see hidden units of degree strictly below d "
    "(mask = d_out[:, None] > d_hidden[None, :]).",
    deeper_hint="Loop over consecutive degree vectors [degrees_in, *degrees_hidden]; the last mask compares "
    "degrees_out with the last hidden layer using a strict >.",
    wrong_answers=[
        WrongAnswer("comparisons_swapped", _made_swapped,
                    hint="Your strict and non-strict comparisons are swapped between the hidden and the output "
                    "layers. The result is still autoregressive, but hidden units of degree 1 see nothing and "
                    "every unit loses connections: hidden layers use >=, only the output layer uses >."),
        WrongAnswer("output_not_strict", _made_all_ge,
                    hint="Your output mask uses >=, so output i can see a hidden unit of degree i, which sees "
                    "input i: the model would predict x_i from x_i itself. The output layer needs a strict >."),
    ],
)


# ---- 4. causal_attention_mask(T) -------------------------------------------------------------------------


def _causal_reference(T):
    return torch.ones(T, T, dtype=torch.bool).tril()


def _causal_none(T):
    return torch.ones(T, T, dtype=torch.bool)


def _causal_strict(T):
    return torch.ones(T, T, dtype=torch.bool).tril(-1)


def _causal_transposed(T):
    return torch.ones(T, T, dtype=torch.bool).triu()


def _causal_cases(rng):
    return [Case(int(t)) for t in rng.choice(np.arange(2, 12), size=3, replace=False)]


causal_attention_mask = Exercise(
    chapter="03", name="causal_attention_mask", reference=_causal_reference, make_cases=_causal_cases,
    hint="Return a (T, T) boolean tensor whose entry [s, r] is True when position s may look at position r, "
    "i.e. when r <= s (the past and the position itself).",
    deeper_hint="torch.ones(T, T, dtype=torch.bool).tril() is lower-triangular including the diagonal.",
    wrong_answers=[
        WrongAnswer("future_included", _causal_none,
                    hint="Every position may look at every other one, the future included: then predicting "
                    "the next token is copying it. Keep only r <= s."),
        WrongAnswer("diagonal_excluded", _causal_strict,
                    hint="You excluded the diagonal. Position s holds the token c_s and predicts c_{s+1}, so it "
                    "may look at itself; excluding it leaves the first row with nothing to attend to (NaN)."),
        WrongAnswer("transposed", _causal_transposed,
                    hint="Your mask is transposed: rows are queries (the position that looks), columns are "
                    "keys. Row s should be True for columns r <= s."),
    ],
)


# ---- 5. MaskedConv2d(in_channels, out_channels, kernel_size, mask_type) ---------------------------------


def _spatial_mask(k, mask_type, centre_in_a=False, rows_below=False):
    c = k // 2
    m = torch.ones(k, k)
    m[c, c + (mask_type == "B" or centre_in_a):] = 0
    if not rows_below:
        m[c + 1:, :] = 0
    return m


def _masked_conv_class(centre_in_a=False, rows_below=False, unmasked=False):
    class _Conv(nn.Conv2d):
        def __init__(self, in_channels, out_channels, kernel_size, mask_type):
            super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
            mask = torch.ones(kernel_size, kernel_size) if unmasked else _spatial_mask(
                kernel_size, mask_type, centre_in_a, rows_below)
            self.register_buffer("mask", mask)

        def forward(self, x):
            return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)

    return _Conv


_MaskedConvReference = _masked_conv_class()
_MaskedConvReference.__name__ = "MaskedConv2d"


def _conv_call(impl, case):
    cin, cout, k, x, weight, bias = case.args
    outs = []
    for mask_type in ("A", "B"):
        layer = impl(cin, cout, k, mask_type)
        with torch.no_grad():
            layer.weight.copy_(weight)
            layer.bias.copy_(bias)
        outs.append(layer(x))
    return tuple(outs)


def _conv_cases(rng):
    cases = []
    for k in (3, 5, int(rng.choice([3, 5, 7]))):
        cin, cout = int(rng.integers(1, 4)), int(rng.integers(2, 5))
        H, W = int(rng.integers(4, 8)), int(rng.integers(4, 8))
        x = torch.as_tensor(rng.normal(size=(2, cin, H, W)), dtype=torch.float32)
        weight = torch.as_tensor(rng.normal(size=(cout, cin, k, k)), dtype=torch.float32)
        bias = torch.as_tensor(rng.normal(size=cout), dtype=torch.float32)
        cases.append(Case(cin, cout, k, x, weight, bias))
    return cases


MaskedConv2d = Exercise(
    chapter="03", name="MaskedConv2d", reference=_MaskedConvReference, make_cases=_conv_cases, call=_conv_call,
    hint="Keep a (k, k) mask of ones, zero every row below the centre and, in the centre row, the pixels right "
    "of the centre, and the centre itself for type 'A' only. Multiply it into the weight in forward "
    "(F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)); the check outputs both types.",
    deeper_hint="c = k // 2; mask[c, c + (mask_type == 'B'):] = 0; mask[c + 1:, :] = 0; register it with "
    "self.register_buffer('mask', mask) and pass padding=k // 2 to nn.Conv2d's constructor.",
    rtol=1e-4, atol=1e-5,
    wrong_answers=[
        WrongAnswer("centre_kept_in_A", _masked_conv_class(centre_in_a=True),
                    hint="Your type-'A' mask keeps the centre: the first layer would see the very pixel it must "
                    "predict, and the model learns to copy it. Type 'A' drops the centre; type 'B' (later "
                    "layers, whose centre holds features of earlier pixels only) keeps it."),
        WrongAnswer("rows_below_kept", _masked_conv_class(rows_below=True),
                    hint="You masked the right half of the centre row but not the rows below it: those pixels "
                    "come later in raster order. Zero every row below the centre too."),
        WrongAnswer("no_mask", _masked_conv_class(unmasked=True),
                    hint="The convolution is not masked at all (or the mask is never applied in forward): every "
                    "output sees its whole neighbourhood, the future included."),
    ],
)


# ---- 6. fit_ar_least_squares(series, p) ------------------------------------------------------------------


def _ar_fit(series, p, shift=0, intercept=True):
    """shift = 0: lags x_{t-1..t-p}; shift = +1 uses x_{t..t-p+1} (x_t itself); -1 uses x_{t-2..t-p-1}."""
    s = torch.as_tensor(series, dtype=torch.float64)
    n = len(s)
    start = p + (1 if shift < 0 else 0)
    lags = [s[start - i + shift : n - i + shift] for i in range(1, p + 1)]
    X = torch.stack(([torch.ones(n - start, dtype=torch.float64)] if intercept else []) + lags, 1)
    y = s[start:]
    params = torch.linalg.lstsq(X, y[:, None]).solution.squeeze(1)
    sigma2 = float(((y - X @ params) ** 2).mean())
    if not intercept:
        params = torch.cat([torch.zeros(1, dtype=torch.float64), params])
    return params, sigma2


def _ar_reference(series, p):
    return _ar_fit(series, p)


def _ar_cases(rng):
    cases = []
    for p in (1, 2, int(rng.integers(2, 4))):
        n = int(rng.integers(40, 80))
        phi = rng.uniform(0.15, 0.35, size=p) * rng.choice([-1, 1], size=p)
        x = list(rng.normal(size=p))
        c = float(rng.uniform(1.0, 3.0))
        for _ in range(n):
            x.append(c + float(np.dot(phi, x[::-1][:p])) + float(rng.normal(0, 0.5)))
        cases.append(Case(torch.as_tensor(x[p:], dtype=torch.float64), p))
    return cases


fit_ar_least_squares = Exercise(
    chapter="03", name="fit_ar_least_squares", reference=_ar_reference, make_cases=_ar_cases,
    hint="Regress x_t on [1, x_{t-1}, ..., x_{t-p}] for t = p .. n-1 by least squares; return (params of "
    "shape (p+1,) = [c, phi_1, ..., phi_p], sigma^2 = the mean squared residual).",
    deeper_hint="Column i of the design matrix (i = 1..p) is series[p - i : n - i]; the target is series[p:]; "
    "torch.linalg.lstsq(X, y[:, None]).solution solves it.",
    wrong_answers=[
        WrongAnswer("lags_include_present", lambda s, p: _ar_fit(s, p, shift=1),
                    hint="Your lags are shifted by one: the first 'lag' column is x_t itself, so the fit is "
                    "perfect (sigma^2 = 0) and useless for forecasting. Lag i at row t is x_{t-i}: "
                    "series[p - i : n - i]."),
        WrongAnswer("lags_one_too_old", lambda s, p: _ar_fit(s, p, shift=-1),
                    hint="Your lags are shifted by one the other way: you regress x_t on x_{t-2}, ..., "
                    "x_{t-p-1}, skipping the most recent value. Lag i at row t is x_{t-i}."),
        WrongAnswer("no_intercept", lambda s, p: _ar_fit(s, p, intercept=False),
                    hint="You left out the intercept c: without a column of ones the model forces the series "
                    "towards 0. Put a column of ones first in the design matrix (params[0] is c)."),
    ],
)


# ---- 7. sample_autoregressive(model, u) -------------------------------------------------------------------


class ToyARModel(nn.Module):
    """A small autoregressive model over D variables with K values: logits_i = b_i + sum_{j<i} W[i, j, x_j].

    `logits(x)` takes (n, D) integer values and returns (n, D, K); like MADE, the logits of variable i
    depend on x_0 .. x_{i-1} only.
    """

    def __init__(self, num_dims: int, num_levels: int, seed: int = 0, scale: float = 3.0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.num_dims, self.num_levels = num_dims, num_levels
        self.bias = nn.Parameter(torch.randn(num_dims, num_levels, generator=gen))
        W = scale * torch.randn(num_dims, num_dims, num_levels, num_levels, generator=gen)
        self.W = nn.Parameter(W * torch.ones(num_dims, num_dims).tril(-1)[:, :, None, None])

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(x.long(), self.num_levels).double()  # (n, D, K)
        return self.bias.double() + torch.einsum("ijab,nja->nib", self.W.double(), onehot)


def _sample_reference(model, u):
    n, D = u.shape
    x = torch.zeros(n, D, dtype=torch.long)
    for i in range(D):
        x[:, i] = _inverse_cdf(F.softmax(model.logits(x)[:, i].double(), -1), u[:, i])
    return x


def _sample_all_at_once(model, u):
    n, D = u.shape
    probs = F.softmax(model.logits(torch.zeros(n, D, dtype=torch.long)).double(), -1)  # (n, D, K)
    return torch.stack([_inverse_cdf(probs[:, i], u[:, i]) for i in range(D)], 1)


def _sample_same_u(model, u):
    return _sample_reference(model, u[:, :1].expand_as(u))


def _sample_cases(rng):
    cases = []
    for _ in range(3):
        D, K, n = int(rng.integers(4, 7)), int(rng.integers(3, 5)), int(rng.integers(10, 16))
        with torch.no_grad():
            model = ToyARModel(D, K, seed=int(rng.integers(1 << 30)))
        u = torch.as_tensor(rng.uniform(0.02, 0.98, size=(n, D)), dtype=torch.float64)
        cases.append(Case(model, u))
    return cases


sample_autoregressive = Exercise(
    chapter="03", name="sample_autoregressive", reference=_sample_reference, make_cases=_sample_cases,
    hint="Start from x = zeros (n, D) (long). For i = 0 .. D-1: run the model on the current x, take the "
    "softmax of logits[:, i], and set x[:, i] to the first k whose cumulative probability exceeds u[:, i]. "
    "One pass per variable: variable i must be drawn after x_0 .. x_{i-1} are known.",
    deeper_hint="for i in range(D): probs = torch.softmax(model.logits(x)[:, i], -1); x[:, i] = "
    "torch.searchsorted(probs.cumsum(-1), u[:, i:i+1], right=True).squeeze(1).clamp(max=K - 1)",
    wrong_answers=[
        WrongAnswer("all_at_once", _sample_all_at_once,
                    hint="You drew every variable from one pass of the model on the initial zeros. The "
                    "conditionals p(x_i | x_<i) need the values already drawn: run the model again after "
                    "each variable (D passes), feeding the partial sample back in."),
        WrongAnswer("same_uniform_for_every_variable", _sample_same_u,
                    hint="You used the same uniform number for every variable; use u[:, i] for variable i."),
    ],
)
