"""The IWAE: its k-sample bound lies between the ELBO and the exact log-likelihood on a tiny model whose
log p(x) is computed by grid integration, and a small IWAE learns (beats independent pixels on held-out digits)."""

import math

import pytest
import torch

from course_lib.data import load_digits_split
from course_lib.ladder.ch02 import fit_independent
from course_lib.metrics import mean_nll
from course_lib.models.iwae import IWAE
from course_lib.models.vae import grid_log_likelihood
from course_lib.train import fit


@pytest.fixture(scope="module")
def split():
    return load_digits_split()


def _sharp_tiny_iwae(k: int) -> IWAE:
    """A 2-D latent IWAE whose decoder depends strongly on z: a sharp posterior that q misses, so gaps are large."""
    torch.manual_seed(0)
    model = IWAE("digits17", latent_dim=2, hidden=16, decoder="mlp", k=k).eval()
    with torch.no_grad():
        model.decoder.net[0].weight.mul_(6.0)
    return model


def _mean_and_se(draws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return draws.mean(0), draws.std(0) / math.sqrt(len(draws))


def test_k_sample_bound_lies_between_the_elbo_and_the_exact_log_likelihood(split):
    model = _sharp_tiny_iwae(k=20)
    x = split.test[:6]
    exact = grid_log_likelihood(model, x, limit=6.0, points=241)
    torch.manual_seed(1)
    with torch.no_grad():
        elbo, elbo_se = _mean_and_se(torch.stack([model.elbo(x) for _ in range(400)]))
        bound, bound_se = _mean_and_se(torch.stack([model.iw_bound(x) for _ in range(400)]))
    assert (bound - 4 * bound_se > elbo + 4 * elbo_se).all()  # strictly tighter than the ELBO here
    assert (bound - 4 * bound_se < exact).all()  # and still below log p(x)
    assert (exact - elbo).mean() > 1.0  # the model is not trivial: the ELBO's gap is real


def test_k_equal_to_one_is_an_elbo_and_the_bound_rises_with_k(split):
    model = _sharp_tiny_iwae(k=1)
    x = split.test[:6]
    torch.manual_seed(2)
    with torch.no_grad():
        draws = {k: torch.stack([model.iw_bound(x, k=k) for _ in range(300)]).mean(1) for k in (1, 4, 32)}
        elbo = torch.stack([model.elbo(x) for _ in range(300)]).mean(1)
    (m1, s1), (m4, s4), (m32, s32), (me, se) = (_mean_and_se(d) for d in (*draws.values(), elbo))
    assert abs(m1 - me) < 4 * (s1**2 + se**2).sqrt()  # the same expectation, estimated two ways
    assert m1 + 4 * s1 < m4 - 4 * s4 and m4 + 4 * s4 < m32 - 4 * s32


def test_loss_is_the_negative_bound_and_the_kl_weight_enters_the_weights(split):
    model = _sharp_tiny_iwae(k=3)
    x = split.test[:5]
    torch.manual_seed(3)
    loss = model.loss(x)["loss"]
    torch.manual_seed(3)
    assert torch.allclose(loss, -model.iw_bound(x).mean())
    model.train()
    model.kl_scale = 0.0  # warm-up at its start: the weights are p(x | z) alone
    torch.manual_seed(4)
    with torch.no_grad():
        warm = model.loss(x)["loss"]
        torch.manual_seed(4)
        plain = -model.iw_bound(x, kl_weight=0.0).mean()
    assert torch.allclose(warm, plain)


def test_bad_k_is_refused():
    with pytest.raises(ValueError, match="positive"):
        IWAE("digits17", latent_dim=2, k=0)


def test_iwae_learns_better_than_independent_pixels(split):
    torch.manual_seed(0)
    model = IWAE("digits17", latent_dim=8, hidden=128, decoder="mlp", dropout=0.1, k=4)
    fit(model, split.train, split.val, epochs=12, lr=2e-3, batch_size=64, progress=False, seed=0)
    with torch.no_grad():
        neg_bound = -torch.stack([model.iw_bound(split.test, k=4) for _ in range(3)]).mean().item()
    baseline, _ = fit_independent(split)
    independent = mean_nll(baseline.log_prob, split.test)
    assert neg_bound < independent - 2.0, (neg_bound, independent)  # a bound, so the comparison is conservative
