"""Checks for chapter 07, evaluation.

In the order of the exercises: k-NN radii (a warm-up), precision and recall, the unbiased kernel distance,
the membership-inference AUC, the near-copy share, and two that the lecture does not show: the Fréchet
distance between two Gaussians with diagonal covariances, and the NLL of a model mixed with a noise component.
Features come as float64 tensors (N, F); distances are Euclidean.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from course_lib.check import Case, Exercise, WrongAnswer, compare_values
from course_lib.metrics import frechet, memorisation, roc, sample_quality


def _f64(*tensors):
    return (torch.as_tensor(t, dtype=torch.float64) for t in tensors)


def _tensor(values) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.float64)


def _distances(a, b) -> torch.Tensor:
    """(N, M) Euclidean distances, written out (no matrix-product shortcut): the references' ground truth."""
    a, b = _f64(a, b)
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1).sqrt()


def _self_distances(x) -> torch.Tensor:
    """Distances within one set, with each point's distance to itself set to infinity."""
    dist = _distances(x, x)
    dist.fill_diagonal_(math.inf)
    return dist


def _compare_shares(got, expected, case):
    return compare_values(got, expected, rtol=0.0, atol=1e-9)


# ---- 1. knn_radii(features, k) -> (N,) (a warm-up) ----------------------------------------------------------


def _knn_radii(features, k):
    return _self_distances(features).sort(dim=1).values[:, k - 1]


def _knn_self_counted(features, k):
    return _distances(features, features).sort(dim=1).values[:, k - 1]


def _knn_squared(features, k):
    return _knn_radii(features, k) ** 2


def _knn_mean_of_k(features, k):
    return _self_distances(features).sort(dim=1).values[:, :k].mean(1)


def _knn_zeros_dropped(features, k):
    dist = _distances(features, features)
    dist[dist == 0] = math.inf  # drops the point itself, and its duplicates too
    return dist.sort(dim=1).values[:, k - 1]


def _knn_cases(rng):
    cases = []
    for i in range(3):
        n, dim, k = int(rng.integers(20, 50)), int(rng.integers(2, 7)), int(rng.integers(2, 6))
        x = rng.normal(size=(n, dim)) * rng.uniform(0.5, 3.0, size=dim)
        if i == 2:  # a set with duplicated rows, as a generator that copies itself makes
            x[: 4] = x[4:8]
        cases.append(Case(_tensor(x), k))
    return cases


knn_radii = Exercise(
    name="knn_radii",
    forbidden=(sample_quality.knn_radii,),
    reference=_knn_radii,
    make_cases=_knn_cases,
    rtol=1e-7,
    atol=1e-9,
    hint="For each point, compute its distances to every point of the set, leave out the point itself, and take "
    "the k-th smallest of what remains: the radius of the smallest ball around the point that holds k OTHER "
    "points.",
    deeper_hint="torch.cdist(x, x) gives all the distances at once; the point itself sits on the diagonal "
    "(distance 0). Set the diagonal to infinity (Tensor.fill_diagonal_) before sorting along dim=1, and "
    "remember that k-th means index k - 1.",
    wrong_answers=[
        WrongAnswer("self_counted", _knn_self_counted,
                    hint="Your radii are those of the (k-1)-th other point: the point itself, at distance 0, "
                    "was counted as its own nearest neighbour. Leave it out (by its index), then take the k-th "
                    "smallest distance."),
        WrongAnswer("squared_distances", _knn_squared,
                    hint="Your radii are squared distances. The balls of precision and recall compare "
                    "Euclidean distances, so take the square root (torch.cdist already returns distances)."),
        WrongAnswer("mean_of_k_nearest", _knn_mean_of_k,
                    hint="You averaged the distances to the k nearest points. The radius is the distance to the "
                    "k-th nearest point alone: the ball just large enough to hold k other points."),
        WrongAnswer("zeros_dropped", _knn_zeros_dropped,
                    hint="Your answer is right except where the set holds duplicate points: dropping every "
                    "zero distance also drops a duplicate, which is another point of the set at distance 0. "
                    "Leave out the point itself by its index (the diagonal), not by its value."),
    ],
)


