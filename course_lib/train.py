"""The course's one training loop, ``fit``, and the callbacks that extend it.

``fit`` shuffles the training set with its own seeded generator, calls ``model.train_step(batch, optimizers,
clip_grad=...)`` once per step (a plain ``nn.Module`` without one gets the default step of
:class:`course_lib.models.base.Model`: loss, backward, clip, step), steps an optional learning-rate scheduler,
validates once per epoch or every ``eval_every`` steps, stops early when the validation score stops improving,
restores the best weights and returns a :class:`History`. A NaN or infinite loss stops training with a message
that names the step and what to try; exceptions are never swallowed.

A chapter that needs something new writes a :class:`Callback` or a ``train_step``, not a loop: a GAN overrides
``train_step`` (two optimisers), a VAE warms its KL term up with :class:`KLWarmup`, a diffusion model keeps an
exponential moving average of its weights with :class:`EMA`, an animation collects :class:`Snapshots`.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import torch
from torch import Tensor, nn

from course_lib.models.base import Model, Optimizers, as_optimizer_list, scalar_loss

__all__ = ["fit", "evaluate_loss", "show_progress", "History", "FitState", "Callback", "KLWarmup", "EMA",
           "Snapshots"]

Data = Tensor | Sequence[Tensor]
Scheduler = torch.optim.lr_scheduler.LRScheduler


@dataclass
class History:
    """What ``fit`` measured.

    - ``train_loss``: the mean training ``loss`` of each epoch (from the dicts ``train_step`` returned);
    - ``val_loss``: the validation score (by default the mean validation loss) at each validation, taken
      after ``val_steps[i]`` steps;
    - ``best_epoch`` (0-based) and ``best_step``: when the best validation score was measured;
    - ``step_log``: the dict ``train_step`` returned at every step (``step_log[i]`` for step i + 1);
    - ``steps`` taken and wall-clock ``seconds`` (validation included).
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    best_epoch: int | None = None
    best_step: int | None = None
    step_log: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0

    @property
    def best_val_loss(self) -> float | None:
        """The best validation score, or None without validation."""
        if self.best_step is not None and self.best_step in self.val_steps:
            return self.val_loss[self.val_steps.index(self.best_step)]
        return None if self.best_epoch is None or not self.val_loss else self.val_loss[self.best_epoch]


@dataclass
class FitState:
    """What callbacks see: ``step`` counts the steps done (so in ``on_step_start`` it is the 0-based index of
    the step about to run, in ``on_step_end`` the 1-based number of the step just taken); ``epoch`` is 0-based.
    A callback may set ``stop = True`` to end training after the current step."""

    optimizers: Optimizers
    total_steps: int
    history: History
    step: int = 0
    epoch: int = 0
    stop: bool = False


class Callback:
    """Hooks into ``fit``; override the ones you need. Each receives the model and the :class:`FitState`.

    Order: ``on_fit_start``; per step ``on_step_start``, the step, the scheduler, ``on_step_end``; at each
    validation ``on_validate_start``, the score, ``on_validate_end``; ``on_fit_end`` runs before the best
    weights are restored (so the weights a validation scored are the ones ``fit`` leaves in the model).
    """

    def on_fit_start(self, model: nn.Module, state: FitState) -> None:
        pass

    def on_step_start(self, model: nn.Module, state: FitState) -> None:
        pass

    def on_step_end(self, model: nn.Module, state: FitState, logs: dict[str, float]) -> None:
        pass

    def on_validate_start(self, model: nn.Module, state: FitState) -> None:
        pass

    def on_validate_end(self, model: nn.Module, state: FitState, score: float) -> None:
        pass

    def on_fit_end(self, model: nn.Module, state: FitState) -> None:
        pass


class KLWarmup(Callback):
    """Ramp a VAE's KL weight up linearly: ``model.kl_scale = min(1, (step + 1) / steps)`` before each step.

    The VAE's training loss weighs its KL term by ``beta * kl_scale``; a small weight early on keeps the
    decoder from learning to ignore z (Bowman et al., 2016, arXiv:1511.06349). ``kl_scale`` is 1 at the end.
    """

    def __init__(self, steps: int) -> None:
        if steps < 1:
            raise ValueError(f"KLWarmup needs a positive number of steps, got {steps}")
        self.steps = steps

    def on_fit_start(self, model: nn.Module, state: FitState) -> None:
        if not hasattr(model, "kl_scale"):
            raise AttributeError(f"KLWarmup sets model.kl_scale, which {type(model).__name__} does not have: "
                                 "use it with a model whose loss weighs a KL term by kl_scale (the VAE)")

    def on_step_start(self, model: nn.Module, state: FitState) -> None:
        model.kl_scale = min(1.0, (state.step + 1) / self.steps)

    def on_fit_end(self, model: nn.Module, state: FitState) -> None:
        model.kl_scale = 1.0


