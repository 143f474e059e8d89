"""Chapter 07 checks: stubs are not attempted, every listed wrong answer is recognised with its own hint, the
reference and other correct answers pass, a failed check never shows the expected values; the references
agree with the library (course_lib.metrics) and with closed forms."""

import math

import numpy as np
import pytest
import torch

from course_lib import metrics
from course_lib.check import ch07
from course_lib.check.testing import assert_exercise_behaves, exercises_of

# ---- the solution notebook's code (solutions/07_evaluation.ipynb) ----


def knn_radii(features, k):
    dist = torch.cdist(features, features)
    dist.fill_diagonal_(float("inf"))  # a point is not its own neighbour
    return dist.sort(dim=1).values[:, k - 1]


def precision_recall(real, fake, k):
    dist = torch.cdist(fake, real)  # (N_fake, N_real)
    precision = (dist <= knn_radii(real, k)[None, :]).any(dim=1).double().mean()
    recall = (dist.T <= knn_radii(fake, k)[None, :]).any(dim=1).double().mean()
    return precision.item(), recall.item()


def kernel_distance(x, y):
    n, m, features = len(x), len(y), x.shape[1]

    def kernel(a, b):
        return (a @ b.T / features + 1.0) ** 3

    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return (within_x + within_y - 2 * k_xy.mean()).item()


def membership_auc(scores_members, scores_non_members):
    members, others = scores_members[:, None], scores_non_members[None, :]
    return ((members > others).double().mean() + 0.5 * (members == others).double().mean()).item()


def near_copy_share(samples, train, test, quantile):
    test_distances = torch.cdist(test, train).min(dim=1).values
    sample_distances = torch.cdist(samples, train).min(dim=1).values
    threshold = torch.quantile(test_distances, quantile)
    return (sample_distances <= threshold).double().mean().item()


def frechet_distance_diagonal(mu1, var1, mu2, var2):
    return (((mu1 - mu2) ** 2).sum() + ((var1.sqrt() - var2.sqrt()) ** 2).sum()).item()


def mixture_nll(nll_model, nll_noise, noise_weight):
    log_p = torch.logaddexp(math.log(1 - noise_weight) - nll_model, math.log(noise_weight) - nll_noise)
    return -log_p


# ---- other correct answers a student may well write ----


def knn_radii_numpy_inside(features, k):
    x = features.numpy()
    dist = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(dist, np.inf)
    return torch.as_tensor(np.partition(dist, k - 1, axis=1)[:, k - 1])


def knn_radii_kthvalue(features, k):
    dist = torch.cdist(features, features)
    return dist.kthvalue(k + 1, dim=1).values  # the point itself is one of the k + 1 nearest: right, duplicates too


def membership_auc_by_ranks(scores_members, scores_non_members):
    from scipy.stats import rankdata

    ranks = rankdata(torch.cat([scores_non_members, scores_members]).numpy())
    n_m, n_o = len(scores_members), len(scores_non_members)
    return (ranks[n_o:].sum() - n_m * (n_m + 1) / 2) / (n_m * n_o)


def mixture_nll_logsumexp(nll_model, nll_noise, noise_weight):
    log_terms = torch.stack([math.log(1 - noise_weight) - nll_model.double(),
                             math.log(noise_weight) - nll_noise.double()])
    return -torch.logsumexp(log_terms, dim=0)


def frechet_distance_diagonal_by_matrices(mu1, var1, mu2, var2):
    from scipy.linalg import sqrtm

    c1, c2 = np.diag(var1.numpy()), np.diag(var2.numpy())
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * sqrtm(c1 @ c2).real))


SOLUTIONS = {
    "knn_radii": [knn_radii, knn_radii_numpy_inside, knn_radii_kthvalue],
    "precision_recall": [precision_recall],
    "kernel_distance": [kernel_distance],
    "membership_auc": [membership_auc, membership_auc_by_ranks],
    "near_copy_share": [near_copy_share],
    "frechet_distance_diagonal": [frechet_distance_diagonal, frechet_distance_diagonal_by_matrices],
    "mixture_nll": [mixture_nll, mixture_nll_logsumexp],
}


