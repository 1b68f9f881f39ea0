"""Prometheus metrics of one app (its own registry, so several apps never clash).

With ``serve --workers N`` every worker is a process with its own metrics, and a
scrape reaches whichever worker accepts it. The CLI then gives the workers one
``PROMETHEUS_MULTIPROC_DIR``: counters and histograms are written to files there
and summed over the workers on every scrape, while gauges (the version served,
the latest drift check) come from the answering worker, where they are the same
in every worker because each reads them from the registry.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlfactory.errors import BadInputError

__all__ = ["MULTIPROC_ENV", "ServingMetrics", "shared_by_workers"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported


@contextlib.contextmanager
def shared_by_workers(workers: int) -> Iterator[None]:
    """Around starting ``workers`` processes: one metrics folder for all of them.

    A temporary ``PROMETHEUS_MULTIPROC_DIR`` (removed afterwards) when there are
    several workers and none is set; one that is set must be a folder.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given and not Path(given).is_dir():
        raise BadInputError(
            f"{MULTIPROC_ENV}={given!r} is not a folder; create it, or unset it and "
            "mlfactory uses a temporary one for --workers N"
        )
    if workers < 2 or given:
        yield
        return
    folder = tempfile.mkdtemp(prefix="mlfactory-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536)


class ServingMetrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "mlfactory_requests",
            "Requests by model, protocol and HTTP status.",
            ["model", "protocol", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "mlfactory_request_latency_seconds",
            "Time from request to response.",
            ["model", "protocol"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            "mlfactory_batch_rows",
            "Rows per predict call after micro-batching.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.model_version = Gauge(
            "mlfactory_model_version",
            "1 for the version each model serves now.",
            ["model", "version"],
            registry=r,
        )
        self.errors = Counter(
            "mlfactory_errors",
            "Failed requests by kind (bad_input, too_large, auth, ...).",
            ["model", "kind"],
            registry=r,
        )
        self.predictions = Counter(
            "mlfactory_predictions",
            "Rows scored, by the version and role that scored them.",
            ["model", "version", "role"],
            registry=r,
        )
        self.unknown_categories = Counter(
            "mlfactory_unknown_categories",
            "Values of categorical columns unseen in training.",
            ["model", "column"],
            registry=r,
        )
        self.far_values = Counter(
            "mlfactory_far_out_of_range_values",
            "Numbers scored though far outside the training range (more than the range's "
            "width beyond it), per input column.",
            ["model", "column"],
            registry=r,
        )
        self.reload_failures = Counter(
            "mlfactory_reload_failures",
            "New versions that could not be loaded.",
            ["model"],
            registry=r,
        )
        self.predlog_dropped = Counter(
            "mlfactory_prediction_log_dropped_rows",
            "Scored rows not written to the prediction log (queue full or write error).",
            registry=r,
        )

        # The latest monitoring check recorded on the served version (mlfactory monitor,
        # watch or retrain); refreshed on every registry poll, cleared on a swap.
        self.drift_detected = Gauge(
            "mlfactory_drift_detected",
            "1 when the latest check of the served version found drift, else 0.",
            ["model", "version"],
            registry=r,
        )
        self.drift_share = Gauge(
            "mlfactory_drift_share",
            "Share of checked columns that drifted in the latest check.",
            ["model"],
            registry=r,
        )
        self.drift_effect = Gauge(
            "mlfactory_drift_effect",
            "Effect size per column in the latest check (W1/std or Jensen-Shannon).",
            ["model", "column"],
            registry=r,
        )
        self.drift_threshold = Gauge(
            "mlfactory_drift_threshold",
            "The effect above which a column drifts (with a significant test).",
            ["model", "column"],
            registry=r,
        )
        self.drift_column = Gauge(
            "mlfactory_drift_column_drifted",
            "1 for each column that drifted in the latest check.",
            ["model", "column"],
            registry=r,
        )
        self.drift_domain_auc = Gauge(
            "mlfactory_drift_domain_auc",
            "Cross-validated AUC of telling current rows from training rows (0.5: same).",
            ["model"],
            registry=r,
        )
        self.drift_checked = Gauge(
            "mlfactory_drift_checked_timestamp_seconds",
            "When the latest check ran (Unix time).",
            ["model"],
            registry=r,
        )
        self.drift_rows = Gauge(
            "mlfactory_drift_current_rows", "Rows in the latest check.", ["model"], registry=r
        )
        # a forecasting version's latest check on arriving actuals (monitoring/forecasts.py)
        self.forecast_decayed = Gauge(
            "mlfactory_forecast_decayed",
            "1 when the latest check of the served forecasts against actuals found decay.",
            ["model", "version"],
            registry=r,
        )
        self.forecast_mase = Gauge(
            "mlfactory_forecast_mase",
            "Mean MASE over series: live (on the actuals) and backtest (at training).",
            ["model", "on"],
            registry=r,
        )
        self.forecast_flagged = Gauge(
            "mlfactory_forecast_flagged_series",
            "Series forecast more than 2x worse than in their backtest.",
            ["model"],
            registry=r,
        )
        self._drift_shown: dict[str, tuple[Any, ...]] = {}

    def set_drift(self, model: str, version: str, summary: dict[str, Any] | None) -> None:
        """Show ``summary`` (``VersionInfo.drift``) for ``model``; None clears it."""
        if self._drift_shown.get(model) == (version, summary):
            return
        labelled = (self.drift_effect, self.drift_threshold, self.drift_column, self.forecast_mase)
        for gauge in (*labelled, self.drift_detected, self.forecast_decayed):
            for labels in [k for k in _label_sets(gauge) if k[0] == model]:
                gauge.remove(*labels)
        for gauge in (
            self.drift_share,
            self.drift_domain_auc,
            self.drift_checked,
            self.drift_rows,
            self.forecast_flagged,
        ):
            with contextlib.suppress(KeyError):
                gauge.remove(model)
        self._drift_shown[model] = (version, summary)
        if not summary:
            return
        self.drift_detected.labels(model, version).set(1 if summary.get("drifted") else 0)
        self.drift_share.labels(model).set(float(summary.get("share") or 0.0))
        self.drift_checked.labels(model).set(float(summary.get("checked_at") or 0.0))
        self.drift_rows.labels(model).set(float(summary.get("n_current") or 0))
        if summary.get("domain_auc") is not None:
            self.drift_domain_auc.labels(model).set(float(summary["domain_auc"]))
        if isinstance(forecast := summary.get("forecast"), dict):
            self.forecast_decayed.labels(model, version).set(1 if forecast.get("decayed") else 0)
            self.forecast_flagged.labels(model).set(float(forecast.get("flagged") or 0))
            for on in ("live", "backtest"):
                if forecast.get(on) is not None:
                    self.forecast_mase.labels(model, on).set(float(forecast[on]))
        columns = dict(summary.get("columns") or {})
        if summary.get("prediction"):
            columns["(prediction)"] = [*summary["prediction"][:1], None, summary["prediction"][1]]
        for column, (effect, threshold, drifted) in columns.items():
            self.drift_effect.labels(model, column).set(float(effect))
            if threshold is not None:
                self.drift_threshold.labels(model, column).set(float(threshold))
            self.drift_column.labels(model, column).set(1 if drifted else 0)

    def set_version(self, model: str, version: str, previous: str | None) -> None:
        if previous is not None and previous != version:
            with contextlib.suppress(KeyError):
                self.model_version.remove(model, previous)
        self.model_version.labels(model, version).set(1)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        body: Any = generate_latest(self if _shared_files() else self.registry)
        return bytes(body), CONTENT_TYPE_LATEST

    def collect(self) -> Any:
        """Every worker's counters and histograms, summed; this worker's gauges."""
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        shared = CollectorRegistry()
        MultiProcessCollector(shared)  # type: ignore[no-untyped-call]
        yield from (m for m in shared.collect() if m.type in ("counter", "histogram"))
        yield from (m for m in self.registry.collect() if m.type not in ("counter", "histogram"))


def _shared_files() -> bool:
    """Whether metric values live in PROMETHEUS_MULTIPROC_DIR files (decided at import)."""
    from prometheus_client import values

    return values.ValueClass is not values.MutexValue


def _label_sets(gauge: Any) -> list[tuple[str, ...]]:
    """The label values a labelled metric has children for."""
    with gauge._lock:
        return list(gauge._metrics)
