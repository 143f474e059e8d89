"""Flow matching: the conditional target, the loss's minimiser, the ODE solvers, and learning.

Known answer: from x0 ~ N(0, I) to data x1 ~ N(m, s^2 I) with independent pairs, x_t ~ N(t m, sigma_t^2 I) with
sigma_t^2 = (1 - t)^2 + t^2 s^2, and the marginal velocity E[x1 - x0 | x_t = x] is linear:
v*(x, t) = m + c(t) (x - t m), c(t) = (t s^2 - (1 - t)) / sigma_t^2. Its flow carries x0 to m + s x0 exactly.
"""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.config import torch_threads
from course_lib.data import load_digits_split, make_two_moons
from course_lib.models.flow_matching import (
    FlowMatching,
    conditional_flow_matching_loss,
    digits_flow_matching,
    flow_matching_2d,
    flow_matching_target,
    ode_solve,
)
from course_lib.train import fit

M, S = torch.tensor([1.5, -0.5], dtype=torch.float64), 0.4


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def optimal_velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    tt = t[:, None]
    c = (tt * S**2 - (1 - tt)) / ((1 - tt) ** 2 + tt**2 * S**2)
    return M + c * (x - tt * M)


def _pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    x0 = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return x0, M + S * torch.randn(n, 2, generator=g, dtype=torch.float64)


