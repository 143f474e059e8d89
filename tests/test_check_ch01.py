"""Chapter 01 checks: stubs are not attempted, every listed wrong answer is recognised with its own hint,
the references and the solution notebook's code are correct."""

import math

import pytest
import torch

from course_lib.check import CORRECT, INCORRECT, NOT_ATTEMPTED, ch01
from course_lib.check.testing import assert_exercise_behaves, exercises_of


# the solution notebook's code, written as a student would (float32, library calls)
def empirical_pmf(values, num_values):
    counts = torch.bincount(values, minlength=num_values).float()
    return counts / counts.sum()


def sample_categorical(probs, u):
    cdf = torch.cumsum(probs, dim=0)
    cdf = cdf / cdf[-1]
    return torch.searchsorted(cdf, u, right=True).clamp(max=len(probs) - 1)


def marginal_and_conditional(joint):
    p_x1 = joint.sum(dim=1)
    return p_x1, joint / p_x1[:, None]


def laplace_inverse_cdf(u, loc, scale):
    return torch.where(u < 0.5, loc + scale * torch.log(2 * u), loc - scale * torch.log(2 - 2 * u))


def histogram_log_density(x_train, x_query, edges):
    bins = len(edges) - 1

    def bin_of(x):  # one formula for counting and for looking up
        return (torch.searchsorted(edges, x, right=True) - 1).clamp(0, bins - 1)

    counts = torch.bincount(bin_of(x_train), minlength=bins)
    k = bin_of(x_query)
    log_p = torch.log(counts[k] / (len(x_train) * torch.diff(edges)[k]))
    inside = (x_query >= edges[0]) & (x_query <= edges[-1])
    return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))


def kde_loo_log_likelihood(x_train, bandwidth):
    n, d = x_train.shape
    log_k = -torch.cdist(x_train, x_train) ** 2 / (2 * bandwidth**2)
    log_k = log_k.masked_fill(torch.eye(n, dtype=torch.bool), -math.inf)
    return torch.logsumexp(log_k, dim=1) - math.log(n - 1) - 0.5 * d * math.log(2 * math.pi * bandwidth**2)


def gaussian_conditional(mean, cov, x_a):
    a = x_a.shape[1]
    gain = torch.linalg.solve(cov[:a, :a], cov[:a, a:])  # S_aa^-1 S_ab, (A, B)
    return mean[a:] + (x_a - mean[:a]) @ gain, cov[a:, a:] - cov[a:, :a] @ gain


def fit_class_gaussians(X, y):
    classes = int(y.max()) + 1
    prior = torch.bincount(y, minlength=classes).float() / len(y)
    mean = torch.stack([X[y == c].mean(0) for c in range(classes)])
    cov = torch.stack([torch.atleast_2d(torch.cov(X[y == c].T, correction=0)) for c in range(classes)])
    return {"prior": prior, "mean": mean, "cov": cov}


def posterior(X, params):
    dist = torch.distributions.MultivariateNormal(params["mean"], covariance_matrix=params["cov"])
    log_joint = dist.log_prob(X[:, None, :]) + params["prior"].log()
    return torch.softmax(log_joint, dim=1)


def generative_classifier(X, y, X_query):
    return posterior(X_query, fit_class_gaussians(X, y))


SOLUTIONS = {f.__name__: f for f in [empirical_pmf, sample_categorical, marginal_and_conditional,
                                      laplace_inverse_cdf, histogram_log_density, kde_loo_log_likelihood,
                                      gaussian_conditional, generative_classifier]}

# wrong answers that agree with the reference on some cases by design (the case that unmasks them is there)
ONLY_ON_SOME_CASES = {("histogram_log_density", "one_width_for_all")}  # same as the reference on equal bins


def test_eight_exercises_in_the_notebook_order():
    assert [e.name for e in exercises_of(ch01)] == list(SOLUTIONS)


@pytest.mark.parametrize("exercise", exercises_of(ch01), ids=lambda e: e.name)
def test_exercise_behaves(exercise):
    assert_exercise_behaves(exercise, solutions=[SOLUTIONS[exercise.name]])


@pytest.mark.parametrize("exercise", exercises_of(ch01), ids=lambda e: e.name)
def test_every_wrong_answer_differs_on_every_case(exercise):
    """Recognition needs each wrong answer to differ from the reference on every case, not just one."""
    for case in exercise.cases():
        expected = exercise._run_trusted(exercise.reference, case)
        for wrong in exercise.wrong_answers:
            if (exercise.name, wrong.name) in ONLY_ON_SOME_CASES:
                continue
            got = exercise._run_trusted(wrong.implementation, case)
            assert exercise.compare(got, expected, case), wrong.name


