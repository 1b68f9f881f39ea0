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

__all__ = [
    "FORMAT",
    "DecisionThreshold",
    "Family",
    "FamilyComparison",
    "ForecastFamily",
    "Lineage",
    "Manifest",
    "Member",
    "Scores",
]

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


class Member(_Record):
    """One group of a model family: its values, the model that scores it, and why."""

    values: list[str]  # the group's value in each group column, as text (``group_keys``)
    # its own pipeline, in the package folder; None: the family's global model scores it
    file: str | None = Field(None, pattern=r"^family/[0-9]+\.skops$")
    reason: str  # in words: why the group has its own model, or not
    rows: dict[str, int]  # the group's rows in the train, validation and test parts
    validation: dict[str, float] = Field(default_factory=dict)  # primary metric: own, global
    test: dict[str, float] = Field(default_factory=dict)  # primary metric: family, global


class FamilyComparison(_Record):
    """The family against its global model alone on the same test rows (paired bootstrap)."""

    metric: str
    family: float
    global_: float = Field(alias="global")
    improvement: float  # > 0: the family is better
    low: float  # 95% interval of the improvement
    high: float


class Family(_Record):
    """One model per group of rows (``group_by``), the global model scoring the rest.

    The package's ``pipeline.skops`` is the global model; each member with a ``file``
    has its own pipeline there, so one group can be loaded without the others.
    """

    columns: list[str]  # the group columns, in the spec's order
    min_rows: int
    members: list[Member]  # every group the training rows hold, most rows first
    global_metrics: dict[str, float]  # the global model alone on the same test rows
    comparison: FamilyComparison | None = None

    @property
    def own(self) -> list[Member]:
        """The members scored by a model of their own."""
        return [m for m in self.members if m.file is not None]

    def summary(self) -> str:
        """In one line: the groups, how many have a model of their own, why the others do
        not, and the family against its global model on the test rows."""
        groups, own = len(self.members), len(self.own)
        why: dict[str, int] = {}
        for member in self.members:
            if member.file is None:
                cause = member.reason.split(":")[0]
                why[cause] = why.get(cause, 0) + 1
        line = (
            f"a family of {groups:,} group{'s' * (groups != 1)} of {', '.join(self.columns)}: "
            f"{own:,} with a model of their own"
        )
        if why:
            line += (
                "; the global model scores the rest ("
                + ", ".join(f"{n:,} {cause}" for cause, n in why.items())
                + ")"
            )
        if (vs := self.comparison) is not None:
            line += (
                f"; test {vs.metric} {vs.family:.4f} vs {vs.global_:.4f} for the global model "
                f"alone ({vs.improvement:+.4f}, 95% CI {vs.low:+.4f} to {vs.high:+.4f})"
            )
        return line


class ForecastFamily(_Record):
    """A forecasting version: many series, each forecast by its own chosen model.

    The series themselves (model, reason, scale, metrics), their forecasts and the
    interval calibration are files of the package (``registry/forecasts.py``).
    """

    ids: list[str]  # the id column(s); several are joined with '|' into a series key
    time: str  # the date column
    target: str
    frequency: str  # H, D, W, M, Q, Y
    alias: str  # the pandas alias found in the data (D, W-SUN, MS, ...)
    horizon: int  # steps forecast; a request may ask for fewer
    levels: list[float]  # the interval levels answered by default (percent)
    models: list[str]  # the candidates, the baseline first
    rule: Literal["per_series", "global"]  # how each series' model was chosen
    windows: int  # backtest origins
    step: int  # steps between origins
    series: int  # how many
    chosen: dict[str, int]  # model -> series it forecasts
    fallbacks: int = 0  # series too short for some model, given the baseline instead
    coverage: dict[str, float] = Field(default_factory=dict)  # coverage_80: share inside
    exogenous: list[str] = Field(default_factory=list)
    holidays: str | None = None
    closed: list[str] = Field(default_factory=list)  # days forecast as 0 (forecast.closed)
    non_negative: bool = True  # intervals stop at 0
    first: str = ""  # the first and last forecast date over all series (ISO)
    last: str = ""

    def describe(self) -> str:
        return f"this {self.frequency} forecast of {self.series:,} series of {', '.join(self.ids)}"

    def summary(self) -> str:
        """In one line: the series, who forecasts them, the fallbacks."""
        models = ", ".join(f"{n:,} by {m}" for m, n in self.chosen.items() if n)
        line = f"{self.series:,} series of {', '.join(self.ids)}, horizon {self.horizon}: {models}"
        if self.fallbacks:
            line += f"; {self.fallbacks:,} too short for some model (the baseline stood in)"
        return line


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
    family: Family | None = None  # one model per group (``group_by``); None: one model
    forecast: ForecastFamily | None = None  # a forecasting version's series (task forecasting)

    def to_json(self) -> str:
        # Python mode keeps NaN and inf as json.dumps writes them (a metric can be NaN)
        record = self.model_dump(by_alias=True)
        for optional in ("family", "forecast"):  # absent: the manifest is what it was before
            if record[optional] is None:
                del record[optional]
        return json.dumps(record, indent=1, default=str)

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