# ---- 2. precision_recall(real, fake, k) -> (precision, recall) ----------------------------------------------


def _precision_recall_with(real, fake, k, radii=_knn_radii, mode="right"):
    real, fake = _f64(real, fake)
    d = _distances(fake, real)  # (N_fake, N_real)
    r_real, r_fake = radii(real, k), radii(fake, k)
    if mode == "own_radii":  # each point judged by a ball with its own radius
        return (float((d <= r_fake[:, None]).any(1).double().mean()),
                float((d.T <= r_real[:, None]).any(1).double().mean()))
    inside_real_balls = d <= r_real[None, :]  # (N_fake, N_real): fake j inside the ball of real i
    inside_fake_balls = d.T <= r_fake[None, :]  # (N_real, N_fake)
    axis = 0 if mode == "wrong_axis" else 1  # "any" over the balls (right), or over the points judged
    return (float(inside_real_balls.any(axis).double().mean()), float(inside_fake_balls.any(axis).double().mean()))


def _precision_recall(real, fake, k):
    return _precision_recall_with(real, fake, k)


def _pr_swapped(real, fake, k):
    precision, recall = _precision_recall_with(real, fake, k)
    return recall, precision


def _pr_own_radii(real, fake, k):
    return _precision_recall_with(real, fake, k, mode="own_radii")


def _pr_wrong_axis(real, fake, k):
    return _precision_recall_with(real, fake, k, mode="wrong_axis")


def _pr_self_in_radii(real, fake, k):
    return _precision_recall_with(real, fake, k, radii=_knn_self_counted)


def _gaussian_pair(rng, n_real, n_fake, dim, scale, shift):
    real = rng.normal(size=(n_real, dim))
    fake = scale * rng.normal(size=(n_fake, dim)) + shift
    return _tensor(real), _tensor(fake)


def _precision_recall_cases(rng):
    cases = []
    for scale in (0.5, 1.6, 0.8):  # squeezed samples (high precision), spread ones (high recall), in between
        n_real, n_fake, dim = int(rng.integers(80, 140)), int(rng.integers(60, 120)), int(rng.integers(3, 6))
        real, fake = _gaussian_pair(rng, n_real, n_fake, dim, scale, rng.normal(0, 0.3, size=dim))
        cases.append(Case(real, fake, int(rng.integers(2, 6))))
    return cases


precision_recall = Exercise(
    name="precision_recall",
    forbidden=(sample_quality.precision_recall, sample_quality.knn_radii, sample_quality.density_coverage),
    reference=_precision_recall,
    make_cases=_precision_recall_cases,
    compare=_compare_shares,
    hint="Precision asks how many samples look real: the share of FAKE points that fall in at least one ball "
    "around a REAL point (radius: that real point's k-NN radius within the real set). Recall asks how much of "
    "the real data the model covers: the same with the roles of the two sets exchanged.",
    deeper_hint="Compute the (N_real, N_fake) distances once. A fake point j is inside real ball i when "
    "d[i, j] <= radius_real[i]; precision averages, over j, whether any i holds it. Reuse your knn_radii.",
    wrong_answers=[
        WrongAnswer("swapped", _pr_swapped,
                    hint="Your precision and recall are exchanged. Precision is about the samples (are they "
                    "inside the real manifold?), recall about the real data (is it inside the manifold of the "
                    "samples?)."),
        WrongAnswer("radii_from_wrong_set", _pr_own_radii,
                    hint="Your balls have the radius of the point being judged. A manifold is the union of "
                    "balls around the points of ONE set, each with that point's radius in its own set: for "
                    "precision, balls around the real points with the real radii."),
        WrongAnswer("any_over_wrong_axis", _pr_wrong_axis,
                    hint="You asked, for each ball, whether it holds some point of the other set: that is "
                    "coverage, not precision. Ask, for each point judged, whether some ball of the other set "
                    "holds it, and average over the points judged."),
        WrongAnswer("self_in_radii", _pr_self_in_radii,
                    hint="Your radii count each point as its own neighbour (exercise 1's mistake), so the balls "
                    "are too small. The radius is the distance to the k-th nearest OTHER point."),
    ],
)


