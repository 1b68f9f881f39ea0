"""The report's explanations of real trained models: the bars, the dependence plots, the notes.

The orders data has one input of each kind the plots place differently: a number
with missing values, a category with missing values, a date, and a weak count.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlfactory.registry import Registry
from mlfactory.scoring import Scorer
from mlfactory.spec import parse_spec
from mlfactory.training import train
from mlfactory.training.explanations import MAX_ROWS, explain_test_rows, explanation_section

CHART = re.compile(r'(<svg [^>]*role="img".*?</svg>)<figcaption>(.*?)</figcaption>', re.S)


def orders(rows: int = 1200, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    placed = pd.Series(
        pd.to_datetime("2022-01-01") + pd.to_timedelta(rng.integers(0, 730, rows), unit="D")
    )
    region = rng.choice(
        np.array(["north", "south", "east", "west", None], dtype=object),
        rows,
        p=[0.3, 0.3, 0.2, 0.15, 0.05],
    )
    amount = rng.gamma(2.0, 50.0, rows)
    amount[rng.random(rows) < 0.05] = np.nan
    items = rng.integers(1, 6, rows)
    score = (
        0.03 * np.nan_to_num(amount, nan=100.0)
        + 1.5 * (region == "north")
        - 1.0 * (region == "west")
        + 1.5 * (placed.dt.year.to_numpy() == 2023)
        + 0.05 * items
        + rng.normal(0, 0.4, rows)
    )
    low, high = np.quantile(score, [1 / 3, 2 / 3])
    return pd.DataFrame(
        {
            "placed": placed,
            "region": region,
            "amount": amount,
            "items": items,
            "late": np.where(score > np.quantile(score, 0.6), "yes", "no"),  # the minority
            "speed": np.select([score < low, score < high], ["fast", "usual"], "slow"),
        }
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("explanations")
    source = folder / "orders.parquet"
    orders().to_parquet(source)
    registry = Registry(path=folder / ".mlfactory")
    runs = {
        "orders-boosted": ("late", {"name": "lightgbm", "params": {"n_estimators": 60}}),
        "orders-speed": ("speed", {"name": "linear"}),
        "orders-forest": ("late", {"name": "random_forest", "params": {"n_estimators": 5}}),
    }
    paths: dict[str, Any] = {"registry": registry}
    for name, (target, model) in runs.items():
        spec = {
            "name": name,
            "task": "classification",
            "data": {
                "source": str(source),
                "target": target,
                "exclude": [t for t in ("late", "speed") if t != target],
            },
            "models": [model],
            "search": {"trials": 1, "seed": 3},
            "evaluation": {"bootstrap": 20},
        }
        result = train(parse_spec(spec), registry=registry, progress=False)
        paths[name] = result.report_path
    return paths


def section(path: Path) -> str:
    page = path.read_text(encoding="utf-8")
    found = re.search(r'<section id="explanations">.*?</section>', page, re.S)
    assert found is not None
    return found.group(0)


def charts(html: str) -> dict[str, tuple[ET.Element, str]]:
    """Each chart of the section, parsed, and its caption, by title."""
    parsed = [(ET.fromstring(svg), caption) for svg, caption in CHART.findall(html)]
    return {svg.get("aria-label") or "": (svg, caption) for svg, caption in parsed}


def texts(chart: ET.Element) -> list[str]:
    return ["\n".join(text.itertext()) for text in chart.iter("text")]


def test_bars_rank_the_columns_and_the_top_three_get_a_dependence_plot(
    reports: dict[str, Any],
) -> None:
    drawn = charts(section(reports["orders-boosted"]))

    assert next(iter(drawn)) == "Mean |contribution|"
    bars, caption = drawn["Mean |contribution|"]
    ranked = [t for t in texts(bars) if t in ("placed", "region", "amount", "items")][::-1]
    assert sorted(ranked) == ["amount", "items", "placed", "region"]  # every input, once
    assert ranked[-1] == "items"  # the weak one moves predictions least
    assert "to the log-odds of &#x27;yes&#x27;" in caption and "test rows" in caption
    assert "Computed as LightGBM&#x27;s own TreeSHAP" in caption
    assert list(drawn)[1:] == [f"Dependence on {name}" for name in ranked[:3]]
    # each kind of input placed its own way: numbers by value, categories side by side
    # (missing ones too), dates as dates
    region = texts(drawn["Dependence on region"][0])
    assert {"north", "south", "east", "west", "missing"} <= set(region)
    placed = texts(drawn["Dependence on placed"][0])
    assert any(re.fullmatch(r"202[234]-\d\d", t) for t in placed), placed
    amount, said = drawn["Dependence on amount"]
    assert "row(s) without a value are not shown" in said
    assert len(list(amount.iter("circle"))) > 100  # a dot per test row


def test_the_bars_are_the_mean_absolute_contributions_the_server_answers(
    reports: dict[str, Any],
) -> None:
    registry = reports["registry"]
    scorer = Scorer.load(registry, "orders-boosted@champion")
    rows = pd.concat([orders(seed=8)] * 6, ignore_index=True)  # more than are explained
    found = explain_test_rows(scorer.package, rows, seed=0)

    assert len(found.explanation or []) == MAX_ROWS and found.total == len(rows)
    served = scorer.explain(scorer.validate(found.rows).frame)  # the server's contributions
    expected = np.abs(served.contributions[:, 0, :]).mean(axis=0)
    assert found.strength == pytest.approx(dict(zip(served.columns, expected, strict=True)))
    assert list(found.strength) == sorted(found.strength, key=lambda c: -found.strength[c])
    assert f"a random {MAX_ROWS:,} of {len(rows):,} test rows" in explanation_section(found)


def test_a_multiclass_model_shows_each_class(reports: dict[str, Any]) -> None:
    drawn = charts(section(reports["orders-speed"]))

    _, caption = drawn["Mean |contribution|"]
    assert "raw score of each class" in caption and "coefficient × (value − mean)" in caption
    assert re.search(r"base value \(fast -?[\d.]+, slow -?[\d.]+, usual -?[\d.]+\)", caption)
    dependence = [svg for title, (svg, _) in drawn.items() if title.startswith("Dependence")]
    assert len(dependence) == 3
    for svg in dependence:
        assert {"fast", "slow", "usual"} <= set(texts(svg))  # the legend


def test_a_model_that_cannot_be_explained_says_which_can(reports: dict[str, Any]) -> None:
    html = section(reports["orders-forest"])

    assert "<svg" not in html
    assert "Predictions are not explained: orders-forest is a random_forest model" in html
    assert "explanations need lightgbm or linear" in html