def test_target_is_the_straight_path_from_noise_to_data():
    x0, x1 = _pairs(5, 0)
    t = torch.tensor([0.0, 0.25, 0.5, 0.9, 1.0], dtype=torch.float64)
    x_t, u = flow_matching_target(x0, x1, t)
    torch.testing.assert_close(x_t[0], x0[0])
    torch.testing.assert_close(x_t[-1], x1[-1])
    torch.testing.assert_close(u, x1 - x0)
    h = 1e-6  # d x_t / dt = u: the target is the path's velocity, pointing from noise to data
    ahead, _ = flow_matching_target(x0, x1, t + h)
    torch.testing.assert_close((ahead - x_t) / h, u, atol=1e-6, rtol=1e-6)
    images = torch.randn(3, 8, 8, dtype=torch.float64)  # t broadcasts over every event dimension
    x_t, _ = flow_matching_target(images, 2 * images, torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    torch.testing.assert_close(x_t, images * torch.tensor([1.0, 1.5, 2.0], dtype=torch.float64)[:, None, None])


@pytest.mark.parametrize("t", [0.2, 0.6, 0.9])
def test_regressing_the_conditional_target_recovers_the_marginal_velocity(t):
    x0, x1 = _pairs(400_000, 1)
    x_t, u = flow_matching_target(x0, x1, torch.full((len(x0),), t, dtype=torch.float64))
    design = torch.cat([x_t, torch.ones(len(x_t), 1, dtype=torch.float64)], 1)
    coef = torch.linalg.lstsq(design, u).solution  # u ≈ x_t A + b
    c = (t * S**2 - (1 - t)) / ((1 - t) ** 2 + t**2 * S**2)
    torch.testing.assert_close(coef[:2], c * torch.eye(2, dtype=torch.float64), atol=0.01, rtol=0)
    sigma = math.sqrt((1 - t) ** 2 + t**2 * S**2)  # compare the fields where x_t has its mass
    points = t * M + sigma * torch.tensor([[-1.0, 1.0], [0.0, 0.0], [1.0, -1.0]], dtype=torch.float64)
    fitted = points @ coef[:2] + coef[2]
    torch.testing.assert_close(fitted, optimal_velocity(points, torch.full((3,), t, dtype=torch.float64)),
                               atol=0.01, rtol=0)


def test_the_loss_is_smallest_at_the_marginal_velocity():
    """CFM loss(v* + delta) - CFM loss(v*) = ||delta||^2: the conditional loss has the marginal field as minimiser."""
    x0, x1 = _pairs(200_000, 2)
    t = torch.rand(len(x0), generator=_gen(3), dtype=torch.float64)
    delta = torch.tensor([0.1, -0.2], dtype=torch.float64)
    best = conditional_flow_matching_loss(optimal_velocity, x1, t, x0)
    shifted = conditional_flow_matching_loss(lambda x, t: optimal_velocity(x, t) + delta, x1, t, x0)
    assert (shifted - best).item() == pytest.approx(delta.pow(2).sum().item(), rel=0.05)


def test_ode_solvers_carry_the_gaussian_to_the_gaussian_with_their_order():
    x0 = torch.randn(500, 2, generator=_gen(4), dtype=torch.float64)
    exact = M + S * x0  # the flow of v* from t = 0 to t = 1
    errors = {}
    for method in ("euler", "midpoint", "heun"):
        errors[method] = [(ode_solve(optimal_velocity, x0, steps, method) - exact).abs().max().item()
                          for steps in (20, 40)]
    assert errors["euler"][0] / errors["euler"][1] == pytest.approx(2, rel=0.2)  # first order
    for method in ("midpoint", "heun"):
        assert errors[method][0] / errors[method][1] > 3.2  # at least second order
        assert errors[method][1] < 1e-3
    x1 = ode_solve(optimal_velocity, torch.randn(100_000, 2, generator=_gen(5), dtype=torch.float64), 40)
    torch.testing.assert_close(x1.mean(0), M, atol=0.01, rtol=0)
    torch.testing.assert_close(x1.std(0), torch.full((2,), S, dtype=torch.float64), atol=0.01, rtol=0)
    back = ode_solve(optimal_velocity, exact, 40, "midpoint", t0=1.0, t1=0.0)  # and back again
    torch.testing.assert_close(back, x0, atol=1e-3, rtol=0)


def energy_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """2 E|a - b| - E|a - a'| - E|b - b'| (Székely): zero only for equal distributions."""
    return (2 * torch.cdist(a, b).mean() - torch.cdist(a, a).mean() - torch.cdist(b, b).mean()).item()


def test_a_short_run_on_two_moons_brings_samples_closer_to_held_out_data():
    train, held_out = torch.as_tensor(make_two_moons(2000, seed=0)), torch.as_tensor(make_two_moons(1000, seed=1))
    torch.manual_seed(0)
    model = flow_matching_2d(hidden=64, blocks=2)
    before = energy_distance(model.sample(1000, generator=_gen(0), steps=20), held_out)
    fit(model, train, steps=400, lr=3e-3, batch_size=256, progress=False)
    after = energy_distance(model.sample(1000, generator=_gen(0), steps=20), held_out)
    assert after < 0.25 * before and after < 0.03, (before, after)


def test_a_short_run_on_digits_brings_pixel_statistics_closer_to_the_data():
    split = load_digits_split()
    torch.manual_seed(0)
    model = digits_flow_matching(channels=32, blocks=2, denoiser="mlp")

    def gap(samples: torch.Tensor) -> float:
        mean_gap = (samples.float().mean(0) - split.val.float().mean(0)).abs().mean()
        hist = torch.stack([torch.bincount(x, minlength=17) for x in (samples.flatten(), split.val.flatten())])
        return mean_gap.item() + (hist[0] / hist[0].sum() - hist[1] / hist[1].sum()).abs().sum().item()

    before = gap(model.sample(350, generator=_gen(0), steps=10))
    fit(model, split.train, steps=150, lr=2e-3, batch_size=128, progress=False)
    samples = model.sample(350, generator=_gen(0), steps=10)
    assert samples.dtype == torch.long and samples.shape == (350, 64) and 0 <= samples.min() <= samples.max() <= 16
    assert gap(samples) < 0.5 * before, (before, gap(samples))


def test_digits_model_dequantises_within_each_level_and_rounds_back():
    model = FlowMatching(torch.nn.Identity(), 3, num_levels=17)
    x = torch.tensor([[0, 8, 16]]).expand(1000, 3)
    y = model.to_continuous(x, _gen(0))
    width = 2 / 16
    centres = torch.tensor([-1.0, 0.0, 1.0])
    assert ((y - centres).abs() <= width / 2).all() and (y - centres).abs().max() > 0.45 * width
    assert torch.equal(model.to_levels(y), x)
    with pytest.raises(TypeError, match="dtype"):
        model.loss(x.float())
