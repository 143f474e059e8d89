"""Classical density models: histogram, KDE, Gaussian, mixtures (with EM), a kernel density on discrete levels.

Every model follows the course's model interface (course_lib.models.base.DensityModel): a fixed
``event_shape``, ``log_prob(x) -> (N,)`` in nats (inputs checked once, with a message that says how to fix
them), ``sample(n, generator=None)``, and its tensors held as buffers, so ``.to(device)`` moves them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from course_lib.models.base import DensityModel, check_levels

# ---- chapter 01: non-parametric density estimators (Histogram, KDE) ----
# Both estimators keep the training data and need no training loop. Inputs of shape (N,) give a 1-D model
# (event_shape ()); inputs of shape (N, D) give a D-dimensional one (event_shape (D,)). Arithmetic is in
# float64; log_prob returns the query's floating dtype (float32 for integer queries).


def _as_points(x: Tensor | np.ndarray, event_dim: int | None, name: str) -> Tensor:
    """Return x as a float64 tensor (N, D); event_dim None accepts (N,) as (N, 1)."""
    x = torch.as_tensor(x)
    if x.dim() == 1 and event_dim in (None, 0):
        return x.double().unsqueeze(1)
    if x.dim() != 2 or (event_dim is not None and x.shape[1] != event_dim):
        want = "(N,)" if event_dim == 0 else f"(N, {event_dim})" if event_dim else "(N,) or (N, D)"
        raise ValueError(f"{name}: expected points of shape {want}, got {tuple(x.shape)}")
    return x.double()


def _out_dtype(x: Tensor) -> torch.dtype:
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()


def _query_points(x: Tensor) -> Tensor:
    """A validated batch (M,) or (M, D) as float64 points (M, D)."""
    return x.double().reshape(len(x), -1)


class Histogram(DensityModel):
    """Histogram density estimate on a regular grid of bins (1-D or n-D).

    p(x) = count(bin(x)) / (N * volume of a bin) inside ``range``, 0 outside, so log_prob is -inf for
    points in empty bins or out of range. ``pseudocount`` (Laplace smoothing) adds that many counts to every
    bin, which keeps held-out log-likelihoods finite inside the range.

    Args:
        data: training points, (N,) for 1-D or (N, D).
        bins: number of bins per dimension (an int, or one int per dimension).
        range: (low, high) for 1-D, or a sequence of D such pairs; default: the data's min and max.
        pseudocount: counts added to every bin before normalising (default 0: the plain histogram).
    """

    def __init__(self, data: Tensor, bins: int | tuple[int, ...] = 10, range=None, pseudocount: float = 0.0):
        data = torch.as_tensor(data)
        super().__init__(data.shape[1:2])
        pts = _as_points(data, None, "data")  # (N, D)
        d = pts.shape[1]
        bins_t = (bins,) * d if isinstance(bins, int) else tuple(int(b) for b in bins)
        if len(bins_t) != d or min(bins_t) < 1:
            raise ValueError(f"bins must be a positive int or {d} positive ints, got {bins}")
        if range is None:
            lows, highs = pts.min(0).values, pts.max(0).values
        else:
            pairs = [range] if d == 1 and len(range) == 2 and np.ndim(range[0]) == 0 else list(range)
            if len(pairs) != d:
                raise ValueError(f"range needs {d} (low, high) pairs, got {range}")
            lows = torch.tensor([float(p[0]) for p in pairs], dtype=torch.float64)
            highs = torch.tensor([float(p[1]) for p in pairs], dtype=torch.float64)
        highs = torch.where(highs > lows, highs, lows + 1.0)  # a constant feature still gets a width
        self.bins = bins_t
        self.register_buffer("low", lows)  # (D,)
        self.register_buffer("high", highs)  # (D,)
        self.register_buffer("width", (highs - lows) / torch.tensor(bins_t, dtype=torch.float64))  # (D,)
        idx, inside = self._bin_index(pts)
        counts = torch.zeros(math.prod(bins_t), dtype=torch.float64)
        counts.index_add_(0, idx[inside], torch.ones(int(inside.sum()), dtype=torch.float64))
        self.register_buffer("counts", counts.view(bins_t))  # training points per bin (out-of-range: dropped)
        self.num_train = len(pts)
        probs = (counts + pseudocount) / (len(pts) + pseudocount * counts.numel())  # mass per bin
        self.register_buffer("log_probs_flat", probs.log())  # (num_bins,) log mass of each bin

    def _bin_index(self, pts: Tensor) -> tuple[Tensor, Tensor]:
        """pts (M, D) -> flat bin index (M,) and inside-range mask (M,); the top edge is in the last bin."""
        bins = torch.tensor(self.bins, device=pts.device)
        k = torch.floor((pts - self.low) / self.width).long()  # (M, D)
        k = torch.where(pts == self.high, bins - 1, k)
        inside = ((pts >= self.low) & (pts <= self.high)).all(1)
        k = torch.minimum(k.clamp(min=0), bins - 1)
        strides = torch.tensor([math.prod(self.bins[i + 1 :]) for i in range(len(self.bins))], device=pts.device)
        return (k * strides).sum(1), inside

    @property
    def edges(self) -> list[Tensor]:
        """Bin edges per dimension, each (bins_i + 1,)."""
        triples = zip(self.low.tolist(), self.high.tolist(), self.bins, strict=True)
        return [torch.linspace(lo, hi, b + 1) for lo, hi, b in triples]

    def _log_prob(self, x: Tensor, context: None) -> Tensor:
        """x: (M,) for 1-D or (M, D). Returns (M,) log-densities in nats (-inf: empty bin or out of range)."""
        pts = _query_points(x)
        idx, inside = self._bin_index(pts)
        logp = self.log_probs_flat[idx] - self.width.log().sum()
        logp = torch.where(inside, logp, torch.full_like(logp, -math.inf))
        return logp.to(_out_dtype(x))

    def _sample(self, n: int, context: None, generator: torch.Generator | None) -> Tensor:
        """Pick a bin with probability equal to its mass, then a uniform point in it. Returns (n, *event)."""
        probs = self.log_probs_flat.exp()
        flat = torch.multinomial(probs, n, replacement=True, generator=generator)  # (n,)
        k = torch.stack(torch.unravel_index(flat, self.bins), 1).double()  # (n, D)
        u = torch.rand(n, len(self.bins), generator=generator, dtype=torch.float64, device=self.device)
        x = (self.low + (k + u) * self.width).float()  # (n, D)
        return x.view(n, *self.event_shape)


class KDE(DensityModel):
    """Gaussian kernel density estimate: p(x) = (1/N) sum_i N(x; x_i, h^2 I), in 1-D or n-D.

    log p(x) = logsumexp_i(-|x - x_i|^2 / (2 h^2)) - log N - (D/2) log(2 pi h^2), computed by log-sum-exp so
    that small bandwidths do not underflow. Parzen (1962); Silverman, Density Estimation (1986).

    Args:
        data: training points, (N,) for 1-D or (N, D).
        bandwidth: the kernel's standard deviation h > 0, or "scott" / "silverman" for a rule of thumb.
        chunk_size: queries evaluated at once (default: as many as keep chunk * N * D under 4M floats).
    """

    def __init__(self, data: Tensor, bandwidth: float | str = "scott", chunk_size: int | None = None):
        data = torch.as_tensor(data)
        super().__init__(data.shape[1:2])
        self.register_buffer("data", _as_points(data, None, "data"))  # (N, D)
        if isinstance(bandwidth, str):
            bandwidth = self.rule_of_thumb(data, bandwidth)
        self.bandwidth = float(bandwidth)
        if not self.bandwidth > 0:
            raise ValueError(f"bandwidth must be positive, got {bandwidth}")
        self.chunk_size = chunk_size

    @staticmethod
    def rule_of_thumb(data: Tensor, rule: str = "scott") -> float:
        """Scott's h = s N^(-1/(D+4)) or Silverman's h = s (4 / (N (D+2)))^(1/(D+4)); s = mean feature std."""
        pts = _as_points(data, None, "data")
        n, d = pts.shape
        sigma = float(pts.std(0).mean())
        if rule == "scott":
            return sigma * n ** (-1.0 / (d + 4))
        if rule == "silverman":
            return sigma * (4.0 / (n * (d + 2))) ** (1.0 / (d + 4))
        raise ValueError(f"unknown bandwidth rule {rule!r}; use 'scott', 'silverman' or a number")

    def _log_prob(self, x: Tensor, context: None) -> Tensor:
        """x: (M,) for 1-D or (M, D). Returns (M,) log-densities in nats."""
        pts = _query_points(x)  # (M, D)
        n, d = self.data.shape
        h = self.bandwidth
        log_norm = math.log(n) + 0.5 * d * math.log(2 * math.pi * h * h)
        out = []
        chunk_size = self.chunk_size or max(1, 2**22 // (n * d))
        for chunk in pts.split(chunk_size):
            sq = (chunk[:, None, :] - self.data[None]).square().sum(-1)  # (m, N), exact (cdist may round)
            out.append(torch.logsumexp(-sq / (2 * h * h), dim=1) - log_norm)
        logp = torch.cat(out) if out else torch.zeros(0, dtype=torch.float64, device=self.device)
        return logp.to(_out_dtype(x))

    def _sample(self, n: int, context: None, generator: torch.Generator | None) -> Tensor:
        """Ancestral sampling: pick a training point uniformly, add N(0, h^2 I) noise. Returns (n, *event)."""
        i = torch.randint(len(self.data), (n,), generator=generator, device=self.device)
        noise = torch.randn(n, self.data.shape[1], generator=generator, dtype=torch.float64, device=self.device)
        x = (self.data[i] + self.bandwidth * noise).float()  # (n, D)
        return x.view(n, *self.event_shape)


# ---- end of chapter 01 section ----


# ---- chapter 02: parametric models (Gaussian, GaussianMixture, IndependentCategorical, MixtureOfCategoricals) ----  # noqa: E501
# Maximum-likelihood fits in closed form (Gaussian, categorical) and by EM (mixtures). A mixture's EM
# alternates an E-step, r_nk = p(z=k | x_n), with a closed-form M-step (Dempster, Laird & Rubin, 1977;
# Bishop, Pattern Recognition and Machine Learning, section 9.2).

_LOG_2PI = math.log(2 * math.pi)


def _check_2d(x: Tensor, dim: int | None, what: str) -> None:
    if x.dim() != 2 or (dim is not None and x.shape[1] != dim):
        want = f"(N, {dim})" if dim is not None else "(N, D)"
        raise ValueError(f"{what}: expected x of shape {want}, got {tuple(x.shape)}; "
                         "flatten images with x.view(len(x), -1)")


def gaussian_log_prob(x: Tensor, mean: Tensor, covariance: Tensor) -> Tensor:
    """log N(x | mean, covariance) for x (N, D), mean (D,), covariance (D, D). Returns (N,) nats.

    log N = -1/2 [D log 2 pi + log det S + (x - mu)^T S^-1 (x - mu)], through the Cholesky factor S = L L^T.
    """
    D = x.shape[-1]
    L = torch.linalg.cholesky(covariance)  # (D, D)
    z = torch.linalg.solve_triangular(L, (x - mean).T, upper=False).T  # (N, D) = (L^-1 (x - mu))^T
    log_det = 2 * torch.log(torch.diagonal(L)).sum()
    return -0.5 * (D * _LOG_2PI + log_det + (z**2).sum(-1))


class Gaussian(DensityModel):
    """A multivariate normal N(mean, covariance), with a full or a diagonal covariance.

    ``Gaussian.fit(x)`` is the maximum-likelihood estimate: the sample mean and the *biased* covariance
    (divided by N, not N - 1). With ``diagonal=True`` the covariance is stored as the (D,) variances and the
    dimensions are independent: log p(x) = sum_d log N(x_d | mu_d, sigma_d^2).
    """

    def __init__(self, mean: Tensor, covariance: Tensor, *, diagonal: bool = False):
        mean = torch.as_tensor(mean)
        if mean.dim() != 1:
            raise ValueError(f"mean must have shape (D,), got {tuple(mean.shape)}")
        super().__init__(mean.shape)
        self.register_buffer("mean", mean)
        self.register_buffer("covariance", torch.as_tensor(covariance, dtype=mean.dtype))
        self.diagonal = diagonal
        D = self.event_shape[0]
        want = (D,) if diagonal else (D, D)
        if self.covariance.shape != want:
            raise ValueError(f"covariance must have shape {want} (diagonal={diagonal}), "
                             f"got {tuple(self.covariance.shape)}")

    @classmethod
    def fit(cls, x: Tensor, *, diagonal: bool = False, min_variance: float = 0.0) -> Gaussian:
        """Maximum-likelihood fit to x (N, D): mu = mean, Sigma = (1/N) sum (x - mu)(x - mu)^T."""
        _check_2d(x, None, "Gaussian.fit")
        mean = x.mean(0)
        diff = x - mean  # (N, D)
        if diagonal:
            return cls(mean, (diff**2).mean(0) + min_variance, diagonal=True)
        cov = diff.T @ diff / len(x) + min_variance * torch.eye(x.shape[1], dtype=x.dtype)
        return cls(mean, cov)

    def _log_prob(self, x: Tensor, context: None) -> Tensor:
        """x: (N, D). Returns (N,) log-densities in nats."""
        x = x.to(self.mean.dtype)
        if self.diagonal:
            var = self.covariance  # (D,)
            return -0.5 * (_LOG_2PI + torch.log(var) + (x - self.mean) ** 2 / var).sum(-1)
        return gaussian_log_prob(x, self.mean, self.covariance)

    def _sample(self, n: int, context: None, generator: torch.Generator | None) -> Tensor:
        """Returns (n, D): mean + L eps with eps ~ N(0, I) and L L^T = covariance."""
        eps = torch.randn(n, *self.event_shape, generator=generator, dtype=self.mean.dtype, device=self.device)
        if self.diagonal:
            return self.mean + eps * self.covariance.sqrt()
        return self.mean + eps @ torch.linalg.cholesky(self.covariance).T

    def num_parameters(self) -> int:
        D = self.event_shape[0]
        return 2 * D if self.diagonal else D + D * (D + 1) // 2


class GaussianMixture(DensityModel):
    """p(x) = sum_k pi_k N(x | mu_k, Sigma_k), full covariances, fitted by expectation-maximisation.

    E-step: log r_nk = log pi_k + log N(x_n | mu_k, Sigma_k) - logsumexp_j(...), all in log space.
    M-step: N_k = sum_n r_nk, pi_k = N_k / N, mu_k = sum_n r_nk x_n / N_k,
            Sigma_k = sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T / N_k + reg * I.
    Each EM iteration never decreases the training log-likelihood (``fit`` records it per iteration).
    """

    def __init__(self, weights: Tensor, means: Tensor, covariances: Tensor):
        means = torch.as_tensor(means)
        if means.dim() != 2:
            raise ValueError(f"means must have shape (K, D), got {tuple(means.shape)}")
        super().__init__(means.shape[1:])
        self.register_buffer("weights", torch.as_tensor(weights))  # (K,)
        self.register_buffer("means", means)  # (K, D)
        self.register_buffer("covariances", torch.as_tensor(covariances))  # (K, D, D)
        K, D = self.means.shape
        if self.weights.shape != (K,) or self.covariances.shape != (K, D, D):
            raise ValueError(f"expected weights (K,), means (K, D), covariances (K, D, D); got "
                             f"{tuple(self.weights.shape)}, {tuple(self.means.shape)}, "
                             f"{tuple(self.covariances.shape)}")
        self.history: list[float] = []  # mean training log-likelihood after each EM iteration

    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    def component_log_prob(self, x: Tensor) -> Tensor:
        """log pi_k + log N(x_n | mu_k, Sigma_k): (N, K) joint log-probabilities log p(x_n, z=k)."""
        return self._component_log_prob(self.validate(x))

    def _component_log_prob(self, x: Tensor) -> Tensor:
        x = x.to(self.means.dtype)
        cols = [gaussian_log_prob(x, self.means[k], self.covariances[k]) for k in range(self.num_components)]
        return torch.stack(cols, -1) + torch.log(self.weights)

    def _log_prob(self, x: Tensor, context: None) -> Tensor:
        """x: (N, D). Returns (N,) log p(x) = logsumexp_k [log pi_k + log N(x | mu_k, Sigma_k)] in nats."""
        return torch.logsumexp(self._component_log_prob(x), -1)

    def e_step(self, x: Tensor) -> Tensor:
        """(N, K) log-responsibilities log p(z=k | x_n); each row logsumexps to 0."""
        joint = self.component_log_prob(x)
        return joint - torch.logsumexp(joint, -1, keepdim=True)

    def m_step(self, x: Tensor, responsibilities: Tensor, *, reg: float = 1e-6) -> None:
        """Closed-form update from x (N, D) and responsibilities r (N, K) (probabilities, not logs)."""
        x = x.to(self.means.dtype)
        r = responsibilities.to(self.means.dtype)
        Nk = r.sum(0) + 1e-12  # (K,)
        self.weights = Nk / Nk.sum()
        self.means = (r.T @ x) / Nk[:, None]  # (K, D)
        diff = x[None] - self.means[:, None]  # (K, N, D)
        cov = (diff * r.T[..., None]).transpose(1, 2) @ diff / Nk[:, None, None]  # (K, D, D)
        self.covariances = cov + reg * torch.eye(self.event_shape[0], dtype=x.dtype, device=x.device)

    @classmethod
    def init_from_data(cls, x: Tensor, num_components: int, *, generator: torch.Generator | None = None
                       ) -> GaussianMixture:
        """Means at K random data points, equal weights, every covariance the data's covariance."""
        x = x.double()
        idx = torch.randperm(len(x), generator=generator)[:num_components]
        cov = torch.cov(x.T).reshape(x.shape[1], x.shape[1]) + 1e-6 * torch.eye(x.shape[1], dtype=x.dtype)
        K = num_components
        return cls(torch.full((K,), 1.0 / K, dtype=x.dtype), x[idx].clone(), cov.expand(K, -1, -1).clone())

    def em(self, x: Tensor, num_iterations: int = 100, *, tol: float = 1e-6, reg: float = 1e-6,
           callback=None) -> GaussianMixture:
        """Run EM from the current parameters; stops when the mean log-likelihood gains less than tol.

        ``callback(model, iteration)`` is called before the first and after every iteration (e.g. to keep
        snapshots for an animation).
        """
        x = x.to(self.means.dtype)
        if callback is not None:
            callback(self, 0)
        for it in range(num_iterations):
            log_r = self.e_step(x)
            self.m_step(x, log_r.exp(), reg=reg)
            self.history.append(self.log_prob(x).mean().item())
            if callback is not None:
                callback(self, it + 1)
            if len(self.history) > 1 and self.history[-1] - self.history[-2] < tol:
                break
        return self

    @classmethod
    def fit(cls, x: Tensor, num_components: int, *, num_iterations: int = 100, restarts: int = 1,
            tol: float = 1e-6, reg: float = 1e-6, seed: int = 0) -> GaussianMixture:
        """EM from ``restarts`` random initialisations; returns the one with the best training likelihood."""
        _check_2d(x, None, "GaussianMixture.fit")
        gen = torch.Generator().manual_seed(seed)
        best = None
        for _ in range(restarts):
            model = cls.init_from_data(x, num_components, generator=gen)
            model.em(x, num_iterations, tol=tol, reg=reg)
            if best is None or model.history[-1] > best.history[-1]:
                best = model
        return best

    def _sample(self, n: int, context: None, generator: torch.Generator | None) -> Tensor:
        """Ancestral sampling: z ~ Categorical(pi), then x ~ N(mu_z, Sigma_z). Returns (n, D)."""
        z = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, *self.event_shape, generator=generator, dtype=self.means.dtype, device=self.device)
        L = torch.linalg.cholesky(self.covariances)  # (K, D, D)
        return self.means[z] + torch.einsum("nij,nj->ni", L[z], eps)

    def num_parameters(self) -> int:
        K, D = self.num_components, self.event_shape[0]
        return (K - 1) + K * D + K * D * (D + 1) // 2


