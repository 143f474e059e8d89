"""Chapter 06's diffusion rung of the digits ladder: a discrete-time Gaussian diffusion with a categorical
decoder over the 17 grey levels, and its negative ELBO (kind ``bound``).

Why it is a bound on -log P(x) of the 17-level images: see ``course_lib.models.diffusion``. In short, for
every image x, log P(x) >= E_q[log p(x | z_0)] - sum_{t=1}^{T-1} E_q KL(q(z_{t-1} | z_t, x) || p(z_{t-1} | z_t))
- KL(q(z_{T-1} | x) || N(0, I)) by Jensen's inequality (a hierarchical VAE whose encoder q is the fixed
noising chain), and p(x | z_0) is a normalised categorical over the 17 levels of each pixel. The prior KL is
exact; the diffusion sum is estimated without bias by (T - 1) KL_t at stratified t, the reconstruction by one
z_0 per draw. The reported number is the mean over the test images of ``TEST_DRAWS`` x ``TEST_REPLICATES``
such draws per image; ``python -m course_lib.ladder.ch06_diffusion`` prints its Monte Carlo standard error and
the three terms, computed from the same draws (they sum to the bound printed).

The three terms, and the inequality behind each (all in nats per image, reported as costs = minus the term):
- prior, KL(q(z_{T-1} | x) || N(0, I)) >= 0: exact, closed form for two Gaussians (about 1e-3 here);
- diffusion, sum_t E_q KL(q(z_{t-1} | z_t, x) || p(z_{t-1} | z_t)) >= 0, each KL in closed form
  1/2 (SNR(t-1) - SNR(t)) ||v_x - xhat(z_t, t)||^2, the sum estimated without bias by KL_t / q(t), t ~ q;
- reconstruction, E_q[-log p(x | z_0)] >= 0, a categorical over the 17 levels (sums to one over the 17^64
  images), estimated without bias by one z_0 ~ q(z_0 | x) per draw.
Their sum is >= -log P(x) by Jensen's inequality; the Monte Carlo noise is reported, never the bias: there is
none.

Recipe (``DiffusionRecipe``), chosen on ``split.val`` only (``split.test`` is only reported): conv denoiser
(32 channels, 2 residual blocks), dropout 0.1, T = 1000 with a fixed linear log-SNR from +10 to -10 (the
endpoints are not learned, so the reconstruction and prior terms stay near zero), Adam 2e-3, batch 128, EMA
0.995, 1000 steps, the EMA weights with the best validation bound kept. Validation bound (seed 0, nats per
image, ± Monte Carlo standard error; 01:00-01:20 on the shared machine): residual MLP (hidden 256, 3 blocks),
600 steps: dropout 0.1 96.57 ± 0.53, dropout 0.2 96.66 ± 0.53, with the importance distribution over t
refitted every 150 steps 96.58 ± 0.49 (no gain: kept off); conv denoiser, 250 steps 97.10 ± 0.51, 1000 steps
84.22 ± 0.48 (validations 95.95, 86.39, 84.17, 83.31 at steps 250, 500, 750, 1000).

Reported (``python -m course_lib.ladder.ch06_diffusion --seeds S --test``, S = 0, 1, 2, 01:30-01:39, one
thread, load 1 to 3.5): test bound 81.77 ± 0.42, 81.66 ± 0.44, 81.74 ± 0.43 nats per image (± the Monte
Carlo standard error of 40 draws of (t, noise) per image: 4 replicates of 10 stratified draws), mean 81.72,
seed spread 0.06; training 140.8, 147.0, 127.6 s; prior and reconstruction terms below 0.01 nats each.
Its samples, chapter 05's protocol (1000 samples against the 447 test images, FD / the train-vs-test floor
2.80): DDIM with 50 steps 11.58, 11.09, 12.49 = 4.14, 3.96, 4.46 x floor (seeds 0, 1, 2; 25-90 s per 1000
samples on the loaded machine); flow matching's samples score about 2 x floor (below).

Threads: one. 20 training steps (batch 128) per thread count, load 3 to 7: residual MLP 0.047 s/step on one
thread, 0.036 and then 0.96 s/step on two; conv denoiser 0.13 s/step on one, 0.15 and then 0.62 on two. Two
intra-op threads stall as soon as another process runs.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from course_lib.config import torch_threads
from course_lib.data import DigitsSplit, load_digits_split
from course_lib.leaderboard import LadderResult, register
from course_lib.models.diffusion import GaussianDiffusion, digits_diffusion, negative_elbo, negative_elbo_terms
from course_lib.nn import count_parameters
from course_lib.train import EMA, Callback, fit

NAME = "diffusion (categorical decoder), negative ELBO"


@dataclass(frozen=True)
class DiffusionRecipe:
    denoiser: str = "conv"  # "conv" (ConvDenoiser) or "mlp" (residual MLP, hidden = 4 * channels)
    channels: int = 32
    blocks: int = 2
    dropout: float = 0.1
    timesteps: int = 1000
    log_snr_max: float = 10.0  # z_0: noise std about 0.007 against a level spacing of 0.125
    log_snr_min: float = -10.0  # z_{T-1}: the prior KL is about 1e-3 nats per image
    steps: int = 1000
    lr: float = 2e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    ema_decay: float = 0.995
    eval_every: int = 250
    val_draws: int = 2  # validation: draws x replicates one-draw estimates per image, fixed seed
    val_replicates: int = 2
    test_draws: int = 10
    test_replicates: int = 4
    proposal_every: int = 0  # refit the importance distribution over t on training images every this many steps
    threads: int = 1


class RefitTimeProposal(Callback):
    """Every ``every`` steps, and at the end, set the model's importance distribution over t from a fixed
    sample of training images (``GaussianDiffusion.fit_time_proposal``). Training and validation then draw t
    from it; any such distribution leaves the bound's estimate unbiased."""

    def __init__(self, images: torch.Tensor, every: int, points: int = 50, seed: int = 0) -> None:
        self.images, self.every, self.points = images, every, points
        self.generator = torch.Generator().manual_seed(seed)

    def _refit(self, model: GaussianDiffusion) -> None:
        was_training = model.training
        model.eval()
        model.fit_time_proposal(self.images, self.points, generator=self.generator)
        model.train(was_training)

    def on_step_end(self, model, state, logs) -> None:
        if self.every and state.step % self.every == 0:
            self._refit(model)


