"""Checks for chapter 06, flows and diffusion.

In the order of the exercises: an affine coupling with a bounded log-scale, forward (a warm-up) and inverse, the
log-determinant of an invertible 1x1 convolution, the dequantised bound with a logit preprocessing, the forward
marginal q(x_t | x_0) written with the log-SNR (a warm-up), the posterior q(x_{t-1} | x_t, x_0), the
noise-prediction loss, one ancestral reverse step, and the velocity of the cosine (variance-preserving) path of
flow matching (a warm-up). None of them is a function the lecture writes: its open cells are the plain coupling,
q_sample with alpha-bar and the straight path's target, each a wrong answer here with its own hint.

Conventions shared with ``course_lib.models.flows``, ``diffusion`` and ``flow_matching``: a coupling mask is 1 on
the coordinates that pass unchanged and condition the nets; diffusion steps are 0-based indices into the schedule
(step t uses ``betas[t]`` and ``alphas_cumprod[t]``, with alpha-bar before step 0 equal to 1); flow matching runs
from noise at t = 0 to data at t = 1.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch

from course_lib.check import Case, Exercise, WrongAnswer, compare_values
from course_lib.metrics import dequantization
from course_lib.models import diffusion, flow_matching, flows

NUM_LEVELS = 17  # the digits' levels 0..16


def _f64(*tensors):
    return (torch.as_tensor(t, dtype=torch.float64) for t in tensors)


def _tensor(array, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array), dtype=dtype)


def _nan_as_number(value):
    """NaN -> a sentinel, in tensors and (nested) tuples, so that two answers with NaN in the same places
    compare equal (a wrong answer that takes the log of a negative number is recognised by its NaNs)."""
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return torch.nan_to_num(value.detach().double(), nan=-1.2345e300, posinf=math.inf, neginf=-math.inf)
    if isinstance(value, (tuple, list)):
        return type(value)(_nan_as_number(v) for v in value)
    return value


def _has_nan(value) -> bool:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return bool(torch.isnan(value).any())
    if isinstance(value, (tuple, list)):
        return any(_has_nan(v) for v in value)
    return False


def _compare_nan_aware(got, expected, case):
    if isinstance(got, torch.Tensor):
        got = got.detach()
    if isinstance(got, tuple):
        got = tuple(g.detach() if isinstance(g, torch.Tensor) else g for g in got)
    if _has_nan(expected):  # only a wrong answer's output has NaN: match it place for place
        return compare_values(_nan_as_number(got), _nan_as_number(expected), rtol=1e-4, atol=1e-6)
    return compare_values(got, expected, rtol=1e-4, atol=1e-6)


class _TanhNet(torch.nn.Module):
    """(B, D) -> (B, D): a one-layer net with fixed random weights, the scale or shift net of a coupling."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, gain: float) -> None:
        super().__init__()
        self.weight, self.bias = torch.nn.Parameter(weight), torch.nn.Parameter(bias)
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * torch.tanh(x.to(self.weight.dtype) @ self.weight + self.bias)


