"""Checks between keys of ``factory.yaml``, read from the raw mapping.

``spec.parse_spec`` runs ``cross_problems`` on the file as parsed, so a metric or
model of another task, or a parameter an estimator does not take, is reported
together with every other problem of the file, whatever else is wrong in it.
``did_you_mean`` and ``unknown_metric`` are the hints every spec message shares.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from mlfactory.errors import did_you_mean
from mlfactory.forecasting.forecasters import FORECASTERS
from mlfactory.metrics import METRICS
from mlfactory.models import CATALOG
from mlfactory.tasks import TASKS, Task

__all__ = [
    "cross_problems",
    "group_problems",
    "model_problems",
    "split_problems",
    "unknown_metric",
]


def cross_problems(raw: dict[str, Any]) -> list[str]:
    """Problems between keys (a metric or model of another task, unknown model parameters).

    Read from the raw mapping, so that they are reported together with every other
    problem of the file, whatever else is wrong in it.
    """
    task_name = raw.get("task")
    if not isinstance(task_name, str) or task_name not in TASKS:
        return []
    task = TASKS[task_name]
    names = ", ".join(task.metric_names)
    problems: list[str] = []
    search = raw.get("search")
    metric = search.get("metric") if isinstance(search, dict) else None
    if isinstance(metric, str) and metric in METRICS and metric not in task.metric_names:
        problems.append(
            f"search.metric: {metric!r} is not a {task_name} metric; {task_name} metrics: {names}"
        )
    gates = raw.get("gates")
    for bound in ("min", "max"):
        values = gates.get(bound) if isinstance(gates, dict) else None
        for name in values if isinstance(values, dict) else ():
            if name in METRICS and name not in task.metric_names:
                problems.append(
                    f"gates.{bound}: {name!r} is not a {task_name} metric; {task_name} metrics: "
                    f"{names}"
                )
    if raw.get("threshold") is not None and not task.thresholded:
        problems.append(
            f"threshold: a decision threshold applies to binary classification, not {task_name}"
        )
    problems += group_problems(raw)
    problems += split_problems(raw, task)
    problems += target_problems(raw, task)
    problems += series_problems(raw, task)
    models = raw.get("models")
    if isinstance(models, list):
        if not models:
            problems.append("models: list at least one candidate model")
        for i, model in enumerate(models):
            problems += model_problems(f"models[{i}]", model, task)
        listed = [m.get("name") if isinstance(m, dict) else m for m in models]
        for i, name in enumerate(listed):
            if isinstance(name, str) and name in listed[:i]:
                problems.append(
                    f"models[{i}]: {name} is listed twice (models[{listed.index(name)}] too); "
                    "results, runs and the registry tell models apart by name: list it once"
                )
    return problems


_ROLES = ("target", "id_column", "time_column")


def group_problems(raw: dict[str, Any]) -> list[str]:
    """A ``group_by`` column that is not a feature: the target, id, time or an excluded column.

    The models read the group column as a feature and the routing reads it in every
    row scored, so it must be one. Whether it is in the data is the data's check.
    """
    group_by, data = raw.get("group_by"), raw.get("data")
    if isinstance(group_by, str):
        group_by = [group_by]
    columns = group_by.get("columns") if isinstance(group_by, dict) else group_by
    if not isinstance(columns, list) or not isinstance(data, dict):
        return []
    problems: list[str] = []
    features, excluded = data.get("features"), data.get("exclude")
    for column in (c for c in columns if isinstance(c, str)):
        role = next((k for k in _ROLES if data.get(k) == column), None)
        if role is not None:
            problems.append(f"group_by: {column!r} is data.{role}; group by a feature column")
        elif isinstance(excluded, list) and column in excluded:
            problems.append(
                f"group_by: {column!r} is in data.exclude; a group column is a feature that "
                "every scored row carries: remove it from data.exclude"
            )
        elif isinstance(features, list) and column not in features:
            problems.append(
                f"group_by: {column!r} is not in data.features; add it there (every scored "
                "row carries it, and the models use it)"
            )
    return problems


def split_problems(raw: dict[str, Any], task: Task) -> list[str]:
    """``split.group_column``: a column of its own, for a split that is not in time order
    and of rows, not series."""
    split, data = raw.get("split"), raw.get("data")
    column = split.get("group_column") if isinstance(split, dict) else None
    if not isinstance(column, str) or not isinstance(data, dict):
        return []
    if task.series:
        return [
            "split.group_column: forecasting backtests each series on its own past; it "
            "splits no rows"
        ]
    problems: list[str] = []
    role = next((k for k in (*_ROLES, "label_column") if data.get(k) == column), None)
    if role is not None:
        problems.append(f"split.group_column: {column!r} is data.{role}; name another column")
    elif data.get("time_column") is not None:
        problems.append(
            f"split.group_column: the split is in time order (data.time_column "
            f"{data['time_column']!r}), which keeps the future out of training already; "
            "use one of the two"
        )
    group_by = raw.get("group_by")
    grouped = group_by.get("columns") if isinstance(group_by, dict) else group_by
    if column == grouped or (isinstance(grouped, list) and column in grouped):
        problems.append(
            f"split.group_column: {column!r} is also in group_by; a family's model learns a "
            "group from its own rows, which this split keeps out of training: choose one"
        )
    return problems


def target_problems(raw: dict[str, Any], task: Task) -> list[str]:
    """``data.target`` for the tasks that predict one; ``data.label_column`` and the
    ``anomaly:`` section for the one that learns without (anomaly)."""
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    assert isinstance(data, dict)
    if task.needs_target:
        problems = [] if data.get("target") else [f"data.target: task {task.name} needs it: "
                                                   "the column to predict"]  # fmt: skip
        if data.get("label_column") is not None:
            problems.append(
                f"data.label_column: applies to task: anomaly; a {task.name} model learns "
                "data.target"
            )
        if raw.get("anomaly") is not None:
            problems.append(f"anomaly: applies to task: anomaly, not {task.name}")
        return problems
    problems = []
    if data.get("target") is not None:
        problems.append(
            f"data.target: task {task.name} has no target; name a column of known anomalies "
            "(if any) as data.label_column: it evaluates the detector and never fits it"
        )
    if raw.get("group_by") is not None:
        problems.append(f"group_by: not available for task {task.name}; train one detector")
    return problems


def series_problems(raw: dict[str, Any], task: Task) -> list[str]:
    """Forecasting needs its section, a time and an id column; other tasks take neither a
    ``forecast:`` section nor several id columns; forecasting takes no row-wise keys."""
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    assert isinstance(data, dict)
    problems: list[str] = []
    if not task.series:
        if raw.get("forecast") is not None:
            problems.append(f"forecast: applies to task: forecasting, not {task.name}")
        if isinstance(data.get("id_column"), list):
            problems.append(
                f"data.id_column: {task.name} takes one id column; several name a forecast's series"
            )
        return problems
    if raw.get("forecast") is None:
        problems.append(
            "forecast: task: forecasting needs this section, e.g. forecast: {frequency: D, "
            "horizon: 14}"
        )
    one_series = "; one series: name a constant column made in data.sql, 'all' AS series"
    for key, example in (
        ("time_column", "date"),
        ("id_column", f"store, or [store, item]{one_series}"),
    ):
        if not data.get(key):
            problems.append(f"data.{key}: forecasting needs it (e.g. {key}: {example})")
    for key in ("group_by", "threshold"):
        if raw.get(key) is not None:
            problems.append(
                f"{key}: does not apply to forecasting (every series gets its own model)"
            )
    search = raw.get("search") if isinstance(raw.get("search"), dict) else {}
    assert isinstance(search, dict)
    for key in ("trials", "timeout_seconds"):
        if search.get(key) is not None:
            problems.append(
                f"search.{key}: forecasting has no hyperparameter search: every listed model "
                "is backtested with its params; search.metric chooses between them"
            )
    if raw.get("refit"):
        problems.append("refit: does not apply to forecasting (the final fit uses every point)")
    return problems


def model_problems(where: str, model: Any, task: Task) -> list[str]:
    """A candidate that the task cannot use, or parameters its estimator does not take."""
    name = model.get("name") if isinstance(model, dict) else model
    if task.series:
        if isinstance(name, str) and name not in FORECASTERS and name in CATALOG:
            return [
                f"{where}: {name} is not a forecasting model; choose from {', '.join(FORECASTERS)}"
            ]
        if isinstance(model, dict) and model.get("search"):
            return [
                f"{where}.search: forecasting has no hyperparameter search; give the model's "
                "params instead"
            ]
        extra = FORECASTERS[name].extra if isinstance(name, str) and name in FORECASTERS else None
        if extra is not None and importlib.util.find_spec(extra) is None:
            return [f"{where}: {name} needs its extra: pip install 'mlfactory[{extra}]'"]
        return []
    if isinstance(name, str) and name not in CATALOG and name in FORECASTERS:
        return [
            f"{where}: {name} is a forecasting model; {task.name} models: "
            f"{', '.join(n for n in CATALOG if n != 'dummy')}"
        ]
    if not isinstance(name, str) or name not in CATALOG:
        return []  # the field's own check says so
    entry = CATALOG[name]
    if task.estimator not in entry.builders:
        offering = [n for n, e in CATALOG.items() if task.estimator in e.builders and n != "dummy"]
        return [
            f"{where}: {name} has no {task.estimator} for task {task.name}; choose from "
            f"{', '.join(offering)}"
        ]
    problems: list[str] = []
    keys = {
        part: [str(k) for k in model.get(part) or {}]
        for part in ("params", "search")
        if isinstance(model, dict) and isinstance(model.get(part), dict)
    }
    if any(keys.values()):
        own, others = entry.parameters(task)
        for part, given in keys.items():
            for key in given:
                if key not in own and key not in others:
                    hint = did_you_mean(key, sorted(own)) or did_you_mean(key, sorted(others))
                    problems.append(f"{where}.{part}: {name} has no parameter {key!r}{hint}")
        params = model.get("params") if "params" in keys else {}
        known = {k: v for k, v in params.items() if k in own | others}
        for key, reason in entry.refused(task, known).items():
            problems.append(f"{where}.params.{key}: {name} refuses {known[key]!r}: {reason}")
    return problems


def unknown_metric(name: str) -> str:
    return (
        f"unknown metric {name!r}{did_you_mean(name, list(METRICS))}; "
        f"known metrics: {', '.join(METRICS)}"
    )
