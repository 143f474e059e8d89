"""Coupling flows: invertibility, log-determinants against autograd and zuko, normalisation, the discrete bound
above the exact NLL, the sampler against P(x), and learning (a flow beats the simple baselines on held-out data)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from course_lib.config import torch_threads
from course_lib.models import flows
from course_lib.models.flows import (
    ActNorm,
    AffineCoupling,
    DigitsFlow,
    FlowSequence,
    InvertibleLinear,
    RandomPermutation,
    RealNVP,
    ReversePermutation,
    Squeeze,
    affine_coupling_forward,
    affine_coupling_inverse,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
    coupling_cnn,
    coupling_mlp,
    image_flow_layers,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


def _spread(module: nn.Module, std: float = 0.5, seed: int = 0) -> nn.Module:
    """Re-draw every parameter from N(0, std^2): the zero-initialised last layers would make every map the identity.

    An invertible linear map keeps its weight (a random one could be nearly singular)."""
    gen = torch.Generator().manual_seed(seed)
    fixed = {id(m.weight) for m in module.modules() if isinstance(m, InvertibleLinear)}
    with torch.no_grad():
        for p in module.parameters():
            if id(p) not in fixed:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * std)
    return module.eval()


def _stretched_linear(c: int) -> InvertibleLinear:
    """A rotation times a diagonal stretch: log |det W| != 0, so a log-det left at zero is caught."""
    layer = InvertibleLinear(c, seed=1)
    with torch.no_grad():
        layer.weight.mul_(torch.linspace(0.5, 2.5, c))
    return layer


def _jacobian_log_det(fn, x: torch.Tensor) -> torch.Tensor:
    """log |det d fn / dx| for each example of x (B, *shape), from autograd's full Jacobian and slogdet."""
    out = []
    for row in x:
        jac = torch.autograd.functional.jacobian(lambda r: fn(r[None])[0].flatten(), row)
        out.append(torch.linalg.slogdet(jac.reshape(row.numel(), row.numel())).logabsdet)
    return torch.stack(out)


# ---- the plain coupling functions --------------------------------------------------------------------------------

def test_coupling_functions_keep_the_masked_part_invert_and_give_the_log_det():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    scale_net = _spread(coupling_mlp(5, 5, hidden=8).double(), seed=1)
    shift_net = _spread(coupling_mlp(5, 5, hidden=8).double(), seed=2)
    y, log_det = affine_coupling_forward(x, mask, scale_net, shift_net)
    assert log_det.shape == (6,)
    assert torch.equal(y[:, mask == 1], x[:, mask == 1])  # the kept half is left alone
    s, t = scale_net(x * mask), shift_net(x * mask)
    moved = mask == 0
    torch.testing.assert_close(y[:, moved], (x * s.exp() + t)[:, moved])
    torch.testing.assert_close(log_det, s[:, moved].sum(1))
    torch.testing.assert_close(log_det, _jacobian_log_det(lambda r: affine_coupling_forward(
        r, mask, scale_net, shift_net)[0], x))
    torch.testing.assert_close(affine_coupling_inverse(y, mask, scale_net, shift_net), x)


def test_coupling_log_det_matches_zuko():
    """zuko 1.6.0's CouplingTransform with a MonotonicAffineTransform, driven by the same net (test-only)."""
    from zuko.transforms import CouplingTransform, DependentTransform, MonotonicAffineTransform

    d, slope = 6, 1e-3
    keep = torch.tensor([True, False, False, True, False, True])
    idx_a, idx_b = keep.nonzero()[:, 0], (~keep).nonzero()[:, 0]
    hyper = _spread(coupling_mlp(len(idx_a), 2 * len(idx_b), hidden=16), 0.8, seed=3)

    def zuko_meta(x_a):
        shift, scale = hyper(x_a).chunk(2, -1)
        return DependentTransform(MonotonicAffineTransform(shift, scale, slope=slope), 1)

    def scattered(part: int):  # the same numbers as full-width nets over the masked input
        def net(kept):
            shift, scale = hyper(kept[:, idx_a]).chunk(2, -1)
            value = scale / (1 + (scale / math.log(slope)).abs()) if part == 0 else shift  # zuko's soft clamp
            return torch.zeros_like(kept).index_copy(1, idx_b, value)
        return net

    x = torch.randn(8, d, generator=torch.Generator().manual_seed(4))
    y_ref, ladj_ref = CouplingTransform(zuko_meta, keep).call_and_ladj(x)
    y, log_det = affine_coupling_forward(x, keep.float(), scattered(0), scattered(1))
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(log_det, ladj_ref)
    torch.testing.assert_close(affine_coupling_inverse(y, keep.float(), scattered(0), scattered(1)), x)


