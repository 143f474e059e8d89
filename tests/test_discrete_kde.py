"""DiscreteKDE (course_lib.distributions, chapter 08): exact normalisation by enumeration, agreement with the
plain formula, its two limits, samples that follow it, the bandwidth chosen on validation, and that it learns
the digits better than independent pixels."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from course_lib.data import load_digits_split
from course_lib.distributions import DiscreteKDE, IndependentCategorical, discrete_log_kernel

CENTRES = torch.tensor([[0, 16], [5, 3], [16, 16], [8, 0]])  # four training images of 2 pixels, 17 levels
GRID = torch.tensor(list(itertools.product(range(17), repeat=2)))  # all 17^2 images


def _plain_log_prob(x, centres, kernel_pmf):
    """(1/N) sum_n prod_d K(x_d | t_nd), by loops; kernel_pmf(d, t) -> (V,) probabilities."""
    out = []
    for row in x.tolist():
        total = sum(math.prod(kernel_pmf(d, t)[v] for d, (v, t) in enumerate(zip(row, c, strict=True)))
                    for c in centres.tolist())
        out.append(math.log(total / len(centres)))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("kernel", ["gaussian", "laplace"])
@pytest.mark.parametrize("bandwidth", [0.3, 1.3, 6.0])
@pytest.mark.parametrize("floor", [0.0, 0.3, 1.0])
def test_sums_to_one_over_every_image(kernel, bandwidth, floor):
    model = DiscreteKDE(CENTRES, 17, bandwidth, kernel=kernel, floor=floor)
    log_p = model.log_prob(GRID)
    assert log_p.dtype == torch.float64
    assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-12)


def test_planted_bug_kernel_normalised_once_for_all_centres_does_not_sum_to_one():
    # the same kernel normalised by the normaliser of the middle level only: the edge centres lose mass
    v = torch.arange(17, dtype=torch.float64)
    logits = -(v[None] - v[:, None]) ** 2 / (2 * 1.3**2)
    model = DiscreteKDE(CENTRES, 17, 1.3)
    model.log_kernel = (logits - torch.logsumexp(logits[8], 0))[None].expand(2, -1, -1).contiguous()
    assert abs(torch.logsumexp(model.log_prob(GRID), 0).item()) > 1e-3


def test_matches_the_plain_formula():
    background = torch.tensor([[0.5] + [0.5 / 16] * 16, [1 / 17] * 17], dtype=torch.float64)
    model = DiscreteKDE(CENTRES, 17, 1.1, kernel="laplace", floor=0.2, background=background)
    table = discrete_log_kernel(17, 1.1, "laplace").exp()

    def pmf(d, t):
        return (0.8 * table[t] + 0.2 * background[d]).tolist()

    x = GRID[torch.randperm(len(GRID), generator=torch.Generator().manual_seed(0))[:40]]
    torch.testing.assert_close(model.log_prob(x), _plain_log_prob(x, CENTRES, pmf), rtol=0, atol=1e-10)


def test_kernel_rows_are_probability_vectors_peaked_at_the_centre():
    for kernel in ("gaussian", "laplace"):
        table = discrete_log_kernel(17, 1.5, kernel).exp()
        torch.testing.assert_close(table.sum(1), torch.ones(17, dtype=torch.float64))
        assert (table.argmax(1) == torch.arange(17)).all()
    with pytest.raises(ValueError):
        discrete_log_kernel(17, 0.0)


def test_floor_one_is_independent_pixels_and_small_bandwidth_is_the_nearest_image():
    split = load_digits_split()
    x, train = split.test[:50], split.train[:200]
    independent = IndependentCategorical.fit(train, 17, alpha=1.0)
    torch.testing.assert_close(DiscreteKDE(train, 17, 1.0, floor=1.0).log_prob(x), independent.log_prob(x))
    # h -> 0: log p(x) ~ -min_n ||x - t_n||^2 / (2 h^2), so the ranking is the 1-NN distance's
    h = 0.05
    nearest = torch.cdist(x.double(), train.double()).min(1).values
    log_p = DiscreteKDE(train, 17, h).log_prob(x)
    assert stats.spearmanr(log_p.numpy(), -nearest.numpy()).statistic > 0.99


def test_samples_follow_log_prob():
    model = DiscreteKDE(CENTRES, 17, 0.8, kernel="gaussian", floor=0.05)  # some cells expect few samples
    samples = model.sample(20_000, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (20_000, 2) and samples.dtype == torch.long
    observed = np.bincount((samples[:, 0] * 17 + samples[:, 1]).numpy(), minlength=289).astype(float)
    expected = model.log_prob(GRID).exp().numpy() * len(samples)
    small = expected < 5  # pool the cells that expect fewer than 5 samples into one
    assert small.any() and expected[small].sum() >= 5
    obs, exp = np.append(observed[~small], observed[small].sum()), np.append(expected[~small], expected[small].sum())
    assert stats.chisquare(obs, exp).pvalue > 1e-3
    torch.testing.assert_close(samples, model.sample(20_000, generator=torch.Generator().manual_seed(0)))


def test_fit_picks_the_best_validation_score_and_validates_inputs():
    split = load_digits_split()
    model = DiscreteKDE.fit(split.train[:300], split.val[:100], 17, bandwidths=(0.5, 1.0, 2.0, 4.0),
                            floors=(0.0, 0.5), kernels=("gaussian", "laplace"))
    assert len(model.validation) == 16
    best = max(model.validation, key=model.validation.get)
    assert (model.kernel, model.bandwidth, model.floor) == best
    assert model.log_prob(split.val[:100]).mean().item() == pytest.approx(model.validation[best])
    with pytest.raises(TypeError):
        model.log_prob(split.val[:3].float())
    with pytest.raises(ValueError):
        model.log_prob(split.val[:3] + 17)
    with pytest.raises(ValueError):
        DiscreteKDE(split.train[:5], 17, 1.0, floor=1.5)


def test_learns_the_digits_better_than_independent_pixels():
    split = load_digits_split()
    kde = DiscreteKDE.fit(split.train, split.val, 17, floors=(0.0, 0.1, 0.3, 0.5, 0.7),
                          kernels=("gaussian", "laplace"))
    independent = IndependentCategorical.fit(split.train, 17, alpha=1.0)
    gain = kde.log_prob(split.test).mean() - independent.log_prob(split.test).mean()
    assert gain > 2.0  # nats per image on the test split
