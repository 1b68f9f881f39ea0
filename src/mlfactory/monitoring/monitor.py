"""``monitor``: drift of current data against a registered model's reference profile.

The current rows come from any data source (CSV, Parquet file or folder,
``builtin:``), optionally through a DuckDB query, or from the model server's
prediction log over a time window. Only the model package is needed, never the
training data.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlfactory.data import load_frame
from mlfactory.errors import BadInputError, DataError
from mlfactory.monitoring.drift import DriftResult, check_drift

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.registry import Registry

__all__ = ["monitor"]


def monitor(
    model: str,
    *,
    registry: Registry,
    current: str | None = None,
    sql: str | None = None,
    prediction_log: Path | None = None,
    since: float | None = None,
    until: float | None = None,
) -> tuple[DriftResult, str]:
    """Drift of the current rows for ``model`` (``NAME@ALIAS`` or ``NAME/VERSION``).

    Give ``current`` and/or ``sql``, or ``prediction_log`` (a server's log folder)
    with an optional window ``since <= time < until`` (Unix seconds). Returns the
    result and the version checked. Unreadable log files are skipped and listed
    among the quality findings.
    """
    if prediction_log is not None and (current is not None or sql is not None):
        raise BadInputError("give either a data source (--current/--sql) or --prediction-log")
    package, info = registry.load(model)
    skipped: list[str] = []
    if prediction_log is not None:
        frame, skipped = _from_log(prediction_log, info.name, since, until)
    elif current is not None or sql is not None:
        frame = load_frame(current, sql)
    else:
        raise BadInputError(
            "give the current data: --current (a file, folder or builtin:...), "
            "--sql, or --prediction-log"
        )
    result = check_drift(package.manifest.get("profile", {}), frame)
    result.quality.extend(skipped)
    return result, info.version


def _from_log(
    folder: Path, name: str, since: float | None, until: float | None
) -> tuple[pd.DataFrame, list[str]]:
    from mlfactory.serving.predlog import read_log

    frame, problems = read_log(folder, name, since=since, until=until)
    if frame.empty:
        detail = "; ".join(problems) if problems else "no rows in that time window"
        raise DataError(
            f"the prediction log {str(folder)!r} has nothing to check for {name!r}: {detail}"
        )
    skipped = [f"prediction log: {p}" for p in problems]
    return frame, skipped