# ---- 3. kernel_distance(x, y) -> float: the unbiased MMD^2 with the cubic polynomial kernel -----------------


def _cubic_kernel(a, b):
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def _kid_with(x, y, *, keep_diagonal=False, square_normaliser=False, cross_factor=2.0, gamma=None):
    x, y = _f64(x, y)
    n, m = len(x), len(y)
    kernel = _cubic_kernel if gamma is None else (lambda a, b: (gamma * (a @ b.T) + 1.0) ** 3)
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    if keep_diagonal:
        within = k_xx.sum() / n**2 + k_yy.sum() / m**2
    else:
        off_xx, off_yy = k_xx.sum() - k_xx.diagonal().sum(), k_yy.sum() - k_yy.diagonal().sum()
        within = off_xx / n**2 + off_yy / m**2 if square_normaliser else off_xx / (n * (n - 1)) + off_yy / (m * (m - 1))
    return float(within - cross_factor * k_xy.mean())


def _kid(x, y):
    return _kid_with(x, y)


def _kid_biased(x, y):
    return _kid_with(x, y, keep_diagonal=True)


def _kid_square_normaliser(x, y):
    return _kid_with(x, y, square_normaliser=True)


def _kid_cross_once(x, y):
    return _kid_with(x, y, cross_factor=1.0)


def _kid_gamma_one(x, y):
    return _kid_with(x, y, gamma=1.0)


def _kid_cases(rng):
    cases = []
    for shift in (0.0, 0.4, 1.0):  # the same distribution, then further apart
        n, m, dim = int(rng.integers(30, 60)), int(rng.integers(30, 60)), int(rng.integers(3, 8))
        while m == n:
            m = int(rng.integers(30, 60))
        x = rng.normal(size=(n, dim))
        y = rng.normal(size=(m, dim)) * rng.uniform(0.8, 1.3) + shift
        cases.append(Case(_tensor(x), _tensor(y)))
    return cases


kernel_distance = Exercise(
    name="kernel_distance",
    forbidden=(sample_quality.kernel_distance, sample_quality._unbiased_mmd2),
    reference=_kid,
    make_cases=_kid_cases,
    rtol=1e-6,
    atol=1e-9,
    hint="MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y), with x, x' independent draws. An unbiased estimate "
    "averages k over pairs of DIFFERENT examples within a set: n (n - 1) ordered pairs, not n^2. The kernel is "
    "k(a, b) = (a.b / F + 1)^3 with F the number of features.",
    deeper_hint="Build the three kernel matrices with matrix products; the within-set sums leave out the "
    "diagonal (Tensor.diagonal().sum()), the cross term keeps every pair. x and y may have different sizes n "
    "and m.",
    wrong_answers=[
        WrongAnswer("diagonal_kept", _kid_biased,
                    hint="You averaged over all n^2 pairs, the diagonal k(x_i, x_i) included. Those terms are "
                    "not pairs of independent draws, so the estimate is biased upwards (it is positive even for "
                    "two samples of one distribution): leave out the diagonal and divide by n (n - 1)."),
        WrongAnswer("divided_by_n_squared", _kid_square_normaliser,
                    hint="You left out the diagonal but still divided by n^2: there are n (n - 1) ordered pairs "
                    "of different examples, so divide by that."),
        WrongAnswer("cross_term_once", _kid_cross_once,
                    hint="The cross term enters twice: ||mean embedding of x - mean embedding of y||^2 expands "
                    "into the two within-set terms minus 2 E k(x, y)."),
        WrongAnswer("gamma_one", _kid_gamma_one,
                    hint="The kernel scales the dot product by 1 / F (F = number of features) before adding 1: "
                    "k(a, b) = (a.b / F + 1)^3. Without the scale the kernel grows with the dimension."),
    ],
)


# ---- 4. membership_auc(scores_members, scores_non_members) -> float -----------------------------------------


def _pair_counts(scores_members, scores_non_members):
    members, others = _f64(scores_members, scores_non_members)
    wins = (members[:, None] > others[None, :]).double().mean()
    ties = (members[:, None] == others[None, :]).double().mean()
    return float(wins), float(ties)


