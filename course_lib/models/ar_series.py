"""Autoregressive models of a real-valued time series: a Gaussian AR(p) and a small neural AR model.

Both factorise p(x_p, ..., x_{n-1} | x_0..x_{p-1}) = prod_t p(x_t | x_{t-1}, ..., x_{t-p}).
- AR(p): x_t = c + sum_i phi_i x_{t-i} + eps_t, eps_t ~ N(0, sigma^2). Its conditional MLE is ordinary least
  squares on the lagged design matrix, and sigma^2 is the mean squared residual (Box & Jenkins; statsmodels'
  `AutoReg` fits the same thing, which the tests use as a reference).
- Neural AR: an MLP of the last p values outputs a mean and a log standard deviation, so the noise level may
  change with the state (heteroscedastic); trained by minimising the Gaussian NLL.

The model interface (course_lib.models.base): an event is the next ``steps`` values of a series (event_shape
(steps,), one by default) and the context is the history before them, (B, L) with L >= p, or one history
(L,) shared by every row; only its last p values matter. ``log_prob(x, context)`` is the exact
log p(x_1..x_steps | history) = sum_s log p(x_s | the p values before it), in nats; ``sample(n, context=history)``
draws n continuations, feeding each draw back in. Train on ``lagged_examples(series, p)``, a tuple
(x, context) that ``course_lib.train.fit`` takes as it is.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.models.base import DensityModel

__all__ = ["lagged_design", "lagged_examples", "fit_ar_least_squares", "GaussianAR", "NeuralAR"]

_LOG_2PI = math.log(2 * math.pi)


def lagged_design(series: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows t = p .. n-1: X[t-p] = [1, x_{t-1}, ..., x_{t-p}] and y[t-p] = x_t. Returns X (n-p, p+1), y (n-p,)."""
    series = np.asarray(series, dtype=np.float64)
    n = len(series)
    if n <= p:
        raise ValueError(f"need more than p={p} values, got {n}")
    lags = [series[p - i : n - i] for i in range(1, p + 1)]  # lag i is x_{t-i} for t = p .. n-1
    return np.column_stack([np.ones(n - p), *lags]), series[p:]


def fit_ar_least_squares(series: np.ndarray, p: int) -> tuple[np.ndarray, float]:
    """Conditional MLE of a Gaussian AR(p). Returns params [c, phi_1, ..., phi_p] (p+1,) and sigma^2."""
    X, y = lagged_design(series, p)
    params, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ params
    return params, float(np.mean(resid ** 2))


def lagged_examples(series: np.ndarray | Tensor, p: int, steps: int = 1) -> tuple[Tensor, Tensor]:
    """Every (history, continuation) pair of a series: x (N, steps), the next values, and context (N, p), the p
    values before them (oldest first), float32, N = n - p - steps + 1. ``fit(model, lagged_examples(...))``."""
    w = NeuralAR.windows(series, p + steps - 1)  # (N, p + steps)
    return w[:, p:].contiguous(), w[:, :p].contiguous()


