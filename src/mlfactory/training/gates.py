"""Gates and the champion/challenger decision.

A new model takes the ``champion`` alias only when it passes every gate in the
spec and, if a champion exists, beats it on the same test rows: the lower end
of the 95% paired-bootstrap interval of its improvement must exceed
``gates.champion_margin``. Otherwise it becomes the ``challenger`` and every
reason is recorded.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from mlfactory.metrics import METRICS, PairedComparison
from mlfactory.spec import GateSpec
from mlfactory.training.evaluate import Evaluation

__all__ = ["Check", "Decision", "decide"]


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Decision:
    promoted: bool
    alias: str  # "champion" | "challenger"
    checks: list[Check] = field(default_factory=list)
    comparison: PairedComparison | None = None
    champion_version: str | None = None

    @property
    def reason(self) -> str:
        failed = [c.detail for c in self.checks if not c.passed]
        if failed:
            return "held back: " + "; ".join(failed)
        return "promoted: " + "; ".join(c.detail for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reason"] = self.reason
        return out


def _undefined(name: str) -> str:
    return (
        f"test {name} cannot be computed on the test rows (as mape where a target is 0), "
        "so this gate cannot pass"
    )


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4f}"


def decide(
    gates: GateSpec,
    *,
    metric: str,
    evaluation: Evaluation,
    baseline: Evaluation,
    comparison: PairedComparison | None,
    champion_version: str | None,
    baseline_name: str = "dummy baseline",
) -> Decision:
    checks: list[Check] = []
    scores = evaluation.metrics
    for name, low in gates.min.items():
        value = scores.get(name, math.nan)
        checks.append(
            Check(
                f"min {name}",
                value >= low,
                f"test {name} {_fmt(value)} ≥ {low:g}"
                if value >= low
                else _undefined(name)
                if math.isnan(value)
                else f"test {name} {_fmt(value)} is below {low:g}",
            )
        )
    for name, high in gates.max.items():
        value = scores.get(name, math.nan)
        checks.append(
            Check(
                f"max {name}",
                value <= high,
                f"test {name} {_fmt(value)} ≤ {high:g}"
                if value <= high
                else _undefined(name)
                if math.isnan(value)
                else f"test {name} {_fmt(value)} is above {high:g}",
            )
        )
    m = METRICS[metric]
    test_value, train_value = scores[metric], evaluation.train_metrics[metric]
    if gates.max_train_test_gap is not None:
        gap = m.improvement(train_value, test_value)
        ok = gap <= gates.max_train_test_gap
        checks.append(
            Check(
                "train-test gap",
                ok,
                f"train-test {metric} gap {_fmt(gap)} "
                + ("≤" if ok else "exceeds")
                + f" {gates.max_train_test_gap:g}",
            )
        )
    if gates.beat_baseline and not m.baseline:  # a constant model is perfectly stable
        checks.append(
            Check(
                "beats baseline",
                True,
                f"no baseline on {metric} (a constant model would win it); the other gates decide",
            )
        )
    elif gates.beat_baseline:
        base = baseline.metrics[metric]
        ok = m.improvement(test_value, base) > 0
        same = (
            "; it is the baseline's own answer (no candidate beat it before the test): "
            "gates.beat_baseline: false lets it be champion"
            if test_value == base
            else ""
        )
        checks.append(
            Check(
                "beats baseline",
                ok,
                f"{metric} {_fmt(test_value)} "
                + ("beats" if ok else "does not beat")
                + f" the {baseline_name}'s {_fmt(base)}"
                + same,
            )
        )
    if comparison is not None:
        ok = comparison.low > gates.champion_margin
        checks.append(
            Check(
                "beats champion",
                ok,
                f"{metric} {_fmt(comparison.new)} vs champion v{champion_version}'s "
                f"{_fmt(comparison.old)}: improvement {comparison.improvement:+.4f} "
                f"[95% CI {comparison.low:+.4f}, {comparison.high:+.4f}]"
                + (" exceeds" if ok else ", lower bound not above")
                + f" margin {gates.champion_margin:g}",
            )
        )
    promoted = all(c.passed for c in checks)
    return Decision(
        promoted=promoted,
        alias="champion" if promoted else "challenger",
        checks=checks,
        comparison=comparison,
        champion_version=champion_version,
    )