def test_check_leaves_the_global_random_stream_alone():
    torch.manual_seed(5)
    before = torch.rand(3)
    torch.manual_seed(5)
    ch01.sample_categorical.evaluate(sample_categorical)
    assert torch.equal(torch.rand(3), before)


def test_sampler_that_ignores_u_is_caught():
    def uses_its_own_randomness(probs, u):
        return torch.multinomial(probs / probs.sum(), len(u), replacement=True)

    assert ch01.sample_categorical.evaluate(uses_its_own_randomness).outcome == INCORRECT


def test_goodness_of_fit_property_catches_a_biased_sampler_that_passes_the_cases():
    def biased(probs, u):  # exact on short inputs, wrong on the long run of the property test
        if len(u) > 1000:
            return torch.zeros(len(u), dtype=torch.long) + 2
        return sample_categorical(probs, u)

    result = ch01.sample_categorical.evaluate(biased)
    assert result.outcome == INCORRECT
    assert "chi-square" in result.message or "probability is 0" in result.message


def test_generative_classifier_takes_two_functions(capsys):
    ch01.generative_classifier(fit_class_gaussians, posterior)
    assert "[correct]" in capsys.readouterr().out
    combined = ch01.classifier(fit_class_gaussians, posterior)  # what the notebook names generative_classifier
    ch01.generative_classifier(combined)
    assert "[correct]" in capsys.readouterr().out

    def fit_stub(X, y):
        raise NotImplementedError()

    assert ch01.generative_classifier.evaluate(ch01.classifier(fit_stub, posterior)).outcome == NOT_ATTEMPTED
    ch01.generative_classifier(None, posterior)  # a missing function: a message, no exception
    assert "[incorrect]" in capsys.readouterr().out


def test_histogram_epsilon_is_recognised():
    def with_epsilon(x_train, x_query, edges):
        bins = len(edges) - 1
        counts = torch.bincount((torch.searchsorted(edges, x_train, right=True) - 1).clamp(0, bins - 1),
                                minlength=bins)
        k = (torch.searchsorted(edges, x_query, right=True) - 1).clamp(0, bins - 1)
        return torch.log(counts[k] / (len(x_train) * torch.diff(edges)[k]) + 1e-9)

    result = ch01.histogram_log_density.evaluate(with_epsilon)
    assert result.outcome == INCORRECT and result.wrong_answer == "not_minus_inf"
    assert ch01.histogram_log_density.evaluate(histogram_log_density).outcome == CORRECT


def test_histogram_with_two_bin_formulas_gives_a_training_point_minus_inf():
    """The bug of the old solution: counts by float32 histc, look-ups by float64 floor. On 10 bins of [0, 1]
    the training point 0.3 is counted in bin 3 and looked up in bin 2."""
    points = torch.tensor([0.3, 0.7, 0.9], dtype=torch.float64)
    edges = torch.linspace(0, 1, 11, dtype=torch.float64)

    def histc_then_floor(x_train, x_query, edges):
        bins, lo, hi = len(edges) - 1, float(edges[0]), float(edges[-1])
        width = (hi - lo) / bins
        counts = torch.histc(x_train.float(), bins=bins, min=lo, max=hi)
        k = torch.floor((x_query - lo) / width).long().clamp(0, bins - 1)
        log_p = torch.log(counts[k] / (len(x_train) * width))
        inside = (x_query >= lo) & (x_query <= hi)
        return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))

    assert torch.isinf(histc_then_floor(points, points, edges)).any()
    assert torch.isinf(ch01._hist_two_formulas(points, points, edges)).any()
    assert torch.isfinite(ch01._hist_reference(points, points, edges)).all()
    assert torch.isfinite(histogram_log_density(points, points, edges)).all()
    result = ch01.histogram_log_density.evaluate(histc_then_floor)
    assert result.outcome == INCORRECT

    def histogram_then_searchsorted(x_train, x_query, edges):  # a student's version of the same mistake
        counts = torch.histogram(x_train.float(), bins=edges.float()).hist
        k = (torch.searchsorted(edges, x_query, right=True) - 1).clamp(0, len(edges) - 2)
        log_p = torch.log(counts[k] / (len(x_train) * torch.diff(edges)[k]))
        inside = (x_query >= edges[0]) & (x_query <= edges[-1])
        return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))

    result = ch01.histogram_log_density.evaluate(histogram_then_searchsorted)
    assert result.outcome == INCORRECT and result.wrong_answer == "two_bin_formulas", result.message