def _coupling_case(rng) -> Case:
    batch, dim = int(rng.integers(3, 9)), int(rng.integers(4, 9))
    while batch == dim:
        batch = int(rng.integers(3, 9))
    mask = np.zeros(dim)
    mask[rng.permutation(dim)[: dim // 2]] = 1.0  # a random half passes unchanged
    nets = [_TanhNet(_tensor(rng.normal(0, 0.8, (dim, dim)), torch.float64),
                     _tensor(rng.normal(0, 0.5, dim), torch.float64), gain) for gain in (1.5, 2.0)]
    x = _tensor(rng.normal(0, 1.5, (batch, dim)))
    clamp = float(rng.uniform(0.5, 0.8))  # below the raw log-scales' reach (1.5), far from 1: the bound shows
    return Case(x, _tensor(mask), *nets, clamp)


def _coupling_cases(rng):
    return [_coupling_case(rng) for _ in range(3)]


def _detached(value):
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, tuple):
        return tuple(_detached(v) for v in value)
    return value


def _compare_detached(got, expected, case):
    return compare_values(_detached(got), expected, rtol=1e-4, atol=1e-6)


# ---- 1. bounded_coupling_forward(x, mask, scale_net, shift_net, clamp) -> (y, log_det) (a warm-up) ---------------


def _coupling_parts(x, mask, scale_net, shift_net, clamp, *, mask_input=True, bound="tanh"):
    """x, mask, the log-scale s actually applied and the shift t, float64. ``bound``: "tanh" (the exercise's
    s = clamp tanh(raw / clamp)), "none" (the raw output) or "outer" (clamp tanh(raw), the division forgotten)."""
    x, mask = _f64(x, mask)
    inputs = mask * x if mask_input else x
    raw = scale_net(inputs).double().detach()
    s = {"tanh": clamp * torch.tanh(raw / clamp), "none": raw, "outer": clamp * torch.tanh(raw)}[bound]
    return x, mask, s, shift_net(inputs).double().detach()


def _coupling_forward_with(x, mask, scale_net, shift_net, clamp, *, mask_input=True, bound="tanh",
                           log_det_bound=None, sign=1.0, all_moved=False, batch_sum=False):
    x, mask, s, t = _coupling_parts(x, mask, scale_net, shift_net, clamp, mask_input=mask_input, bound=bound)
    moved = torch.ones_like(mask) if all_moved else 1 - mask
    y = (1 - moved) * x + moved * (x * torch.exp(s) + t)
    if log_det_bound is not None:  # the log-det of another log-scale than the one applied to y
        s = _coupling_parts(x, mask, scale_net, shift_net, clamp, mask_input=mask_input, bound=log_det_bound)[2]
    log_det = sign * (moved * s).sum(-1)
    return y, log_det.sum() if batch_sum else log_det


def _coupling_forward(x, mask, scale_net, shift_net, clamp):
    return _coupling_forward_with(x, mask, scale_net, shift_net, clamp)


bounded_coupling_forward = Exercise(
    name="bounded_coupling_forward",
    forbidden=(flows.affine_coupling_forward, flows.AffineCoupling),
    reference=_coupling_forward,
    make_cases=_coupling_cases,
    compare=_compare_detached,
    hint="The coordinates with mask 1 pass unchanged and are the only input of both nets. The others are scaled by "
    "exp(s) and shifted by t, where s is the bounded log-scale of the exercise text, not the scale net's raw "
    "output. The Jacobian is triangular: its log-determinant is the log of the product of its diagonal, one "
    "number per example.",
    deeper_hint="Compute the bounded s once and use that same s in y and in the log-determinant; torch.tanh does "
    "the bounding. Mask 1 and (1 - mask) select the two halves; the log-det has shape (B,).",
    wrong_answers=[
        WrongAnswer("scale_not_bounded", partial(_coupling_forward_with, bound="none"),
                    hint="You used the scale net's raw output as the log-scale, as in the lecture's plain coupling. "
                    "This layer bounds it first, so that no coordinate is ever stretched by more than exp(clamp): "
                    "apply the bound of the exercise text, in y and in the log-determinant."),
        WrongAnswer("log_det_of_raw_scale", partial(_coupling_forward_with, log_det_bound="none"),
                    hint="Your y uses the bounded log-scale but your log-determinant sums the raw one. The "
                    "log-determinant belongs to the map you applied: the diagonal of its Jacobian is exp(s) with "
                    "the bounded s."),
        WrongAnswer("bound_without_inner_division", partial(_coupling_forward_with, bound="outer"),
                    hint="Your bound is clamp * tanh(raw). The text divides inside as well, clamp * tanh(raw / "
                    "clamp): then a small raw log-scale passes almost unchanged (slope 1 at zero) and only large "
                    "ones are squashed towards +-clamp."),
        WrongAnswer("log_det_sign", partial(_coupling_forward_with, sign=-1.0),
                    hint="Your log-determinant has the wrong sign. The forward map multiplies the transformed "
                    "coordinates by exp(s), which stretches volume by exp(sum s)."),
        WrongAnswer("log_det_summed_over_batch", partial(_coupling_forward_with, batch_sum=True),
                    hint="Your log-determinant is one number for the whole batch. Every example has its own "
                    "Jacobian (the scales depend on its x): sum over the coordinates only, shape (B,)."),
        WrongAnswer("masked_half_transformed", partial(_coupling_forward_with, all_moved=True),
                    hint="You transformed every coordinate, also those with mask 1. They must pass unchanged: "
                    "they are what the nets see, so that the inverse can compute the same s and t from y."),
        WrongAnswer("nets_see_all_of_x", partial(_coupling_forward_with, mask_input=False),
                    hint="Your nets see all of x. They may only see the coordinates that pass unchanged, mask * x; "
                    "otherwise the Jacobian is no longer triangular and the map cannot be inverted from y."),
    ],
)


# ---- 2. bounded_coupling_inverse(y, mask, scale_net, shift_net, clamp) -> x --------------------------------------


def _coupling_inverse_with(y, mask, scale_net, shift_net, clamp, *, bound="tanh", order="shift_first",
                           scale_sign=-1.0, all_moved=False):
    y, mask, s, t = _coupling_parts(y, mask, scale_net, shift_net, clamp, bound=bound)
    moved = torch.ones_like(mask) if all_moved else 1 - mask
    x_moved = (y - t) * torch.exp(scale_sign * s) if order == "shift_first" else y * torch.exp(-s) - t
    return (1 - moved) * y + moved * x_moved


def _coupling_inverse(y, mask, scale_net, shift_net, clamp):
    return _coupling_inverse_with(y, mask, scale_net, shift_net, clamp)


bounded_coupling_inverse = Exercise(
    name="bounded_coupling_inverse",
    forbidden=(flows.affine_coupling_inverse, flows.AffineCoupling),
    reference=_coupling_inverse,
    make_cases=_coupling_cases,
    compare=_compare_detached,
    hint="The coordinates with mask 1 are the same in y as in x, so the nets can be evaluated again on mask * y and "
    "give the same raw output, hence the same bounded s and the same t, as in the forward pass. Then solve "
    "exercise 1's map for x on the other coordinates.",
    deeper_hint="Undo the operations of the forward pass in the reverse order.",
    wrong_answers=[
        WrongAnswer("shift_undone_after_scale", partial(_coupling_inverse_with, order="scale_first"),
                    hint="You undid the scale before the shift. The forward pass scales first and shifts last, "
                    "so the inverse must remove the shift first."),
        WrongAnswer("scale_not_inverted", partial(_coupling_inverse_with, scale_sign=1.0),
                    hint="You multiplied by exp(s) again; the inverse of multiplying by exp(s) is multiplying by "
                    "exp(-s)."),
        WrongAnswer("scale_not_bounded", partial(_coupling_inverse_with, bound="none"),
                    hint="You undid the raw log-scale, but the forward pass applied the bounded one: use the same "
                    "bounded s as exercise 1, or the inverse does not give back x."),
        WrongAnswer("masked_half_changed", partial(_coupling_inverse_with, all_moved=True),
                    hint="You changed the coordinates with mask 1 as well; the forward pass left them alone, so "
                    "the inverse leaves them alone too."),
    ],
)


# ---- 3. conv1x1_forward(x, weight) -> (y, log_det) (a derivation) ---------------------------------------------


def _conv1x1(x, weight, *, transpose=False, spatial=True, absolute=True):
    x, weight = _f64(x, weight)
    w = weight.T if transpose else weight
    y = torch.einsum("ij,bjhw->bihw", w, x)
    log_det = torch.linalg.slogdet(weight)[1] if absolute else torch.log(torch.linalg.det(weight))
    pixels = x.shape[2] * x.shape[3] if spatial else 1
    return y, (pixels * log_det).expand(x.shape[0]).clone()


def _conv1x1_forward(x, weight):
    return _conv1x1(x, weight)





def _conv1x1_cases(rng):
    cases = []
    for sign in (1.0, -1.0, -1.0):  # two of the three weights have a negative determinant
        batch, channels = int(rng.integers(2, 5)), int(rng.integers(3, 6))
        height, width = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        q, _ = np.linalg.qr(rng.normal(size=(channels, channels)))
        weight = q @ np.diag(rng.uniform(0.5, 2.0, channels)) + 0.2 * rng.normal(size=(channels, channels))
        if np.sign(np.linalg.det(weight)) != sign:
            weight[0] *= -1
        x = rng.normal(size=(batch, channels, height, width))
        cases.append(Case(_tensor(x), _tensor(weight)))
    return cases


conv1x1_forward = Exercise(
    name="conv1x1_forward",
    forbidden=(flows.InvertibleLinear,),
    reference=_conv1x1_forward,
    make_cases=_conv1x1_cases,
    compare=_compare_nan_aware,
    hint="At every pixel the channels are mixed by the same matrix: y[:, :, h, w] = W x[:, :, h, w]. The Jacobian of "
    "the whole map is block-diagonal, one C x C block W per pixel: what is the log of its absolute determinant?",
    deeper_hint="torch.einsum (or a matrix product after moving the channel axis last) does the mixing; "
    "torch.linalg.slogdet gives log |det W| even when det W < 0. One value per example, shape (B,).",
    wrong_answers=[
        WrongAnswer("no_spatial_factor", partial(_conv1x1, spatial=False),
                    hint="Your log-det counts W once. The same W acts at every one of the H x W pixels, so the "
                    "Jacobian has H * W copies of it on its diagonal and the log-determinant is H * W log |det W|."),
        WrongAnswer("weight_transposed", partial(_conv1x1, transpose=True),
                    hint="Your outputs use W transposed: output channel i is sum_j W[i, j] x[j], the i-th row of W "
                    "against the input channels."),
        WrongAnswer("no_absolute_value", partial(_conv1x1, absolute=False),
                    hint="Your log-det is NaN when det W < 0. The change of variables needs |det W|: a negative "
                    "determinant (a reflection) is fine for a flow; take the log of its absolute value."),
    ],
)


# ---- 4. dequantized_bound(log_density, x, u) -> (B,) (a derivation) -------------------------------------------


def _dequantized(log_density, x, u, *, levels=NUM_LEVELS, bin_width=True, logit_log_det=True, sign=1.0):
    x, u = _f64(x, u)
    v = (x + u) / levels  # (S, B, D) in (0, 1)
    y = torch.log(v) - torch.log1p(-v)  # logit
    log_det = torch.zeros_like(v)
    if logit_log_det:
        log_det = log_det - torch.log(v) - torch.log1p(-v)  # d logit(v) / dv = 1 / (v (1 - v))
    if bin_width:
        log_det = log_det - math.log(levels)  # dv / d(x + u) = 1 / levels
    log_p = torch.as_tensor(log_density(y), dtype=torch.float64) + sign * log_det.sum(-1)  # (S, B)
    return -log_p.mean(0)


def _dequantized_bound(log_density, x, u):
    return _dequantized(log_density, x, u)






class _GaussianLogDensity:
    """A correlated Gaussian on the logit space, (..., D) -> (...): the continuous model of the exercise."""

    def __init__(self, mean: np.ndarray, scale_tril: np.ndarray) -> None:
        self.dist = torch.distributions.MultivariateNormal(_tensor(mean, torch.float64),
                                                           scale_tril=_tensor(scale_tril, torch.float64),
                                                           validate_args=False)

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        return self.dist.log_prob(y.double())


def _dequantized_cases(rng):
    cases = []
    for _ in range(3):
        samples, batch, dim = int(rng.integers(2, 6)), int(rng.integers(3, 7)), int(rng.integers(4, 10))
        x = rng.choice(NUM_LEVELS, size=(batch, dim), p=_digit_level_shares())
        x[0, 0], x[-1, -1] = NUM_LEVELS - 1, 0  # the extreme levels always occur
        u = rng.uniform(0.02, 0.98, size=(samples, batch, dim))
        tril = np.tril(rng.normal(0, 0.3, (dim, dim)), -1) + np.diag(rng.uniform(1.0, 2.5, dim))
        density = _GaussianLogDensity(rng.normal(0, 1.0, dim), tril)
        cases.append(Case(density, _tensor(x), _tensor(u)))
    return cases


def _digit_level_shares() -> np.ndarray:
    shares = np.full(NUM_LEVELS, 0.03)
    shares[0], shares[-1] = 0.35, 0.2  # digits are mostly background and full strokes
    return shares / shares.sum()


dequantized_bound = Exercise(
    name="dequantized_bound",
    forbidden=(dequantization.dequantized_bound, dequantization.logit_preprocess, dequantization.logit_transform),
    reference=_dequantized_bound,
    make_cases=_dequantized_cases,
    compare=_compare_nan_aware,
    hint="Follow one image through the preprocessing, x + u -> v = (x + u) / 17 -> y = logit(v), and write the "
    "density of x + u on the 0..17 scale by the change of variables: log p(x + u) = log p_Y(y) + the log of every "
    "step's |derivative|, summed over the pixels. Then -log P(x) <= E_u[-log p(x + u)], averaged over the S draws.",
    deeper_hint="The scaling contributes -log 17 per pixel; the logit's derivative is 1 / (v (1 - v)). "
    "torch.log1p(-v) is log(1 - v) without loss of precision. Return one number per image, shape (B,).",
    wrong_answers=[
        WrongAnswer("logit_log_det_forgotten", partial(_dequantized, logit_log_det=False),
                    hint="You forgot the logit's log-determinant. The model's density is over y = logit(v); a density "
                    "over v needs the factor |dy/dv| = 1 / (v (1 - v)) for every pixel, and that is where most of "
                    "a flow's reported number can hide."),
        WrongAnswer("bin_width_forgotten", partial(_dequantized, bin_width=False),
                    hint="Your noise lives on the wrong scale: your density is per unit of v in [0, 1], where each "
                    "of the 17 bins is only 1/17 wide. A probability of a bin is a density times the bin's width "
                    "on the scale where the bins have width 1: count the scaling's log-det, -log 17 per pixel."),
        WrongAnswer("divided_by_max_level", partial(_dequantized, levels=NUM_LEVELS - 1),
                    hint="You divided by 16, the largest level. With the noise, x + u fills [0, 17): divide by the "
                    "number of levels, 17, so that v stays inside (0, 1) and every bin has the same width."),
        WrongAnswer("log_det_sign", partial(_dequantized, sign=-1.0),
                    hint="Check the sign of your log-determinants: log p(x + u) = log p_Y(y) + log |dy/d(x + u)|. "
                    "The logit stretches (0, 1) over the whole line, so the density of v is higher than that of y "
                    "near the edges."),
    ],
)


# ---- 5. q_sample_log_snr(x0, log_snr, noise) -> x_t (a warm-up) --------------------------------------------------


def _schedule(rng, steps: int) -> np.ndarray:
    betas = np.linspace(rng.uniform(1e-3, 0.02), rng.uniform(0.15, 0.3), steps)  # large steps: mistakes show
    return betas


def _alphas_cumprod(betas):
    return torch.cumprod(1 - torch.as_tensor(betas, dtype=torch.float64), 0)


def _q_sample(x0, t, alphas_cumprod, noise):
    """x_t from abar_t = alphas_cumprod[t] (exercise 7's noising)."""
    x0, ac, noise = _f64(x0, alphas_cumprod, noise)
    a = ac[torch.as_tensor(t, dtype=torch.long)].view(-1, *([1] * (x0.dim() - 1)))
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _q_sample_log_snr_with(x0, log_snr, noise, *, abar="sigmoid", roots=True, swapped=False):
    x0, lam, noise = _f64(x0, log_snr, noise)
    lam = lam.view(-1, *([1] * (x0.dim() - 1)))
    a = {"sigmoid": torch.sigmoid(lam), "exp": torch.exp(lam), "std_ratio": torch.sigmoid(2 * lam)}[abar]
    signal, spread = (a.sqrt(), (1 - a).sqrt()) if roots else (a, 1 - a)
    if swapped:
        signal, spread = spread, signal
    return signal * x0 + spread * noise


def _q_sample_log_snr(x0, log_snr, noise):
    return _q_sample_log_snr_with(x0, log_snr, noise)


def _q_sample_log_snr_cases(rng):
    cases = []
    for shape in [(6, 5), (4, 3, 3), (7, 8)]:
        log_snr = rng.uniform(-6.0, 6.0, size=shape[0])
        log_snr[0], log_snr[1] = 10.0, -10.0  # the ends of the lecture's schedule
        cases.append(Case(_tensor(rng.normal(0, 1, shape)), _tensor(log_snr), _tensor(rng.normal(0, 1, shape))))
    return cases


q_sample_log_snr = Exercise(
    name="q_sample_log_snr",
    forbidden=(diffusion.q_sample, diffusion.log_snr_schedule),
    reference=_q_sample_log_snr,
    make_cases=_q_sample_log_snr_cases,
    compare=_compare_nan_aware,
    hint="The lecture's q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) is written with abar_t. Here you are "
    "given log SNR(t) instead, with SNR(t) = abar_t / (1 - abar_t): solve that for abar_t and for 1 - abar_t. "
    "Each example has its own log-SNR, so make it broadcast against x0's other axes.",
    deeper_hint="Both abar_t and 1 - abar_t are a logistic sigmoid of +- the log-SNR (torch.sigmoid), which stays "
    "accurate at large |log-SNR| where exp overflows or 1 - abar_t rounds to zero.",
    wrong_answers=[
        WrongAnswer("snr_taken_for_abar", partial(_q_sample_log_snr_with, abar="exp"),
                    hint="You took exp(log-SNR) as abar_t. exp(log-SNR) is the SNR, abar_t / (1 - abar_t), which "
                    "exceeds 1 whenever the signal dominates (then 1 - abar_t is negative and its root NaN): "
                    "solve the ratio for abar_t."),
        WrongAnswer("snr_of_standard_deviations", partial(_q_sample_log_snr_with, abar="std_ratio"),
                    hint="You read the SNR as a ratio of standard deviations. It is a ratio of variances, "
                    "abar_t / (1 - abar_t): the squared coefficient of x_0 over the squared coefficient of the "
                    "noise."),
        WrongAnswer("roots_swapped", partial(_q_sample_log_snr_with, swapped=True),
                    hint="You swapped the signal's and the noise's coefficients (or the sign of the log-SNR): at a "
                    "large log-SNR x_t must be close to x_0, at a very negative one close to the noise."),
        WrongAnswer("variances_as_coefficients", partial(_q_sample_log_snr_with, roots=False),
                    hint="abar_t and 1 - abar_t are variances (shares of it); the coefficients of x_0 and of the "
                    "noise are their square roots, so that the variance of x_t stays 1 for data of variance 1."),
    ],
)


# ---- 6. posterior_mean_variance(x0, x_t, t, betas) -> (mean, variance) (a derivation) ---------------------------


def _posterior_with(x0, x_t, t, betas, *, swapped=False, variance_beta=False, shifted=False):
    x0, x_t, betas = _f64(x0, x_t, betas)
    ac = torch.cumprod(1 - betas, 0)
    ac_prev = ac[t] if shifted else (ac[t - 1] if t > 0 else ac.new_tensor(1.0))
    beta, alpha, abar = betas[t], 1 - betas[t], ac[t]
    c0, ct = ac_prev.sqrt() * beta / (1 - abar), alpha.sqrt() * (1 - ac_prev) / (1 - abar)
    if swapped:
        c0, ct = ct, c0
    variance = beta if variance_beta else (1 - ac_prev) / (1 - abar) * beta
    return c0 * x0 + ct * x_t, variance


def _posterior(x0, x_t, t, betas):
    return _posterior_with(x0, x_t, t, betas)





def _posterior_cases(rng):
    cases = []
    for _ in range(3):
        steps, batch, dim = int(rng.integers(6, 12)), int(rng.integers(2, 6)), int(rng.integers(3, 8))
        betas = _schedule(rng, steps)
        t = int(rng.integers(1, steps))
        cases.append(Case(_tensor(rng.normal(0, 1, (batch, dim))), _tensor(rng.normal(0, 1, (batch, dim))), t,
                          _tensor(betas)))
    return cases


def _compare_posterior(got, expected, case):
    return compare_values(_detached(got), expected, rtol=1e-4, atol=1e-6, what="(mean, variance)")


posterior_mean_variance = Exercise(
    name="posterior_mean_variance",
    forbidden=(diffusion.posterior_mean_variance, diffusion.Schedule),
    reference=_posterior,
    make_cases=_posterior_cases,
    compare=_compare_posterior,
    hint="By Bayes, q(x_{t-1} | x_t, x_0) is proportional to q(x_t | x_{t-1}) q(x_{t-1} | x_0), two Gaussians in "
    "x_{t-1}. Write the log of the product, collect the terms quadratic and linear in x_{t-1}, and complete the "
    "square: the precision is the sum of the two precisions.",
    deeper_hint="q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I) and q(x_{t-1} | x_0) = N(sqrt(abar_{t-1}) x_0, "
    "(1 - abar_{t-1}) I), with alpha_t = 1 - beta_t and abar_{t-1} the product of the alphas of steps 0..t-1. "
    "The variance is the same for every pixel: return it as a 0-dimensional tensor.",
    wrong_answers=[
        WrongAnswer("coefficients_swapped", partial(_posterior_with, swapped=True),
                    hint="The coefficients of x_0 and x_t are swapped. At a small step t the posterior mean sits "
                    "close to x_t (one small step of noise away), so x_t's coefficient must be near 1."),
        WrongAnswer("variance_beta", partial(_posterior_with, variance_beta=True),
                    hint="beta_t is the variance of the forward step q(x_t | x_{t-1}). Knowing x_0 as well makes "
                    "x_{t-1} more certain: the posterior precision adds the two precisions, 1 / beta_tilde = "
                    "alpha_t / beta_t + 1 / (1 - abar_{t-1})."),
        WrongAnswer("abar_not_shifted", partial(_posterior_with, shifted=True),
                    hint="You used abar_t where abar_{t-1} belongs: x_{t-1} given x_0 has been through steps 0..t-1 "
                    "only, so its prior is N(sqrt(abar_{t-1}) x_0, (1 - abar_{t-1}) I)."),
    ],
)


# ---- 7. ddpm_loss(eps_model, x0, t, noise, alphas_cumprod) -> (B,) ----------------------------------------------


class _EpsNet(torch.nn.Module):
    """(x_t (B, D), t (B,)) -> eps_hat (B, D): a fixed random net with a learned-looking time embedding."""

    def __init__(self, weight: torch.Tensor, time_table: torch.Tensor) -> None:
        super().__init__()
        self.weight, self.time_table = torch.nn.Parameter(weight), torch.nn.Parameter(time_table)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x_t.to(self.weight.dtype) @ self.weight + self.time_table[torch.as_tensor(t).long()])