class EMA(Callback):
    """Polyak averaging: keep avg <- decay * avg + (1 - decay) * w after every step, over every floating-point
    entry of the state dict (parameters and buffers such as batch-norm statistics; integer buffers are copied).

    Validation scores the averaged weights, and the model holds them at the end (with validation: the average
    that scored best). The average starts from the weights at the start of ``fit``.
    """

    def __init__(self, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.average: dict[str, Tensor] = {}
        self._live: dict[str, Tensor] | None = None

    def on_fit_start(self, model: nn.Module, state: FitState) -> None:
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def on_step_end(self, model: nn.Module, state: FitState, logs: dict[str, float]) -> None:
        for key, value in model.state_dict().items():
            avg = self.average[key]
            if avg.is_floating_point():
                avg.lerp_(value.detach(), 1.0 - self.decay)  # avg + (1 - decay) * (w - avg)
            else:
                avg.copy_(value)

    def on_validate_start(self, model: nn.Module, state: FitState) -> None:
        self._live = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.average)

    def on_validate_end(self, model: nn.Module, state: FitState, score: float) -> None:
        if self._live is not None:
            model.load_state_dict(self._live)
            self._live = None

    def on_fit_end(self, model: nn.Module, state: FitState) -> None:
        model.load_state_dict(self.average)


class Snapshots(Callback):
    """Keep a copy of the state dict (or of ``fn(model)``, e.g. a grid of samples) at the start and every
    ``every`` steps, for an animation of training.

    ``fn`` runs in eval mode without gradients; give its sampler a ``generator`` of its own so that the
    snapshots do not draw from the global stream that training uses. ``steps[i]`` is the step of ``values[i]``.
    """

    def __init__(self, every: int, fn: Callable[[nn.Module], Any] | None = None) -> None:
        if every < 1:
            raise ValueError(f"every must be a positive number of steps, got {every}")
        self.every, self.fn = every, fn
        self.steps: list[int] = []
        self.values: list[Any] = []

    @torch.no_grad()
    def _take(self, model: nn.Module, step: int) -> None:
        if self.fn is None:
            value = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            was_training = model.training
            model.eval()
            try:
                value = self.fn(model)
            finally:
                model.train(was_training)
        self.steps.append(step)
        self.values.append(value)

    def on_fit_start(self, model: nn.Module, state: FitState) -> None:
        self._take(model, 0)

    def on_step_end(self, model: nn.Module, state: FitState, logs: dict[str, float]) -> None:
        if state.step % self.every == 0:
            self._take(model, state.step)


# ---- data and validation ------------------------------------------------------------------------------------


def _as_tuple(data: Data, name: str) -> tuple[Tensor, ...]:
    items = (data,) if isinstance(data, Tensor) else tuple(data)
    if not items or not all(isinstance(t, Tensor) for t in items):
        raise TypeError(f"{name} must be a Tensor (N, ...) or a tuple of tensors (x, y), got {type(data).__name__}")
    n = len(items[0])
    if n == 0 or any(len(t) != n for t in items):
        raise ValueError(f"{name} must hold at least one example and tensors of equal length, "
                         f"got lengths {[len(t) for t in items]}")
    return items


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
            total += scalar_loss(model.loss(*batch))[0].item() * len(batch[0])
            count += len(batch[0])
    finally:
        model.train(was_training)
    return total / count


_SHOW_PROGRESS = contextvars.ContextVar("course_lib_show_progress", default=True)


@contextlib.contextmanager
def show_progress(enabled: bool) -> Iterator[None]:
    """Inside this block, ``fit(..., progress=None)`` (the default) shows its bar only if ``enabled``.

    A command that trains many models (the leaderboard, the sample bank) uses it to switch every bar of the
    recipes it calls on or off at once; an explicit ``progress=True/False`` in a call still wins."""
    token = _SHOW_PROGRESS.set(bool(enabled))
    try:
        yield
    finally:
        _SHOW_PROGRESS.reset(token)


def _progress_bar(total: int, enabled: bool | None):
    from tqdm.auto import tqdm

    enabled = _SHOW_PROGRESS.get() if enabled is None else enabled

    return tqdm(total=total, disable=not enabled, leave=False, dynamic_ncols=True)


# ---- the loop -------------------------------------------------------------------------------------------------