# ---- every bijection: inverse and log-det ------------------------------------------------------------------------

def _actnorm(c: int) -> ActNorm:
    layer = _spread(ActNorm(c), 0.7)
    layer.initialized.fill_(True)
    return layer


BIJECTIONS = {
    "coupling-vector": (lambda: AffineCoupling(alternating_mask(4), coupling_mlp(4, 8, hidden=16)), (4,), 0),
    "coupling-checkerboard-context": (lambda: AffineCoupling(checkerboard_mask(4, 4, 1), coupling_cnn(2 + 3, 4, 8)),
                                      (2, 4, 4), 3),
    "coupling-channel": (lambda: AffineCoupling(channel_mask(4, 1), coupling_cnn(4, 8, 8)), (4, 2, 2), 0),
    "actnorm": (lambda: _actnorm(3), (3, 2, 2), 0),
    "reverse": (lambda: ReversePermutation(4), (4,), 0),
    "random": (lambda: RandomPermutation(5, seed=2), (5,), 0),
    "linear-1x1": (lambda: _stretched_linear(3), (3, 2, 2), 0),
    "squeeze": (lambda: Squeeze(), (2, 4, 4), 0),
    "image-flow": (lambda: FlowSequence(image_flow_layers((4, 4), 1, num_checkerboard=2, num_channel=2, net="mlp",
                                                          hidden=8, mixing="linear")), (1, 4, 4), 0),
    "realnvp": (lambda: RealNVP(3, num_couplings=3, hidden=8, permutation="random").transform, (3,), 0),
}


@pytest.mark.parametrize("name", sorted(BIJECTIONS))
def test_bijection_inverts_and_its_log_det_equals_autograd(name):
    build, shape, context_channels = BIJECTIONS[name]
    torch.manual_seed(0)
    layer = build()
    layer = _spread(layer, 0.25) if not isinstance(layer, (ActNorm, Squeeze)) else layer.eval()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, *shape, generator=gen)
    context = torch.randn(4, context_channels, *shape[1:], generator=gen) if context_channels else None
    y, log_det = layer(x, context)
    assert y.numel() == x.numel() and log_det.shape == (4,)
    assert (layer.inverse(y, context) - x).abs().max() < 1e-5  # x -> z -> x in float32
    layer.double()
    x, context = x.double(), None if context is None else context.double()
    for i in range(len(x)):
        ctx = None if context is None else context[i : i + 1]
        expected = _jacobian_log_det(lambda r, c=ctx: layer(r, c)[0], x[i : i + 1])
        torch.testing.assert_close(layer(x[i : i + 1], ctx)[1], expected)


def test_planted_bug_a_log_det_of_the_wrong_sign_is_caught(monkeypatch):
    layer = _spread(AffineCoupling(alternating_mask(4), coupling_mlp(4, 8, hidden=16)).double())
    x = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    real = flows.affine_coupling_forward
    monkeypatch.setattr(flows, "affine_coupling_forward", lambda *a: (real(*a)[0], -real(*a)[1]))
    assert not torch.allclose(layer(x)[1], _jacobian_log_det(lambda r: layer(r)[0], x))


