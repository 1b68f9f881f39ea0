"""Train / validation / test split: in time order, or stratified at random."""

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
    method: str  # "time" | "stratified" | "random"
    boundaries: tuple[str, str] | None = None  # first validation / first test timestamp

    def table(self, positions: Any, ids: Any | None, id_column: str | None) -> Any:
        """Which part each row went to, as a frame in the order of the data as read.

        ``positions`` are the rows' positions in the data as read (rows with a
        missing target are not in any part); ``ids`` their ``id_column`` values.
        """
        import pandas as pd

        index = np.concatenate([self.train, self.validation, self.test])
        parts = np.repeat(np.arange(3), [len(self.train), len(self.validation), len(self.test)])
        order = np.argsort(np.asarray(positions)[index], kind="stable")
        index, parts = index[order], parts[order]
        columns: dict[str, Any] = {"row": np.asarray(positions, dtype=np.int64)[index]}
        if ids is not None and id_column is not None:
            columns[id_column] = np.asarray(ids)[index]
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
) -> Split:
    """Row indices for each part. With ``time``: oldest rows train, newest rows test."""
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
    from sklearn.model_selection import train_test_split

    index = np.arange(n)
    stratify = task.stratify(y)
    rest, test = train_test_split(index, test_size=n_test, random_state=seed, stratify=stratify)
    strat_rest = None if stratify is None else y[rest]
    train, val = train_test_split(rest, test_size=n_val, random_state=seed, stratify=strat_rest)
    method = "stratified" if stratify is not None else "random"
    return Split(np.sort(train), np.sort(val), np.sort(test), method)
