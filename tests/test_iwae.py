"""The importance-weighted estimate on a model whose log p(x) is known in closed form.

z ~ N(0, 1), x | z ~ N(z, 1), so p(x) = N(x; 0, 2) and p(z | x) = N(x / 2, 1 / 2)."""

import math

import pytest
import torch

from course_lib.metrics import importance_weighted_log_likelihood, log_mean_exp
from course_lib.models.vae import diagonal_normal_log_prob


def _normal(v, mean, var):
    return -0.5 * ((v - mean) ** 2 / var + math.log(2 * math.pi * var))


def _log_weights(q_shift: float, q_var: float, gen: torch.Generator):
    def fn(x, k):
        mean = x / 2 + q_shift  # (b,)
        z = mean + math.sqrt(q_var) * torch.randn(k, len(x), generator=gen, dtype=torch.float64)
        log_q = diagonal_normal_log_prob(z.unsqueeze(-1), mean.unsqueeze(-1), torch.tensor(math.log(q_var)))
        return _normal(x, z, 1.0) + _normal(z, 0.0, 1.0) - log_q
    return fn


X = torch.linspace(-3, 3, 31, dtype=torch.float64)
EXACT = _normal(X, 0.0, 2.0)


def test_exact_posterior_gives_the_exact_value_for_every_k():
    fn = _log_weights(0.0, 0.5, torch.Generator().manual_seed(0))
    for k in (1, 5, 300):
        assert torch.allclose(importance_weighted_log_likelihood(fn, X, k=k, chunk=7), EXACT, atol=1e-10)


def test_estimate_rises_with_k_towards_the_exact_value():
    fn = _log_weights(1.2, 0.3, torch.Generator().manual_seed(0))  # a shifted, too narrow q
    means = [importance_weighted_log_likelihood(fn, X.repeat(20), k=k, batch_size=100).mean().item()
             for k in (1, 4, 16, 64, 512)]
    exact = EXACT.mean().item()
    assert all(a < b for a, b in zip(means, means[1:], strict=False))
    assert means[-1] <= exact + 1e-3
    assert exact - means[-1] < 0.2 and exact - means[0] > 1.0


def test_chunks_combine_exactly():
    log_w = torch.randn(10, 3, dtype=torch.float64)
    it = iter([log_w[:4], log_w[4:8], log_w[8:]])
    out = importance_weighted_log_likelihood(lambda x, m: next(it), torch.zeros(3), k=10, chunk=4)
    assert torch.allclose(out, log_mean_exp(log_w, 0))
    assert torch.allclose(out, torch.log(torch.exp(log_w).mean(0)))


def test_bad_shapes_and_k():
    with pytest.raises(ValueError, match="shape"):
        importance_weighted_log_likelihood(lambda x, m: torch.zeros(m), torch.zeros(3), k=2)
    with pytest.raises(ValueError, match="positive"):
        importance_weighted_log_likelihood(lambda x, m: torch.zeros(m, 3), torch.zeros(3), k=0)
