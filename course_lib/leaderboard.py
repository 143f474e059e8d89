"""The digits NLL ladder: every registered model, trained and scored on the course's one fixed split.

A chapter adds rows by registering a function in a module of :mod:`course_lib.ladder`::

    @register("independent categorical", chapter="02")
    def independent(split: DigitsSplit, *, fast: bool, seed: int) -> list[LadderResult]: ...

The function trains on ``split.train``, chooses hyperparameters on ``split.val`` only, and returns one
:class:`LadderResult` per row (usually one) with the mean test NLL in nats per image. NLLs compare only
within one ``data`` view: ``digits17`` (17 grey levels) or ``digits2`` (binarised).

Command line (progress goes to stderr, the table or the JSON lines to stdout; ``--json`` starts with a header
line holding the command, date, commit and core count)::

    python -m course_lib.leaderboard [--json] [--fast] [--seeds 0 1 2] [--only NAME ...] [--chapter 02 ...]
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import math
import os
import pkgutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

from course_lib.config import fast_mode

KINDS = ("exact", "bound", "estimate")
DATA_VIEWS = ("digits17", "digits2")


@dataclass
class LadderResult:
    """One row of the ladder. ``test_nll_nats`` is the mean over the test images, in nats per image;
    ``kind`` says whether it is an exact NLL, an upper bound (a VAE's negative ELBO) or an estimate
    (importance-weighted)."""

    model: str
    chapter: str
    data: str  # "digits17" or "digits2"
    test_nll_nats: float
    bits_per_dim: float
    kind: str  # "exact" | "bound" | "estimate"
    train_seconds: float
    params: int

    @classmethod
    def from_nll(cls, model: str, chapter: str, data: str, test_nll_nats: float, kind: str,
                 train_seconds: float, params: int) -> LadderResult:
        """A row whose bits per dimension are derived from the NLL of the 64-pixel digits."""
        from course_lib.data import NUM_PIXELS
        from course_lib.metrics import bits_per_dim

        return cls(model=model, chapter=chapter, data=data, test_nll_nats=test_nll_nats,
                   bits_per_dim=float(bits_per_dim(test_nll_nats, NUM_PIXELS)), kind=kind,
                   train_seconds=train_seconds, params=params)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.data not in DATA_VIEWS:
            raise ValueError(f"data must be one of {DATA_VIEWS}, got {self.data!r}")


LadderFn = Callable[..., list[LadderResult]]


@dataclass(frozen=True)
class _Entry:
    name: str
    chapter: str
    fn: LadderFn


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, *, chapter: str) -> Callable[[LadderFn], LadderFn]:
    """Decorator: add ``fn(split, *, fast, seed) -> list[LadderResult]`` to the ladder under ``name``."""

    def decorate(fn: LadderFn) -> LadderFn:
        old = _REGISTRY.get(name)
        if old is not None and (old.fn.__module__, old.fn.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"ladder entry {name!r} is registered twice "
                             f"({old.fn.__module__} and {fn.__module__})")
        _REGISTRY[name] = _Entry(name, str(chapter), fn)
        return fn

    return decorate


def load_entries() -> dict[str, tuple[str, LadderFn]]:
    """Import every module of :mod:`course_lib.ladder`; returns {name: (chapter, fn)} in chapter order."""
    import course_lib.ladder as ladder_pkg

    for info in sorted(pkgutil.iter_modules(ladder_pkg.__path__), key=lambda i: i.name):
        importlib.import_module(f"{ladder_pkg.__name__}.{info.name}")
    entries = sorted(_REGISTRY.values(), key=lambda e: e.chapter)  # stable: registration order kept
    return {e.name: (e.chapter, e.fn) for e in entries}


def registered_names() -> list[str]:
    """The names of every registered ladder entry, in chapter order."""
    return list(load_entries())


def _select(names: Iterable[str] | None, chapters: Iterable[str] | None) -> list[str]:
    entries = load_entries()
    if names is not None:
        names = list(names)
        unknown = [n for n in names if n not in entries]
        if unknown:
            raise KeyError(f"unknown ladder entr{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
                           f"registered: {list(entries)}")
    else:
        names = list(entries)
    if chapters is not None:
        wanted = {str(c).zfill(2) for c in chapters}
        names = [n for n in names if entries[n][0].zfill(2) in wanted]
    return names


def run(names: Iterable[str] | None = None, *, chapters: Iterable[str] | None = None,
        fast: bool | None = None, seeds: Sequence[int] = (0,), split=None,
        progress: bool = True) -> list[LadderResult]:
    """Train and score the selected entries (all by default) on the digits split.

    Args:
        names: entry names to run (default: every registered entry); unknown names raise a KeyError
            that lists the registered ones.
        chapters: keep only entries of these chapters (``"02"`` or ``2``).
        fast: the fast budget; default: the ``COURSE_FAST`` environment variable.
        seeds: one run per seed; every result of every seed is returned (see :func:`aggregate`).
        split: a :class:`~course_lib.data.DigitsSplit` (default: :func:`~course_lib.data.load_digits_split`).
        progress: print one line per entry and seed to stderr, and show each recipe's training bar there.
    """
    from course_lib.data import load_digits_split
    from course_lib.train import show_progress

    selected = _select(names, chapters)
    entries = load_entries()
    fast = fast_mode() if fast is None else fast
    split = load_digits_split() if split is None else split
    results: list[LadderResult] = []
    for name in selected:
        chapter, fn = entries[name]
        for seed in seeds:
            start = time.perf_counter()
            with show_progress(progress):  # the recipes' training bars, on stderr
                rows = fn(split, fast=fast, seed=int(seed))
            if progress:
                took = time.perf_counter() - start
                summary = ", ".join(f"{r.model}: {r.test_nll_nats:.2f} nats" for r in rows)
                print(f"[ladder] {name} (chapter {chapter}, seed {seed}): {summary} [{took:.1f} s]",
                      file=sys.stderr, flush=True)
            results.extend(rows)
    return results


def aggregate(results: Sequence[LadderResult]) -> list[dict]:
    """One dict per (model, data) with the JSON keys; several results (seeds) give the mean, plus
    ``seeds`` (the count) and ``test_nll_std`` (sample standard deviation of the test NLL)."""
    groups: dict[tuple[str, str], list[LadderResult]] = {}
    for r in results:
        groups.setdefault((r.model, r.data), []).append(r)
    rows = []
    for group in groups.values():
        if len(group) == 1:
            rows.append(asdict(group[0]))
            continue
        first = group[0]
        nll = [r.test_nll_nats for r in group]
        rows.append({
            "model": first.model, "chapter": first.chapter, "data": first.data,
            "test_nll_nats": statistics.fmean(nll),
            "bits_per_dim": statistics.fmean(r.bits_per_dim for r in group),
            "kind": first.kind,
            "train_seconds": statistics.fmean(r.train_seconds for r in group),
            "params": first.params,
            "seeds": len(group), "test_nll_std": statistics.stdev(nll),
        })
    return rows


def format_table(results: Sequence[LadderResult]) -> str:
    """A plain-text table: digits17 rows, then digits2, each in chapter order (mean ± std over seeds)."""
    rows = aggregate(results)
    multi = any("seeds" in r for r in rows)
    header = ["model", "chapter", "data", "test NLL (nats/image)", "bits/dim", "kind", "train s", "params"]
    lines_by_row = []
    for r in rows:
        nll = f"{r['test_nll_nats']:.2f}"
        if multi:
            nll += f" ± {r.get('test_nll_std', 0.0):.2f}"
        lines_by_row.append([r["model"], r["chapter"], r["data"], nll, f"{r['bits_per_dim']:.3f}", r["kind"],
                             f"{r['train_seconds']:.1f}", f"{r['params']:,}"])
    widths = [max(len(h), *(len(row[i]) for row in lines_by_row)) if lines_by_row else len(h)
              for i, h in enumerate(header)]

    def fmt(cells: list[str]) -> str:
        cols = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i in (0, 2, 5) else c.rjust(w) for i, (c, w) in cols)

    out = [fmt(header), fmt(["-" * w for w in widths])]
    for view in DATA_VIEWS:
        for row, r in zip(lines_by_row, rows, strict=True):
            if r["data"] == view:
                out.append(fmt(row))
    return "\n".join(out)


def to_json_lines(results: Sequence[LadderResult]) -> str:
    """One JSON object per model per line (see :func:`aggregate` for the keys)."""
    return "\n".join(json.dumps(r) for r in aggregate(results))


def provenance(argv: Sequence[str], seconds: float) -> dict:
    """The header line of a JSON results file: the command, when, at which commit, on how many cores."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(__file__), timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    import torch

    return {"command": " ".join(["python -m course_lib.leaderboard", *argv]),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "commit": commit, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "wall_seconds": round(seconds, 1)}


def read_results(path) -> tuple[list[dict], list[dict]]:
    """Read a JSON-lines results file: (runs, rows). A line with ``"command"`` is a run's header and says
    how the rows after it were made; every other line is a row (the keys of :func:`aggregate`)."""
    lines = [json.loads(line) for line in open(path, encoding="utf-8").read().splitlines() if line.strip()]
    return [x for x in lines if "command" in x], [x for x in lines if "command" not in x]


def uniform_nll_nats(num_values: int, num_dims: int) -> float:
    """NLL of the uniform distribution: num_dims * ln(num_values) nats (64 ln 17 = 181.33 for digits17)."""
    return num_dims * math.log(num_values)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.leaderboard",
                                     description="Train and score every registered model on the digits split")
    parser.add_argument("--json", action="store_true", help="one JSON object per model per line")
    parser.add_argument("--fast", action="store_true", help="use the fast budget (as COURSE_FAST=1)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (mean and std over them)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these registered entries")
    parser.add_argument("--chapter", nargs="+", metavar="NN", help="run only the entries of these chapters")
    parser.add_argument("--list", action="store_true", help="list the registered entries and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (chapter, _) in load_entries().items():
            print(f"{chapter}  {name}")
        return 0
    start = time.perf_counter()
    try:
        results = run(args.only, chapters=args.chapter, fast=True if args.fast else None, seeds=args.seeds)
    except KeyError as err:
        parser.error(str(err.args[0]))
    if args.json:  # a header line first, so the file says how it was made
        argv = list(sys.argv[1:] if argv is None else argv)
        print(json.dumps(provenance(argv, time.perf_counter() - start)))
        print(to_json_lines(results))
    else:
        print(format_table(results))
    return 0


if __name__ == "__main__":
    # Run through the imported module: the ladder modules register into course_lib.leaderboard, not __main__.
    from course_lib.leaderboard import main as _main

    sys.exit(_main())
