"""The chapter 03 checks: stubs not attempted, every listed wrong answer recognised, references correct."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.check import ch03
from course_lib.check.testing import assert_exercise_behaves, exercises_of
from course_lib.data.text import VOCAB
from course_lib.models.made import made_masks as library_made_masks
from course_lib.models.transformer import causal_attention_mask as library_causal_mask
from course_lib.nn import MaskedConv2d as LibraryMaskedConv2d


@pytest.mark.parametrize("exercise", exercises_of(ch03), ids=lambda e: e.name)
def test_exercise_behaves(exercise):
    assert_exercise_behaves(exercise)


def test_the_nine_exercises_are_checked():
    names = {e.name for e in exercises_of(ch03)}
    assert names == {"bigram_log_likelihood", "sample_with_temperature", "made_masks", "causal_attention_mask",
                     "top_p_probs", "interpolated_perplexity", "MaskedConv2d", "ar_autocorrelation",
                     "sample_autoregressive"}


def test_check_vocab_is_the_data_vocab():
    assert ch03.VOCAB == VOCAB


# float32 student-style solutions (as in the solution notebook) and the library's versions pass


def bigram_log_likelihood(counts, word, alpha):
    probs = (counts + alpha) / (counts + alpha).sum(1, keepdim=True)
    ids = [VOCAB.index(c) for c in "." + word + "."]
    return sum(probs[a, b].log() for a, b in zip(ids[:-1], ids[1:], strict=True))


def sample_with_temperature(logits, temperature, u):
    cdf = torch.softmax(logits / temperature, dim=-1).cumsum(-1)
    return torch.searchsorted(cdf, u[:, None], right=True).squeeze(1).clamp(max=logits.shape[-1] - 1)


def sample_autoregressive(model, u, order):
    n, D = u.shape
    x = torch.zeros(n, D, dtype=torch.long)
    for i in order.tolist():
        probs = torch.softmax(model.logits(x)[:, i], -1)
        x[:, i] = torch.searchsorted(probs.cumsum(-1), u[:, i:i + 1].to(probs.dtype), right=True).squeeze(1)
    return x.clamp(max=model.num_levels - 1)


def top_p_probs(logits, top_p):
    probs = torch.softmax(logits, -1)
    values, order = probs.sort(-1, descending=True)
    values = values * (values.cumsum(-1) - values < top_p)
    return torch.zeros_like(probs).scatter(-1, order, values / values.sum(-1, keepdim=True))


def interpolated_perplexity(counts, words, lam):
    bigram = counts / counts.sum(1, keepdim=True)
    unigram = counts.sum(0) / counts.sum()
    log_p = (lam * bigram + (1 - lam) * unigram).log()
    total, n = 0.0, 0
    for w in words:
        ids = [VOCAB.index(c) for c in "." + w + "."]
        total += sum(log_p[a, b] for a, b in zip(ids[:-1], ids[1:], strict=True))
        n += len(ids) - 1
    return torch.exp(-total / n)


def ar_autocorrelation_by_simulation_of_the_equations(phi, max_lag):
    """Another route: iterate rho_k = sum_i phi_i rho_{|k-i|} for the first p lags to a fixed point."""
    p = len(phi)
    rho = torch.zeros(max_lag + 1, dtype=torch.float64)
    rho[0] = 1
    for _ in range(2000):
        for k in range(1, p + 1):
            rho[k] = sum(phi[i - 1] * rho[abs(k - i)] for i in range(1, p + 1))
    for k in range(p + 1, max_lag + 1):
        rho[k] = sum(phi[i - 1] * rho[k - i] for i in range(1, p + 1))
    return rho


class StudentMaskedConv2d(nn.Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size, mask_type):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        c = kernel_size // 2
        mask = torch.ones_like(self.weight)
        mask[:, :, c, c + (mask_type == "B"):] = 0
        mask[:, :, c + 1:] = 0
        self.register_buffer("mask", mask)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


@pytest.mark.parametrize("exercise, solution", [
    (ch03.bigram_log_likelihood, bigram_log_likelihood),
    (ch03.sample_with_temperature, sample_with_temperature),
    (ch03.sample_autoregressive, sample_autoregressive),
    (ch03.MaskedConv2d, StudentMaskedConv2d),
    (ch03.top_p_probs, top_p_probs),
    (ch03.interpolated_perplexity, interpolated_perplexity),
    (ch03.ar_autocorrelation, ar_autocorrelation_by_simulation_of_the_equations),
], ids=lambda v: getattr(v, "name", ""))
def test_other_correct_solutions_pass(exercise, solution):
    result = exercise.evaluate(solution)
    assert result.outcome == "correct", result.message


@pytest.mark.parametrize("exercise, delegation", [
    (ch03.MaskedConv2d, lambda i, o, k, t: LibraryMaskedConv2d(i, o, k, t)),
    (ch03.made_masks, library_made_masks),
    (ch03.causal_attention_mask, library_causal_mask),
], ids=["MaskedConv2d", "made_masks", "causal_attention_mask"])
def test_the_library_own_implementation_is_not_a_solution(exercise, delegation):
    result = exercise.evaluate(delegation)
    assert result.outcome == "incorrect"
    assert "library's own implementation" in result.message, result.message