def _membership_auc(scores_members, scores_non_members):
    wins, ties = _pair_counts(scores_members, scores_non_members)
    return wins + 0.5 * ties


def _auc_ties_as_wins(scores_members, scores_non_members):
    wins, ties = _pair_counts(scores_members, scores_non_members)
    return wins + ties


def _auc_ties_ignored(scores_members, scores_non_members):
    return _pair_counts(scores_members, scores_non_members)[0]


def _auc_reversed(scores_members, scores_non_members):
    return _membership_auc(scores_non_members, scores_members)


def _membership_cases(rng):
    cases = []
    for gap in (0.8, 0.3, 1.5):
        n_members, n_others = int(rng.integers(60, 200)), int(rng.integers(60, 200))
        # log-likelihoods rounded to a coarse grid, as a model's scores often are: many ties
        members = np.round(rng.normal(gap, 1.0, n_members) * 2) / 2 - 100.0
        others = np.round(rng.normal(0.0, 1.0, n_others) * 2) / 2 - 100.0
        cases.append(Case(_tensor(members), _tensor(others)))
    return cases


membership_auc = Exercise(
    name="membership_auc",
    forbidden=(roc.roc_auc, roc.roc_curve, memorisation.membership_auc, roc_auc_score.__wrapped__),
    reference=_membership_auc,
    make_cases=_membership_cases,
    compare=_compare_shares,
    hint="The AUC is the probability that a random member scores higher than a random non-member, with a tie "
    "counting one half: look at every (member, non-member) pair.",
    deeper_hint="Broadcasting members[:, None] against non_members[None, :] gives every pair at once; average "
    "the wins, and add half the average of the ties.",
    wrong_answers=[
        WrongAnswer("ties_as_wins", _auc_ties_as_wins,
                    hint="You counted a tie as a win for the member. A tie carries no information about who is "
                    "the member: it counts one half, so that a constant score gets AUC 0.5."),
        WrongAnswer("ties_ignored", _auc_ties_ignored,
                    hint="You counted only strict wins, so every tie costs the attack half a pair: a constant "
                    "score would get AUC 0 instead of 0.5. Count each tie as one half."),
        WrongAnswer("direction_reversed", _auc_reversed,
                    hint="Your AUC is 1 minus the answer: the attack scores MEMBERS higher, so a pair counts "
                    "when the member's score is above the non-member's."),
    ],
)


# ---- 5. near_copy_share(samples, train, test, quantile) -> float --------------------------------------------


def _nearest(a, b):
    return _distances(a, b).min(dim=1).values


def _near_copy_share(samples, train, test, quantile):
    threshold = torch.quantile(_nearest(test, train), quantile)
    return float((_nearest(samples, train) <= threshold).double().mean())


def _near_copy_samples_to_test(samples, train, test, quantile):
    threshold = torch.quantile(_nearest(test, train), quantile)
    return float((_nearest(samples, test) <= threshold).double().mean())


def _near_copy_threshold_test_to_test(samples, train, test, quantile):
    test = torch.as_tensor(test, dtype=torch.float64)
    threshold = torch.quantile(_self_distances(test).min(dim=1).values, quantile)
    return float((_nearest(samples, train) <= threshold).double().mean())


def _near_copy_threshold_from_samples(samples, train, test, quantile):
    distances = _nearest(samples, train)
    return float((distances <= torch.quantile(distances, quantile)).double().mean())


def _near_copy_cases(rng):
    cases = []
    for copied in (0.3, 0.6, 0.1):
        dim = int(rng.integers(4, 7))
        train, test = rng.normal(size=(int(rng.integers(250, 350)), dim)), rng.normal(size=(60, dim))
        n_copies, n_fresh = int(200 * copied), 200 - int(200 * copied)
        copies = train[rng.integers(0, len(train), n_copies)] + 0.02 * rng.normal(size=(n_copies, dim))
        samples = np.concatenate([copies, rng.normal(size=(n_fresh, dim))])[rng.permutation(200)]
        cases.append(Case(_tensor(samples), _tensor(train), _tensor(test), float(rng.choice([0.02, 0.05, 0.1]))))
    return cases


