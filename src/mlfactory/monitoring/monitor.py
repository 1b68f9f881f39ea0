"""``monitor``: drift of current data against a registered model's reference profile.

The current rows come from any data source (CSV, Parquet file or folder,
``builtin:``), optionally through a DuckDB query; only the model package is
needed, never the training data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlfactory.data import load_frame
from mlfactory.monitoring.drift import DriftResult, check_drift

if TYPE_CHECKING:
    from mlfactory.registry import Registry

__all__ = ["monitor"]


def monitor(
    model: str, *, current: str | None, sql: str | None = None, registry: Registry
) -> tuple[DriftResult, str]:
    """Drift of ``current`` for ``model`` (``NAME@ALIAS`` or ``NAME/VERSION``).

    Returns the result and the version that was checked.
    """
    package, info = registry.load(model)
    frame = load_frame(current, sql)
    profile = package.manifest.get("profile", {})
    return check_drift(profile, frame), info.version
