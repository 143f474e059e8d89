"""Chapter 08 checks: stubs are not attempted, every listed wrong answer is recognised with its own hint, the
reference and other correct answers pass, a failed check never shows the expected values, and the references
agree with the library (and scikit-learn's AUROC)."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from course_lib.applications import augmentation, scaling
from course_lib.applications import music as music_models
from course_lib.check import ch08
from course_lib.check.testing import assert_exercise_behaves, exercises_of
from course_lib.data import music
from course_lib.metrics import anomaly, roc

# ---- correct answers a student may well write (the solution notebook comes with the lecture) ----


def roc_auc(scores_normal, scores_anomalous):
    diff = scores_anomalous[:, None] - scores_normal[None, :]
    return ((diff > 0).double() + 0.5 * (diff == 0).double()).mean().item()


def roc_auc_by_ranks(scores_normal, scores_anomalous):
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([scores_normal.numpy(), scores_anomalous.numpy()]))
    n, m = len(scores_normal), len(scores_anomalous)
    return float((ranks[n:].sum() - m * (m + 1) / 2) / (n * m))


def likelihood_ratio_score(log_p_model, log_p_background):
    return log_p_background - log_p_model


def typicality_test(nll_batch, train_nll_mean, epsilon):
    return (nll_batch.mean(dim=-1) - train_nll_mean).abs() > epsilon


def typicality_test_numpy(nll_batch, train_nll_mean, epsilon):
    return np.abs(nll_batch.numpy().mean(axis=1) - train_nll_mean) > epsilon


def mix_synthetic(real_x, real_y, synth_x, synth_y, ratio):
    k = round(ratio * len(real_x))
    return torch.cat([real_x, synth_x[:k]]), torch.cat([real_y, synth_y[:k]])


def mix_synthetic_shuffled(real_x, real_y, synth_x, synth_y, ratio):
    x, y = mix_synthetic(real_x, real_y, synth_x, synth_y, ratio)
    order = torch.randperm(len(x))
    return x[order], y[order]


def piano_roll(notes, steps_per_quarter):
    starts = np.rint(notes[:, 1] * steps_per_quarter).astype(int)
    ends = np.rint((notes[:, 1] + notes[:, 2]) * steps_per_quarter).astype(int)
    roll = np.zeros((128, ends.max()), dtype=bool)
    for pitch, start, end in zip(notes[:, 0].astype(int), starts, ends, strict=True):
        roll[pitch, start:end] = True
    return roll


def fit_power_law(params, losses):
    slope, intercept = np.polyfit(np.log(params), np.log(losses), 1)
    return np.exp(intercept), -slope


def fit_power_law_log10(params, losses):
    slope, intercept = np.polyfit(np.log10(params), np.log10(losses), 1)
    return 10**intercept, -slope


def shift_image(images, dx, dy):
    out = torch.zeros_like(images)
    for r in range(8):
        for c in range(8):
            if 0 <= r - dy < 8 and 0 <= c - dx < 8:
                out[:, r, c] = images[:, r - dy, c - dx]
    return out


def pitch_class_histogram(notes):
    hist = np.zeros(12)
    for pitch, _, duration in notes:
        hist[int(pitch) % 12] += duration
    return hist / hist.sum()


# ---- the solution notebook's code (solutions/08_applications.ipynb), where it differs from the above ----


def roc_auc_notebook(scores_normal, scores_anomalous):
    diff = scores_anomalous.double()[:, None] - scores_normal.double()[None, :]
    return ((diff > 0).double() + 0.5 * (diff == 0).double()).mean().item()


def fit_power_law_closed_form(params, losses):
    x, y = np.log(params), np.log(losses)
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    return float(np.exp(y.mean() - slope * x.mean())), float(-slope)


def shift_image_slices(images, dx, dy):
    out = torch.zeros_like(images)
    height, width = images.shape[-2:]
    out_rows, in_rows = slice(max(dy, 0), height + min(dy, 0)), slice(max(-dy, 0), height + min(-dy, 0))
    out_cols, in_cols = slice(max(dx, 0), width + min(dx, 0)), slice(max(-dx, 0), width + min(-dx, 0))
    out[:, out_rows, out_cols] = images[:, in_rows, in_cols]
    return out


def pitch_class_histogram_bincount(notes):
    time = np.bincount(notes[:, 0].astype(int) % 12, weights=notes[:, 2], minlength=12)
    return time / time.sum()


SOLUTIONS = {
    "roc_auc": [roc_auc, roc_auc_by_ranks, roc_auc_notebook],
    "likelihood_ratio_score": [likelihood_ratio_score],
    "typicality_test": [typicality_test, typicality_test_numpy],
    "mix_synthetic": [mix_synthetic, mix_synthetic_shuffled],
    "piano_roll": [piano_roll],
    "fit_power_law": [fit_power_law, fit_power_law_log10, fit_power_law_closed_form],
    "shift_image": [shift_image, shift_image_slices],
    "pitch_class_histogram": [pitch_class_histogram, pitch_class_histogram_bincount],
}


# ---- the wrong answers as a student would write them (run as a student's code, not trusted) ----


def auc_reversed(scores_normal, scores_anomalous):
    diff = scores_normal[:, None] - scores_anomalous[None, :]
    return ((diff > 0).double() + 0.5 * (diff == 0).double()).mean().item()


def auc_ties_as_wins(scores_normal, scores_anomalous):
    return (scores_anomalous[:, None] >= scores_normal[None, :]).double().mean().item()


def auc_ties_ignored(scores_normal, scores_anomalous):
    return (scores_anomalous[:, None] > scores_normal[None, :]).double().mean().item()


def ratio_reversed(log_p_model, log_p_background):
    return log_p_model - log_p_background


def typicality_one_sided(nll_batch, train_nll_mean, epsilon):
    return nll_batch.mean(dim=1) - train_nll_mean > epsilon


def mix_labels_not_with_their_images(real_x, real_y, synth_x, synth_y, ratio):
    k = round(ratio * len(real_x))
    return torch.cat([synth_x[:k], real_x]), torch.cat([real_y, synth_y[:k]])


def roll_one_step_too_long(notes, steps_per_quarter):
    starts = np.rint(notes[:, 1] * steps_per_quarter).astype(int)
    ends = np.rint((notes[:, 1] + notes[:, 2]) * steps_per_quarter).astype(int)
    roll = np.zeros((128, ends.max()), dtype=bool)
    for pitch, start, end in zip(notes[:, 0].astype(int), starts, ends, strict=True):
        roll[pitch, start : end + 1] = True
    return roll


def power_law_on_linear_axes(params, losses):
    from scipy.optimize import curve_fit

    (a, b), _ = curve_fit(lambda n, a, b: a * n ** (-b), params, losses, p0=(losses[0], 0.1), maxfev=20000)
    return a, b


def shift_with_roll(images, dx, dy):
    return torch.roll(images, shifts=(dy, dx), dims=(1, 2))


def pitch_class_note_counts(notes):
    counts = np.bincount(notes[:, 0].astype(int) % 12, minlength=12)
    return counts / counts.sum()


STUDENT_WRONG = [
    ("roc_auc", auc_reversed, "direction_reversed"),
    ("roc_auc", auc_ties_as_wins, "ties_as_wins"),
    ("roc_auc", auc_ties_ignored, "ties_as_losses"),
    ("likelihood_ratio_score", ratio_reversed, "ratio_reversed"),
    ("typicality_test", typicality_one_sided, "one_sided"),
    ("mix_synthetic", mix_labels_not_with_their_images, "labels_not_paired"),
    ("piano_roll", roll_one_step_too_long, "end_inclusive"),
    ("fit_power_law", power_law_on_linear_axes, "linear_axes"),
    ("shift_image", shift_with_roll, "wraps_around"),
    ("pitch_class_histogram", pitch_class_note_counts, "counts_not_time"),
]


@pytest.mark.parametrize(("name", "answer", "wrong_name"), STUDENT_WRONG, ids=[w[2] for w in STUDENT_WRONG])
def test_a_students_wrong_answer_is_recognised_with_its_hint(name, answer, wrong_name):
    exercise = getattr(ch08, name)
    result = exercise.evaluate(answer)  # as a student's code: not trusted
    assert result.outcome == "incorrect", result.message
    assert result.wrong_answer == wrong_name, result.message
    hint = next(w.hint for w in exercise.wrong_answers if w.name == wrong_name)
    assert hint in result.hints and hint in str(result)


@pytest.mark.parametrize("exercise", exercises_of(ch08), ids=lambda e: e.name)
def test_exercise_behaves(exercise):
    assert_exercise_behaves(exercise, SOLUTIONS[exercise.name])


def test_every_exercise_has_solutions_here():
    assert sorted(SOLUTIONS) == sorted(e.name for e in exercises_of(ch08))
    assert len(SOLUTIONS) >= 8


def test_blank_answer_is_not_attempted():
    def piano_roll(notes, steps_per_quarter):
        # YOUR CODE HERE
        raise NotImplementedError()

    assert ch08.piano_roll.evaluate(piano_roll).outcome == "not_attempted"


@pytest.mark.parametrize("exercise", exercises_of(ch08), ids=lambda e: e.name)
def test_check_is_quick(exercise):
    result = exercise.evaluate(exercise.reference)
    assert result.seconds < 2.0


def _numbers_in(value) -> list[float]:
    if isinstance(value, (tuple, list)):
        return [x for v in value for x in _numbers_in(v)]
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return [float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1).tolist()]
    return [float(value)]


@pytest.mark.parametrize("exercise", exercises_of(ch08), ids=lambda e: e.name)
def test_a_failed_check_never_shows_the_expected_values(exercise):
    expected = {x for case in exercise.cases() for x in _numbers_in(exercise._run_trusted(exercise.reference, case))}
    for wrong in exercise.wrong_answers:
        text = str(exercise.evaluate(wrong.implementation, hint=2, trusted=True))
        for value in expected:
            if float(value).is_integer() and abs(value) < 200:
                continue  # small whole numbers (labels, pixel levels, flags) appear in any text
            for shown in {f"{value:.3f}", f"{value:.2f}", f"{value:.4g}", f"{value:.3g}"}:
                if len(shown) > 2:  # one or two digits alone are in any text ("chapter 08")
                    assert shown not in text, f"{wrong.name}: the message shows {shown}"


# ---- the references agree with the library ----


def test_auc_reference_matches_the_library_and_scikit_learn():
    for case in ch08.roc_auc.cases():
        neg, pos = case.args
        labels = np.r_[np.zeros(len(neg)), np.ones(len(pos))]
        want = roc_auc_score(labels, np.r_[neg.numpy(), pos.numpy()])
        assert ch08._auc_reference(neg, pos) == pytest.approx(want, abs=1e-12)
        assert roc.roc_auc(neg, pos) == pytest.approx(want, abs=1e-12)


def test_anomaly_references_match_the_library():
    for case in ch08.likelihood_ratio_score.cases():
        assert torch.allclose(ch08._lr_reference(*case.args), anomaly.likelihood_ratio_score(*case.args))
    for case in ch08.typicality_test.cases():
        assert torch.equal(ch08._typ_reference(*case.args), anomaly.typicality_test(*case.args))


def test_mix_reference_matches_the_library_up_to_order():
    real_x, real_y, synth_x, synth_y, _ = ch08.mix_synthetic.cases()[0].args
    ours = ch08._mix_reference(real_x, real_y, synth_x, synth_y, 1.0)
    library = augmentation.mix_synthetic(real_x, real_y, synth_x, synth_y, 1.0)
    # the library draws its synthetic examples at random; with ratio 1 and a pool of exactly n both use all
    pool = len(real_x)
    ours = ch08._mix_reference(real_x, real_y, synth_x[:pool], synth_y[:pool], 1.0)
    library = augmentation.mix_synthetic(real_x, real_y, synth_x[:pool], synth_y[:pool], 1.0)
    np.testing.assert_array_equal(ch08._pairs(*ours), ch08._pairs(*library))


def test_roll_power_and_shift_references_match_the_library():
    for case in ch08.piano_roll.cases():
        np.testing.assert_array_equal(ch08._roll_reference(*case.args), music.piano_roll(*case.args))
    for case in ch08.fit_power_law.cases():
        fitted = scaling.fit_power_law(*case.args)
        assert ch08._power_reference(*case.args) == pytest.approx((fitted.coefficient, fitted.exponent), rel=1e-9)
    for case in ch08.pitch_class_histogram.cases():
        np.testing.assert_allclose(ch08._pc_reference(*case.args), music_models.pitch_class_histogram(*case.args))
    for case in ch08.shift_image.cases():
        images, dx, dy = case.args
        np.testing.assert_array_equal(ch08._shift_reference(images, dx, dy).numpy(),
                                      augmentation.shift(images, dx, dy).numpy())


@pytest.mark.parametrize(("exercise", "library"), [
    (ch08.roc_auc, lambda neg, pos: roc.roc_auc(neg, pos)),
    (ch08.likelihood_ratio_score, lambda a, b: anomaly.likelihood_ratio_score(a, b)),
    (ch08.typicality_test, lambda nll, h, eps: anomaly.typicality_test(nll, h, eps)),
    (ch08.piano_roll, lambda notes, spq: music.piano_roll(notes, spq)),
    (ch08.fit_power_law, lambda n, loss: tuple(scaling.fit_power_law(n, loss))[:2]),
    (ch08.shift_image, lambda images, dx, dy: augmentation.shift(images, dx, dy)),
    (ch08.pitch_class_histogram, lambda notes: music_models.pitch_class_histogram(notes)),
], ids=["roc_auc", "likelihood_ratio", "typicality", "piano_roll", "power_law", "shift", "pitch_classes"])
def test_calling_the_library_is_not_a_solution(exercise, library):
    result = exercise.evaluate(library)
    assert result.outcome == "incorrect" and "called" in result.message, result.message
