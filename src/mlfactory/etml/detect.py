"""The ETML job's detect step: a score and a flag for every row of the day.

Two ways, as ``detect:`` says:

- ``model: NAME@ALIAS``: a registered anomaly model, trained once. Its verified
  files are shipped to the engine's workers; the day's rows are cut into parts
  that each worker scores with the Scorer's one validation policy
  (``batch.score.score_chunk``), so a row the model refuses gets no score, no flag
  and the policy's reason, exactly as in ``mlfactory batch``. Only the columns the
  model reads go to the workers (not the day's texts), and only the row numbers,
  scores, flags and reasons come back.
- ``detector: {name, params}``: a detector fitted on the day's own rows, as the
  book fits DBSCAN each day: the same preprocessing as training (scaled numbers,
  one-hot categories), then the detector; the rows are scored by the fit itself.
  An ``eps`` that flags every row or none gets a warning with the flag rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.errors import BadInputError, DataError

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.engines import Engine
    from mlfactory.etml.spec import DetectSpec
    from mlfactory.registry import Registry
    from mlfactory.scoring.shipped import ScorerSource

__all__ = ["PART_ROWS", "Detected", "detect"]

PART_ROWS = 50_000  # rows a worker scores at once
DETECTOR = "detector"  # the kind of estimator (Task.estimator) the job scores with


@dataclass
class Detected:
    """Per row of the day: the score (nan: refused), the flag, why a row was refused."""

    scores: Any
    flags: Any
    reasons: dict[int, str] = field(default_factory=dict)
    by: str = ""  # the model version or the detector, in words
    notes: list[str] = field(default_factory=list)


def detect(
    spec: DetectSpec, frame: pd.DataFrame, *, registry: Registry, engine: Engine
) -> Detected:
    """Score and flag every row of ``frame`` the way ``spec`` says."""
    if len(frame) == 0:
        return Detected(np.empty(0), np.zeros(0, dtype=bool), by=spec.model or "")
    if spec.model is not None:
        return _registered(spec.model, frame, registry, engine)
    return _fitted(spec, frame)


def _registered(ref: str, frame: pd.DataFrame, registry: Registry, engine: Engine) -> Detected:
    from mlfactory.batch.inputs import Chunk
    from mlfactory.scoring.shipped import Here, ship

    scorer, shipped = ship(registry, ref)
    if scorer.package.task.estimator != DETECTOR:
        raise BadInputError(
            f"detect.model {ref!r} is a {scorer.package.task.name} model; the job needs an "
            "anomaly model (task: anomaly)"
        )
    names = list(scorer.package.schema.names)
    if set(names) <= set(frame.columns):  # else the whole rows, for the scorer's message
        frame = frame[names]  # what the model reads: the rest (texts, ids) never travels
    parts = []
    for i, start in enumerate(range(0, len(frame), PART_ROWS)):
        rows = frame.iloc[start : start + PART_ROWS]
        chunk = Chunk("etml", "parquet", i, start, len(rows), label="etml")
        parts.append((chunk, rows))
    source: ScorerSource = Here(scorer) if engine.workers <= 1 else shipped
    scored = engine.map_partitions(_score_part, parts, engine.share(source))
    scores = np.full(len(frame), np.nan)
    flags = np.zeros(len(frame), dtype=bool)
    reasons: dict[int, str] = {}
    for kept, rejects in scored:
        at = kept["_row"].to_numpy()
        scores[at] = kept["score"].to_numpy(dtype=float)
        flags[at] = kept["prediction"].to_numpy(dtype=bool)
        for row, reason in zip(rejects["_row"], rejects["_reason"], strict=True):
            reasons[int(row)] = str(reason)
    notes = [f"{len(reasons):,} rows refused by the model's input checks"] if reasons else []
    return Detected(scores, flags, reasons, f"{scorer.name} v{scorer.version}", notes)


def _score_part(
    part: tuple[Any, pd.DataFrame], source: ScorerSource
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A part scored as ``mlfactory batch`` scores a chunk; back go only the row numbers
    with their score and flag, and the refused rows' numbers with the reason."""
    import time

    from mlfactory.batch.score import score_chunk

    chunk, rows = part
    done = score_chunk(source.scorer(), chunk, rows, time=time.time())
    return done.scored[["_row", "score", "prediction"]], done.rejects[["_row", "_reason"]]


def _fitted(spec: DetectSpec, frame: pd.DataFrame) -> Detected:
    from sklearn.pipeline import Pipeline

    from mlfactory.data.schema import ColumnRoles, prepare_training
    from mlfactory.detectors import units_warning
    from mlfactory.features import build_preprocessor
    from mlfactory.models import CATALOG
    from mlfactory.tasks import TASKS
    from mlfactory.transformers import datetime_step

    detector = spec.detector
    assert detector is not None
    task = next(t for t in TASKS.values() if t.estimator == DETECTOR)  # anomaly
    exclude = tuple(detector.exclude) + ((spec.id_column,) if spec.id_column else ())
    roles = ColumnRoles(
        target=None,
        features=None if detector.features is None else tuple(detector.features),
        exclude=tuple(c for c in exclude if c in frame.columns),
    )
    data = prepare_training(frame, roles, task)
    entry = CATALOG[detector.name]
    model = entry.build(task, dict(detector.params), 0, [])
    pipeline = Pipeline(
        [
            ("dates", datetime_step(data.schema)),
            ("prepare", build_preprocessor(data.schema, entry.style)),
            ("detect", model),
        ]
    )
    try:
        pipeline.fit(data.X)
    except ValueError as exc:  # too few rows for it: "Found array with 1 sample(s) ..."
        raise DataError(
            f"the {detector.name} detector cannot be fitted on the day's {len(frame):,} "
            f"row(s) ({exc}); a detector fitted on each day's rows needs more of them, or "
            "score with a model trained once (detect.model)"
        ) from None
    pred, proba = task.predict(pipeline, data.X, None)
    flags = np.asarray(pred) == 1
    fitted = pipeline.steps[-1][1]
    notes = [n for n in [units_warning(float(flags.mean()), fitted)] if n]
    params = ", ".join(f"{k}={v}" for k, v in detector.params.items())
    by = f"{detector.name}({params}) fitted on the day's {len(frame):,} rows"
    return Detected(np.asarray(proba)[:, 1], flags, by=by, notes=notes)
