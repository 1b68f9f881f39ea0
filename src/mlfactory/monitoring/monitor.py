"""``monitor``: everything a person checks about a model in production, in one result.

The current rows come from any data source (CSV, Parquet file or folder,
``builtin:``), optionally through a DuckDB query, from the model server's
prediction log over a time window, or from ``mlfactory batch``'s output folder
given as ``current`` (its scored parts only, read as a log is read: not its
rejects, nor a query's result kept there). Only the model package is needed,
never the training data. One check gives:

- data drift per column and data quality (``check_drift`` on the stored profile);
- prediction drift: the model scores the current rows, compared with the
  distribution of its test-set predictions;
- the multivariate check (``domain_classifier``) on the package's reference rows;
- performance decay, when labels are given (joined by the id column).

A forecasting version (``manifest.forecast``) is checked differently: its current
rows are the actuals that arrived, compared with the forecasts it served
(``check_forecasts``: accuracy per series and overall against the backtest);
there are no feature columns to drift.

``record_result`` stores a compact summary on the model version, where the
server reads it to export Prometheus gauges and ``watch``/``retrain`` read it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfactory.data import load_frame
from mlfactory.data.sources import query_frame
from mlfactory.errors import BadInputError, DataError, MlfactoryError
from mlfactory.monitoring.domain import DomainResult, domain_classifier
from mlfactory.monitoring.drift import ColumnDrift, DriftResult, check_drift
from mlfactory.monitoring.forecasts import ForecastCheck, check_forecasts
from mlfactory.monitoring.performance import PerformanceResult, check_performance
from mlfactory.registry import tags
from mlfactory.scoring import Scorer

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.registry import Registry, VersionInfo
    from mlfactory.registry.package import ModelPackage
    from mlfactory.tasks import OutputColumn

__all__ = ["MonitorResult", "monitor", "record_result"]

SUMMARY_COLUMNS = 40  # columns kept in the summary (the largest effects)


@dataclass
class MonitorResult:
    """One monitoring check of ``model`` (version ``version``) on current rows."""

    model: str
    version: str
    data: DriftResult
    prediction: ColumnDrift | None = None
    domain: DomainResult | None = None
    performance: PerformanceResult | None = None
    forecast: ForecastCheck | None = None  # a forecasting version: its accuracy on actuals
    source: str = ""
    checked_at: float = field(default_factory=time.time)

    @property
    def drifted(self) -> bool:
        """The dataset verdict: any column, the predictions or the domain classifier."""
        return (
            self.data.drifted
            or (self.prediction is not None and self.prediction.drifted)
            or (self.domain is not None and self.domain.drifted)
        )

    @property
    def decayed(self) -> bool:
        """Performance decay on labels, or a forecast's accuracy decay on actuals."""
        return (self.performance is not None and self.performance.decayed) or (
            self.forecast is not None and self.forecast.decayed
        )

    @property
    def alarm(self) -> bool:
        """What a scheduler acts on (exit code 3): drift or performance decay."""
        return self.drifted or self.decayed

    def reasons(self) -> list[str]:
        """One sentence per finding that raised the alarm, most telling first."""
        out = []
        drifted = [c for c in self.data.columns if c.drifted]
        if drifted:
            names = ", ".join(c.column for c in drifted[:6]) + (", ..." if len(drifted) > 6 else "")
            out.append(f"{len(drifted)} of {len(self.data.columns)} columns drifted ({names})")
        if self.domain is not None and self.domain.drifted:
            shares = [(c, s) for c, s in self.domain.importance.items() if s >= 0.01][:3]
            top = ", ".join(f"{c} {s:.0%}" for c, s in shares)
            out.append(
                f"a classifier tells current rows from training rows (AUC "
                f"{self.domain.auc:.3f} > {self.domain.threshold}); it separates them by {top}"
            )
        if self.prediction is not None and self.prediction.drifted:
            out.append(f"the predictions drifted ({self.prediction.detail})")
        p = self.performance
        if p is not None and p.decayed:
            out.append(
                f"{p.metric} on {p.n_labelled:,} labelled rows is {p.current:.4g} "
                f"[{p.low:.4g}, {p.high:.4g}], worse than {p.reference:.4g} at registration"
            )
        if self.forecast is not None:
            out += self.forecast.reasons()
        return out

    def all_clear(self) -> str:
        """The sentence for a check that raised no alarm."""
        if self.forecast is not None:
            return self.forecast.all_clear()
        return f"no drift in {self.data.n_current:,} current rows"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "checked_at": self.checked_at,
            "source": self.source,
            "drifted": self.drifted,
            "decayed": self.decayed,
            "reasons": self.reasons(),
            **self.data.to_dict(),
            "prediction": None if self.prediction is None else vars(self.prediction),
            "domain": None if self.domain is None else self.domain.to_dict(),
            "performance": None if self.performance is None else self.performance.to_dict(),
            "forecast": None if self.forecast is None else self.forecast.to_dict(),
        }

    def summary(self) -> dict[str, Any]:
        """The figures the server exports as gauges; small enough for a version tag."""
        columns = self.data.columns[:SUMMARY_COLUMNS]
        performance = self.performance
        figure = None
        if performance is not None and performance.current is not None:
            figure = [performance.metric, round(performance.current, 5)]
        elif self.forecast is not None and self.forecast.live is not None:
            figure = [self.forecast.metric, round(self.forecast.live, 5)]
        return {
            "checked_at": self.checked_at,
            "drifted": self.drifted,
            "share": self.data.share,
            "n_current": self.data.n_current,
            "columns": {c.column: [round(c.effect, 5), c.threshold, c.drifted] for c in columns},
            "prediction": None
            if self.prediction is None
            else [round(self.prediction.effect, 5), self.prediction.drifted],
            "domain_auc": None if self.domain is None else round(self.domain.auc, 4),
            "performance": figure,
            "decayed": self.decayed,
            "forecast": None if self.forecast is None else self.forecast.summary(),
        }


