"""The sample bank: samples of every model of the course that samples, trained once, for chapter 07 to score.

Chapter 07 scores each model's samples (Fréchet distance, KID, precision/recall, density/coverage, the class
histogram, near-copies) against the train-vs-test floor; retraining every model would not fit the lecture's
5 minutes, so this command trains each with the course's own recipe (the ladder's and chapter 05's; nothing
is re-tuned here) on ``load_digits_split().train``, with every choice made on ``split.val`` only (the test
images are never touched), and stores ``N = 1000`` samples per model and seed::

    python -m course_lib.experiments.sample_bank [--fast] [--seeds 0 1 2] [--only NAME ...] [--n 1000]
        [--threads 1] [--out PATH]
    python -m course_lib.experiments.sample_bank --merge PART.npz ... --out PATH

One progress line per model and seed goes to stderr. ``--out`` defaults to
``course_lib/experiments/results/sample_bank.npz`` (``FULL_PATH``); a human-readable copy of the header is
written next to it (``.json``). ``--fast`` uses each recipe's fast twin (the tests' budget, the same code)
and, with the default ``--out``, writes ``sample_bank_fast.npz`` (``FAST_PATH``) instead. The file is
rewritten after every (model, seed), so an interrupted run keeps what it finished. Seeded and
deterministic: each (model, seed) starts from ``seed_everything(seed)`` and samples from its own generator,
so ``--only`` or ``--seeds 1`` gives the same samples as a full run; ``--merge`` joins such runs into one file
(the committed full bank was made as one process per seed, merged: its header lists each part's command).

Models (``MODELS``; the key is what ``--only`` and the loader take), and how samples reach the 17-level grid:

- ``independent``: independent per-pixel categoricals (chapter 02, alpha on val): exact draws on the grid;
- ``mixture``: mixture of categoricals by EM (chapter 02, components and alpha on val): exact;
- ``pixelcnn``: the ladder's plain raster-order PixelCNN (chapter 03, best epoch on val): exact, pixel by pixel;
- ``vae``: the conv-decoder VAE (chapter 04, best epoch on val): z ~ N(0, I), then the decoder's 17-way
  categorical per pixel: exact ancestral draws;
- ``gan``: the DCGAN of chapter 05 (``gan_digits`` recipe ``dcgan``): the generator's tanh output mapped to
  [0, 16] and rounded to the nearest level (the only model whose samples are rounded from a continuum);
- ``flow``: ``DigitsFlow`` with variational dequantisation (chapter 06, best epoch on val): y from the flow on
  the dequantised scale, floor(y), images with a pixel outside [0, 17) redrawn, i.e. exact draws from the
  normalised discrete model P(x) / sum P;
- ``diffusion``: the categorical-decoder diffusion (chapter 06, EMA weights with the best val bound): DDIM with
  ``DIFFUSION_DDIM_STEPS`` = 50 steps (eta = 0) down to z_0, then x ~ p(x | z_0), the model's categorical
  decoder over the 17 levels (50 steps, not the 1000-step ancestral chain: chapter 06's sampling protocol);
- ``flow_matching``: flow matching (chapter 06, EMA weights whose samples are closest to val): the ODE from
  N(0, I) with the recipe's 50 midpoint steps, each value rounded to the nearest level.

Reading the bank (what chapter 07 calls)::

    from course_lib.experiments.sample_bank import load_sample_bank
    bank = load_sample_bank()            # FULL_PATH; load_sample_bank(FAST_PATH) for the fast file
    bank.models                          # ['independent', 'mixture', ..., 'flow_matching'] (those in the file)
    bank.seeds("gan")                    # [0, 1, 2]
    x = bank.get("gan", seed=0)          # torch.LongTensor (1000, 64) on 0..16, like split.test
    bank.samples["gan"][0]               # the same as a numpy uint8 array (1000, 64)
    bank.label("gan")                    # 'GAN (DCGAN)': a display name
    bank.header                          # {"command", "date", "commit", "cores", "torch_threads", "fast",
                                         #  "n", "seeds", "wall_seconds", "models": {key: {"label",
                                         #  "chapter", "recipe", "discretisation", "runs": {seed: {
                                         #  "train_seconds", "train_cpu_seconds", "sample_seconds",
                                         #  "sample_cpu_seconds"}}}}}

A missing file raises ``FileNotFoundError`` naming the command that writes it. Training times are wall and
process CPU seconds with the stated number of torch threads (the CPU time is what a loaded machine barely
changes). Every recipe runs with ``--threads`` torch threads (default 1; the only field of a recipe the bank
changes: the PixelCNN recipe's 2 threads become 1, which changes its speed, not what it computes beyond
round-off).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from course_lib.config import seed_everything, torch_threads
from course_lib.data import NUM_LEVELS, DigitsSplit, load_digits_split
from course_lib.train import show_progress

__all__ = ["MODELS", "N_SAMPLES", "FULL_PATH", "FAST_PATH", "COMMAND", "SampleBank", "ModelSpec",
           "build_bank", "save_bank", "merge_banks", "load_sample_bank", "main"]

N_SAMPLES = 1000
DIFFUSION_DDIM_STEPS = 50
RESULTS = Path(__file__).resolve().parent / "results"
FULL_PATH = RESULTS / "sample_bank.npz"
FAST_PATH = RESULTS / "sample_bank_fast.npz"
COMMAND = "python -m course_lib.experiments.sample_bank"


# ---- the models: each trains with its chapter's recipe and samples on the 0..16 grid -----------------------


@dataclass(frozen=True)
class ModelSpec:
    """How one model enters the bank. ``train(split, fast, seed, threads) -> (model, recipe, options)`` uses the
    chapter's recipe; samples are ``to_levels(model.sample(n, generator=..., **options))``, (n, 64) levels."""

    label: str
    chapter: str
    discretisation: str
    train: Callable[[DigitsSplit, bool, int, int], tuple[object, object, dict]]
    to_levels: Callable[[torch.Tensor], torch.Tensor] = lambda x: x


