"""Train / validation / test split: in time order, by whole groups, or stratified at random."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.errors import DataError

if TYPE_CHECKING:
    from mlfactory.tasks import Task

__all__ = ["PARTS", "Split", "split_rows"]

MIN_ROWS_PER_PART = 5
PARTS = ("train", "validation", "test")


@dataclass(frozen=True)
class Split:
    train: np.ndarray[Any, np.dtype[np.int64]]
    validation: np.ndarray[Any, np.dtype[np.int64]]
    test: np.ndarray[Any, np.dtype[np.int64]]
    method: str  # "time" | "grouped" | "stratified" | "random"
    boundaries: tuple[str, str] | None = None  # first validation / first test timestamp
    groups: tuple[int, int, int] | None = None  # a grouped split's groups in each part

    def table(self, positions: Any, named: dict[str, Any]) -> Any:
        """Which part each row went to, as a frame in the order of the data as read.

        ``positions`` are the rows' positions in the data as read (rows with a
        missing target are not in any part); ``named`` maps a column (the id, the
        split's group) to each row's values.
        """
        import pandas as pd

        index = np.concatenate([self.train, self.validation, self.test])
        parts = np.repeat(np.arange(3), [len(self.train), len(self.validation), len(self.test)])
        order = np.argsort(np.asarray(positions)[index], kind="stable")
        index, parts = index[order], parts[order]
        columns: dict[str, Any] = {"row": np.asarray(positions, dtype=np.int64)[index]}
        for name, values in named.items():
            columns[name] = np.asarray(values)[index]
        columns["part"] = np.asarray(PARTS, dtype=object)[parts]
        return pd.DataFrame(columns)


def _stamp(value: Any) -> str:
    """A split boundary as ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    return str(np.datetime_as_string(np.datetime64(value, "s"))).replace("T", " ")


def split_rows(
    y: np.ndarray[Any, Any],
    *,
    task: Task,
    test_size: float,
    validation_size: float,
    seed: int,
    time: np.ndarray[Any, Any] | None = None,
    groups: np.ndarray[Any, Any] | None = None,
) -> Split:
    """Row indices for each part. With ``time``: oldest rows train, newest rows test; with
    ``groups`` (each row's split.group_column value): each group's rows in one part."""
    n = len(y)
    n_test = round(n * test_size)
    n_val = round(n * validation_size)
    if min(n_test, n_val, n - n_test - n_val) < MIN_ROWS_PER_PART:
        raise DataError(
            f"only {n} usable rows: too few to split into train, validation and test "
            f"(each part needs at least {MIN_ROWS_PER_PART} rows); add data."
        )
    if time is not None:
        order = np.argsort(time, kind="stable")
        train, val, test = np.split(order, [n - n_test - n_val, n - n_test])
        stamps = (_stamp(time[val[0]]), _stamp(time[test[0]]))
        return Split(train, val, test, "time", stamps)
    if groups is not None:
        return _grouped(groups, n_test, n_val, seed)
    from sklearn.model_selection import train_test_split

    index = np.arange(n)
    stratify = task.stratify(y)
    rest, test = train_test_split(index, test_size=n_test, random_state=seed, stratify=stratify)
    strat_rest = None if stratify is None else y[rest]
    train, val = train_test_split(rest, test_size=n_val, random_state=seed, stratify=strat_rest)
    method = "stratified" if stratify is not None else "random"
    return Split(np.sort(train), np.sort(val), np.sort(test), method)


def _grouped(groups: np.ndarray[Any, Any], n_test: int, n_val: int, seed: int) -> Split:
    """Whole groups, in an order the seed shuffles, to test and validation until each part
    is nearest its size; the rest train. A group larger than test or validation should be
    always trains (one hospital of most rows would otherwise make the test most of the
    data). Not stratified: a group's rows go together."""
    import pandas as pd

    # sorted, so the same groups go to the same parts whatever the order of the rows
    codes, uniques = pd.factorize(pd.Series(groups).astype(str), sort=True)
    sizes = np.bincount(codes, minlength=len(uniques))
    order = np.random.default_rng(seed).permutation(len(uniques))
    order = order[np.argsort(sizes[order] > min(n_test, n_val), kind="stable")]  # big: last
    ends = np.cumsum(sizes[order])  # rows in the first k+1 shuffled groups
    cut_test = int(np.abs(ends - n_test).argmin()) + 1
    cut_val = int(np.abs(ends - (n_test + n_val)).argmin()) + 1
    parts = np.split(order, [cut_test, max(cut_val, cut_test + 1)])
    rows = [np.flatnonzero(np.isin(codes, part)) for part in parts]
    test, val, train = rows
    if min(map(len, parts)) < 1 or min(map(len, rows)) < MIN_ROWS_PER_PART:
        raise DataError(
            f"split.group_column holds {len(uniques):,} group(s), the largest of "
            f"{int(sizes.max()):,} of {len(codes):,} rows: too few to put whole groups in "
            f"train, validation and test (each part needs at least {MIN_ROWS_PER_PART} rows); "
            "group by a finer column, or split at random without it"
        )
    counts = (len(parts[2]), len(parts[1]), len(parts[0]))
    return Split(train, val, test, "grouped", groups=counts)