def monitor(
    model: str,
    *,
    registry: Registry,
    current: str | None = None,
    sql: str | None = None,
    prediction_log: Path | None = None,
    since: float | None = None,
    until: float | None = None,
    labels: str | None = None,
    id_column: str | None = None,
    multivariate: bool = True,
) -> MonitorResult:
    """Check ``model`` (``NAME@ALIAS`` or ``NAME/VERSION``) against current rows.

    Give ``current`` and/or ``sql``, or ``prediction_log`` (a server's log folder)
    with an optional window ``since <= time < until`` (Unix seconds). ``labels``
    (a data source with the id column and the target) adds the performance check;
    the id column defaults to the spec's ``data.id_column``. Unreadable log files
    are skipped and listed among the quality findings.
    """
    if prediction_log is not None and (current is not None or sql is not None):
        raise BadInputError("give either a data source (--current/--sql) or --prediction-log")
    package, info = registry.load(model)
    if package.manifest.forecast is not None:
        return _forecast_check(package, info, current, sql, prediction_log, labels)
    skipped: list[str] = []
    if prediction_log is not None:
        frame, skipped = _from_log(prediction_log, info.name, since, until, package.output_columns)
        source = f"prediction log {prediction_log}"
    elif current is not None and (scored := _batch_model(current)) is not None:
        frame, skipped = _from_log(Path(current), scored, None, None, package.output_columns)
        frame = frame if sql is None else query_frame(sql, frame)
        source = " with ".join([f"batch output {current}", *([sql] if sql else [])])
    elif current is not None or sql is not None:
        frame = load_frame(current, sql)
        source = " with ".join(str(s) for s in (current, sql) if s is not None)
    else:
        raise BadInputError(
            "give the current data: --current (a file, folder or builtin:...), "
            "--sql, or --prediction-log"
        )
    profile = package.manifest.profile
    key = id_column or package.manifest.id_column
    data = check_drift(profile, frame.drop(columns=[key]) if key in frame.columns else frame)
    data.quality.extend(skipped)
    result = MonitorResult(model=info.name, version=info.version, data=data, source=source)
    scorer = Scorer.of(package, name=info.name, version=info.version, fast=False)
    result.prediction = _prediction_drift(scorer, profile, frame, data.quality)
    if multivariate:
        if package.reference is None:
            data.quality.append(
                "the package stores no reference rows (monitoring.reference_rows: 0, or an "
                "older package), so the multivariate check did not run"
            )
        else:
            kinds = {c: v.get("kind", "") for c, v in profile["columns"].items()}
            result.domain = domain_classifier(package.reference, frame, kinds)
    if labels is not None:
        if not key:
            raise BadInputError(
                "labels are joined to the current rows by an id column; give --id-column "
                "(the spec has no data.id_column)"
            )
        result.performance = check_performance(package, frame, load_frame(labels), id_column=key)
    return result


