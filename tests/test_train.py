import math

import pytest
import torch
from torch import nn

from course_lib.train import History, evaluate_loss, fit


class DiagonalGaussian(nn.Module):
    """A learnable diagonal Gaussian: the smallest model with the course's interface."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(dim))
        self.log_std = nn.Parameter(torch.zeros(dim))

    def log_prob(self, x):
        return torch.distributions.Normal(self.mean, self.log_std.exp()).log_prob(x).sum(-1)

    def loss(self, x):
        return -self.log_prob(x).mean()


def test_fit_learns_a_gaussian_and_beats_the_initial_model():
    g = torch.Generator().manual_seed(0)
    data = torch.randn(600, 2, generator=g) * torch.tensor([0.5, 2.0]) + torch.tensor([1.0, -1.0])
    model = DiagonalGaussian(2)
    before = evaluate_loss(model, data[500:])
    history = fit(model, data[:500], data[500:], epochs=150, lr=0.05, batch_size=100, progress=False)
    assert isinstance(history, History) and len(history.train_loss) == len(history.val_loss)
    assert history.val_loss[history.best_epoch] == min(history.val_loss)
    assert evaluate_loss(model, data[500:]) < before - 0.5
    assert torch.allclose(model.mean, torch.tensor([1.0, -1.0]), atol=0.25)
    assert torch.allclose(model.log_std.exp(), torch.tensor([0.5, 2.0]), atol=0.25)


def test_fit_restores_the_best_weights_and_stops_early():
    data = torch.randn(200, 2)
    model = DiagonalGaussian(2)
    history = fit(model, data[:100], data[100:], epochs=200, lr=0.5, patience=3, progress=False)
    assert len(history.val_loss) < 200
    assert evaluate_loss(model, data[100:]) == pytest.approx(min(history.val_loss), rel=1e-5)


def test_fit_counts_steps():
    history = fit(DiagonalGaussian(2), torch.randn(100, 2), steps=7, batch_size=10, progress=False)
    assert history.steps == 7


class Exploding(DiagonalGaussian):
    def loss(self, x):
        return super().loss(x) * torch.tensor(math.nan) if self.mean.grad is not None else super().loss(x)


def test_fit_stops_on_nan_with_a_clear_message():
    with pytest.raises(FloatingPointError, match=r"at step 2 .*smaller learning rate"):
        fit(Exploding(2), torch.randn(64, 2), epochs=3, batch_size=32, progress=False)


def test_fit_passes_tuples_to_loss():
    class Conditional(DiagonalGaussian):
        def loss(self, x, y):
            assert len(x) == len(y)
            return super().loss(x)

    fit(Conditional(2), (torch.randn(50, 2), torch.arange(50)), epochs=1, progress=False)


def test_fit_rejects_bad_arguments():
    with pytest.raises(ValueError, match="exactly one"):
        fit(DiagonalGaussian(2), torch.randn(10, 2), progress=False)
    with pytest.raises(ValueError, match="validation"):
        fit(DiagonalGaussian(2), torch.randn(10, 2), epochs=1, patience=2, progress=False)
    with pytest.raises(ValueError, match="scalar"):
        model = DiagonalGaussian(2)
        model.loss = lambda x: -model.log_prob(x)
        fit(model, torch.randn(10, 2), epochs=1, progress=False)


def test_fit_does_not_swallow_exceptions():
    model = DiagonalGaussian(2)

    def broken(x):
        raise KeyError("boom")

    model.loss = broken
    with pytest.raises(KeyError):
        fit(model, torch.randn(10, 2), epochs=1, progress=False)
