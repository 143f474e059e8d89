"""Checks for chapter 05, generative adversarial networks.

In the order of the exercises: the discriminator's and the generator's losses on logits (warm-ups), the optimal
discriminator of a game in which the discriminator sees data and samples in unequal shares, and the
Jensen-Shannon divergence, both on a discrete space, modes covered on a 2-D mixture, the
gradient penalty of WGAN-GP, the Fréchet distance between two Gaussians, and two derivations the lecture does
not write out: the generator's gradient with respect to the discriminator's logit under each loss, and the
Wasserstein-1 distance between two 1-D empirical distributions.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import scipy.spatial.distance
import scipy.stats
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.check import Case, Exercise, WrongAnswer, compare_values
from course_lib.check.ch02 import _compare_nan_aware
from course_lib.metrics import frechet as _frechet
from course_lib.metrics import toy2d as _toy2d
from course_lib.models import gan as _gan


def _f64(*tensors):
    return (torch.as_tensor(t, dtype=torch.float64) for t in tensors)


def _sizes(rng, low: int, high: int) -> tuple[int, int]:
    """Two different sizes in [low, high)."""
    a, b = int(rng.integers(low, high)), int(rng.integers(low, high))
    while a == b:
        b = int(rng.integers(low, high))
    return a, b


def _saturated_logits(rng, n: int, centre: float, extreme_sign: float) -> torch.Tensor:
    """n logits around ``centre``, the first one a confident mistake of about 110-160 (float32 sigmoid saturates)."""
    logits = rng.normal(centre, 2.0, size=n)
    logits[0] = extreme_sign * rng.uniform(110.0, 160.0)
    return torch.as_tensor(logits, dtype=torch.float32)


# ---- 1. discriminator_loss(real_logits, fake_logits) -> scalar (a warm-up) ----------------------------------
# L_D = -E_data[log D(x)] - E_z[log(1 - D(G(z)))], D = sigmoid(logit): minus the value V(D, G) of the game.


def _d_terms(real_logits, fake_logits):
    real, fake = _f64(real_logits, fake_logits)
    return F.softplus(-real), F.softplus(fake)  # -log D(x), -log(1 - D(G(z))), per example


def _discriminator_loss(real_logits, fake_logits):
    on_real, on_fake = _d_terms(real_logits, fake_logits)
    return on_real.mean() + on_fake.mean()


def _d_labels_swapped(real_logits, fake_logits):
    return _discriminator_loss(fake_logits, real_logits)


def _d_no_minus_sign(real_logits, fake_logits):
    return -_discriminator_loss(real_logits, fake_logits)


def _d_sigmoid_then_log(real_logits, fake_logits):
    real, fake = torch.sigmoid(real_logits.float()), torch.sigmoid(fake_logits.float())
    return (-torch.log(real).mean() - torch.log(1 - fake).mean()).double()


def _d_bce_on_probabilities(real_logits, fake_logits):
    real, fake = torch.sigmoid(real_logits.float()), torch.sigmoid(fake_logits.float())
    return (F.binary_cross_entropy(real, torch.ones_like(real))
            + F.binary_cross_entropy(fake, torch.zeros_like(fake))).double()


def _d_pooled_mean(real_logits, fake_logits):
    return torch.cat(list(_d_terms(real_logits, fake_logits))).mean()


def _d_halved(real_logits, fake_logits):
    return 0.5 * _discriminator_loss(real_logits, fake_logits)


def _discriminator_loss_cases(rng):
    cases = []
    for _ in range(3):
        n_real, n_fake = _sizes(rng, 5, 20)
        cases.append(Case(_saturated_logits(rng, n_real, 1.5, -1.0), _saturated_logits(rng, n_fake, -1.5, 1.0)))
    return cases


discriminator_loss = Exercise(
    name="discriminator_loss",
    forbidden=(_gan.discriminator_loss,),
    reference=_discriminator_loss,
    make_cases=_discriminator_loss_cases,
    hint="The discriminator is a classifier with label 1 for data and 0 for samples: its loss is the binary "
    "cross-entropy, -E_data[log D(x)] - E_z[log(1 - D(G(z)))], with D = sigmoid(logit). Each expectation is a "
    "mean over its own batch.",
    deeper_hint="Write log D and log(1 - D) directly from the logits: log sigmoid(a) = -softplus(-a) and "
    "log(1 - sigmoid(a)) = -softplus(a) (F.logsigmoid and F.softplus are stable for any a). "
    "F.binary_cross_entropy_with_logits does the same, one batch at a time.",
    wrong_answers=[
        WrongAnswer("labels_swapped", _d_labels_swapped,
                    hint="Your labels are swapped: you rewarded the discriminator for calling data fake and samples "
                    "real. Data get label 1 (the term -log D(x)) and samples label 0 (the term -log(1 - D(G(z))))."),
        WrongAnswer("no_minus_sign", _d_no_minus_sign,
                    hint="You returned the value V(D, G) = E[log D(x)] + E[log(1 - D(G(z)))] itself. The "
                    "discriminator maximises V, so the loss a minimiser descends is -V: put the minus sign in."),
        WrongAnswer("sigmoid_then_log", _d_sigmoid_then_log,
                    hint="Your loss is infinite when the discriminator is confidently wrong: in float32, "
                    "sigmoid(-110) is exactly 0 and its log is -inf. Never take log(sigmoid(a)): write it from the "
                    "logit, log sigmoid(a) = -softplus(-a), which is exact for any a."),
        WrongAnswer("bce_on_probabilities", _d_bce_on_probabilities,
                    hint="F.binary_cross_entropy on probabilities clips each log at -100, so a confident mistake "
                    "(a logit of -150 on a real image) is charged 100 nats instead of 150, and its gradient is lost. "
                    "Work on the logits, where the loss is exact."),
        WrongAnswer("pooled_mean", _d_pooled_mean,
                    hint="You averaged the real and the fake terms together over the pooled batch. The loss has two "
                    "expectations, one over the data and one over the samples: take the mean of each over its own "
                    "batch and add them (here the two batches have different sizes)."),
        WrongAnswer("halved", _d_halved,
                    hint="Your loss is half the binary cross-entropy: this course's loss is the sum of the two means, "
                    "-V(D, G), so that at the optimal discriminator it equals log 4 - 2 JS(p_data || p_g)."),
    ],
)


# ---- 2. generator_loss(fake_logits, kind) -> scalar (a warm-up) -------------------------------------------
# saturating: E_z[log(1 - D(G(z)))] (the minimax game); non-saturating: -E_z[log D(G(z))].


def _generator_loss(fake_logits, kind):
    fake = torch.as_tensor(fake_logits, dtype=torch.float64)
    return -F.softplus(fake).mean() if kind == "saturating" else F.softplus(-fake).mean()


def _g_sign(fake_logits, kind):
    return -_generator_loss(fake_logits, kind)


def _g_always_saturating(fake_logits, kind):
    return _generator_loss(fake_logits, "saturating")


def _g_kinds_swapped(fake_logits, kind):
    return _generator_loss(fake_logits, "non_saturating" if kind == "saturating" else "saturating")


def _g_sigmoid_then_log(fake_logits, kind):
    d = torch.sigmoid(fake_logits.float())
    return (torch.log(1 - d).mean() if kind == "saturating" else -torch.log(d).mean()).double()


def _generator_loss_cases(rng):
    cases = []
    for kind in ("non_saturating", "saturating", "non_saturating", "saturating"):
        logits = rng.normal(-1.0, 2.5, size=int(rng.integers(6, 20)))
        logits[0], logits[1] = -rng.uniform(110.0, 160.0), rng.uniform(110.0, 160.0)
        cases.append(Case(torch.as_tensor(logits, dtype=torch.float32), kind))
    return cases


generator_loss = Exercise(
    name="generator_loss",
    forbidden=(_gan.generator_loss,),
    reference=_generator_loss,
    make_cases=_generator_loss_cases,
    hint="The generator minimises. In the minimax game ('saturating') it minimises E_z[log(1 - D(G(z)))]; in the "
    "non-saturating game it minimises -E_z[log D(G(z))] instead. Both are means over the batch, with D = "
    "sigmoid(logit).",
    deeper_hint="As in exercise 1, take the logs from the logits: log sigmoid(a) = -softplus(-a), "
    "log(1 - sigmoid(a)) = -softplus(a).",
    wrong_answers=[
        WrongAnswer("sign", _g_sign,
                    hint="Check the signs: the generator's loss is what it minimises. In the minimax game it "
                    "minimises E[log(1 - D(G(z)))] (a negative number); the non-saturating loss is -E[log D(G(z))] "
                    "(a positive one)."),
        WrongAnswer("saturating_for_both", _g_always_saturating,
                    hint="You returned the saturating loss E[log(1 - D(G(z)))] also where kind='non_saturating' "
                    "was asked: that one is -E[log D(G(z))], the generator maximising the log-probability that D "
                    "calls its samples real."),
        WrongAnswer("kinds_swapped", _g_kinds_swapped,
                    hint="Your two kinds are swapped. 'saturating' is the minimax game's E[log(1 - D(G(z)))], whose "
                    "gradient vanishes when D rejects the samples; 'non_saturating' is -E[log D(G(z))]."),
        WrongAnswer("sigmoid_then_log", _g_sigmoid_then_log,
                    hint="Your loss is infinite for a confident logit: in float32 sigmoid(-110) is 0 and "
                    "1 - sigmoid(110) is 0, and their logs are -inf. Write the logs from the logits (softplus)."),
    ],
)


# ---- 3. optimal_discriminator(p_data, p_g, real_share) -> D* (a warm-up) --------------------------------------
# The lecture derives D* = p / (p + q) for a discriminator that sees data and samples equally often. Here a share
# pi of its examples are data: it minimises -pi E_data[log D] - (1 - pi) E_g[log(1 - D)], so that
# D* = pi p / (pi p + (1 - pi) q), the posterior probability of "real" under the prior pi.


def _weighted_dstar(p_data, p_g, w_real, w_fake):
    p, q = _f64(p_data, p_g)
    return w_real * p / (w_real * p + w_fake * q)


def _optimal_discriminator(p_data, p_g, real_share=0.5):
    return _weighted_dstar(p_data, p_g, real_share, 1.0 - real_share)


def _dstar_balanced(p_data, p_g, real_share):
    return _optimal_discriminator(p_data, p_g, 0.5)


def _dstar_shares_swapped(p_data, p_g, real_share):
    return _weighted_dstar(p_data, p_g, 1.0 - real_share, real_share)


def _dstar_swapped(p_data, p_g, real_share):
    return 1.0 - _optimal_discriminator(p_data, p_g, real_share)


def _dstar_odds(p_data, p_g, real_share):
    p, q = _f64(p_data, p_g)
    return real_share * p / ((1.0 - real_share) * q)


def _dstar_share_only_on_top(p_data, p_g, real_share):
    p, q = _f64(p_data, p_g)
    return real_share * p / (p + q)


def _discrete_pair(rng, batch: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two (batch, k) probability tables with some zeros, never both zero at the same place."""
    p, q = rng.dirichlet(np.full(k, 0.7), size=batch), rng.dirichlet(np.full(k, 0.7), size=batch)
    for row in range(batch):
        zero_p, zero_q = rng.choice(k, size=2, replace=False)
        p[row, zero_p], q[row, zero_q] = 0.0, 0.0
    p, q = p / p.sum(1, keepdims=True), q / q.sum(1, keepdims=True)
    return torch.as_tensor(p, dtype=torch.float32), torch.as_tensor(q, dtype=torch.float32)


