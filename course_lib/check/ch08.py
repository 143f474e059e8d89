"""Checks for chapter 08, applications and responsible use.

In the order of the exercises: the AUROC of an anomaly score, the likelihood-ratio score, the two-sided
typicality test, mixing real and synthetic training data, the piano roll, the power-law fit, and two that the
lecture does not show: a digit shifted without wrap-around, and a melody's duration-weighted pitch-class
histogram.

Conventions (as in ``course_lib.metrics.anomaly``): an anomaly score is higher for more anomalous inputs.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import optimize

from course_lib.applications import augmentation, scaling
from course_lib.applications import music as music_models
from course_lib.check import Case, Exercise, WrongAnswer, compare_values
from course_lib.data import music
from course_lib.metrics import anomaly, memorisation, roc


def _f64(x) -> np.ndarray:
    return (x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor)
            else np.asarray(x, dtype=np.float64))


# ---- 1. roc_auc(scores_normal, scores_anomalous) -> float ----------------------------------------------------


def _auc(scores_normal, scores_anomalous, tie=0.5, reverse=False):
    neg, pos = _f64(scores_normal), _f64(scores_anomalous)
    if reverse:
        neg, pos = pos, neg
    diff = pos[:, None] - neg[None, :]  # (N_pos, N_neg): every pair
    return float(((diff > 0) + tie * (diff == 0)).mean())


def _auc_reference(scores_normal, scores_anomalous):
    return _auc(scores_normal, scores_anomalous)


def _auc_reversed(scores_normal, scores_anomalous):
    return _auc(scores_normal, scores_anomalous, reverse=True)


def _auc_ties_as_wins(scores_normal, scores_anomalous):
    return _auc(scores_normal, scores_anomalous, tie=1.0)


def _auc_ties_as_losses(scores_normal, scores_anomalous):
    return _auc(scores_normal, scores_anomalous, tie=0.0)


def _auc_cases(rng):
    cases = []
    for rounded in (True, True, False):
        n_neg, n_pos = int(rng.integers(15, 40)), int(rng.integers(8, 25))
        neg = rng.normal(0.0, 1.0, n_neg) * 3
        pos = rng.normal(rng.uniform(0.8, 2.0), 1.0, n_pos) * 3
        if rounded:  # NLLs rounded to whole nats: many ties between normal and anomalous inputs
            neg, pos = np.round(neg), np.round(pos)
        cases.append(Case(torch.as_tensor(neg, dtype=torch.float32), torch.as_tensor(pos, dtype=torch.float32)))
    return cases


roc_auc = Exercise(
    name="roc_auc",
    forbidden=(roc.roc_auc, roc.roc_curve, memorisation.membership_auc),
    reference=_auc_reference,
    make_cases=_auc_cases,
    rtol=1e-6,
    hint="The AUROC is the probability that a randomly chosen anomaly gets a higher score than a randomly chosen "
    "normal input. Estimate it over every (normal, anomalous) pair. Decide what a pair with equal scores is "
    "worth: a detector that gives both the same score cannot tell them apart.",
    deeper_hint="Broadcasting scores_anomalous[:, None] against scores_normal[None, :] gives every pair at once. "
    "The answer is one float between 0 and 1.",
    wrong_answers=[
        WrongAnswer("direction_reversed", _auc_reversed,
                    hint="You counted the pairs in which the normal input scores higher. Anomaly scores are "
                    "higher for anomalies, so count the pairs in which the anomaly wins: your answer is "
                    "1 - AUROC."),
        WrongAnswer("ties_as_wins", _auc_ties_as_wins,
                    hint="A tie counted as a full win for the anomaly, so a detector that gives every input the "
                    "same score would get AUROC 1. A tie is a coin flip and is worth one half."),
        WrongAnswer("ties_as_losses", _auc_ties_as_losses,
                    hint="Ties counted for nothing, so a constant detector would get AUROC 0 rather than the "
                    "0.5 of chance. A tie is a coin flip and is worth one half."),
    ],
)


# ---- 2. likelihood_ratio_score(log_p_model, log_p_background) -> (N,) --------------------------------------


def _lr_reference(log_p_model, log_p_background):
    return torch.as_tensor(log_p_background, dtype=torch.float64) - torch.as_tensor(log_p_model, dtype=torch.float64)


def _lr_reversed(log_p_model, log_p_background):
    return -_lr_reference(log_p_model, log_p_background)


def _lr_model_only(log_p_model, log_p_background):
    return -torch.as_tensor(log_p_model, dtype=torch.float64)


def _lr_cases(rng):
    cases = []
    for _ in range(3):
        n = int(rng.integers(5, 20))
        background = rng.uniform(-140, -60, n)
        model = background + rng.normal(rng.uniform(-5, 10), 6.0, n)
        cases.append(Case(torch.as_tensor(model, dtype=torch.float32),
                          torch.as_tensor(background, dtype=torch.float32)))
    return cases


def _compare_scores(got, expected, case):
    return compare_values(got, expected, rtol=1e-5, atol=1e-4)


likelihood_ratio_score = Exercise(
    name="likelihood_ratio_score",
    forbidden=(anomaly.likelihood_ratio_score,),
    reference=_lr_reference,
    make_cases=_lr_cases,
    compare=_compare_scores,
    hint="The score is the log of a ratio of the two likelihoods, and it must be higher for anomalies. An input "
    "is suspect when the background model, which knows only low-level statistics, explains it about as well as "
    "the full model does.",
    deeper_hint="The log of a ratio is a difference of logs: never exponentiate log-likelihoods near -100. One "
    "value per input, shape (N,).",
    wrong_answers=[
        WrongAnswer("ratio_reversed", _lr_reversed,
                    hint="You computed log p_model - log p_background, Ren et al.'s in-distribution score: it is "
                    "high for inputs the model explains better than the background, which are the normal ones. "
                    "An anomaly score must be high for anomalies, so invert the ratio."),
        WrongAnswer("model_only", _lr_model_only,
                    hint="You returned -log p_model, the plain NLL. The ratio divides by the background model "
                    "to cancel what both models find likely (smooth, simple images)."),
    ],
)


# ---- 3. typicality_test(nll_batch, train_nll_mean, epsilon) -> (K,) bool -----------------------------------


def _typ(nll_batch, train_nll_mean, epsilon, mode="two_sided"):
    nll = torch.as_tensor(nll_batch, dtype=torch.float64)
    h = float(train_nll_mean)
    if mode == "two_sided":
        return (nll.mean(-1) - h).abs() > epsilon
    if mode == "one_sided":
        return nll.mean(-1) - h > epsilon
    if mode == "per_input":
        return (nll - h).abs().mean(-1) > epsilon
    return ((nll - h).abs() > epsilon).any(-1)  # "any_input"


def _typ_reference(nll_batch, train_nll_mean, epsilon):
    return _typ(nll_batch, train_nll_mean, epsilon)


def _typ_one_sided(nll_batch, train_nll_mean, epsilon):
    return _typ(nll_batch, train_nll_mean, epsilon, "one_sided")


def _typ_per_input(nll_batch, train_nll_mean, epsilon):
    return _typ(nll_batch, train_nll_mean, epsilon, "per_input")


def _typ_any_input(nll_batch, train_nll_mean, epsilon):
    return _typ(nll_batch, train_nll_mean, epsilon, "any_input")


def _typ_cases(rng):
    cases = []
    for relative_spread in (3.0, 0.4, 2.0):  # single inputs scatter far beyond epsilon, or a little
        k, m = int(rng.integers(9, 15)), int(rng.integers(15, 30))
        h, epsilon = rng.uniform(60, 120), rng.uniform(1.0, 4.0)
        spread = relative_spread * epsilon
        # batch means: some typical (within epsilon), some too likely, some too unlikely; never near the edge
        offsets = np.concatenate([rng.uniform(-0.6, 0.6, k - 6), rng.uniform(-4, -1.5, 3), rng.uniform(1.5, 4, 3)])
        noise = rng.normal(0, spread, (k, m))
        nll = h + epsilon * rng.permutation(offsets)[:, None] + (noise - noise.mean(1, keepdims=True))
        cases.append(Case(torch.as_tensor(nll, dtype=torch.float32), float(h), float(epsilon)))
    return cases


def _compare_flags(got, expected, case):
    if isinstance(got, np.ndarray) and got.dtype == bool:
        got = torch.from_numpy(got)
    return compare_values(got, expected, what="your flags")


typicality_test = Exercise(
    name="typicality_test",
    forbidden=(anomaly.typicality_test, anomaly.typicality_score, anomaly.typicality_epsilon),
    reference=_typ_reference,
    make_cases=_typ_cases,
    compare=_compare_flags,
    hint="A batch drawn from the training distribution has a mean NLL close to the training mean (the entropy). "
    "Flag a batch when its mean NLL is too far from it. Is 'too far' only one way?",
    deeper_hint="nll_batch is (K, M): K batches of M inputs. Reduce over the last axis, compare with "
    "train_nll_mean and return K booleans (a torch bool tensor).",
    wrong_answers=[
        WrongAnswer("one_sided", _typ_one_sided,
                    hint="Your test flags only batches that are too unlikely. A batch whose mean NLL is far "
                    "below the training mean (constant images, say) is just as atypical: use the distance on "
                    "either side."),
        WrongAnswer("per_input_distance", _typ_per_input,
                    hint="You averaged each input's distance from the training mean. Single inputs scatter "
                    "widely even in distribution, so this flags typical batches. The test is about the batch's "
                    "mean NLL: average first, then take the distance."),
        WrongAnswer("any_input", _typ_any_input,
                    hint="You flagged a batch as soon as one input is far from the training mean. Single "
                    "inputs are often far from it; the test compares the batch's mean NLL."),
    ],
)


# ---- 4. mix_synthetic(real_x, real_y, synth_x, synth_y, ratio) -> (x, y) -------------------------------------


def _mix(real_x, real_y, synth_x, synth_y, ratio, k_of=None, pair_labels=True):
    k = int(round(ratio * len(real_x))) if k_of is None else k_of(ratio, len(real_x), len(synth_x))
    x = torch.cat([torch.as_tensor(real_x), torch.as_tensor(synth_x)[:k]])
    labels = [torch.as_tensor(real_y), torch.as_tensor(synth_y)[:k]]
    return x, torch.cat(labels if pair_labels else labels[::-1])


def _mix_reference(real_x, real_y, synth_x, synth_y, ratio):
    return _mix(real_x, real_y, synth_x, synth_y, ratio)


def _mix_labels_not_paired(real_x, real_y, synth_x, synth_y, ratio):
    return _mix(real_x, real_y, synth_x, synth_y, ratio, pair_labels=False)


def _mix_share_of_pool(real_x, real_y, synth_x, synth_y, ratio):
    return _mix(real_x, real_y, synth_x, synth_y, ratio, k_of=lambda r, n, m: int(round(r * m)))


def _mix_share_of_mix(real_x, real_y, synth_x, synth_y, ratio):
    return _mix(real_x, real_y, synth_x, synth_y, ratio, k_of=lambda r, n, m: int(round(r / (1 + r) * n)))


def _mix_cases(rng):
    cases = []
    for ratio in (0.5, 1.0, 0.25):
        n, pool = int(rng.integers(12, 20)), int(rng.integers(30, 45))
        real_x = torch.as_tensor(rng.integers(0, 17, (n, 64)), dtype=torch.float32)
        synth_x = torch.as_tensor(rng.uniform(0, 16, (pool, 64)), dtype=torch.float32)
        real_y = torch.as_tensor(rng.permutation(np.arange(n) % 10))
        synth_y = torch.as_tensor(rng.integers(0, 10, pool))
        cases.append(Case(real_x, real_y, synth_x, synth_y, ratio))
    return cases


def _pairs(x, y) -> np.ndarray:
    """(image, label) rows sorted, so that any order of the examples compares equal."""
    rows = np.concatenate([_f64(x).reshape(len(x), -1), _f64(y).reshape(-1, 1)], 1)
    return rows[np.lexsort(rows.T[::-1])]


def _sorted_rows(x) -> np.ndarray:
    rows = _f64(x).reshape(len(x), -1)
    return rows[np.lexsort(rows.T[::-1])]


def _mispaired(x, y, case) -> bool:
    """The right images and the right labels, each as a set, but not every image with its own label."""
    x_ref, y_ref = _mix_reference(*case.args)
    if len(x) != len(x_ref) or _f64(x).size != _f64(x_ref).size:
        return False
    return (np.array_equal(_sorted_rows(x), _sorted_rows(x_ref)) and np.array_equal(np.sort(_f64(y).ravel()),
            np.sort(_f64(y_ref).ravel())) and not np.array_equal(_pairs(x, y), _pairs(x_ref, y_ref)))


def _compare_mix(got, expected, case):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "return a pair (x, y): the mixed images and their labels."
    x, y = got
    if not all(isinstance(t, (torch.Tensor, np.ndarray)) for t in (x, y)):
        return "x and y should be tensors."
    if len(x) != len(y):
        return f"you return {len(x)} images but {len(y)} labels: every image needs its label."
    if len(x) != len(expected[0]):
        return f"you return {len(x)} examples; that is not the number of real plus synthetic examples asked for."
    if _mispaired(*expected, case):  # the mistake itself (labels_not_paired): any mis-pairing is that mistake
        return None if _mispaired(x, y, case) else "your images and labels are not mis-paired in this way."
    return compare_values(_pairs(x, y), _pairs(*expected), rtol=0, atol=1e-6,
                          what="the set of (image, label) pairs you return")


mix_synthetic = Exercise(
    name="mix_synthetic",
    forbidden=(augmentation.mix_synthetic,),
    reference=_mix_reference,
    make_cases=_mix_cases,
    compare=_compare_mix,
    hint="Keep every real example and add k = round(ratio * number of real examples) synthetic ones, the first k "
    "of the synthetic set. Every image must travel with its own label. The order of the examples does not "
    "matter.",
    deeper_hint="torch.cat the real and the chosen synthetic images, then do the same with the labels, taking "
    "them in the same order.",
    wrong_answers=[
        WrongAnswer("labels_not_paired", _mix_labels_not_paired,
                    hint="Your images and labels are concatenated in different orders, so many images now carry "
                    "another image's label. A classifier trained on that learns noise: join the labels in the "
                    "same order as the images."),
        WrongAnswer("ratio_of_the_pool", _mix_share_of_pool,
                    hint="You took a share of the synthetic pool. ratio counts synthetic examples per real one: "
                    "k = round(ratio * number of real examples), whatever the size of the pool."),
        WrongAnswer("ratio_as_share_of_the_mix", _mix_share_of_mix,
                    hint="You read ratio as the synthetic share of the mixed set. Here it is the number of "
                    "synthetic examples per real one: k = round(ratio * number of real examples)."),
    ],
)


# ---- 5. piano_roll(notes, steps_per_quarter) -> (128, T) bool --------------------------------------------------


def _roll(notes, steps_per_quarter, end_extra=0, duration_as_end=False, transposed=False):
    notes = _f64(notes).reshape(-1, 3)
    starts = np.rint(notes[:, 1] * steps_per_quarter).astype(int)
    lengths = np.rint(notes[:, 2] * steps_per_quarter).astype(int)
    ends = starts + lengths
    roll = np.zeros((128, int(ends.max())), dtype=bool)
    for p, s, e, n in zip(notes[:, 0].astype(int), starts, ends, lengths, strict=True):
        roll[p, s : (n if duration_as_end else e + end_extra)] = True
    return roll.T.copy() if transposed else roll


def _roll_reference(notes, steps_per_quarter):
    return _roll(notes, steps_per_quarter)


def _roll_end_inclusive(notes, steps_per_quarter):
    return _roll(notes, steps_per_quarter, end_extra=1)


def _roll_duration_as_end(notes, steps_per_quarter):
    return _roll(notes, steps_per_quarter, duration_as_end=True)


def _roll_transposed(notes, steps_per_quarter):
    return _roll(notes, steps_per_quarter, transposed=True)


def _roll_cases(rng):
    cases = []
    for steps_per_quarter in (4, 2, 4):
        rows, now = [], 0.0
        for _ in range(int(rng.integers(6, 12))):  # a melody with a repeated pitch and a rest or two
            duration = rng.choice([0.5, 1.0, 1.5, 2.0])
            pitch = rows[-1][0] if rows and rng.random() < 0.3 else int(rng.integers(55, 80))
            rows.append((pitch, now, duration))
            now += duration + (0.5 if rng.random() < 0.2 else 0.0)
        bass = [(int(rng.integers(36, 50)), t, 2.0) for t in np.arange(0.0, now - 2.0, 2.0)]
        cases.append(Case(np.array(rows + bass, dtype=np.float64), steps_per_quarter))
    return cases


def _compare_roll(got, expected, case):
    if isinstance(got, torch.Tensor):
        got = got.detach().cpu().numpy()
    if not isinstance(got, np.ndarray):
        return "return a numpy array of booleans (128, T)."
    if got.shape != expected.shape:
        return f"your roll has shape {got.shape}, but the shape asked for is (128 pitches, T steps)."
    if got.dtype != bool and not np.isin(got, (0, 1)).all():
        return "the roll should hold booleans (or 0 and 1): is a pitch sounding at a step or not?"
    return None if np.array_equal(got.astype(bool), expected) else "some entries of your roll are wrong."


piano_roll = Exercise(
    name="piano_roll",
    forbidden=(music.piano_roll,),
    reference=_roll_reference,
    make_cases=_roll_cases,
    compare=_compare_roll,
    hint="A note (pitch, onset, duration) covers the steps from onset * steps_per_quarter up to its end, "
    "(onset + duration) * steps_per_quarter. Decide whether the step at the end belongs to it: the next note "
    "starts there.",
    deeper_hint="roll[pitch, start:end] = True with integer start and end (np.rint); T is the latest end. "
    "A slice's end is already exclusive.",
    wrong_answers=[
        WrongAnswer("end_inclusive", _roll_end_inclusive,
                    hint="Your notes last one step too long: a quarter note at onset 0 with 4 steps per quarter "
                    "covers steps 0..3, and step 4 belongs to the next note. Two repeated notes would merge."),
        WrongAnswer("duration_as_end", _roll_duration_as_end,
                    hint="You used the duration as the end step. A note ends at onset + duration, so every note "
                    "after the first ends in the wrong place."),
        WrongAnswer("axes_swapped", _roll_transposed,
                    hint="Your roll is (T, 128). The shape asked for is (128, T), pitch first as in a picture "
                    "of a piano roll: transpose it."),
    ],
)


# ---- 6. fit_power_law(params, losses) -> (coefficient, exponent) -----------------------------------------------


def _power_reference(params, losses):
    slope, intercept = np.polyfit(np.log(_f64(params)), np.log(_f64(losses)), 1)
    return float(np.exp(intercept)), float(-slope)


def _power_linear_axes(params, losses):
    n, loss = _f64(params), _f64(losses)
    start = _power_reference(n, loss)
    (a, b), _ = optimize.curve_fit(lambda x, a, b: a * x ** (-b), n, loss, p0=start, maxfev=20000)
    return float(a), float(b)


def _power_slope_sign(params, losses):
    a, b = _power_reference(params, losses)
    return a, -b


def _power_mixed_logs(params, losses):
    slope, intercept = np.polyfit(np.log10(_f64(params)), np.log10(_f64(losses)), 1)
    return float(np.exp(intercept)), float(-slope)


def _power_cases(rng):
    cases = []
    for _ in range(3):
        sizes = np.sort(rng.choice(np.logspace(3, 6, 13), size=int(rng.integers(5, 8)), replace=False))
        a, b = rng.uniform(3, 30), rng.uniform(0.05, 0.4)
        losses = a * sizes ** (-b) * np.exp(rng.normal(0, 0.08, len(sizes)))
        cases.append(Case(sizes, losses))
    return cases


fit_power_law = Exercise(
    name="fit_power_law",
    forbidden=(scaling.fit_power_law,),
    reference=_power_reference,
    make_cases=_power_cases,
    rtol=1e-4,
    atol=1e-8,
    hint="L = a N^(-b) becomes a straight line after taking logs of both sides. Fit that line by least squares "
    "and read a and b off its intercept and slope. Return (a, b), with b > 0 when the loss falls with N.",
    deeper_hint="np.polyfit(x, y, 1) returns (slope, intercept). Use the same logarithm throughout.",
    wrong_answers=[
        WrongAnswer("linear_axes", _power_linear_axes,
                    hint="You fitted the curve to the losses on linear axes. There the largest losses dominate "
                    "the squared error, and the noise in a scaling study is multiplicative. The course fits "
                    "a straight line on log-log axes, where each size weighs the same."),
        WrongAnswer("slope_sign", _power_slope_sign,
                    hint="Your exponent has the wrong sign: with L = a N^(-b) the line's slope is -b, so a loss "
                    "that falls with N has b > 0."),
        WrongAnswer("mixed_logs", _power_mixed_logs,
                    hint="You fitted with one logarithm (base 10) and undid it with another (exp): the exponent "
                    "survives, the coefficient does not. Undo the log you took: 10 ** intercept, or use "
                    "natural logs throughout."),
    ],
)


# ---- 7. shift_image(images, dx, dy) -> (N, 8, 8) (not in the lecture) ---------------------------------------


def _shift_reference(images, dx, dy):
    x = torch.as_tensor(images, dtype=torch.float64)
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = \
        x[:, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
    return out


def _shift_wraps(images, dx, dy):
    return torch.roll(torch.as_tensor(images, dtype=torch.float64), shifts=(dy, dx), dims=(-2, -1))


def _shift_axes_swapped(images, dx, dy):
    return _shift_reference(images, dy, dx)


def _shift_cases(rng):
    cases = []
    for dx, dy in [(1, -1), (-2, 0), (0, 2)]:
        images = rng.integers(0, 17, (int(rng.integers(3, 7)), 8, 8))
        images[:, :, 0] = rng.integers(5, 17, images.shape[:2])  # ink at every border
        images[:, 0, :] = rng.integers(5, 17, images.shape[::2])
        images[:, :, -1] = images[:, -1, :] = 9
        cases.append(Case(torch.as_tensor(images, dtype=torch.float32), dx, dy))
    return cases


shift_image = Exercise(
    name="shift_image",
    forbidden=(augmentation.shift, augmentation.augment),
    reference=_shift_reference,
    make_cases=_shift_cases,
    compare=_compare_scores,
    hint="Shifting moves every pixel by dx columns (positive: right) and dy rows (positive: down). What moves "
    "out of the 8x8 frame is lost, and what comes in is blank (0).",
    deeper_hint="Start from torch.zeros_like(images) and copy one rectangle of the input into another rectangle "
    "of the output; the two have the same size.",
    wrong_answers=[
        WrongAnswer("wraps_around", _shift_wraps,
                    hint="Your shift wraps around: ink that leaves on the right comes back on the left (that is "
                    "what torch.roll does). A shifted digit has blank pixels where it moved away from the edge."),
        WrongAnswer("axes_swapped", _shift_axes_swapped,
                    hint="dx and dy are swapped: dx moves along a row (the last axis, columns) and dy along a "
                    "column (rows)."),
    ],
)


# ---- 8. pitch_class_histogram(notes) -> (12,) (not in the lecture) ------------------------------------------


def _pc(notes, weighted=True, normalised=True, octave=False):
    notes = _f64(notes).reshape(-1, 3)
    classes = (notes[:, 0] // 12 if octave else notes[:, 0] % 12).astype(int) % 12
    hist = np.bincount(classes, weights=notes[:, 2] if weighted else None, minlength=12).astype(np.float64)
    return hist / hist.sum() if normalised else hist


def _pc_reference(notes):
    return _pc(notes)


def _pc_counts(notes):
    return _pc(notes, weighted=False)


def _pc_unnormalised(notes):
    return _pc(notes, normalised=False)


def _pc_octave(notes):
    return _pc(notes, octave=True)


def _pc_cases(rng):
    cases = []
    for _ in range(3):
        n = int(rng.integers(10, 30))
        durations = rng.choice([0.5, 1.0, 2.0, 3.0], size=n)
        notes = np.stack([rng.integers(48, 84, n), np.concatenate([[0.0], np.cumsum(durations)[:-1]]),
                          durations], 1)
        cases.append(Case(notes.astype(np.float64)))
    return cases


pitch_class_histogram = Exercise(
    name="pitch_class_histogram",
    forbidden=(music_models.pitch_class_histogram,),
    reference=_pc_reference,
    make_cases=_pc_cases,
    compare=_compare_scores,
    hint="A pitch class puts together every C (MIDI 60, 72, ...), every C#, and so on: 12 classes. Give each "
    "class the share of the melody's time it sounds, so that the 12 numbers add up to 1.",
    deeper_hint="np.bincount(classes, weights=..., minlength=12), then divide by the total.",
    wrong_answers=[
        WrongAnswer("counts_not_time", _pc_counts,
                    hint="You counted notes. The histogram asked for weighs each note by its duration: a half "
                    "note counts twice as much as a quarter note."),
        WrongAnswer("not_normalised", _pc_unnormalised,
                    hint="Your numbers are quarter notes of time per class. Divide by the total so that they "
                    "are shares that add up to 1 and compare across melodies of any length."),
        WrongAnswer("octave_not_class", _pc_octave,
                    hint="You grouped the notes by octave (pitch // 12). The pitch class is the position inside "
                    "the octave, pitch % 12 (0 = C, 9 = A)."),
    ],
)
