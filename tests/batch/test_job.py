"""`mlfactory batch` end to end: the real command on real files scored by a real registry.

The scores are the Scorer's, every input row is either scored or rejected with a
reason (never both, never dropped), the parts read as a prediction log, and a
rerun of a finished job writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batchfiles import read_parts, write_parquet
from mlfactory.cli import main
from mlfactory.monitoring import monitor
from mlfactory.registry import Registry
from mlfactory.scoring import Scorer

pytestmark = pytest.mark.slow


def _batch(registry: Path, *args: str) -> int:
    return main(["batch", "mroz@champion", "--registry", str(registry), *args])


def test_every_row_is_scored_as_the_scorer_scores_it_or_rejected_with_its_reason(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path
) -> None:
    write_parquet(mroz_rows, tmp_path / "rows.parquet", row_group_size=100)
    code = _batch(registry, "--input", "rows.parquet", "--output", "out", "--json", "summary.json")
    assert code == 0
    summary = json.loads(Path("summary.json").read_text())
    assert summary["rows"] == 753 and summary["scored"] == 751 and summary["rejected"] == 2
    assert summary["parts"] == 8 and summary["peak_memory_mb"] > 0

    scored = read_parts(tmp_path / "out" / "model=mroz")
    rejects = read_parts(tmp_path / "out" / "rejects")
    assert sorted(rejects["_row"]) == [3, 400]
    assert all("column 'age' has 1 missing value" in r for r in rejects["_reason"])
    rows = np.concatenate([scored["_row"], rejects["_row"]])
    assert sorted(rows) == list(range(753))  # each row once, none lost
    assert (scored["person"].to_numpy() == mroz_rows["person"].iloc[scored["_row"]]).all()

    scorer = Scorer.load(Registry(path=registry), "mroz@champion")
    good = mroz_rows.drop(index=[3, 400])
    expected = scorer.score(good).outputs
    ordered = scored.sort_values("_row")
    assert (ordered["prediction"].to_numpy() == expected["prediction"]).all()
    np.testing.assert_allclose(ordered["proba_yes"], expected["proba_yes"])
    assert set(ordered["_model_version"]) == {scorer.version}
    assert set(ordered["_model"]) == {"mroz"}
    assert str(ordered["_time"].dtype) == "datetime64[us, UTC]"

    # the layout is the prediction log's: monitoring reads the scores as it reads a server's
    reg = Registry(path=registry)
    result = monitor("mroz@champion", registry=reg, prediction_log=tmp_path / "out")
    assert result.data.n_current == 751

    # a second run finds every part committed and writes nothing
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.parquet")}
    rerun = ["--input", "rows.parquet", "--output", "out", "--json", "again.json"]
    assert _batch(registry, *rerun) == 0
    again = json.loads(Path("again.json").read_text())
    assert again["resumed"] == 8 and again["scored"] == 751
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.parquet")} == before


def test_a_folder_of_csv_and_parquet_files_is_read_in_chunks(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    mroz_rows.iloc[:300].to_csv(tmp_path / "in" / "a.csv", index=False)
    write_parquet(mroz_rows.iloc[300:], tmp_path / "in" / "b.parquet", row_group_size=200)
    code = _batch(registry, "--input", "in", "--output", "out", "--csv-rows", "64", "--json", "-")
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["parts"] == 5 + 3  # 300 CSV records by 64, 453 Parquet rows by 200
    assert summary["scored"] + summary["rejected"] == 753
    scored = read_parts(tmp_path / "out" / "model=mroz")
    assert scored.groupby("_source")["_row"].nunique().to_dict() == {
        "in/a.csv": 300 - 1,
        "in/b.parquet": 453 - 1,
    }


def test_another_versions_results_are_refused_unless_overwrite(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_parquet(mroz_rows, tmp_path / "rows.parquet", row_group_size=300)
    args = ["--input", "rows.parquet", "--output", "out", "--registry", str(registry)]
    assert main(["batch", "mroz/1", *args]) == 0
    capsys.readouterr()
    assert main(["batch", "mroz/2", *args]) == 2
    message = capsys.readouterr().err
    assert "holds the scores of mroz version 1" in message and "--overwrite" in message
    assert set(read_parts(tmp_path / "out" / "model=mroz")["_model_version"]) == {"1"}

    assert main(["batch", "mroz/2", *args, "--overwrite"]) == 0
    assert set(read_parts(tmp_path / "out" / "model=mroz")["_model_version"]) == {"2"}
    assert len(read_parts(tmp_path / "out" / "model=mroz")) == 751


def test_a_folder_batch_did_not_write_is_refused(
    registry: Path, mroz_rows: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_parquet(mroz_rows, tmp_path / "rows.parquet", row_group_size=300)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    assert _batch(registry, "--input", "rows.parquet", "--output", "out") == 2
    assert "did not write" in capsys.readouterr().err
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
