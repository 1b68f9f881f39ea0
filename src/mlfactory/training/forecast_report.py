"""The forecasting report: one self-contained HTML page for a trained forecast family.

Sections: the decision and the family in one line; the backtest (the nested
choice on the last window against the seasonal naive baseline, and each series'
MASE of both as a histogram); every model's backtest and how many series it
forecasts; interval coverage per level, nominal against achieved; the worst
series by the primary metric, with their model and why; and forecast-against-
actual plots for a sample of series: the worst ``WORST_PLOTS`` and ``DRAWN``
others drawn with the spec's seed. Each plot shows the last ``HISTORY`` horizons
of the series, the last backtest window's forecast against what happened, and
the served forecast with its interval bands. Every text is escaped; the page
loads nothing and the same training gives the same bytes (but the footer's time).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlfactory.pages import escape, figure, page
from mlfactory.training.forecast_plots import (
    SeriesPlot,
    coverage_chart,
    mase_histogram,
    series_chart,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.registry.forecasts import SeriesForecasts
    from mlfactory.registry.manifest import ForecastFamily
    from mlfactory.training.evaluate import Evaluation
    from mlfactory.training.gates import Decision

__all__ = ["ForecastReport", "sample_series", "write_forecast_report"]

WORST = 10  # rows of the worst-series table
WORST_PLOTS, DRAWN = 3, 3  # series plotted: the worst, and others drawn at random
HISTORY = 3  # horizons of history in a series' plot


@dataclass(frozen=True)
class ForecastReport:
    name: str
    version: str
    metric: str
    family: ForecastFamily
    models: list[str]  # the candidates, the baseline first
    scored: pd.DataFrame  # the backtest origins' forecasts joined with the actuals
    evaluation: Evaluation  # the nested choice on the last window
    baseline: Evaluation
    seconds: float  # the backtests' time
    series: pd.DataFrame  # series.parquet's rows (model, reason, metrics), indexed by key
    decision: Decision
    last_window: pd.DataFrame  # per series: the model chosen before the last window, its metrics
    history: pd.DataFrame  # the panel: KEY, TIME, TARGET
    served: SeriesForecasts  # the registered forecasts, with intervals
    seed: int  # draws the plotted series besides the worst
    notes: tuple[str, ...] = ()  # what reading the data did (the panel's notes), warnings


def _n(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return "–" if number != number else f"{number:.4g}"


def _table(head: list[str], rows: list[list[str]], numeric: tuple[int, ...] = ()) -> str:
    def cells(tag: str, row: list[str]) -> str:
        return "".join(
            f"<{tag}{' class=n' if i in numeric else ''}>{c}</{tag}>" for i, c in enumerate(row)
        )

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"<table><thead><tr>{cells('th', [escape(h) for h in head])}</tr></thead>{body}</table>"


def sample_series(series: pd.DataFrame, metric: str, seed: int) -> tuple[list[str], list[str]]:
    """The series to plot: the ``WORST_PLOTS`` worst by ``metric`` (lower is better,
    unscored series never the worst), and ``DRAWN`` of the rest drawn with ``seed``."""
    ranked = series[metric].dropna().sort_values(ascending=False, kind="stable")
    worst = [str(k) for k in ranked.index[:WORST_PLOTS]]
    rest = [str(k) for k in series.index if k not in set(worst)]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(rest), size=min(DRAWN, len(rest)), replace=False)
    return worst, [rest[i] for i in sorted(picks.tolist())]


def write_forecast_report(report: ForecastReport, path: Path) -> Path:
    sections = [
        ("overall", "Backtest", _overall(report)),
        ("models", "Models", _models(report)),
        ("coverage", "Interval coverage", _coverage(report)),
        ("worst", "Worst series", _worst(report)),
        ("plots", "Forecasts against actuals", _plots(report)),
    ]
    html = page(
        title=f"{report.name} v{report.version}",
        kind="forecast report",
        header=_header(report),
        sections=sections,
        footer=f"mlfactory forecast report · {report.seconds:.1f} s of backtests · "
        "self-contained: no network access, no scripts",
        css=_CSS,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


# -- sections --------------------------------------------------------------------------


def _header(report: ForecastReport) -> str:
    decision = report.decision
    verdict = "ok" if decision.promoted else "held"
    head = "Promoted" if decision.promoted else "Held back"
    return (
        f"<h1>{escape(report.name)} <span class='muted'>v{escape(report.version)}</span></h1>"
        f"<p class='sub'>{escape(report.family.summary())}</p>"
        + "".join(
            f"<p class='sub'>{escape(note[:1].upper() + note[1:])}.</p>" for note in report.notes
        )
        + f"<div class='verdict {verdict}'><b>{head}</b> as <code>{escape(decision.alias)}</code>: "
        f"{escape(decision.reason.split(': ', 1)[-1])}.</div>"
    )


def _overall(report: ForecastReport) -> str:
    from mlfactory.forecasting.select import METRIC_NAMES

    family, tested = report.family, report.evaluation
    table = _table(
        ["metric", "chosen models, last window", "95% interval", "earlier", report.models[0]],
        [
            [
                escape(m) + " ★" * (m == report.metric),
                _n(tested.metrics.get(m, float("nan"))),
                escape(" – ".join(_n(v) for v in tested.intervals.get(m, ()))),
                _n(tested.train_metrics.get(m, float("nan"))),
                _n(report.baseline.metrics.get(m, float("nan"))),
            ]
            for m in METRIC_NAMES
        ],
        numeric=(1, 3, 4),
    )
    chosen, baseline = _last_window(report, "mase")
    histogram = figure(
        "MASE per series",
        f"Each series' MASE on the last window: its model chosen on the windows before "
        f"(filled) and the {report.models[0]} baseline (line), on the same bins.",
        lambda: mase_histogram(chosen, baseline, report.models[0]),
    )
    chosen_how = (
        "The one model for every series" if family.rule == "global" else "Each series' model"
    )
    none = "" if tested.intervals else " (none for one series)"
    return (
        f"<p>{chosen_how} is chosen on the windows before the last and scored on the "
        f"<i>last window</i> ({family.windows} windows, {family.step} steps apart, horizon "
        f"{family.horizon}); the mean over series, with a 95% bootstrap interval over "
        f"series{none}. <i>Earlier</i>: the same choice on the windows it was chosen on "
        f"(the gap is the choice's optimism). ★ the primary metric.{_closed(family)}</p>"
        f"{table}"
        f"<div class='grid'>{histogram}</div>"
    )


def _closed(family: ForecastFamily) -> str:
    if not family.closed:
        return ""
    return (
        f" Closed days ({escape(', '.join(family.closed))}) are forecast as 0 with no "
        "interval and are in no score."
    )


def _last_window(report: ForecastReport, metric: str) -> tuple[pd.Series, pd.Series]:
    """Per series on the last window: the chosen model's ``metric`` and the baseline's."""
    from mlfactory.forecasting.panel import KEY
    from mlfactory.forecasting.select import series_metrics

    last = report.family.windows - 1
    on_last = series_metrics(report.scored, [last])
    base = on_last[on_last["model"] == report.models[0]].set_index(KEY)[metric]
    return report.last_window[metric], base


def _models(report: ForecastReport) -> str:
    from mlfactory.forecasting.select import METRIC_NAMES, series_metrics

    family = report.family
    metrics = series_metrics(report.scored)
    complete = metrics[metrics["points"] >= family.horizon * family.windows]
    by_model = complete.groupby("model")[list(METRIC_NAMES)].mean()
    backtested = complete.groupby("model").size()
    rows = [
        [escape(m) + " <span class='muted'>(baseline)</span>" * (i == 0)]
        + [_n(by_model.loc[m, k]) if m in by_model.index else "–" for k in METRIC_NAMES]
        + [f"{int(backtested.get(m, 0)):,}", f"{family.chosen.get(m, 0):,}"]
        for i, m in enumerate(report.models)
    ]
    n = len(METRIC_NAMES)
    table = _table(
        ["model", *METRIC_NAMES, "series backtested", "series it forecasts"],
        rows,
        numeric=tuple(range(1, n + 3)),
    )
    return (
        f"<p>Each model's mean over the series it could forecast at every one of the "
        f"{family.windows} backtest windows (a series too short for a model is left out), "
        f"and the series each one forecasts in this version ({family.rule.replace('_', ' ')} "
        f"choice).</p>{table}"
    )


def _coverage(report: ForecastReport) -> str:
    coverage = report.family.coverage
    if not coverage:
        return "<p class='muted'>No interval was scored (no backtest window to calibrate on).</p>"
    table = _table(
        ["level", "nominal", "achieved (last window)", "difference"],
        [
            [
                escape(k.removeprefix("coverage_") + "%"),
                f"{float(k.removeprefix('coverage_')) / 100:.1%}",
                f"{v:.1%}",
                f"{100 * v - float(k.removeprefix('coverage_')):+.1f} pts",
            ]
            for k, v in coverage.items()
        ],
        numeric=(1, 2, 3),
    )
    chart = figure(
        "Interval coverage",
        "The share of the last window's actuals inside each level's interval (calibrated on "
        "the windows before it) against the share it promises.",
        lambda: coverage_chart(coverage),
    )
    return (
        "<p>Intervals are conformal: each model's scaled errors at each step ahead in the "
        "backtests give the interval's half-width. Below nominal, the intervals are too "
        f"narrow; above, too wide.</p><div class='grid'><div>{table}</div>{chart}</div>"
    )


def _worst(report: ForecastReport) -> str:
    metric = report.metric
    worst = report.series[metric].dropna().sort_values(ascending=False, kind="stable").head(WORST)
    baseline = _last_window(report, metric)[1]
    nested = report.last_window["model"]
    rows = []
    for key in worst.index:
        row = report.series.loc[key]
        model = escape(row["model"])
        earlier = nested.get(key)
        if isinstance(earlier, str) and earlier != row["model"]:
            model += f" <span class='muted'>(scored: {escape(earlier)})</span>"
        rows.append(
            [
                f"<code>{escape(key)}</code>",
                model,
                _n(row[metric]),
                _n(baseline.get(key, float("nan"))),
                f"{int(row['points']):,}",
                escape(row["reason"]),
            ]
        )
    head = ["series", "model", f"{metric} (last window)", report.models[0], "points", "reason"]
    table = _table(head, rows, numeric=(2, 3, 4))
    return (
        f"<p>The {min(WORST, len(worst))} series with the highest {escape(metric)} on the last "
        "window, where the model chosen on the windows before it was scored (named in "
        "brackets when the final choice differs).</p>" + table
    )


def _plots(report: ForecastReport) -> str:
    from mlfactory.forecasting.select import level_name

    worst, drawn = sample_series(report.series, report.metric, report.seed)
    figures = [_series_figure(report, key, f"worst {i}") for i, key in enumerate(worst, 1)]
    figures += [_series_figure(report, key, "drawn at random") for key in drawn]
    horizon = report.family.horizon
    levels = ", ".join(f"{level_name(level)}%" for level in sorted(report.family.levels))
    which = (
        f"the {len(worst)} worst by {escape(report.metric)} and {len(drawn)} others drawn at "
        f"random (seed {report.seed})"
        if drawn or len(report.series) > len(worst)
        else "every series"
    )
    return (
        f"<p>Plotted: {which}. Each shows the last {HISTORY * horizon} points "
        f"({HISTORY} horizons) of the series, the last backtest window's forecast against "
        "what happened (dashed: the model chosen on the windows before it), and the served "
        "forecast from the end of the data (blue) with its intervals shaded ("
        f"{levels}).</p><div class='grid'>{''.join(figures)}</div>"
    )


def _series_figure(report: ForecastReport, key: str, kind: str) -> str:
    row = report.series.loc[key]
    plot = _series_plot(report, key)
    caption = (
        f"{kind}: forecast by {row['model']} ({row['reason']}); the last backtest by "
        f"{plot.backtest_model}, {report.metric} {_n(row[report.metric])}."
    )
    return figure(key, caption, lambda: series_chart(plot))


def _series_plot(report: ForecastReport, key: str) -> SeriesPlot:
    from mlfactory.forecasting.backtest import ORIGIN
    from mlfactory.forecasting.panel import KEY, TARGET, TIME

    family = report.family
    history = report.history.loc[report.history[KEY] == key, [TIME, TARGET]]
    history = history.tail(HISTORY * family.horizon)
    nested = report.last_window["model"].get(key)
    scored = report.scored
    back = scored[
        (scored[KEY] == key) & (scored[ORIGIN] == family.windows - 1) & (scored["model"] == nested)
    ]
    levels = sorted(family.levels)
    forecast = report.served.forecast([key], levels=levels)
    return SeriesPlot(
        history=history,
        backtest=back[[TIME, "mean"]].sort_values(TIME),
        backtest_model=str(nested),
        forecast=forecast,
        model=str(report.series.loc[key, "model"]),
        levels=levels,
        target=family.target,
    )


_CSS = """
.verdict.held{background:#fff8c5;border-color:#d4a72c}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:16px;
 align-items:start;margin-top:12px}
"""
