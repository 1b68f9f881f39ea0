"""What ``--json`` writes: a training's result, or a model's versions, for scripts and CI.

Both describe a version the same way: ``name``, ``version``, ``model``, the
primary ``metric``, ``metrics`` (per metric its ``test`` value, the 95%
bootstrap interval ``ci95``, and the ``train`` and ``baseline`` values), the
``decision`` taken at training in words (``promoted``, ``held back``,
``interrupted``, or ``registering`` while a training is still moving its
alias) and its ``reason``.
A training adds the ``alias`` it received, each gate ``check``, the champion
comparison and its ``exit_code``; a version listed by ``models show`` adds the
``aliases`` it holds now. ``family`` is None for one model; for a model family
(``group_by``) a training gives every group (values, rows, scores, who scores it
and why) and ``models show`` its ``columns`` and how many ``groups`` and ``own``
models it has. A number that is not finite (a metric undefined on
the test rows) is ``null``. The path ``-`` writes to stdout.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlfactory.registry import Registry, VersionInfo
    from mlfactory.training import TrainResult

__all__ = [
    "STDOUT",
    "check_target",
    "decision_words",
    "model_record",
    "training_record",
    "write_json",
]

STDOUT = Path("-")
_DECISIONS = {"champion": "promoted", "challenger": "held back"}


def training_record(result: TrainResult) -> dict[str, Any]:
    """One training: what was registered, how it scored, what was decided and why."""
    decision, evaluation = result.decision, result.evaluation
    return {
        "name": result.name,
        "version": result.version,
        "model": result.model,
        "metric": result.metric,
        "decision": "promoted" if decision.promoted else "held back",
        "alias": decision.alias,
        "reason": decision.reason,
        "checks": [asdict(check) for check in decision.checks],
        "champion": (
            {"version": decision.champion_version, **asdict(decision.comparison)}
            if decision.comparison is not None
            else None
        ),
        "metrics": _metrics(
            evaluation.metrics,
            evaluation.intervals,
            evaluation.train_metrics,
            result.baseline.metrics,
        ),
        "threshold": None if result.threshold is None else result.threshold.model_dump(),
        "family": None if result.family is None else result.family.model_dump(by_alias=True),
        "warnings": result.warnings,
        "run_id": result.run_id,
        "report": str(result.report_path),
        "exit_code": result.exit_code,
    }


def model_record(registry: Registry, versions: list[VersionInfo]) -> dict[str, Any]:
    """One model's versions, oldest first, each with its verified metrics and intervals."""
    from mlfactory.errors import MlfactoryError

    records = []
    for info in versions:
        record = _version(info)
        try:
            manifest, _ = registry.manifest(info)
        except MlfactoryError as exc:  # listed with what the tags hold, and why
            record["problem"] = str(exc)
        else:
            scores = manifest.metrics
            intervals = {k: (v[0], v[1]) for k, v in scores.test_ci95.items()}
            record["metrics"] = _metrics(
                scores.test, intervals, scores.train, manifest.baseline_metrics
            )
            threshold = manifest.threshold
            record["threshold"] = None if threshold is None else threshold.model_dump()
        records.append(record)
    aliases = {alias: info.version for info in versions for alias in info.aliases}
    name = versions[0].name if versions else None
    return {
        "name": name,
        "tracking_uri": registry.tracking_uri,
        "aliases": aliases,
        "versions": records,
    }


def check_target(target: Path | None) -> None:
    """Refuse, before any work, a ``--json`` file that could not be written."""
    from mlfactory.errors import BadInputError

    if target is None or target == STDOUT:
        return
    if target.is_dir() or not target.parent.is_dir():
        why = "is a folder" if target.is_dir() else f"is in {str(target.parent)!r}, no folder"
        raise BadInputError(f"--json {str(target)!r} {why}; give a file in an existing folder.")


def write_json(record: dict[str, Any], target: Path) -> None:
    """``record`` as JSON in ``target`` (``-``: stdout), non-finite numbers as null."""
    from mlfactory.errors import BadInputError

    text = json.dumps(_finite(record), indent=1, allow_nan=False, default=str) + "\n"
    if target == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        target.write_text(text)
    except OSError as exc:
        why = exc.strerror or exc
        raise BadInputError(f"cannot write --json {str(target)!r}: {why}.") from None


def decision_words(info: VersionInfo) -> str:
    """What was decided at training: promoted, held back, interrupted or registering."""
    if info.registering:
        return "registering"
    return _DECISIONS.get(info.decision, info.decision)


def _version(info: VersionInfo) -> dict[str, Any]:
    from mlfactory.registry import tags

    owner = info.registering
    return {
        "name": info.name,
        "version": info.version,
        "aliases": info.aliases,
        "created": datetime.fromtimestamp(info.created, UTC).isoformat(),
        "model": info.tags.get(tags.MODEL),
        "metric": info.tags.get(tags.METRIC),
        "decision": decision_words(info) or None,
        "reason": info.reason or None,
        "registering": owner.describe() if owner else None,
        "signed_by": info.tags.get(tags.SIGNED_BY),
        "drift": info.drift,
        "family": info.family,
        "metrics": {name: {"test": value} for name, value in info.metrics.items()},
    }


def _metrics(
    test: dict[str, float],
    intervals: dict[str, tuple[float, float]],
    train: dict[str, float],
    baseline: dict[str, float],
) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "test": value,
            "ci95": list(intervals[name]) if name in intervals else None,
            "train": train.get(name),
            "baseline": baseline.get(name),
        }
        for name, value in test.items()
    }


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
