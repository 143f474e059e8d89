"""The GAN losses, the gradient penalty, spectral norm and the GAN model's interface (course_lib.models.gan)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.config import torch_threads
from course_lib.models import gan as G
from course_lib.models.gan import (
    GAN,
    conditional_dcgan,
    dcgan,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    mlp_gan,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


# ---- losses ------------------------------------------------------------------------------------------------

def test_discriminator_loss_is_bce_on_logits_with_data_labelled_one():
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(7, generator=gen), torch.randn(5, generator=gen)
    expected = (F.binary_cross_entropy_with_logits(real, torch.ones(7))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros(5)))
    assert torch.allclose(discriminator_loss(real, fake), expected)
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    assert torch.allclose(discriminator_loss(real, fake), -(d_real.log().mean() + (1 - d_fake).log().mean()))
    # stable where log(sigmoid(.)) is not: a confident, wrong discriminator
    extreme = discriminator_loss(torch.tensor([-200.0]), torch.tensor([200.0]))
    assert torch.isfinite(extreme) and extreme.item() == pytest.approx(400.0)
    # at D = 1/2 everywhere the loss is log 4
    assert discriminator_loss(torch.zeros(3), torch.zeros(4)).item() == pytest.approx(math.log(4))


def test_generator_losses_and_their_gradients():
    logits = torch.tensor([-6.0, 0.0, 3.0], requires_grad=True)
    d = torch.sigmoid(logits.detach())
    ns = generator_loss(logits, "non_saturating")
    assert ns.item() == pytest.approx(-d.log().mean().item())
    (grad_ns,) = torch.autograd.grad(ns, logits)
    sat = generator_loss(logits, "saturating")
    assert sat.item() == pytest.approx((1 - d).log().mean().item())
    (grad_sat,) = torch.autograd.grad(sat, logits)
    # d/dl of -log sigmoid(l) is -(1 - D); of log(1 - sigmoid(l)) is -D: the saturating one vanishes as D -> 0
    assert torch.allclose(grad_ns, -(1 - d) / 3) and torch.allclose(grad_sat, -d / 3)
    assert abs(grad_sat[0]) < 0.01 * abs(grad_ns[0])
    with pytest.raises(ValueError, match="non_saturating"):
        generator_loss(logits, "minimax")


def test_wasserstein_losses():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.5, -0.5, 0.0])
    assert wasserstein_critic_loss(real, fake).item() == pytest.approx(0.0 - 2.0)
    assert wasserstein_generator_loss(fake).item() == pytest.approx(0.0)


def test_trained_discriminator_approaches_the_optimal_one_in_1d():
    """D*(x) = p(x) / (p(x) + q(x)) for p = N(0, 1) data and q = N(1.5, 0.7^2) samples."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    p, q = torch.distributions.Normal(0.0, 1.0), torch.distributions.Normal(1.5, 0.7)
    for _ in range(600):
        real = p.sample((512, 1))
        fake = 1.5 + 0.7 * torch.randn(512, 1, generator=gen)
        loss = discriminator_loss(net(real), net(fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = torch.linspace(-1.5, 2.5, 41)[:, None]
    optimal = torch.sigmoid(p.log_prob(x) - q.log_prob(x))  # p / (p + q)
    with torch.no_grad():
        trained = torch.sigmoid(net(x))
    assert (trained - optimal).abs().max() < 0.06


# ---- gradient penalty --------------------------------------------------------------------------------------

class _HalfSquaredNorm(nn.Module):
    """f(x) = 0.5 ||x||^2 per sample: grad f(x) = x, so each sample's gradient norm is its own norm."""

    def forward(self, x, context=None):
        return 0.5 * x.flatten(1).pow(2).sum(1)


def test_gradient_penalty_takes_the_norm_per_sample():
    x = torch.tensor([[3.0, 4.0], [0.6, 0.8], [0.0, 0.0]])  # norms 5, 1, 0
    penalty = gradient_penalty(_HalfSquaredNorm(), x, x.clone())  # x_hat = x whatever eps is
    assert penalty.item() == pytest.approx(((5 - 1) ** 2 + 0 + 1) / 3)
    # over images too: the norm covers every event dimension of one sample
    images = torch.zeros(2, 1, 2, 2)
    images[0, 0, 0, 0], images[1, 0, 1, 1] = 2.0, 1.0
    assert gradient_penalty(_HalfSquaredNorm(), images, images.clone()).item() == pytest.approx(0.5)


def test_gradient_penalty_draws_one_weight_per_sample_and_accepts_eps():
    real, fake = torch.ones(6, 3), torch.zeros(6, 3)
    eps = torch.rand(6, generator=torch.Generator().manual_seed(5))
    norms = eps * math.sqrt(3)  # x_hat = eps * 1
    expected = (norms - 1).pow(2).mean().item()
    assert gradient_penalty(_HalfSquaredNorm(), real, fake, eps=eps).item() == pytest.approx(expected)
    drawn = gradient_penalty(_HalfSquaredNorm(), real, fake, generator=torch.Generator().manual_seed(5))
    assert drawn.item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="one interpolation weight per sample"):
        gradient_penalty(_HalfSquaredNorm(), real, fake, eps=torch.rand(1))


def test_gradient_penalty_is_differentiable_in_the_critic_weights():
    critic = nn.Linear(3, 1, bias=False)  # grad_x = w for every sample: penalty (||w|| - 1)^2
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[2.0, 0.0, 0.0]]))
    penalty = gradient_penalty(critic, torch.randn(4, 3), torch.randn(4, 3))
    penalty.backward()
    assert penalty.item() == pytest.approx(1.0)
    assert torch.allclose(critic.weight.grad, torch.tensor([[2.0, 0.0, 0.0]]))  # 2 (||w|| - 1) w / ||w||


