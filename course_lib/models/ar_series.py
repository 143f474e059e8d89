"""Autoregressive models of a real-valued time series: a Gaussian AR(p) and a small neural AR model.

Both factorise p(x_p, ..., x_{n-1} | x_0..x_{p-1}) = prod_t p(x_t | x_{t-1}, ..., x_{t-p}).
- AR(p): x_t = c + sum_i phi_i x_{t-i} + eps_t, eps_t ~ N(0, sigma^2). Its conditional MLE is ordinary least
  squares on the lagged design matrix, and sigma^2 is the mean squared residual (Box & Jenkins; statsmodels'
  `AutoReg` fits the same thing, which the tests use as a reference).
- Neural AR: an MLP of the last p values outputs a mean and a log standard deviation, so the noise level may
  change with the state (heteroscedastic); trained by minimising the Gaussian NLL.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["lagged_design", "fit_ar_least_squares", "GaussianAR", "NeuralAR"]

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


class GaussianAR:
    """A Gaussian AR(p) fitted by least squares; log-likelihoods in nats, forecasts with exact bands."""

    def __init__(self, p: int):
        self.p = p
        self.params: np.ndarray | None = None
        self.sigma2: float | None = None

    def fit(self, series: np.ndarray) -> GaussianAR:
        self.params, self.sigma2 = fit_ar_least_squares(series, self.p)
        return self

    def _need_fit(self) -> None:
        if self.params is None:
            raise RuntimeError("call fit(series) first")

    def conditional_log_prob(self, history: np.ndarray, future: np.ndarray) -> np.ndarray:
        """log p(future_t | the p values before it), one-step-ahead, for each t of `future` (len(future),).
        `history` must hold at least the p values just before `future`."""
        self._need_fit()
        joined = np.concatenate([np.asarray(history, float)[-self.p:], np.asarray(future, float)])
        X, y = lagged_design(joined, self.p)
        mean = X @ self.params
        return -0.5 * (_LOG_2PI + math.log(self.sigma2) + (y - mean) ** 2 / self.sigma2)

    def forecast(self, history: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of x_{n+h}, h = 1..steps, given the history (no new observations).

        The mean follows the recursion with the noise set to zero; the variance is sigma^2 sum_{j<h} psi_j^2,
        with psi the moving-average weights psi_0 = 1, psi_j = sum_i phi_i psi_{j-i}.
        """
        self._need_fit()
        c, phi = self.params[0], self.params[1:]
        values = list(np.asarray(history, float)[-self.p:])
        means = []
        for _ in range(steps):
            values.append(c + float(np.dot(phi, values[::-1][: self.p])))
            means.append(values[-1])
        psi = [1.0]
        for j in range(1, steps):
            psi.append(sum(phi[i - 1] * psi[j - i] for i in range(1, min(j, self.p) + 1)))
        std = np.sqrt(self.sigma2 * np.cumsum(np.square(psi)))
        return np.array(means), std


class NeuralAR(nn.Module):
    """x_t | x_{t-p..t-1} ~ N(mu(.), sigma(.)^2) with an MLP for (mu, log sigma), on standardised values."""

    def __init__(self, p: int, hidden: int = 32, loc: float = 0.0, scale: float = 1.0):
        super().__init__()
        self.p = p
        self.register_buffer("loc", torch.tensor(float(loc)))
        self.register_buffer("scale", torch.tensor(float(scale)))
        self.net = nn.Sequential(nn.Linear(p, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, 2))

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

    def log_prob(self, windows: Tensor) -> Tensor:
        """windows: (B, p+1). Returns (B,) log p(last | first p) in nats."""
        mean, log_std = self._mean_log_std(windows[:, :-1])
        z = (windows[:, -1] - mean) / log_std.exp()
        return -0.5 * (_LOG_2PI + z ** 2) - log_std

    def loss(self, windows: Tensor) -> Tensor:
        return -self.log_prob(windows).mean()

    def conditional_log_prob(self, history: np.ndarray, future: np.ndarray) -> np.ndarray:
        """One-step-ahead log-likelihoods of `future` given everything before it (len(future),), in nats."""
        joined = np.concatenate([np.asarray(history, float)[-self.p:], np.asarray(future, float)])
        with torch.no_grad():
            return self.log_prob(self.windows(joined, self.p)).double().numpy()

    @torch.no_grad()
    def sample_paths(self, history: np.ndarray, steps: int, n: int,
                     generator: torch.Generator | None = None) -> np.ndarray:
        """n simulated continuations of `history`, (n, steps): sampling feeds each draw back in."""
        window = torch.as_tensor(np.asarray(history, np.float32)[-self.p:]).repeat(n, 1)  # (n, p)
        out = []
        for _ in range(steps):
            mean, log_std = self._mean_log_std(window)
            nxt = mean + log_std.exp() * torch.randn(n, generator=generator)
            out.append(nxt)
            window = torch.cat([window[:, 1:], nxt[:, None]], 1)
        return torch.stack(out, 1).double().numpy()
