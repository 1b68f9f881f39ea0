"""Series keys: each row's series as text, and the ids checked to name a file.

A series is one value of each id column. A value is compared as text, a whole
float as an int (``1``, ``1.0`` and ``"1"`` are one series, as in a model family's
groups, ``data.schema.ordinal_text``); several id columns make one key, their
values joined with ``|``. An id names a folder and a file in the model package,
so it must be a plain file name. Each distinct value is looked at once, so
millions of rows cost a few factorizations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd

    Ints = npt.NDArray[np.int64]
    Texts = npt.NDArray[np.object_]

__all__ = ["SEPARATOR", "SHOWN", "Keys", "id_problems", "keys_of", "series_keys"]

SEPARATOR = "|"  # between the values of several id columns in a key
SHOWN = 5  # ids (or values) a problem names before "and N more"


class Keys(NamedTuple):
    codes: Ints  # each row's series: its position in ``names``; -1 when a value is missing
    names: Texts  # the keys, sorted
    columns: list[tuple[Ints, Texts]]  # each id column's codes and distinct texts


def series_keys(frame: pd.DataFrame, ids: tuple[str, ...]) -> pd.Series:
    """Each row's series key as text: the id value, or the values joined with '|'."""
    import pandas as pd

    keys = keys_of(frame, ids)
    texts = np.append(keys.names, np.nan)  # code -1 (a value missing): NaN
    return pd.Series(texts[keys.codes], index=frame.index, dtype=object)


def _text(value: Any) -> str:
    """A value as an id: text, a whole float as an int (``data.schema.ordinal_text``'s rule)."""
    if hasattr(value, "item"):  # numpy and pandas scalars
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _codes(values: pd.Series) -> tuple[Ints, Texts]:
    """Each value's position among the distinct texts (-1: missing), and those texts."""
    import pandas as pd

    raw, uniques = pd.factorize(values)
    texts = np.array([_text(u) for u in uniques], dtype=object)
    merged, names = pd.factorize(texts)  # 1, 1.0 and "1" are one id
    lookup = np.append(merged, -1).astype(np.int64)
    return lookup[raw], np.asarray(names, dtype=object)


def keys_of(frame: pd.DataFrame, ids: tuple[str, ...]) -> Keys:
    import pandas as pd

    columns = [_codes(frame[name]) for name in ids]
    codes, names = columns[0]
    for more, texts in columns[1:]:  # pairs of codes, so no product of sizes can overflow
        missing = (codes < 0) | (more < 0)
        pair = codes * len(texts) + more
        joined = np.full(len(pair), -1, dtype=np.int64)
        joined[~missing], uniques = pd.factorize(pair[~missing])
        names = np.array(
            [f"{names[u // len(texts)]}{SEPARATOR}{texts[u % len(texts)]}" for u in uniques],
            dtype=object,
        )
        codes = joined
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(order) + 1, dtype=np.int64)
    rank[order], rank[-1] = np.arange(len(order)), -1
    return Keys(rank[codes], names[order], columns)


def _bad_id(text: str, several: bool) -> bool:
    return (
        text in ("", ".", "..")
        or text.startswith(".")
        or "/" in text
        or "\\" in text
        or any(ord(c) < 32 or ord(c) == 127 for c in text)
        or (several and SEPARATOR in text)
    )


def id_problems(keys: Keys, ids: tuple[str, ...]) -> list[str]:
    problems = []
    several = len(ids) > 1
    for name, (codes, texts) in zip(ids, keys.columns, strict=True):
        if (codes < 0).any():
            at = np.flatnonzero(codes < 0)
            problems.append(
                f"id column {name!r} is missing in {len(at):,} row(s) (the first at row "
                f"{at[0]}); every row needs its series: fill them or filter them out in data.sql"
            )
        bad = [i for i, t in enumerate(texts) if _bad_id(t, several)]
        if bad:
            rows = int(np.isin(codes, bad).sum())
            shown = ", ".join(repr(texts[i]) for i in bad[:SHOWN])
            more = f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
            joins = f", hold {SEPARATOR!r} (it joins the id columns)" if several else ""
            problems.append(
                f"id column {name!r} has {len(bad)} id(s) that cannot name a series: "
                f"{shown}{more} ({rows:,} row{'s' * int(rows > 1)}); an id names a folder and "
                "a file in the model, so it cannot be empty, '.' or '..', start with "
                f"'.'{joins} or hold '/', '\\' or control characters: "
                f"rename them in data.sql (e.g. replace({name}, '/', '-'))"
            )
    return problems
