"""Ordered categories end to end: declared or detected, trained on as a rank, served, monitored.

A price grows with a size S < M < L < XL. The models are trained by the real
``train`` into a real SQLite registry: one from CSV with ``data.ordinal``, one
from Parquet holding an ordered pandas Categorical and no declaration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from mlfactory.errors import DataError
from mlfactory.monitoring import monitor, write_report
from mlfactory.registry import Registry
from mlfactory.scoring import Scorer
from mlfactory.spec import parse_spec
from mlfactory.training import TrainResult, train
from servers import serve

LEVELS = ["S", "M", "L", "XL"]


def sizes(rows: int, seed: int, shares: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1)) -> pd.DataFrame:
    """A price of about 10 per step of size, plus noise; 3% of sizes missing."""
    rng = np.random.default_rng(seed)
    size = rng.choice(np.array(LEVELS, dtype=object), rows, p=shares)
    rank = pd.Series(size).map({level: i for i, level in enumerate(LEVELS)}).to_numpy()
    x = rng.normal(size=rows)
    price = 10 * rank + 2 * x + rng.normal(size=rows)
    size[rng.random(rows) < 0.03] = None
    colour = rng.choice(["red", "blue", "green"], rows)
    return pd.DataFrame({"size": size, "x": x, "colour": colour, "price": price})


def spec(name: str, source: Path, **data: Any) -> dict[str, Any]:
    return {
        "name": name,
        "task": "regression",
        "data": {"source": str(source), "target": "price", **data},
        "models": [{"name": "lightgbm", "params": {"n_estimators": 60}}],
        "search": {"trials": 2, "seed": 3},
        "evaluation": {"bootstrap": 50},
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, dict[str, TrainResult]]:
    folder = tmp_path_factory.mktemp("ordinal")
    registry = Registry(path=folder / ".mlfactory")
    sizes(1500, seed=0).to_csv(folder / "sizes.csv", index=False)
    declared = spec("sizes", folder / "sizes.csv", ordinal={"size": LEVELS})
    ordered = sizes(1500, seed=1).assign(
        size=lambda f: pd.Categorical(f["size"], categories=LEVELS, ordered=True)
    )
    ordered.to_parquet(folder / "sizes.parquet")
    results = {
        "sizes": train(parse_spec(declared), registry=registry, progress=False),
        "sizes-parquet": train(
            parse_spec(spec("sizes-parquet", folder / "sizes.parquet")),
            registry=registry,
            progress=False,
        ),
    }
    return registry, results


def test_the_order_is_saved_and_the_model_learns_along_it(
    trained: tuple[Registry, dict[str, TrainResult]],
) -> None:
    registry, results = trained
    package, _ = registry.load("sizes@champion")
    size = package.schema.column("size")
    assert (size.kind, size.categories, size.allows_missing) == ("ordinal", LEVELS, True)
    assert package.manifest.profile["columns"]["size"]["order"] == LEVELS
    one_of_each = pd.DataFrame({"size": LEVELS, "x": 0.0, "colour": "red"})
    assert (np.diff(package.predict(one_of_each)["prediction"]) > 5).all()
    report = results["sizes"].report_path.read_text()
    assert "S (" in report and ") &lt; M (" in report and ") &lt; XL (" in report


def test_an_ordered_categorical_from_parquet_needs_no_declaration(
    trained: tuple[Registry, dict[str, TrainResult]],
) -> None:
    registry, _ = trained
    package, _ = registry.load("sizes-parquet@champion")
    assert package.schema.column("size").kind == "ordinal"
    assert package.schema.column("size").categories == LEVELS
    rows = pd.DataFrame({"size": ["M", "XL"], "x": 0.0, "colour": "blue"})
    low, high = package.predict(rows)["prediction"]
    assert high - low > 10


def test_mlflow_loads_an_ordinal_model_and_scores_its_input_example(
    trained: tuple[Registry, dict[str, TrainResult]],
) -> None:
    import mlflow

    registry, _ = trained
    mlflow.set_tracking_uri(registry.tracking_uri)
    for name in ("sizes", "sizes-parquet"):
        loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        example = loaded.input_example
        assert set(example["size"]) <= set(LEVELS)
        assert loaded.predict(example)["prediction"].notna().all()


def test_the_fast_path_gives_the_pipelines_predictions(
    trained: tuple[Registry, dict[str, TrainResult]],
) -> None:
    registry, _ = trained
    scorer = Scorer.load(registry, "sizes@champion")
    assert scorer.fast is not None
    conformed = scorer.validate(sizes(500, seed=9).drop(columns="price")).frame
    assert conformed["size"].isna().any()
    fast, _ = scorer.fast.predict_conformed(conformed)
    pipeline, _ = scorer.package.predict_conformed(conformed)
    np.testing.assert_array_equal(fast, pipeline)


def test_a_size_outside_the_order_is_a_422_naming_it(
    trained: tuple[Registry, dict[str, TrainResult]],
) -> None:
    registry, _ = trained
    package, _ = registry.load("sizes@champion")
    good = [{"size": "L", "x": 0.5, "colour": "red"}, {"size": None, "x": 0.5, "colour": "blue"}]
    bad = [*good, {"size": "XXL", "x": 0.0, "colour": "red"}]
    with serve(["sizes@champion"], registry) as base:
        ok = httpx.post(f"{base}/v1/models/sizes/predict", json={"records": good}, timeout=30)
        refused = httpx.post(f"{base}/v1/models/sizes/predict", json={"records": bad}, timeout=30)
    assert ok.status_code == 200, ok.text
    expected = package.predict(pd.DataFrame(good))["prediction"].tolist()
    assert ok.json()["predictions"] == pytest.approx(expected)
    assert refused.status_code == 422
    assert (
        "column 'size' has value(s) outside its order: 'XXL' (1 row); allowed, lowest first: "
        "'S', 'M', 'L', 'XL'"
    ) in refused.json()["message"]


def test_training_on_a_size_outside_the_order_fails_listing_it(tmp_path: Path) -> None:
    data = sizes(300, seed=4)
    data.loc[:6, "size"] = "XXL"
    data.to_csv(tmp_path / "sizes.csv", index=False)
    raw = spec("sizes", tmp_path / "sizes.csv", ordinal={"size": LEVELS})
    registry = Registry(path=tmp_path / ".mlfactory")
    with pytest.raises(DataError) as info:
        train(parse_spec(raw), registry=registry, progress=False)
    assert info.value.problems == [
        "feature 'size' has value(s) outside its order in data.ordinal ('S', 'M', 'L', 'XL'): "
        "'XXL' (7 rows); add them to the list in their place, or fix the data"
    ]
    assert registry.champion("sizes") is None


def test_monitoring_flags_a_shift_towards_larger_sizes(
    trained: tuple[Registry, dict[str, TrainResult]], tmp_path: Path
) -> None:
    registry, _ = trained
    same = sizes(1500, seed=21).drop(columns="price")
    same.to_parquet(tmp_path / "same.parquet")
    steady = monitor("sizes@champion", registry=registry, current=str(tmp_path / "same.parquet"))
    assert not steady.drifted, steady.reasons()
    assert "size" in [c.column for c in steady.data.columns]  # tested, and found steady

    larger = sizes(1500, seed=22, shares=(0.1, 0.2, 0.3, 0.4)).drop(columns="price")
    larger.loc[0, "size"] = "XXL"
    larger.to_parquet(tmp_path / "larger.parquet")
    result = monitor("sizes@champion", registry=registry, current=str(tmp_path / "larger.parquet"))
    size = next(c for c in result.data.columns if c.column == "size")
    assert size.drifted and size.kind == "ordinal" and result.drifted
    assert result.prediction is not None and result.prediction.drifted  # bigger, dearer
    assert result.domain is not None and result.domain.drifted
    assert result.domain.importance["size"] > 0.2  # the reference rows' text meets the current
    quality = " ".join(result.data.quality)
    assert "column 'size': 1 current value(s) outside its order ('XXL')" in quality
    assert (
        "1 current row(s) were left out of the prediction check: column 'size' has value(s) "
        "outside its order: 'XXL' (1 row); allowed, lowest first: 'S', 'M', 'L', 'XL'"
    ) in quality
    html = write_report(result, tmp_path / "drift.html").read_text()
    caption = html.index("<figcaption><b>size</b>")
    figure = html[html.rindex("<figure", 0, caption) : caption]  # the size column's chart
    labels = [figure.index(f">{level}</text>") for level in LEVELS]
    assert labels == sorted(labels)  # the bars are the sizes, lowest first


def test_the_reports_dependence_plot_shows_the_levels_in_order(
    trained: tuple[Registry, dict[str, TrainResult]],
) -> None:
    import re

    from mlfactory.training.explanations import explain_test_rows, explanation_section

    registry, _ = trained
    package, _ = registry.load("sizes@champion")
    rows = sizes(800, seed=5, shares=(0.1, 0.2, 0.3, 0.4)).drop(columns="price")  # XL most often
    html = explanation_section(explain_test_rows(package, rows, seed=0))
    start = html.index("Dependence on size")
    figure = html[html.rindex("<figure", 0, start) : html.index("</figure>", start)]
    ticks = [t for t in re.findall(r">([A-Z]{1,2})</text>", figure) if t in LEVELS]
    assert ticks == LEVELS  # S, M, L, XL: not by how often each occurs