def _with_threads(recipe, threads: int):
    """The recipe with the bank's thread count (the only field the bank changes)."""
    return replace(recipe, threads=threads)


def _train_independent(split, fast, seed, threads):
    from course_lib.ladder.ch02 import ALPHAS, fit_independent

    model, alpha = fit_independent(split)
    return model, {"name": "course_lib.ladder.ch02.fit_independent", "alphas": list(ALPHAS),
                   "chosen_alpha": alpha}, {}


def _train_mixture(split, fast, seed, threads):
    from course_lib.ladder.ch02 import MIXTURE_GRID, RESTARTS, fit_mixture

    budget = "fast" if fast else "full"
    model, chosen, _ = fit_mixture(split, MIXTURE_GRID[budget], seed=seed, restarts=RESTARTS[budget])
    return model, {"name": f"course_lib.ladder.ch02.fit_mixture(MIXTURE_GRID[{budget!r}])",
                   "restarts": RESTARTS[budget], "chosen_components_alpha": list(chosen)}, {}


def _train_pixelcnn(split, fast, seed, threads):
    from course_lib.ladder import ch03

    name = "PIXELCNN_PLAIN_FAST" if fast else "PIXELCNN_PLAIN"
    recipe = _with_threads(getattr(ch03, name), threads)
    model, _ = ch03.train_pixelcnn(split, recipe, seed=seed)
    return model, {"name": f"course_lib.ladder.ch03.{name}", **asdict(recipe)}, {}


def _train_vae(split, fast, seed, threads):
    from course_lib.ladder.ch04 import VAE_FAST, VAERecipe, train_digits_vae

    recipe = _with_threads(VAE_FAST if fast else VAERecipe(), threads)
    model, _ = train_digits_vae(split, recipe, seed=seed)
    return model, {"name": "course_lib.ladder.ch04." + ("VAE_FAST" if fast else "VAERecipe()"), **asdict(recipe)}, {}


def _train_gan(split, fast, seed, threads):
    from course_lib.experiments.gan_digits import train_digits_gan

    model, info = train_digits_gan(split, "dcgan", seed=seed, fast=fast)  # threads: the caller's torch_threads
    return model, {"name": "course_lib.experiments.gan_digits.RECIPES['dcgan']", "steps": info["steps"],
                   **info["recipe"]}, {}


