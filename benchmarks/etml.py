"""The ETML job (issue 14): detection on every engine, the job against the book's way,
and each detector's quality on the simulator's planted anomalies.

Three parts, each printing a table and then its exact numbers as one JSON line
(``RESULT <part> {...}``; ``--json PATH`` also writes them all to a file):

- **detection**: ``--rows`` (1,000,000) simulated rides of one day (``simulate_day``)
  scored by a registered anomaly model (``--model``: isolation_forest, trained once with
  ``mlfactory.training.train`` on another simulated day of ``--train-rides`` rides, one
  trial) through ``mlfactory.etml.detect.detect``: local in this process (1 worker), then
  local, ray, spark and dask with ``--workers`` workers. An engine whose extra is not
  installed is skipped, saying so. Each engine runs in a fresh process: the rides are
  read from Parquet (without ``is_anomaly``, as the example job's transform drops it),
  the engine started and the day detected (cold: what a one-day run pays), then the day
  detected again, timed: rows/s (workers up, as on a backfill's later days). Peak memory
  is the largest sum of RSS over that process and every process below it (workers, Ray's
  raylet and object store, Spark's JVM, Dask's scheduler), sampled every 0.1 s as
  ``benchmarks/batch.py`` does. The flags must be the same on every engine (checked).
  Then, on the same rows, the per-day-fit path (``detect: {detector: dbscan}`` with the
  example job's eps 0.3 and min_samples 10: DBSCAN on a seeded sample of 10,000 rows,
  every row scored by its distance to the nearest core point), and the book's DBSCAN
  (scikit-learn's ``DBSCAN`` on every row of the day) at growing sizes. The book's memory
  is the list of each row's neighbours within eps, which grows as the square of the
  rows; before each size it is estimated from the neighbour counts of 10,000 rows, a size
  estimated above ``--memory-cap`` MB is not run, and a run that passes the cap is
  stopped.
- **book**: a day of ``--rides`` (10,000) rides and a stand-in OpenAI-compatible server
  (a subprocess on 127.0.0.1) that waits ``--latency`` (0.05 s) before each answer and
  counts the requests it gets. The book's way: ``pd.read_parquet``, ``StandardScaler`` and
  ``DBSCAN(eps=0.3, min_samples=10)`` on distance and time, then one
  ``client.chat.completions.create`` after another per outlier (the openai package, no
  cache), the rows written as JSON lines. Ours: ``run_days`` on
  ``examples/taxi_etml/job.yaml`` pointed at the same rides and server (its DBSCAN, its
  template, its LLM settings: concurrency 8, or ``--concurrency``). Each side runs the
  day, then reruns it: wall seconds and the requests the server got in each run. Both
  warm up first, untimed, on another day of 2,000 rides (imports, the openai client, the
  job's MLflow store).
- **quality**: PR AUC (average precision) of every detector of the catalog (dbscan,
  hdbscan, isolation_forest, lof, robust_z, iqr; the catalog's defaults, the job's
  preprocessing) fitted on one simulated day of ``--quality-rides`` (20,000) rides and
  scored on the next day's, against the planted ``is_anomaly``: on ride_dist and
  ride_time, then with the pickup hour too. With the flag rate, and the recall and the
  precision of the flags at the detector's own threshold. For reference, DBSCAN fitted on
  the scored day itself: the book's (flags only) and the job's ``detector: dbscan``.

Usage::

    python benchmarks/etml.py [--part detection|book|quality|all] [--quick]
        [--rows 1000000] [--engines local,ray,spark,dask] [--workers 2]
        [--model isolation_forest] [--train-rides 20000] [--book-sizes 10000,30000,...]
        [--memory-cap 4000] [--rides 10000] [--latency 0.05] [--concurrency N]
        [--quality-rides 20000] [--json PATH]

``--quick`` is the smoke test's size: 20,000 rows on local only, a 600-ride day at 10 ms,
quality on 3,000 rides, the book's DBSCAN up to 20,000 rows under a 300 MB cap.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "taxi_etml"
TRAIN_DAY, DAY, WARM_DAY = date(2026, 11, 26), date(2026, 11, 28), date(2026, 11, 27)
FEATURES = ["ride_dist", "ride_time"]
EPS, MIN_SAMPLES = 0.3, 10  # the example job's DBSCAN, and the book's
MODEL_NAME = "taxi-anomaly"
SEED = 0
EXTRAS = {"ray": "ray", "spark": "pyspark", "dask": "distributed"}
BOOK_PROMPT = (
    "The following information describes conditions relevant to a taxi journey.\n"
    "News: {news}\nWeather: {weather}\nTraffic: {traffic}\n"
    "Summarise the above information in 3 sentences or less."
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def simulator() -> Any:
    """examples/taxi_etml/simulate.py, imported by path."""
    spec = importlib.util.spec_from_file_location("taxi_simulate", EXAMPLE / "simulate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load() -> float:
    return os.getloadavg()[0]


def digest(flags: Any) -> str:
    return hashlib.sha256(np.packbits(np.asarray(flags, dtype=bool)).tobytes()).hexdigest()[:16]


# -- process trees: run a cell, sample its memory -------------------------------------------


def run_cell(task: dict[str, Any], *, cap_mb: float | None = None) -> dict[str, Any]:
    """``task`` run by a fresh process of this script; its ``CELL`` JSON line, with the peak
    of the summed RSS of the process and its descendants. Over ``cap_mb``: stopped."""
    import psutil

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFACTORY_")}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--cell", json.dumps(task)],
            stdout=out,
            stderr=err,
            env=env,
            start_new_session=True,  # its own process group: stopped whole
        )
        root, peak, stopped = psutil.Process(process.pid), 0.0, None
        started = time.perf_counter()
        while process.poll() is None:
            total = 0
            with contextlib.suppress(psutil.Error):
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):  # a process that just ended
                        total += p.memory_info().rss
            peak = max(peak, total / 2**20)
            if cap_mb is not None and peak > cap_mb and stopped is None:
                stopped = f"stopped at {peak:,.0f} MB after {time.perf_counter() - started:.1f} s"
                os.killpg(process.pid, 9)
            time.sleep(0.1)
        out.seek(0)
        err.seek(0)
        lines = [x for x in out.read().decode().splitlines() if x.startswith("CELL ")]
        tail = err.read().decode(errors="replace").strip().splitlines()[-5:]
    if stopped:
        return {"failed": stopped, "peak_mb": peak}
    if process.returncode != 0 or not lines:
        raise SystemExit(f"cell {task} failed (exit {process.returncode}):\n" + "\n".join(tail))
    return {**json.loads(lines[-1][5:]), "peak_mb": peak}


def cell(task: dict[str, Any]) -> int:
    """One measurement in this (fresh) process; prints ``CELL {json}``."""
    kind = task["kind"]
    out = {"registered": _registered_cell, "fitted": _fitted_cell, "book": _book_dbscan_cell}[kind](
        task
    )
    print("CELL " + json.dumps(out), flush=True)
    return 0


def _day(task: dict[str, Any]) -> Any:
    import pandas as pd

    return pd.read_parquet(task["rides"]).drop(columns=["is_anomaly"])


def _registered_cell(task: dict[str, Any]) -> dict[str, Any]:
    from mlfactory.engines import engine_named
    from mlfactory.etml.detect import detect
    from mlfactory.etml.spec import DetectSpec
    from mlfactory.registry import Registry

    frame = _day(task)
    registry = Registry(path=Path(task["registry"]))
    spec = DetectSpec(model=f"{MODEL_NAME}@champion", id_column="ride_id")
    started = time.perf_counter()
    with engine_named(task["engine"], workers=task["workers"]) as engine:
        first = detect(spec, frame, registry=registry, engine=engine)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        found = detect(spec, frame, registry=registry, engine=engine)
        seconds = time.perf_counter() - started
    if digest(first.flags) != digest(found.flags):
        raise SystemExit(f"{task['engine']}: the second day's flags differ from the first's")
    return {
        "rows": len(frame),
        "cold": cold,
        "seconds": seconds,
        "flagged": int(found.flags.sum()),
        "refused": len(found.reasons),
        "flags": digest(found.flags),
        "by": found.by,
    }


def _fitted_cell(task: dict[str, Any]) -> dict[str, Any]:
    from mlfactory.engines import engine_named
    from mlfactory.etml.detect import detect
    from mlfactory.etml.spec import DetectSpec
    from mlfactory.registry import Registry

    frame = _day(task)
    spec = DetectSpec(detector=per_day_dbscan(), id_column="ride_id")
    registry = Registry(path=Path(task["registry"]))
    with engine_named("local", workers=1) as engine:  # the fit runs here, on no engine
        detect(spec, frame.head(1000), registry=registry, engine=engine)  # imports done
        started = time.perf_counter()
        found = detect(spec, frame, registry=registry, engine=engine)
    return {
        "rows": len(frame),
        "seconds": time.perf_counter() - started,
        "flagged": int(found.flags.sum()),
        "notes": found.notes,
    }


def per_day_dbscan() -> Any:
    """The example job's ``detect.detector``: DBSCAN fitted on each day's rows."""
    from mlfactory.etml.spec import DetectorSpec

    params = {"eps": EPS, "min_samples": MIN_SAMPLES}
    return DetectorSpec(name="dbscan", features=FEATURES, params=params)


def book_dbscan(frame: Any) -> Any:
    """The book's clustering: the day's distance and time scaled, DBSCAN; -1 is an outlier."""
    from sklearn.cluster import DBSCAN
    from sklearn.preprocessing import StandardScaler

    scaled = StandardScaler().fit_transform(frame[FEATURES])
    return DBSCAN(eps=EPS, min_samples=MIN_SAMPLES).fit(scaled).labels_


def _book_dbscan_cell(task: dict[str, Any]) -> dict[str, Any]:
    frame = simulator().simulate_day(DAY, rides=task["rows"])
    book_dbscan(frame.head(100))  # imports done
    started = time.perf_counter()
    labels = book_dbscan(frame)
    return {"seconds": time.perf_counter() - started, "flagged": int((labels == -1).sum())}


def mean_neighbours(rows: int) -> float:
    """Rows within eps of a row (itself counted) on the book's scaled features, on average."""
    from sklearn.neighbors import KDTree
    from sklearn.preprocessing import StandardScaler

    scaled = StandardScaler().fit_transform(simulator().simulate_day(DAY, rides=rows)[FEATURES])
    return float(KDTree(scaled).query_radius(scaled, EPS, count_only=True).mean())