DIFFUSION_FAST = DiffusionRecipe(channels=8, blocks=1, steps=30, eval_every=15, timesteps=100, test_draws=2,
                                 test_replicates=2)


def build(recipe: DiffusionRecipe) -> GaussianDiffusion:
    return digits_diffusion(recipe.timesteps, recipe.channels, recipe.blocks, recipe.dropout, recipe.log_snr_max,
                            recipe.log_snr_min, recipe.denoiser)


def train_digits_diffusion(split: DigitsSplit, recipe: DiffusionRecipe, seed: int = 0
                           ) -> tuple[GaussianDiffusion, float, list[float]]:
    """Train on ``split.train``, keep the weights (EMA) with the best validation bound.

    Returns (model, training seconds, validation bounds in nats per image at each validation)."""
    torch.manual_seed(seed)
    model = build(recipe)

    def score(m, val):
        return negative_elbo(m, val, recipe.val_draws, recipe.val_replicates, seed=seed + 1)[0]

    refit = RefitTimeProposal(split.train[torch.randperm(len(split.train), generator=torch.Generator().manual_seed(
        seed))[:256]], recipe.proposal_every, seed=seed)
    with torch_threads(recipe.threads):
        history = fit(model, split.train, split.val, steps=recipe.steps, lr=recipe.lr,
                      weight_decay=recipe.weight_decay, batch_size=recipe.batch_size, eval_every=recipe.eval_every,
                      score=score, callbacks=[EMA(recipe.ema_decay), refit], seed=seed)
        start = time.perf_counter()
        if recipe.proposal_every:
            refit._refit(model)  # the final weights' own importance distribution, from training images only
    return model, history.seconds + time.perf_counter() - start, history.val_loss