def record_result(registry: Registry, result: MonitorResult) -> None:
    """Store ``result.summary()`` on the checked version (the server's drift gauges)."""
    registry.set_version_tags(
        result.model, result.version, {tags.DRIFT: json.dumps(result.summary(), default=str)}
    )


def _forecast_check(
    package: ModelPackage,
    info: VersionInfo,
    current: str | None,
    sql: str | None,
    prediction_log: Path | None,
    labels: str | None,
) -> MonitorResult:
    """A forecasting version: the current rows are actuals, scored against its forecasts."""
    how = (
        f"{info.name} forecasts series: it is checked on the actuals that arrived, rows of its "
        "id column(s), date and target given as --current (a file, folder or builtin:...) "
        "and/or --sql"
    )
    if prediction_log is not None or labels is not None:
        given = "--prediction-log" if prediction_log is not None else "--labels"
        raise BadInputError(f"{given} does not apply: {how}")
    if current is None and sql is None:
        raise BadInputError(f"give the actuals: {how}")
    if current is not None and _batch_model(current) is not None:
        raise BadInputError(
            f"{current!r} is a batch output: it holds forecasts, not actuals; {how}"
        )
    frame = load_frame(current, sql)
    check = check_forecasts(package.pipeline, frame)
    data = DriftResult(
        columns=[], drifted=False, share=0.0, n_reference=0, n_current=len(frame),
        quality=check.notes(),
    )  # fmt: skip
    source = " with ".join(str(s) for s in (current, sql) if s is not None)
    return MonitorResult(
        model=info.name, version=info.version, data=data, forecast=check, source=source
    )


def _prediction_drift(
    scorer: Scorer, profile: dict[str, Any], frame: pd.DataFrame, quality: list[str]
) -> ColumnDrift | None:
    """The current rows' predictions against the test-set predictions at training.

    Rows the scorer's policy refuses are left out and counted among the findings.
    """
    import pandas as pd

    reference = profile.get("prediction")
    if not reference:
        return None
    try:
        validated = scorer.validate(frame, skip_invalid=True)
        if validated.frame.empty:
            raise DataError("no row passes the model's input checks")
        pred, proba = scorer.predict(validated.frame)
    except (MlfactoryError, ValueError) as exc:
        quality.append(f"the model cannot score the current rows, so predictions were not "
                       f"checked: {exc}")  # fmt: skip
        return None
    if validated.skipped:
        left = len(frame) - len(validated.frame)
        quality.append(
            f"{left:,} current row(s) were left out of the prediction check: "
            + "; ".join(validated.problems)
        )
    quality.extend(validated.warnings())  # what the server flags: numbers far out of range
    package = scorer.package
    values, _ = package.task.prediction_values(pred, proba, package.classes)
    scored = pd.DataFrame({"prediction": values})
    checked = check_drift({"rows": 0, "columns": {"prediction": reference}}, scored)
    return checked.columns[0] if checked.columns else None


def _batch_model(current: str) -> str | None:
    """The model whose scores ``current`` holds, when it is a batch output folder."""
    from mlfactory.batch.parts import scored_by

    return scored_by(Path(current))


def _from_log(
    folder: Path,
    name: str,
    since: float | None,
    until: float | None,
    outputs: Sequence[OutputColumn],
) -> tuple[pd.DataFrame, list[str]]:
    """The logged rows' inputs (answers and bookkeeping columns dropped), and what was skipped."""
    from mlfactory.serving.predlog import read_log

    frame, problems = read_log(folder, name, since=since, until=until)
    what = "prediction log" if _batch_model(str(folder)) is None else "batch output"
    if frame.empty:
        detail = "; ".join(problems) if problems else "no rows in that time window"
        raise DataError(f"the {what} {str(folder)!r} has nothing to check for {name!r}: {detail}")
    skipped = [f"{what}: {p}" for p in problems]
    answers = {c.name for c in outputs}
    logged = [c for c in frame.columns if c.startswith("_") or c in answers]
    return frame.drop(columns=logged), skipped
