"""What one training produced and decided: the result ``train`` returns for any task."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlfactory.registry import Registry
    from mlfactory.registry.manifest import DecisionThreshold, Family, ForecastFamily
    from mlfactory.training.evaluate import Evaluation
    from mlfactory.training.gates import Decision

__all__ = ["TrainResult", "report_path"]


@dataclass
class TrainResult:
    """What one training produced and decided."""

    name: str
    version: str
    model: str
    metric: str
    decision: Decision
    evaluation: Evaluation
    baseline: Evaluation
    report_path: Path
    run_id: str
    candidates: list[dict[str, Any]] = field(default_factory=list)
    threshold: DecisionThreshold | None = None  # a binary model's decision threshold
    family: Family | None = None  # one model per group (group_by): the groups, who scores them
    forecast: ForecastFamily | None = None  # task forecasting: the series and who forecasts them
    warnings: list[str] = field(default_factory=list)  # what the user should look at (leakage)

    @property
    def promoted(self) -> bool:
        return self.decision.promoted

    @property
    def exit_code(self) -> int:
        """0 when promoted to champion, 3 when a gate held it back (the CLI's exit code)."""
        return 0 if self.promoted else 3


def report_path(registry: Registry, name: str, version: str) -> Path:
    """Where a training's HTML report goes: beside an embedded store, else a temporary
    folder (it is logged to the MLflow run either way)."""
    import tempfile

    path = registry.path / "reports" / f"{name}-v{version}.html"
    if not registry.embedded:
        path = Path(tempfile.gettempdir()) / "mlfactory-reports" / path.name
    return path
