"""The VAE: shapes, the closed-form KL, the reparameterisation's gradients, the bound against the exact
log-likelihood (2-D latent, grid integration), a short training run, the conditional model, the ladder entry
and the latent explorer."""

import math

import pytest
import torch

from course_lib.data import load_digits_split
from course_lib.metrics import importance_weighted_log_likelihood
from course_lib.models.vae import (
    VAE,
    diagonal_normal_log_prob,
    gaussian_kl_to_standard_normal,
    grid_log_likelihood,
    reparameterize,
    standard_normal_log_prob,
)
from course_lib.train import fit


@pytest.fixture(scope="module")
def split():
    return load_digits_split()


@pytest.mark.parametrize("data", ["digits17", "digits2"])
@pytest.mark.parametrize("decoder", ["mlp", "conv"])
def test_shapes_and_types(data, decoder):
    torch.manual_seed(0)
    model = VAE(data, latent_dim=3, hidden=16, decoder=decoder, channels=4)
    x = torch.randint(0, 17, (5, 64)) if data == "digits17" else torch.randint(0, 2, (5, 64)).float()
    assert model.elbo(x).shape == (5,)
    assert model.loss(x)["loss"].dim() == 0
    assert model.log_weights(x, 7).shape == (7, 5)
    s = model.sample(4, generator=torch.Generator().manual_seed(1))
    assert s.shape == (4, 64)
    if data == "digits17":
        assert s.dtype == torch.long and 0 <= int(s.min()) and int(s.max()) <= 16
    else:
        assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert not hasattr(model, "log_prob")  # a VAE has a bound, not a log-probability
    with pytest.raises(ValueError, match="flatten"):
        model.elbo(x.view(5, 8, 8))