near_copy_share = Exercise(
    name="near_copy_share",
    forbidden=(memorisation.near_copy_share, memorisation.near_copy_threshold),
    reference=_near_copy_share,
    make_cases=_near_copy_cases,
    compare=_compare_shares,
    hint="Two sets of nearest-neighbour distances, both measured TO THE TRAINING SET: the test images' (how "
    "close a new image comes to the training data), whose quantile is the threshold, and the samples' (how "
    "close the model's images come). A sample is a near-copy when its distance is at most the threshold.",
    deeper_hint="torch.cdist(a, train).min(dim=1).values gives each row's nearest training distance; "
    "torch.quantile(test_distances, quantile) the threshold. Return the share of samples at or below it.",
    wrong_answers=[
        WrongAnswer("samples_nearest_in_test", _near_copy_samples_to_test,
                    hint="You measured each sample's distance to the nearest TEST image. A near-copy is a copy "
                    "of the TRAINING data, which the model saw: measure the samples' distances to the training "
                    "set."),
        WrongAnswer("threshold_from_test_to_test", _near_copy_threshold_test_to_test,
                    hint="Your threshold uses the distances between test images. The threshold asks how close a "
                    "NEW image comes to the TRAINING set: the test images' distances to their nearest training "
                    "image."),
        WrongAnswer("threshold_from_samples", _near_copy_threshold_from_samples,
                    hint="You took the threshold from the samples' own distances, so the answer is about "
                    "`quantile` whatever the model does. The reference point must come from outside the model: "
                    "the held-out test images' distances to the training set."),
    ],
)


# ---- 6. frechet_distance_diagonal(mu1, var1, mu2, var2) -> float (not in the lecture) -----------------------


def _fd_diagonal(mu1, var1, mu2, var2):
    mu1, var1, mu2, var2 = _f64(mu1, var1, mu2, var2)
    return float(((mu1 - mu2) ** 2).sum() + ((var1.sqrt() - var2.sqrt()) ** 2).sum())


def _fd_no_sqrt(mu1, var1, mu2, var2):
    mu1, var1, mu2, var2 = _f64(mu1, var1, mu2, var2)
    return float(((mu1 - mu2) ** 2).sum() + (var1 + var2 - 2 * var1 * var2).sum())


def _fd_variance_difference(mu1, var1, mu2, var2):
    mu1, var1, mu2, var2 = _f64(mu1, var1, mu2, var2)
    return float(((mu1 - mu2) ** 2).sum() + ((var1 - var2) ** 2).sum())


def _fd_means_only(mu1, var1, mu2, var2):
    mu1, mu2 = _f64(mu1, mu2)
    return float(((mu1 - mu2) ** 2).sum())


def _fd_square_root(mu1, var1, mu2, var2):
    return math.sqrt(_fd_diagonal(mu1, var1, mu2, var2))


def _fd_cases(rng):
    cases = []
    for _ in range(3):
        dim = int(rng.integers(3, 10))
        mu1, mu2 = rng.normal(0, 1, dim), rng.normal(0, 1, dim)
        var1, var2 = rng.uniform(0.1, 4.0, dim), rng.uniform(0.1, 4.0, dim)
        cases.append(Case(*(_tensor(v) for v in (mu1, var1, mu2, var2))))
    return cases


frechet_distance_diagonal = Exercise(
    name="frechet_distance_diagonal",
    forbidden=(frechet.frechet_distance,),
    reference=_fd_diagonal,
    make_cases=_fd_cases,
    rtol=1e-6,
    atol=1e-9,
    hint="Start from FD = ||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)) and put in C = diag(var). The product "
    "of two diagonal matrices is diagonal, and so is its square root: what does the trace become per "
    "dimension?",
    deeper_hint="Per dimension the trace term is var1 + var2 - 2 sqrt(var1 var2); write it as a square of a "
    "difference of standard deviations. No matrix square root is needed.",
    wrong_answers=[
        WrongAnswer("square_root_missing", _fd_no_sqrt,
                    hint="The cross term is 2 (C1 C2)^(1/2): per dimension 2 sqrt(var1 var2), not 2 var1 var2. "
                    "Check the units: every term must be a variance."),
        WrongAnswer("variances_compared", _fd_variance_difference,
                    hint="You compared the variances; the trace term compares standard deviations: per "
                    "dimension it is (sqrt(var1) - sqrt(var2))^2."),
        WrongAnswer("means_only", _fd_means_only,
                    hint="Your distance sees only the means: two Gaussians with the same mean and different "
                    "spreads are not the same distribution. Add the trace term."),
        WrongAnswer("square_root_taken", _fd_square_root,
                    hint="You took the square root at the end. The Fréchet distance of FID is the SQUARED "
                    "2-Wasserstein distance between the Gaussians: keep ||mu1 - mu2||^2 + trace term as it is."),
    ],
)


