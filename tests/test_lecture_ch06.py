"""The pieces chapter 06's lecture writes in the open agree with the library versions it then uses (each function
below is kept identical to its notebook cell in notebooks/06_flows_and_diffusion.ipynb)."""

import torch
from torch import nn

from course_lib.models import diffusion, flow_matching, flows


def coupling_forward(x, mask, scale_net, shift_net):  # x (B, D); mask 1 = kept -> (y (B, D), log|det J| (B,))
    kept, moved = mask * x, 1 - mask
    s = moved * scale_net(kept)  # log-scales, zero on the kept coordinates
    t = moved * shift_net(kept)
    return x * torch.exp(s) + t, s.sum(-1)


def q_sample_open(x0, t, alphas_cumprod, noise):  # x0, noise (B, ...); t (B,) step indices
    abar = alphas_cumprod[t].view(-1, *[1] * (x0.dim() - 1))
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def flow_matching_target_open(x0, x1, t):  # x0 noise, x1 data (B, ...); t (B,) in [0, 1]
    t = t.view(-1, *[1] * (x0.dim() - 1))
    return (1 - t) * x0 + t * x1, x1 - x0


def test_open_coupling_agrees_with_the_library_and_the_library_inverse_undoes_it():
    torch.manual_seed(0)
    dim = 6
    mask = (torch.arange(dim) % 2).float()
    scale_net, shift_net = (nn.Sequential(nn.Linear(dim, 16), nn.Tanh(), nn.Linear(16, dim)) for _ in range(2))
    x = torch.randn(5, dim, dtype=torch.float64)
    scale_net, shift_net = scale_net.double(), shift_net.double()
    y, log_det = coupling_forward(x, mask.double(), scale_net, shift_net)
    y_lib, log_det_lib = flows.affine_coupling_forward(x, mask.double(), scale_net, shift_net)
    assert torch.allclose(y, y_lib) and torch.allclose(log_det, log_det_lib)
    assert torch.allclose(flows.affine_coupling_inverse(y, mask.double(), scale_net, shift_net), x, atol=1e-10)
    jac = torch.autograd.functional.jacobian(lambda v: coupling_forward(v[None], mask.double(), scale_net,
                                                                        shift_net)[0][0], x[0])
    assert torch.allclose(torch.linalg.slogdet(jac)[1], log_det[0])


def test_open_q_sample_agrees_with_the_library():
    gen = torch.Generator().manual_seed(1)
    abar = diffusion.alphas_cumprod(diffusion.linear_beta_schedule(50, 1e-3, 0.1))
    for shape in [(7, 2), (3, 8, 8)]:
        x0, noise = torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)
        t = torch.randint(0, 50, (shape[0],), generator=gen)
        assert torch.allclose(q_sample_open(x0, t, abar.float(), noise), diffusion.q_sample(x0, t, abar.float(), noise))


def test_open_flow_matching_target_agrees_with_the_library():
    gen = torch.Generator().manual_seed(2)
    for shape in [(5, 2), (4, 64)]:
        x0, x1 = torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)
        t = torch.rand(shape[0], generator=gen)
        for a, b in zip(flow_matching_target_open(x0, x1, t), flow_matching.flow_matching_target(x0, x1, t),
                        strict=True):
            assert torch.allclose(a, b)
