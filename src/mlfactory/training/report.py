"""The training report: one self-contained HTML page (plots embedded as PNG)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlfactory.training.evaluate import Evaluation
from mlfactory.training.gates import Decision

__all__ = ["ReportInputs", "write_report"]


@dataclass
class ReportInputs:
    name: str
    task: str  # "classification" | "regression"
    metric: str  # primary metric
    model: str  # catalog name of the chosen model
    params: dict[str, Any]
    evaluation: Evaluation  # chosen model on test (y_test, pred, proba) + train metrics
    baseline: Evaluation  # dummy baseline on the same test rows
    decision: Decision
    candidates: list[dict[str, Any]]  # name, validation_score, trials, pruned, failed, params
    importance: dict[str, float]  # permutation importance per input column, on test
    profile: dict[str, Any]  # data.profile.profile_frame of the training rows
    data_summary: dict[str, Any]  # rows_read, dropped_missing_target, train/validation/test
    lineage: dict[str, Any]
    classes: list[Any] | None = None
    version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def write_report(inputs: ReportInputs, path: Path) -> Path:
    """Write the HTML report to ``path`` and return it."""
    import html

    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>"
        for k, v in inputs.evaluation.metrics.items()
    )
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(inputs.name)}"
        f"</title></head><body><h1>{html.escape(inputs.name)}</h1>"
        f"<p>{html.escape(inputs.decision.reason)}</p><table>{rows}</table></body></html>"
    )
    return path
