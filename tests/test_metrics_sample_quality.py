"""k-NN radii, precision/recall, density/coverage and KID: brute force, prdc, torchmetrics, known answers."""

import warnings

import numpy as np
import pytest
import torch
from prdc import compute_prdc
from scipy.spatial.distance import cdist

from course_lib.metrics import density_coverage, kernel_distance, knn_radii, precision_recall, sample_quality


def _brute_radii(x, k):
    dist = cdist(x, x)
    np.fill_diagonal(dist, np.inf)
    return np.sort(dist, axis=1)[:, k - 1]


@pytest.mark.parametrize("k", [1, 3, 5])
def test_knn_radii_match_brute_force(k):
    rng = np.random.default_rng(k)
    x = rng.normal(size=(60, 4))
    np.testing.assert_allclose(knn_radii(x, k), _brute_radii(x, k), rtol=1e-9, atol=1e-9)


def test_knn_radii_exclude_the_point_but_not_its_duplicate():
    x = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(knn_radii(x, 1), [0.0, 0.0, 5.0], atol=1e-12)
    np.testing.assert_allclose(knn_radii(x, 2), [5.0, 5.0, 5.0], atol=1e-12)


def test_blocked_distances_agree_with_one_block(monkeypatch):
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(70, 3)), rng.normal(0.3, 1.0, size=(50, 3))
    whole = (knn_radii(real, 3), precision_recall(real, fake), density_coverage(real, fake))
    monkeypatch.setattr(sample_quality, "_BLOCK_ENTRIES", 97)  # a block of one or two rows, a ragged last block
    blocked = (knn_radii(real, 3), precision_recall(real, fake), density_coverage(real, fake))
    np.testing.assert_allclose(blocked[0], whole[0])
    assert blocked[1:] == whole[1:]


def test_a_block_of_5000_by_5000_stays_small():
    rows = max(1, sample_quality._BLOCK_ENTRIES // 5000)
    assert rows * 5000 * 8 <= 40e6  # bytes of one float64 block


@pytest.mark.parametrize("seed", range(3))
def test_prdc_agrees_on_random_features(seed, capsys):
    rng = np.random.default_rng(seed)
    # fakes squeezed towards the mean: high precision, low recall, so a swap of the two cannot pass
    real = rng.normal(size=(int(rng.integers(150, 250)), 6))
    fake = 0.6 * rng.normal(size=(int(rng.integers(100, 200)), 6)) + 0.2
    k = int(rng.integers(2, 6))
    want = compute_prdc(real, fake, nearest_k=k)
    capsys.readouterr()  # prdc prints the set sizes
    precision, recall = precision_recall(real, fake, k=k)
    density, coverage = density_coverage(real, fake, k=k)
    assert abs(want["precision"] - want["recall"]) > 0.2
    assert precision == pytest.approx(want["precision"], abs=1e-12)
    assert recall == pytest.approx(want["recall"], abs=1e-12)
    assert density == pytest.approx(want["density"], abs=1e-12)
    assert coverage == pytest.approx(want["coverage"], abs=1e-12)


def test_identical_sets_score_one_and_disjoint_sets_zero():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(100, 5))
    assert precision_recall(x, x) == (1.0, 1.0)
    assert density_coverage(x, x)[1] == 1.0
    far = x + 100.0
    assert precision_recall(x, far) == (0.0, 0.0)
    assert density_coverage(x, far) == (0.0, 0.0)


def test_shifted_gaussian_lowers_every_score_with_the_shift():
    rng = np.random.default_rng(5)
    real = rng.normal(size=(400, 4))
    scores = []
    for shift in [0.0, 1.0, 3.0]:
        fake = rng.normal(size=(400, 4)) + shift
        scores.append((*precision_recall(real, fake), *density_coverage(real, fake)))
    scores = np.array(scores)  # (3 shifts, 4 metrics)
    assert (scores[0] > 0.6).all()  # same distribution: all high (density about 1)
    assert (np.diff(scores, axis=0) < 0).all()
    assert (scores[2] < 0.1).all()


def test_mode_dropping_shows_in_recall_and_coverage_not_in_precision():
    rng = np.random.default_rng(6)
    centres = np.array([[0.0, 0.0], [10.0, 0.0]])
    real = centres[rng.integers(0, 2, 600)] + rng.normal(size=(600, 2))
    fake = centres[0] + rng.normal(size=(600, 2))  # one of the two modes only
    precision, recall = precision_recall(real, fake)
    _, coverage = density_coverage(real, fake)
    assert precision > 0.9 and 0.3 < recall < 0.6 and 0.3 < coverage < 0.6


# ---- KID ----