def _discrete_cases(rng):
    """Three pairs of (B, K) probability tables (exercise 4)."""
    return [Case(*_discrete_pair(rng, *_sizes(rng, 3, 9))) for _ in range(3)]


def _real_share(rng) -> float:
    """A share of data in (0.15, 0.85), at least 0.15 away from 1/2 (so that the balanced D* is told apart)."""
    share = float(rng.uniform(0.15, 0.35))
    return share if rng.random() < 0.5 else 1.0 - share


def _dstar_cases(rng):
    """Three pairs of (B, K) probability tables, each with its share of data among D's examples."""
    return [Case(*_discrete_pair(rng, *_sizes(rng, 3, 9)), _real_share(rng)) for _ in range(3)]


optimal_discriminator = Exercise(
    name="optimal_discriminator",
    reference=_optimal_discriminator,
    make_cases=_dstar_cases,
    compare=_compare_nan_aware,
    hint="For a fixed generator, minimise the loss pointwise: at each x it is -(a log D + b log(1 - D)) with a and b "
    "the weights with which data and samples reach x. Set the derivative with respect to D to zero.",
    deeper_hint="The weight of the data at x is real_share * p_data(x), that of the samples (1 - real_share) * "
    "p_g(x): a log D + b log(1 - D) is largest at D = a / (a + b). With real_share = 1/2 you get the lecture's D*.",
    wrong_answers=[
        WrongAnswer("balanced", _dstar_balanced,
                    hint="That is the lecture's D* = p_data / (p_data + p_g), right only when the discriminator sees "
                    "data and samples equally often. Here a share real_share of its examples are data: weight each "
                    "density by how often its examples reach the discriminator."),
        WrongAnswer("shares_swapped", _dstar_shares_swapped,
                    hint="Your weights are swapped: the data's density is weighted by real_share (the share of data "
                    "among D's examples), the generator's by 1 - real_share."),
        WrongAnswer("swapped", _dstar_swapped,
                    hint="Your D* is the probability of 'generated', not of 'real': D(x) is the discriminator's "
                    "belief that x came from the data, so the data's term is in the numerator."),
        WrongAnswer("odds", _dstar_odds,
                    hint="You returned the odds of 'real' (a ratio that exceeds 1 and is infinite where p_g = 0), "
                    "not a probability. D* = r / (1 + r) turns odds r into the probability of 'real'."),
        WrongAnswer("share_only_in_numerator", _dstar_share_only_on_top,
                    hint="Your D* does not reach 1 where only the data put mass: the weights belong in the "
                    "denominator too, D* = a / (a + b) with the same weighted a in both places."),
    ],
)


