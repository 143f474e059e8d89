"""The one interface of every model in the course, neural or classical, modelled on torch.distributions.

- ``Model``: a generative model with a fixed ``event_shape``; ``sample(n, context=None, generator=None)``,
  ``loss(x, context=None)`` for training and ``train_step(batch, optimizers)`` for ``course_lib.train.fit``.
  A model with only a bound (a VAE, a diffusion model) adds ``elbo(x)``; a model with no likelihood (a GAN)
  overrides ``train_step``.
- ``DensityModel``: a model with an exact likelihood adds ``log_prob(x, context=None) -> (B,)`` in nats,
  summed over the event dimensions; its default ``loss`` is the mean negative log-likelihood.

Subclasses write ``_log_prob(x, context)`` and ``_sample(n, context, generator, **options)``; the public
methods validate the input once (``validate(x)``: shape and dtype, with a message that says how to fix it;
``validate_context(context, n)``: none for an unconditional model, one row per example for a conditional one,
``conditional = True``), turn off gradients for sampling and keep the names the same everywhere: conditioning
is always ``context``. A discrete model checks its levels with ``check_levels``; keyword options of a sampler
(``temperature``, ``top_k``) come after ``generator``, keyword-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

__all__ = ["Model", "DensityModel", "check_levels", "optimizer_step", "as_optimizer_list", "scalar_loss"]

Optimizers = torch.optim.Optimizer | Sequence[torch.optim.Optimizer] | Mapping[str, torch.optim.Optimizer]


def as_optimizer_list(optimizers: Optimizers) -> list[torch.optim.Optimizer]:
    """One optimiser, a sequence or a dict of them, as a list (in the dict's order)."""
    if isinstance(optimizers, torch.optim.Optimizer):
        return [optimizers]
    if isinstance(optimizers, Mapping):
        return list(optimizers.values())
    return list(optimizers)


def scalar_loss(output: Tensor | Mapping[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    """``loss(...)``'s result (a scalar, or a dict with a scalar under "loss") -> (the loss, numbers to log)."""
    loss = output["loss"] if isinstance(output, Mapping) else output
    if not isinstance(loss, Tensor) or loss.dim() != 0:
        raise ValueError("loss(x) must return a scalar tensor (or a dict with a scalar under 'loss'); "
                         f"got {type(loss).__name__} {tuple(getattr(loss, 'shape', ()))}: average over the batch")
    logs = {"loss": loss.item()}
    if isinstance(output, Mapping):
        logs.update({k: float(v.detach() if isinstance(v, Tensor) else v)  # logged, not differentiated
                     for k, v in output.items() if k != "loss" and _is_number(v)})
    return loss, logs


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) or (isinstance(value, Tensor) and value.numel() == 1)


def check_levels(x: Tensor, num_levels: int, who: object, what: str = "levels") -> Tensor:
    """Check that ``x`` holds integers in 0 .. num_levels - 1 (grey levels, categories, labels); returns x.long().

    A float tensor is refused even when its values are whole numbers: for a discrete model a float input is
    almost always a mix-up (scaled pixels, probabilities), and ``x.long()`` is the explicit fix.
    """
    name = who if isinstance(who, str) else type(who).__name__
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} expects integer {what} in 0..{num_levels - 1}, got dtype {x.dtype}; "
                        "convert with x.long() (binarised digits: DigitsSplit.binarized(x).long())")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= num_levels):
        raise ValueError(f"{name} expects {what} in 0..{num_levels - 1}, got values in "
                         f"{int(x.min())}..{int(x.max())}")
    return x.long()


def optimizer_step(loss: Tensor, optimizer: torch.optim.Optimizer, clip_grad: float | None = None) -> float | None:
    """zero_grad, backward, optional gradient-norm clipping, step.

    Returns the gradient norm before clipping when ``clip_grad`` is given (None otherwise: not computed).

    Raises FloatingPointError on a NaN or infinite loss, before it reaches the weights.
    """
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the training loss became {loss.item()}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = None
    if clip_grad is not None:
        parameters = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norm = float(nn.utils.clip_grad_norm_(parameters, clip_grad))
    optimizer.step()
    return norm


