"""The forecasting report's charts: a series against its forecasts, coverage, MASE per series.

Dates are drawn on a linear axis of days since 1970 (``days``) with ticks at
round dates that fit the plot's width (``date_ticks``): hours, days, weeks,
months or years. Interval bands are closed areas under the lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.charts import BLUE, GREY, GUIDE, PALETTE, Chart, Panel, percent
from mlfactory.svg import Floats, Mark, as_floats, draw_line, text_width

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SeriesPlot", "coverage_chart", "date_ticks", "days", "mase_histogram", "series_chart"]

WIDTH = 540  # px: a chart in the report's two-column grid
ACTUAL, BACKTEST = "#1f2328", PALETTE[1]  # near black; the palette's orange
_DAY_NS = 86_400 * 10**9


def days(dates: Any) -> Floats:
    """Dates (naive) as days since 1970-01-01, a float each."""
    import pandas as pd

    nanoseconds = pd.DatetimeIndex(dates).as_unit("ns").to_numpy().view(np.int64)
    return as_floats(nanoseconds / _DAY_NS)


def _day(d: pd.Timestamp) -> str:
    return f"{d:%b} {d.day}"


def _hour(d: pd.Timestamp) -> str:
    return _day(d) if d.hour == 0 else f"{d:%H:%M}"


# (pandas frequency, every k-th of its dates, label): from the finest step to the coarsest
_STEPS: tuple[tuple[str, int, Any], ...] = (
    *(("h", k, _hour) for k in (1, 2, 3, 6, 12)),
    ("D", 1, _day),
    ("D", 2, _day),
    ("W-MON", 1, _day),
    ("W-MON", 2, _day),
    *(("MS", k, lambda d: f"{d:%b %Y}") for k in (1, 2, 3, 6)),
    *(("YS", k, lambda d: f"{d:%Y}") for k in (1, 2, 5, 10, 20, 50, 100)),
)


def date_ticks(lo: float, hi: float, width: float) -> list[tuple[float, str]]:
    """Ticks at round dates between ``lo`` and ``hi`` (days since 1970), as many as fit
    in ``width`` px with their labels apart; the coarsest step when none fits."""
    import pandas as pd

    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        return []
    start = pd.Timestamp(int(lo * _DAY_NS)).floor("D")
    end = pd.Timestamp(int(hi * _DAY_NS))
    found: list[tuple[float, str]] = []
    for freq, every, label in _STEPS:
        if (hi - lo) / _span(freq, every) > 40:  # far too many: skip without building them
            continue
        dates = pd.date_range(start, end, freq=freq)
        dates = dates[(dates >= pd.Timestamp(int(lo * _DAY_NS)))]
        dates = dates[[_ordinal(d, freq) % every == 0 for d in dates]]
        labels = [label(d) for d in dates]
        found = list(zip(days(dates).tolist(), labels, strict=True))
        if len(found) <= 1:
            continue
        if len(found) * (max(map(text_width, labels)) + 16) <= width:
            return found
    return found


def _span(freq: str, every: int) -> float:
    """The step of ``every`` ``freq`` dates in days."""
    return every * {"h": 1 / 24, "D": 1.0, "W-MON": 7.0, "MS": 30.4, "YS": 365.25}[freq]


def _ordinal(d: pd.Timestamp, freq: str) -> int:
    """A count of ``freq`` steps that is the same in every run, so every k-th is stable."""
    if freq == "YS":
        return int(d.year)
    if freq == "MS":
        return int(d.month - 1)
    unit = {"h": 3600, "D": 86_400, "W-MON": 7 * 86_400}[freq]
    return int(d.value // (unit * 10**9))


def _band(ax: Panel, x: Floats, low: Floats, high: Floats, alpha: float, label: str) -> None:
    """A shaded area between ``low`` and ``high`` along ``x``, in the forecast's colour."""
    ok = np.isfinite(x) & np.isfinite(low) & np.isfinite(high)
    if not ok.any():
        return
    xs = np.concatenate([x[ok], x[ok][::-1]])
    ys = np.concatenate([low[ok], high[ok][::-1]])
    draw = partial(draw_line, xs, ys, BLUE, 0.0, False, alpha)
    ax.marks.append(Mark(draw, xs, ys, label=label, symbol="box", color=BLUE, alpha=alpha))


@dataclass(frozen=True)
class SeriesPlot:
    """What one series' chart shows: its recent history, the last backtest window's
    forecast and the served forecast with its intervals."""

    history: pd.DataFrame  # TIME, TARGET: the last points of the series
    backtest: pd.DataFrame  # TIME, MEAN: the last window's forecast (may be empty)
    backtest_model: str
    forecast: pd.DataFrame  # TIME, MEAN, lo_L, hi_L per level: the served forecast
    model: str
    levels: list[float]
    target: str


