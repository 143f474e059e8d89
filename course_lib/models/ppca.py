"""Probabilistic PCA: a linear-Gaussian latent variable model with a closed-form maximum-likelihood fit.

z ~ N(0, I_q), x | z ~ N(W z + mu, sigma^2 I_D), so p(x) = N(mu, C) with C = W W^T + sigma^2 I_D.
Maximum likelihood (Tipping and Bishop, 1999, J. R. Statist. Soc. B 61(3)): mu = the data mean; with the
eigenvalues l_1 >= ... >= l_D and eigenvectors U of the (1/N) sample covariance,
sigma^2 = mean of the discarded eigenvalues l_{q+1..D}, W = U_q (L_q - sigma^2 I)^{1/2} (up to a rotation).
The posterior is q(z | x) = N(M^{-1} W^T (x - mu), sigma^2 M^{-1}) with M = W^T W + sigma^2 I_q.

Everything is computed in float64; ``log_prob`` is the exact log-density in nats. ``dequantize`` and
``dequantized_nll_bound`` live in :mod:`course_lib.metrics.dequantization` (still importable from here).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from course_lib.metrics.dequantization import dequantize, dequantized_nll_bound  # noqa: F401 (moved; re-exported)
from course_lib.models.base import DensityModel


def ppca_mle(x: Tensor, q: int) -> tuple[Tensor, Tensor, Tensor]:
    """Closed-form MLE of probabilistic PCA. x: (N, D), 1 <= q < D. Returns mu (D,), W (D, q), sigma2 ()."""
    x = x.double()
    n, d = x.shape
    if not 1 <= q < d:
        raise ValueError(f"q must satisfy 1 <= q < D = {d}, got {q}")
    mu = x.mean(0)
    cov = (x - mu).T @ (x - mu) / n  # (D, D), the MLE covariance (divide by N)
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    evals, evecs = evals.flip(0).clamp_min(0.0), evecs.flip(1)
    sigma2 = evals[q:].mean()
    w = evecs[:, :q] * (evals[:q] - sigma2).clamp_min(0.0).sqrt()
    return mu, w, sigma2


class PPCA(DensityModel):
    """Probabilistic PCA with parameters stored as float64 buffers. Build with ``PPCA.fit(x, q)``.

    Events: (D,) real vectors; ``log_prob`` computes in float64 whatever the input's floating dtype.
    """

    def __init__(self, mu: Tensor, w: Tensor, sigma2: Tensor) -> None:
        super().__init__((w.shape[0],))
        self.register_buffer("mu", mu.double())
        self.register_buffer("w", w.double())
        self.register_buffer("sigma2", torch.as_tensor(sigma2, dtype=torch.float64))
        self.latent_dim = w.shape[1]

    @classmethod
    def fit(cls, x: Tensor, q: int) -> PPCA:
        """Fit by the closed-form MLE (no iterations). x: (N, D) float."""
        return cls(*ppca_mle(x, q))

    def covariance(self) -> Tensor:
        """C = W W^T + sigma^2 I, (D, D)."""
        d = self.event_shape[0]
        return self.w @ self.w.T + self.sigma2 * torch.eye(d, dtype=torch.float64, device=self.w.device)

    def validate(self, x: Tensor) -> Tensor:
        """x: (B, D) real; returns it as float64."""
        return super().validate(x).double()

    def _log_prob(self, x: Tensor, context: None) -> Tensor:
        """Exact log N(x; mu, C) in nats, (B,). x: (B, D)."""
        chol = torch.linalg.cholesky(self.covariance())
        diff = (x - self.mu).T  # (D, B)
        sol = torch.linalg.solve_triangular(chol, diff, upper=False)  # L^{-1} (x - mu)
        maha = sol.pow(2).sum(0)
        log_det = 2 * torch.log(torch.diagonal(chol)).sum()
        return -0.5 * (maha + log_det + self.event_shape[0] * math.log(2 * math.pi))

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q(z | x) = N(mean, cov): mean (B, q), cov (q, q) (the same for every x)."""
        q = self.latent_dim
        m = self.w.T @ self.w + self.sigma2 * torch.eye(q, dtype=torch.float64, device=self.w.device)
        m_inv = torch.linalg.inv(m)
        mean = (self.validate(x) - self.mu) @ self.w @ m_inv.T
        return mean, self.sigma2 * m_inv

    def reconstruct(self, x: Tensor) -> Tensor:
        """W E[z | x] + mu: the projection of x through the latent space, (B, D)."""
        return self.posterior(x)[0] @ self.w.T + self.mu

    def _sample(self, n: int, context: None, generator: torch.Generator | None) -> Tensor:
        """x = W z + mu + sigma * eps, (n, D) float64."""
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=torch.float64, device=self.w.device)
        eps = torch.randn(n, self.event_shape[0], generator=generator, dtype=torch.float64, device=self.w.device)
        return z @ self.w.T + self.mu + self.sigma2.sqrt() * eps
