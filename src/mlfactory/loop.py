"""The closed loop: decide whether to retrain, retrain, and watch on an interval.

``retrain`` checks a condition against the current champion (``always``,
``stale:30d`` or ``drift`` on current data), records the decision on the
champion's version, and when the condition holds trains the spec again: on the
spec's (possibly newer) data, through the gates and the champion/challenger
comparison, so a new model takes ``champion`` only if it earns it. A server
that follows the registry then swaps to it without a restart.

``watch`` runs the monitoring check every interval (for users without a
scheduler), records each result where the server exports it as gauges, and,
given a spec, retrains on drift.

This module joins training and monitoring; neither imports the other.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfactory.errors import BadInputError, MlfactoryError
from mlfactory.registry import tags

if TYPE_CHECKING:
    from mlfactory.monitoring import MonitorResult
    from mlfactory.registry import Registry
    from mlfactory.spec import FactorySpec
    from mlfactory.training import TrainResult

__all__ = [
    "RetrainOutcome",
    "Source",
    "parse_duration",
    "parse_when",
    "retrain",
    "watch",
]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass
class Source:
    """Where the current rows come from (as for ``monitor``)."""

    current: str | None = None
    sql: str | None = None
    prediction_log: Path | None = None
    hours: float | None = None  # with prediction_log: the last N hours only

    def monitor(self, model: str, registry: Registry) -> MonitorResult:
        from mlfactory.monitoring import monitor

        since = time.time() - self.hours * 3600 if self.hours is not None else None
        return monitor(
            model,
            registry=registry,
            current=self.current,
            sql=self.sql,
            prediction_log=self.prediction_log,
            since=since,
        )

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.current, self.sql, self.prediction_log))


@dataclass
class RetrainOutcome:
    retrained: bool
    reason: str
    champion: str | None  # the version the condition was checked against
    check: MonitorResult | None = None  # the drift check, for --when drift
    trained: TrainResult | None = None


def parse_duration(text: str) -> float | None:
    """``30s``, ``10m``, ``12h``, ``30d`` -> seconds; None when ``text`` is not one."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    return float(match.group(1)) * _UNITS[match.group(2)] if match else None


def parse_when(when: str) -> tuple[str, float | None]:
    """``always`` | ``drift`` | ``stale:<age>`` -> (kind, age limit in seconds)."""
    if when in ("always", "drift"):
        return when, None
    limit = parse_duration(when.removeprefix("stale:")) if when.startswith("stale:") else None
    if limit is None or limit <= 0:
        raise BadInputError(
            f"--when {when!r} is not a condition; use always, drift, or stale:<age> "
            "with the age in minutes, hours or days (stale:90m, stale:12h, stale:30d)"
        )
    return "stale", limit


def retrain(
    spec_path: str | Path | FactorySpec,
    *,
    when: str,
    source: Source | None = None,
    checked: MonitorResult | None = None,
    registry: Registry | None = None,
    progress: bool = True,
    now: float | None = None,
) -> RetrainOutcome:
    """Retrain the spec's model if ``when`` holds for its champion; record the decision.

    ``when="drift"`` needs ``source`` (the current rows) unless ``checked`` already
    holds a check of the champion. Without a champion, the model is trained.
    """
    from mlfactory.monitoring import record_result
    from mlfactory.registry import Registry
    from mlfactory.spec import FactorySpec, load_spec
    from mlfactory.training import train

    kind, limit = parse_when(when)
    source = source or Source()
    if kind == "drift" and checked is None and not source.given:
        raise BadInputError(
            "--when drift compares the champion with current rows: give --current "
            "(a file, folder or builtin:...), --sql, or --prediction-log"
        )
    spec = spec_path if isinstance(spec_path, FactorySpec) else load_spec(spec_path)
    registry = registry or Registry(
        tracking_uri=spec.registry.tracking_uri, path=spec.registry.path
    )
    champion = registry.champion(spec.name)
    check = None
    if champion is None:
        go, reason = True, f"{spec.name} has no champion yet"
    elif kind == "always":
        go, reason = True, "--when always"
    elif kind == "stale":
        assert limit is not None
        age = (now if now is not None else time.time()) - champion.created
        go = age >= limit
        reason = (
            f"champion version {champion.version} is {_age(age)} old "
            f"({'at or over' if go else 'under'} the limit of {_age(limit)})"
        )
    else:
        check = checked
        if check is None:  # a check handed in (watch) was recorded by whoever made it
            check = source.monitor(f"{spec.name}@champion", registry)
            record_result(registry, check)
        go = check.alarm
        reason = "; ".join(check.reasons()) if go else check.all_clear()
        reason = f"champion version {champion.version}: {reason}"
    if champion is not None:
        decision = {"time": time.time(), "when": when, "retrain": go, "reason": reason}
        registry.set_version_tags(
            spec.name, champion.version, {tags.RETRAIN_CHECK: json.dumps(decision)[:4900]}
        )
    outcome = RetrainOutcome(
        retrained=go,
        reason=reason,
        champion=champion.version if champion else None,
        check=check,
    )
    if go:
        reason_tags = {tags.RETRAIN_REASON: f"--when {when}: {reason}"[:4900]}
        outcome.trained = train(spec, registry=registry, progress=progress, tags=reason_tags)
    return outcome


def watch(
    model: str,
    *,
    registry: Registry,
    source: Source,
    every_seconds: float,
    spec_path: str | Path | FactorySpec | None = None,
    report_dir: Path | None = None,
    times: int | None = None,
    on_result: Callable[[int, Any], None] | None = None,
) -> int:
    """Check ``model`` every ``every_seconds``; returns the number of checks made.

    Each check is recorded on the checked version (the server exports it); a
    report is written to ``report_dir/<name>-latest.html`` when given. With
    ``spec_path``, an alarm retrains (``retrain(when="drift")``). A check that
    fails on bad input (no rows in the window yet, say) is reported through
    ``on_result`` and the watch goes on. ``times`` bounds the number of checks.
    """
    from mlfactory.monitoring import record_result
    from mlfactory.monitoring.report import write_report

    if every_seconds <= 0:
        raise BadInputError(f"--every must be a positive duration; got {every_seconds:g} s")
    made = 0
    while times is None or made < times:
        started = time.monotonic()
        outcome: Any
        try:
            outcome = source.monitor(model, registry)
            record_result(registry, outcome)
            if report_dir is not None:
                write_report(outcome, report_dir / f"{outcome.model}-latest.html")
            if spec_path is not None and outcome.alarm:
                outcome = retrain(spec_path, when="drift", checked=outcome, registry=registry)
        except MlfactoryError as exc:
            outcome = exc
        made += 1
        if on_result is not None:
            on_result(made, outcome)
        if times is not None and made >= times:
            break
        time.sleep(max(0.0, every_seconds - (time.monotonic() - started)))
    return made


def _age(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"
