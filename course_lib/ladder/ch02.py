"""Chapter 02's rungs of the digits ladder: classical models on the 17-level digits, exact NLLs.

- uniform over the 17 levels: 64 ln 17 = 181.33 nats per image, the baseline every model must beat;
- independent per-pixel categoricals with add-alpha smoothing, alpha chosen on validation;
- a mixture of categoricals fitted by EM, (components, alpha) chosen on validation.
Training uses ``split.train`` only, choices use ``split.val`` only, the reported number is ``split.test``.
"""

from __future__ import annotations

import math
import time

import torch

from course_lib.config import torch_threads
from course_lib.data import NUM_LEVELS, NUM_PIXELS, DigitsSplit
from course_lib.distributions import IndependentCategorical, MixtureOfCategoricals
from course_lib.leaderboard import LadderResult, register
from course_lib.metrics import mean_nll

ALPHAS = (0.01, 0.03, 0.1, 0.3, 1.0)  # add-alpha pseudo-counts tried for the independent model
MIXTURE_GRID = {  # (components, alpha) pairs tried for the mixture, full and fast budgets
    "full": [(k, a) for k in (5, 10, 20, 30, 50) for a in (0.1, 0.3, 1.0)],
    "fast": [(k, a) for k in (10,) for a in (0.3, 1.0)],
}
RESTARTS = {"full": 3, "fast": 1}  # EM runs per setting; the best training objective is kept


def _result(name: str, test_nll: float, seconds: float, params: int) -> LadderResult:
    return LadderResult.from_nll(name, "02", "digits17", test_nll, "exact", seconds, params)


@register("uniform (17 levels)", chapter="02")
def uniform(split: DigitsSplit, *, fast: bool, seed: int) -> list[LadderResult]:
    """Every image equally likely: p(x) = 17^-64, no training, no parameters."""
    log_p = -NUM_PIXELS * math.log(NUM_LEVELS)
    nll = mean_nll(lambda x: torch.full((len(x),), log_p, dtype=torch.float64), split.test)
    return [_result("uniform (17 levels)", nll, 0.0, 0)]


def fit_independent(split: DigitsSplit, alphas=ALPHAS) -> tuple[IndependentCategorical, float]:
    """Fit one smoothed model per alpha on train; return the one with the lowest validation NLL."""
    fits = [IndependentCategorical.fit(split.train, NUM_LEVELS, alpha=a) for a in alphas]
    val = [mean_nll(m.log_prob, split.val) for m in fits]
    best = min(range(len(fits)), key=val.__getitem__)
    return fits[best], alphas[best]


@register("independent categorical", chapter="02")
def independent(split: DigitsSplit, *, fast: bool, seed: int) -> list[LadderResult]:
    start = time.perf_counter()
    model, _ = fit_independent(split)
    seconds = time.perf_counter() - start
    return [_result("independent categorical", mean_nll(model.log_prob, split.test), seconds,
                    model.num_parameters())]


def fit_mixture(split: DigitsSplit, grid, *, seed: int = 0, restarts: int = 1
                ) -> tuple[MixtureOfCategoricals, tuple[int, float], dict]:
    """EM for every (components, alpha) in ``grid`` on train (best of ``restarts`` runs by training
    objective); keep the setting with the lowest validation NLL.

    Returns the best model, its (components, alpha) and {(components, alpha): validation NLL}.
    """
    best, best_key, val = None, None, {}
    for k, a in grid:
        model = MixtureOfCategoricals.fit(split.train, NUM_LEVELS, k, alpha=a, seed=seed, restarts=restarts)
        val[(k, a)] = mean_nll(model.log_prob, split.val)
        if best is None or val[(k, a)] < val[best_key]:
            best, best_key = model, (k, a)
    return best, best_key, val


@register("mixture of categoricals (EM)", chapter="02")
def mixture(split: DigitsSplit, *, fast: bool, seed: int) -> list[LadderResult]:
    start = time.perf_counter()
    with torch_threads(1):  # small matrix products: one thread is as fast and leaves a core free
        budget = "fast" if fast else "full"
        model, _, _ = fit_mixture(split, MIXTURE_GRID[budget], seed=seed, restarts=RESTARTS[budget])
    seconds = time.perf_counter() - start
    return [_result("mixture of categoricals (EM)", mean_nll(model.log_prob, split.test), seconds,
                    model.num_parameters())]