def _direct_unbiased_mmd2(x, y, degree=3, coef=1.0):
    """The estimator written pair by pair (O(n^2) Python loops over the kernel matrix's entries)."""
    gamma = 1.0 / x.shape[1]
    kernel = lambda a, b: (gamma * float(a @ b) + coef) ** degree  # noqa: E731
    m = len(x)
    within_x = sum(kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    within_y = sum(kernel(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    across = sum(kernel(x[i], y[j]) for i in range(m) for j in range(m))
    return (within_x + within_y) / (m * (m - 1)) - 2 * across / m**2


def test_kid_matches_the_direct_formula():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(40, 5)), rng.normal(0.4, 1.2, size=(40, 5))
    mean, std = kernel_distance(x, y, subsets=3, subset_size=None)  # every subset is the whole set
    assert mean == pytest.approx(_direct_unbiased_mmd2(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_matches_torchmetrics_with_an_identity_feature_module():
    from torchmetrics.image.kid import KernelInceptionDistance

    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(200, 16)), rng.normal(0.2, 1.0, size=(200, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # it warns that it keeps every feature in memory
        metric = KernelInceptionDistance(feature=torch.nn.Identity(), subsets=2, subset_size=200)
    metric.update(torch.as_tensor(x), real=True)
    metric.update(torch.as_tensor(y), real=False)
    want_mean, _ = metric.compute()
    mean, _ = kernel_distance(x, y, subsets=2, subset_size=200)
    assert mean == pytest.approx(float(want_mean), rel=1e-9)


def test_kid_of_degree_two_matches_the_population_mmd_of_two_gaussians():
    # with k(a, b) = (gamma a.b + c)^2 and second moments S = Sigma + mu mu^T:
    # MMD^2 = gamma^2 ||S_x - S_y||_F^2 + 2 gamma c ||mu_x - mu_y||^2
    dim, n, repeats = 3, 600, 10
    mu_y, scale_y = np.array([0.5, -0.3, 0.0]), np.array([1.0, 1.0, 1.5])
    second_x, second_y = np.eye(dim), np.diag(scale_y**2) + np.outer(mu_y, mu_y)
    gamma = 1.0 / dim
    exact = gamma**2 * ((second_x - second_y) ** 2).sum() + 2 * gamma * (mu_y**2).sum()  # 0.413
    estimates = []
    for seed in range(repeats):  # independent data sets: the estimator's mean is the population value
        rng = np.random.default_rng(seed)
        x, y = rng.normal(size=(n, dim)), mu_y + scale_y * rng.normal(size=(n, dim))
        estimates.append(kernel_distance(x, y, degree=2, subsets=1, subset_size=None)[0])
    # one estimate at n = 600 has a standard deviation of about 0.04 (0.033 measured at n = 1000)
    assert np.mean(estimates) == pytest.approx(exact, abs=0.05)


def test_kid_is_unbiased_for_one_distribution():
    # the diagonal terms k(x_i, x_i) would add a positive bias of order E k(x, x) / m
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
    mean, std = kernel_distance(x, y, subsets=50, subset_size=50, seed=1)
    assert abs(mean) < 0.05  # keeping the diagonal would add about 2 (E k(x, x) - E k(x, x')) / m = 0.3


def test_kid_grows_with_the_shift_and_is_seeded():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(500, 4))
    kids = [kernel_distance(x, rng.normal(size=(500, 4)) + s, subsets=10, subset_size=200)[0] for s in (0, 0.5, 1)]
    assert kids[0] < 0.01 < kids[1] < kids[2]
    y = rng.normal(size=(500, 4))
    assert kernel_distance(x, y, subsets=5, subset_size=100, seed=3) == kernel_distance(x, y, subsets=5,
                                                                                          subset_size=100, seed=3)


def test_inputs_are_checked_and_torch_is_accepted():
    x = torch.randn(30, 4)
    assert precision_recall(x, x.double().numpy()) == (1.0, 1.0)
    assert knn_radii(x.view(30, 2, 2), 2).shape == (30,)
    with pytest.raises(ValueError, match="k must be"):
        knn_radii(x, 30)
    with pytest.raises(ValueError, match=r"\(N, F\)"):
        knn_radii(torch.randn(30), 1)
    with pytest.raises(ValueError, match="NaN"):
        precision_recall(x, torch.full((5, 4), float("nan")))
    with pytest.raises(ValueError, match="same number of features"):
        kernel_distance(x, torch.randn(30, 3))


def test_duplicates_are_at_distance_zero_exactly():
    # ||a||^2 + ||b||^2 - 2 a.b alone leaves about 1e-8 between a point and its copy
    rng = np.random.default_rng(12)
    x = rng.normal(3.0, 1.0, size=(40, 6))
    x[:5] = x[5:10]
    assert (knn_radii(x, 1)[:10] == 0.0).all()
    blocks = np.concatenate([d for _, d in sample_quality.distance_blocks(x, x)])
    np.testing.assert_allclose(blocks, cdist(x, x), rtol=1e-12, atol=1e-12)
    assert precision_recall(x[:10], x[:10], k=1) == (1.0, 1.0)


def test_5000_points_stay_within_memory():
    import tracemalloc

    x = np.random.default_rng(13).normal(size=(5000, 8))
    tracemalloc.start()
    try:
        knn_radii(x, 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 120e6  # the full 5,000 x 5,000 float64 matrix alone is 200 MB


def test_kid_matches_torchmetrics_with_the_course_feature_extractor_on_digits():
    # the digits classifier's architecture as torchmetrics' feature module (seeded, untrained: the formula is
    # what is compared, and training it would cost seconds); torchmetrics works in the module's float32
    from torchmetrics.image.kid import KernelInceptionDistance

    from course_lib.data import load_digits_split
    from course_lib.metrics.features import DigitsClassifier

    class Features(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.classifier = DigitsClassifier()

        def forward(self, x):
            return self.classifier.features(x)

    split = load_digits_split()
    extractor = Features().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=extractor, subsets=1, subset_size=300)
    with torch.no_grad():
        metric.update(split.train[:300], real=True)
        metric.update(16 - split.test[:300], real=False)  # inverted digits: far from the real ones
        want_mean, _ = metric.compute()
        real, fake = extractor(split.train[:300]), extractor(16 - split.test[:300])
    mean, _ = kernel_distance(real, fake, subsets=1, subset_size=None)
    assert mean > 1e-3
    assert mean == pytest.approx(float(want_mean), rel=1e-3)