def series_chart(plot: SeriesPlot, *, height: float = 330) -> Chart:
    """Actuals, the last backtest forecast (dashed) and the served forecast with its bands."""
    from mlfactory.forecasting.panel import TARGET, TIME
    from mlfactory.forecasting.select import level_name
    from mlfactory.registry.forecasts import interval_columns

    chart = Chart(width=WIDTH, height=height)
    x_history = days(plot.history[TIME])
    x_forecast = days(plot.forecast[TIME])
    lo = float(x_history.min()) if len(x_history) else float(x_forecast.min())
    hi = float(x_forecast.max()) if len(x_forecast) else float(x_history.max())
    xticks = date_ticks(lo, hi, WIDTH - 110)
    years = sorted({int(y) for part in (plot.history, plot.forecast) for y in part[TIME].dt.year})
    ax = chart.add(
        Panel(
            ylabel=plot.target,
            xlabel="–".join(map(str, dict.fromkeys([years[0], years[-1]]))) if years else "",
            xticks=xticks,
            legend="top",
        )
    )
    for level, alpha in zip(
        sorted(plot.levels, reverse=True), _alphas(len(plot.levels)), strict=True
    ):
        low, high = interval_columns([level])
        _band(
            ax,
            x_forecast,
            plot.forecast[low].to_numpy(dtype=float),
            plot.forecast[high].to_numpy(dtype=float),
            alpha,
            f"{level_name(level)}%",
        )
    ax.line(x_history, plot.history[TARGET], color=ACTUAL, width=1.3, label="actual")
    if len(plot.backtest):
        ax.line(
            days(plot.backtest[TIME]),
            plot.backtest["mean"],
            color=BACKTEST,
            dash=True,
            label="last backtest",
        )
    ax.line(x_forecast, plot.forecast["mean"], color=BLUE, label="forecast")
    if len(x_history):
        ax.vline(float(x_history.max()))
    return chart


def _alphas(n: int) -> list[float]:
    """Band opacities, the widest level lightest."""
    return [round(0.12 + 0.18 * i / max(n - 1, 1), 2) for i in range(n)]


def coverage_chart(coverage: dict[str, float]) -> Chart | None:
    """Each level's nominal share beside the share of actuals found inside its interval."""
    levels = [(k.removeprefix("coverage_"), v) for k, v in coverage.items()]  # ("80", 0.79)
    if not levels:
        return None
    n = len(levels)
    values = [v for name, got in levels for v in (float(name) / 100, got) if math.isfinite(v)]
    low = max(0.0, math.floor((min(values) - 0.05) * 20) / 20)
    chart = Chart(width=WIDTH, height=110 + 40 * n)
    ax = chart.add(
        Panel(
            xlabel="share of the last window's actuals inside the interval",
            xformat=percent,
            xlim=(low, 1.0),
            ylim=(n - 0.5, -0.5),
            yticks=[(i, f"{name}%") for i, (name, _) in enumerate(levels)],
            grid="x",
            legend="top",
        )
    )
    nominal = [float(name) / 100 for name, _ in levels]
    achieved = [share for _, share in levels]
    for i in range(n):
        ax.line([nominal[i], achieved[i]], [i, i], color=GREY, width=2)
    ax.scatter(nominal, range(n), radius=5, color=GUIDE, label="nominal", clip=False)
    ax.scatter(achieved, range(n), radius=5, color=BLUE, label="achieved", clip=False)
    return chart


def mase_histogram(chosen: pd.Series, baseline: pd.Series, baseline_name: str) -> Chart | None:
    """Per-series MASE of the chosen models and of the baseline on the same bins; values
    beyond three interquartile ranges above the third quartile are counted in the last bin
    (the note says how many)."""
    a = chosen.to_numpy(dtype=float)
    b = baseline.to_numpy(dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    both = np.concatenate([a, b])
    if not len(both):
        return None
    q1, q3 = np.quantile(both, [0.25, 0.75])
    top = max(min(float(both.max()), float(q3 + 3 * (q3 - q1))), 1e-9)  # far outliers apart
    bins = int(min(30, max(6, math.ceil(2 * math.sqrt(len(both) / 2)))))
    low = min(math.floor(float(both.min()) * 10) / 10, top / 2)
    edges = np.linspace(low, top * (1 + 1e-9), bins + 1)
    chart = Chart(width=WIDTH, height=330)
    over_a, over_b = int((a > edges[-1]).sum()), int((b > edges[-1]).sum())
    note = f"in the last bar, above {top:.3g}: {over_a} chosen, {over_b} {baseline_name}"
    note = note if over_a or over_b else ""
    ax = chart.add(
        Panel(
            xlabel="MASE per series on the last window (1: the in-sample seasonal naive's error)",
            ylabel="series",
            legend="top",
            note=note,
            note_color=GUIDE,
        )
    )
    counts_a = np.histogram(np.minimum(a, edges[-1]), edges)[0] if len(a) else np.zeros(bins)
    counts_b = np.histogram(np.minimum(b, edges[-1]), edges)[0] if len(b) else np.zeros(bins)
    mean_a = f" (mean {a.mean():.3g})" if len(a) else ""
    mean_b = f" (mean {b.mean():.3g})" if len(b) else ""
    ax.stairs(counts_a, edges, fill=True, alpha=0.35, color=BLUE, label=f"chosen models{mean_a}")
    ax.stairs(counts_b, edges, color=BACKTEST, label=f"{baseline_name}{mean_b}")
    return chart