class GaussianMixtureSGD(DensityModel):
    """The same mixture as :class:`GaussianMixture`, as an nn.Module trained by gradient descent on the NLL.

    Unconstrained parameters: mixture logits (K,), means (K, D), and a Cholesky factor per component whose
    diagonal is stored as a log (so it stays positive): Sigma_k = L_k L_k^T.
    """

    def __init__(self, num_components: int, dim: int, *, init_means: Tensor | None = None,
                 init_log_scale: float = 0.0, generator: torch.Generator | None = None):
        super().__init__((dim,))
        self.logits = torch.nn.Parameter(torch.zeros(num_components))
        if init_means is None:
            means = torch.randn(num_components, dim, generator=generator)
        else:
            means = torch.as_tensor(init_means).float()
        self.means = torch.nn.Parameter(means.clone())
        self.log_diag = torch.nn.Parameter(torch.full((num_components, dim), float(init_log_scale)))
        self.off_diag = torch.nn.Parameter(torch.zeros(num_components, dim, dim))
        self.register_buffer("lower_mask", torch.tril(torch.ones(dim, dim), diagonal=-1))

    def scale_tril(self) -> Tensor:
        """(K, D, D) lower-triangular L_k with a positive diagonal."""
        return self.off_diag * self.lower_mask + torch.diag_embed(self.log_diag.exp())

    def validate(self, x: Tensor) -> Tensor:
        """x: (N, D) real; returns it in the parameters' dtype."""
        return super().validate(x).to(self.means.dtype)

    def _log_prob(self, x: Tensor, context: None) -> Tensor:
        """x: (N, D). Returns (N,) nats."""
        L = self.scale_tril()  # (K, D, D)
        eye = torch.eye(L.shape[-1], dtype=L.dtype, device=L.device).expand_as(L)
        L_inv = torch.linalg.solve_triangular(L, eye, upper=False)  # (K, D, D), lower triangular
        z = torch.einsum("kij,nkj->nki", L_inv, x[:, None, :] - self.means)  # (N, K, D) = L_k^-1 (x - mu_k)
        D = self.event_shape[0]
        comp = -0.5 * (D * _LOG_2PI + (z**2).sum(-1)) - self.log_diag.sum(-1)  # (N, K)
        return torch.logsumexp(comp + torch.log_softmax(self.logits, 0), -1)

    def _sample(self, n: int, context: None, generator: torch.Generator | None) -> Tensor:
        """Ancestral sampling: z ~ Categorical(softmax(logits)), x = mu_z + L_z eps. Returns (n, D)."""
        probs = torch.softmax(self.logits, 0)
        z = torch.multinomial(probs, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.event_shape[0], generator=generator, device=self.means.device)
        return self.means[z] + torch.einsum("nij,nj->ni", self.scale_tril()[z], eps)

    def to_em_model(self) -> GaussianMixture:
        """The same distribution as a :class:`GaussianMixture` (float64), e.g. to compare with EM."""
        with torch.no_grad():
            L = self.scale_tril().double()
            return GaussianMixture(torch.softmax(self.logits.double(), 0), self.means.double().clone(),
                                   L @ L.transpose(-1, -2))


