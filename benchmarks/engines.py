"""200 per-group fits on every engine: mlfactory's engines against the bare libraries.

Each group is 5,000 rows x 8 features with a linear target; a fit is a
least-squares solve (numpy), so the figures measure what an engine costs, not
the model. For each engine the same run times:

- the bare library: a loop, joblib, ``ray.remote`` tasks, ``dask`` ``client.map``,
  Spark ``rdd.map`` (one task per core's share of the groups);
- mlfactory's engine (``engine.map`` over the groups), on the cluster the bare run
  used (start-up is measured once, separately: starting Ray, Spark or Dask);

each the best of ``--repeats`` steady-state runs after one warm-up, with the
results checked equal; where both run on one cluster (joblib/local, Ray, Spark)
their runs alternate. The ratio is mlfactory / bare (the goal: at most 1.2).

    .venv/bin/python benchmarks/engines.py [--groups 200] [--rows 5000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

Group = tuple[np.ndarray, np.ndarray]


def fit(group: Group) -> np.ndarray:
    """One group's model: least-squares coefficients."""
    x, y = group
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coef


def _groups(count: int, rows: int) -> list[Group]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        x = rng.normal(size=(rows, 8))
        y = x @ rng.normal(size=8) + rng.normal(scale=0.1, size=rows)
        out.append((x, y))
    return out


def _best(run: Callable[[], list[Any]], repeats: int, expected: list[Any]) -> float:
    run()  # warm-up: workers started, functions shipped
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        got = run()
        times.append(time.perf_counter() - started)
        assert all(np.allclose(a, b) for a, b in zip(got, expected, strict=True))
    return min(times)


def _compare(
    bare: Callable[[], list[Any]], ours: Callable[[], list[Any]], repeats: int, expected: list[Any]
) -> tuple[float, float]:
    """The best time of each, their runs alternating (after a warm-up of both), so that
    neither gains from going second (a warmer JVM, pool or cache)."""
    bare(), ours()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for run, into in ((bare, times[0]), (ours, times[1])):
            started = time.perf_counter()
            got = run()
            into.append(time.perf_counter() - started)
            assert all(np.allclose(a, b) for a, b in zip(got, expected, strict=True))
    return min(times[0]), min(times[1])


def _timed(start: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = start()
    return value, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--engines", default="local,ray,dask,spark", help="comma-separated subset to run"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from mlfactory.engines import engine_named

    groups = _groups(args.groups, args.rows)
    expected = [fit(g) for g in groups]
    n, reps = args.workers, args.repeats
    chosen = args.engines.split(",")
    rows: list[tuple[str, float, float, float | None]] = []  # engine, bare, ours, start-up

    loop = _best(lambda: [fit(g) for g in groups], reps, expected)
    with engine_named("local", workers=1) as one:
        ours = _best(lambda: one.map(fit, groups), reps, expected)
    rows.append(("loop / local 1", loop, ours, None))

    if "local" in chosen:
        from joblib import Parallel, delayed

        with Parallel(n_jobs=n) as parallel, engine_named("local", workers=n) as local:
            bare, ours = _compare(
                lambda: parallel(delayed(fit)(g) for g in groups),
                lambda: local.map(fit, groups),
                reps,
                expected,
            )
        rows.append((f"joblib / local {n}", bare, ours, None))

    if "ray" in chosen:
        import ray

        _, startup = _timed(
            lambda: ray.init(num_cpus=n, include_dashboard=False, log_to_driver=False)
        )
        remote = ray.remote(fit)
        with engine_named("ray", workers=n) as engine:  # uses the running instance
            bare, ours = _compare(
                lambda: ray.get([remote.remote(g) for g in groups]),
                lambda: engine.map(fit, groups),
                reps,
                expected,
            )
        ray.shutdown()
        rows.append((f"ray {n}", bare, ours, startup))

    if "dask" in chosen:
        from dask.distributed import Client, LocalCluster

        client, startup = _timed(
            lambda: Client(LocalCluster(n_workers=n, threads_per_worker=1, dashboard_address=None))
        )
        bare = _best(lambda: client.gather(client.map(fit, groups, pure=False)), reps, expected)
        client.close()
        engine = engine_named("dask", workers=n)
        engine.map(abs, [1])  # its own cluster: start-up outside the timing
        ours = _best(lambda: engine.map(fit, groups), reps, expected)
        engine.close()
        rows.append((f"dask {n}", bare, ours, startup))

    if "spark" in chosen:
        from pyspark.sql import SparkSession

        spark, startup = _timed(
            lambda: (
                SparkSession.builder.master(f"local[{n}]")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .getOrCreate()
            )
        )
        spark.sparkContext.setLogLevel("ERROR")
        context = spark.sparkContext
        with engine_named("spark", workers=n) as engine:  # uses the running session
            bare, ours = _compare(
                lambda: context.parallelize(groups, n * 2).map(fit).collect(),
                lambda: engine.map(fit, groups),
                reps,
                expected,
            )
        spark.stop()
        rows.append((f"spark local[{n}]", bare, ours, startup))

    print(
        f"{args.groups} fits of {args.rows:,} rows x 8, best of {reps}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    print(f"{'engine':<18} {'bare s':>8} {'mlfactory s':>12} {'ratio':>7} {'start-up s':>11}")
    for name, bare, ours, startup in rows:
        start = f"{startup:.1f}" if startup is not None else "—"
        print(f"{name:<18} {bare:>8.3f} {ours:>12.3f} {ours / bare:>7.2f} {start:>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