def _gan_levels(y: torch.Tensor) -> torch.Tensor:
    from course_lib.metrics.features import from_gan_range

    return from_gan_range(y).round().long()


def _train_flow(split, fast, seed, threads):
    from course_lib.ladder.ch06_flows import VARIATIONAL, fast_twin, train_digits_flow

    recipe = _with_threads(fast_twin(VARIATIONAL) if fast else VARIATIONAL, threads)
    model, _ = train_digits_flow(split, recipe, seed=seed)
    return model, {"name": "course_lib.ladder.ch06_flows." + ("fast_twin(VARIATIONAL)" if fast else "VARIATIONAL"),
                   **asdict(recipe)}, {}


def _train_diffusion(split, fast, seed, threads):
    from course_lib.ladder.ch06_diffusion import DIFFUSION_FAST, DiffusionRecipe, train_digits_diffusion

    recipe = _with_threads(DIFFUSION_FAST if fast else DiffusionRecipe(), threads)
    model, _, _ = train_digits_diffusion(split, recipe, seed=seed)
    return model, {"name": "course_lib.ladder.ch06_diffusion." + ("DIFFUSION_FAST" if fast else "DiffusionRecipe()"),
                   **asdict(recipe)}, {"method": "ddim", "steps": DIFFUSION_DDIM_STEPS}


def _train_flow_matching(split, fast, seed, threads):
    from course_lib.ladder.ch06_diffusion import FLOW_MATCHING_FAST, FlowMatchingRecipe, train_digits_flow_matching

    recipe = _with_threads(FLOW_MATCHING_FAST if fast else FlowMatchingRecipe(), threads)
    model, _, _ = train_digits_flow_matching(split, recipe, seed=seed)
    name = "FLOW_MATCHING_FAST" if fast else "FlowMatchingRecipe()"
    return model, {"name": f"course_lib.ladder.ch06_diffusion.{name}", **asdict(recipe)}, {"steps": recipe.ode_steps}


MODELS: dict[str, ModelSpec] = {
    "independent": ModelSpec("independent pixels", "02", "exact draws on the 17 levels", _train_independent),
    "mixture": ModelSpec("mixture of categoricals", "02", "exact draws on the 17 levels", _train_mixture),
    "pixelcnn": ModelSpec("PixelCNN", "03", "exact draws, pixel by pixel in raster order", _train_pixelcnn),
    "vae": ModelSpec("VAE", "04", "exact ancestral draws: z ~ N(0, I), x ~ the decoder's 17-way categorical",
                     _train_vae),
    "gan": ModelSpec("GAN (DCGAN)", "05", "tanh output mapped to [0, 16], rounded to the nearest level",
                     _train_gan, _gan_levels),
    "flow": ModelSpec("flow (DigitsFlow)", "06", "floor of the dequantised flow sample; images leaving [0, 17) "
                      "redrawn (exact draws from P(x) / sum P)", _train_flow),
    "diffusion": ModelSpec("diffusion", "06", f"DDIM, {DIFFUSION_DDIM_STEPS} steps (eta 0) to z_0, then x ~ the "
                           "categorical decoder p(x | z_0)", _train_diffusion),
    "flow_matching": ModelSpec("flow matching", "06", "ODE from N(0, I), the recipe's midpoint steps; each value "
                               "rounded to the nearest level", _train_flow_matching),
}


# ---- the bank ------------------------------------------------------------------------------------------------


@dataclass
class SampleBank:
    """Samples per model and seed, and the header saying how they were made (see the module docstring).

    ``samples[model][seed]``: numpy uint8 (N, 64) on 0..16.
    """

    samples: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    header: dict = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        """The model keys in the file, in ``MODELS`` order."""
        return sorted(self.samples, key=lambda k: list(MODELS).index(k) if k in MODELS else len(MODELS))

    def seeds(self, model: str) -> list[int]:
        return sorted(self._model(model))

    def get(self, model: str, seed: int = 0) -> torch.Tensor:
        """(N, 64) LongTensor on 0..16, like ``split.test``."""
        runs = self._model(model)
        if seed not in runs:
            raise KeyError(f"model {model!r} has seeds {sorted(runs)} in the bank, not {seed}")
        return torch.from_numpy(runs[seed].astype(np.int64))

    def label(self, model: str) -> str:
        """A display name (``"GAN (DCGAN)"``)."""
        self._model(model)
        return self.header.get("models", {}).get(model, {}).get("label", model)

    def _model(self, model: str) -> dict[int, np.ndarray]:
        if model not in self.samples:
            raise KeyError(f"no model {model!r} in the sample bank; it holds {self.models}")
        return self.samples[model]


