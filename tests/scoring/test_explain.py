"""Explanations add up to the model's raw score, for real models of every task.

Models are trained through the factory into a real registry on a data set with
every kind of input: numbers with missing values (the ``onehot``/``scaled``
styles add missing indicators), a 70-category column (one-hot caps at 50, so
rare ones are grouped as infrequent), a small category with missing values, a
boolean and a datetime (expanded into five parts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlfactory.errors import BadInputError
from mlfactory.registry import Registry
from mlfactory.scoring import Scorer
from mlfactory.spec import parse_spec
from mlfactory.training import train

TARGETS = {"binary": "late", "multiclass": "tier", "regression": "minutes"}


def visits(rows: int = 1500, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    store = rng.choice(70, size=rows, p=np.r_[np.full(20, 0.04), np.full(50, 0.004)])
    when = pd.Series(
        pd.to_datetime("2021-01-01")
        + pd.to_timedelta(rng.integers(0, 3 * 365 * 24, rows), unit="h")
    )
    distance = rng.gamma(2.0, 3.0, rows)
    distance[rng.random(rows) < 0.08] = np.nan
    weather = rng.choice(np.array(["sun", "rain", "snow", None], dtype=object), rows)
    member = rng.random(rows) < 0.3
    minutes = (
        2 * np.nan_to_num(distance, nan=6.0)
        + 5 * (weather == "snow")
        - 3 * member
        + (store % 5)
        + 4 * (when.dt.hour.to_numpy() > 16)
        + rng.normal(scale=2, size=rows)
    )
    return pd.DataFrame(
        {
            "when": when,
            "store": [f"st{i:02d}" for i in store],
            "weather": weather,
            "member": member,
            "distance": distance,
            "minutes": minutes,
            "late": np.where(minutes > np.median(minutes), "yes", "no"),
            "tier": np.select([minutes < 12, minutes < 20], ["fast", "usual"], "slow"),
        }
    )


def spec(task: str, model: str, source: Path, **params: Any) -> dict[str, Any]:
    target = TARGETS[task]
    return {
        "name": f"{task}-{model}".replace("_", "-"),
        "task": "regression" if task == "regression" else "classification",
        "data": {
            "source": str(source),
            "target": target,
            "exclude": [t for t in TARGETS.values() if t != target],
        },
        "models": [{"name": model, "params": params}],
        "search": {"trials": 1, "seed": 3},
        "evaluation": {"bootstrap": 20},
    }


MODELS = {
    "lightgbm": {"n_estimators": 60},
    "linear": {},
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    folder = tmp_path_factory.mktemp("explain")
    source = folder / "visits.parquet"
    visits().to_parquet(source)
    registry = Registry(path=folder / ".mlfactory")
    specs = [
        spec(task, model, source, **params) for task in TARGETS for model, params in MODELS.items()
    ]
    specs.append(spec("regression", "random_forest", source, n_estimators=5))
    for raw in specs:
        train(parse_spec(raw), registry=registry, progress=False)
    return registry


def rows(scorer: Scorer) -> pd.DataFrame:
    """Rows a client sends: unseen stores and weather, missing values, several years."""
    frame = visits(rows=300, seed=9).drop(columns=list(TARGETS.values()))
    frame.loc[:9, "store"] = "a store opened since"
    frame.loc[10:19, "weather"] = "fog"
    return scorer.validate(frame).frame


def raw_score(scorer: Scorer, conformed: pd.DataFrame) -> np.ndarray:
    """The model's own raw score: LightGBM's raw_score=True, a linear model's decision."""
    pipeline = scorer.package.pipeline
    X = pipeline[:-1].transform(conformed)
    estimator = pipeline[-1]
    if hasattr(estimator, "booster_"):
        raw = estimator.predict(X, raw_score=True)
    elif hasattr(estimator, "decision_function"):
        raw = estimator.decision_function(X)
    else:
        raw = estimator.predict(X)
    return np.asarray(raw).reshape(len(conformed), -1)


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("task", list(TARGETS))
def test_contributions_plus_the_base_value_are_the_raw_score(
    task: str, model: str, registry: Registry
) -> None:
    scorer = Scorer.load(registry, f"{task}-{model}@champion")
    conformed = rows(scorer)
    explanation = scorer.explain(conformed)

    assert explanation.columns == ["when", "store", "weather", "member", "distance"]
    raw = raw_score(scorer, conformed)
    outputs = 3 if task == "multiclass" else 1
    assert explanation.contributions.shape == (len(conformed), outputs, 5)
    assert explanation.base.shape == (outputs,)
    np.testing.assert_allclose(explanation.raw, raw, rtol=1e-9, atol=1e-9)
    # what a client is answered follows from that same raw score
    _, proba = scorer.predict(conformed)
    if task == "binary":
        assert explanation.scale == "log-odds of 'yes'" and explanation.labels is None
        np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-explanation.raw[:, 0])))
    elif task == "multiclass":
        assert explanation.labels == ["fast", "slow", "usual"]
        softmax = np.exp(explanation.raw) / np.exp(explanation.raw).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(proba, softmax, rtol=1e-6)
    else:
        assert explanation.scale == "the predicted value"
    # the columns that drive the target move the score; none is left out or doubled
    strength = np.abs(explanation.contributions).mean(axis=(0, 1))
    assert strength[explanation.columns.index("distance")] > 0


