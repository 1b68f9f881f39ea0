"""The flight demo's search on 1 worker and on N: the same quality, and the wall time.

Trains ``examples/flight_delays/factory.yaml`` with ``engine: {workers: 1}`` (trials
one after another in this process, with pruning) and with ``workers: N`` (batches
of N trials in spawned processes, each run to the end), each into a fresh
embedded registry after one untimed warm-up training, and prints the kept
trial's validation AUC, the test AUC, the trials run and pruned, and the wall
seconds of the training and of its search step, with the ratio.

    .venv/bin/python benchmarks/parallel_search.py [--workers 2] [--trials 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "flight_delays" / "factory.yaml"


def _train(raw: dict[str, Any], folder: Path) -> tuple[Any, float, float]:
    """The result, the wall seconds of train() and of its search step."""
    from mlfactory.registry import Registry
    from mlfactory.spec import parse_spec
    from mlfactory.training import train
    from mlfactory.training.events import SearchFinished, SearchStarted

    marks: dict[str, float] = {}

    def on_event(event: object) -> None:
        if isinstance(event, SearchStarted):
            marks["start"] = time.perf_counter()
        elif isinstance(event, SearchFinished):
            marks["end"] = time.perf_counter()

    registry = Registry(path=folder / ".mlfactory")
    started = time.perf_counter()
    result = train(parse_spec(raw), registry=registry, on_event=on_event)
    return result, time.perf_counter() - started, marks["end"] - marks["start"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel run")
    parser.add_argument("--trials", type=int, help="search.trials (default: the demo's)")
    args = parser.parse_args(argv)
    if args.workers < 2:
        parser.error("--workers must be at least 2")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    raw = yaml.safe_load(DEMO.read_text())
    if args.trials:
        raw["search"]["trials"] = args.trials
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="parallel-search-") as tmp:
        folder = Path(tmp)
        _train({**raw, "search": {**raw["search"], "trials": 1}}, folder / "warm-up")
        for workers in (1, args.workers):
            result, seconds, search = _train(
                {**raw, "engine": {"workers": workers}}, folder / f"w{workers}"
            )
            (row,) = result.candidates
            rows.append((workers, row, result.evaluation.metrics["roc_auc"], seconds, search))
    print(f"{'workers':>7} {'validation auc':>14} {'test auc':>9} {'trials':>6} {'pruned':>6} "
          f"{'train s':>8} {'search s':>8}")  # fmt: skip
    for workers, row, test, seconds, search in rows:
        print(f"{workers:>7} {row['validation_score']:>14.4f} {test:>9.4f} {row['trials']:>6} "
              f"{row['pruned']:>6} {seconds:>8.1f} {search:>8.1f}")  # fmt: skip
    (_, _, _, one, one_search), (_, _, _, many, many_search) = rows
    print(f"wall time, 1 / {args.workers} workers: train {one / many:.2f}x, "
          f"search {one_search / many_search:.2f}x")  # fmt: skip
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.2f} "
          f"before the run; Python {platform.python_version()}")  # fmt: skip
    print("command: " + " ".join([sys.executable, *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