# -- part 1: detection ----------------------------------------------------------------------


def train_model(work: Path, rides: int, model: str) -> Path:
    """A registry holding ``taxi-anomaly``: ``model`` trained on a simulated day (one trial)."""
    from mlfactory.registry import Registry
    from mlfactory.training import train

    frame = simulator().simulate_day(TRAIN_DAY, rides=rides)
    frame.to_parquet(work / "train.parquet", index=False)
    spec = {
        "name": MODEL_NAME,
        "task": "anomaly",
        "data": {
            "source": "train.parquet",
            "id_column": "ride_id",
            "label_column": "is_anomaly",
            "features": FEATURES,
        },
        "models": [model],
        "search": {"trials": 1},
    }
    (work / "factory.yaml").write_text(yaml.safe_dump(spec))
    registry = work / ".mlfactory"
    train(work / "factory.yaml", registry=Registry(path=registry), progress=False)
    return registry


def detection(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from rich.table import Table

    log(f"detection: training {args.model} on {args.train_rides:,} rides of {TRAIN_DAY}")
    registry = train_model(work, args.train_rides, args.model)
    log(f"detection: simulating {args.rows:,} rides of {DAY}")
    rides = work / "day.parquet"
    simulator().simulate_day(DAY, rides=args.rows).to_parquet(rides, index=False)
    base = {"rides": str(rides), "registry": str(registry)}
    runs: list[dict[str, Any]] = []
    skipped: list[str] = []
    plan = [("local", 1)] + [(name, args.workers) for name in args.engines]
    for name, workers in plan:
        module = EXTRAS.get(name)
        if module and importlib.util.find_spec(module) is None:
            skipped.append(f"{name}: {module} is not installed (pip install 'mlfactory[{name}]')")
            log(f"detection: {name} skipped ({module} not installed)")
            continue
        log(f"detection: {name}, {workers} worker(s), load {load():.1f}")
        task = {**base, "kind": "registered", "engine": name, "workers": workers}
        runs.append({"engine": name, "workers": workers, **run_cell(task)})
    flags = {r["flags"] for r in runs}
    if len(flags) != 1:
        raise SystemExit(f"the engines flagged different rows: {runs}")

    log(f"detection: the per-day fit (dbscan) on {args.rows:,} rows, load {load():.1f}")
    fitted = run_cell({**base, "kind": "fitted"})
    book = book_sizes(args)

    table = Table(title=f"detection: {args.rows:,} rides, {runs[0]['by']} ({args.model})")
    for column in ("engine", "workers", "rows/s", "detect s", "cold s", "peak MB", "flagged"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for r in runs:
        table.add_row(
            r["engine"],
            str(r["workers"]),
            f"{r['rows'] / r['seconds']:,.0f}",
            f"{r['seconds']:.2f}",
            f"{r['cold']:.1f}",
            f"{r['peak_mb']:,.0f}",
            f"{r['flagged']:,}",
        )
    table.add_row(
        "per-day fit: dbscan",
        "1",
        f"{fitted['rows'] / fitted['seconds']:,.0f}",
        f"{fitted['seconds']:.2f}",
        "-",
        f"{fitted['peak_mb']:,.0f}",
        f"{fitted['flagged']:,}",
    )
    console.print(table)
    for line in skipped:
        console.print(f"skipped {line}")
    notes = f" Its notes: {'; '.join(fitted['notes'])}" if fitted["notes"] else ""
    console.print(
        "rows/s and detect s: detect() on the whole day, the second time in the process "
        "(workers up, as on a backfill's later days); cold s: starting the engine and the "
        "first detect() of the day (the workers' imports, the model shipped and loaded), as "
        "a one-day run pays; peak MB: the largest sum of RSS of the cell's "
        "process and every process below it (shared pages counted in each), sampled every "
        "0.1 s, including the day's rows read into the driver. Same flags on every engine: "
        f"checked ({runs[0]['flags']}). The per-day fit runs in the driver: "
        f"DBSCAN(eps={EPS}, min_samples={MIN_SAMPLES}) on a sample of 10,000 rows, every row "
        f"scored against its core points.{notes}",
        soft_wrap=True,
    )
    show_book_sizes(book, args)
    return {
        "rows": args.rows,
        "model": args.model,
        "engines": runs,
        "skipped": skipped,
        "fitted": fitted,
        "book_dbscan": book,
    }


def book_sizes(args: argparse.Namespace) -> dict[str, Any]:
    """The book's DBSCAN on every row, at growing sizes, while its estimate fits the cap."""
    probe = min(10_000, args.book_sizes[0])
    per_row = mean_neighbours(probe) / probe  # neighbours grow with the rows (same spread)
    sizes: list[dict[str, Any]] = []
    for rows in args.book_sizes:
        estimate = rows * per_row * rows * 8 / 2**20  # int64 indices of every neighbourhood
        entry: dict[str, Any] = {"rows": rows, "estimate_mb": estimate}
        if estimate > args.memory_cap:
            entry["failed"] = f"not run: needs ~{estimate:,.0f} MB"
        else:
            log(f"detection: the book's DBSCAN on {rows:,} rows, load {load():.1f}")
            entry.update(run_cell({"kind": "book", "rows": rows}, cap_mb=args.memory_cap))
        sizes.append(entry)
    return {"probe_rows": probe, "neighbours_per_row": per_row * probe, "sizes": sizes}


def show_book_sizes(book: dict[str, Any], args: argparse.Namespace) -> None:
    from rich.table import Table

    table = Table(title="the book's DBSCAN (scikit-learn, every row of the day)")
    for column in ("rows", "seconds", "rows/s", "peak MB", "estimated MB", "flagged"):
        table.add_column(column, justify="right")
    for s in book["sizes"]:
        if "failed" in s:
            cells = [s["failed"], "", "", f"{s['estimate_mb']:,.0f}", ""]
            if "peak_mb" in s:
                cells[2] = f"{s['peak_mb']:,.0f}"
        else:
            cells = [
                f"{s['seconds']:.2f}",
                f"{s['rows'] / s['seconds']:,.0f}",
                f"{s['peak_mb']:,.0f}",
                f"{s['estimate_mb']:,.0f}",
                f"{s['flagged']:,}",
            ]
        table.add_row(f"{s['rows']:,}", *cells)
    console.print(table)
    console.print(
        f"estimated MB: 8 bytes per neighbour within eps={EPS}, at "
        f"{book['neighbours_per_row']:,.0f} neighbours a row on {book['probe_rows']:,} rows, "
        f"growing with the rows; cap {args.memory_cap:,.0f} MB (peak MB includes the "
        "interpreter and the rows).",
        soft_wrap=True,
    )


# -- part 2: the book's way against the job -------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_llm(port: int, latency: float) -> int:
    """The stand-in LLM: Chat Completions after ``latency`` s; ``GET /calls`` counts them."""
    import asyncio

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    calls = 0

    async def completions(request: Request) -> JSONResponse:
        nonlocal calls
        body = await request.json()
        calls += 1
        await asyncio.sleep(latency)
        user = body["messages"][-1]["content"]
        text = f"Summary {hashlib.sha256(user.encode()).hexdigest()[:8]}: {user[:60]}"
        words = sum(len(m["content"].split()) for m in body["messages"])
        return JSONResponse(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": words, "completion_tokens": len(text.split()),
                          "total_tokens": words + len(text.split())},
            }
        )  # fmt: skip

    async def count(request: Request) -> JSONResponse:
        return JSONResponse({"calls": calls})

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/calls", count),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    return 0


