"""What one ETML date's run did: ``DayResult`` (counts, LLM usage, seconds, where)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from mlfactory.etml.llm import Answer, Usage

__all__ = ["DayResult", "origin"]


@dataclass
class DayResult:
    """What one date's run did."""

    day: date
    rows: int
    flagged: int
    refused: int
    summarised: int
    usage: Usage
    seconds: float
    output: Path
    by: str
    day_summary: Answer | None = None
    notes: list[str] = field(default_factory=list)
    run_id: str | None = None

    @property
    def flag_rate(self) -> float:
        scored = self.rows - self.refused
        return self.flagged / scored if scored else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "rows": self.rows,
            "flagged": self.flagged,
            "refused": self.refused,
            "flag_rate": round(self.flag_rate, 6),
            "summarised": self.summarised,
            "detected_by": self.by,
            "day_summary": None
            if self.day_summary is None
            else {
                "text": self.day_summary.text,
                "source": origin(self.day_summary),
                "reason": self.day_summary.reason,
            },
            "llm": self.usage.to_dict(),
            "seconds": round(self.seconds, 3),
            "output": str(self.output),
            "notes": self.notes,
            "mlflow_run": self.run_id,
        }


def origin(answer: Answer) -> str:
    """Who wrote a summary: the LLM (this run, or an earlier one through the cache), or
    the extractive fallback. A rerun's output is the same as the first run's."""
    return "extractive" if answer.source == "extractive" else "llm"
