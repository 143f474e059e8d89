"""Chapter 06's flow rungs of the digits ladder: a coupling flow on the 17-level digits, dequantised (three rows).

Every row is minus a lower bound on log P(x) of the discrete model P(x) = int_{[0,1)^64} p_y(x + u) du (bins of
width 1 on the 0..16 integer scale; the unit cube's 64 log 17 and the logit's log-determinant are counted, see
:mod:`course_lib.metrics.dequantization`), averaged over the test images, in nats per image:

- ``RealNVP (uniform dequantisation), negative ELBO``: kind ``bound``. E_u[-log p_y(x + u)], u ~ U[0, 1)^64, is
  at least -log P(x) by Jensen's inequality (log of an average >= average of the log);
- ``RealNVP (variational dequantisation), negative ELBO``: kind ``bound``. E_q[-log p_y(x + u) + log q(u | x)]
  >= -log P(x), the same inequality with the learned density q(u | x) on the unit cell (Ho et al., 2019);
- ``RealNVP (variational dequantisation), IW k=K``: kind ``bound``, not ``estimate``. For every k,
  E[-log (1/k) sum_i p_y(x + u_i) / q(u_i | x)] >= -log P(x) (Jensen applied to the k-sample average, which is
  an unbiased estimate of P(x)); it is no looser than the ELBO and tends to -log P(x) as k grows. Like the ELBO
  rows, the number is a Monte Carlo average of a bound (one k-sample draw per test image), so "bound" is the
  same claim as theirs. (Chapter 04 calls its k = 1000 IWAE row an estimate because it is read as the NLL itself.)

The reported ELBOs average ``elbo_draws`` one-sample bounds per test image, which only cuts the noise.

Recipe (``FlowRecipe``): see the measurements below; chosen on ``split.val`` only, ``split.test`` only reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from course_lib.config import torch_threads
from course_lib.data import DigitsSplit
from course_lib.leaderboard import LadderResult, register
from course_lib.metrics import importance_weighted_log_likelihood
from course_lib.models.flows import DigitsFlow
from course_lib.nn import count_parameters
from course_lib.train import fit


@dataclass(frozen=True)
class FlowRecipe:
    dequantization: str = "variational"
    num_checkerboard: int = 4
    num_channel: int = 4
    mixing: str = "linear"
    net: str = "mlp"
    hidden: int = 256
    depth: int = 2
    dropout: float = 0.5
    alpha: float = 1e-3
    deq_couplings: int = 4
    deq_hidden: int = 64
    deq_context: int = 8
    epochs: int = 60
    lr: float = 2e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    elbo_draws: int = 10
    iw_k: int = 20
    threads: int = 1

    def build(self) -> DigitsFlow:
        dequantizer = dict(num_couplings=self.deq_couplings, hidden=self.deq_hidden,
                           context_channels=self.deq_context, net=self.net)
        return DigitsFlow(self.dequantization, num_checkerboard=self.num_checkerboard,
                          num_channel=self.num_channel, mixing=self.mixing, net=self.net, hidden=self.hidden,
                          depth=self.depth, dropout=self.dropout, alpha=self.alpha, dequantizer=dequantizer)


def fast_twin(recipe: FlowRecipe) -> FlowRecipe:
    """The same recipe, small and short (the tests' budget): the same code path."""
    fields = asdict(recipe) | dict(num_checkerboard=1, num_channel=2, hidden=32, deq_couplings=2, deq_hidden=16,
                                   epochs=2, elbo_draws=2, iw_k=4, threads=1)
    return FlowRecipe(**fields)


UNIFORM = FlowRecipe(dequantization="uniform")
VARIATIONAL = FlowRecipe(dequantization="variational")


def train_digits_flow(split: DigitsSplit, recipe: FlowRecipe, seed: int = 0) -> tuple[DigitsFlow, float]:
    """Train the recipe's flow on ``split.train``, keeping the epoch with the best validation negative ELBO.

    Returns (model in eval mode, training seconds).
    """
    torch.manual_seed(seed)
    model = recipe.build()
    with torch_threads(recipe.threads):
        history = fit(model, split.train, split.val, epochs=recipe.epochs, lr=recipe.lr,
                      batch_size=recipe.batch_size, weight_decay=recipe.weight_decay, seed=seed, progress=False)
    return model, history.seconds


@torch.no_grad()
def score_flow(model: DigitsFlow, x: torch.Tensor, recipe: FlowRecipe, seed: int = 0) -> tuple[float, float]:
    """(mean negative ELBO over ``elbo_draws`` draws, mean negative k-sample IW bound) on x, nats per image."""
    model.eval()
    torch.manual_seed(seed)
    with torch_threads(recipe.threads):
        neg_elbo = -torch.stack([model.elbo(x) for _ in range(recipe.elbo_draws)]).mean().item()
        neg_iw = -importance_weighted_log_likelihood(model.log_weights, x, k=recipe.iw_k).mean().item()
    return neg_elbo, neg_iw


def _rows(split: DigitsSplit, recipe: FlowRecipe, seed: int, with_iw: bool) -> list[LadderResult]:
    model, seconds = train_digits_flow(split, recipe, seed)
    neg_elbo, neg_iw = score_flow(model, split.test, recipe, seed)
    name, params = f"RealNVP ({recipe.dequantization} dequantisation)", count_parameters(model)
    rows = [LadderResult.from_nll(f"{name}, negative ELBO", "06", "digits17", neg_elbo, "bound", seconds, params)]
    if with_iw:
        rows.append(LadderResult.from_nll(f"{name}, IW k={recipe.iw_k}", "06", "digits17", neg_iw, "bound",
                                          seconds, params))
    return rows


@register("RealNVP (uniform dequantisation)", chapter="06")
def uniform_entry(split: DigitsSplit, *, fast: bool, seed: int) -> list[LadderResult]:
    return _rows(split, fast_twin(UNIFORM) if fast else UNIFORM, seed, with_iw=False)


@register("RealNVP (variational dequantisation)", chapter="06")
def variational_entry(split: DigitsSplit, *, fast: bool, seed: int) -> list[LadderResult]:
    return _rows(split, fast_twin(VARIATIONAL) if fast else VARIATIONAL, seed, with_iw=True)