def _key(model: str, seed: int) -> str:
    return f"{model}__seed{seed}"


def save_bank(bank: SampleBank, path: str | Path) -> None:
    """A compressed npz (one uint8 (N, 64) array per model and seed, and the header as JSON text), plus the
    header alone in ``path`` with the suffix ``.json``, for reading without numpy."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {_key(m, s): x for m, runs in bank.samples.items() for s, x in runs.items()}
    text = json.dumps(bank.header, indent=1, sort_keys=False)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, header=np.array(text), **arrays)
    tmp.replace(path)
    path.with_suffix(".json").write_text(text + "\n", encoding="utf-8")


def load_sample_bank(path: str | Path | None = None) -> SampleBank:
    """Read a bank written by the command (default: ``FULL_PATH``, the committed full-mode file)."""
    path = FULL_PATH if path is None else Path(path)
    if not path.exists():
        fast = " --fast" if path.name == FAST_PATH.name else ""
        out = "" if path in (FULL_PATH, FAST_PATH) else f" --out {path}"
        raise FileNotFoundError(f"no sample bank at {path}; write it with `{COMMAND}{fast}{out}` "
                                "(the full run trains every model for 3 seeds: about an hour on one core)")
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["header"]))
        samples: dict[str, dict[int, np.ndarray]] = {}
        for key in data.files:
            if key == "header":
                continue
            model, seed = key.rsplit("__seed", 1)
            samples.setdefault(model, {})[int(seed)] = data[key]
    return SampleBank(samples, header)


def _to_uint8(x: torch.Tensor, model: str) -> np.ndarray:
    x = x.reshape(len(x), -1)
    if x.shape[1] != 64 or x.dtype.is_floating_point and not torch.equal(x, x.round()):
        raise ValueError(f"{model}: expected (N, 64) integer levels, got {tuple(x.shape)} {x.dtype}")
    if int(x.min()) < 0 or int(x.max()) >= NUM_LEVELS:
        raise ValueError(f"{model}: samples outside 0..{NUM_LEVELS - 1} (min {int(x.min())}, max {int(x.max())})")
    return x.to(torch.uint8).numpy()


def build_bank(models: Sequence[str] | None = None, seeds: Sequence[int] = (0, 1, 2), *, fast: bool = False,
               n: int = N_SAMPLES, threads: int = 1, out: str | Path | None = None,
               command: str | None = None, progress: bool = True) -> SampleBank:
    """Train each model per seed, draw ``n`` samples, and (with ``out``) rewrite the file after each one.

    Seed-major order: every model of seed 0 first, so an interrupted run still holds whole seeds.
    """
    from course_lib.leaderboard import provenance

    models = list(MODELS) if models is None else list(models)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise KeyError(f"unknown model(s) {unknown}; the bank knows {list(MODELS)}")
    split = load_digits_split()
    start = time.perf_counter()
    header = provenance([], 0.0) | {"command": command or COMMAND, "torch_threads": threads, "fast": fast, "n": n,
                                    "seeds": [int(s) for s in seeds], "models": {}}
    bank = SampleBank({}, header)
    for seed in seeds:
        for name in models:
            spec = MODELS[name]
            with torch_threads(threads):
                seed_everything(seed)
                wall, cpu = time.perf_counter(), time.process_time()
                with show_progress(progress):  # each recipe's training bar, on stderr
                    model, recipe, options = spec.train(split, fast, int(seed), threads)
                train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
                wall, cpu = time.perf_counter(), time.process_time()
                generator = torch.Generator().manual_seed(10_000 + int(seed))
                x = spec.to_levels(model.eval().sample(n, generator=generator, **options))
                sample_wall, sample_cpu = time.perf_counter() - wall, time.process_time() - cpu
            bank.samples.setdefault(name, {})[int(seed)] = _to_uint8(x, name)
            entry = header["models"].setdefault(name, {"label": spec.label, "chapter": spec.chapter,
                                                       "recipe": recipe["name"],
                                                       "discretisation": spec.discretisation, "runs": {}})
            entry["runs"][str(seed)] = {"recipe": recipe, "train_seconds": round(train_wall, 2),
                                        "train_cpu_seconds": round(train_cpu, 2),
                                        "sample_seconds": round(sample_wall, 2),
                                        "sample_cpu_seconds": round(sample_cpu, 2)}
            header["wall_seconds"] = round(time.perf_counter() - start, 1)
            if out is not None:
                save_bank(bank, out)
            if progress:
                print(f"[sample_bank] {name} (seed {seed}): {n} samples; train {train_wall:.1f} s wall, "
                      f"{train_cpu:.1f} s CPU; sample {sample_wall:.1f} s wall, {sample_cpu:.1f} s CPU",
                      file=sys.stderr, flush=True)
    return bank


def merge_banks(paths: Sequence[str | Path], command: str | None = None) -> SampleBank:
    """One bank from several runs of the command (e.g. one process per seed on a loaded machine).

    Each (model, seed) must come from exactly one file, and every file from the same budget (``fast``, ``n``).
    The header holds the merge's own provenance, each part's header under ``"parts"`` (without its models),
    and every model's runs from all parts.
    """
    from course_lib.leaderboard import provenance

    parts = [load_sample_bank(p) for p in paths]
    if not parts:
        raise ValueError("merge_banks needs at least one file")
    for key in ("fast", "n"):
        values = {json.dumps(b.header.get(key)) for b in parts}
        if len(values) > 1:
            raise ValueError(f"cannot merge banks made with different {key!r}: {sorted(values)}")
    merged = SampleBank({}, {})
    models: dict[str, dict] = {}
    for path, part in zip(paths, parts, strict=True):
        for model, runs in part.samples.items():
            for seed, x in runs.items():
                if seed in merged.samples.get(model, {}):
                    raise ValueError(f"{model} seed {seed} is in more than one file (again in {path})")
                merged.samples.setdefault(model, {})[seed] = x
            info = part.header["models"][model]
            models.setdefault(model, {**info, "runs": {}})["runs"].update(info["runs"])
    seeds = sorted({s for runs in merged.samples.values() for s in runs})
    merged.header = provenance([], 0.0) | {
        "command": command or COMMAND + " --merge " + " ".join(str(p) for p in paths),
        "fast": parts[0].header["fast"], "n": parts[0].header["n"], "seeds": seeds,
        "parts": [{k: v for k, v in b.header.items() if k != "models"} for b in parts],
        "models": {m: models[m] for m in merged.models}}
    del merged.header["wall_seconds"]
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description="Train every sampling model of the course and "
                                     "store its samples for chapter 07")
    parser.add_argument("--fast", action="store_true", help="each recipe's fast twin (the tests' budget)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(MODELS), help="only these models")
    parser.add_argument("--n", type=int, default=N_SAMPLES, help=f"samples per model and seed ({N_SAMPLES})")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: see DESIGN.md)")
    parser.add_argument("--merge", nargs="+", metavar="NPZ", help="merge banks written by earlier runs (one per "
                        "seed, say) into --out, and train nothing")
    parser.add_argument("--out", default=None, help=f"the npz to write (default {FULL_PATH.name}, "
                        f"or {FAST_PATH.name} with --fast, in {RESULTS})")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else (FAST_PATH if args.fast else FULL_PATH)
    command = " ".join([COMMAND, *(sys.argv[1:] if argv is None else argv)])
    if args.merge:
        save_bank(merge_banks(args.merge, command), out)
        print(f"wrote {out}", file=sys.stderr)
        return 0
    build_bank(args.only, args.seeds, fast=args.fast, n=args.n, threads=args.threads, out=out, command=command)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
