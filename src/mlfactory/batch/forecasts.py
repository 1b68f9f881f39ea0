"""Batch forecasts: a forecasting version's forecasts for all its series, or some, to Parquet.

``mlfactory batch NAME@ALIAS --output DIR`` with no ``--input`` on a forecasting
model writes each series' forecast (``unique_id``, the id columns, ``step``, the
date, ``mean``, an interval per level, ``_model`` and ``_version``) in parts of
``SERIES_PER_PART`` series, through the same output folder as scoring
(``parts.py``): each part committed atomically, then recorded in the manifest,
so a rerun after a kill writes only the missing parts and never a row twice.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from mlfactory.batch.parts import BatchManifest, PartRecord, write_part
from mlfactory.errors import BadInputError
from mlfactory.registry.forecasts import SeriesForecasts

if TYPE_CHECKING:
    from pathlib import Path

    from mlfactory.batch.result import BatchResult, Progress
    from mlfactory.scoring import Scorer

__all__ = ["SERIES_PER_PART", "write_forecasts"]

SERIES_PER_PART = 500


def write_forecasts(
    scorer: Scorer,
    output: Path,
    result: BatchResult,
    *,
    ids: list[str] | None = None,
    horizon: int | None = None,
    levels: list[float] | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> BatchResult:
    """Write the forecasts of ``ids`` (None: every series) into ``output``'s parts."""
    forecasts = scorer.package.pipeline
    if not isinstance(forecasts, SeriesForecasts):
        raise BadInputError(
            f"{scorer.name} version {scorer.version} scores rows; give --input (CSV or "
            "Parquet files) or --sql"
        )
    family = forecasts.family
    keys = forecasts.keys if ids is None else list(dict.fromkeys(ids))
    horizon = family.horizon if horizon is None else horizon
    levels = family.levels if levels is None else levels
    forecasts.check(keys, horizon, levels)  # before the output folder is touched
    asked = f"{len(keys)} series {_digest(keys)}, horizon {horizon}, levels {levels}"
    manifest = BatchManifest.open(
        output,
        model=scorer.name,
        version=scorer.version,
        input=f"forecasts of {asked}",
        overwrite=overwrite,
    )
    chunks = [keys[i : i + SERIES_PER_PART] for i in range(0, len(keys), SERIES_PER_PART)]
    result.rows = len(keys) * horizon
    done = 0
    for index, chunk in enumerate(chunks):
        key = f"forecast-{index:05d}"
        rows = len(chunk) * horizon
        if (record := manifest.parts.get(key)) is not None:
            result.resumed += 1
        else:
            frame = forecasts.forecast(chunk, horizon, levels)
            for position, column in enumerate(family.ids):  # the id columns, as named
                if len(family.ids) == 1:
                    frame.insert(1, column, frame["unique_id"])
                else:
                    frame.insert(
                        1 + position, column, frame["unique_id"].str.split("|").str[position]
                    )
            frame["_model"], frame["_version"] = scorer.name, scorer.version
            frame = frame.rename(columns={"ds": family.time})
            try:
                write_part(output, scorer.name, key, frame, [])
                record = PartRecord(key, "forecast", index, rows, rows, 0)
                manifest.commit(output, record)
            except OSError as exc:
                raise BadInputError(
                    f"cannot write the forecasts in {str(output)!r}: {exc.strerror or exc}. "
                    "The parts already committed are complete; free space and run again"
                ) from None
        result.parts += 1
        result.scored += record.scored
        done += rows
        if progress is not None:
            progress(done, result.rows)
    return result


def _digest(keys: list[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:12]