def smoothed_counts_pmf(counts: Tensor, alpha: float) -> Tensor:
    """(counts + alpha) / (N + V alpha) along the last axis: add-alpha (Laplace for alpha = 1) smoothing.

    This is the MAP estimate under a symmetric Dirichlet(alpha + 1) prior (and the posterior mean under
    Dirichlet(alpha)); alpha = 0 is the maximum-likelihood estimate.
    """
    counts = counts.double()
    return (counts + alpha) / (counts.sum(-1, keepdim=True) + alpha * counts.shape[-1])


class IndependentCategorical(DensityModel):
    """Every dimension independent: p(x) = prod_d Categorical(x_d | theta_d), x_d in {0..V-1}.

    ``fit`` uses add-alpha smoothing (see :func:`smoothed_counts_pmf`): with alpha = 0 a value never seen
    in training at some pixel gets probability 0 and a test image containing it gets NLL = +inf.
    """

    def __init__(self, probs: Tensor):
        probs = torch.as_tensor(probs).double()
        if probs.dim() != 2:
            raise ValueError(f"probs must have shape (D, V), got {tuple(probs.shape)}")
        super().__init__(probs.shape[:1])
        self.register_buffer("probs", probs)  # (D, V)
        self.register_buffer("log_probs", torch.log(probs))

    @property
    def num_values(self) -> int:
        return self.probs.shape[1]

    @classmethod
    def fit(cls, x: Tensor, num_values: int, *, alpha: float = 1.0) -> IndependentCategorical:
        """x: (N, D) integers in {0..num_values-1}."""
        _check_2d(x, None, "IndependentCategorical.fit")
        onehot = torch.nn.functional.one_hot(x.long(), num_values)  # (N, D, V)
        return cls(smoothed_counts_pmf(onehot.sum(0), alpha))

    def validate(self, x: Tensor) -> Tensor:
        """x: (N, D) integers in 0..num_values-1; returns x.long()."""
        return check_levels(super().validate(x), self.num_values, self, "values")

    def _log_prob(self, x: Tensor, context: None) -> Tensor:
        """x: (N, D) integers. Returns (N,) nats: sum_d log theta_{d, x_d}."""
        return self.log_probs.gather(1, x.T).T.sum(-1)

    def _sample(self, n: int, context: None, generator: torch.Generator | None) -> Tensor:
        """Returns (n, D) LongTensor, each pixel drawn from its own categorical."""
        return torch.multinomial(self.probs, n, replacement=True, generator=generator).T.contiguous()

    def num_parameters(self) -> int:
        return self.event_shape[0] * (self.num_values - 1)