@contextlib.contextmanager
def llm_server(latency: float) -> Iterator[tuple[str, Any]]:
    """The stand-in LLM in a subprocess: its base URL and a function counting its calls."""
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "--llm-server", str(port)]
    process = subprocess.Popen([*command, "--latency", str(latency)])

    def calls() -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/calls", timeout=5) as reply:
            return int(json.loads(reply.read())["calls"])

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                calls()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the stand-in LLM server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v1", calls
    finally:
        process.terminate()
        process.wait(timeout=30)


def book_day(rides: Path, out: Path, base_url: str) -> tuple[float, int]:
    """The book's way for one day: seconds, outliers. Read, DBSCAN, one LLM call after
    another for each outlier (the openai client, no cache), the rows written as JSON."""
    import pandas as pd
    from openai import OpenAI

    started = time.perf_counter()
    frame = pd.read_parquet(rides)
    frame["label"] = book_dbscan(frame)
    client = OpenAI(base_url=base_url, api_key=os.environ["OPENAI_API_KEY"])
    frame["summary"] = ""
    outliers = frame["label"] == -1
    summaries = []
    for row in frame[outliers].itertuples():
        prompt = BOOK_PROMPT.format(news=row.news, weather=row.weather, traffic=row.traffic)
        reply = client.chat.completions.create(
            model="bench", messages=[{"role": "user", "content": prompt}]
        )
        summaries.append(reply.choices[0].message.content)
    frame.loc[outliers, "summary"] = summaries
    frame.to_json(out, orient="records", lines=True, date_format="iso")
    return time.perf_counter() - started, int(outliers.sum())