# ---- 4. js_divergence(p, q) -> (B,) nats ----------------------------------------------------------------------


def _kl_rows(p, q):
    """KL(p || q) row by row with 0 log 0 = 0; +inf where p > 0 = q."""
    terms = torch.where(p > 0, p * (torch.log(p) - torch.log(q)), torch.zeros_like(p))
    return terms.sum(-1)


def _js(p, q, mixture_scale=0.5, outer=0.5):
    p, q = _f64(p, q)
    m = mixture_scale * (p + q)
    return outer * (_kl_rows(p, m) + _kl_rows(q, m))


def _js_divergence(p, q):
    return _js(p, q)


def _js_bits(p, q):
    return _js(p, q) / math.log(2)


def _js_no_half_mixture(p, q):
    return _js(p, q, mixture_scale=1.0)


def _js_no_outer_half(p, q):
    return _js(p, q, outer=1.0)


def _js_symmetrised_kl(p, q):
    p, q = _f64(p, q)
    return 0.5 * (_kl_rows(p, q) + _kl_rows(q, p))


def _js_nan_at_zeros(p, q):
    p, q = _f64(p, q)
    m = 0.5 * (p + q)
    return 0.5 * ((p * torch.log(p / m)).sum(-1) + (q * torch.log(q / m)).sum(-1))


