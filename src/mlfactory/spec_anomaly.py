"""``factory.yaml``'s ``anomaly:`` section (``task: anomaly``), kept beside ``spec.py``.

Where a detector's flag starts. Every detector scores rows (higher = more
anomalous) and flags those above its threshold: the score a given share of the
training rows exceeds (``contamination``), a fixed score (``threshold``), or,
with neither, the detector's own (DBSCAN's ``eps``, a robust z of 3.5, ...; see
``detectors.py``). The section's values are given to every candidate detector.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["AnomalySpec"]


class AnomalySpec(BaseModel):
    """The flag's threshold: by share of training rows, by score, or the detector's own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contamination: float | None = Field(
        None,
        gt=0,
        lt=0.5,
        description="The share of training rows to flag, e.g. 0.01: the threshold is the "
        "score that share of them exceeds.",
    )
    threshold: float | None = Field(
        None, description="A fixed anomaly score above which a row is flagged."
    )

    @model_validator(mode="after")
    def _one_rule(self) -> AnomalySpec:
        if self.contamination is not None and self.threshold is not None:
            raise ValueError("give contamination or threshold, not both")
        return self

    def params(self) -> dict[str, Any]:
        """What every candidate detector is given."""
        return {k: v for k, v in self.model_dump().items() if v is not None}