def test_actnorm_initialises_from_the_first_training_batch():
    x = torch.randn(256, 3, 2, 2) * torch.tensor([2.0, 0.5, 1.0])[:, None, None] + 3.0
    layer = ActNorm(3)
    layer.eval()
    assert torch.equal(layer(x)[0], x)  # no initialisation outside training
    layer.train()
    y, log_det = layer(x)
    torch.testing.assert_close(y.mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    assert bool(layer.initialized)
    before = layer.log_scale.detach().clone()
    layer(x * 10)  # later batches leave the parameters alone
    assert torch.equal(layer.log_scale.detach(), before)


# ---- the 2-D RealNVP: a normalised density that learns --------------------------------------------------------------

@pytest.fixture(scope="module")
def moons():
    """A RealNVP fitted briefly to two moons, with held-out points."""
    from course_lib.data import make_two_moons
    from course_lib.train import fit

    train, val = make_two_moons(2000, seed=0), make_two_moons(1000, seed=1)
    torch.manual_seed(0)
    model = RealNVP(2, num_couplings=6, hidden=32)
    fit(model, train, epochs=40, lr=3e-3, batch_size=256, progress=False)
    return model, train, val


def test_realnvp_density_integrates_to_one_on_a_grid(moons):
    model = moons[0].double()
    t = torch.linspace(-8, 8, 801, dtype=torch.float64)
    with torch.no_grad():
        total = (model.log_prob(torch.cartesian_prod(t, t)).exp().sum() * (t[1] - t[0]) ** 2).item()
    model.float()
    assert total == pytest.approx(1.0, abs=2e-3)


def test_realnvp_learns_two_moons_better_than_a_gaussian(moons):
    from course_lib.distributions import Gaussian

    model, train, val = moons
    with torch.no_grad():
        flow_nll = -model.log_prob(val).mean().item()
    gauss_nll = -Gaussian.fit(train).log_prob(val).mean().item()
    assert flow_nll < gauss_nll - 0.5, (flow_nll, gauss_nll)


def test_realnvp_samples_look_like_its_density(moons):
    """Samples pushed back through the flow are standard normal (a KS test per coordinate)."""
    model = moons[0]
    with torch.no_grad():
        z, _ = model(model.sample(5000, generator=torch.Generator().manual_seed(0)))
    assert min(stats.kstest(z[:, i].numpy(), "norm").pvalue for i in range(2)) > 1e-3


def test_realnvp_refuses_integer_input_with_a_fix():
    with pytest.raises(TypeError, match="dequantis"):
        RealNVP(2, num_couplings=2, hidden=4).log_prob(torch.zeros(3, 2, dtype=torch.long))


# ---- the digits flow on a tiny discrete case: the exact P(x) by quadrature ------------------------------------------

LEVELS = 3


def _tiny(dequantization: str, alpha: float = 0.05) -> DigitsFlow:
    torch.manual_seed(0)
    dequantizer = dict(num_couplings=2, hidden=8, context_channels=2, net="mlp")
    model = DigitsFlow(dequantization, num_levels=LEVELS, image_shape=(1, 2), num_checkerboard=2, net="mlp",
                       hidden=8, dropout=0.0, alpha=alpha, dequantizer=dequantizer)
    model = _spread(model, 0.4)
    for m in model.modules():
        if isinstance(m, ActNorm):
            m.initialized.fill_(True)
    return model


def _support() -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(LEVELS), repeat=2)))


def _exact_log_p(model: DigitsFlow, points: int = 200) -> torch.Tensor:
    """log P(x) = log int_{[0,1)^2} p_y(x + u) du for every x of the support (midpoint rule, points^2 nodes)."""
    t = (torch.arange(points) + 0.5) / points
    u = torch.cartesian_prod(t, t).view(-1, 1, 1, 2)
    with torch.no_grad():
        return torch.stack([torch.logsumexp(model.log_density(x.float().view(1, 1, 1, 2) + u), 0)
                            for x in _support()]) - math.log(len(u))


@pytest.mark.parametrize("dequantization", ["uniform", "variational"])
def test_digits_flow_bounds_lie_below_the_exact_log_probability(dequantization):
    model = _tiny(dequantization)
    log_p = _exact_log_p(model)
    assert torch.logsumexp(log_p, 0).exp().item() <= 1 + 1e-3  # sub-normalised: mass outside the cells is lost
    support, repeats = _support(), 2000
    torch.manual_seed(1)
    with torch.no_grad():
        elbo = model.elbo(support.repeat(repeats, 1)).view(repeats, -1)
        iw = model.iw_bound(support.repeat(200, 1), k=50).view(200, -1)
    elbo_mean, elbo_se = elbo.mean(0), elbo.std(0) / math.sqrt(repeats)
    assert (elbo_mean <= log_p + 3 * elbo_se + 1e-3).all()
    assert (iw.mean(0) <= log_p + 3 * iw.std(0) / math.sqrt(200) + 1e-3).all()
    assert (iw.mean(0) >= elbo_mean - 3 * elbo_se).all()  # k = 50 is no looser than one sample