js_divergence = Exercise(
    name="js_divergence",
    forbidden=(scipy.spatial.distance.jensenshannon,),  # the lecture's section 2 calls it
    reference=_js_divergence,
    make_cases=_discrete_cases,
    compare=_compare_nan_aware,
    hint="JS(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m), with the mixture m = (p + q) / 2, in nats (natural "
    "logarithms), one number per row; a term with p_i = 0 contributes 0.",
    deeper_hint="Write KL(p || m) = sum_i p_i log(p_i / m_i) over the entries where p_i > 0 (torch.where keeps "
    "the 0 log 0 = 0 convention); m_i > 0 wherever p_i > 0, so JS is always finite and at most log 2.",
    wrong_answers=[
        WrongAnswer("bits", _js_bits,
                    hint="Your values are in bits (log base 2, at most 1): the course measures in nats. Use the "
                    "natural logarithm; JS is then at most log 2 = 0.693 nats."),
        WrongAnswer("mixture_without_half", _js_no_half_mixture,
                    hint="Your mixture p + q is not a distribution (it sums to 2): m = (p + q) / 2. With m too "
                    "large the KLs come out too small, even negative, and JS(p || p) is not 0."),
        WrongAnswer("no_outer_half", _js_no_outer_half,
                    hint="JS averages the two KLs: 1/2 KL(p || m) + 1/2 KL(q || m). Your values are twice that (they "
                    "reach 2 log 2 for disjoint supports instead of log 2)."),
        WrongAnswer("symmetrised_kl", _js_symmetrised_kl,
                    hint="You symmetrised the KL between p and q directly, which is infinite wherever one is 0 and "
                    "the other is not. JS compares each with the mixture m = (p + q) / 2, which is positive "
                    "wherever either is, so it stays finite."),
        WrongAnswer("nan_at_zeros", _js_nan_at_zeros,
                    hint="Your result is NaN where an entry of p (or q) is 0: 0 * log(0 / m) is 0 * (-inf) in floating "
                    "point. By continuity the term is 0: add up only the entries where the probability is positive."),
    ],
)


# ---- 5. modes_covered(samples, centres, std, min_share) -> int ----------------------------------------------


def _mode_counts(samples, centres, radius):
    samples, centres = _f64(samples, centres)
    dist = torch.cdist(samples, centres)  # (N, K)
    nearest, which = dist.min(dim=1)
    which = torch.where(nearest <= radius, which, torch.full_like(which, -1))
    return torch.bincount(which[which >= 0], minlength=len(centres)), len(samples)


def _modes_covered(samples, centres, std, min_share):
    counts, n = _mode_counts(samples, centres, 3.0 * std)
    return int((counts >= min_share * n).sum())


def _modes_counting_samples(samples, centres, std, min_share):
    counts, _ = _mode_counts(samples, centres, 3.0 * std)
    return int(counts.sum())


def _modes_radius_in_variance(samples, centres, std, min_share):
    counts, n = _mode_counts(samples, centres, 3.0 * std**2)
    return int((counts >= min_share * n).sum())


def _modes_squared_distance(samples, centres, std, min_share):
    counts, n = _mode_counts(samples, centres, math.sqrt(3.0 * std))  # d^2 <= 3 std
    return int((counts >= min_share * n).sum())


def _modes_any_sample(samples, centres, std, min_share):
    counts, _ = _mode_counts(samples, centres, 3.0 * std)
    return int((counts > 0).sum())


def _modes_cases(rng):
    cases = []
    for _ in range(4):
        k = int(rng.integers(6, 13))
        angles = 2 * np.pi * np.arange(k) / k
        centres = rng.uniform(1.5, 3.0) * np.stack([np.cos(angles), np.sin(angles)], 1)
        std = float(rng.uniform(0.04, 0.1))
        n, min_share = int(rng.integers(400, 800)), float(rng.choice([0.01, 0.02]))
        live = rng.permutation(k)[: int(rng.integers(4, k))]
        shares = rng.uniform(0.5, 1.5, len(live))
        shares = 0.8 * shares / shares.sum()
        shares[:2] = [0.3 * min_share, 0.6 * min_share]  # two modes below the share: seen, not covered
        which = rng.choice(live, size=n, p=shares / shares.sum())
        spread = std * rng.choice([0.5, 1.0, 2.5], size=(n, 1), p=[0.4, 0.4, 0.2])  # some fall outside 3 std
        samples = centres[which] + spread * rng.normal(size=(n, 2))
        # a blurry mode: samples 3.5 to 5 std from its centre, near it but never within 3 std
        blurry = rng.choice(np.setdiff1d(np.arange(k), live)) if len(live) < k else live[-1]
        angle = rng.uniform(0, 2 * np.pi, size=(int(4 * min_share * n), 1))
        ring = rng.uniform(3.5, 5.0, size=angle.shape) * std * np.concatenate([np.cos(angle), np.sin(angle)], 1)
        outliers = rng.uniform(-3.0, 3.0, size=(int(rng.integers(5, 30)), 2))
        samples = np.concatenate([samples, centres[blurry] + ring, outliers])
        cases.append(Case(torch.as_tensor(samples, dtype=torch.float32),
                          torch.as_tensor(centres, dtype=torch.float32), std, min_share))
    return cases


