"""The forecasting report of real trainings: its sections, plots, coverage and escaping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlfactory.registry import Registry
from mlfactory.training import train
from mlfactory.training.forecast_plots import date_ticks, days

from .test_train import PIZZAS, pizza_spec, write

SVG = re.compile(r'<svg [^>]*role="img" aria-label="([^"]*)".*?</svg>(?=<figcaption>)', re.S)
HOSTILE = "<img src=x onerror=alert(1)>"  # an id may not hold '/', so not '<b>x</b>'


def _section(html: str, key: str) -> str:
    found = re.search(rf'<section id="{key}">(.*?)</section>', html, re.S)
    assert found, f"no section {key}"
    return found.group(1)


def _charts(html: str) -> dict[str, str]:
    """Each inline chart by its (unescaped) label; each one well-formed XML."""
    charts = {}
    for match in SVG.finditer(html):
        ET.fromstring(match.group(0))  # text escaped, tags closed
        charts[unescape(match.group(1))] = match.group(0)
    return charts


def _rows(table: str) -> list[list[str]]:
    body = table.split("</thead>", 1)[1]
    cells = re.compile(r"<td[^>]*>(.*?)</td>")
    return [
        [unescape(re.sub("<[^>]+>", "", cell)).strip() for cell in cells.findall(row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


@pytest.fixture(scope="module")
def pizzas(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str]:
    folder = tmp_path_factory.mktemp("pizzas")
    result = train(
        write(pizza_spec(), folder), registry=Registry(path=folder / ".mlfactory"), progress=False
    )
    return result, result.report_path.read_text(encoding="utf-8")


def test_the_report_has_every_section_and_is_self_contained(pizzas: tuple[Any, str]) -> None:
    result, html = pizzas
    family = result.forecast
    for key in ("overall", "models", "coverage", "worst", "plots"):
        _section(html, key)
    assert "Promoted" in html and unescape(family.summary()) in unescape(html)
    assert not re.search(r"https?://|<script|<link|<img|src=", html)
    # the overall table: the chosen models and the baseline, as the training returned them
    overall = {row[0].rstrip(" ★"): row for row in _rows(_section(html, "overall"))}
    assert overall["mase"][1] == f"{result.evaluation.metrics['mase']:.4g}"
    assert overall["mase"][4] == f"{result.baseline.metrics['mase']:.4g}"
    # every model, with the series it forecasts
    models = {row[0].split(" ")[0]: row for row in _rows(_section(html, "models"))}
    assert set(models) == set(family.models)
    assert {m: int(row[-1]) for m, row in models.items()} == {
        m: family.chosen.get(m, 0) for m in family.models
    }
    assert "MASE per series" in _charts(_section(html, "overall"))
    # what reading the data did: the days without a row of a pizza, filled by fill: zero
    assert re.search(r"Filled [\d,]+ missing dates with 0 in \d+ series", unescape(html))


def test_coverage_numbers_are_the_familys(pizzas: tuple[Any, str]) -> None:
    result, html = pizzas
    section = _section(html, "coverage")
    rows = _rows(section)
    coverage = result.forecast.coverage
    assert [row[0] for row in rows] == [f"{k.removeprefix('coverage_')}%" for k in coverage]
    assert [row[2] for row in rows] == [f"{v:.1%}" for v in coverage.values()]
    assert "Interval coverage" in _charts(section)


def test_the_worst_series_are_ranked_by_the_primary_metric(pizzas: tuple[Any, str]) -> None:
    result, html = pizzas
    registry = Registry(path=result.report_path.parents[1])
    package, _ = registry.load(registry.versions("pizzas")[0])
    series = package.pipeline.series
    rows = _rows(_section(html, "worst"))
    assert [row[0] for row in rows] == list(series["mase"].sort_values(ascending=False).index)
    assert [row[1].split(" ")[0] for row in rows] == [series.loc[r[0], "model"] for r in rows]
    assert [row[5] for row in rows] == [series.loc[r[0], "reason"] for r in rows]


def test_a_plot_per_sampled_series_with_dates_and_bands(pizzas: tuple[Any, str]) -> None:
    _, html = pizzas
    charts = _charts(_section(html, "plots"))
    assert sorted(charts) == sorted(PIZZAS)  # 3 worst and 3 drawn of six: every pizza
    for name, svg in charts.items():
        labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
        assert {"actual", "last backtest", "forecast", "80%", "95%"} <= set(labels), name
        dates = [s for s in labels if re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", s)]
        assert len(dates) >= 3 and "2015–2016" in labels, (name, labels)
        assert svg.count("fill-opacity") >= 2  # the two interval bands
        assert "stroke-dasharray" in svg  # the last backtest window's forecast


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str, Path]:
    """Ten weekly-patterned series and one whose id is HTML and whose last week jumps (the
    worst), through the real train."""
    folder = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(3)
    dates = pd.date_range("2024-01-01", periods=120, freq="D")
    week = np.tile([5.0, 6, 7, 8, 12, 15, 9], 18)[:120]
    frames = [
        pd.DataFrame({"store": f"s{i:02d}", "date": dates, "sales": (1 + i) * week + noise})
        for i, noise in enumerate(rng.poisson(1, (10, 120)))
    ]
    jump = np.where(np.arange(120) >= 113, 4.0, 1.0)  # the last week sells four times as much
    frames.append(pd.DataFrame({"store": HOSTILE, "date": dates, "sales": 3 * week * jump}))
    pd.concat(frames).to_parquet(folder / "sales.parquet")
    spec = {
        "name": "stores",
        "task": "forecasting",
        "data": {
            "source": str(folder / "sales.parquet"),
            "id_column": "store",
            "time_column": "date",
            "target": "sales",
        },
        "forecast": {"frequency": "D", "horizon": 7, "backtest": {"windows": 2}},
        "models": ["seasonal_naive", "auto_ets"],
        "evaluation": {"bootstrap": 50},
        "search": {"seed": 11},
    }
    registry = Registry(path=folder / ".mlfactory")
    result = train(write(spec, folder), registry=registry, progress=False)
    return result, result.report_path.read_text(encoding="utf-8"), folder


def test_an_id_with_html_is_escaped_everywhere(hostile: tuple[Any, str, Path]) -> None:
    _, html, _ = hostile
    assert HOSTILE not in html and "<img" not in html
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    assert escaped in _section(html, "worst")
    charts = _charts(_section(html, "plots"))  # every chart well-formed XML
    assert next(iter(charts)) == HOSTILE  # the worst series, plotted under its id


def test_the_sample_is_the_worst_three_and_three_drawn(hostile: tuple[Any, str, Path]) -> None:
    _, html, folder = hostile
    registry = Registry(path=folder / ".mlfactory")
    package, _ = registry.load(registry.versions("stores")[0])
    series = package.pipeline.series
    worst = list(series["mase"].sort_values(ascending=False).index[:3])
    plotted = list(_charts(_section(html, "plots")))
    assert plotted[:3] == worst
    drawn = plotted[3:]
    assert len(drawn) == 3 and not set(drawn) & set(worst) and set(drawn) <= set(series.index)
    assert "drawn at random (seed 11)" in html
    # the same training renders the same page (but the backtests' time in the footer)
    again = train(folder / "factory.yaml", registry=Registry(path=folder / ".mlfactory"),
                  progress=False)  # fmt: skip
    body = again.report_path.read_text(encoding="utf-8")
    assert _section(body, "plots") == _section(html, "plots")


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2015-11-19", "2016-01-14", ["Nov 23", "Dec 7", "Dec 21", "Jan 4"]),
        ("2016-01-01", "2016-01-01 12:00", ["Jan 1", "02:00", "04:00", "06:00", "08:00",
                                            "10:00", "12:00"]),
        ("2015-01-04", "2016-03-27", ["Apr 2015", "Jul 2015", "Oct 2015", "Jan 2016"]),
        ("1969-01-01", "1988-12-31", ["1970", "1975", "1980", "1985"]),
    ],
)  # fmt: skip
def test_date_ticks_are_round_dates_that_fit(start: str, end: str, expected: list[str]) -> None:
    lo, hi = days([pd.Timestamp(start), pd.Timestamp(end)])
    found = date_ticks(lo, hi, 430)
    assert [label for _, label in found] == expected
    assert all(lo <= at <= hi for at, _ in found)
