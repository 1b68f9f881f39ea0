"""The model package's manifest: a typed, versioned record instead of a dict read by key.

``manifest.json`` is written from a ``Manifest`` and read back into one; a file
that does not match the model (a missing key, a wrong type, another format) is
refused with the place of the problem. ``format`` is the package format: a
manifest of another format is refused before anything else is read.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlfactory.data.schema import Schema
from mlfactory.errors import TamperedArtifactError

__all__ = ["FORMAT", "DecisionThreshold", "Lineage", "Manifest", "Scores"]

# 2: digests.json covers the whole MLflow model folder, MLmodel included
# 3: the pipeline's first step expands datetime columns (the skops file is the whole model)
FORMAT: Literal["mlfactory.package/3"] = "mlfactory.package/3"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Scores(_Record):
    """The chosen model's metrics: on test (with 95% bootstrap intervals) and on train."""

    test: dict[str, float]
    test_ci95: dict[str, list[float]] = Field(default_factory=dict)
    train: dict[str, float] = Field(default_factory=dict)


class DecisionThreshold(_Record):
    """A binary classifier's decision threshold and how it was chosen, in words."""

    value: float = Field(ge=0, le=1)  # the positive class from this probability up
    rule: str  # e.g. "best f1 (0.61) on 1,200 validation rows"


class Lineage(_Record):
    """Where the model came from: data, spec, code, seed, libraries, rows and split."""

    data_fingerprint: str
    spec_sha256: str
    git_commit: str
    seed: int
    packages: dict[str, str]
    created: str
    rows: dict[str, int]
    split: dict[str, Any]


class Manifest(_Record):
    """Everything a model package says about its model, besides the model itself."""

    format: Literal["mlfactory.package/3"] = FORMAT
    name: str  # the registered model name
    task: str  # a name in tasks.TASKS
    model: str  # the catalog model
    params: dict[str, Any]
    metric: str  # the primary metric
    input_schema: Schema = Field(alias="schema")  # what the model consumes and produces
    metrics: Scores
    baseline_metrics: dict[str, float]
    profile: dict[str, Any]  # reference profile of the training rows and test predictions
    id_column: str | None = None
    threshold: DecisionThreshold | None = None  # None: the most probable class
    lineage: Lineage

    def to_json(self) -> str:
        # Python mode keeps NaN and inf as json.dumps writes them (a metric can be NaN)
        return json.dumps(self.model_dump(by_alias=True), indent=1, default=str)

    @classmethod
    def from_json(cls, text: str, *, shown_as: str) -> Manifest:
        """The manifest in ``text``; ``TamperedArtifactError`` naming ``shown_as`` otherwise."""
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise TamperedArtifactError(f"{shown_as} is not JSON ({exc}).") from None
        found = raw.get("format") if isinstance(raw, dict) else None
        if found != FORMAT:
            raise TamperedArtifactError(
                f"{shown_as} is a {found!r} package; this mlfactory reads {FORMAT!r}. Retrain "
                "the model or install the mlfactory that made it."
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise TamperedArtifactError(
                f"{shown_as} does not describe a model: {where}: {first['msg']} "
                f"({exc.error_count()} problem(s)); refusing to load it."
            ) from None