def _ddpm_loss_with(eps_model, x0, t, noise, alphas_cumprod, *, target="noise", pixels="sum", batch="mean",
                    sees_x0=False):
    x0, noise = _f64(x0, noise)
    x_t = x0 if sees_x0 else _q_sample(x0, t, alphas_cumprod, noise)
    eps_hat = eps_model(x_t, t).double().detach()
    squared = ((noise if target == "noise" else x0) - eps_hat) ** 2
    per_example = squared.sum(-1) if pixels == "sum" else squared.mean(-1)
    return per_example.mean() if batch == "mean" else per_example.sum()


def _ddpm_loss(eps_model, x0, t, noise, alphas_cumprod):
    return _ddpm_loss_with(eps_model, x0, t, noise, alphas_cumprod)





def _ddpm_loss_model_sees_x0(eps_model, x0, t, noise, alphas_cumprod):
    return _ddpm_loss_with(eps_model, x0, t, noise, alphas_cumprod, sees_x0=True)


def _ddpm_loss_cases(rng):
    cases = []
    for _ in range(3):
        steps, batch, dim = int(rng.integers(8, 15)), int(rng.integers(3, 8)), int(rng.integers(4, 9))
        while batch == dim:
            batch = int(rng.integers(3, 8))
        ac = _alphas_cumprod(_schedule(rng, steps)).float()
        net = _EpsNet(_tensor(rng.normal(0, 0.6, (dim, dim)), torch.float64),
                      _tensor(rng.normal(0, 0.5, (steps, dim)), torch.float64))
        t = torch.as_tensor(rng.integers(0, steps, size=batch), dtype=torch.long)
        cases.append(Case(net, _tensor(rng.normal(0, 1, (batch, dim))), t, _tensor(rng.normal(0, 1, (batch, dim))), ac))
    return cases