class Model(nn.Module):
    """A generative model over events of a fixed shape (one image, one 2-D point, one sequence)."""

    def __init__(self, event_shape: Sequence[int] | torch.Size) -> None:
        super().__init__()
        self.event_shape = torch.Size(event_shape)

    # -- where it lives ------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """The device of the first parameter (or buffer); CPU for a model that has neither."""
        for tensor in (*self.parameters(), *self.buffers()):
            return tensor.device
        return torch.device("cpu")

    # -- validation ----------------------------------------------------------------------------------------
    #: True for a model of p(x | context): then every ``log_prob`` / ``sample`` needs a context (the VAE with
    #: labels, a PixelCNN with a per-image condition, an autoregressive model of what follows a history).
    conditional: bool = False

    def validate(self, x: Tensor) -> Tensor:
        """Check that ``x`` is a batch of events, (B, *event_shape); returns it (subclasses may convert).

        Subclasses override this where an event needs more (integer levels: see :func:`check_levels`;
        variable-length token sequences; flat images), calling ``super().validate(x)`` first.
        """
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor of shape (B, *{tuple(self.event_shape)}),"
                            f" got {type(x).__name__}; convert with torch.as_tensor(...)")
        if x.dim() != len(self.event_shape) + 1 or x.shape[1:] != self.event_shape:
            hint = "; flatten 8x8 digits with x.view(len(x), -1)" if self.event_shape == torch.Size([64]) else ""
            shape = ", ".join(map(str, self.event_shape))
            raise ValueError(f"{type(self).__name__} expects inputs of shape (B, {shape}), got {tuple(x.shape)}{hint}")
        if x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"{type(self).__name__} expects real-valued inputs, got dtype {x.dtype}")
        return x

    def validate_context(self, context: Tensor | None, n: int | None = None) -> Tensor | None:
        """Check the conditioning input for ``n`` events (one row each); returns it (subclasses may convert).

        An unconditional model takes no context; a conditional one needs it. Subclasses that need a
        particular shape or dtype override this, calling ``super().validate_context(context, n)`` first.
        """
        name = type(self).__name__
        if context is None:
            if self.conditional:
                raise ValueError(f"this {name} is conditional: pass context=... (one row per example)")
            return None
        if not self.conditional:
            raise ValueError(f"this {name} is not conditional: call it without context")
        if not isinstance(context, Tensor):
            raise TypeError(f"context must be a torch.Tensor with one row per example, got {type(context).__name__};"
                            " e.g. torch.full((n,), 3) for n samples of label 3")
        if n is not None and (context.dim() == 0 or len(context) != n):
            rows = "a scalar" if context.dim() == 0 else f"{len(context)} rows"
            raise ValueError(f"context has {rows} for {n} examples: give one row per example")
        return context

    # -- sampling --------------------------------------------------------------------------------------------
    def sample(self, n: int, context: Tensor | None = None, generator: torch.Generator | None = None,
               **options) -> Tensor:
        """Draw ``n`` events, (n, *event_shape), without gradients; ``context`` holds one row per sample.

        Keyword ``options`` (a temperature, top-k, ...) go to ``_sample``; models that take some list them in
        their own ``sample``, keyword-only after ``generator``.
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}; "
                            "e.g. generator=torch.Generator().manual_seed(0)")
        context = self.validate_context(context, n)
        with torch.no_grad():
            return self._sample(n, context, generator, **options)

    def _sample(self, n: int, context: Tensor | None, generator: torch.Generator | None) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement sampling (_sample)")

    # -- training ---------------------------------------------------------------------------------------------
    def loss(self, x: Tensor, context: Tensor | None = None) -> Tensor | dict[str, Tensor]:
        """The training objective on a batch: a scalar, or a dict holding ``"loss"`` and numbers to log."""
        raise NotImplementedError(f"{type(self).__name__} does not define a training loss")

    def train_step(self, batch: Sequence[Tensor], optimizers: Optimizers,
                   clip_grad: float | None = None) -> dict[str, float]:
        """One optimisation step on ``batch`` (x, or x and context): loss, backward, clip, step.

        Returns the numbers to log (``loss`` and whatever else ``loss`` returned). A GAN overrides this.
        """
        (optimizer,) = as_optimizer_list(optimizers)
        loss, logs = scalar_loss(self.loss(*batch))
        norm = optimizer_step(loss, optimizer, clip_grad)
        if norm is not None:
            logs["grad_norm"] = norm
        return logs


class DensityModel(Model):
    """A model with an exact (log-)likelihood: ``log_prob(x) -> (B,)`` in nats."""

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """log p(x | context) in nats, one number per example, (B,); summed over the event dimensions."""
        x = self.validate(x)
        return self._log_prob(x, self.validate_context(context, len(x)))

    def _log_prob(self, x: Tensor, context: Tensor | None) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement _log_prob")

    def loss(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Mean negative log-likelihood in nats per example."""
        return -self.log_prob(x, context).mean()
