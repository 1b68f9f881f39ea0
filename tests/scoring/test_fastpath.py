"""The compiled fast path answers exactly like ``ModelPackage.predict_conformed``.

Real models trained through the factory into a real registry: LightGBM binary
(Mroz), multiclass and regression on a synthetic shop data set with a datetime
column and a 400-category column (more than ``max_categories``, so rare shops
are grouped), HistGradientBoosting (the generic estimator path) and a random
forest (``onehot`` style: not compiled).
"""

from __future__ import annotations

import copy
import functools
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlfactory.registry import ModelPackage, Registry
from mlfactory.scoring.fastpath import FastPredictor, compile_predictor
from mlfactory.spec import parse_spec
from mlfactory.training import train

from conftest import mroz_spec

SHOPS = 400


def shop_frame(rows: int = 3000, seed: int = 3) -> pd.DataFrame:
    """Sales with a datetime, a skewed 400-category shop, a small category and numbers."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, SHOPS + 1) ** 0.6
    shop = rng.choice(SHOPS, size=rows, p=weights / weights.sum())
    start = np.datetime64("1965-01-01T00:00", "m").astype(np.int64)
    minutes = rng.integers(0, 65 * 365 * 24 * 60, size=rows) + start
    when = pd.Series(minutes.astype("datetime64[m]").astype("datetime64[ns]"))
    when[rng.random(rows) < 0.05] = pd.NaT
    x = rng.normal(size=rows)
    x[rng.random(rows) < 0.05] = np.nan
    color = rng.choice(["red", "green", "blue", "cyan", "nan"], size=rows).astype(object)
    color[rng.random(rows) < 0.05] = None
    hour = when.dt.hour.fillna(12).to_numpy()
    amount = (shop % 7) + 2 * np.nan_to_num(x) + (hour > 17) + rng.normal(scale=1.5, size=rows)
    return pd.DataFrame(
        {
            "when": when,
            "shop": [f"s{i:03d}" for i in shop],
            "color": color,
            "x": x,
            "z": rng.integers(-5, 5, size=rows).astype(float),
            "amount": amount,
            "tier": np.select([amount < 3, amount < 6], ["bronze", "silver"], "gold"),
        }
    )


def spec(name: str, task: str, target: str, model: str, **params: Any) -> dict[str, Any]:
    other = "tier" if target == "amount" else "amount"
    return {
        "name": name,
        "task": task,
        "data": {"source": "shops.parquet", "target": target, "exclude": [other]},
        "models": [{"name": model, "params": params}],
        "search": {"trials": 1, "seed": 5},
        "evaluation": {"bootstrap": 20},
    }


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelPackage]:
    folder = tmp_path_factory.mktemp("fastpath")
    shop_frame().to_parquet(folder / "shops.parquet")
    registry = Registry(path=folder / ".mlfactory")
    specs = [
        mroz_spec(),
        spec("tiers", "classification", "tier", "lightgbm", n_estimators=80),
        spec("amounts", "regression", "amount", "lightgbm", n_estimators=400, learning_rate=0.3),
        spec("hgb", "classification", "tier", "hist_gradient_boosting", max_iter=30),
        spec("forest", "regression", "amount", "random_forest", n_estimators=10),
    ]
    for raw in specs:
        if raw["data"]["source"] == "shops.parquet":
            raw["data"]["source"] = str(folder / "shops.parquet")
        train(parse_spec(raw), registry=registry, progress=False)
    return {raw["name"]: registry.load(f"{raw['name']}/1")[0] for raw in specs}


def compiled(package: ModelPackage) -> FastPredictor:
    fast = compile_predictor(package)
    assert fast is not None
    return fast


def assert_same(package: ModelPackage, fast: FastPredictor, conformed: pd.DataFrame) -> None:
    """Same matrix as the ColumnTransformer, same predictions and probabilities, bit for bit."""
    expected = package.pipeline[:-1].transform(conformed)  # datetimes, then preprocess
    np.testing.assert_array_equal(fast.matrix(conformed, len(conformed)), expected)
    pred, proba = package.predict_conformed(conformed)
    fast_pred, fast_proba = fast.predict_conformed(conformed)
    np.testing.assert_array_equal(fast_pred, pred)
    if proba is None:
        assert fast_proba is None
    else:
        assert fast_proba is not None
        np.testing.assert_array_equal(fast_proba, proba)


def adversarial_shops(package: ModelPackage, rows: int = 600, seed: int = 9) -> pd.DataFrame:
    """Every known shop, unseen and odd strings, missing values, extreme numbers and dates."""
    rng = np.random.default_rng(seed)
    known = package.schema.column("shop").categories or []
    odd = ["", " s001", "S001", "s1", "nan", "None", "\x00", "s999", "ßhop", "s001 "]
    shops = rng.choice(np.array([*known, *odd, None], dtype=object), size=rows)
    colors = rng.choice(np.array(["red", "blue", "nan", "NaN", "purple", None], dtype=object), rows)
    numbers = np.array([0.0, -0.0, 1e300, -1e300, 5e-324, np.nan, 2.5, -3.0, 1e-9])
    edges = ["1677-09-22", "1969-12-31 23:59:59.999", "1970-01-01", "2000-02-29 23:00", "NaT"]
    dates = pd.to_datetime(
        [*edges, "2024-12-31 12:34", "2262-04-11", "1900-03-01"], format="ISO8601"
    )
    when = pd.Series(rng.choice(dates.to_numpy(), size=rows))
    frame = pd.DataFrame(
        {
            "when": when,
            "shop": shops,
            "color": colors,
            "x": rng.choice(numbers, rows),
            "z": rng.normal(scale=10, size=rows),
        }
    )
    return package.schema.conform(frame)


def test_binary_lightgbm_matches_on_real_shuffled_and_odd_rows(
    packages: dict[str, ModelPackage],
) -> None:
    package = packages["mroz"]
    fast = compiled(package)
    rows = pd.read_csv(Path(__file__).parents[1] / "training" / "mroz_rows.csv")
    conformed = package.schema.conform(rows)
    assert_same(package, fast, conformed)
    shuffled = conformed.sample(frac=1.0, random_state=1)
    assert_same(package, fast, shuffled[list(reversed(shuffled.columns))])
    odd = conformed.copy()
    odd["wc"] = ["maybe", None, "yes", "YES", "", "no"] * (len(odd) // 6) + ["no"] * (len(odd) % 6)
    odd["hc"] = np.nan
    odd["inc"] = [np.nan, 1e308, -1e308, 0.0] * (len(odd) // 4) + [1.0] * (len(odd) % 4)
    assert_same(package, fast, package.schema.conform(odd))
    _, proba = fast.predict_conformed(conformed)
    assert proba.shape == (len(conformed), 2) and np.allclose(proba.sum(axis=1), 1)


def test_rare_shops_share_the_infrequent_code_and_unseen_ones_are_nan(
    packages: dict[str, ModelPackage],
) -> None:
    package = packages["tiers"]
    encoder = package.pipeline.named_steps["preprocess"].named_transformers_["cat"]
    shop = list(encoder.feature_names_in_).index("shop")
    infrequent = encoder.infrequent_categories_[shop]
    assert infrequent is not None and len(encoder.categories_[shop]) > 254
    fast = compiled(package)
    codes = dict(next(c for name, c, _ in fast.categorical if name == "shop"))
    assert {codes[c] for c in infrequent} == {253.0}  # 253 frequent shops, then the group
    assert sorted(set(codes.values())) == [float(i) for i in range(254)]
    assert "s999" not in codes and "ßhop" not in codes
    assert_same(package, fast, adversarial_shops(package))


def test_multiclass_lightgbm_matches(packages: dict[str, ModelPackage]) -> None:
    package = packages["tiers"]
    assert package.pipeline[-1].n_classes_ == 3
    fast = compiled(package)
    conformed = adversarial_shops(package, seed=11)
    assert_same(package, fast, conformed)
    _, proba = fast.predict_conformed(conformed)
    assert proba.shape == (len(conformed), 3)


def test_regression_after_early_stopping_matches(packages: dict[str, ModelPackage]) -> None:
    package = packages["amounts"]
    estimator = package.pipeline[-1]
    assert 0 < estimator.best_iteration_ < 400  # stopped early
    assert estimator.booster_.best_iteration == estimator.best_iteration_  # survives skops
    fast = compiled(package)
    conformed = adversarial_shops(package, seed=12)
    assert_same(package, fast, conformed)
    pred, proba = fast.predict_conformed(conformed)
    assert proba is None and pred.dtype == np.float64 and pred.shape == (len(conformed),)


def test_datetime_parts_match_pandas_over_the_whole_range_nat_and_timezones(
    packages: dict[str, ModelPackage],
) -> None:
    package = packages["amounts"]
    fast = compiled(package)
    rng = np.random.default_rng(13)
    conformed = adversarial_shops(package, rows=2000, seed=13)
    stamps = pd.date_range("1960-02-27 22:00", periods=1000, freq="37h17min")
    ticks = rng.integers(np.iinfo(np.int64).min + 1, np.iinfo(np.int64).max, 1000)
    conformed["when"] = np.concatenate([stamps.to_numpy(), ticks.view("datetime64[ns]")])
    conformed.loc[::7, "when"] = pd.NaT
    assert_same(package, fast, conformed)
    seconds = rng.integers(-30_000_000_000, 30_000_000_000, 2000)  # years 1019 to 2920
    assert_same(package, fast, conformed.assign(when=seconds.view("datetime64[s]")))
    aware = conformed.assign(when=conformed["when"].dt.tz_localize("UTC"))
    assert_same(package, fast, aware.assign(when=aware["when"].dt.tz_convert("Asia/Kolkata")))


def test_hist_gradient_boosting_compiles_through_its_own_predict_proba(
    packages: dict[str, ModelPackage],
) -> None:
    package = packages["hgb"]
    fast = compiled(package)
    assert_same(package, fast, adversarial_shops(package, seed=14))


def test_predict_columns_matches_without_a_frame(packages: dict[str, ModelPackage]) -> None:
    for name in ("tiers", "amounts", "mroz"):
        package = packages[name]
        fast = compiled(package)
        if name == "mroz":
            rows = pd.read_csv(Path(__file__).parents[1] / "training" / "mroz_rows.csv")
            conformed = package.schema.conform(rows)
        else:
            conformed = adversarial_shops(package, rows=50, seed=15)
        columns: dict[str, Any] = {
            c: [None if v is np.nan else v for v in conformed[c].tolist()]
            if conformed[c].dtype == object
            else conformed[c].to_numpy()
            for c in conformed.columns
        }
        pred, proba = package.predict_conformed(conformed)
        fast_pred, fast_proba = fast.predict_columns(columns)
        np.testing.assert_array_equal(fast_pred, pred)
        np.testing.assert_array_equal(fast_proba, proba)


def test_styles_and_shapes_it_cannot_reproduce_are_not_compiled(
    packages: dict[str, ModelPackage],
) -> None:
    assert compile_predictor(packages["forest"]) is None  # onehot style
    changed = copy.deepcopy(packages["mroz"])
    changed.pipeline.named_steps["preprocess"].named_transformers_["cat"].set_params(
        unknown_value=-1
    )
    assert compile_predictor(changed) is None
    extra = copy.deepcopy(packages["mroz"])
    extra.pipeline.steps.insert(2, ("scale", extra.pipeline.steps[1][1]))
    assert compile_predictor(extra) is None


def test_a_plan_that_disagrees_on_the_probe_is_not_used(
    packages: dict[str, ModelPackage], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlfactory.scoring import fastpath

    real = fastpath._codes

    def off_by_one(encoder: Any, cols: list[str]) -> list[dict[Any, float]]:
        return [{k: v + 1 for k, v in codes.items()} for codes in real(encoder, cols)]

    monkeypatch.setattr(fastpath, "_codes", off_by_one)
    assert compile_predictor(packages["tiers"], verify=False) is not None
    assert compile_predictor(packages["tiers"]) is None


def per_call(call: Callable[[], object], number: int = 30) -> float:
    return min(timeit.repeat(call, number=number, repeat=3)) / number


def test_timing_of_both_paths(packages: dict[str, ModelPackage]) -> None:
    """Prints the cost per call; nothing is asserted about speed."""
    for name in ("mroz", "tiers"):
        package = packages[name]
        package.pipeline[-1].set_params(n_jobs=1)  # as Served.load does
        fast = compiled(package)
        if name == "tiers":
            conformed = adversarial_shops(package, rows=256)
        else:
            rows = pd.read_csv(Path(__file__).parents[1] / "training" / "mroz_rows.csv")
            conformed = package.schema.conform(rows.sample(256, replace=True, random_state=0))
        for n in (1, 256):
            part = conformed.iloc[:n]
            slow = per_call(functools.partial(package.predict_conformed, part))
            quick = per_call(functools.partial(fast.predict_conformed, part))
            columns = {c: part[c].to_numpy() for c in part.columns}
            bare = per_call(functools.partial(fast.predict_columns, columns))
            print(
                f"{name} {n:>3} rows: pipeline {slow * 1e3:.3f} ms, fast {quick * 1e3:.3f} ms "
                f"({slow / quick:.1f}x), predict_columns {bare * 1e3:.3f} ms"
            )