ddpm_loss = Exercise(
    name="ddpm_loss",
    forbidden=(diffusion.ddpm_loss, diffusion.q_sample),
    reference=_ddpm_loss,
    make_cases=_ddpm_loss_cases,
    compare=_compare_detached,
    hint="Noise x0 to step t with the given noise (q(x_t | x_0) with abar_t = alphas_cumprod[t]), ask "
    "eps_model(x_t, t) for its guess of that "
    "noise, and measure the squared error ||noise - eps_hat||^2 of each example; then average over the batch.",
    deeper_hint="Sum the squared error over the pixels (a squared norm per example), then take the mean over the "
    "batch: a scalar.",
    wrong_answers=[
        WrongAnswer("predicts_x0", partial(_ddpm_loss_with, target="x0"),
                    hint="Your loss compares the net's output with x0. This net predicts the noise epsilon that was "
                    "added (Ho et al.'s parameterisation); its target is `noise`."),
        WrongAnswer("mean_over_pixels", partial(_ddpm_loss_with, pixels="mean"),
                    hint="You averaged over the pixels as well (what F.mse_loss does): the loss asked for is the "
                    "squared norm ||noise - eps_hat||^2 of each example, a sum over the pixels, the scale on "
                    "which each term is a weighted ELBO term in nats."),
        WrongAnswer("summed_over_batch", partial(_ddpm_loss_with, batch="sum"),
                    hint="You summed over the batch: the loss is the average over the examples, so that its size "
                    "(and the learning rate that suits it) does not depend on the batch size."),
        WrongAnswer("model_sees_x0", _ddpm_loss_model_sees_x0,
                    hint="Your net sees the clean x0. It must see the noised x_t from q(x_t | x_0) with this very "
                    "noise, and guess that noise."),
    ],
)


