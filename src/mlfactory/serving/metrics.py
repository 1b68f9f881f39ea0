"""Prometheus metrics of one app (its own registry, so several apps never clash)."""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["ServingMetrics"]

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
        self.reload_failures = Counter(
            "mlfactory_reload_failures",
            "New versions that could not be loaded.",
            ["model"],
            registry=r,
        )
        self.predlog_dropped = Gauge(
            "mlfactory_prediction_log_dropped_rows",
            "Scored rows not written to the prediction log since start (queue full or write "
            "error); 0 when the log is off.",
            registry=r,
        )

    def set_version(self, model: str, version: str, previous: str | None) -> None:
        if previous is not None and previous != version:
            with contextlib.suppress(KeyError):
                self.model_version.remove(model, previous)
        self.model_version.labels(model, version).set(1)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        body: Any = generate_latest(self.registry)
        return bytes(body), CONTENT_TYPE_LATEST