modes_covered = Exercise(
    name="modes_covered",
    forbidden=(_toy2d.modes_covered, _toy2d.mode_counts, _toy2d.assign_modes),
    reference=_modes_covered,
    make_cases=_modes_cases,
    hint="Give each sample to its nearest centre, but only if it lies within 3 standard deviations of it (a "
    "Euclidean distance of at most 3 * std); then count the modes that received at least min_share of all the "
    "samples (outliers included in 'all').",
    deeper_hint="torch.cdist gives the (N, K) distances; min(dim=1) the nearest centre and its distance; "
    "torch.bincount(..., minlength=K) the samples per mode.",
    wrong_answers=[
        WrongAnswer("counting_samples", _modes_counting_samples,
                    hint="You counted samples (those near some centre), not modes. The answer is a number of "
                    "modes, between 0 and K: how many centres received at least min_share of the samples."),
        WrongAnswer("radius_in_variance_units", _modes_radius_in_variance,
                    hint="Your radius is 3 * std^2, a variance, not a distance: with std = 0.05 it is 0.0075 instead "
                    "of 0.15, so almost no sample counts. A radius of 3 standard deviations is 3 * std."),
        WrongAnswer("squared_distance_against_radius", _modes_squared_distance,
                    hint="You compared a squared distance with 3 * std. Compare like with like: the distance "
                    "with 3 * std, or the squared distance with (3 * std)^2."),
        WrongAnswer("any_sample_covers", _modes_any_sample,
                    hint="You counted every mode that received a sample at all. A mode is covered only when at "
                    "least min_share of the samples land there: a handful of stray samples is not a mode the "
                    "generator has learned."),
    ],
)


# ---- 6. gradient_penalty(critic, real, fake, eps=None) -> scalar -------------------------------------------


class _RecordingCritic(nn.Module):
    """A smooth MLP critic (B, D) -> (B, 1) that keeps a copy of the last input it was called on."""

    def __init__(self, dim: int, hidden: int, generator: torch.Generator) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1)).double()
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64))
        self.last_input: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.last_input = x.detach().clone()
        return self.net(x)


def _segment_properties(critic: _RecordingCritic, real: torch.Tensor, fake: torch.Tensor) -> dict[str, bool]:
    """Where the critic was evaluated: on the segments from fake to real, one weight per example, or not."""
    x_hat = critic.last_input
    if x_hat is None or x_hat.shape != real.shape:
        return {"on_segments": False, "weights_differ": False}
    direction = real - fake
    t = ((x_hat - fake) * direction).sum(-1) / (direction**2).sum(-1)  # (B,)
    off = (x_hat - fake - t[:, None] * direction).norm(dim=-1)
    on = bool((off < 1e-6).all() and (t >= -1e-9).all() and (t <= 1 + 1e-9).all())
    return {"on_segments": on, "weights_differ": bool(on and t.std() > 1e-3)}


def _gp_call(impl, case):
    """The penalty and its gradient with respect to the critic's weights on the case's eps; then, with eps left
    out, where the answer evaluated the critic."""
    critic, real, fake, eps = case.args
    value = impl(critic, real, fake, eps)
    grads = None
    if isinstance(value, torch.Tensor) and value.requires_grad and value.numel() == 1:
        params = list(critic.parameters())
        grads = torch.autograd.grad(value.sum(), params, allow_unused=True)  # the output bias is unused: None
        grads = tuple(torch.zeros_like(p) if g is None else g.detach() for p, g in zip(params, grads, strict=True))
    critic.last_input = None
    impl(critic, real, fake)
    return value, grads, _segment_properties(critic, real, fake)


def _gp_with(critic, real, fake, eps, *, norm_dim=1, power=1, reduce="mean", flip=False, create_graph=True,
             one_weight=False):
    if eps is None:
        eps = torch.rand(1, 1, dtype=real.dtype) if one_weight else torch.rand(len(real), 1, dtype=real.dtype)
    x_hat = (eps * fake + (1 - eps) * real) if flip else (eps * real + (1 - eps) * fake)
    x_hat = x_hat.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)
    norms = grad.norm(dim=norm_dim)
    penalty = (norms**power - 1) ** 2
    return penalty.mean() if reduce == "mean" else penalty.sum()


def _gradient_penalty(critic, real, fake, eps=None):
    return _gp_with(critic, real, fake, eps)


def _gp_norm_over_batch(critic, real, fake, eps=None):
    return _gp_with(critic, real, fake, eps, norm_dim=0)


def _gp_squared_norm(critic, real, fake, eps=None):
    return _gp_with(critic, real, fake, eps, power=2)


def _gp_one_weight(critic, real, fake, eps=None):
    return _gp_with(critic, real, fake, eps, one_weight=True)


def _gp_reversed(critic, real, fake, eps=None):
    return _gp_with(critic, real, fake, eps, flip=True)


def _gp_no_create_graph(critic, real, fake, eps=None):
    return _gp_with(critic, real, fake, eps, create_graph=False)


def _gp_summed(critic, real, fake, eps=None):
    return _gp_with(critic, real, fake, eps, reduce="sum")


