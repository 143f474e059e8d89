"""MADE: masks, the autoregressive property, exact normalisation, and learning on binarised digits."""

import itertools
import math

import torch

from course_lib.data import DigitsSplit, load_digits_split
from course_lib.models.made import MADE, hidden_degrees, made_masks
from course_lib.train import fit


def open_made_masks(d_in, d_hidden, d_out):
    """The 10-line construction shown in the lecture (kept identical to the notebook's cell)."""
    masks, previous = [], d_in
    for d in d_hidden:
        masks.append((d[:, None] >= previous[None, :]).float())  # hidden: sees degrees <= its own
        previous = d
    masks.append((d_out[:, None] > previous[None, :]).float())  # output: strictly smaller degrees
    return masks


def test_library_masks_agree_with_the_lecture_construction():
    torch.manual_seed(0)
    d_in = torch.randperm(6) + 1
    d_hidden = [torch.randint(1, 6, (9,)), torch.randint(1, 6, (7,))]
    for a, b in zip(made_masks(d_in, d_hidden, d_in), open_made_masks(d_in, d_hidden, d_in), strict=True):
        assert torch.equal(a, b)


def test_hidden_degrees_cover_one_to_d_minus_one():
    d = hidden_degrees(10, 4)
    assert set(d.tolist()) == {1, 2, 3}


def jacobian_of_made(model):
    """(D, D): |d logits_i / d onehot(x_j)| summed over levels, at a random input."""
    D, K = model.num_dims, model.num_levels
    h = torch.rand(D * K)

    def f(v):
        return model.logits_from_onehot(v[None])[0].sum(-1)  # (D,)

    jac = torch.autograd.functional.jacobian(f, h)  # (D, D*K)
    return jac.abs().view(D, D, K).sum(-1)


def test_autoregressive_property():
    torch.manual_seed(0)
    for K in (2, 5):
        model = MADE(num_dims=7, num_levels=K, hidden=(32, 32))
        jac = jacobian_of_made(model)
        j, i = torch.meshgrid(torch.arange(7), torch.arange(7), indexing="xy")
        assert (jac[j >= i] == 0).all(), "output i depends on an input j >= i"
        assert (jac[j < i] > 0).any()


def test_log_prob_normalises_by_enumeration():
    torch.manual_seed(0)
    model = MADE(num_dims=3, num_levels=3, hidden=(16,)).eval()
    xs = torch.tensor(list(itertools.product(range(3), repeat=3)))  # all 27 configurations
    total = torch.logsumexp(model.log_prob(xs), 0)
    assert abs(total.item()) < 1e-5


def test_samples_have_the_right_shape_and_range():
    model = MADE(num_dims=6, num_levels=4, hidden=(16,))
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 6) and x.min() >= 0 and x.max() < 4


def test_beats_independent_pixels_on_held_out_binarised_digits():
    split = load_digits_split()
    train = DigitsSplit.binarized(split.train).long()
    val = DigitsSplit.binarized(split.val).long()
    p = (train.float().mean(0) * 1000 + 1) / 1002  # independent Bernoulli, smoothed
    independent = -(val * p.log() + (1 - val) * (1 - p).log()).sum(1).mean().item()
    torch.manual_seed(0)
    model = MADE(num_dims=64, num_levels=2, hidden=(128,))
    fit(model, train, epochs=10, lr=1e-2, batch_size=50, progress=False)
    nll = -model.log_prob(val).mean().item()
    assert nll < independent - 3, (nll, independent)
    assert independent < 64 * math.log(2)


def test_ladder_entries_in_fast_mode():
    from course_lib.ladder import ch03

    split = load_digits_split()
    (binary,) = ch03.made_binarised(split, fast=True, seed=0)
    (levels,) = ch03.made_17(split, fast=True, seed=0)
    assert (binary.data, binary.kind, levels.data, levels.kind) == ("digits2", "exact", "digits17", "exact")
    assert binary.test_nll_nats < 64 * math.log(2) and levels.test_nll_nats < 64 * math.log(17)
