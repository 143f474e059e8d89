"""Chapter 03's rungs of the digits ladder: autoregressive models, all with exact NLLs.

- MADE on the binarised digits (`digits2`) and on the 17 grey levels (`digits17`);
- a PixelCNN read in raster order (`digits17`);
- the same PixelCNN as a uniform mixture over the 8 symmetries of the square (`digits17`), the course's
  best exact-likelihood model: log p(x) = logsumexp_k log p(T_k x | k) - log 8.

Training uses ``split.train`` only; the epoch kept (and every hyperparameter below, chosen in a search
recorded in the chapter's notes) is chosen by the validation NLL; ``split.test`` is only reported.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from course_lib.config import torch_threads
from course_lib.data import NUM_PIXELS, DigitsSplit
from course_lib.leaderboard import LadderResult, register
from course_lib.metrics import mean_nll
from course_lib.models.made import MADE
from course_lib.models.pixelcnn import SymmetryMixturePixelCNN
from course_lib.nn import count_parameters
from course_lib.train import fit


def _result(name: str, data: str, test_nll: float, seconds: float, model: torch.nn.Module) -> LadderResult:
    return LadderResult.from_nll(name, "03", data, test_nll, "exact", seconds, count_parameters(model))


# ---- MADE ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MADERecipe:
    hidden: tuple[int, ...] = (512,)
    dropout: float = 0.3
    lr: float = 1e-3
    max_epochs: int = 150
    patience: int = 10  # early stopping on the validation NLL
    threads: int = 1  # a small MLP: one thread is as fast as two on the course's 2-core machines


MADE_FAST = MADERecipe(hidden=(64,), max_epochs=3, patience=2)


def train_made(train: torch.Tensor, val: torch.Tensor, num_levels: int, recipe: MADERecipe, seed: int = 0) -> MADE:
    """Train a MADE on (N, 64) integer images with early stopping on `val`; returns it in eval mode."""
    torch.manual_seed(seed)
    model = MADE(NUM_PIXELS, num_levels, recipe.hidden, dropout=recipe.dropout)
    with torch_threads(recipe.threads):
        fit(model, train, val, epochs=recipe.max_epochs, lr=recipe.lr, batch_size=100, patience=recipe.patience,
            seed=seed)
    return model


def _made_entry(split: DigitsSplit, fast: bool, seed: int, binary: bool) -> list[LadderResult]:
    view = (lambda x: DigitsSplit.binarized(x).long()) if binary else (lambda x: x)
    start = time.perf_counter()
    model = train_made(view(split.train), view(split.val), 2 if binary else 17, MADE_FAST if fast else MADERecipe(),
                       seed=seed)
    seconds = time.perf_counter() - start
    name = "MADE (binarised)" if binary else "MADE (17 levels)"
    return [_result(name, "digits2" if binary else "digits17", mean_nll(model.log_prob, view(split.test)),
                    seconds, model)]


@register("MADE (binarised)", chapter="03")
def made_binarised(split: DigitsSplit, *, fast: bool, seed: int) -> list[LadderResult]:
    return _made_entry(split, fast, seed, binary=True)


@register("MADE (17 levels)", chapter="03")
def made_17(split: DigitsSplit, *, fast: bool, seed: int) -> list[LadderResult]:
    return _made_entry(split, fast, seed, binary=False)


# ---- PixelCNN ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PixelCNNRecipe:
    """How the ladder's PixelCNNs are trained: Adam with a cosine learning-rate decay over `epochs`, the
    validation NLL measured every `eval_every` epochs from `eval_from * epochs` on, the best weights kept.

    The defaults were chosen on the validation split (scratch search, one seed each, NLL in nats per image):
    48 -> 64 channels with dropout 0.25 -> 0.35: 85.9 -> 84.9; batch 64 -> 128 with lr 3e-3 -> 5e-3 and 60 ->
    80 epochs: 84.5; the ordinal input channel: 83.6; no per-ordering bias (one shared model): 86.4;
    fine-tuning on the exact mixture objective or averaging weights (EMA): < 0.1 better, not worth the time.
    Then (3 seeds each): a discretised mixture of 3 logistics plus free per-level logits as the output head,
    84.39 -> 83.05 mean validation NLL at 80 epochs; 76 epochs keep the training under 60 s on 2 cores.
    Learned weights over the 8 orderings, a fitted softmax temperature or a mixture over the last
    checkpoints each gained < 0.1 on validation.
    """

    orderings: int = 8  # 1 = plain raster order; 8 = the mixture over the symmetries of the square
    channels: int = 64
    num_blocks: int = 4
    first_kernel: int = 7
    dropout: float = 0.35
    ordinal_input: bool = True  # the level as an extra input channel: about 1 nat better on validation
    logistic_components: int = 3  # a discretised logistic mixture head: 1.3 nats better on validation (3 seeds)
    epochs: int = 76
    lr: float = 5e-3
    batch_size: int = 128
    eval_every: int = 10  # the exact 8-ordering validation NLL costs about 2 training epochs: measure rarely,
    eval_from: float = 0.7  # and only late (the cosine schedule makes the last epochs the best ones)
    threads: int = 2  # measured on a lightly loaded machine: 0.82 s per epoch on 2 threads, 1.15 s on 1


PIXELCNN_MIXTURE = PixelCNNRecipe()
PIXELCNN_PLAIN = PixelCNNRecipe(orderings=1, epochs=40, eval_every=5, eval_from=0.0)  # over-fits sooner
PIXELCNN_FAST = PixelCNNRecipe(channels=16, num_blocks=2, epochs=2, eval_every=1, eval_from=0.0, threads=1)
PIXELCNN_PLAIN_FAST = PixelCNNRecipe(orderings=1, channels=16, num_blocks=2, epochs=2, eval_every=1, eval_from=0.0,
                                     threads=1)


def train_pixelcnn(split: DigitsSplit, recipe: PixelCNNRecipe, seed: int = 0,
                   progress: bool | None = None) -> tuple[SymmetryMixturePixelCNN, dict]:
    """Train a (symmetry-mixture) PixelCNN on split.train; keep the weights with the best split.val NLL.

    With 8 orderings each step trains one random ordering per image (see `SymmetryMixturePixelCNN.loss`);
    the validation score is the exact mixture NLL. Returns the model (eval mode) and a log with the
    validation curve ("epoch", "val_nll"), the best epoch (1-based) and the seconds.
    """
    torch.manual_seed(seed)
    model = SymmetryMixturePixelCNN(recipe.orderings, channels=recipe.channels, num_blocks=recipe.num_blocks,
                                    first_kernel=recipe.first_kernel, dropout=recipe.dropout,
                                    ordinal_input=recipe.ordinal_input,
                                    logistic_components=recipe.logistic_components)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    steps_per_epoch = math.ceil(len(split.train) / recipe.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs * steps_per_epoch)
    with torch_threads(recipe.threads):
        history = fit(model, split.train, split.val, epochs=recipe.epochs, batch_size=recipe.batch_size,
                      optimizer=optimizer, scheduler=schedule, score=_exact_val_nll,
                      eval_every=recipe.eval_every * steps_per_epoch,
                      eval_from=math.ceil(recipe.eval_from * recipe.epochs) * steps_per_epoch,
                      seed=seed, progress=progress)
    log = {"epoch": [s // steps_per_epoch for s in history.val_steps], "val_nll": history.val_loss,
           "best_epoch": history.best_step // steps_per_epoch, "seconds": history.seconds}
    return model, log


def _exact_val_nll(model: SymmetryMixturePixelCNN, val: torch.Tensor) -> float:
    return mean_nll(model.log_prob, val)


def _pixelcnn_entry(split: DigitsSplit, recipe: PixelCNNRecipe, seed: int, name: str) -> list[LadderResult]:
    model, log = train_pixelcnn(split, recipe, seed=seed)
    with torch_threads(recipe.threads):
        test = mean_nll(model.log_prob, split.test)
    return [_result(name, "digits17", test, log["seconds"], model)]


@register("PixelCNN", chapter="03")
def pixelcnn(split: DigitsSplit, *, fast: bool, seed: int) -> list[LadderResult]:
    """One raster ordering: the plain PixelCNN, same network and budget as the mixture below."""
    return _pixelcnn_entry(split, PIXELCNN_PLAIN_FAST if fast else PIXELCNN_PLAIN, seed, "PixelCNN")


@register("PixelCNN, 8 symmetries", chapter="03")
def pixelcnn_symmetries(split: DigitsSplit, *, fast: bool, seed: int) -> list[LadderResult]:
    """The uniform mixture over the 8 symmetries of the square: exact, and the best model of the course."""
    return _pixelcnn_entry(split, PIXELCNN_FAST if fast else PIXELCNN_MIXTURE, seed, "PixelCNN, 8 symmetries")


__all__ = ["MADERecipe", "PixelCNNRecipe", "train_made", "train_pixelcnn", "MADE_FAST", "PIXELCNN_MIXTURE",
           "PIXELCNN_PLAIN", "PIXELCNN_FAST", "PIXELCNN_PLAIN_FAST"]