# ---- 7. mixture_nll(nll_model, nll_noise, noise_weight) -> (B,) (not in the lecture) -----------------------


def _mixture_nll(nll_model, nll_noise, noise_weight):
    a, b = _f64(nll_model, nll_noise)
    w = float(noise_weight)
    return -torch.logaddexp(math.log1p(-w) - a, math.log(w) - b)


def _mixture_linear(nll_model, nll_noise, noise_weight):
    a, b = _f64(nll_model, nll_noise)
    w = float(noise_weight)
    return (1 - w) * a + w * b


def _mixture_weights_swapped(nll_model, nll_noise, noise_weight):
    return _mixture_nll(nll_model, nll_noise, 1.0 - float(noise_weight))


def _mixture_naive_exp(nll_model, nll_noise, noise_weight):
    a, b = (torch.as_tensor(t).float() for t in (nll_model, nll_noise))  # the cases' own float32
    w = float(noise_weight)
    return -torch.log((1 - w) * torch.exp(-a) + w * torch.exp(-b)).double()


def _mixture_bound(nll_model, nll_noise, noise_weight):
    a, _ = _f64(nll_model, nll_noise)
    return a - math.log1p(-float(noise_weight))


def _mixture_cases(rng):
    cases = []
    for weight in (0.99, 0.5, 0.9):
        batch = int(rng.integers(5, 15))
        nll_model = rng.uniform(90, 200, batch)  # nats per digit image
        nll_noise = np.full(batch, 64 * math.log(17)) + rng.normal(0, 5, batch)  # about uniform over 17 levels
        cases.append(Case(torch.as_tensor(nll_model, dtype=torch.float32),
                          torch.as_tensor(nll_noise, dtype=torch.float32), weight))
    return cases


mixture_nll = Exercise(
    name="mixture_nll",
    reference=_mixture_nll,
    make_cases=_mixture_cases,
    rtol=1e-5,
    atol=1e-4,
    hint="The mixture's density is a weighted SUM of the two densities: p(x) = (1 - w) p_model(x) + w "
    "p_noise(x). Its NLL is minus the log of that sum; you are given the two NLLs, i.e. minus the logs of the "
    "densities.",
    deeper_hint="log((1 - w) e^(-a) + w e^(-b)) is a log of a sum of exponentials: torch.logaddexp of "
    "(log(1 - w) - a) and (log(w) - b), with no exp of -150 nats on the way.",
    wrong_answers=[
        WrongAnswer("nlls_mixed", _mixture_linear,
                    hint="You mixed the NLLs, i.e. the log-densities. A mixture mixes the densities themselves: "
                    "-log((1 - w) e^(-a) + w e^(-b)), which is not (1 - w) a + w b."),
        WrongAnswer("weights_swapped", _mixture_weights_swapped,
                    hint="The noise component has the weight noise_weight, the model the rest, 1 - noise_weight; "
                    "yours are the other way round."),
        WrongAnswer("naive_exp", _mixture_naive_exp,
                    hint="exp(-150) underflows to 0 in float32, and log(0) is -inf: your NLLs are infinite. Stay "
                    "in log space (torch.logaddexp or torch.logsumexp)."),
        WrongAnswer("bound_instead_of_value", _mixture_bound,
                    hint="a - log(1 - w) is the upper bound of the mixture's NLL (the noise term dropped, since "
                    "it is positive), not its value: keep both components inside the log."),
    ],
)
