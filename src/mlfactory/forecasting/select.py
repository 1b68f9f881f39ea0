"""Choosing each series' model, scoring the choice honestly, and calibrating the intervals.

- ``series_metrics``: MASE, sMAPE, MAE and RMSE per model and series over some
  backtest origins (MASE on each origin's own scale).
- ``choose``: per series the model with the lowest MASE (``per_series``), or the
  one model with the lowest mean MASE over the series (``global``); ties keep the
  model listed first; a series a model could not forecast at every origin gets
  one that could (the seasonal naive baseline always can).
- The choice is scored on the **last** origin after being made on the origins
  before it (``nested``), so the metrics the gates see are of a choice that did not
  see its own test window. The final choice is then made on every origin.
- Intervals are split-conformal: a model's absolute errors divided by the series'
  scale, pooled over series and origins per step ahead, give the quantile a
  level asks for, steps pooled a season at a time; the interval is the mean plus
  or minus that many scales. Coverage is measured on the last
  origin with quantiles from the origins before it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mlfactory.forecasting.backtest import ORIGIN, SCALE, STEP
from mlfactory.forecasting.panel import KEY, TARGET

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "METRIC_NAMES",
    "METRIC_WORDS",
    "Nested",
    "calibration",
    "choose",
    "conformal_quantiles",
    "coverage",
    "distinct_levels",
    "errors_needed",
    "level_name",
    "nested",
    "quantiles_of",
    "series_metrics",
    "sorted_blocks",
    "thin_levels",
]

METRIC_NAMES = ("mase", "smape", "mae", "rmse")
METRIC_WORDS = {"mase": "MASE", "smape": "sMAPE", "mae": "MAE", "rmse": "RMSE"}
Rule = Literal["per_series", "global"]


def series_metrics(scored: pd.DataFrame, origins: list[int] | None = None) -> pd.DataFrame:
    """One row per (model, series): the metrics over ``origins`` (None: all) and ``points``
    (the forecasts made, closed days included; the metrics leave those out)."""
    rows = scored if origins is None else scored[scored[ORIGIN].isin(origins)]
    error = rows["error"].to_numpy(dtype=float)
    actual, forecast = rows[TARGET].to_numpy(dtype=float), rows["mean"].to_numpy(dtype=float)
    denominator = np.abs(actual) + np.abs(forecast)
    smape = np.divide(
        200 * np.abs(error), denominator, out=np.zeros_like(error), where=denominator > 0
    )
    smape[np.isnan(error)] = np.nan  # a closed day: not scored
    parts = rows[["model", KEY]].assign(
        mase=np.abs(error) / rows[SCALE].to_numpy(dtype=float),
        smape=smape,
        mae=np.abs(error),
        squared=error**2,
    )
    grouped = parts.groupby(["model", KEY], sort=False)
    out = grouped[["mase", "smape", "mae", "squared"]].mean()
    out["rmse"] = np.sqrt(out.pop("squared"))
    out["points"] = grouped.size()
    return out.reset_index()


def choose(
    metrics: pd.DataFrame,
    models: list[str],
    rule: Rule,
    *,
    points: int,
    keys: list[str],
    metric: str = "mase",
) -> pd.Series:
    """Each series' model (index: the series keys, in ``keys`` order), the lowest ``metric``.

    Only models with all ``points`` forecasts for a series compete for it; the
    first model of ``models`` (the baseline) is the last resort.
    """
    import pandas as pd

    complete = metrics[metrics["points"] >= points]
    table = complete.pivot(index=KEY, columns="model", values=metric).reindex(
        index=keys, columns=models
    )
    if rule == "global":
        full = table.dropna()
        means = full.mean() if len(full) else table.mean()
        ranked = sorted(models, key=lambda m: (_or_inf(means.get(m)), models.index(m)))
        chosen = pd.Series(models[0], index=table.index)
        for model in reversed(ranked):  # the best available model of each series
            chosen[table[model].notna()] = model
        return chosen.rename("model")
    values = table.to_numpy(dtype=float)
    values = np.where(np.isnan(values), np.inf, values)
    best = values.argmin(axis=1)  # the first of equal values: the model listed first
    return pd.Series(np.asarray(models)[best], index=table.index, name="model")


def _or_inf(value: Any) -> float:
    return float("inf") if value is None or math.isnan(value) else float(value)


@dataclass(frozen=True)
class Nested:
    """The choice made on the origins before the last, scored on the last."""

    chosen: pd.Series  # series -> model, chosen without the last origin
    metrics: pd.DataFrame  # per series: the chosen model's metrics on the last origin
    baseline: pd.DataFrame  # per series: the baseline's on the last origin
    earlier: pd.DataFrame  # per series: the chosen model's on the origins before
    honest: bool  # False with one window: chosen and scored on the same origin


def nested(
    scored: pd.DataFrame,
    models: list[str],
    rule: Rule,
    *,
    windows: int,
    horizon: int,
    keys: list[str],
    metric: str = "mase",
) -> Nested:
    """Choose on origins ``0 .. windows-2``, score on origin ``windows-1``."""
    last = windows - 1
    before = list(range(last)) or [last]
    by_origin = series_metrics(scored, before)
    points = horizon * len(before)
    chosen = choose(by_origin, models, rule, points=points, keys=keys, metric=metric)
    on_last = series_metrics(scored, [last])
    pick = chosen.rename("model").reset_index()
    metrics = pick.merge(on_last, on=["model", KEY], how="left").set_index(KEY)
    earlier = pick.merge(by_origin, on=["model", KEY], how="left").set_index(KEY)
    baseline = on_last[on_last["model"] == models[0]].set_index(KEY).reindex(keys)
    return Nested(chosen, metrics, baseline, earlier, honest=windows > 1)


def calibration(scored: pd.DataFrame, origins: list[int] | None = None) -> pd.DataFrame:
    """model, STEP, ``score``: each absolute error over its series' scale (the conformal
    scores), over ``origins`` (None: all), sorted within (model, step)."""
    rows = scored if origins is None else scored[scored[ORIGIN].isin(origins)]
    rows = rows[rows["error"].notna()]  # closed days are not scored
    score = np.abs(rows["error"].to_numpy(dtype=float)) / rows[SCALE].to_numpy(dtype=float)
    out = rows[["model", STEP]].assign(score=score)
    return out.sort_values(["model", STEP, "score"], kind="stable").reset_index(drop=True)


def conformal_quantiles(
    scores: np.ndarray[Any, Any], steps: int, level: float, block: int = 1
) -> Any:
    """The conformal quantile for ``level`` (percent) at each step 1..``steps``.

    ``scores`` holds (step, score) pairs; the steps are pooled in blocks of ``block``
    (a season: errors grow over the horizon, but the quantile of one step alone is
    noisy, and forcing it never to shrink biases it up). A block without scores
    takes the one before it.
    """
    return quantiles_of(sorted_blocks(scores, steps, block), steps, level, block)


def sorted_blocks(scores: np.ndarray[Any, Any], steps: int, block: int) -> list[Any]:
    """The scores of each block of ``block`` steps, sorted (computed once per family)."""
    block = max(1, block)
    return [
        np.sort(scores[(scores[:, 0] > start) & (scores[:, 0] <= start + block), 1])
        for start in range(0, steps, block)
    ]


def _rank(count: int, q: float) -> int:
    """The conformal rank (1-based) of a ``q`` quantile among ``count`` sorted scores:
    above ``count`` when there are too few for it (the largest then stands in)."""
    return math.ceil((count + 1) * q)


def quantiles_of(blocks: list[Any], steps: int, level: float, block: int) -> Any:
    """``conformal_quantiles`` from ``sorted_blocks``: one index per block, any level."""
    out = np.zeros(steps)
    q = level / 100
    previous = 0.0
    block = max(1, block)
    for i, values in enumerate(blocks):
        if len(values):
            previous = float(values[min(len(values), _rank(len(values), q)) - 1])
        out[i * block : (i + 1) * block] = previous
    return out


def thin_levels(
    scores: np.ndarray[Any, Any], steps: int, block: int, levels: list[float]
) -> list[str]:
    """What to tell the user of each level too few scores calibrate: with ``n`` scores in a
    block, a conformal ``q`` interval needs ``(n + 1) * q <= n``; below that it is the
    largest error seen, narrower than its level (one series, few windows)."""
    counts = [len(values) for values in sorted_blocks(scores, steps, block) if len(values)]
    if not counts:
        return []
    fewest, out = min(counts), []
    for level in levels:
        if (need := errors_needed(level)) > fewest:
            steps_ahead = "step ahead" if block == 1 else f"{block} steps ahead"
            name = level_name(level)
            out.append(
                f"the {name}% interval is calibrated on as few as {fewest} backtest errors "
                f"per {steps_ahead}, where {name}% needs {need}: it is then the largest "
                "error seen, likely too narrow; more series or backtest windows "
                "(forecast.backtest.windows) give it more"
            )
    return out


def errors_needed(level: float) -> int:
    """The fewest scores a block needs for a conformal ``level`` (percent) interval to be
    more than the largest of them: ``(n + 1) q <= n`` (4 for 80%, 19 for 95%)."""
    q = level / 100
    need = max(1, math.floor(q / (1 - q)))  # n >= q / (1 - q)
    while _rank(need, q) > need:  # a step or two past float rounding
        need += 1
    return need


def level_name(level: float) -> str:
    """A level as its columns and metrics name it (``lo_80``, ``coverage_99.5``): to 12
    significant digits, so 99.99999 is not "100" and 30.000000000000004 is "30"."""
    return format(level, ".12g")


def distinct_levels(levels: Iterable[float]) -> list[float]:
    """``levels`` in order, each name once (the first level of a name is kept)."""
    named: dict[str, float] = {}
    for level in levels:
        named.setdefault(level_name(level), level)
    return list(named.values())


def coverage(
    scored: pd.DataFrame,
    chosen: pd.Series,
    levels: list[float],
    *,
    windows: int,
    horizon: int,
    block: int = 1,
) -> dict[str, float]:
    """The share of the last origin's actuals inside each level's interval, with quantiles
    calibrated on the origins before it (on the same origin with one window)."""
    last = windows - 1
    before = list(range(last)) or [last]
    picked = scored.merge(chosen.rename("model").reset_index(), on=["model", KEY])
    calibrated = calibration(picked, before)
    target = picked[(picked[ORIGIN] == last) & picked["error"].notna()]
    out: dict[str, float] = {}
    if target.empty:
        return out
    ratio = np.abs(target["error"].to_numpy(dtype=float)) / target[SCALE].to_numpy(dtype=float)
    steps = target[STEP].to_numpy()
    pairs = calibrated[[STEP, "score"]].to_numpy(dtype=float)
    for level in levels:
        quantiles = conformal_quantiles(pairs, horizon, level, block)
        inside = ratio <= quantiles[np.minimum(steps, horizon) - 1]
        out[f"coverage_{level_name(level)}"] = float(inside.mean())
    return out