@pytest.mark.parametrize("exercise", exercises_of(ch07), ids=lambda e: e.name)
def test_exercise_behaves(exercise):
    assert_exercise_behaves(exercise, SOLUTIONS[exercise.name])


def test_every_exercise_has_solutions_here():
    assert sorted(SOLUTIONS) == sorted(e.name for e in exercises_of(ch07))
    assert len(exercises_of(ch07)) >= 7


@pytest.mark.parametrize("exercise", exercises_of(ch07), ids=lambda e: e.name)
def test_check_is_quick(exercise):
    result = exercise.evaluate(exercise.reference)
    assert result.seconds < 2.0


def test_blank_answer_is_not_attempted():
    def knn_radii(features, k):
        # YOUR CODE HERE
        raise NotImplementedError()

    assert ch07.knn_radii.evaluate(knn_radii).outcome == "not_attempted"


def _numbers_in(value) -> list[float]:
    if isinstance(value, (tuple, list)):
        return [x for v in value for x in _numbers_in(v)]
    if isinstance(value, torch.Tensor):
        return [float(v) for v in value.reshape(-1).tolist()]
    return [float(value)]


@pytest.mark.parametrize("exercise", exercises_of(ch07), ids=lambda e: e.name)
def test_a_failed_check_never_shows_the_expected_values(exercise):
    expected = [x for case in exercise.cases() for x in _numbers_in(exercise._run_trusted(exercise.reference, case))]
    for wrong in exercise.wrong_answers:
        text = str(exercise.evaluate(wrong.implementation, hint=2, trusted=True))
        for value in expected:
            for shown in {f"{value:.3f}", f"{value:.2f}", f"{value:.4g}", f"{value:.3g}"}:
                if shown not in {"0.000", "0.00", "0", "1.000", "1.00", "1"}:  # digits any text may hold
                    assert shown not in text, f"{wrong.name}: the message shows {shown}"


# ---- the references agree with the library and with closed forms ----


def _features(seed, n=50, dim=4, shift=0.0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, dim, generator=gen, dtype=torch.float64) + shift


def test_knn_reference_matches_the_library():
    x = _features(0)
    x[:3] = x[3:6]  # duplicates
    for k in (1, 2, 4):
        np.testing.assert_allclose(ch07._knn_radii(x, k).numpy(), metrics.knn_radii(x, k), rtol=1e-9, atol=1e-9)


def test_precision_recall_reference_matches_the_library():
    real, fake = _features(1, n=90), _features(2, n=70, scale=0.6, shift=0.2)
    for k in (2, 3, 5):
        assert ch07._precision_recall(real, fake, k) == pytest.approx(metrics.precision_recall(real, fake, k),
                                                                     abs=1e-12)


def test_kid_reference_matches_the_library_on_equal_sizes():
    x, y = _features(3, n=40), _features(4, n=40, shift=0.5)
    mean, _ = metrics.kernel_distance(x, y, subsets=1, subset_size=None)
    assert ch07._kid(x, y) == pytest.approx(mean, rel=1e-10)


def test_kid_reference_is_unbiased_for_unequal_sizes():
    # the average over many pairs of independent sets from one distribution is 0 (the biased one is not)
    values = [ch07._kid(_features(10 + i, n=20), _features(100 + i, n=35)) for i in range(300)]
    biased = [ch07._kid_biased(_features(10 + i, n=20), _features(100 + i, n=35)) for i in range(300)]
    standard_error = np.std(values) / math.sqrt(len(values))
    assert abs(np.mean(values)) < 4 * standard_error
    assert np.mean(biased) > 10 * standard_error


def test_membership_reference_matches_the_library():
    for case in ch07.membership_auc.cases():
        members, others = case.args
        assert ch07._membership_auc(members, others) == pytest.approx(metrics.membership_auc(members, others),
                                                                      abs=1e-12)