def _gp_cases(rng):
    cases = []
    for i in range(3):
        batch, dim = _sizes(rng, 4, 10)
        critic = _RecordingCritic(dim, int(rng.integers(4, 9)), torch.Generator().manual_seed(500 + i))
        real = torch.as_tensor(rng.normal(1.0, 1.0, size=(batch, dim)))
        fake = torch.as_tensor(rng.normal(-1.0, 1.0, size=(batch, dim)))
        eps = torch.as_tensor(rng.uniform(0.05, 0.95, size=(batch, 1)))
        cases.append(Case(critic, real, fake, eps))
    return cases


def _compare_gp(got, expected, case):
    value, grads, where = got
    message = compare_values(value, expected[0], rtol=1e-5, atol=1e-8, what="your penalty")
    if message:
        return message
    if grads is None and expected[1] is not None:
        return ("your penalty carries no gradient back to the critic's weights, so the critic's optimiser "
                "would not feel it: the gradient with respect to x_hat must itself be differentiable "
                "(torch.autograd.grad(..., create_graph=True)), and nothing on the way may be detached.")
    if grads is not None and expected[1] is not None and compare_values(grads, expected[1], rtol=1e-5, atol=1e-8):
        return "your penalty's gradient with respect to the critic's weights is not right."
    if where != expected[2]:
        if not where["on_segments"]:
            return ("called without eps, your function evaluated the critic somewhere else than on the segments "
                    "between real and fake points (x_hat = eps * real + (1 - eps) * fake, 0 <= eps <= 1).")
        return ("called without eps, your function used one interpolation weight for the whole batch: draw one "
                "uniform weight per example, shape (B, 1).")
    return None


gradient_penalty = Exercise(
    name="gradient_penalty",
    forbidden=(_gan.gradient_penalty,),
    reference=_gradient_penalty,
    make_cases=_gp_cases,
    call=_gp_call,
    compare=_compare_gp,
    hint="Interpolate x_hat = eps * real + (1 - eps) * fake (eps of shape (B, 1); when eps is None draw one uniform "
    "weight per example), take the gradient of the critic's output with respect to x_hat, its Euclidean norm for "
    "each example, and average (norm - 1)^2 over the batch.",
    deeper_hint="torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True) gives the (B, D) gradients "
    "(summing is fine: example i's output depends only on x_hat[i]); x_hat must require grad; .norm(dim=1) takes "
    "one norm per row.",
    wrong_answers=[
        WrongAnswer("norm_over_batch", _gp_norm_over_batch,
                    hint="You took the norm over the batch axis (one norm per input feature). The constraint is on "
                    "each example's gradient: one norm per row of the (B, D) gradient, over the features."),
        WrongAnswer("squared_norm", _gp_squared_norm,
                    hint="You penalised (|g|^2 - 1)^2. WGAN-GP's penalty is (|g| - 1)^2 on the norm itself, which "
                    "pushes the critic towards gradients of norm 1 (a 1-Lipschitz function); take the square root "
                    "of the sum of squares."),
        WrongAnswer("one_weight_for_the_batch", _gp_one_weight,
                    hint="Called without eps, your function drew one interpolation weight for the whole batch, so "
                    "all the x_hat sit at the same fraction of their segments. Draw one uniform weight per example, "
                    "shape (B, 1), so the penalty covers the whole region between data and samples."),
        WrongAnswer("interpolation_reversed", _gp_reversed,
                    hint="Your interpolation weighs the fake point by eps. Here eps belongs to the real point: "
                    "x_hat = eps * real + (1 - eps) * fake."),
        WrongAnswer("no_create_graph", _gp_no_create_graph,
                    hint="Your penalty has the right value, but no gradient reaches the critic's weights: without "
                    "create_graph=True, torch.autograd.grad returns a constant, and the penalty never trains the "
                    "critic."),
        WrongAnswer("summed_over_batch", _gp_summed,
                    hint="You summed the per-example penalties: average them over the batch, so the penalty's "
                    "weight does not change with the batch size."),
    ],
)


# ---- 7. frechet_distance(mu1, cov1, mu2, cov2) -> float ---------------------------------------------------


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _frechet_distance(mu1, cov1, mu2, cov2):
    mu1, cov1, mu2, cov2 = (np.asarray(a, dtype=np.float64) for a in (mu1, cov1, mu2, cov2))
    root = _psd_sqrt(cov1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ cov2 @ root), 0.0, None)).sum()  # tr (C1 C2)^(1/2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2.0 * cross)


def _fd_parts(mu1, cov1, mu2, cov2):
    return (np.asarray(a, dtype=np.float64) for a in (mu1, cov1, mu2, cov2))


def _fd_no_square_root(mu1, cov1, mu2, cov2):
    mu1, cov1, mu2, cov2 = _fd_parts(mu1, cov1, mu2, cov2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1 + cov2 - 2.0 * cov1 @ cov2))


def _fd_complex(mu1, cov1, mu2, cov2):
    mu1, cov1, mu2, cov2 = _fd_parts(mu1, cov1, mu2, cov2)
    return ((mu1 - mu2) ** 2).sum() + np.trace(cov1 + cov2 - 2.0 * scipy.linalg.sqrtm(cov1 @ cov2))


