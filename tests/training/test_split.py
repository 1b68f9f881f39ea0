"""Splits: time order keeps the future out of training; random splits keep class shares."""

from __future__ import annotations

import numpy as np
import pytest

from mlfactory.errors import DataError
from mlfactory.tasks import TASKS
from mlfactory.training.split import split_rows


def test_time_split_trains_on_the_past_and_tests_on_the_future() -> None:
    rng = np.random.default_rng(0)
    time = rng.permutation(np.arange("2024-01-01", "2024-04-10", dtype="datetime64[D]"))
    y = rng.integers(0, 2, len(time))
    split = split_rows(
        y, task=TASKS["classification"], test_size=0.2, validation_size=0.2, seed=1, time=time
    )
    assert split.method == "time"
    assert time[split.train].max() < time[split.validation].min()
    assert time[split.validation].max() < time[split.test].min()
    assert len(split.test) == round(len(y) * 0.2)
    assert split.boundaries == (
        f"{time[split.validation].min()} 00:00:00",
        f"{time[split.test].min()} 00:00:00",
    )
    assert sorted(np.concatenate([split.train, split.validation, split.test])) == list(
        range(len(y))
    )


def test_stratified_split_keeps_class_shares_and_is_seeded() -> None:
    y = np.array([0] * 900 + [1] * 100)
    split = split_rows(y, task=TASKS["classification"], test_size=0.2, validation_size=0.2, seed=3)
    assert split.method == "stratified"
    for part in (split.train, split.validation, split.test):
        assert y[part].mean() == pytest.approx(0.1, abs=0.01)
    again = split_rows(y, task=TASKS["classification"], test_size=0.2, validation_size=0.2, seed=3)
    assert np.array_equal(again.test, split.test)


def test_too_few_rows_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="only 12 usable rows"):
        split_rows(
            np.arange(12.0), task=TASKS["regression"], test_size=0.2, validation_size=0.2, seed=0
        )