# ---- 8. reverse_step(x_t, t, eps_hat, betas, z) -> x_{t-1} (a derivation) ----------------------------------------


def _reverse_with(x_t, t, eps_hat, betas, z, *, root=True, noise_at_zero=False, mean_root=True):
    x_t, eps_hat, betas, z = _f64(x_t, eps_hat, betas, z)
    beta, ac = betas[t], torch.cumprod(1 - betas, 0)[t]
    coefficient = beta / (1 - ac).sqrt() if mean_root else beta / (1 - ac)
    mean = (x_t - coefficient * eps_hat) / (1 - beta).sqrt()
    if t == 0 and not noise_at_zero:
        return mean
    return mean + (beta.sqrt() if root else beta) * z


def _reverse_step(x_t, t, eps_hat, betas, z):
    return _reverse_with(x_t, t, eps_hat, betas, z)





def _reverse_cases(rng):
    cases = []
    for t_choice in ("last", "zero", "middle"):
        steps, batch, dim = int(rng.integers(6, 12)), int(rng.integers(2, 6)), int(rng.integers(3, 8))
        t = {"last": steps - 1, "zero": 0, "middle": int(rng.integers(1, steps - 1))}[t_choice]
        shape = (batch, dim)
        cases.append(Case(_tensor(rng.normal(0, 1, shape)), t, _tensor(rng.normal(0, 1, shape)),
                          _tensor(_schedule(rng, steps)), _tensor(rng.normal(0, 1, shape))))
    return cases