def score_test(model: GaussianDiffusion, x: torch.Tensor, recipe: DiffusionRecipe, seed: int = 0
               ) -> tuple[float, float, dict[str, float]]:
    """(mean negative bound, its Monte Carlo standard error, the mean of each term), nats per image; the terms
    come from the same draws as the bound and sum to it."""
    with torch_threads(recipe.threads):
        return negative_elbo_terms(model, x, recipe.test_draws, recipe.test_replicates, seed=seed + 2)


@register("diffusion (categorical decoder)", chapter="06")
def diffusion_entry(split: DigitsSplit, *, fast: bool, seed: int) -> list[LadderResult]:
    recipe = DIFFUSION_FAST if fast else DiffusionRecipe()
    model, seconds, _ = train_digits_diffusion(split, recipe, seed)
    nll, _, _ = score_test(model, split.test, recipe, seed)
    return [LadderResult.from_nll(NAME, "06", "digits17", nll, "bound", seconds, count_parameters(model))]


# ---- flow matching on the digits: no likelihood, judged by the Fréchet distance of its samples ----
#
# python -m course_lib.ladder.ch06_diffusion --model flow_matching --seeds 0 1 2 --test
# The recipe below (residual MLP, hidden 256, 3 blocks, dropout 0.1, 1000 steps, EMA 0.995, the EMA weights
# whose 1000 samples (midpoint, 50 steps) are closest to split.val kept) gave, seeds 0, 1, 2 (01:27-01:30, load
# 2 to 7, one thread): training 46.0, 32.1, 26.4 s; validation FD 10.02, 8.09, 9.08 (1.63, 1.31, 1.47 x the
# train-vs-val floor 6.16); test FD 6.93, 5.78, 5.50 = 2.48, 2.07, 1.96 x the train-vs-test floor (1000
# samples against the 447 test images: chapter 05's protocol, course_lib.experiments.gan_digits). The conv
# velocity field was not tried at this budget: its 1000-sample Fréchet evaluations (100 network calls each)
# did not fit in a 5-minute run on the loaded machine.

@dataclass(frozen=True)
class FlowMatchingRecipe:
    denoiser: str = "mlp"
    channels: int = 64
    blocks: int = 3
    dropout: float = 0.1
    steps: int = 1000
    lr: float = 2e-3
    batch_size: int = 128
    ema_decay: float = 0.995
    eval_every: int = 500
    samples: int = 1000  # images drawn to compute a Fréchet distance
    ode_steps: int = 50  # midpoint steps (two velocity evaluations each)
    threads: int = 1


FLOW_MATCHING_FAST = FlowMatchingRecipe(channels=16, blocks=1, steps=30, eval_every=15, samples=200, ode_steps=5)


def sample_frechet(model, reference: torch.Tensor, n: int, seed: int = 0, **options) -> float:
    """Fréchet distance (chapter 05's digits features) between n samples of ``model`` and ``reference``."""
    from course_lib.metrics.frechet import frechet_distance_digits

    return frechet_distance_digits(model.sample(n, generator=torch.Generator().manual_seed(seed), **options),
                                   reference)


def train_digits_flow_matching(split: DigitsSplit, recipe: FlowMatchingRecipe, seed: int = 0):
    """Train flow matching on ``split.train``; keep the EMA weights whose samples are closest to ``split.val``
    in Fréchet distance. Returns (model, training seconds, validation distances)."""
    from course_lib.models.flow_matching import digits_flow_matching

    torch.manual_seed(seed)
    model = digits_flow_matching(recipe.channels, recipe.blocks, recipe.dropout, recipe.denoiser)

    def score(m, val):
        return sample_frechet(m, val, recipe.samples, seed + 1, steps=recipe.ode_steps)

    with torch_threads(recipe.threads):
        history = fit(model, split.train, split.val, steps=recipe.steps, lr=recipe.lr, batch_size=recipe.batch_size,
                      eval_every=recipe.eval_every, score=score, callbacks=[EMA(recipe.ema_decay)], seed=seed)
    return model, history.seconds, history.val_loss