def test_sampling_with_a_generator_is_reproducible():
    model = VAE("digits17", latent_dim=2, hidden=16)
    a = model.sample(6, generator=torch.Generator().manual_seed(3))
    b = model.sample(6, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_closed_form_kl_matches_monte_carlo():
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    logvar = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    eps = torch.randn(200_000, 3, 4, generator=gen, dtype=torch.float64)
    z = reparameterize(mu, logvar, eps)
    mc = (diagonal_normal_log_prob(z, mu, logvar) - standard_normal_log_prob(z)).mean(0)
    closed = gaussian_kl_to_standard_normal(mu, logvar)
    assert torch.allclose(mc, closed, atol=0.05, rtol=0.01)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                            torch.distributions.Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(closed, ref)


def test_gradients_flow_through_the_reparameterisation():
    mu = torch.randn(5, 3, requires_grad=True)
    logvar = torch.randn(5, 3, requires_grad=True)
    eps = torch.randn(5, 3)
    reparameterize(mu, logvar, eps).sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))
    assert torch.allclose(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps)
    model = VAE("digits2", latent_dim=2, hidden=16)
    model.loss(torch.randint(0, 2, (8, 64)).float())["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


@pytest.fixture(scope="module")
def tiny_trained(split):
    """A VAE with a 2-D latent space, trained briefly on binarised digits: its log p(x) is computable."""
    torch.manual_seed(0)
    model = VAE("digits2", latent_dim=2, hidden=64)
    fit(model, split.binarized(split.train), epochs=15, batch_size=64, lr=3e-3, progress=False)
    return model


def test_elbo_below_exact_and_iwae_rises_towards_it(split, tiny_trained):
    model = tiny_trained
    x = split.binarized(split.test[:20])
    torch.manual_seed(1)
    exact = grid_log_likelihood(model, x, limit=5.0, points=161).mean().item()
    elbo = torch.stack([model.elbo(x) for _ in range(50)]).mean().item()
    repeats = {1: 20, 10: 20, 100: 4, 1000: 1}  # repeat the images to average out the noise of small k
    iwae = {k: importance_weighted_log_likelihood(model.log_weights, x.repeat(r, 1), k=k).mean().item()
            for k, r in repeats.items()}
    assert elbo < exact - 0.1  # the bound is strictly below, by more than the Monte Carlo noise
    assert abs(iwae[1] - elbo) < 1.0  # k = 1 is a one-sample ELBO
    assert iwae[1] < iwae[10] < iwae[100] < iwae[1000] <= exact + 0.05
    assert exact - iwae[1000] < 0.25 * (exact - elbo)


def test_grid_integration_is_converged(split, tiny_trained):
    x = split.binarized(split.test[:5])
    coarse = grid_log_likelihood(tiny_trained, x, limit=5.0, points=161)
    fine = grid_log_likelihood(tiny_trained, x, limit=7.0, points=321)
    assert torch.allclose(coarse, fine, atol=0.02)


def test_grid_integration_in_chunks_is_the_same_sum():
    """The grid is visited a chunk at a time (bounded memory); the chunks' logsumexps combine exactly."""
    torch.manual_seed(0)
    model = VAE("digits17", latent_dim=2, hidden=16)
    x = torch.randint(0, 17, (5, 64))
    whole = grid_log_likelihood(model, x, points=31, pairs_per_chunk=10**9)
    for chunk in (1, 7, 64):
        assert torch.allclose(grid_log_likelihood(model, x, points=31, pairs_per_chunk=chunk), whole, atol=1e-4)


def test_short_training_beats_the_uniform_baseline(split):
    torch.manual_seed(0)
    model = VAE("digits17", latent_dim=4, hidden=64, decoder="conv", channels=8)
    fit(model, split.train, epochs=3, batch_size=64, lr=3e-3, progress=False)
    model.eval()
    neg_elbo = -model.elbo(split.val).mean().item()
    assert neg_elbo < 64 * math.log(17) - 30  # uniform over 17 levels: 181.3 nats per image


def test_kl_weight_is_beta_times_kl_scale_in_training_and_beta_in_eval():
    torch.manual_seed(0)
    model = VAE("digits2", latent_dim=2, hidden=8, beta=2.0)
    assert model.kl_scale == 1.0 and "steps_taken" not in dict(model.named_buffers())
    x = torch.randint(0, 2, (3, 64)).float()

    def loss_at(scale, training):
        model.kl_scale = scale
        model.train(training)
        torch.manual_seed(1)  # the same reparameterisation noise for every call
        out = model.loss(x)
        return out["loss"].item(), out["reconstruction"].item(), out["kl"].item()

    for scale in (0.0, 0.25, 1.0):
        loss, rec, kl = loss_at(scale, True)
        assert loss == pytest.approx(rec + 2.0 * scale * kl, rel=1e-6)
        eval_loss, rec, kl = loss_at(scale, False)  # eval mode: the weight is beta whatever the warm-up says
        assert eval_loss == pytest.approx(rec + 2.0 * kl, rel=1e-6)


def test_conditional_vae():
    torch.manual_seed(0)
    model = VAE("digits17", latent_dim=2, hidden=16, num_classes=10)
    x, y = torch.randint(0, 17, (6, 64)), torch.randint(0, 10, (6,))
    assert model.elbo(x, y).shape == (6,)
    assert model.log_weights(x, 5, y).shape == (5, 6)
    assert model.sample(3, context=torch.full((3,), 7)).shape == (3, 64)
    assert grid_log_likelihood(model, x, y, points=41).shape == (6,)
    with pytest.raises(ValueError, match="labels"):
        model.elbo(x)
    with pytest.raises(ValueError, match="labels"):
        model.sample(3)
    with pytest.raises(TypeError, match="torch.full"):
        model.sample(3, context=7)  # one label per sample, as a tensor
    with pytest.raises(ValueError, match="labels"):
        model.elbo(x, y + 10)  # labels out of range


def test_ladder_entry_fast(split):
    from course_lib.ladder.ch04 import vae_entry

    rows = vae_entry(split, fast=True, seed=0)
    assert [r.kind for r in rows] == ["bound", "estimate"]
    assert all(r.data == "digits17" and r.chapter == "04" and r.params > 0 for r in rows)
    assert rows[1].test_nll_nats < rows[0].test_nll_nats < 64 * math.log(17) + 5


def test_latent_explorer_decodes_the_slider_point():
    import ipywidgets as widgets

    from course_lib.widgets import LatentView, decode_point, latent_explorer, slider

    torch.manual_seed(0)
    model = VAE("digits17", latent_dim=3, hidden=16)
    embedding, labels = torch.randn(20, 3), torch.randint(0, 10, (20,))
    explorer = latent_explorer(model, embedding=embedding, labels=labels, dims=(0, 2))
    assert isinstance(explorer, widgets.interactive)
    first = explorer.result
    assert isinstance(first, LatentView) and first.image.shape == (8, 8)
    slider(explorer, "z1").value = 1.5
    slider(explorer, "z2").value = -2.0
    view = explorer.result
    assert view.z.tolist() == pytest.approx([1.5, 0.0, -2.0])
    assert view.image == pytest.approx(decode_point(model, torch.tensor([1.5, 0.0, -2.0])))
    assert 0.0 <= view.image.min() and view.image.max() <= 16.0
    cvae = VAE("digits2", latent_dim=2, hidden=16, num_classes=10)
    with pytest.raises(ValueError, match="conditional"):
        latent_explorer(cvae)
    assert latent_explorer(cvae, y=3).result.image.max() <= 1.0


def test_binarised_ladder_entry_fast(split):
    from course_lib.ladder.ch04 import vae_binary_entry

    rows = vae_binary_entry(split, fast=True, seed=0)
    assert [r.kind for r in rows] == ["bound", "estimate"] and all(r.data == "digits2" for r in rows)
    assert rows[1].test_nll_nats < rows[0].test_nll_nats < 64 * math.log(2) + 5