reverse_step = Exercise(
    name="reverse_step",
    forbidden=(diffusion.reverse_step, diffusion.ddim_step),
    reference=_reverse_step,
    make_cases=_reverse_cases,
    hint="Put the net's guess of the noise into x_0 = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t), put that x_0 "
    "into the posterior mean of q(x_{t-1} | x_t, x_0) and simplify: the mean is a combination of x_t and eps_hat "
    "only. Then add sigma_t z with sigma_t^2 = beta_t, except at the last step.",
    deeper_hint="After the substitution, collect the terms in x_t: their coefficient simplifies to 1 / sqrt(alpha_t) "
    "once you use 1 - abar_t = alpha_t (1 - abar_{t-1}) + beta_t. The step t = 0 returns the mean itself: it is "
    "the sample, and noise there would only blur it.",
    wrong_answers=[
        WrongAnswer("variance_as_std", partial(_reverse_with, root=False),
                    hint="You scaled z by beta_t, a variance. The noise's standard deviation is its square root: "
                    "sigma_t = sqrt(beta_t)."),
        WrongAnswer("noise_at_step_zero", partial(_reverse_with, noise_at_zero=True),
                    hint="At t = 0 the step gives the final sample: return the mean without noise (z is passed "
                    "anyway, so that every step has the same signature)."),
        WrongAnswer("mean_coefficient_without_root", partial(_reverse_with, mean_root=False),
                    hint="Check the power of (1 - abar_t) in the coefficient of eps_hat: the noise in x_t has "
                    "standard deviation sqrt(1 - abar_t), not 1 - abar_t."),
    ],
)