def main(argv: list[str] | None = None) -> None:
    """Print, per seed, the validation and test bounds with their standard errors and the three terms."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--test", action="store_true", help="also score split.test (only to report a chosen recipe)")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="override recipe fields, e.g. --set steps=2000 dropout=0.2 denoiser=conv")
    parser.add_argument("--model", choices=["diffusion", "flow_matching"], default="diffusion")
    parser.add_argument("--save", metavar="DIR", help="save each seed's state dict to DIR/<model>_seed<seed>.pt")
    args = parser.parse_args(argv)
    if args.model == "diffusion":
        recipe = DIFFUSION_FAST if args.fast else DiffusionRecipe()
    else:
        recipe = FLOW_MATCHING_FAST if args.fast else FlowMatchingRecipe()
    fields = {k: type(v) for k, v in asdict(recipe).items()}
    recipe = replace(recipe, **{k: fields[k](v) for k, v in (item.split("=", 1) for item in args.set)})
    split = load_digits_split()
    print(recipe, flush=True)
    if args.model == "flow_matching":
        _report_flow_matching(split, recipe, args.seeds, args.test, args.save)
        return
    for seed in args.seeds:
        start = time.perf_counter()
        model, seconds, vals = train_digits_diffusion(split, recipe, seed)
        _save(model, args.save, "diffusion", seed)
        val, val_se, terms = score_test(model, split.val, recipe, seed + 10)
        line = (f"seed {seed}: train {seconds:.1f} s, validations {[round(v, 2) for v in vals]}, "
                f"val bound {val:.2f} ± {val_se:.2f} (terms {({k: round(v, 2) for k, v in terms.items()})})")
        if args.test:
            test, test_se, terms = score_test(model, split.test, recipe, seed)
            line += (f", test bound {test:.2f} ± {test_se:.2f} nats per image "
                     f"(terms {({k: round(v, 2) for k, v in terms.items()})})")
        print(line + f", total {time.perf_counter() - start:.1f} s", flush=True)


def _save(model: torch.nn.Module, folder: str | None, name: str, seed: int) -> None:
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), Path(folder) / f"{name}_seed{seed}.pt")


def _report_flow_matching(split: DigitsSplit, recipe: FlowMatchingRecipe, seeds: list[int], test: bool,
                          save: str | None = None) -> None:
    from course_lib.metrics.frechet import frechet_distance_digits

    with torch_threads(recipe.threads):
        val_floor = frechet_distance_digits(split.train, split.val)
    print(f"Fréchet floor (train vs val, real data): {val_floor:.2f}", flush=True)
    for seed in seeds:
        model, seconds, vals = train_digits_flow_matching(split, recipe, seed)
        _save(model, save, "flow_matching", seed)
        with torch_threads(recipe.threads):
            start = time.perf_counter()
            val = sample_frechet(model, split.val, recipe.samples, seed + 10, steps=recipe.ode_steps)
            took = time.perf_counter() - start
            line = (f"seed {seed}: train {seconds:.1f} s, validations {[round(v, 2) for v in vals]}, val FD "
                    f"{val:.2f} ({val / val_floor:.2f} x floor; {recipe.samples} samples in {took:.1f} s)")
            if test:
                from course_lib.metrics.frechet import frechet_floor

                fd = sample_frechet(model, split.test, recipe.samples, seed + 20, steps=recipe.ode_steps)
                line += f", test FD {fd:.2f} ({fd / frechet_floor():.2f} x floor)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
