"""SVG charts: valid, escaped, compact and deterministic markup of what was drawn."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from mlfactory.charts import BLUE, Chart, ColorBar, Panel, number, percent, thin, ticks


def _parse(chart: Chart, label: str = "chart") -> ET.Element:
    return ET.fromstring(chart.svg(label))


def _texts(svg: ET.Element) -> list[str]:
    return ["\n".join(e.itertext()) for e in svg.iter("text")]


def _vertices(d: str) -> list[tuple[float, float]]:
    """The absolute points of a path made of one "M" and relative "l" moves."""
    match = re.fullmatch(r"M(\S+) (\S+?)(?:l(.*))?Z?", d)
    assert match, d
    x, y = float(match[1]), float(match[2])
    points = [(x, y)]
    moves = [float(v) for v in re.findall(r"-?[\d.]+", match[3] or "")]
    for dx, dy in zip(moves[::2], moves[1::2], strict=True):
        x, y = x + dx, y + dy
        points.append((x, y))
    return points


def _lines(svg: ET.Element, color: str = BLUE) -> list[ET.Element]:
    return [p for p in svg.iter("path") if p.get("stroke") == color]


def test_a_chart_is_an_accessible_scalable_svg() -> None:
    chart = Chart(width=540, height=380)
    chart.add(Panel(xlabel="recall", ylabel="precision", legend="lower left")).line(
        [0, 1], [1, 0], label="model"
    )
    svg = _parse(chart, "Precision-recall curve")

    assert svg.tag == "svg"
    assert svg.get("viewBox") == "0 0 540 380" and svg.get("width") == "100%"
    assert svg.get("role") == "img" and svg.get("aria-label") == "Precision-recall curve"
    assert "system-ui" in (svg.get("font-family") or "")
    assert {"recall", "precision", "model"} <= set(_texts(svg))
    assert "http" not in chart.svg() and "<script" not in chart.svg()
    assert not chart.wide and Chart(width=760).wide


def test_every_text_is_escaped() -> None:
    evil = "<b>&\"x'</b>"
    chart = Chart()
    ax = chart.add(
        Panel(xlabel=evil, ylabel=evil, title=evil, note=evil, legend="top",
              yticks=[(0, evil), (1, "plain")])
    )  # fmt: skip
    ax.hbar([0, 1], [3, 4], label=evil).text(2, 0, evil, box=True)
    ax.heatmap([[0.2]], [[evil]])
    markup = chart.svg(evil)

    assert "<b>" not in markup and "&lt;b&gt;&amp;&quot;x&#x27;&lt;/b&gt;" in markup
    svg = ET.fromstring(markup)  # the document still parses
    assert svg.get("aria-label") == evil
    assert _texts(svg).count(evil) == 8  # 2 labels, title, note, tick, legend, text, cell


def test_a_long_line_is_thinned_and_keeps_its_ends() -> None:
    x = np.linspace(0, 1, 65_536)
    y = np.sqrt(x) + np.random.default_rng(0).normal(0, 0.002, len(x))
    y[0], y[-1] = 0, 1
    chart = Chart()
    chart.add(Panel(xlim=(0, 1), ylim=(0, 1))).line(x, y)
    svg = _parse(chart)

    (line,) = _lines(svg)
    points = _vertices(line.get("d") or "")
    assert 100 < len(points) <= 1000
    area = next(e for e in svg.iter("svg") if e is not svg)  # the clipped plot area
    left, top = float(area.get("x") or 0), float(area.get("y") or 0)
    width, height = float(area.get("width") or 0), float(area.get("height") or 0)
    assert points[0] == pytest.approx((left, top + height), abs=0.15)  # (0, 0)
    assert points[-1] == pytest.approx((left + width, top), abs=0.15)  # (1, 1)
    assert len(chart.svg()) < 20_000


def test_thinning_keeps_the_shape() -> None:
    px = np.linspace(0, 500, 65_536)
    py = 200 + 100 * np.sin(px / 30) + np.random.default_rng(1).normal(0, 0.05, len(px))
    tx, ty = thin(px, py)

    assert len(tx) <= 1000
    assert (tx[0], ty[0], tx[-1], ty[-1]) == (px[0], py[0], px[-1], py[-1])
    assert np.max(np.abs(np.interp(px, tx, ty) - py)) < 1.0  # within a pixel everywhere
    assert np.all(np.hypot(np.diff(tx), np.diff(ty)) >= 0.5)  # no two vertices closer


@pytest.mark.parametrize(
    ("lo", "hi"), [(0, 1), (0, 1.02), (-3.7, 12.2), (1e-5, 3e-5), (0, 65_469), (-0.02, 1.02)]
)
def test_ticks_are_nice_numbers_within_the_range(lo: float, hi: float) -> None:
    values = ticks(lo, hi)

    assert 3 <= len(values) <= 11
    assert all(lo <= v <= hi for v in values)
    step = values[1] - values[0]
    assert np.allclose(np.diff(values), step)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5))
    assert ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_tick_labels_as_numbers_and_percentages() -> None:
    assert number([0, 0.2, 0.4]) == ["0.0", "0.2", "0.4"]
    assert number([0, 10_000, 20_000]) == ["0", "10,000", "20,000"]
    assert number([-5, 0, 5]) == ["−5", "0", "5"]
    assert percent([0, 0.25, 0.5]) == ["0%", "25%", "50%"]
    assert percent([0, 0.025, 0.05]) == ["0.0%", "2.5%", "5.0%"]
    assert percent([1.0]) == ["100%"]

    chart = Chart()
    chart.add(Panel(xformat=percent, xlim=(0, 0.7))).hbar([0], [0.7])
    assert {"0%", "10%", "70%"} <= set(_texts(_parse(chart)))


def _everything() -> Chart:
    rng = np.random.default_rng(3)
    chart = Chart(width=800, height=500, rows=(3, 1), columns=(2, 1), sharex=True)
    ax = chart.add(Panel(xlabel="x", ylabel="y", legend="right", note="a note"))
    ax.line(rng.normal(size=50).cumsum(), rng.normal(size=50), label="walk")
    ax.scatter(rng.normal(size=300), rng.normal(size=300), radius=2, alpha=0.4, label="dots")
    ax.step([0, 1, 2], [1, 2, 0], label="steps").hline(0).vline(1, dash=False)
    chart.add(Panel(legend="top")).stairs([1, 3, 2], [0, 1, 2, 3], fill=True, alpha=0.5, label="s")
    labels = [(0, "a"), (1, "b")]
    confusion = Panel(colorbar=ColorBar("share", format=percent), invert_y=True, grid="none",
                      xticks=labels, yticks=labels, rotate_xticks=True)  # fmt: skip
    chart.add(confusion).heatmap([[0.9, 0.1], [0.3, 0.7]], [["9\n90%", "1\n10%"], ["3", "7"]])
    chart.add(Panel()).histogram([0, 1, 2, 3], [5, 0, 2], horizontal=True)
    return chart


def test_the_same_input_gives_the_same_bytes() -> None:
    first = _everything().svg("all")
    assert first == _everything().svg("all")
    svg = ET.fromstring(first)
    texts = _texts(svg)
    assert {"walk", "dots", "steps", "s", "share", "a note", "9\n90%", "3"} <= set(texts)
    assert len(list(svg.iter("circle"))) <= 300 + 1  # the dots, the one in the legend
    with pytest.raises(ValueError, match="room for 4 panel"):
        _everything().add(Panel())


def test_coordinates_are_rounded_to_a_tenth() -> None:
    markup = _everything().svg()
    coordinates = re.sub(r'(fill-opacity|offset)="[^"]*"', "", markup)  # not coordinates
    numbers = re.findall(r"-?\d+\.\d+", coordinates)
    assert numbers and all(len(n.split(".")[1]) == 1 for n in numbers)


def test_empty_nan_and_infinite_input_is_skipped() -> None:
    chart = Chart()
    ax = chart.add(Panel(xlabel="x", legend="upper left"))
    ax.line([], [], label="empty")
    ax.line([0, 1, np.nan, 3, np.inf, 5], [0, 1, 2, np.nan, 4, -np.inf], color="#000000")
    ax.scatter([np.nan, 1, 2], [1, np.inf, 2])
    ax.stairs([np.nan, 1], [0, 1, 2]).hbar([], []).hline(np.nan)
    svg = _parse(chart)

    (line,) = _lines(svg, "#000000")
    assert len(_vertices(line.get("d") or "")) == 2  # (0, 0) and (1, 1): the finite points
    assert len(list(svg.iter("circle"))) == 1
    assert "nan" not in chart.svg().lower() and "inf" not in chart.svg().lower()
    assert _parse(Chart()).tag == "svg"  # no panel at all
    nothing = Chart()
    nothing.add(Panel(xlabel="x")).line([np.nan], [np.inf])
    assert "x" in _texts(_parse(nothing))


def test_a_constant_series_still_draws() -> None:
    chart = Chart()
    chart.add(Panel()).line([0, 1, 2], [5, 5, 5])
    svg = _parse(chart)

    (line,) = _lines(svg)
    points = _vertices(line.get("d") or "")
    assert len(points) >= 2 and len({y for _, y in points}) == 1  # flat, one straight segment
    assert 5 in {float(t) for t in _texts(svg)}  # the y axis has a tick at the value
    dots = Chart()
    dots.add(Panel()).scatter([3, 3], [3, 3])
    assert len(list(_parse(dots).iter("circle"))) == 1  # two dots on one spot: one circle


def test_limits_of_one_value_are_widened() -> None:
    chart = Chart()
    chart.add(Panel(xlim=(1, 1), ylim=(0, 0))).line([1, 1], [0, 0])
    svg = _parse(chart)  # drew, no division by a zero range
    numbers = {float(t.replace("−", "-")) for t in _texts(svg)}
    assert {1.0, 0.0} <= numbers  # a tick at the one value on each axis
