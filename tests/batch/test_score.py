"""A chunk that fails the policy as a whole (text among a CSV column's numbers, an inf)
is taken apart: only the rows at fault are refused, each with the policy's own reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batchfiles import read_parts, write_parquet
from mlfactory.batch.inputs import plan_chunks, read_chunk
from mlfactory.batch.score import score_chunk
from mlfactory.cli import main
from mlfactory.registry import Registry
from mlfactory.scoring import Scorer

pytestmark = pytest.mark.slow

BAD = [17, 26_000, 49_999]


def _many(mroz_rows: pd.DataFrame, rows: int) -> pd.DataFrame:
    """``rows`` Mroz rows (repeated), every one valid."""
    valid = mroz_rows.drop(index=[3, 400]).reset_index(drop=True)
    many = valid.iloc[np.arange(rows) % len(valid)].reset_index(drop=True)
    return many.assign(person=[f"p{i:05d}" for i in range(rows)])


def test_three_text_cells_in_a_50k_row_csv_chunk_refuse_those_three_rows_only(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path
) -> None:
    many = _many(mroz_rows, 50_000)
    written = many.astype({"age": object})
    written.loc[BAD, "age"] = ["forty", "x40", "?"]  # pandas now reads the column as text
    written.to_csv(tmp_path / "rows.csv", index=False)
    args = ["--input", "rows.csv", "--output", "out", "--json", "summary.json"]
    assert main(["batch", "mroz/1", "--registry", str(registry), *args]) == 0
    summary = json.loads(Path("summary.json").read_text())
    assert summary["parts"] == 1 and summary["scored"] == 50_000 - 3
    rejects = read_parts(tmp_path / "out" / "rejects").sort_values("_row")
    assert list(rejects["_row"]) == BAD
    assert list(rejects["_reason"]) == [
        f"column 'age' must be numeric; got {value!r} (text) in 1 row(s)"
        for value in ("forty", "x40", "?")
    ]
    scored = read_parts(tmp_path / "out" / "model=mroz").sort_values("_row")
    expected = Scorer.load(Registry(path=registry), "mroz/1").score(many.drop(index=BAD))
    np.testing.assert_allclose(scored["proba_yes"], expected.outputs["proba_yes"])
    assert (scored["age"].to_numpy() == many["age"].drop(index=BAD).to_numpy()).all()


def test_an_inf_among_parquet_numbers_refuses_its_row_with_the_missing_values_beside_it(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path
) -> None:
    many = _many(mroz_rows, 5_000)
    many.loc[[10, 4_000], "inc"] = np.inf  # the column fails as a whole
    many.loc[[11, 4_001], "age"] = None  # these rows alone: skipped by the policy
    chunk = plan_chunks(str(write_parquet(many, tmp_path / "rows.parquet", 5_000))).chunks[0]
    scorer = Scorer.load(Registry(path=registry), "mroz/1")
    result = score_chunk(scorer, chunk, read_chunk(chunk), time=0.0)
    assert list(result.rejects["_row"]) == [10, 11, 4_000, 4_001]
    reasons = dict(zip(result.rejects["_row"], result.rejects["_reason"], strict=True))
    assert reasons[10] == reasons[4_000] == "column 'inc' has inf values; send finite numbers"
    missing = "column 'age' has 1 missing value(s) (null or NaN), but it had none in training"
    assert reasons[11] == reasons[4_001] == f"{missing}; send a value"
    assert list(result.scored["_row"]) == sorted(set(range(5_000)) - {10, 11, 4_000, 4_001})
    good = many.drop(index=[10, 11, 4_000, 4_001])
    np.testing.assert_allclose(result.scored["proba_yes"], scorer.score(good).outputs["proba_yes"])