def test_calling_the_library_is_not_a_solution():
    from course_lib.distributions import KDE, Histogram

    def via_histogram(x_train, x_query, edges):
        return Histogram(x_train, bins=len(edges) - 1, range=(float(edges[0]), float(edges[-1]))).log_prob(x_query)

    def via_kde(x_train, bandwidth):
        return torch.stack([KDE(torch.cat([x_train[:i], x_train[i + 1:]]), bandwidth).log_prob(x_train[i:i + 1])[0]
                            for i in range(len(x_train))])

    def via_torch_laplace(u, loc, scale):
        return torch.distributions.Laplace(loc, scale).icdf(u)

    for exercise, answer in [(ch01.histogram_log_density, via_histogram), (ch01.kde_loo_log_likelihood, via_kde),
                             (ch01.laplace_inverse_cdf, via_torch_laplace)]:
        result = exercise.evaluate(answer)
        assert result.outcome == INCORRECT and "own implementation" in result.message, (exercise.name, result.message)


def test_generative_classifier_without_atleast_2d_fails_on_one_feature_without_raising():
    def fit_no_atleast_2d(X, y):
        params = fit_class_gaussians(X, y)
        classes = int(y.max()) + 1
        params["cov"] = torch.stack([torch.cov(X[y == c].T, correction=0) for c in range(classes)])
        return params

    result = ch01.generative_classifier.evaluate(ch01.classifier(fit_no_atleast_2d, posterior))
    assert result.outcome == INCORRECT


def test_references_agree_with_the_library():
    """The exercises' float64 references and course_lib.distributions / torch.distributions agree."""
    from course_lib.distributions import KDE, Histogram

    gen = torch.Generator().manual_seed(0)
    for bins in (4, 9, 20):  # equal widths, points away from the edges: the lecture's histogram
        edges = torch.linspace(-2.0, 3.0, bins + 1, dtype=torch.float64)
        x_train = -2 + 5 * torch.rand(50, generator=gen, dtype=torch.float64)
        x_query = -3 + 7 * torch.rand(40, generator=gen, dtype=torch.float64)
        library = Histogram(x_train, bins=bins, range=(-2.0, 3.0)).log_prob(x_query)
        torch.testing.assert_close(library, ch01._hist_reference(x_train, x_query, edges))
    for case in ch01.kde_loo_log_likelihood.cases():
        x_train, h = case.args
        for i in (0, len(x_train) - 1):
            others = torch.cat([x_train[:i], x_train[i + 1:]])
            library = KDE(others, h).log_prob(x_train[i:i + 1]).double()
            torch.testing.assert_close(library, ch01._loo_reference(x_train, h)[i:i + 1], rtol=1e-5, atol=1e-3)
    for case in ch01.laplace_inverse_cdf.cases():
        u, loc, scale = case.args
        torch.testing.assert_close(torch.distributions.Laplace(loc, scale).icdf(u), ch01._laplace_reference(*case.args))


def test_gaussian_conditional_reference_agrees_with_the_precision_form_and_with_samples():
    """Bishop (2.75)-(2.76): covariance inv(L_bb), mean mu_b - inv(L_bb) L_ba (x_a - mu_a), L = inv(cov);
    and samples of the joint near x_a = mu_a have the conditional's spread."""
    for case in ch01.gaussian_conditional.cases():
        mean, cov, x_a = case.args
        a = x_a.shape[1]
        precision = torch.linalg.inv(cov)
        cov_b = torch.linalg.inv(precision[a:, a:])
        mu_b = mean[a:] - (x_a - mean[:a]) @ (cov_b @ precision[a:, :a]).T
        got_mu, got_cov = ch01._conditional_reference(*case.args)
        torch.testing.assert_close(got_mu, mu_b)
        torch.testing.assert_close(got_cov, cov_b)
    mean = torch.tensor([1.0, -2.0], dtype=torch.float64)
    cov = torch.tensor([[2.0, 1.2], [1.2, 1.5]], dtype=torch.float64)
    torch.manual_seed(0)
    samples = torch.distributions.MultivariateNormal(mean, cov).sample((1_000_000,))
    near = samples[(samples[:, 0] - 2.0).abs() < 0.02, 1]  # x_1 close to 2
    mu, var = ch01._conditional_reference(mean, cov, torch.tensor([[2.0]], dtype=torch.float64))
    assert abs(near.mean() - mu[0, 0]) < 0.05 and abs(near.var() - var[0, 0]) < 0.05


def test_laplace_samples_follow_the_laplace_distribution():
    """Uniforms through the reference's inverse CDF pass a Kolmogorov-Smirnov test against Laplace(loc, b)."""
    from scipy import stats

    u = torch.rand(20000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x = ch01._laplace_reference(u, 1.5, 0.7).numpy()
    assert stats.kstest(x, stats.laplace(loc=1.5, scale=0.7).cdf).pvalue > 1e-3
    assert stats.kstest(ch01._laplace_no_half(u, 1.5, 0.7).numpy(), stats.laplace(loc=1.5, scale=0.7).cdf).pvalue < 1e-6
