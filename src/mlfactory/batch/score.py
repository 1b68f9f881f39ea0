"""Scoring one chunk: a pure function of the scorer and the chunk's rows.

Every row goes one of two ways. Rows that pass the Scorer's one validation
policy (``Scorer.validate(..., skip_invalid=True)``) are scored and kept with
their input columns, the task's output columns and the bookkeeping columns of
the prediction log (``serving/predlog.py``), so the parts read like a log:

    input columns, prediction, proba_<class>..., _model_version, _request_id, _time,
    _model, _source, _row

The model's input columns are written as validated (cast to the training
dtypes), so every part has the same schema; other columns as read.
``_row`` is the row's number in its input file (counted from 0, the header
not counted) and ``_source`` the file (for ``--sql``: ``sql:<hash>`` and the row's
number in the query's result), so every output row names its input row;
``_request_id`` is the chunk's key. Rows the policy refuses go to the rejects
with the same ``_source`` and ``_row`` and the policy's own sentence in
``_reason``.

When a chunk as a whole fails the policy (text in a numeric column, an inf),
it is cut in halves, and each half that still fails in halves again: a stretch
of good rows passes in one call, and only the rows at fault are checked alone,
each refused with the policy's sentence for that row. A chunk of 50,000 rows
with three bad ones takes about a hundred checks instead of 50,000.

A CSV cell has no type of its own: pandas reads a whole column as text when
one of its cells is not a number. So in a CSV chunk, the cells of a model's
numeric column that read as numbers are numbers (and ``True``/``False`` are
booleans where training had booleans), whatever their neighbours hold; only
the cells that are not are refused as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlfactory.data.schema import BOOLEAN_DTYPES
from mlfactory.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.batch.inputs import Chunk
    from mlfactory.scoring import Scorer

__all__ = ["ScoredChunk", "score_chunk"]

META = ("_model_version", "_request_id", "_time", "_model", "_source", "_row")
ALONE = 16  # a failing stretch this short is checked row by row
_TRUTH = {"True": True, "TRUE": True, "true": True, "False": False, "FALSE": False, "false": False}


@dataclass(frozen=True)
class ScoredChunk:
    chunk: Chunk
    scored: pd.DataFrame
    rejects: pd.DataFrame


def score_chunk(scorer: Scorer, chunk: Chunk, frame: pd.DataFrame, *, time: float) -> ScoredChunk:
    """The chunk's rows scored, and its refused rows with their reasons.

    ``time`` (Unix seconds) is the scoring timestamp written in ``_time``.
    """
    import numpy as np
    import pandas as pd

    frame = frame.reset_index(drop=True)
    if chunk.format == "csv":
        frame = _csv_cells(scorer, frame)
    rows = chunk.first_row + np.arange(len(frame))
    try:
        validated = scorer.validate(frame, skip_invalid=True)
        kept = np.arange(len(frame)) if validated.kept is None else np.asarray(validated.kept)
        reasons = _reasons(scorer, frame, np.setdiff1d(np.arange(len(frame)), kept))
    except DataError:  # the chunk as a whole fails: find the rows at fault
        kept, reasons = _bisect(scorer, frame)
        validated = scorer.validate(frame.iloc[kept], skip_invalid=True)
    outputs: dict[str, Any] = (
        scorer.answer(*scorer.predict(validated.frame)) if len(validated.frame) else {}
    )
    scored = frame.iloc[kept].reset_index(drop=True)
    conformed = validated.frame.reset_index(drop=True)
    for name in conformed.columns:  # the training dtypes: every part has the same schema
        scored[name] = conformed[name]
    for column in scorer.output_columns:
        scored[column.name] = outputs.get(column.name, np.empty(0))
    stamp = pd.Timestamp(time, unit="s", tz="UTC").as_unit("us")
    scored = _bookkeeping(scored, scorer, chunk, rows[kept], stamp)
    rejected = sorted(reasons)
    rejects = frame.iloc[rejected].reset_index(drop=True)
    rejects = rejects.assign(
        _source=chunk.source,
        _row=rows[rejected].astype("int64"),
        _reason=[reasons[i] for i in rejected],
    )
    return ScoredChunk(chunk, scored, rejects)


def _bookkeeping(
    scored: pd.DataFrame, scorer: Scorer, chunk: Chunk, rows: Any, stamp: Any
) -> pd.DataFrame:
    return scored.assign(
        _model_version=str(scorer.version),
        _request_id=chunk.key,
        _time=stamp,
        _model=scorer.name,
        _source=chunk.source,
        _row=rows.astype("int64"),
    )


def _reasons(scorer: Scorer, frame: pd.DataFrame, refused: Any) -> dict[int, str]:
    """Why each refused row was refused, in the policy's words (each row checked alone)."""
    reasons = {}
    for position in refused:
        try:
            scorer.validate(frame.iloc[[int(position)]])
            reasons[int(position)] = "refused by the model's input checks"
        except DataError as exc:
            reasons[int(position)] = _sentence(exc)
    return reasons


def _bisect(scorer: Scorer, frame: pd.DataFrame) -> tuple[Any, dict[int, str]]:
    """The rows that pass, and why each other row fails, for a frame that fails as a whole.

    A stretch that passes (rows the policy skips in it aside) is done in one
    check; one that fails is halved, down to ``ALONE`` rows checked one by one.
    """
    import numpy as np

    kept: list[Any] = []
    reasons: dict[int, str] = {}
    stretches = [np.arange(len(frame))]
    while stretches:
        stretch = stretches.pop()
        if len(stretch) <= ALONE:
            for position in stretch:
                try:
                    scorer.validate(frame.iloc[[int(position)]])
                    kept.append(stretch[stretch == position])
                except DataError as exc:
                    reasons[int(position)] = _sentence(exc)
            continue
        try:
            validated = scorer.validate(frame.iloc[stretch], skip_invalid=True)
        except DataError:
            half = len(stretch) // 2
            stretches += [stretch[half:], stretch[:half]]
            continue
        passed = stretch if validated.kept is None else stretch[np.asarray(validated.kept)]
        kept.append(passed)
        reasons.update(_reasons(scorer, frame, np.setdiff1d(stretch, passed)))
    together = np.sort(np.concatenate(kept)) if kept else np.empty(0, dtype=np.intp)
    return together.astype(np.intp), reasons


def _csv_cells(scorer: Scorer, frame: pd.DataFrame) -> pd.DataFrame:
    """A CSV chunk's numeric model columns read cell by cell (module docstring)."""
    import pandas as pd

    for column in scorer.package.schema.columns:
        if column.kind != "numeric" or column.name not in frame.columns:
            continue
        values = frame[column.name]
        if values.dtype != object:  # pandas read every cell as a number (or boolean)
            continue
        read = pd.to_numeric(values, errors="coerce").astype(object)
        if column.dtype in BOOLEAN_DTYPES:
            read = read.where(read.notna(), values.map(_TRUTH))
        frame[column.name] = read.where(read.notna(), values)
    return frame


def _sentence(exc: DataError) -> str:
    problems = getattr(exc, "problems", None)
    return "; ".join(problems) if problems else str(exc)
