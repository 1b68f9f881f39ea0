"""The forecasting report: one self-contained HTML page for a trained forecast family.

Sections: the decision, the overall backtest table (the nested choice on the
last window against the seasonal naive baseline), every model's backtest, who
forecasts which series and why, interval coverage, and the worst series.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlfactory.pages import escape, page

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.registry.manifest import ForecastFamily
    from mlfactory.training.evaluate import Evaluation
    from mlfactory.training.gates import Decision

__all__ = ["ForecastReport", "write_forecast_report"]

WORST = 10


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


def _n(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return "–" if number != number else f"{number:.4g}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    ths = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table>"


def write_forecast_report(report: ForecastReport, path: Path) -> Path:
    from mlfactory.forecasting.select import METRIC_NAMES, series_metrics

    tested, family, decision = report, report.family, report.decision
    verdict = "ok" if decision.promoted else "bad"
    header = (
        f"<h1>{escape(report.name)} <span class='muted'>v{escape(report.version)}</span></h1>"
        f"<p class='sub'>{escape(family.summary())}</p>"
        f"<div class='verdict {verdict}'><b>{escape(decision.alias)}</b>: "
        f"{escape(decision.reason)}</div>"
    )
    metrics = tested.evaluation.metrics
    overall = _table(
        ["metric", "chosen models (last window)", "95% interval", "seasonal naive"],
        [
            [
                escape(m),
                f"<span class='n'>{_n(metrics.get(m, float('nan')))}</span>",
                escape(" – ".join(_n(v) for v in tested.evaluation.intervals.get(m, ()))),
                f"<span class='n'>{_n(tested.baseline.metrics.get(m, float('nan')))}</span>",
            ]
            for m in METRIC_NAMES
        ],
    )
    by_model = series_metrics(tested.scored).groupby("model")[list(METRIC_NAMES)].mean()
    models = _table(
        ["model", *METRIC_NAMES, "series it forecasts"],
        [
            [escape(m)]
            + [
                f"<span class='n'>{_n(by_model.loc[m, k])}</span>" if m in by_model.index else "–"
                for k in METRIC_NAMES
            ]
            + [f"<span class='n'>{family.chosen.get(m, 0):,}</span>"]
            for m in tested.models
        ],
    )
    cover = _table(
        ["level", "share of actuals inside (last window)"],
        [
            [escape(k.removeprefix("coverage_") + "%"), f"{v:.1%}"]
            for k, v in family.coverage.items()
        ],
    )
    worst = report.series.sort_values(report.metric, ascending=False).head(WORST)
    worst_table = _table(
        ["series", "model", report.metric, "reason"],
        [
            [escape(key), escape(row["model"]), _n(row[report.metric]), escape(row["reason"])]
            for key, row in worst.iterrows()
        ],
    )
    sections = [
        (
            "overall",
            "Backtest",
            f"<p>Each series' model chosen on the windows before the last, "
            f"scored on the last ({family.windows} windows, {family.step} steps apart, horizon "
            f"{family.horizon}).</p>{overall}",
        ),
        ("models", "Models", models),
        ("coverage", "Interval coverage", cover),
        ("worst", "Worst series", worst_table),
    ]
    html = page(
        title=report.name,
        kind="forecast report",
        header=header,
        sections=sections,
        footer=f"mlfactory forecast report · {tested.seconds:.1f} s of backtests",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html)
    return path
