"""Tasks: every task-specific behaviour, one module per task, in the ``TASKS`` table.

A new task is a new module with a ``Task`` subclass and one line in ``TASKS``.
Outside this package only ``spec.py`` names a task (it validates ``task:``);
everything else asks the ``Task`` object (``task_named``).
"""

from __future__ import annotations

from mlfactory.errors import BadInputError
from mlfactory.tasks.anomaly import Anomaly
from mlfactory.tasks.base import Diagnostic, OutputColumn, Target, TargetOptions, Task
from mlfactory.tasks.classification import Classification
from mlfactory.tasks.forecasting import Forecasting
from mlfactory.tasks.regression import Regression

__all__ = [
    "TASKS",
    "Diagnostic",
    "OutputColumn",
    "Target",
    "TargetOptions",
    "Task",
    "task_named",
]

TASKS: dict[str, Task] = {
    task.name: task for task in (Classification(), Regression(), Forecasting(), Anomaly())
}


def task_named(name: str) -> Task:
    """The task called ``name`` (as ``factory.yaml`` and the model package write it)."""
    try:
        return TASKS[name]
    except KeyError:
        raise BadInputError(f"unknown task {name!r}; mlfactory knows {', '.join(TASKS)}") from None