def _fd_product_of_roots(mu1, cov1, mu2, cov2):
    mu1, cov1, mu2, cov2 = _fd_parts(mu1, cov1, mu2, cov2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1 + cov2 - 2.0 * _psd_sqrt(cov1) @ _psd_sqrt(cov2)))


def _fd_mean_not_squared(mu1, cov1, mu2, cov2):
    mu1, cov1, mu2, cov2 = _fd_parts(mu1, cov1, mu2, cov2)
    return _frechet_distance(mu1, cov1, mu2, cov2) - ((mu1 - mu2) ** 2).sum() + np.linalg.norm(mu1 - mu2)


def _fd_cases(rng):
    cases = []
    for _ in range(3):
        dim = int(rng.integers(6, 10))
        n = int(rng.integers(3, dim - 1))  # fewer samples than features: singular covariances, as with real features
        a = rng.normal(size=(n, dim)) * rng.uniform(0.5, 2.0, dim)
        b = rng.normal(size=(n, dim)) @ rng.normal(0, 0.6, size=(dim, dim)) + rng.normal(0, 1, dim)
        cases.append(Case(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)))
    return cases


def _is_complex(value) -> bool:
    if isinstance(value, complex):
        return True
    return isinstance(value, (np.ndarray, torch.Tensor)) and (np.iscomplexobj(value) if isinstance(value, np.ndarray)
                                                               else value.is_complex())


def _compare_fd(got, expected, case):
    if _is_complex(expected):  # a wrong answer that returns complex numbers: the same mistake if got is complex too
        return None if _is_complex(got) else "your result is real where this mistake is complex."
    if _is_complex(got):
        return ("your result is a complex number. The square root of C1 C2 (a product of two covariances, not "
                "symmetric) comes back from scipy.linalg.sqrtm with tiny imaginary parts from rounding; the "
                "distance is real.")
    return compare_values(got, expected, rtol=1e-5, atol=1e-6, what="your distance")


frechet_distance = Exercise(
    name="frechet_distance",
    forbidden=(_frechet.frechet_distance, _frechet.frechet_distance_features),
    reference=_frechet_distance,
    make_cases=_fd_cases,
    compare=_compare_fd,
    hint="The Fréchet (2-Wasserstein) distance between N(mu1, C1) and N(mu2, C2), squared: |mu1 - mu2|^2 + "
    "tr(C1) + tr(C2) - 2 tr((C1 C2)^(1/2)), with the matrix square root (not the entries' square roots).",
    deeper_hint="scipy.linalg.sqrtm computes the matrix square root; keep its real part (rounding adds tiny "
    "imaginary parts). Or: tr((C1 C2)^(1/2)) is the sum of the square roots of the eigenvalues of C1 C2, which "
    "are real and >= 0 in exact arithmetic (clip the rounding below 0). Return a Python float.",
    wrong_answers=[
        WrongAnswer("trace_without_square_root", _fd_no_square_root,
                    hint="Your cross term is tr(C1 C2), without the square root: it has the units of a variance "
                    "squared. For two 1-D Gaussians the distance is (mu1 - mu2)^2 + (sigma1 - sigma2)^2, which needs "
                    "tr((C1 C2)^(1/2)) = sigma1 sigma2."),
        WrongAnswer("complex_left_unhandled", _fd_complex,
                    hint="Your result is complex: scipy.linalg.sqrtm of the non-symmetric C1 C2 returns complex "
                    "entries when C1 C2 is singular or nearly so (as with covariances of few samples), with "
                    "imaginary parts that are rounding noise. Take the real part of the trace (or use eigenvalues)."),
        WrongAnswer("product_of_square_roots", _fd_product_of_roots,
                    hint="You used C1^(1/2) C2^(1/2) for (C1 C2)^(1/2); the two agree only when C1 and C2 commute. "
                    "Take the square root of the product."),
        WrongAnswer("mean_term_not_squared", _fd_mean_not_squared,
                    hint="The mean term is the squared Euclidean distance |mu1 - mu2|^2, not the distance itself."),
    ],
)


# ---- 8. generator_logit_gradients(fake_logits) -> (saturating, non_saturating), each (N,) -------------------
# derivatives of the per-sample losses log(1 - sigmoid(a)) and -log sigmoid(a) with respect to the logit a


def _generator_logit_gradients(fake_logits):
    a = torch.as_tensor(fake_logits, dtype=torch.float64)
    return -torch.sigmoid(a), -torch.sigmoid(-a)


def _glg_wrt_probability(fake_logits):
    d = torch.sigmoid(torch.as_tensor(fake_logits, dtype=torch.float64))
    return -1.0 / (1.0 - d), -1.0 / d


def _glg_sign(fake_logits):
    sat, ns = _generator_logit_gradients(fake_logits)
    return -sat, -ns


def _glg_swapped(fake_logits):
    sat, ns = _generator_logit_gradients(fake_logits)
    return ns, sat


def _glg_cases(rng):
    cases = []
    for _ in range(3):
        logits = rng.normal(0.0, 4.0, size=int(rng.integers(8, 20)))
        logits[:2] = [-rng.uniform(20.0, 40.0), rng.uniform(20.0, 40.0)]  # D(G(z)) near 0 and near 1
        cases.append(Case(torch.as_tensor(logits, dtype=torch.float64)))
    return cases


