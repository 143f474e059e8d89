"""Shared masked layers: masks applied without mutating weights, and the raster-order property of the convs."""

import pytest
import torch

from course_lib.nn import MLP, MaskedConv2d, MaskedLinear, RasterConv2d, conv_mask


def test_masked_linear_applies_mask_without_touching_the_weight():
    torch.manual_seed(0)
    mask = (torch.rand(4, 6) > 0.5).float()
    layer = MaskedLinear(6, 4, mask)
    before = layer.weight.detach().clone()
    x = torch.randn(3, 6, requires_grad=True)
    out = layer(x)
    assert torch.allclose(out, x @ (before * mask).T + layer.bias)
    out.sum().backward()
    assert torch.equal(layer.weight, before)
    assert (layer.weight.grad[mask == 0] == 0).all()


def test_masked_linear_rejects_a_wrong_mask_shape():
    with pytest.raises(ValueError, match="mask must have shape"):
        MaskedLinear(3, 2, torch.ones(3, 2))


def test_conv_masks_by_hand():
    a = conv_mask(3, "A")
    b = conv_mask(3, "B")
    assert a.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert b.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    with pytest.raises(ValueError):
        conv_mask(4, "A")
    with pytest.raises(ValueError):
        conv_mask(3, "C")


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_sees_only_earlier_pixels(mask_type):
    """Gradient of output pixel i w.r.t. input pixel j is zero for j after i (and for j = i in type A)."""
    torch.manual_seed(0)
    H = W = 5
    conv = MaskedConv2d(2, 3, 5, mask_type)
    x = torch.randn(1, 2, H, W, requires_grad=True)
    out = conv(x)
    for i in range(H * W):
        (g,) = torch.autograd.grad(out[0, :, i // W, i % W].sum(), x, retain_graph=True)
        seen = g[0].abs().sum(0).flatten() > 0  # (H*W,)
        later = torch.arange(H * W) >= i if mask_type == "A" else torch.arange(H * W) > i
        assert not seen[later].any(), f"pixel {i} sees a pixel at or after it"


def test_mlp_shapes_and_dropout():
    net = MLP(5, [7, 7], 2, dropout=0.1)
    assert net(torch.randn(4, 5)).shape == (4, 2)
    assert sum(isinstance(m, torch.nn.Dropout) for m in net) == 2


@pytest.mark.parametrize("kernel, mask_type", [(3, "A"), (3, "B"), (7, "A"), (5, "B")])
def test_raster_conv_computes_the_masked_conv(kernel, mask_type):
    torch.manual_seed(0)
    masked = MaskedConv2d(3, 4, kernel, mask_type)
    raster = RasterConv2d(3, 4, kernel, mask_type)
    with torch.no_grad():
        raster.weight.copy_(masked.weight[:, :, : kernel // 2 + 1])
        raster.bias.copy_(masked.bias)
    x = torch.randn(2, 3, 8, 8)
    assert torch.allclose(masked(x), raster(x), atol=1e-5)