def _optimizers(model: nn.Module, optimizer: Optimizers | None, lr: float | None,
                weight_decay: float | None) -> Optimizers:
    if optimizer is not None:
        if lr is not None or weight_decay is not None:
            raise ValueError("lr= and weight_decay= configure the default Adam; with optimizer=... set them "
                             "on your optimiser instead")
        if not as_optimizer_list(optimizer):
            raise ValueError("optimizer= holds no optimiser")
        return optimizer
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("the model has no trainable parameters; nothing to fit")
    return torch.optim.Adam(parameters, lr=1e-3 if lr is None else lr,
                            weight_decay=0.0 if weight_decay is None else weight_decay)


def _step_function(model: nn.Module, optimizers: Optimizers) -> Callable[..., dict[str, float]]:
    """The model's own train_step, or Model's default (loss, backward, clip, step) for a plain nn.Module."""
    own = getattr(type(model), "train_step", None)
    if own is None or own is Model.train_step:
        if len(as_optimizer_list(optimizers)) != 1:
            raise ValueError(f"{type(model).__name__} uses the default train_step, which steps one optimiser; "
                             "with several optimisers write a train_step that says which one steps when")
        return partial(Model.train_step, model)
    return model.train_step


def _schedulers(scheduler: Scheduler | Sequence[Scheduler] | None, optimizers: Optimizers) -> list[Scheduler]:
    schedulers = [] if scheduler is None else [scheduler] if isinstance(scheduler, Scheduler) else list(scheduler)
    known = as_optimizer_list(optimizers)
    for s in schedulers:
        if not isinstance(s, Scheduler):
            raise TypeError(f"scheduler must be a torch.optim.lr_scheduler scheduler, got {type(s).__name__}")
        if not any(s.optimizer is o for o in known):
            raise ValueError("the scheduler drives an optimiser that fit does not use: build the optimiser "
                             "yourself and pass it as optimizer=... together with its scheduler")
    return schedulers


def _learning_rates(optimizers: Optimizers) -> str:
    return ", ".join(f"{g['lr']:g}" for o in as_optimizer_list(optimizers) for g in o.param_groups[:1])


def _non_finite(err: str, step: int, epoch: int, optimizers: Optimizers, clip_grad: float | None) -> str:
    clip = f"a smaller clip_grad ({clip_grad:g} now)" if clip_grad is not None else "gradient clipping (clip_grad=1.0)"
    return (f"{err} at step {step + 1} (epoch {epoch + 1}). Try a smaller learning rate "
            f"(lr={_learning_rates(optimizers)} now), {clip}, or look for log(0) or a division by zero in the "
            "model's loss.")