def _compare_glg(got, expected, case):
    return compare_values(got, expected, rtol=1e-6, atol=1e-12, what="(saturating, non_saturating)")


generator_logit_gradients = Exercise(
    name="generator_logit_gradients",
    forbidden=(_gan.generator_loss,),  # the lecture's section 4 differentiates it with autograd: derive it instead
    reference=_generator_logit_gradients,
    make_cases=_glg_cases,
    compare=_compare_glg,
    hint="With D = sigmoid(a), differentiate each per-sample loss with respect to the logit a (the chain rule "
    "through sigmoid, whose derivative is D (1 - D)), then express the result with D or with sigmoid(a).",
    deeper_hint="d/da log(1 - sigmoid(a)) and d/da (-log sigmoid(a)) both simplify to a single sigmoid (up to "
    "sign), with no division left: compute them with torch.sigmoid so that large |a| stays exact.",
    wrong_answers=[
        WrongAnswer("with_respect_to_probability", _glg_wrt_probability,
                    hint="You differentiated with respect to D, the probability. The generator's gradient flows "
                    "through the logit a (D = sigmoid(a)): multiply by dD/da = D (1 - D), and the divisions cancel."),
        WrongAnswer("sign", _glg_sign,
                    hint="Check the signs: both losses decrease as the logit a grows (the generator wants D(G(z)) "
                    "larger), so both derivatives are negative."),
        WrongAnswer("swapped", _glg_swapped,
                    hint="Your two gradients are swapped. The saturating loss log(1 - D) has a gradient that "
                    "vanishes as D(G(z)) -> 0 (the samples are rejected); the non-saturating loss keeps a gradient "
                    "near -1 there."),
    ],
)


# ---- 9. wasserstein_1d(x, y) -> float ----------------------------------------------------------------------


def _cdf_gaps(x, y):
    """The merged sorted points, and |F_x - F_y| on each interval between consecutive points."""
    x, y = (np.sort(np.asarray(v, dtype=np.float64).ravel()) for v in (x, y))
    points = np.sort(np.concatenate([x, y]))
    fx = np.searchsorted(x, points[:-1], side="right") / len(x)
    fy = np.searchsorted(y, points[:-1], side="right") / len(y)
    return points, np.abs(fx - fy)


def _wasserstein_1d(x, y):
    points, gaps = _cdf_gaps(x, y)
    return float((gaps * np.diff(points)).sum())


def _w1_mean_difference(x, y):
    return float(abs(np.mean(np.asarray(x, dtype=np.float64)) - np.mean(np.asarray(y, dtype=np.float64))))


def _w1_sorted_truncated(x, y):
    n = min(len(x), len(y))
    x, y = (np.sort(np.asarray(v, dtype=np.float64))[:n] for v in (x, y))
    return float(np.abs(x - y).mean())


def _w1_unsorted(x, y):
    n = min(len(x), len(y))
    x, y = (np.asarray(v, dtype=np.float64)[:n] for v in (x, y))
    return float(np.abs(x - y).mean())


def _w1_no_widths(x, y):
    _, gaps = _cdf_gaps(x, y)
    return float(gaps.sum())


def _w1_cases(rng):
    cases = []
    for n, m in [(12, 12), _sizes(rng, 5, 30), _sizes(rng, 5, 30)]:
        x = rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 2.0), size=n)
        y = rng.standard_t(3, size=m) + rng.uniform(-1, 1)
        cases.append(Case(torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)))
    return cases


wasserstein_1d = Exercise(
    name="wasserstein_1d",
    forbidden=(scipy.stats.wasserstein_distance,),
    reference=_wasserstein_1d,
    make_cases=_w1_cases,
    rtol=1e-6, atol=1e-9,
    hint="In one dimension W1(P, Q) = integral over t of |F_P(t) - F_Q(t)| dt, the area between the two "
    "cumulative distribution functions. For empirical distributions both are step functions that jump by 1/N "
    "(resp. 1/M) at each sample; the sizes N and M may differ.",
    deeper_hint="Between consecutive points of the merged, sorted samples both CDFs are constant: add up "
    "|F_x - F_y| times the interval's width. np.searchsorted(sorted_x, t, side='right') / N is F_x(t).",
    wrong_answers=[
        WrongAnswer("mean_difference", _w1_mean_difference,
                    hint="|mean(x) - mean(y)| is only a lower bound on W1 (equal when one distribution is a shift "
                    "of the other): W1 compares the whole distributions, the area between the two CDFs."),
        WrongAnswer("sorted_and_truncated", _w1_sorted_truncated,
                    hint="Pairing the sorted samples works only when N = M. With different sizes, cutting the "
                    "longer one drops its largest samples; compare the CDFs (or the quantile functions) instead."),
        WrongAnswer("unsorted_pairs", _w1_unsorted,
                    hint="You paired the samples in the order they came. The optimal transport plan in 1-D "
                    "matches them in sorted order (the i-th smallest to the i-th smallest), and with different "
                    "sizes it splits samples' mass."),
        WrongAnswer("no_interval_widths", _w1_no_widths,
                    hint="You added up |F_x - F_y| at the points without the widths of the intervals: the "
                    "integral of a step function is a sum of heights times widths."),
    ],
)