def job_file(work: Path, base_url: str, output: str, concurrency: int | None = None) -> Path:
    """examples/taxi_etml/job.yaml, reading the benchmark's rides and asking its server
    (with ``concurrency`` requests at once; None: the example's)."""
    spec = yaml.safe_load((EXAMPLE / "job.yaml").read_text())
    spec["extract"]["source"] = str(work / "rides" / "date={date}" / "*.parquet")
    spec["summarise"]["llm"]["base_url"] = base_url
    if concurrency is not None:
        spec["summarise"]["llm"]["concurrency"] = concurrency
    spec["load"]["output"] = output
    spec["registry"]["path"] = str(work / ".mlfactory")
    path = work / f"job-{output}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def book(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from rich.table import Table

    from mlfactory.etml.job import run_days
    from mlfactory.etml.spec import load_job

    sim = simulator()
    sim.write_days(DAY, DAY, rides=args.rides, output=work / "rides")
    sim.write_days(WARM_DAY, WARM_DAY, rides=2000, output=work / "rides")
    os.environ["OPENAI_API_KEY"] = "sk-bench"  # the stand-in takes any key
    rides = {d: work / "rides" / f"date={d.isoformat()}" / "rides.parquet" for d in (DAY, WARM_DAY)}
    runs: list[dict[str, Any]] = []
    with llm_server(args.latency) as (url, calls):
        log("book: warm-up (imports, clients, the job's store), untimed")
        book_day(rides[WARM_DAY], work / "warm.jsonl", url)
        run_days(load_job(job_file(work, url, "warm-out")), [WARM_DAY])
        job = load_job(job_file(work, url, "out", args.concurrency))
        assert job.spec.summarise is not None
        concurrency = job.spec.summarise.llm.concurrency
        for attempt in ("first run", "rerun"):
            log(f"book: the book's way, {attempt}, load {load():.1f}")
            before = calls()
            seconds, flagged = book_day(rides[DAY], work / "book.jsonl", url)
            runs.append({"who": "book", "run": attempt, "seconds": seconds,
                         "flagged": flagged, "calls": calls() - before})  # fmt: skip
        for attempt in ("first run", "rerun"):
            log(f"book: run_days, {attempt}, load {load():.1f}")
            before = calls()
            started = time.perf_counter()
            result = run_days(job, [DAY])[0]
            seconds = time.perf_counter() - started
            out = work / "out" / f"date={DAY.isoformat()}" / "rows.parquet"
            runs.append(
                {
                    "who": "mlfactory",
                    "run": attempt,
                    "seconds": seconds,
                    "day_seconds": result.seconds,
                    "flagged": result.flagged,
                    "calls": calls() - before,
                    "cached": result.usage.cached,
                    "summarised": result.summarised,
                    "rows_sha256": hashlib.sha256(out.read_bytes()).hexdigest()[:16],
                }
            )
    by = {(r["who"], r["run"]): r for r in runs}
    ratio = by["book", "first run"]["seconds"] / by["mlfactory", "first run"]["seconds"]
    rerun_ratio = by["book", "rerun"]["seconds"] / by["mlfactory", "rerun"]["seconds"]
    same = by["mlfactory", "first run"]["rows_sha256"] == by["mlfactory", "rerun"]["rows_sha256"]

    table = Table(
        title=f"a {args.rides:,}-ride day, {args.latency * 1000:g} ms per LLM answer; "
        f"mlfactory asks {concurrency} at once"
    )
    for column in ("way", "run", "seconds", "flagged", "LLM calls", "cached"):
        table.add_column(column, justify="left" if column in ("way", "run") else "right")
    for r in runs:
        way = "book (DBSCAN, one call after another)" if r["who"] == "book" else "mlfactory etml"
        table.add_row(way, r["run"], f"{r['seconds']:.2f}", f"{r['flagged']:,}",
                      f"{r['calls']:,}", f"{r.get('cached', '-')}")  # fmt: skip
    console.print(table)
    first_goal = "met" if ratio >= 5 else "missed"
    rerun_goal = "met" if by["mlfactory", "rerun"]["calls"] == 0 else "missed"
    console.print(
        f"book s / mlfactory s: first run {ratio:.2f}x (goal >= 5x: {first_goal}), rerun "
        f"{rerun_ratio:.2f}x; mlfactory's rerun made {by['mlfactory', 'rerun']['calls']} LLM "
        f"calls (goal 0: {rerun_goal}) and wrote the same rows: {same}. mlfactory's calls: one "
        "per flagged ride and one for the day's summary, identical prompts asked once; "
        "seconds in run_day before writing and recording: "
        f"{by['mlfactory', 'first run']['day_seconds']:.2f} (first run).",
        soft_wrap=True,
    )
    return {
        "rides": args.rides,
        "latency": args.latency,
        "concurrency": concurrency,
        "runs": runs,
        "ratio": ratio,
        "rerun_ratio": rerun_ratio,
        "same_rows": same,
    }


