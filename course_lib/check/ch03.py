"""Checks for chapter 03: autoregressive models (bigram likelihood, temperature and top-p sampling, MADE masks,
causal attention, masked convolutions, interpolated bigram perplexity, AR(p) autocorrelation, sequential
sampling in a given ordering)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import nn as _course_nn
from course_lib.check import Case, Exercise, WrongAnswer, compare_values
from course_lib.check.compare import agrees_on_property
from course_lib.models import made as _made
from course_lib.models import transformer as _transformer

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
    forbidden=(_made.made_masks, _made.MADE),
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
    forbidden=(_transformer.causal_attention_mask, _transformer.CausalSelfAttention),
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
    forbidden=(_course_nn.MaskedConv2d, _course_nn.RasterConv2d, _course_nn.conv_mask),
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


# ---- top_p_probs(logits, top_p) ---------------------------------------------------------------------------


def _top_p(logits, top_p, inclusive=False, renormalise=True, descending=True, scatter=True):
    probs = F.softmax(logits.double(), dim=-1)  # (B, V)
    sorted_p, order = probs.sort(dim=-1, descending=descending)
    before = sorted_p.cumsum(-1) - sorted_p  # probability of the tokens ranked above each one
    keep = (before + sorted_p <= top_p) if inclusive else (before < top_p)
    kept = sorted_p * keep
    if renormalise:
        kept = kept / kept.sum(-1, keepdim=True)
    if not scatter:
        return kept
    return torch.zeros_like(probs).scatter(-1, order, kept)


def _top_p_reference(logits, top_p):
    return _top_p(logits, top_p)


def _top_p_cases(rng):
    cases = []
    for _ in range(3):
        B, V = int(rng.integers(6, 12)), int(rng.integers(8, 14))
        logits = torch.as_tensor(rng.normal(0, 1.5, size=(B, V)), dtype=torch.float32)
        top = float(F.softmax(logits.double(), -1).max())
        # at least two tokens in every nucleus, and never all of them
        cases.append(Case(logits, float(rng.uniform(min(top + 0.05, 0.9), 0.93))))
    return cases


top_p_probs = Exercise(
    chapter="03", name="top_p_probs", reference=_top_p_reference, make_cases=_top_p_cases,
    hint="Rank the tokens of each row from the most to the least likely. The nucleus is the shortest run from the "
    "top whose probability reaches top_p, so a token belongs to it when the tokens ranked above it hold less "
    "than top_p. Zero the others, renormalise, and put every probability back at its token's position.",
    deeper_hint="torch.sort(probs, descending=True) gives the sorted values and their positions; cumsum minus "
    "the value itself is the mass above a token; Tensor.scatter puts sorted values back in place.",
    wrong_answers=[
        WrongAnswer("crossing_token_dropped", lambda lg, p: _top_p(lg, p, inclusive=True),
                    hint="Your nucleus stops before the token that makes the cumulative probability reach top_p, so "
                    "it holds less than top_p (and a row whose top token alone exceeds top_p would keep nothing). "
                    "Keep a token when the mass ranked *above* it is still below top_p."),
        WrongAnswer("not_renormalised", lambda lg, p: _top_p(lg, p, renormalise=False),
                    hint="Your rows do not sum to one: after dropping the tokens outside the nucleus, divide by the "
                    "probability that is left, so that each row is again a distribution."),
        WrongAnswer("least_likely_first", lambda lg, p: _top_p(lg, p, descending=False),
                    hint="You ranked the tokens from the least likely up, so the nucleus is made of the rare tokens. "
                    "Sort in descending order of probability."),
        WrongAnswer("left_in_sorted_order", lambda lg, p: _top_p(lg, p, scatter=False),
                    hint="Your probabilities are right but in the sorted order: column j must hold the probability "
                    "of token j. Put the kept values back at the positions the sort gave you."),
    ],
)


# ---- interpolated_perplexity(counts, words, lam) --------------------------------------------------------------


def _interpolated_log_probs(counts, lam, unigram_axis=0, geometric=False):
    counts = torch.as_tensor(counts, dtype=torch.float64)
    bigram = counts / counts.sum(1, keepdim=True)  # (V, V): p(b | a)
    unigram = counts.sum(unigram_axis) / counts.sum()  # (V,): the share of each token among the next tokens
    if geometric:
        return lam * bigram.log() + (1 - lam) * unigram.log()[None, :]
    return (lam * bigram + (1 - lam) * unigram[None, :]).log()


def _perplexity(counts, words, lam, per="character", base="e", unigram_axis=0, geometric=False, end_counted=True):
    log_p = _interpolated_log_probs(counts, lam, unigram_axis, geometric)
    total, chars = 0.0, 0
    for word in words:
        ids = [0] + [VOCAB.index(c) for c in word] + [0]
        total += float(sum(log_p[a, b] for a, b in zip(ids[:-1], ids[1:], strict=True)))
        chars += len(word) + end_counted
    nll = -total / (len(words) if per == "word" else chars)  # nats
    return {"e": math.exp(nll), "2": 2.0 ** nll, "nll": nll}[base]


def _perplexity_reference(counts, words, lam):
    return _perplexity(counts, words, lam)


def _perplexity_cases(rng):
    cases = []
    for _ in range(3):
        counts = rng.poisson(0.8, size=(27, 27)) * rng.integers(1, 8, size=(27, 27))
        counts[:, 0] += 1  # every token can end a name, and every row has counts
        words = []
        for _ in range(int(rng.integers(4, 8))):
            letters = [int(c) for c in rng.integers(1, 27, size=int(rng.integers(2, 8)))]
            words.append("".join(VOCAB[c] for c in letters))
        pairs = [(VOCAB.index(a), VOCAB.index(b)) for w in words for a, b in zip(w[:-1], w[1:], strict=True)]
        if all(counts[a, b] > 0 for a, b in pairs):
            counts[VOCAB.index(words[0][0]), VOCAB.index(words[0][1])] = 0  # at least one unseen pair
        cases.append(Case(torch.as_tensor(counts, dtype=torch.float32), words, float(rng.uniform(0.3, 0.9))))
    return cases


interpolated_perplexity = Exercise(
    chapter="03", name="interpolated_perplexity", reference=_perplexity_reference, make_cases=_perplexity_cases,
    hint="Mix the probabilities, not their logarithms: p(b | a) = lam * N[a, b] / sum_b' N[a, b'] + (1 - lam) * "
    "u(b), with u(b) the share of token b among all the next tokens counted in N. Sum log p over the pairs of "
    "'.' + word + '.', divide minus that sum by the number of predicted tokens (the end token included) and "
    "exponentiate.",
    deeper_hint="The unigram is counts.sum(0) / counts.sum() (column sums: b is the next token). Perplexity = "
    "exp(nats per character) = 2 ** (bits per character).",
    wrong_answers=[
        WrongAnswer("per_word", lambda c, w, lam: _perplexity(c, w, lam, per="word"),
                    hint="You averaged the negative log-likelihood per word. Perplexity per character divides by "
                    "the number of predicted tokens: each word's letters plus its end token."),
        WrongAnswer("end_token_not_counted", lambda c, w, lam: _perplexity(c, w, lam, end_counted=False),
                    hint="You kept the end token's factor in the log-likelihood but did not count it as a "
                    "predicted character: a word of n letters has n + 1 predictions."),
        WrongAnswer("mixed_log_probabilities", lambda c, w, lam: _perplexity(c, w, lam, geometric=True),
                    hint="You mixed the log-probabilities (lam * log p_bigram + (1 - lam) * log p_unigram). That "
                    "geometric mixture is not normalised, and an unseen pair still has log-probability -inf. "
                    "Interpolation mixes the probabilities themselves, then takes the log."),
        WrongAnswer("unigram_of_previous_tokens", lambda c, w, lam: _perplexity(c, w, lam, unigram_axis=1),
                    hint="Your unigram counts how often each token comes *before* another (row sums of N). The "
                    "back-off distribution is over the next token b: use the column sums of N."),
        WrongAnswer("bases_mixed", lambda c, w, lam: _perplexity(c, w, lam, base="2"),
                    hint="You raised 2 to a negative log-likelihood measured in nats. Perplexity is e ** (nats "
                    "per character), or equally 2 ** (bits per character): keep the base and the unit together."),
        WrongAnswer("returned_nll", lambda c, w, lam: _perplexity(c, w, lam, base="nll"),
                    hint="You returned the NLL in nats per character. Perplexity is its exponential: the size of "
                    "a uniform choice that would be as surprising."),
    ],
)


# ---- ar_autocorrelation(phi, max_lag) -------------------------------------------------------------------


def _ar_acf(phi, max_lag, symmetric=True, geometric=False):
    """rho_0 .. rho_max_lag of a stationary AR(p) from rho_k = sum_i phi_i rho_{|k - i|} (Yule-Walker)."""
    phi = torch.as_tensor(phi, dtype=torch.float64)
    p = len(phi)
    if geometric:
        return phi[0] ** torch.arange(max_lag + 1, dtype=torch.float64)
    # unknowns rho_1 .. rho_p; equation k: rho_k - sum_i phi_i rho_{|k-i|} = [phi_k if k-i == 0]
    A, b = torch.eye(p, dtype=torch.float64), torch.zeros(p, dtype=torch.float64)
    for k in range(1, p + 1):
        for i in range(1, p + 1):
            lag = k - i if symmetric else max(k - i, -1)
            if lag == 0:
                b[k - 1] += phi[i - 1]
            elif lag > 0:
                A[k - 1, lag - 1] -= phi[i - 1]
            elif lag < 0 and symmetric:
                A[k - 1, -lag - 1] -= phi[i - 1]
    rho = [1.0, *torch.linalg.solve(A, b).tolist()]
    for k in range(p + 1, max_lag + 1):
        rho.append(sum(float(phi[i - 1]) * rho[k - i] for i in range(1, p + 1)))
    return torch.tensor(rho[: max_lag + 1], dtype=torch.float64)


def _ar_acf_reference(phi, max_lag):
    return _ar_acf(phi, max_lag)


def _ar_acf_cases(rng):
    """Stationary AR(p): the roots of z^p - phi_1 z^(p-1) - ... - phi_p lie inside the unit circle."""
    cases = []
    for kind in ("complex pair", "real and complex", "two real"):
        if kind == "two real":
            roots = [rng.uniform(0.3, 0.9), -rng.uniform(0.2, 0.6)]
        else:
            r, theta = rng.uniform(0.6, 0.9), rng.uniform(0.3, 1.2)
            roots = [r * np.exp(1j * theta), r * np.exp(-1j * theta)]
            if kind == "real and complex":
                roots.append(rng.uniform(-0.7, 0.7))
        phi = -np.real(np.poly(roots))[1:]
        cases.append(Case(torch.as_tensor(phi, dtype=torch.float64), int(rng.integers(8, 15))))
    return cases


ar_autocorrelation = Exercise(
    chapter="03", name="ar_autocorrelation", reference=_ar_acf_reference, make_cases=_ar_acf_cases,
    hint="Multiply the centred AR equation by x_{t-k} and take expectations: rho_k = sum_i phi_i rho_{k-i} for "
    "k >= 1, with rho_0 = 1 and rho_{-j} = rho_j. The first p of these equations are a linear system in rho_1 .. "
    "rho_p; every later rho_k follows from the p before it.",
    deeper_hint="Build a (p, p) matrix for the unknowns rho_1 .. rho_p (move each phi_i rho_{|k-i|} with "
    "|k - i| >= 1 to the left-hand side; terms with k = i go to the right) and solve it with torch.linalg.solve.",
    wrong_answers=[
        WrongAnswer("impulse_response", lambda phi, L: _ar_acf(phi, L, symmetric=False),
                    hint="You set rho_{k-i} to zero for k < i, which gives the moving-average weights psi_k (the "
                    "response to one shock), not the autocorrelation. The correlation at a negative lag equals "
                    "the one at the positive lag: rho_{-j} = rho_j, so the first p equations are coupled."),
        WrongAnswer("ar1_formula", lambda phi, L: _ar_acf(phi, L, geometric=True),
                    hint="rho_k = phi_1 ** k holds for an AR(1) only: with p >= 2 lags every rho_k depends on the "
                    "p previous ones, and a pair of complex roots makes it oscillate."),
    ],
)


# ---- sample_autoregressive(model, u, order) ------------------------------------------------------------


class ToyARModel(nn.Module):
    """A small autoregressive model over D variables with K values, in the ordering `order`:
    logits_j = b_j + sum_{k read before j} W[j, k, x_k].

    `logits(x)` takes (n, D) integer values and returns (n, D, K); the logits of variable j depend only on
    the variables read before j, i.e. on x[order[0]], ..., x[order[t-1]] where order[t] = j.
    """

    def __init__(self, num_dims: int, num_levels: int, order: torch.Tensor | None = None, seed: int = 0,
                 scale: float = 3.0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.num_dims, self.num_levels = num_dims, num_levels
        order = torch.arange(num_dims) if order is None else torch.as_tensor(order)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(num_dims)  # rank[j] = the step at which variable j is read
        self.bias = nn.Parameter(torch.randn(num_dims, num_levels, generator=gen))
        W = scale * torch.randn(num_dims, num_dims, num_levels, num_levels, generator=gen)
        before = (rank[None, :] < rank[:, None]).double()  # [j, k]: k is read before j
        self.W = nn.Parameter(W * before[:, :, None, None])

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(x.long(), self.num_levels).double()  # (n, D, K)
        return self.bias.double() + torch.einsum("ijab,nja->nib", self.W.double(), onehot)


def _sample_in_order(model, u, steps, u_column=None):
    """Draw variable steps[t] at step t with the uniform u[:, u_column(t, j)] (default: u[:, j])."""
    n, D = u.shape
    x = torch.zeros(n, D, dtype=torch.long)
    for t, j in enumerate(steps):
        column = j if u_column is None else u_column(t, j)
        x[:, j] = _inverse_cdf(F.softmax(model.logits(x)[:, j].double(), -1), u[:, column])
    return x


def _sample_reference(model, u, order):
    return _sample_in_order(model, u, [int(j) for j in order])


def _sample_index_order(model, u, order):
    return _sample_in_order(model, u, list(range(u.shape[1])))


def _sample_u_by_step(model, u, order):
    return _sample_in_order(model, u, [int(j) for j in order], u_column=lambda t, j: t)


def _sample_all_at_once(model, u, order):
    n, D = u.shape
    probs = F.softmax(model.logits(torch.zeros(n, D, dtype=torch.long)).double(), -1)  # (n, D, K)
    return torch.stack([_inverse_cdf(probs[:, i], u[:, i]) for i in range(D)], 1)


def _sample_cases(rng):
    cases = []
    for _ in range(3):
        D, K, n = int(rng.integers(4, 7)), int(rng.integers(3, 5)), int(rng.integers(10, 16))
        order = torch.as_tensor(rng.permutation(D))
        if torch.equal(order, torch.arange(D)):
            order = order.flip(0)
        with torch.no_grad():
            model = ToyARModel(D, K, order, seed=int(rng.integers(1 << 30)))
        u = torch.as_tensor(rng.uniform(0.02, 0.98, size=(n, D)), dtype=torch.float64)
        cases.append(Case(model, u, order))
    return cases


sample_autoregressive = Exercise(
    chapter="03", name="sample_autoregressive", reference=_sample_reference, make_cases=_sample_cases,
    hint="Start from x = zeros (n, D) (long) and follow the ordering: at step t the variable j = order[t] is "
    "drawn, from the softmax of the model's logits for j computed on the current x, by the inverse CDF at "
    "u[:, j]. One pass of the model per variable: j must be drawn after every variable read before it.",
    deeper_hint="for j in order.tolist(): probs = torch.softmax(model.logits(x)[:, j], -1); x[:, j] = the first "
    "k with probs.cumsum(-1)[:, k] > u[:, j] (torch.searchsorted(..., right=True)).",
    wrong_answers=[
        WrongAnswer("all_at_once", _sample_all_at_once,
                    hint="You drew every variable from one pass of the model on the initial zeros. The "
                    "conditionals need the values already drawn: run the model again after each variable (D "
                    "passes), feeding the partial sample back in."),
        WrongAnswer("index_order", _sample_index_order,
                    hint="You drew the variables in index order 0, 1, ..., D-1. This model reads them in "
                    "`order`: the logits of order[t] are only valid once order[0] .. order[t-1] are drawn."),
        WrongAnswer("uniform_by_step", _sample_u_by_step,
                    hint="You used the uniform of step t, u[:, t], for the variable drawn at step t. The uniforms "
                    "belong to the variables: variable j uses u[:, j], whenever it is drawn."),
    ],
)