class MixtureOfCategoricals(DensityModel):
    """p(x) = sum_k pi_k prod_d Categorical(x_d | theta_kd): pixels independent given the component z.

    Fitted by EM. E-step: log r_nk = log pi_k + sum_d log theta_{k,d,x_nd} - logsumexp_j(...). M-step with
    add-alpha smoothing (a MAP M-step): theta_kdv = (sum_n r_nk [x_nd = v] + alpha) / (N_k + V alpha),
    pi_k = (N_k + 1) / (N + K)  (add-one on the weights keeps empty components alive).
    """

    def __init__(self, weights: Tensor, probs: Tensor):
        probs = torch.as_tensor(probs).double()
        if probs.dim() != 3:
            raise ValueError(f"probs must have shape (K, D, V), got {tuple(probs.shape)}")
        super().__init__(probs.shape[1:2])
        self.register_buffer("weights", torch.as_tensor(weights).double())  # (K,)
        self.register_buffer("probs", probs)  # (K, D, V)
        self.history: list[float] = []  # mean training log-likelihood per EM iteration
        self.objective: list[float] = []  # the same plus log prior / N: what MAP-EM never decreases

    @property
    def num_components(self) -> int:
        return self.probs.shape[0]

    @property
    def num_values(self) -> int:
        return self.probs.shape[2]

    def validate(self, x: Tensor) -> Tensor:
        """x: (N, D) integers in 0..num_values-1; returns x.long()."""
        return check_levels(super().validate(x), self.num_values, self, "values")

    def component_log_prob(self, x: Tensor) -> Tensor:
        """(N, K) joint log-probabilities log pi_k + log p(x_n | z=k)."""
        return self._joint(self._onehot(self.validate(x)))

    def _joint(self, onehot: Tensor) -> Tensor:
        ll = onehot @ torch.log(self.probs).reshape(self.num_components, -1).T  # (N, K)
        return ll + torch.log(self.weights)

    def _onehot(self, x: Tensor) -> Tensor:
        return torch.nn.functional.one_hot(x.long(), self.num_values).double().reshape(len(x), -1)

    def _log_prob(self, x: Tensor, context: None) -> Tensor:
        """x: (N, D) integers. Returns (N,) nats."""
        return torch.logsumexp(self._joint(self._onehot(x)), -1)

    def e_step(self, x: Tensor) -> Tensor:
        """(N, K) log-responsibilities."""
        joint = self.component_log_prob(x)
        return joint - torch.logsumexp(joint, -1, keepdim=True)

    def m_step(self, x: Tensor, responsibilities: Tensor, *, alpha: float = 1.0) -> None:
        """MAP M-step from x (N, D) and responsibilities (N, K) (probabilities, not logs)."""
        self._m_step(self._onehot(self.validate(x)), responsibilities, alpha)

    def _m_step(self, onehot: Tensor, responsibilities: Tensor, alpha: float) -> None:
        r = responsibilities.double()  # (N, K)
        counts = (r.T @ onehot).reshape(self.probs.shape)  # (K, D, V) expected counts
        self.probs = smoothed_counts_pmf(counts, alpha)
        Nk = r.sum(0)
        self.weights = (Nk + 1.0) / (Nk.sum() + self.num_components)

    @classmethod
    def fit(cls, x: Tensor, num_values: int, num_components: int, *, alpha: float = 1.0,
            num_iterations: int = 200, tol: float = 1e-5, restarts: int = 1, seed: int = 0
            ) -> MixtureOfCategoricals:
        """EM from ``restarts`` seeded random starts, each until the objective (mean log-likelihood plus
        log prior / N) gains less than ``tol`` nats per image; returns the run with the best objective.

        Start: component k is centred on a random training example x_(k), theta_k = (1/2) onehot(x_(k)) +
        (1/2) (the smoothed marginals of all the data). Random soft responsibilities would average out to K
        near-identical components that EM separates only very slowly.
        """
        _check_2d(x, None, "MixtureOfCategoricals.fit")
        gen = torch.Generator().manual_seed(seed)
        onehot = torch.nn.functional.one_hot(x.long(), num_values).double()  # (N, D, V)
        marginal = smoothed_counts_pmf(onehot.sum(0), 1.0)  # (D, V)
        best = None
        for _ in range(restarts):
            centres = onehot[torch.randperm(len(x), generator=gen)[:num_components]]  # (K, D, V)
            model = cls(torch.full((num_components,), 1.0 / num_components), 0.5 * centres + 0.5 * marginal)
            model._em(onehot.reshape(len(x), -1), alpha, num_iterations, tol)
            if best is None or model.objective[-1] > best.objective[-1]:
                best = model
        return best

    def _em(self, onehot: Tensor, alpha: float, num_iterations: int, tol: float) -> None:
        """EM iterations on the one-hot data (N, D * V), from the current parameters."""
        for _ in range(num_iterations):
            joint = self._joint(onehot)  # (N, K)
            log_px = torch.logsumexp(joint, -1, keepdim=True)  # (N, 1)
            self.history.append(log_px.mean().item())  # log-likelihood of the current parameters
            # MAP-EM climbs the log posterior (likelihood + log prior), not the likelihood alone: stop on it
            log_prior = alpha * torch.log(self.probs).sum() + torch.log(self.weights).sum()
            self.objective.append(self.history[-1] + log_prior.item() / len(onehot))
            self._m_step(onehot, (joint - log_px).exp(), alpha)
            if len(self.objective) > 1 and self.objective[-1] - self.objective[-2] < tol:
                break

    def _sample(self, n: int, context: None, generator: torch.Generator | None) -> Tensor:
        """z ~ Categorical(pi), then every pixel from theta_z. Returns (n, D) LongTensor."""
        z = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        p = self.probs[z].reshape(n * self.event_shape[0], self.num_values)
        return torch.multinomial(p, 1, generator=generator).view(n, *self.event_shape)

    def num_parameters(self) -> int:
        K, D, V = self.num_components, self.event_shape[0], self.num_values
        return (K - 1) + K * D * (V - 1)