# ---- 9. cosine_path_target(x0, x1, t) -> (x_t, velocity) (a warm-up) ---------------------------------------------


def _cosine_path_with(x0, x1, t, *, path="cosine", velocity="derivative"):
    x0, x1, t = _f64(x0, x1, t)
    t = t.view(-1, *([1] * (x0.dim() - 1)))
    half_pi = math.pi / 2
    if path == "straight":  # the lecture's path and target
        return (1 - t) * x0 + t * x1, x1 - x0
    if path == "reversed":  # the data at t = 0
        x0, x1 = x1, x0
    c, s = torch.cos(half_pi * t), torch.sin(half_pi * t)
    x_t = c * x0 + s * x1
    v = {"derivative": half_pi * (c * x1 - s * x0), "no_chain_factor": c * x1 - s * x0,
         "negated": -half_pi * (c * x1 - s * x0), "straight": x1 - x0}[velocity]
    return x_t, v


def _cosine_path_target(x0, x1, t):
    return _cosine_path_with(x0, x1, t)


def _fm_cases(rng):
    cases = []
    for shape in [(6, 2), (4, 8, 8), (5, 7)]:
        t = rng.uniform(0.05, 0.95, size=shape[0])
        cases.append(Case(_tensor(rng.normal(0, 1, shape)), _tensor(rng.normal(0, 2, shape)), _tensor(t)))
    return cases