# -- part 3: quality ------------------------------------------------------------------------


def detectors() -> list[str]:
    from mlfactory.models import CATALOG

    return [n for n, e in CATALOG.items() if "detector" in e.builders and n != "dummy"]


def fit_detector(name: str, frame: Any, features: list[str]) -> Any:
    """The catalog's ``name`` with its defaults behind the job's preprocessing (as
    ``etml.detect`` builds a per-day detector), fitted on ``frame[features]``."""
    from sklearn.pipeline import Pipeline

    from mlfactory.data.schema import ColumnRoles, prepare_training
    from mlfactory.features import build_preprocessor
    from mlfactory.models import CATALOG
    from mlfactory.tasks import task_named
    from mlfactory.transformers import datetime_step

    task = task_named("anomaly")
    data = prepare_training(frame[features], ColumnRoles(target=None), task)
    entry = CATALOG[name]
    pipeline = Pipeline(
        [
            ("dates", datetime_step(data.schema)),
            ("prepare", build_preprocessor(data.schema, entry.style)),
            ("detect", entry.build(task, {}, SEED, [])),
        ]
    )
    return pipeline.fit(data.X)


def scored(truth: Any, score: Any, flags: Any) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score

    truth, flags = np.asarray(truth, dtype=bool), np.asarray(flags, dtype=bool)
    hits = int((truth & flags).sum())
    return {
        "pr_auc": None if score is None else float(average_precision_score(truth, score)),
        "flag_rate": float(flags.mean()),
        "recall": hits / max(1, int(truth.sum())),
        "precision": hits / int(flags.sum()) if flags.any() else None,
    }


