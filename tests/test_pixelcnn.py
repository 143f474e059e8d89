"""PixelCNN and its symmetry mixture: raster-order property, exact normalisation, symmetries, learning."""

import itertools
import math

import pytest
import torch

from course_lib.data import load_digits_split
from course_lib.models.pixelcnn import (
    PixelCNN,
    SymmetryMixturePixelCNN,
    inverse_square_symmetry,
    square_symmetry,
)
from course_lib.train import fit


def test_autoregressive_property():
    """The logits of pixel i have zero gradient w.r.t. (the one-hot of) every pixel j >= i in raster order."""
    torch.manual_seed(0)
    model = PixelCNN(num_levels=3, image_shape=(5, 5), channels=8, num_blocks=3, first_kernel=5).eval()
    x = torch.nn.functional.one_hot(torch.randint(0, 3, (1, 5, 5)), 3).permute(0, 3, 1, 2).float()
    x.requires_grad_(True)

    def logits_from_onehot(h):
        return model.head(model.blocks(model.first(h)))

    out = logits_from_onehot(x)  # (1, 3, 5, 5)
    for i in range(25):
        (g,) = torch.autograd.grad(out[0, :, i // 5, i % 5].sum(), x, retain_graph=True)
        seen = g[0].abs().sum(0).flatten() > 0
        assert not seen[i:].any(), f"pixel {i} depends on itself or a later pixel"
        if i > 0:
            assert seen[:i].any()


def test_logistic_head_keeps_the_raster_order():
    """With the logistic-mixture head, changing pixel j never changes the logits of pixels i <= j."""
    torch.manual_seed(0)
    model = PixelCNN(num_levels=5, image_shape=(4, 4), channels=8, num_blocks=2, first_kernel=3,
                     logistic_components=2, ordinal_input=True).eval()
    x = torch.randint(0, 5, (1, 4, 4))
    base = model.logits(x)
    for j in range(16):
        y = x.clone()
        y[0, j // 4, j % 4] = (y[0, j // 4, j % 4] + 1) % 5
        changed = (model.logits(y) - base).abs().amax(1).flatten() > 1e-6  # (16,)
        assert not changed[:j + 1].any(), f"changing pixel {j} changed an earlier (or its own) logit"


@pytest.mark.parametrize("orderings, conditioned, ordinal, logistic, levels",
                         [(1, True, False, 0, 2), (8, True, False, 0, 2), (8, False, True, 0, 2),
                          (8, True, True, 2, 3)])
def test_log_prob_normalises_by_enumeration(orderings, conditioned, ordinal, logistic, levels):
    torch.manual_seed(0)
    model = SymmetryMixturePixelCNN(orderings, conditioned=conditioned, ordinal_input=ordinal, num_levels=levels,
                                    image_shape=(2, 2), channels=4, num_blocks=1, first_kernel=3,
                                    logistic_components=logistic).eval()
    if conditioned:
        torch.nn.init.normal_(model.pixelcnn.context_embedding.weight)  # make the orderings differ
    xs = torch.tensor(list(itertools.product(range(levels), repeat=4))).view(levels ** 4, 2, 2)
    assert abs(torch.logsumexp(model.log_prob(xs), 0).item()) < 1e-5


def test_symmetries_are_bijections_and_inverted():
    x = torch.arange(2 * 9).view(2, 3, 3)
    seen = set()
    for k in range(8):
        y = square_symmetry(x, k)
        assert torch.equal(inverse_square_symmetry(y, k), x)
        seen.add(tuple(y[0].flatten().tolist()))
    assert len(seen) == 8  # eight different orderings of the pixels


def test_mixture_log_prob_is_logsumexp_of_components():
    torch.manual_seed(0)
    model = SymmetryMixturePixelCNN(8, channels=8, num_blocks=1).eval()
    x = torch.randint(0, 17, (3, 64))
    comps = model.component_log_probs(x)
    assert torch.allclose(model.log_prob(x), torch.logsumexp(comps, 1) - math.log(8))


def test_samples_shape():
    model = SymmetryMixturePixelCNN(8, num_levels=17, channels=8, num_blocks=1)
    x = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 8, 8) and x.min() >= 0 and x.max() <= 16


def test_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="shape"):
        PixelCNN(channels=4, num_blocks=1).log_prob(torch.zeros(2, 7, dtype=torch.long))


def test_beats_independent_pixels_on_held_out_digits():
    split = load_digits_split()
    counts = torch.stack([torch.bincount(split.train[:, i], minlength=17) for i in range(64)]).float() + 0.1
    logp = (counts / counts.sum(1, keepdim=True)).log()  # (64, 17)
    independent = -logp[torch.arange(64), split.val].sum(1).mean().item()  # about 106 nats
    torch.manual_seed(0)
    model = PixelCNN(channels=16, num_blocks=2, first_kernel=5)
    fit(model, split.train, epochs=6, lr=5e-3, batch_size=50, progress=False)
    nll = -model.log_prob(split.val).mean().item()
    assert nll < independent - 5, (nll, independent)


def test_ladder_entry_in_fast_mode():
    from course_lib.ladder import ch03

    rows = ch03.pixelcnn_symmetries(load_digits_split(), fast=True, seed=0)
    assert len(rows) == 1 and rows[0].kind == "exact" and rows[0].data == "digits17"
    assert rows[0].test_nll_nats < 64 * math.log(17) and rows[0].params > 0
