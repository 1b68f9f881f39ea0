"""The Scorer: one loaded, verified and warmed model version, and the one validation policy.

Serving, ``mlfactory predict`` and monitoring's re-scoring all score rows through
a ``Scorer``, so a row gets the same verdict and the same prediction wherever
it is sent. Loading goes through the registry (every file verified, only
allow-listed types constructed); the fast path is compiled when the pipeline
allows it and the model is warmed with one row built from the training profile.

The validation policy (``validate``):

- the rows must match the input schema (``Schema.conform``: every column
  present, numbers where training had numbers, dates where it had dates, an
  ordinal column's values within its order);
- a column that had no missing value in training takes none (null or NaN);
- categories never seen in training are scored as in training (the encoders
  treat them as unseen) and counted per column;
- a number far outside the training range ``[min, max]``, that is more than
  the range's width beyond it (below ``min - (max - min)`` or above
  ``max + (max - min)``; for a column constant in training the width is its
  value's magnitude, at least 1), is scored, but counted per column and flagged
  (``Validated.out_of_range``): the model has seen nothing like it, and a tree
  answers ``1e308`` as it answers the edge of the range.

A forecasting version refuses rows whose id it has no series of, or whose date is
not one of that series' forecast dates, as it refuses any other invalid row.

A model family (``group_by``) scores each row with its group's model, the fast path
compiled for each member, and any other row with the global model (``registry.family``).

A caller either refuses rows that fail it (the server answers 422, ``predict``
exits 2: ``skip_invalid=False``) or skips them and says how many (monitoring,
batch: ``skip_invalid=True``); the verdict itself is the same.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mlfactory.errors import BadInputError, DataError
from mlfactory.registry.family import GLOBAL, assign, combine
from mlfactory.scoring.explain import Explainer, Explanation, explainer
from mlfactory.scoring.fastpath import FastPredictor, compile_predictor

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.registry import ModelPackage, ModelRef, Registry, VersionInfo
    from mlfactory.tasks import OutputColumn

__all__ = ["FAR", "FarValues", "Scorer", "Scores", "Validated"]

log = logging.getLogger("mlfactory.scoring")
FAR = 1.0  # a number more than this many widths of the training range beyond it is far out


@dataclass(frozen=True)
class FarValues:
    """The values of one numeric column far outside its training range ``[min, max]``."""

    column: str
    rows: npt.NDArray[np.intp]  # their positions, in the validated frame or in one request
    min: float
    max: float

    @property
    def warning(self) -> str:
        """What an answer says about them."""
        return (
            f"column {self.column!r} has {len(self.rows)} value(s) far outside the training "
            f"range [{self.min:g}, {self.max:g}]; scored, but the model has seen nothing like them"
        )


@dataclass(frozen=True)
class Validated:
    """Rows that passed the policy, conformed to the training dtypes."""

    frame: pd.DataFrame
    kept: Any | None = None  # positions of the input rows in ``frame``; None: all of them
    problems: list[str] = field(default_factory=list)  # why the other rows were skipped
    unknown: dict[str, int] = field(default_factory=dict)  # unseen categories, per column
    far: list[FarValues] = field(default_factory=list)  # numbers far outside the training range

    @property
    def skipped(self) -> bool:
        return bool(self.problems)

    def out_of_range(self, start: int = 0, end: int | None = None) -> list[FarValues]:
        """The far-out values among rows ``start`` to ``end``, positions counted from ``start``."""
        if start == 0 and end is None:
            return self.far
        stop = len(self.frame) if end is None else end
        found = []
        for far in self.far:
            rows = far.rows[(far.rows >= start) & (far.rows < stop)] - start
            if len(rows):
                found.append(FarValues(far.column, rows, far.min, far.max))
        return found

    def warnings(self) -> list[str]:
        """One sentence per column with values far outside its training range."""
        return [far.warning for far in self.far]


@dataclass(frozen=True)
class Scores:
    """The answer for validated rows: one array per output column."""

    outputs: dict[str, Any]
    validated: Validated


class Scorer:
    """Scores rows with one model version, the same way on every path."""

    def __init__(
        self,
        package: ModelPackage,
        *,
        name: str,
        version: str,
        fast: FastPredictor | None,
        members: Mapping[str, FastPredictor | None] | None = None,
    ) -> None:
        self.package = package
        self.name = name
        self.version = version
        self.fast = fast  # a family's global model's
        self.members = dict(members or {})  # a family's members' fast paths, by file
        self.known_categories = {
            c.name: frozenset(c.categories or [])
            for c in package.schema.columns
            if c.kind == "categorical"
        }
        self._explainer: Explainer | None = None  # built on the first explanation asked for
        self.ranges = [
            _far_bounds(c.name, c.min, c.max)
            for c in package.schema.columns
            if c.kind == "numeric" and c.min is not None and c.max is not None
        ]

    # -- loading -----------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        registry: Registry,
        ref: str | ModelRef | VersionInfo,
        *,
        threads: int | None = None,
        fast: bool = True,
    ) -> Scorer:
        """The verified version ``ref`` names (see ``of`` for ``threads`` and ``fast``)."""
        package, info = registry.load(ref)
        return cls.of(package, name=info.name, version=info.version, threads=threads, fast=fast)

    @classmethod
    def of(
        cls,
        package: ModelPackage,
        *,
        name: str = "",
        version: str = "",
        threads: int | None = None,
        fast: bool = True,
    ) -> Scorer:
        """A scorer of a loaded package: fast path compiled (unless ``fast`` is off), warmed.

        ``threads`` caps the estimator's threads (a server's workers must not fight
        over the cores: 1 each); None keeps what it was trained with.
        """
        for pipeline in [package.pipeline, *package.members.values()]:
            if not hasattr(pipeline, "steps"):  # a forecast family: files, no estimator
                continue
            estimator = pipeline[-1]
            if threads is not None and "n_jobs" in estimator.get_params():
                estimator.set_params(n_jobs=threads)  # before compiling: LightGBM reads it then
        compiled = compile_predictor(package.member(None)) if fast else None
        members = {f: compile_predictor(package.member(f)) for f in package.members if fast}
        scorer = cls(package, name=name, version=version, fast=compiled, members=members)
        log.info("%s v%s: %s", name, version, "fast path" if compiled else "pipeline path")
        example = scorer.validate(scorer.example()).frame
        package.predict_conformed(example)  # warm: the first call builds caches
        if compiled is not None:
            compiled.predict_conformed(example)
        return scorer

    # -- what it scores ----------------------------------------------------------------

    @property
    def output_columns(self) -> Sequence[OutputColumn]:
        return self.package.output_columns

    def example(self) -> pd.DataFrame:
        """One plausible row (training medians and most frequent categories)."""
        import pandas as pd

        profile = self.package.manifest.profile.get("columns", {})
        row: dict[str, Any] = {}
        for col in self.package.schema.columns:
            stats = profile.get(col.name, {})
            if col.kind == "numeric":
                quantiles = stats.get("quantiles")
                row[col.name] = quantiles[5] if quantiles else (col.min or 0.0)
            elif col.kind in ("categorical", "ordinal"):
                row[col.name] = (col.categories or ["?"])[0]
            else:
                row[col.name] = stats.get("min") or "2020-01-01"
        return pd.DataFrame([row])

    # -- the policy and the scores -------------------------------------------------------

    def validate(self, frame: pd.DataFrame, *, skip_invalid: bool = False) -> Validated:
        """Check rows against the policy (module docstring).

        ``DataError`` lists every problem, unless ``skip_invalid``: then rows with a
        missing value where training had none, or a value outside an ordinal
        column's order, are left out and said why; problems of whole columns
        (missing, wrong type) still raise.
        """
        schema = self.package.schema
        rows = np.arange(len(frame))
        problems: list[str] = []
        if skip_invalid:
            outside, problems = schema.outside_order(frame)
            if outside.any():
                rows = np.flatnonzero(~outside)
                frame = frame.iloc[rows]
        conformed = schema.conform(frame)
        bad = np.zeros(len(conformed), dtype=bool)
        for col in schema.columns:
            if col.allows_missing:
                continue
            missing = conformed[col.name].isna().to_numpy()
            if missing.any():
                bad |= missing
                problems.append(
                    f"column {col.name!r} has {int(missing.sum())} missing value(s) (null or "
                    "NaN), but it had none in training; send a value"
                )
        refuse = getattr(self.package.pipeline, "refused", None)  # a forecast family's
        if refuse is not None and len(conformed):
            outside, said = refuse(conformed)  # ids it has no series of, dates it does not
            bad |= outside  # forecast
            problems += said
        if problems and not skip_invalid:
            raise DataError.from_problems("input does not match the model's schema", problems)
        kept = None
        if problems:
            kept = rows[~bad]
            conformed = conformed.iloc[np.flatnonzero(~bad)]
        unknown = {}
        for name, known in self.known_categories.items():
            if known:
                values = conformed[name]
                count = int((~values.isin(known) & values.notna()).sum())
                if count:
                    unknown[name] = count
        far = []
        for name, lo, hi, low, high in self.ranges:
            numbers = conformed[name].to_numpy()
            outside = (numbers < low) | (numbers > high)  # NaN is neither
            if outside.any():
                far.append(FarValues(name, np.flatnonzero(outside), lo, hi))
        return Validated(conformed, kept, problems, unknown, far)

    def predict(self, conformed: pd.DataFrame) -> tuple[Any, Any | None]:
        """Encoded predictions of validated rows (the fast path when compiled); a family's
        rows each by their group's model."""
        family = self.package.family
        if family is None:
            pred, proba = self._predict(None, conformed)
        else:
            files = [m.file for m in family.members]

            def predict(member: int, rows: Any) -> tuple[Any, Any | None]:
                part = conformed if len(rows) == len(conformed) else conformed.iloc[rows]
                return self._predict(None if member == GLOBAL else files[member], part)

            pred, proba = combine(assign(family, conformed), predict)
        if proba is not None and not np.isfinite(proba).all():
            raise ValueError("the model produced non-finite probabilities")
        return pred, proba

    def _predict(self, file: str | None, conformed: pd.DataFrame) -> tuple[Any, Any | None]:
        """One model's predictions: a family member's (None: the global or only model)."""
        fast = self.fast if file is None else self.members.get(file)
        if fast is not None:
            return fast.predict_conformed(conformed)
        return self.package.member(file).predict_conformed(conformed)

    def explain(self, conformed: pd.DataFrame) -> Explanation:
        """Each input column's contribution to validated rows' raw scores (``scoring.explain``).

        ``BadInputError`` for a model other than LightGBM or linear. Nothing is
        prepared for explanations until one is asked for.
        """
        if self.package.family is not None:
            raise BadInputError(
                f"{self.name or self.package.manifest.name} is a model family (one model per "
                f"group of {', '.join(self.package.family.columns)}), which cannot explain its "
                "predictions yet; ask without explain"
            )
        if self._explainer is None:
            self._explainer = explainer(self.package)
        return self._explainer.explain(conformed)

    def answer(self, pred: Any, proba: Any | None) -> dict[str, Any]:
        """Encoded predictions as the answer's columns (``output_columns``)."""
        return self.package.answer(pred, proba)

    def score(self, frame: pd.DataFrame, *, skip_invalid: bool = False) -> Scores:
        """Validate, predict and answer in one call."""
        validated = self.validate(frame, skip_invalid=skip_invalid)
        if validated.frame.empty:
            return Scores({c.name: np.empty(0) for c in self.output_columns}, validated)
        return Scores(self.answer(*self.predict(validated.frame)), validated)


def _far_bounds(name: str, lo: float, hi: float) -> tuple[str, float, float, float, float]:
    """A column's training range and the bounds beyond which a value is far outside it."""
    width = hi - lo if hi > lo else max(abs(hi), 1.0)
    return name, lo, hi, lo - FAR * width, hi + FAR * width
