"""Importance-weighted autoencoder (IWAE): a VAE trained on the k-sample importance-weighted bound.

Same generative model and encoder as :class:`course_lib.models.vae.VAE`; only the training objective changes.
With z_1..z_k ~ q(z | x) drawn independently and log-weights log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x),

    L_k(x) = E[ log (1/k) sum_i w_i ]   with   ELBO = L_1 <= L_k <= L_{k+1} <= log p(x),

so ``loss`` = -mean L_k is still minus a lower bound on log p(x), tighter than the ELBO for k > 1. Its gradient
is sum_i w~_i grad log w_i with the normalised weights w~_i = w_i / sum_j w_j: the samples that explain x best
get the largest share. Burda, Grosse and Salakhutdinov, 2016, arXiv:1509.00519.

With a KL weight s = beta * kl_scale < 1 (a warm-up), the log-weights become
log p(x | z_i) + s (log p(z_i) - log q(z_i | x)); at s = 1 this is the bound above.
"""

from __future__ import annotations

import math

from torch import Tensor

from course_lib.models.vae import VAE, diagonal_normal_log_prob, reparameterize, standard_normal_log_prob


class IWAE(VAE):
    """A :class:`VAE` whose training loss is the negative k-sample importance-weighted bound.

    Args:
        k: importance samples per example in the training bound (k = 1 gives the VAE's ELBO loss).
        *args, **kwargs: as for :class:`VAE`.
    """

    def __init__(self, *args, k: int = 5, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int (samples per example), got {k!r}")
        self.k = k

    def iw_bound(self, x: Tensor, context: Tensor | None = None, k: int | None = None,
                 kl_weight: float = 1.0) -> Tensor:
        """One draw of the k-sample bound log (1/k) sum_i w_i, per example, (B,) in nats (differentiable).

        ``kl_weight`` scales log p(z) - log q(z | x) inside the weights (1.0: the bound itself).
        """
        k = self.k if k is None else k
        mu, logvar = self.encode(x, context)
        z = reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape))  # (k, B, d)
        log_prior_ratio = standard_normal_log_prob(z) - diagonal_normal_log_prob(z, mu, logvar)  # (k, B)
        log_w = self.log_likelihood(x, z, context) + kl_weight * log_prior_ratio
        return log_w.logsumexp(0) - math.log(k)

    def loss(self, x: Tensor, context: Tensor | None = None) -> dict[str, Tensor]:
        """-mean L_k in nats per image; in training the weights use beta * kl_scale (a warm-up), in eval beta."""
        weight = self.beta * self.kl_scale if self.training else self.beta
        bound = self.iw_bound(x, context, kl_weight=weight)
        return {"loss": -bound.mean(), f"neg_bound_k{self.k}": -bound.mean().detach()}