# ---- spectral norm ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("build", [lambda: mlp_gan(spectral_norm=True), lambda: dcgan(spectral_norm=True)])
def test_spectral_norm_makes_the_largest_singular_value_about_one(build):
    torch.manual_seed(0)
    model = build().train()
    with torch.no_grad():
        for _ in range(30):  # each training-mode forward pass runs one power iteration
            model.discriminate(torch.randn(8, *model.event_shape))
    layers = [m for m in model.discriminator.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert layers
    for layer in layers:
        weight = layer.weight.flatten(1)  # a conv's kernel as (out, in * k * k), as spectral_norm normalises it
        assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, abs=0.03)
    plain = mlp_gan(spectral_norm=False)
    norms = [torch.linalg.matrix_norm(m.weight, ord=2).item() for m in plain.discriminator.modules()
             if isinstance(m, nn.Linear)]
    assert max(abs(n - 1) for n in norms) > 0.1


# ---- the model's interface -----------------------------------------------------------------------------------

def test_sample_shape_generator_and_global_stream():
    model = mlp_gan()
    state = torch.get_rng_state()
    a = model.sample(10, generator=torch.Generator().manual_seed(0))
    b = model.sample(10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(state, torch.get_rng_state())
    assert a.shape == (10, 2) and torch.equal(a, b) and not a.requires_grad
    assert dcgan().eval().sample(3).shape == (3, 64)
    z = torch.randn(4, 32)
    assert dcgan().generate(z).abs().max() <= 1.0
    with pytest.raises(ValueError, match=r"\(B, 32\)"):
        dcgan().generate(torch.randn(4, 31))


def test_conditional_context_is_checked():
    model = conditional_dcgan().eval()
    assert model.sample(4, context=torch.tensor([0, 3, 9, 3])).shape == (4, 64)
    with pytest.raises(ValueError, match="conditional"):
        model.sample(4)
    with pytest.raises(ValueError, match="0..9"):
        model.sample(2, context=torch.tensor([1, 10]))
    with pytest.raises(ValueError, match="one integer class"):
        model.sample(2, context=torch.zeros(2, 10))
    with pytest.raises(ValueError, match="not conditional"):
        dcgan().sample(2, context=torch.tensor([1, 2]))


def test_a_gan_has_no_likelihood_and_its_loss_is_the_game_on_a_batch():
    torch.manual_seed(0)
    model = mlp_gan()
    assert not hasattr(model, "log_prob") and not hasattr(model, "elbo")
    out = model.loss(torch.zeros(3, 2))
    assert set(out) == {"loss", "discriminator_loss", "generator_loss"} and out["loss"] is out["discriminator_loss"]
    with pytest.raises(ValueError, match="shape"):
        model.loss(torch.zeros(3, 3))


def _counts(optimizer: torch.optim.Optimizer) -> int:
    states = [optimizer.state[p] for group in optimizer.param_groups for p in group["params"]]
    return int(states[0]["step"]) if states and "step" in states[0] else 0


@pytest.mark.parametrize("order", ["dict", "list", "reversed"])
def test_train_step_takes_two_optimisers_in_any_order_and_n_critic_steps(order):
    torch.manual_seed(0)
    model = mlp_gan(n_critic=3)
    opts = model.adam_optimizers(lr=1e-3)
    given = {"dict": opts, "list": [opts["generator"], opts["discriminator"]],
             "reversed": [opts["discriminator"], opts["generator"]]}[order]
    before = {k: [p.clone() for p in getattr(model, k).parameters()] for k in ("generator", "discriminator")}
    logs = model.train_step((torch.randn(16, 2),), given)
    assert {"discriminator_loss", "generator_loss", "d_real", "d_fake"} <= set(logs)
    assert _counts(opts["discriminator"]) == 3 and _counts(opts["generator"]) == 1
    for k, old in before.items():
        assert any(not torch.equal(a, b) for a, b in zip(old, getattr(model, k).parameters(), strict=True)), k


def test_train_step_rejects_wrong_optimisers():
    model = mlp_gan()
    with pytest.raises(ValueError, match="two optimisers"):
        model.train_step((torch.randn(8, 2),), torch.optim.Adam(model.parameters()))
    opts = model.adam_optimizers()
    with pytest.raises(ValueError, match="two optimisers"):
        model.train_step((torch.randn(8, 2),), [opts["generator"], opts["generator"]])
    with pytest.raises(ValueError, match="named 'discriminator'"):
        model.train_step((torch.randn(8, 2),), {"discriminator": opts["generator"], "generator": opts["discriminator"]})


def test_weight_clipping_gradient_penalty_and_gradient_norm_clipping():
    torch.manual_seed(0)
    model = mlp_gan(loss="wasserstein", weight_clip=0.01)
    model.train_step((torch.randn(16, 2),), model.adam_optimizers(lr=0.1))
    assert max(p.abs().max().item() for p in model.discriminator.parameters()) <= 0.01 + 1e-7
    gp = mlp_gan(loss="wasserstein", gradient_penalty=10.0)
    logs = gp.train_step((torch.randn(16, 2),), gp.adam_optimizers(), clip_grad=0.5)
    assert "gradient_penalty" in logs and "wasserstein_estimate" in logs
    assert "discriminator_grad_norm" in logs and "generator_grad_norm" in logs


def test_gan_step_inside_fit_with_ema_and_snapshots():
    from course_lib.train import EMA, Snapshots, fit

    torch.manual_seed(0)
    model = mlp_gan(hidden=16, layers=2)
    snaps = Snapshots(every=5, fn=lambda m: m.sample(20, generator=torch.Generator().manual_seed(0)))
    history = fit(model, torch.randn(64, 2), steps=10, batch_size=32, optimizer=model.adam_optimizers(),
                  callbacks=[EMA(0.9), snaps], progress=False, clip_grad=1.0)
    assert history.steps == 10 and len(history.step_log) == 10 and "generator_loss" in history.step_log[0]
    assert snaps.steps == [0, 5, 10] and snaps.values[0].shape == (20, 2)


def test_builders_are_registered():
    import course_lib.models as models

    assert models.GAN is GAN
    assert G.__doc__ and all(name in G.__doc__ for name in ("mlp_gan", "dcgan", "conditional_dcgan",
                                                            "gradient_penalty", "train_step"))