class _LaggedGaussian(DensityModel):
    """x_t | x_{t-p..t-1} ~ N(mean(.), std(.)^2): what AR(p) and the neural AR share (see the module docstring).

    Subclasses give ``_mean_log_std(lags (M, p), oldest first) -> mean (M,), log_std (M,)`` and ``dtype``.
    """

    conditional = True

    def __init__(self, p: int, steps: int = 1):
        super().__init__((steps,))
        self.p = p

    @property
    def dtype(self) -> torch.dtype:
        raise NotImplementedError

    def _mean_log_std(self, lags: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def validate(self, x: Tensor) -> Tensor:
        """x: (B, steps) real values; returns them in the model's dtype."""
        return super().validate(x).to(self.dtype)

    def validate_context(self, context: Tensor | None, n: int | None = None) -> Tensor:
        """context: the history, (B, L) or (L,) (shared by every row), L >= p. Returns its last p values (B, p)."""
        if isinstance(context, Tensor) and context.dim() == 1 and n is not None:
            context = context.expand(n, -1)  # one history for every row
        context = super().validate_context(context, n)
        if context.dim() != 2 or context.shape[1] < self.p or context.is_complex():
            raise ValueError(f"context must be a real history of at least p = {self.p} values, (B, L) or (L,); "
                             f"got shape {tuple(context.shape)}; e.g. context=torch.as_tensor(series[-{self.p}:])")
        return context[:, -self.p:].to(self.dtype)

    def _step_log_probs(self, x: Tensor, context: Tensor) -> Tensor:
        """x (B, S), context (B, p). Returns (B, S): log p(x_s | the p values before it), teacher-forced."""
        windows = torch.cat([context, x], 1).unfold(1, self.p + 1, 1)  # (B, S, p + 1)
        mean, log_std = self._mean_log_std(windows[..., :-1].reshape(-1, self.p))
        z = (windows[..., -1].reshape(-1) - mean) / log_std.exp()
        return (-0.5 * (_LOG_2PI + z ** 2) - log_std).view(x.shape)

    def _log_prob(self, x: Tensor, context: Tensor) -> Tensor:
        return self._step_log_probs(x, context).sum(1)

    def _sample(self, n: int, context: Tensor, generator: torch.Generator | None, steps: int | None = None
                ) -> Tensor:
        window, out = context, []  # (n, p)
        for _ in range(self.event_shape[0] if steps is None else steps):
            mean, log_std = self._mean_log_std(window)
            nxt = mean + log_std.exp() * torch.randn(n, generator=generator, dtype=mean.dtype, device=mean.device)
            out.append(nxt)
            window = torch.cat([window[:, 1:], nxt[:, None]], 1)
        return torch.stack(out, 1)  # (n, steps)

    def conditional_log_prob(self, history: np.ndarray, future: np.ndarray) -> np.ndarray:
        """One-step-ahead log-likelihoods of `future` given everything before it (len(future),), in nats.
        `history` must hold at least the p values just before `future`."""
        def as_row(values: np.ndarray) -> Tensor:
            return torch.as_tensor(np.asarray(values, np.float64)[None], device=self.device).to(self.dtype)

        future = as_row(future)
        with torch.no_grad():
            lp = self._step_log_probs(future, self.validate_context(as_row(history), 1))
        return lp[0].double().cpu().numpy()

    def sample_paths(self, history: np.ndarray, steps: int, n: int,
                     generator: torch.Generator | None = None) -> np.ndarray:
        """n simulated continuations of `history` (any number of steps), (n, steps) numpy; like ``sample``."""
        context = torch.as_tensor(np.asarray(history, np.float64), device=self.device).to(self.dtype)
        with torch.no_grad():
            return self._sample(n, self.validate_context(context, n), generator, steps).double().cpu().numpy()


class GaussianAR(_LaggedGaussian):
    """A Gaussian AR(p) fitted by least squares; log-likelihoods in nats, forecasts with exact bands.

    ``params`` = [c, phi_1, ..., phi_p] (p+1,) and ``sigma2`` () are float64 buffers, set by ``fit``.
    """

    def __init__(self, p: int, steps: int = 1):
        super().__init__(p, steps)
        self.register_buffer("params", None)
        self.register_buffer("sigma2", None)

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64

    def fit(self, series: np.ndarray) -> GaussianAR:
        params, sigma2 = fit_ar_least_squares(series, self.p)
        self.params = torch.as_tensor(params, dtype=torch.float64, device=self.device)
        self.sigma2 = torch.tensor(sigma2, dtype=torch.float64, device=self.device)
        return self

    def _need_fit(self) -> None:
        if self.params is None:
            raise RuntimeError("call fit(series) first")

    def _mean_log_std(self, lags: Tensor) -> tuple[Tensor, Tensor]:
        self._need_fit()
        mean = self.params[0] + lags.flip(1) @ self.params[1:]  # lags oldest first, phi_1 for x_{t-1}
        return mean, (0.5 * torch.log(self.sigma2)).expand_as(mean)

    def forecast(self, history: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of x_{n+h}, h = 1..steps, given the history (no new observations).

        The mean follows the recursion with the noise set to zero; the variance is sigma^2 sum_{j<h} psi_j^2,
        with psi the moving-average weights psi_0 = 1, psi_j = sum_i phi_i psi_{j-i}.
        """
        self._need_fit()
        params = self.params.cpu().numpy()
        c, phi = params[0], params[1:]
        values = list(np.asarray(history, float)[-self.p:])
        means = []
        for _ in range(steps):
            values.append(c + float(np.dot(phi, values[::-1][: self.p])))
            means.append(values[-1])
        psi = [1.0]
        for j in range(1, steps):
            psi.append(sum(phi[i - 1] * psi[j - i] for i in range(1, min(j, self.p) + 1)))
        std = np.sqrt(float(self.sigma2) * np.cumsum(np.square(psi)))
        return np.array(means), std


class NeuralAR(_LaggedGaussian):
    """x_t | x_{t-p..t-1} ~ N(mu(.), sigma(.)^2) with an MLP for (mu, log sigma), on standardised values."""

    def __init__(self, p: int, hidden: int = 32, loc: float = 0.0, scale: float = 1.0, steps: int = 1):
        super().__init__(p, steps)
        self.register_buffer("loc", torch.tensor(float(loc)))
        self.register_buffer("scale", torch.tensor(float(scale)))
        self.net = nn.Sequential(nn.Linear(p, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, 2))

    @property
    def dtype(self) -> torch.dtype:
        return self.loc.dtype

    @staticmethod
    def windows(series: np.ndarray | Tensor, p: int) -> Tensor:
        """All (p + 1)-long windows of a series, (n - p, p + 1) float32: p inputs (oldest first), then the target."""
        s = torch.as_tensor(np.asarray(series, dtype=np.float32))
        return s.unfold(0, p + 1, 1).contiguous()

    def _mean_log_std(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        z = (inputs - self.loc) / self.scale  # (B, p), oldest first
        out = self.net(z)
        mean = self.loc + self.scale * out[:, 0]
        log_std = torch.log(self.scale) + F.softplus(out[:, 1]).log().clamp(min=-7)  # std > 0, not tiny
        return mean, log_std