def test_planted_bug_a_forgotten_cube_log_det_breaks_the_bound(monkeypatch):
    model = _tiny("uniform")
    log_p = _exact_log_p(model)
    from course_lib.metrics import dequantization as dq

    def forgetful(y, num_levels, alpha=dq.ALPHA):  # the logit's log-det only, not the cube's -D log L
        return dq.logit_transform(y / num_levels, alpha)

    monkeypatch.setattr(flows, "logit_preprocess", forgetful)
    with torch.no_grad():
        elbo = model.elbo(_support().repeat(500, 1)).view(500, -1).mean(0)
    assert (elbo > log_p + 1.0).any()  # 2 log 3 = 2.2 nats "better" than the truth: caught


def _sampling_pvalue(model: DigitsFlow, log_p: torch.Tensor, n: int = 20_000) -> float:
    samples = model.sample(n, generator=torch.Generator().manual_seed(0))
    cells = (samples[:, 0] * LEVELS + samples[:, 1]).numpy()
    observed = np.bincount(cells, minlength=LEVELS**2)
    expected = (log_p - torch.logsumexp(log_p, 0)).exp().double().numpy()
    expected = expected / expected.sum() * observed.sum()
    return float(stats.chisquare(observed, expected).pvalue)


@pytest.mark.parametrize("dequantization", ["uniform", "variational"])
def test_digits_flow_samples_follow_the_normalised_discrete_model(dequantization):
    model = _tiny(dequantization)
    log_p = _exact_log_p(model)
    samples = model.sample(300, generator=torch.Generator().manual_seed(5))
    assert samples.dtype == torch.long and samples.shape == (300, 2)
    assert _sampling_pvalue(model, log_p) > 1e-3


def test_planted_bug_a_sampler_that_clamps_instead_of_redrawing_is_caught(monkeypatch):
    model = _tiny("uniform", alpha=0.3)  # a wide margin: the flow puts much of its mass outside the cells
    log_p = _exact_log_p(model)
    assert torch.logsumexp(log_p, 0).exp() < 0.8
    assert _sampling_pvalue(model, log_p) > 1e-3  # redrawing is right

    def clamped(n, context, generator):
        y = flows.logit_postprocess(model.flow.sample(n, generator=generator), LEVELS, model.alpha)
        return y.floor().clamp(0, LEVELS - 1).flatten(1).long()

    monkeypatch.setattr(model, "_sample", clamped)
    assert _sampling_pvalue(model, log_p) < 1e-3


def test_digits_flow_checks_its_input():
    model = _tiny("uniform")
    with pytest.raises(TypeError, match="dtype"):
        model.elbo(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="levels"):
        model.elbo(torch.full((2, 2), LEVELS))
    with pytest.raises(ValueError, match="shape"):
        model.elbo(torch.zeros(2, 3, dtype=torch.long))
    assert not hasattr(model, "log_prob")  # a bound is not a log-probability


# ---- learning on the digits --------------------------------------------------------------------------------------

def test_digits_flow_beats_the_independent_pixel_baseline_on_held_out_digits():
    from course_lib.data import load_digits_split
    from course_lib.ladder.ch02 import fit_independent
    from course_lib.metrics import mean_nll
    from course_lib.train import fit

    split = load_digits_split()
    baseline = mean_nll(fit_independent(split)[0].log_prob, split.val)
    torch.manual_seed(0)
    model = DigitsFlow("uniform", num_checkerboard=4, net="mlp", hidden=128, dropout=0.2)
    fit(model, split.train, epochs=6, lr=2e-3, batch_size=64, progress=False)
    with torch.no_grad():
        bound = -model.elbo(split.val).mean().item()
    assert bound < baseline, (bound, baseline)