def quality(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from rich.table import Table

    from mlfactory.engines import engine_named
    from mlfactory.etml.detect import detect
    from mlfactory.etml.spec import DetectSpec
    from mlfactory.registry import Registry

    sim = simulator()
    fit_on = sim.simulate_day(WARM_DAY, rides=args.quality_rides)
    score_on = sim.simulate_day(DAY, rides=args.quality_rides)
    for frame in (fit_on, score_on):
        frame["pickup_hour"] = frame["pickup_time"].dt.hour.astype(float)
    truth = score_on["is_anomaly"].to_numpy()
    rows: list[dict[str, Any]] = []
    for name in detectors():  # imports done, untimed
        fit_detector(name, fit_on.head(500), FEATURES).score_samples(score_on[FEATURES][:500])
    for features in (FEATURES, [*FEATURES, "pickup_hour"]):
        for name in detectors():
            log(f"quality: {name} on {', '.join(features)}")
            started = time.perf_counter()
            pipeline = fit_detector(name, fit_on, features)
            fit_s = time.perf_counter() - started
            started = time.perf_counter()
            score = pipeline.score_samples(score_on[features])
            flags = pipeline.predict(score_on[features]) == 1
            rows.append({"detector": name, "features": features, "fit_s": fit_s,
                         "score_s": time.perf_counter() - started,
                         **scored(truth, score, flags)})  # fmt: skip
    log("quality: DBSCAN fitted on the scored day (the book's, the job's detector:)")
    started = time.perf_counter()
    labels = book_dbscan(score_on)
    rows.append({"detector": "book: DBSCAN on the day", "features": FEATURES, "fit_s":
                 time.perf_counter() - started, "score_s": 0.0,
                 **scored(truth, None, labels == -1)})  # fmt: skip
    spec = DetectSpec(detector=per_day_dbscan(), id_column="ride_id")
    started = time.perf_counter()
    with engine_named("local", workers=1) as engine:
        day = score_on.drop(columns=["is_anomaly", "pickup_hour"])
        found = detect(spec, day, registry=Registry(path=work / ".mlfactory"), engine=engine)
    rows.append({"detector": "job: detector dbscan on the day", "features": FEATURES,
                 "fit_s": time.perf_counter() - started, "score_s": 0.0,
                 **scored(truth, found.scores, found.flags)})  # fmt: skip

    planted = int(truth.sum())
    table = Table(
        title=f"quality: fitted on {args.quality_rides:,} rides of {WARM_DAY}, scored on "
        f"{args.quality_rides:,} rides of {DAY} ({planted} planted anomalies)"
    )
    for column in ("detector", "features", "PR AUC", "flag rate", "recall", "precision",
                   "fit s", "score s"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("detector", "features") else "right")
    for r in rows:
        table.add_row(
            r["detector"],
            "+ hour" if "pickup_hour" in r["features"] else "dist, time",
            "-" if r["pr_auc"] is None else f"{r['pr_auc']:.3f}",
            f"{r['flag_rate']:.2%}",
            f"{r['recall']:.1%}",
            "-" if r["precision"] is None else f"{r['precision']:.1%}",
            f"{r['fit_s']:.2f}",
            f"{r['score_s']:.2f}",
        )
    console.print(table)
    console.print(
        "PR AUC: average precision of the score against is_anomaly on the scored day; flag "
        "rate, recall and precision: of the flags at the detector's own threshold (catalog "
        "defaults, no contamination given). The last two rows are fitted on the scored day "
        "itself, as the book does each day (in-sample).",
        soft_wrap=True,
    )
    return {"rides": args.quality_rides, "planted": planted, "rows": rows}


# -- main -----------------------------------------------------------------------------------

console: Any = None


def main(argv: list[str] | None = None) -> int:
    global console
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--part", choices=["detection", "book", "quality", "all"], default="all")
    parser.add_argument("--quick", action="store_true", help="the smoke test's tiny sizes")
    parser.add_argument("--rows", type=int, help="detection: rides scored (default 1,000,000)")
    parser.add_argument("--engines", help="detection: engines (default local,ray,spark,dask)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="isolation_forest", help="detection: the model")
    parser.add_argument("--train-rides", type=int, help="detection: training rides (20,000)")
    parser.add_argument("--book-sizes", help="detection: rows for the book's DBSCAN")
    parser.add_argument("--memory-cap", type=float, help="MB the book's DBSCAN may use (4000)")
    parser.add_argument("--rides", type=int, help="book: rides of the day (default 10,000)")
    parser.add_argument("--latency", type=float, help="book: seconds per LLM answer (0.05)")
    parser.add_argument("--concurrency", type=int, help="book: the job's (default the example's)")
    parser.add_argument("--quality-rides", type=int, help="quality: rides a day (20,000)")
    parser.add_argument("--json", type=Path, help="also write every result to this file")
    parser.add_argument("--cell", help=argparse.SUPPRESS)  # one measurement: its task (JSON)
    parser.add_argument("--llm-server", type=int, help=argparse.SUPPRESS)  # the port
    args = parser.parse_args(argv)
    if args.cell:
        return cell(json.loads(args.cell))
    if args.llm_server:
        return serve_llm(args.llm_server, args.latency)
    quick = args.quick
    defaults = {
        "rows": 20_000 if quick else 1_000_000,
        "engines": "local" if quick else "local,ray,spark,dask",
        "train_rides": 3000 if quick else 20_000,
        "book_sizes": "5000,20000" if quick else "10000,30000,50000,100000,1000000",
        "memory_cap": 300.0 if quick else 4000.0,
        "rides": 600 if quick else 10_000,
        "latency": 0.01 if quick else 0.05,
        "quality_rides": 3000 if quick else 20_000,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.engines = args.engines.split(",")
    args.book_sizes = [int(x) for x in args.book_sizes.split(",")]

    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 160)
    for name in ("MLFLOW_TRACKING_URI", "MLFACTORY_LLM_BASE_URL", "MLFACTORY_LLM_MODEL"):
        os.environ.pop(name, None)  # every store is a temporary folder; the server is ours
    console.print(
        f"{platform.machine()}, {os.cpu_count()} cores, load average {load():.2f} at the "
        f"start; Python {platform.python_version()}",
        soft_wrap=True,
    )
    parts = ["detection", "book", "quality"] if args.part == "all" else [args.part]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="etml-bench-") as tmp:
        for part in parts:
            folder = Path(tmp) / part
            folder.mkdir()
            started = load()
            results[part] = {"detection": detection, "book": book, "quality": quality}[part](
                args, folder
            )
            results[part]["load"] = [started, load()]
            print(f"RESULT {part} {json.dumps(results[part])}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    console.print(f"load average {load():.2f} at the end", soft_wrap=True)
    console.print(f"command: {shlex.join([sys.executable, *sys.argv])}", soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