def fit(
    model: nn.Module,
    train: Data,
    val: Data | None = None,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    optimizer: Optimizers | None = None,
    scheduler: Scheduler | Sequence[Scheduler] | None = None,
    scheduler_interval: Literal["step", "epoch"] = "step",
    batch_size: int = 128,
    clip_grad: float | None = None,
    eval_every: int | None = None,
    eval_from: int = 0,
    score: Callable[[nn.Module, Data], float] | None = None,
    patience: int | None = None,
    callbacks: Sequence[Callback] = (),
    seed: int = 0,
    progress: bool | None = None,
    device: torch.device | str | None = None,
) -> History:
    """Train ``model``, one ``model.train_step`` per batch; return the :class:`History`.

    Args:
        model: an ``nn.Module`` with ``train_step(batch, optimizers, clip_grad=None) -> dict`` (every
            :class:`~course_lib.models.base.Model`), or with only ``loss(x)`` / ``loss(x, y)``, which then
            gets ``Model``'s default step.
        train, val: a Tensor (N, ...) or a tuple of tensors (x, y); a batch is passed on as a tuple.
        epochs, steps: how long to train; give one. ``steps`` counts calls of ``train_step``.
        lr, weight_decay: of the default optimiser, Adam over the trainable parameters (1e-3 and 0).
        optimizer: instead of the default, one optimiser, a list or a dict of them (``{"generator": ...,
            "critic": ...}``), handed to ``train_step`` as given.
        scheduler: a learning-rate scheduler (or a list) of those optimisers, stepped after every step
            (``scheduler_interval="step"``, so ``T_max`` counts steps) or after every epoch (``"epoch"``).
        clip_grad: clip the gradient norm to this value (``train_step`` does it, before the optimiser steps).
        eval_every: validate every this many steps (and after the last one) instead of after every epoch.
        eval_from: validate only from this step on (the last step is always validated).
        score: ``score(model, val) -> float``, lower is better, run in eval mode without gradients; by
            default the mean ``model.loss`` over ``val`` (:func:`evaluate_loss`). Needs ``val``.
        patience: stop after this many validations without a better score. With ``val`` the weights of the
            best validation are restored at the end, with or without ``patience``.
        callbacks: :class:`Callback` objects (:class:`KLWarmup`, :class:`EMA`, :class:`Snapshots`, ...).
        seed: seeds the shuffling generator (the global random streams are not used for shuffling).
        progress: show a progress bar (a widget in Jupyter, text on stderr elsewhere) that disappears when
            training ends; ``None`` (the default) means on, unless inside ``show_progress(False)``.
        device: where to train; by default where the model's parameters are.

    The model is left in eval mode (dropout off), holding the best weights when ``val`` was given.
    """
    if (epochs is None) == (steps is None):
        raise ValueError("give exactly one of epochs=... or steps=...")
    if val is None and (patience is not None or score is not None):
        raise ValueError("early stopping (patience=...) and score=... need validation data: pass val=...")
    if eval_every is not None and eval_every < 1:
        raise ValueError(f"eval_every must be a positive number of steps, got {eval_every}")
    if scheduler_interval not in ("step", "epoch"):
        raise ValueError(f"scheduler_interval must be 'step' or 'epoch', got {scheduler_interval!r}")
    train_items = _as_tuple(train, "train")
    if val is not None:
        _as_tuple(val, "val")
    if device is not None:
        model.to(device)
    optimizers = _optimizers(model, optimizer, lr, weight_decay)
    train_step = _step_function(model, optimizers)
    schedulers = _schedulers(scheduler, optimizers)
    device = next(model.parameters()).device
    score = score or partial(evaluate_loss, device=device)

    n = len(train_items[0])
    batch_size = min(batch_size, n)
    batches_per_epoch = math.ceil(n / batch_size)
    total_steps = steps if steps is not None else epochs * batches_per_epoch
    num_epochs = math.ceil(total_steps / batches_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    history = History()
    state = FitState(optimizers=optimizers, total_steps=total_steps, history=history)
    best_state, best_score, since_best = None, math.inf, 0

    def validate() -> None:
        nonlocal best_state, best_score, since_best
        for cb in callbacks:
            cb.on_validate_start(model, state)
        model.eval()
        try:
            with torch.no_grad():
                value = float(score(model, val))
            history.val_loss.append(value)
            history.val_steps.append(state.step)
            bar.set_postfix(loss=f"{history.step_log[-1].get('loss', math.nan):.3f}", val=f"{value:.3f}",
                            refresh=False)
            if value < best_score:
                best_score, since_best = value, 0
                history.best_epoch, history.best_step = state.epoch, state.step
                best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += 1
                state.stop = state.stop or (patience is not None and since_best >= patience)
        finally:
            for cb in reversed(callbacks):
                cb.on_validate_end(model, state, history.val_loss[-1] if history.val_loss else math.nan)
            model.train()

    start_time = time.perf_counter()
    bar = _progress_bar(total_steps, progress)
    try:
        for cb in callbacks:
            cb.on_fit_start(model, state)
        for epoch in range(num_epochs):
            state.epoch = epoch
            model.train()
            order = torch.randperm(n, generator=generator)
            epoch_total, epoch_count = 0.0, 0
            for start in range(0, n, batch_size):
                if state.step >= total_steps or state.stop:
                    break
                index = order[start : start + batch_size]
                batch = tuple(t[index].to(device) for t in train_items)
                for cb in callbacks:
                    cb.on_step_start(model, state)
                try:
                    logs = {k: float(v) for k, v in train_step(batch, optimizers, clip_grad=clip_grad).items()}
                except FloatingPointError as err:
                    raise FloatingPointError(_non_finite(str(err), state.step, epoch, optimizers, clip_grad)) from err
                bad = [k for k, v in logs.items() if not math.isfinite(v)]
                if bad:
                    raise FloatingPointError(_non_finite(f"train_step reported {bad[0]} = {logs[bad[0]]}",
                                                         state.step, epoch, optimizers, clip_grad))
                if scheduler_interval == "step":
                    for s in schedulers:
                        s.step()
                state.step += 1
                history.step_log.append(logs)
                if "loss" in logs:
                    epoch_total += logs["loss"] * len(index)
                    epoch_count += len(index)
                    bar.set_postfix(loss=f"{logs['loss']:.3f}", refresh=False)
                bar.update(1)
                for cb in callbacks:
                    cb.on_step_end(model, state, logs)
                due = eval_every is not None and state.step % eval_every == 0 and state.step >= eval_from
                if val is not None and (due or (eval_every is not None and state.step == total_steps)):
                    validate()
            if epoch_count:
                history.train_loss.append(epoch_total / epoch_count)
            if scheduler_interval == "epoch":
                for s in schedulers:
                    s.step()
            if val is not None and eval_every is None and (state.step >= eval_from or state.step == total_steps):
                validate()
            if state.stop or state.step >= total_steps:
                break
        for cb in callbacks:
            cb.on_fit_end(model, state)
    finally:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    history.steps = state.step
    history.seconds = time.perf_counter() - start_time
    model.eval()
    return history