def test_near_copy_reference_matches_the_library():
    for case in ch07.near_copy_share.cases():
        samples, train, test, quantile = case.args
        assert ch07._near_copy_share(samples, train, test, quantile) == pytest.approx(
            metrics.near_copy_share(samples, train, test, quantile=quantile), abs=1e-12)


def test_frechet_reference_is_the_general_formula_on_diagonal_covariances():
    from scipy.linalg import sqrtm

    gen = np.random.default_rng(5)
    mu1, mu2, var1, var2 = gen.normal(size=4), gen.normal(size=4), gen.uniform(0.2, 3, 4), gen.uniform(0.2, 3, 4)
    c1, c2 = np.diag(var1), np.diag(var2)
    general = ((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * sqrtm(c1 @ c2).real)
    assert ch07._fd_diagonal(mu1, var1, mu2, var2) == pytest.approx(general, rel=1e-10)
    assert ch07._fd_diagonal(mu1, var1, mu2, var2) == pytest.approx(metrics.frechet_distance(mu1, c1, mu2, c2),
                                                                    rel=1e-8)


def test_mixture_reference_is_the_mixture_density_and_within_its_bound():
    # two categorical "models" on 5 outcomes: the mixture's NLL is -log of the mixed probabilities
    p_model, p_noise = torch.tensor([0.5, 0.2, 0.1, 0.1, 0.1]), torch.full((5,), 0.2)
    w = 0.99
    nll = ch07._mixture_nll(-p_model.log(), -p_noise.log(), w)
    assert torch.allclose(nll, -((1 - w) * p_model + w * p_noise).double().log())
    bound = -p_model.log().double() - math.log(1 - w)  # the mixture loses at most log(1 / (1 - w)) nats
    assert (nll <= bound + 1e-12).all()


def _sklearn_auc(scores_members, scores_non_members):
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.ones(len(scores_members)), np.zeros(len(scores_non_members))]
    return roc_auc_score(labels, torch.cat([scores_members, scores_non_members]).numpy())


@pytest.mark.parametrize(("exercise", "library"), [
    (ch07.knn_radii, lambda features, k: torch.as_tensor(metrics.knn_radii(features, k))),
    (ch07.precision_recall, lambda real, fake, k: metrics.precision_recall(real, fake, k)),
    (ch07.kernel_distance, lambda x, y: metrics.kernel_distance(x, y, subsets=1, subset_size=None)[0]),
    (ch07.membership_auc, lambda members, others: metrics.membership_auc(members, others)),
    (ch07.membership_auc, lambda members, others: metrics.roc_auc(others, members)),
    (ch07.membership_auc, _sklearn_auc),
    (ch07.near_copy_share, lambda samples, train, test, q: metrics.near_copy_share(samples, train, test, q)),
    (ch07.frechet_distance_diagonal, lambda mu1, var1, mu2, var2: metrics.frechet_distance(
        mu1.numpy(), np.diag(var1.numpy()), mu2.numpy(), np.diag(var2.numpy()))),
], ids=["knn_radii", "precision_recall", "kernel_distance", "membership_auc", "roc_auc", "sklearn_auc",
        "near_copy_share", "frechet_distance"])
def test_calling_the_library_is_not_a_solution(exercise, library):
    result = exercise.evaluate(library)
    assert result.outcome == "incorrect" and "called" in result.message, result.message


def test_sklearn_helpers_are_not_forbidden():
    # roc_auc_score's inner function is watched, not sklearn's shared parameter-validation wrapper
    from sklearn.metrics import pairwise_distances

    def knn_radii_sklearn(features, k):
        dist = torch.as_tensor(pairwise_distances(features.numpy()))
        dist.fill_diagonal_(float("inf"))
        return dist.sort(dim=1).values[:, k - 1]

    assert ch07.knn_radii.evaluate(knn_radii_sklearn).passed
