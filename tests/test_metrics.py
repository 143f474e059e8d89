import math

import pytest
import torch

from course_lib import metrics


def test_bits_per_dim_of_uniform_17_levels():
    nll = 64 * math.log(17)
    assert metrics.bits_per_dim(nll, 64) == pytest.approx(math.log2(17))


def test_mean_nll_batches_agree():
    dist = torch.distributions.Normal(0.0, 1.0)
    x = torch.randn(1000, 3)

    def log_prob(b):
        return dist.log_prob(b).sum(-1)

    assert metrics.mean_nll(log_prob, x, batch_size=7) == pytest.approx(-log_prob(x).mean().item(), rel=1e-5)


def test_mean_nll_rejects_wrong_shape():
    with pytest.raises(ValueError, match="one value per example"):
        metrics.mean_nll(lambda b: b, torch.zeros(4, 2))