def test_a_linear_base_value_is_the_average_training_score(registry: Registry) -> None:
    scorer = Scorer.load(registry, "regression-linear@champion")
    reference = scorer.validate(scorer.package.reference).frame
    explanation = scorer.explain(reference)

    np.testing.assert_allclose(explanation.contributions.mean(axis=0), 0, atol=1e-9)
    assert explanation.base[0] == pytest.approx(explanation.raw.mean())


def test_a_datetime_column_gets_the_sum_of_its_parts(registry: Registry) -> None:
    scorer = Scorer.load(registry, "regression-lightgbm@champion")
    conformed = rows(scorer)
    explanation = scorer.explain(conformed)
    estimator = scorer.package.pipeline[-1]
    X = scorer.package.pipeline[:-1].transform(conformed)
    encoded = estimator.predict(X, pred_contrib=True)[:, :-1]
    names = list(scorer.package.pipeline[-2].get_feature_names_out())
    parts = [names.index(f"when__{p}") for p in ("year", "month", "day", "dayofweek", "hour")]

    assert (encoded[:, parts] != 0).any(axis=0).sum() >= 2  # the model uses several parts
    np.testing.assert_allclose(explanation.contributions[:, 0, 0], encoded[:, parts].sum(axis=1))


def test_the_frame_has_a_column_per_input_and_class(registry: Registry) -> None:
    scorer = Scorer.load(registry, "multiclass-lightgbm@champion")
    conformed = rows(scorer).head(4)
    frame = scorer.explain(conformed).frame(index=conformed.index)

    assert list(frame.columns[:6]) == [
        "contrib_fast_when", "contrib_fast_store", "contrib_fast_weather",
        "contrib_fast_member", "contrib_fast_distance", "base_value_fast",
    ]  # fmt: skip
    assert len(frame.columns) == 18 and frame.index.equals(conformed.index)
    single = Scorer.load(registry, "binary-lightgbm@champion")
    assert list(single.explain(conformed).frame().columns) == [
        "contrib_when", "contrib_store", "contrib_weather", "contrib_member", "contrib_distance",
        "base_value",
    ]  # fmt: skip


@pytest.mark.parametrize("model", list(MODELS))
def test_no_rows_have_no_contributions(model: str, registry: Registry) -> None:
    scorer = Scorer.load(registry, f"multiclass-{model}@champion")
    explanation = scorer.explain(rows(scorer).iloc[:0])  # an empty file to predict

    assert explanation.contributions.shape == (0, 3, 5) and len(explanation.frame()) == 0


def test_a_model_that_cannot_be_explained_says_which_can(registry: Registry) -> None:
    scorer = Scorer.load(registry, "regression-random-forest@champion")
    with pytest.raises(BadInputError, match="random_forest model, and explanations need "
                       "lightgbm or linear"):  # fmt: skip
        scorer.explain(rows(scorer))