# ---- end of chapter 02 section ----


# ---- chapter 08: a kernel density on discrete levels (the likelihood model closest to k-NN) ----

KERNELS = ("gaussian", "laplace")


def discrete_log_kernel(num_values: int, bandwidth: float, kernel: str = "gaussian") -> Tensor:
    """(V, V) float64 table: row t is log K_h(v | t) over v in 0..V-1, normalised over the V levels.

    "gaussian": K_h(v | t) ~ exp(-(v - t)^2 / (2 h^2)); "laplace": K_h(v | t) ~ exp(-|v - t| / h) (heavier
    tails). The normaliser depends on t: a centre near 0 or V - 1 loses the mass that would fall outside.
    """
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0 (in grey levels), got {bandwidth}")
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    v = torch.arange(num_values, dtype=torch.float64)
    gap = v[None, :] - v[:, None]  # (t, v)
    logits = -gap**2 / (2.0 * float(bandwidth) ** 2) if kernel == "gaussian" else -gap.abs() / float(bandwidth)
    return logits - torch.logsumexp(logits, 1, keepdim=True)


class DiscreteKDE(DensityModel):
    """Kernel density on integer levels: p(x) = (1/N) sum_n prod_d K_d(x_d | t_nd), x_d in {0..V-1}.

    The centres t_n are the N training images. K_d(v | t) = (1 - lam) K_h(v | t) + lam theta_d(v): a kernel of
    width ``bandwidth`` in levels (:func:`discrete_log_kernel`, normalised for each centre), mixed with weight
    ``floor`` = lam with the pixel's background distribution theta_d (default: the add-one smoothed
    marginals of the data, i.e. the independent-pixels model). Every K_d(. | t) sums to one over the levels, so
    p sums to one over all V^D images: an exact likelihood, not a bound. lam = 0 is Parzen's estimator
    (Rosenblatt, 1956; Parzen, 1962); lam = 1 is the independent-pixels model. A small h makes log p(x) a
    soft minimum over the training images of a distance to x, the k-NN distance seen as a density
    (Loftsgaarden & Quesenberry, 1965). ``fit`` chooses h, lam and the kernel on validation data.
    """

    def __init__(self, data: Tensor, num_values: int, bandwidth: float, *, kernel: str = "gaussian",
                 floor: float = 0.0, background: Tensor | None = None, chunk_size: int = 1024):
        data = torch.as_tensor(data)
        _check_2d(data, None, "DiscreteKDE")
        super().__init__(data.shape[1:2])
        if not 0.0 <= floor <= 1.0:
            raise ValueError(f"floor is a mixture weight in [0, 1], got {floor}")
        self.num_values, self.bandwidth, self.kernel, self.floor = int(num_values), float(bandwidth), kernel, floor
        self.chunk_size = int(chunk_size)
        self.register_buffer("centres", check_levels(data, num_values, self))  # (N, D)
        if background is None:
            background = smoothed_counts_pmf(torch.nn.functional.one_hot(self.centres, num_values).sum(0), 1.0)
        log_k = discrete_log_kernel(num_values, bandwidth, kernel)[None]  # (1, V, V)
        log_bg = torch.log(torch.as_tensor(background, dtype=torch.float64))[:, None, :]  # (D, 1, V)
        if floor == 0.0:
            table = log_k.expand(len(log_bg), -1, -1)
        elif floor == 1.0:
            table = log_bg.expand(-1, num_values, -1)
        else:
            table = torch.logaddexp(math.log1p(-floor) + log_k, math.log(floor) + log_bg)
        self.register_buffer("log_kernel", table.contiguous())  # (D, V, V): log K_d(v | t)
        self.validation: dict[tuple[str, float, float], float] = {}  # (kernel, h, lam) -> mean val log p

    @classmethod
    def fit(cls, train: Tensor, val: Tensor, num_values: int, *, bandwidths: Sequence[float] | None = None,
            floors: Sequence[float] = (0.0,), kernels: Sequence[str] = ("gaussian",)) -> DiscreteKDE:
        """The (kernel, bandwidth, floor) of the grid with the highest mean log-likelihood on ``val``.

        Default bandwidths: 11 values from 0.3 to 4 levels, geometric. The score of every grid point is kept
        in ``model.validation``. The test split is never seen here.
        """
        grid = np.geomspace(0.3, 4.0, 11) if bandwidths is None else bandwidths
        scores = {(k, float(h), float(lam)): cls(train, num_values, float(h), kernel=k, floor=float(lam))
                  .log_prob(val).mean().item() for k in kernels for h in grid for lam in floors}
        kernel, h, lam = max(scores, key=scores.get)
        model = cls(train, num_values, h, kernel=kernel, floor=lam)
        model.validation = scores
        return model

    def validate(self, x: Tensor) -> Tensor:
        """x: (M, D) integers in 0..num_values-1; returns x.long()."""
        return check_levels(super().validate(x), self.num_values, self, "values")

    def _log_prob(self, x: Tensor, context: None) -> Tensor:
        """x: (M, D). Returns (M,) nats: logsumexp_n sum_d log K_d(x_d | t_nd) - log N, in float64."""
        pixels = torch.arange(self.event_shape[0], device=self.device)
        table = self.log_kernel[pixels, self.centres].reshape(len(self.centres), -1)  # (N, D V)
        out = []
        for chunk in x.split(self.chunk_size):
            onehot = torch.nn.functional.one_hot(chunk, self.num_values).double().reshape(len(chunk), -1)
            out.append(torch.logsumexp(onehot @ table.T, 1))  # (m, N): sum_d log K_d(x_md | t_nd) -> (m,)
        return torch.cat(out) - math.log(len(self.centres))

    def _sample(self, n: int, context: None, generator: torch.Generator | None) -> Tensor:
        """A training image chosen uniformly, then each pixel from K_d(. | its level). Returns (n, D) long."""
        index = torch.randint(len(self.centres), (n,), generator=generator, device=self.device)
        pixels = torch.arange(self.event_shape[0], device=self.device)
        probs = self.log_kernel[pixels, self.centres[index]].exp()  # (n, D, V)
        draws = torch.multinomial(probs.reshape(-1, self.num_values), 1, generator=generator)
        return draws.view(n, *self.event_shape)

    def num_parameters(self) -> int:
        """Bandwidth and floor; the N training images are data the model keeps, not fitted parameters."""
        return 2

