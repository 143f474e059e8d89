"""One small training loop for every model in the course.

``fit`` calls ``model.loss(batch)`` (a scalar, or a dict holding ``"loss"``), steps Adam, shows a progress
bar with the live loss, validates once per epoch, stops early when the validation loss stops improving
(restoring the best weights), and returns a :class:`History`. A loss that turns NaN or inf stops training
with a message that names the step and what to try. Exceptions are never swallowed.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

Data = Tensor | Sequence[Tensor]


@dataclass
class History:
    """Per-epoch training and validation losses, the best epoch (0-based) and the wall-clock seconds."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    seconds: float = 0.0
    steps: int = 0

    @property
    def best_val_loss(self) -> float | None:
        return None if self.best_epoch is None or not self.val_loss else self.val_loss[self.best_epoch]


def _as_tuple(data: Data, name: str) -> tuple[Tensor, ...]:
    items = (data,) if isinstance(data, Tensor) else tuple(data)
    if not items or not all(isinstance(t, Tensor) for t in items):
        raise TypeError(f"{name} must be a Tensor (N, ...) or a tuple of tensors (x, y), got {type(data).__name__}")
    n = len(items[0])
    if n == 0 or any(len(t) != n for t in items):
        raise ValueError(f"{name} must hold at least one example and tensors of equal length, "
                         f"got lengths {[len(t) for t in items]}")
    return items


def _scalar_loss(output: Tensor | dict) -> Tensor:
    loss = output["loss"] if isinstance(output, dict) else output
    if not isinstance(loss, Tensor) or loss.dim() != 0:
        raise ValueError("model.loss(x) must return a scalar tensor (or a dict with a scalar under 'loss'); "
                         f"got {type(loss).__name__} {tuple(getattr(loss, 'shape', ()))}: average over the batch")
    return loss


@torch.no_grad()
def evaluate_loss(
    model: nn.Module, data: Data, batch_size: int = 512, device: torch.device | str | None = None
) -> float:
    """The mean of ``model.loss`` over ``data``, weighted by batch size, in eval mode."""
    items = _as_tuple(data, "data")
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for start in range(0, len(items[0]), batch_size):
            batch = [t[start : start + batch_size] for t in items]
            batch = [t.to(device) for t in batch] if device else batch
            total += _scalar_loss(model.loss(*batch)).item() * len(batch[0])
            count += len(batch[0])
    finally:
        model.train(was_training)
    return total / count


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, leave=False, dynamic_ncols=True)


def fit(
    model: nn.Module,
    train: Data,
    val: Data | None = None,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    lr: float = 1e-3,
    batch_size: int = 128,
    patience: int | None = None,
    weight_decay: float = 0.0,
    clip_grad: float | None = None,
    seed: int = 0,
    progress: bool = True,
    device: torch.device | str | None = None,
) -> History:
    """Train ``model`` by minimising ``model.loss`` with Adam; return the :class:`History`.

    Args:
        model: an ``nn.Module`` with ``loss(x)`` (or ``loss(x, y)`` when ``train`` is a tuple).
        train, val: a Tensor (N, ...) or a tuple of tensors (x, y).
        epochs, steps: how long to train; give one. ``steps`` counts optimiser steps.
        patience: stop after this many epochs without a better validation loss, and restore the best
            weights (needs ``val``). Without it the best weights are still restored when ``val`` is given.
        clip_grad: clip the gradient norm to this value.
        seed: seeds the shuffling generator (the global random streams are not used for shuffling).
        device: where to train; by default where the model's parameters are.

    The model is left in eval mode (dropout off), holding the best weights when ``val`` was given.
    """
    if (epochs is None) == (steps is None):
        raise ValueError("give exactly one of epochs=... or steps=...")
    if patience is not None and val is None:
        raise ValueError("early stopping (patience=...) needs validation data: pass val=...")
    train_items = _as_tuple(train, "train")
    val_items = _as_tuple(val, "val") if val is not None else None
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("the model has no trainable parameters; nothing to fit")
    if device is not None:
        model.to(device)
    device = parameters[0].device
    n = len(train_items[0])
    batch_size = min(batch_size, n)
    batches_per_epoch = math.ceil(n / batch_size)
    total_steps = steps if steps is not None else epochs * batches_per_epoch
    num_epochs = math.ceil(total_steps / batches_per_epoch)

    optimizer = torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    history = History()
    best_state, best_loss, since_best = None, math.inf, 0
    start_time = time.perf_counter()
    step = 0
    bar = _progress_bar(total_steps, progress)
    try:
        for epoch in range(num_epochs):
            model.train()
            order = torch.randperm(n, generator=generator)
            epoch_total, epoch_count = 0.0, 0
            for start in range(0, n, batch_size):
                if step >= total_steps:
                    break
                index = order[start : start + batch_size]
                batch = [t[index].to(device) for t in train_items]
                loss = _scalar_loss(model.loss(*batch))
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"the training loss became {loss.item()} at step {step + 1} (epoch {epoch + 1}). "
                        f"Try a smaller learning rate (lr={lr:g} now), gradient clipping (clip_grad=1.0), "
                        "or look for log(0) or a division by zero in the model's loss.")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if clip_grad is not None:
                    nn.utils.clip_grad_norm_(parameters, clip_grad)
                optimizer.step()
                step += 1
                epoch_total += loss.item() * len(index)
                epoch_count += len(index)
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            history.train_loss.append(epoch_total / max(epoch_count, 1))
            if val_items is not None:
                val_loss = evaluate_loss(model, val_items, device=device)
                history.val_loss.append(val_loss)
                bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", val=f"{val_loss:.3f}", refresh=False)
                if val_loss < best_loss:
                    best_loss, since_best, history.best_epoch = val_loss, 0, epoch
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    since_best += 1
                    if patience is not None and since_best >= patience:
                        break
    finally:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    history.steps = step
    history.seconds = time.perf_counter() - start_time
    model.eval()
    return history