def _compare_fm(got, expected, case):
    return compare_values(_detached(got), expected, rtol=1e-4, atol=1e-6, what="(x_t, velocity)")


cosine_path_target = Exercise(
    name="cosine_path_target",
    forbidden=(flow_matching.flow_matching_target, flow_matching.FlowMatching),
    reference=_cosine_path_target,
    make_cases=_fm_cases,
    compare=_compare_fm,
    hint="The point on the path is given by the formula of the exercise text; its velocity is its derivative with "
    "respect to t, with x0 and x1 held fixed. Each example has its own t[i]: reshape t to broadcast.",
    deeper_hint="Differentiate cos and sin of (pi / 2) t by the chain rule; the result is again a combination of x0 "
    "and x1 with coefficients that depend on t.",
    wrong_answers=[
        WrongAnswer("straight_path", partial(_cosine_path_with, path="straight"),
                    hint="You wrote the lecture's straight path and its velocity x1 - x0. This exercise asks for "
                    "another path between the same end points, the one of the exercise text."),
        WrongAnswer("straight_velocity", partial(_cosine_path_with, velocity="straight"),
                    hint="Your x_t is right, but x1 - x0 is the velocity of the straight line only. On this curved "
                    "path the velocity changes with t: differentiate x_t."),
        WrongAnswer("chain_rule_factor_missing", partial(_cosine_path_with, velocity="no_chain_factor"),
                    hint="Your velocity misses the inner derivative: the angle is (pi / 2) t, so differentiating "
                    "cos or sin of it brings out a factor pi / 2."),
        WrongAnswer("direction_reversed", partial(_cosine_path_with, velocity="negated"),
                    hint="Your velocity points from the data back to the noise. Sampling integrates from t = 0 "
                    "(noise) to t = 1 (data), so the velocity is d x_t / dt, not its negative."),
        WrongAnswer("path_reversed", partial(_cosine_path_with, path="reversed"),
                    hint="Your x_t is at the data at t = 0. The path starts at the noise x0 when t = 0 and reaches "
                    "the data x1 at t = 1."),
    ],
)
