"""Small SVG charts in the house style, drawn for the self-contained HTML reports.

A ``Chart`` is a grid of ``Panel`` objects rendered as one ``<svg>`` element. A
panel has linear x and y scales with "nice" ticks (``number`` or ``percent``
labels), a light grid, axis labels, a title and a note, a legend or a colour
bar, and holds marks: lines, steps, stairs, scatter dots, bars, reference lines,
heatmap cells and text. ``Chart.svg`` lays it all out and returns the markup:
every text escaped, coordinates rounded to 0.1 px, long lines thinned to about a
thousand vertices, the same bytes for the same input, nothing that runs or
loads. Non-finite points are skipped. Only numpy is needed::

    chart = Chart(width=540, height=387)
    ax = chart.add(Panel(xlabel="recall", ylabel="precision", legend="lower left"))
    ax.step(recall, precision, label="model").hline(0.23, label="prevalence")
    markup = chart.svg("Precision-recall curve")
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["BLUE", "GREY", "GUIDE", "PALETTE", "RED", "Chart", "ColorBar", "Panel", "blues",
           "number", "percent", "thin", "ticks"]  # fmt: skip

Floats = NDArray[np.float64]
Formatter = Callable[[Sequence[float]], list[str]]  # tick values -> their labels
Ticks = Sequence[tuple[float, str]]  # explicit ticks: position, label
Legend = Literal["upper left", "upper right", "lower left", "lower right", "right", "top"]
Anchor = Literal["start", "middle", "end"]

BLUE, GREY, RED, GUIDE = "#0969da", "#8c959f", "#cf222e", "#6e7781"
TEXT, MUTED, AXIS, GRID = "#1f2328", "#424a53", "#8c959f", "#e4e8ec"
# one colour per series, in order: the page's blue first, then distinct hues
PALETTE = ("#0969da", "#e16f24", "#1a7f37", "#cf222e", "#8250df", "#953800",
           "#bf3989", "#6e7781", "#9a6700", "#1b7c83", "#0550ae", "#b0880d")  # fmt: skip
FONT = "system-ui,'Segoe UI',Helvetica,Arial,sans-serif"  # the page's
SIZE, SMALL = 12.0, 11.0  # px: axis labels and ticks; legend and notes
MAX_VERTICES = 1000
_BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5",
          "#08519c", "#08306b")  # fmt: skip
_PAD, _TICK, _ROW = 4.0, 4.0, 16.0  # outer padding, tick length, legend row height
_DASH = ' stroke-dasharray="5 3"'
# widths of characters in font sizes, as DejaVu Sans (wide: a label must not clip in any font)
_WIDTHS = {**dict.fromkeys("ijlI.,:;'|!", 0.3), **dict.fromkeys(" ()[]{}", 0.36),
           **dict.fromkeys("frt-", 0.42), **dict.fromkeys("0123456789+=<>$#_?~*^", 0.64),
           **dict.fromkeys("mwMW%@…−", 0.98)}  # fmt: skip


# -- ticks, labels, colours, text ------------------------------------------------------


def ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """At most ``count`` intervals of a nice step (1, 2, 2.5 or 5 x 10^k) within [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        return []
    if hi == lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [float(f"{i * step:.12g}") + 0.0 for i in range(first, last + 1)]


def _decimals(values: Sequence[float]) -> int:
    exact = (
        d for d in range(7) if all(abs(round(v, d) - v) <= 1e-9 * max(1, abs(v)) for v in values)
    )
    return next(exact, 7)


def number(values: Sequence[float]) -> list[str]:
    """Labels with the decimals the finest tick needs, thousands separated: 0.0, 0.5, 1.0."""
    big = max((abs(v) for v in values), default=0.0)
    if big >= 1e6 or 0 < big < 1e-3:
        out = [f"{v:.3g}".replace("e+0", "e").replace("e-0", "e-") for v in values]
    else:
        out = [f"{v + 0.0:,.{_decimals(values)}f}" for v in values]
    return [s.replace("-", "−") for s in out]  # a typographic minus


def percent(values: Sequence[float]) -> list[str]:
    """Labels of shares as percentages: 0.25 -> "25%"."""
    scaled = [100 * v for v in values]
    return [f"{v + 0.0:.{_decimals(scaled)}f}%".replace("-", "−") for v in scaled]


def blues(share: float) -> str:
    """White to dark blue for a share in [0, 1], as matplotlib's "Blues" colour map."""
    at = (min(max(share, 0.0), 1.0) if math.isfinite(share) else 0.0) * (len(_BLUES) - 1)
    i = min(int(at), len(_BLUES) - 2)
    a, b = _BLUES[i], _BLUES[i + 1]
    mix = (
        int(a[k : k + 2], 16) * (i + 1 - at) + int(b[k : k + 2], 16) * (at - i) for k in (1, 3, 5)
    )
    return "#" + "".join(f"{round(c):02x}" for c in mix)


def _width(text: str, size: float) -> float:
    return size * sum(_WIDTHS.get(c, 0.74 if c.isupper() else 0.62) for c in text)


def _text_width(text: str) -> float:
    return _width(text, SIZE)


def _n(value: float) -> str:
    """A coordinate rounded to 0.1 px, as short as it gets."""
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def _rect(x: float, y: float, w: float, h: float, attrs: str) -> str:
    return f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}"{attrs}/>'


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _floats(values: ArrayLike) -> Floats:
    return np.asarray(values, dtype=float).reshape(-1)


def _text(x: float, y: float, text: str, *, size: float = SIZE, anchor: Anchor = "middle",
          color: str = TEXT, rotate: float = 0.0) -> str:  # fmt: skip
    """Text centred vertically on ``y``, one line per "\\n"."""
    lines = text.split("\n")
    top = y - (len(lines) - 1) * 0.6 * size + 0.35 * size
    attrs = f' text-anchor="{anchor}"' * (anchor != "start")
    attrs += f' font-size="{size:g}"' * (size != SIZE) + f' fill="{color}"' * (color != TEXT)
    attrs += f' transform="rotate({rotate:g} {_n(x)} {_n(y)})"' * bool(rotate)
    if len(lines) == 1:
        return f'<text x="{_n(x)}" y="{_n(top)}"{attrs}>{_esc(text)}</text>'
    spans = "".join(
        f'<tspan x="{_n(x)}" y="{_n(top + 1.2 * size * i)}">{_esc(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f"<text{attrs}>{spans}</text>"


# -- lines: thinning and paths ---------------------------------------------------------


def _douglas_peucker(x: Floats, y: Floats, tolerance: float) -> NDArray[np.bool_]:
    """Which points to keep so the line moves by less than ``tolerance`` (both ends kept)."""
    keep = np.zeros(len(x), dtype=bool)
    keep[[0, -1]] = True
    stack = [(0, len(x) - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        px, py, dx, dy = x[a + 1 : b] - x[a], y[a + 1 : b] - y[a], x[b] - x[a], y[b] - y[a]
        length = dx * dx + dy * dy
        t = np.clip((px * dx + py * dy) / length, 0.0, 1.0) if length > 0 else 0.0
        distance = np.hypot(px - t * dx, py - t * dy)  # to the segment a-b
        i = a + 1 + int(np.argmax(distance))
        if distance[i - a - 1] > tolerance:
            keep[i] = True
            stack += [(a, i), (i, b)]
    return keep


def thin(x: Floats, y: Floats, limit: int = MAX_VERTICES) -> tuple[Floats, Floats]:
    """A polyline in pixels with at most about ``limit`` vertices and the same look.

    Points the line passes within a quarter pixel of anyway go (Douglas-Peucker,
    coarser while more than ``limit`` remain), then points closer than 0.5 px to
    the last kept one; the first and last points always stay.
    """
    if len(x) <= 2:
        return x, y
    tolerance = 0.25
    keep = _douglas_peucker(x, y, tolerance)
    while keep.sum() > limit:
        tolerance *= 2
        keep = _douglas_peucker(x, y, tolerance)
    index = np.flatnonzero(keep)
    kept = [int(index[0])]
    for i in index[1:-1]:
        if math.hypot(x[i] - x[kept[-1]], y[i] - y[kept[-1]]) >= 0.5:
            kept.append(int(i))
    kept.append(int(index[-1]))
    return x[kept], y[kept]


def _path(x: Floats, y: Floats, close: bool = False) -> str:
    """Path data: an absolute start, then relative moves between points rounded to 0.1 px."""
    tx, ty = np.round(x * 10).astype(np.int64), np.round(y * 10).astype(np.int64)
    steps = zip(np.diff(tx), np.diff(ty), strict=True)
    moves = " ".join(f"{_n(a / 10)} {_n(b / 10)}" for a, b in steps)
    return f"M{_n(tx[0] / 10)} {_n(ty[0] / 10)}" + f"l{moves}" * bool(moves) + "Z" * close


# -- marks: each a function of the panel's scales --------------------------------------


@dataclass(frozen=True)
class _Scale:
    """Data to pixels along one axis: ``lo`` lands on pixel ``start``, ``hi`` on ``end``."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, values: Floats) -> Floats:
        return self.start + (values - self.lo) * ((self.end - self.start) / (self.hi - self.lo))

    def at(self, value: float) -> float:
        return float(self(np.array([value]))[0])


@dataclass(frozen=True)
class _Mark:
    """Something drawn in a panel: its data extent, its legend entry and how to draw it."""

    draw: Callable[[_Scale, _Scale], str]
    x: Floats = field(default_factory=lambda: np.empty(0))
    y: Floats = field(default_factory=lambda: np.empty(0))
    sticky_x: tuple[float, ...] = ()  # limits that get no margin when the data ends there
    sticky_y: tuple[float, ...] = ()
    label: str | None = None
    symbol: Literal["line", "box", "dot"] = "line"  # in the legend
    color: str = BLUE
    width: float = 1.0
    dash: bool = False
    alpha: float = 1.0
    clip: bool = True  # to the plot area

    def swatch(self, x: float, y: float) -> str:
        opacity = f' fill-opacity="{self.alpha:g}"' * (self.alpha < 1)
        if self.symbol == "box":
            return _rect(x - 8, y - 5, 16, 10, f' fill="{self.color}"{opacity}')
        if self.symbol == "dot":
            return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="4" fill="{self.color}"{opacity}/>'
        return (
            f'<path d="M{_n(x - 10)} {_n(y)}h20" fill="none" stroke="{self.color}" '
            f'stroke-width="{self.width:g}"{_DASH * self.dash}/>'
        )


def _line(x: Floats, y: Floats, color: str, width: float, dash: bool, fill: float,
          sx: _Scale, sy: _Scale) -> str:  # fmt: skip
    """A polyline, or with ``fill`` > 0 a closed area of that opacity."""
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return ""
    px, py = thin(sx(x[ok]), sy(y[ok]))
    if fill:
        style = f' fill="{color}"' + f' fill-opacity="{fill:g}"' * (fill < 1)
    else:
        style = f' fill="none" stroke="{color}" stroke-width="{width:g}" stroke-linejoin="round"'
    return f'<path d="{_path(px, py, close=fill > 0)}"{style}{_DASH * dash}/>'


def _dots(x: Floats, y: Floats, radius: Floats, color: str, alpha: float,
          sx: _Scale, sy: _Scale) -> str:  # fmt: skip
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(radius)
    px, py, r = sx(x[ok]), sy(y[ok]), radius[ok]
    if not len(px):
        return ""
    # dots on one spot (within 0.5 px) become one, a little more opaque: same look, fewer bytes
    spots = np.stack([np.round(px * 2), np.round(py * 2), np.round(r * 10)], axis=1)
    _, first, count = np.unique(spots, axis=0, return_index=True, return_counts=True)
    layers: dict[int, list[str]] = {}
    for i, k in sorted(zip(first.tolist(), count.tolist(), strict=True)):
        dot = f'<circle cx="{_n(px[i])}" cy="{_n(py[i])}" r="{_n(r[i])}"/>'
        layers.setdefault(k, []).append(dot)
    groups = (
        f'<g fill-opacity="{1 - (1 - alpha) ** k:.2g}">{"".join(d)}</g>'
        if alpha < 1
        else "".join(d)
        for k, d in sorted(layers.items())
    )
    return f'<g fill="{color}">{"".join(groups)}</g>'


def _rects(x0: Floats, x1: Floats, y0: Floats, y1: Floats, colors: Sequence[str],
           sx: _Scale, sy: _Scale) -> str:  # fmt: skip
    out = []
    for a, b, c, d, color in zip(sx(x0), sx(x1), sy(y0), sy(y1), colors, strict=True):
        if all(map(math.isfinite, (a, b, c, d))):
            (left, right), (top, bottom) = sorted((a, b)), sorted((c, d))
            out.append(_rect(left, top, right - left, bottom - top, f' fill="{color}"'))
    return f'<g shape-rendering="crispEdges">{"".join(out)}</g>'


def _rule(value: float, vertical: bool, color: str, dash: bool, sx: _Scale, sy: _Scale) -> str:
    if not math.isfinite(value):
        return ""
    if vertical:
        d = f"M{_n(sx.at(value))} {_n(min(sy.start, sy.end))}V{_n(max(sy.start, sy.end))}"
    else:
        d = f"M{_n(min(sx.start, sx.end))} {_n(sy.at(value))}H{_n(max(sx.start, sx.end))}"
    return f'<path d="{d}" stroke="{color}"{_DASH * dash}/>'


def _cells(values: Floats, texts: Sequence[Sequence[str]], cmap: Callable[[float], str],
           size: float, sx: _Scale, sy: _Scale) -> str:  # fmt: skip
    w, h = abs(sx.at(1) - sx.at(0)), abs(sy.at(1) - sy.at(0))
    out = []
    for (i, j), value in np.ndenumerate(values):
        x, y, text = sx.at(j), sy.at(i), texts[i][j]
        lines = text.split("\n")
        widest = max(max(_width(line, 1.0) for line in lines), 1e-9)
        fit = min(size, 0.8 * h / (1.2 * len(lines)), 0.9 * w / widest)  # shrunk to fit
        out.append(_rect(x - w / 2, y - h / 2, w, h, f' fill="{cmap(float(value))}"'))
        out.append(_text(x, y, text, size=round(fit, 1), color="#fff" if value > 0.55 else TEXT))
    return f'<g shape-rendering="crispEdges">{"".join(out)}</g>'


def _note(x: float, y: float, text: str, anchor: Anchor, color: str, box: bool,
          sx: _Scale, sy: _Scale) -> str:  # fmt: skip
    px, py = sx.at(x), sy.at(y)
    if not (math.isfinite(px) and math.isfinite(py)):
        return ""
    w, h = _width(text, SMALL) + 6, 1.5 * SMALL
    left = {"start": px - 3, "middle": px - w / 2, "end": px - w + 3}[anchor]
    background = _rect(left, py - h / 2, w, h, ' fill="#fff" fill-opacity="0.9"') * box
    return background + _text(px, py, text, size=SMALL, anchor=anchor, color=color)


# -- panels and charts -----------------------------------------------------------------


@dataclass(frozen=True)
class ColorBar:
    """A colour scale beside a panel: ``cmap`` maps values from ``lo`` to ``hi``."""

    label: str
    cmap: Callable[[float], str] = blues
    lo: float = 0.0
    hi: float = 1.0
    format: Formatter = number


class Panel:
    """One plot area: linear scales, ticks, grid, labels, legend and the marks drawn in it.

    Limits not given fit the data with a 5% margin (none where bars or a filled
    area rest on zero). ``xticks``/``yticks`` replace the nice ticks by labelled
    positions; an empty sequence shows none (and no grid line). Colours not
    given follow ``PALETTE``. Each drawing method returns the panel.
    """

    def __init__(self, *, xlabel: str = "", ylabel: str = "", title: str = "", note: str = "",
                 note_color: str = RED, xlim: tuple[float, float] | None = None,
                 ylim: tuple[float, float] | None = None, xformat: Formatter = number,
                 yformat: Formatter = number, xticks: Ticks | None = None,
                 yticks: Ticks | None = None, grid: Literal["both", "x", "y", "none"] = "both",
                 invert_y: bool = False, rotate_xticks: bool = False, legend: Legend | None = None,
                 colorbar: ColorBar | None = None) -> None:  # fmt: skip
        self.xlabel, self.ylabel, self.title, self.note = xlabel, ylabel, title, note
        self.note_color, self.xlim, self.ylim = note_color, xlim, ylim
        self.xformat, self.yformat, self.xticks, self.yticks = xformat, yformat, xticks, yticks
        self.grid, self.invert_y, self.rotate_xticks = grid, invert_y, rotate_xticks
        self.legend, self.colorbar = legend, colorbar
        self.marks: list[_Mark] = []
        self._cycle = 0

    def _color(self, color: str | None) -> str:
        if color is None:
            color, self._cycle = PALETTE[self._cycle % len(PALETTE)], self._cycle + 1
        return color

    def _add(self, mark: _Mark) -> Panel:
        self.marks.append(mark)
        return self

    def line(self, x: ArrayLike, y: ArrayLike, *, color: str | None = None, width: float = 1.6,
             dash: bool = False, label: str | None = None) -> Panel:  # fmt: skip
        xs, ys, c = _floats(x), _floats(y), self._color(color)
        draw = partial(_line, xs, ys, c, width, dash, 0.0)
        return self._add(_Mark(draw, xs, ys, label=label, color=c, width=width, dash=dash))

    def step(self, x: ArrayLike, y: ArrayLike, *, color: str | None = None,
             label: str | None = None) -> Panel:  # fmt: skip
        """A step line: each y holds until the next x (matplotlib's ``where="post"``)."""
        xs, ys = _floats(x), _floats(y)
        ok = np.isfinite(xs) & np.isfinite(ys)
        return self.line(np.repeat(xs[ok], 2)[1:], np.repeat(ys[ok], 2)[:-1], color=color,
                         label=label)  # fmt: skip

    def stairs(self, values: ArrayLike, edges: ArrayLike, *, fill: bool = False, alpha: float = 1.0,
               color: str | None = None, label: str | None = None) -> Panel:  # fmt: skip
        """Values between ``edges`` as steps, down to zero at both ends; or a filled area."""
        v, e, c = _floats(values), _floats(edges), self._color(color)
        if len(e) != len(v) + 1 or not len(v):
            return self
        x = np.repeat(e, 2)
        y = np.concatenate([[0.0], np.repeat(np.where(np.isfinite(v), v, 0.0), 2), [0.0]])
        draw = partial(_line, x, y, c, 1.6, False, alpha if fill else 0.0)
        symbol: Literal["box", "line"] = "box" if fill else "line"
        return self._add(_Mark(draw, x, y, sticky_y=(0.0,), label=label, symbol=symbol, color=c,
                               width=1.6, alpha=alpha))  # fmt: skip

    def scatter(self, x: ArrayLike, y: ArrayLike, *, radius: float | ArrayLike = 2.0,
                color: str | None = None, alpha: float = 1.0, label: str | None = None,
                clip: bool = True) -> Panel:  # fmt: skip
        """Dots of ``radius`` px (one for all or one each); unclipped they may cross the axes."""
        xs, ys, c = _floats(x), _floats(y), self._color(color)
        r = np.broadcast_to(np.asarray(radius, dtype=float), xs.shape).astype(float)
        draw = partial(_dots, xs, ys, r, c, alpha)
        return self._add(_Mark(draw, xs, ys, label=label, symbol="dot", color=c, alpha=alpha,
                               clip=clip))  # fmt: skip

    def hbar(self, positions: ArrayLike, values: ArrayLike, *, height: float = 0.8,
             color: str | Sequence[str] | None = None,
             label: str | None = None) -> Panel:  # fmt: skip
        """Horizontal bars from zero to each value, centred on their y position; one colour each."""
        p, v = _floats(positions), _floats(values)
        if color is None or isinstance(color, str):
            colors = [self._color(color)] * len(v)
        else:
            colors = list(color)
        zero, low, high = np.zeros(len(v)), p - height / 2, p + height / 2
        draw = partial(_rects, zero, v, low, high, colors)
        x, y = np.concatenate([zero, v]), np.concatenate([low, high])
        return self._add(_Mark(draw, x, y, sticky_x=(0.0,), label=label, symbol="box",
                               color=colors[0] if colors else GREY))  # fmt: skip

    def histogram(self, edges: ArrayLike, counts: ArrayLike, *, horizontal: bool = False,
                  color: str = GREY) -> Panel:  # fmt: skip
        """Bars over bins from zero to each count, along y when ``horizontal``."""
        e, c = _floats(edges), _floats(counts)
        zero, colors, span = np.zeros(len(c)), [color] * len(c), np.append(c, 0.0)
        if horizontal:
            draw = partial(_rects, zero, c, e[:-1], e[1:], colors)
            return self._add(_Mark(draw, span, e, sticky_x=(0.0,)))
        draw = partial(_rects, e[:-1], e[1:], zero, c, colors)
        return self._add(_Mark(draw, e, span, sticky_y=(0.0,)))

    def hline(self, y: float, *, color: str = GUIDE, dash: bool = True,
              label: str | None = None) -> Panel:  # fmt: skip
        """A reference line across the panel at ``y`` (1 px, dashed unless told)."""
        draw = partial(_rule, float(y), False, color, dash)
        return self._add(_Mark(draw, y=_floats(y), label=label, color=color, dash=dash))

    def vline(self, x: float, *, color: str = GUIDE, dash: bool = True,
              label: str | None = None) -> Panel:  # fmt: skip
        draw = partial(_rule, float(x), True, color, dash)
        return self._add(_Mark(draw, x=_floats(x), label=label, color=color, dash=dash))

    def heatmap(self, values: ArrayLike, texts: Sequence[Sequence[str]], *,
                cmap: Callable[[float], str] = blues, size: float = SIZE) -> Panel:  # fmt: skip
        """Cells coloured by value (row i at y = i, column j at x = j), with text that fits."""
        grid = np.atleast_2d(np.asarray(values, dtype=float))
        xs, ys = np.array([-0.5, grid.shape[1] - 0.5]), np.array([-0.5, grid.shape[0] - 0.5])
        draw = partial(_cells, grid, [[str(t) for t in row] for row in texts], cmap, size)
        return self._add(_Mark(draw, xs, ys, tuple(xs), tuple(ys)))

    def text(self, x: float, y: float, text: str, *, anchor: Anchor = "end", color: str = TEXT,
             box: bool = False) -> Panel:  # fmt: skip
        """A note at (x, y), on a white box with ``box``."""
        return self._add(_Mark(partial(_note, float(x), float(y), text, anchor, color, box)))

    # -- layout

    def _range(self, axis: Literal["x", "y"]) -> tuple[float, float] | None:
        """The limits given, else the data's with margins; None when nothing sets them."""
        limits = self.xlim if axis == "x" else self.ylim
        if limits is not None:
            return float(limits[0]), float(limits[1])
        values = np.concatenate([np.empty(0), *(getattr(m, axis) for m in self.marks)])
        values = values[np.isfinite(values)]
        if not len(values):
            return None
        lo, hi = float(values.min()), float(values.max())
        if lo == hi:
            return lo - (0.05 * abs(lo) or 0.5), hi + (0.05 * abs(hi) or 0.5)
        sticky = {s for m in self.marks for s in getattr(m, f"sticky_{axis}")}
        pad = 0.05 * (hi - lo)
        return lo - pad * (lo not in sticky), hi + pad * (hi not in sticky)

    def _ticks(self, axis: Literal["x", "y"], lo: float, hi: float, length: float) -> Ticks:
        given = self.xticks if axis == "x" else self.yticks
        if given is not None:
            low, high = min(lo, hi) - 1e-9, max(lo, hi) + 1e-9
            return [(float(p), str(s)) for p, s in given if low <= p <= high]
        fmt = self.xformat if axis == "x" else self.yformat
        # as matplotlib: at most 9 intervals, one per 3 (x) or 2 (y) font sizes; x labels apart
        count = min(max(int(length / ((3 if axis == "x" else 2) * SIZE)), 1), 9)
        while True:
            values = ticks(lo, hi, count)
            labels = fmt(values)
            if axis == "y" or count == 1 or len(values) < 2:
                break
            if length * (values[1] - values[0]) / (hi - lo) > max(map(_text_width, labels)) + 12:
                break
            count -= 1
        return list(zip(values, labels, strict=True))

    def _legend(self, room: float) -> tuple[float, float, list[tuple[float, float]]]:
        """Width, height and each entry's place from the legend's top left; "top" wraps."""
        widths = [_width(m.label, SMALL) for m in self.marks if m.label]
        if not widths or self.legend is None:
            return 0.0, 0.0, []
        if self.legend != "top":
            spots = [(0.0, 3 + _ROW * (i + 0.5)) for i in range(len(widths))]
            return max(widths) + 34, len(widths) * _ROW + 6, spots
        spots, x, y = [], 0.0, _ROW / 2
        for w in widths:
            x, y = (0.0, y + _ROW) if x and x + w + 44 > room else (x, y)
            spots.append((x, y))
            x += w + 44
        return room, y + _ROW / 2 + 4, spots

    def _margins(self, xt: Ticks, yt: Ticks, show: tuple[bool, bool], room: float) -> list[float]:
        """Room for labels around the plot area: left, right, top, bottom."""
        left = 4 + (_TICK + 4 + max(map(_text_width, (s for _, s in yt)), default=0)) * show[1]
        left += (SIZE + 8) * bool(self.ylabel)
        bottom = _TICK + 8 + self._xtick_depth(xt) if show[0] and xt else 6.0
        bottom += (SIZE + 6) * bool(self.xlabel)
        legend_w, legend_h, _ = self._legend(room)
        top = 8 + (SIZE + 8) * bool(self.title or self.note) + legend_h * (self.legend == "top")
        right = 8 + (max(_text_width(xt[-1][1]) / 2 - 4, 0) if show[0] and xt else 0)
        right += (legend_w + 10) * (self.legend == "right")
        if (bar := self.colorbar) is not None:
            labels = bar.format(ticks(bar.lo, bar.hi))
            right = 38 + _TICK + max(map(_text_width, labels)) + SIZE
        return [left, right, top, bottom]

    def _xtick_depth(self, xt: Ticks) -> float:
        if not self.rotate_xticks:
            return SIZE
        return 0.71 * (max(map(_text_width, (s for _, s in xt)), default=0) + SIZE)

    def _draw(self, sx: _Scale, sy: _Scale, xt: Ticks, yt: Ticks, show: tuple[bool, bool],
              label_x: float, room: float) -> str:  # fmt: skip
        x0, x1, w = sx.start, sx.end, sx.end - sx.start
        y0, y1 = min(sy.start, sy.end), max(sy.start, sy.end)
        lines = [f"M{_n(sx.at(v))} {_n(y0)}V{_n(y1)}" for v, _ in xt if self.grid in ("both", "x")]
        lines += [f"M{_n(x0)} {_n(sy.at(v))}H{_n(x1)}" for v, _ in yt if self.grid in ("both", "y")]
        out = [f'<path d="{"".join(lines)}" stroke="{GRID}"/>' * bool(lines)]
        out.append(
            f'<svg x="{_n(x0)}" y="{_n(y0)}" width="{_n(w)}" height="{_n(y1 - y0)}" '
            f'viewBox="{_n(x0)} {_n(y0)} {_n(w)} {_n(y1 - y0)}" overflow="hidden">'
            + "".join(m.draw(sx, sy) for m in self.marks if m.clip)
            + "</svg>"
        )
        out += [m.draw(sx, sy) for m in self.marks if not m.clip]
        axes = [f"M{_n(x0)} {_n(y0)}V{_n(y1)}H{_n(x1)}"]
        axes += [f"M{_n(sx.at(v))} {_n(y1)}v{_TICK:g}" for v, _ in xt]
        axes += [f"M{_n(x0)} {_n(sy.at(v))}h-{_TICK:g}" for v, _ in yt]
        out.append(f'<path d="{"".join(axes)}" stroke="{AXIS}" fill="none"/>')
        at = y1 + _TICK + 4
        for v, s in xt if show[0] else ():
            if self.rotate_xticks:
                out.append(_text(sx.at(v), at + 2, s, anchor="end", color=MUTED, rotate=-45))
            else:
                out.append(_text(sx.at(v), at + SIZE / 2, s, color=MUTED))
        for v, s in yt if show[1] else ():
            out.append(_text(x0 - _TICK - 4, sy.at(v), s, anchor="end", color=MUTED))
        if self.xlabel:
            below = at + 6 + (self._xtick_depth(xt) if xt and show[0] else 0)
            out.append(_text((x0 + x1) / 2, below + SIZE / 2, self.xlabel))
        if self.ylabel:
            out.append(_text(label_x + SIZE / 2, (y0 + y1) / 2, self.ylabel, rotate=-90))
        if self.title:
            out.append(_text(x0, y0 - 8 - SIZE / 2, self.title, anchor="start"))
        if self.note:
            out.append(_text(x1, y0 - 8 - SIZE / 2, self.note, anchor="end", size=SMALL,
                             color=self.note_color))  # fmt: skip
        if self.colorbar is not None:
            out.append(_colorbar(self.colorbar, x1 + 16, y0 + 0.1 * (y1 - y0), 0.8 * (y1 - y0)))
        return "".join(out) + self._legend_svg(x0, y0, w, y1 - y0, room)

    def _legend_svg(self, x0: float, y0: float, w: float, h: float, room: float) -> str:
        width, height, spots = self._legend(room)
        if not spots or self.legend is None:
            return ""
        if self.legend == "top":  # in rows above the plot area and its note
            left, top = x0 - 4, y0 - 8 - (SIZE + 8) * bool(self.title or self.note) - height
        elif self.legend == "right":
            left, top = x0 + w + 10, y0 + (h - height) / 2
        else:
            left = x0 + 6 if self.legend.endswith("left") else x0 + w - width - 6
            top = y0 + 6 if self.legend.startswith("upper") else y0 + h - height - 6
        entries = (m for m in self.marks if m.label)
        background = ' fill="#fff" fill-opacity="0.85"'
        return _rect(left, top, width, height, background) * (self.legend != "top") + "".join(
            m.swatch(left + x + 14, top + y)
            + _text(left + x + 30, top + y, m.label or "", size=SMALL, anchor="start")
            for m, (x, y) in zip(entries, spots, strict=True)
        )


def _colorbar(bar: ColorBar, x: float, y: float, h: float) -> str:
    """The colour scale in 32 bands (no gradient: a gradient needs a page-wide id), ticks right."""
    bands = "".join(
        _rect(
            x,
            y + h * (31 - i) / 32,
            12,
            h / 32 + 0.3,
            f' fill="{bar.cmap(bar.lo + (i + 0.5) / 32 * (bar.hi - bar.lo))}"',
        )
        for i in range(32)
    )
    sy = _Scale(bar.lo, bar.hi, y + h, y)
    values = ticks(bar.lo, bar.hi)
    labels = bar.format(values)
    marks = "".join(f"M{_n(x + 12)} {_n(sy.at(v))}h{_TICK:g}" for v in values)
    label_x = x + 26 + _TICK + max(map(_text_width, labels)) + SIZE / 2
    return (
        f'<g shape-rendering="crispEdges">{bands}</g>'
        + _rect(x, y, 12, h, f' fill="none" stroke="{AXIS}" stroke-width="0.5"')
        + f'<path d="{marks}" stroke="{AXIS}"/>'
        + "".join(
            _text(x + 16 + _TICK, sy.at(v), s, anchor="start", color=MUTED)
            for v, s in zip(values, labels, strict=True)
        )
        + _text(label_x, y + h / 2, bar.label, rotate=-90)
    )


class Chart:
    """Panels in a grid of ``rows`` x ``columns`` (relative sizes), drawn as one ``<svg>``.

    Panels fill the grid row by row. ``sharex`` gives each column one x range
    and labels the ticks of its bottom panel only; ``sharey`` gives each row one
    y range, its ticks labelled on the left panel only. Sizes are in px; the
    ``<svg>`` scales down to its container's width.
    """

    WIDE = 630  # px: a wider chart spans the page's figure grid

    def __init__(self, *, width: float = 540, height: float = 387, rows: Sequence[float] = (1,),
                 columns: Sequence[float] = (1,), sharex: bool = False,
                 sharey: bool = False) -> None:  # fmt: skip
        self.width, self.height, self.rows, self.columns = width, height, rows, columns
        self.sharex, self.sharey = sharex, sharey
        self.panels: list[Panel] = []

    @property
    def wide(self) -> bool:
        return self.width > self.WIDE

    def add(self, panel: Panel) -> Panel:
        room = len(self.rows) * len(self.columns)
        if len(self.panels) == room:
            raise ValueError(f"this chart has room for {room} panel(s); give it more rows/columns")
        self.panels.append(panel)
        return panel

    def _limits(self, places: list[tuple[int, int]]) -> list[list[tuple[float, float]]]:
        """Each panel's x and y range; shared axes take a limit given, else the union."""
        own = [(p._range("x"), p._range("y")) for p in self.panels]
        out = []
        for k, place in enumerate(places):
            pair = []
            for axis, share in ((0, self.sharex), (1, self.sharey)):
                group = [j for j, pl in enumerate(places) if pl[1 - axis] == place[1 - axis]]
                group = group if share else [k]
                given = [(p.xlim, p.ylim)[axis] for p in (self.panels[j] for j in group)]
                found = [r for j in group if (r := own[j][axis]) is not None]
                union = (min(r[0] for r in found), max(r[1] for r in found)) if found else (0, 1)
                pair.append(next((g for g in given if g is not None), union))
            out.append(pair)
        return out

    def svg(self, label: str = "") -> str:
        """The chart as an ``<svg>`` element labelled ``label`` for screen readers."""
        n_rows, n_cols = len(self.rows), len(self.columns)
        places = [(i // n_cols, i % n_cols) for i in range(len(self.panels))]
        limits = self._limits(places)
        last = max((r for r, _ in places), default=0)
        shows = [(not self.sharex or r == last, not self.sharey or c == 0) for r, c in places]
        inner_w, inner_h = self.width - 2 * _PAD, self.height - 2 * _PAD
        widths = [inner_w * c / sum(self.columns) - 60 for c in self.columns]
        heights = [inner_h * r / sum(self.rows) - 50 for r in self.rows]
        for _ in range(2):  # ticks depend on the plot size, the plot size on the tick labels
            axes = [
                (p._ticks("x", *xr, widths[c]), p._ticks("y", *yr, heights[r]))
                for p, (r, c), (xr, yr) in zip(self.panels, places, limits, strict=True)
            ]
            margins = [
                p._margins(xt, yt, show, inner_w)
                for p, (xt, yt), show in zip(self.panels, axes, shows, strict=True)
            ]
            sides = [
                [max((m[side] for m, pl in zip(margins, places, strict=True) if pl[by] == i),
                     default=0.0)
                 for i in range(n_rows if by == 0 else n_cols)]
                for side, by in ((0, 1), (1, 1), (2, 0), (3, 0))
            ]  # fmt: skip
            left, right, top, bottom = sides
            free_w = max(inner_w - sum(left) - sum(right), 20.0)
            free_h = max(inner_h - sum(top) - sum(bottom), 20.0)
            widths = [free_w * c / sum(self.columns) for c in self.columns]
            heights = [free_h * r / sum(self.rows) for r in self.rows]
        xs = [_PAD + sum(left[: c + 1]) + sum(right[:c]) + sum(widths[:c]) for c in range(n_cols)]
        ys = [_PAD + sum(top[: r + 1]) + sum(bottom[:r]) + sum(heights[:r]) for r in range(n_rows)]
        body = []
        for p, (r, c), (xr, yr), (xt, yt), show in zip(
            self.panels, places, limits, axes, shows, strict=True
        ):
            y0, y1 = ys[r], ys[r] + heights[r]
            sx = _Scale(*xr, xs[c], xs[c] + widths[c])
            sy = _Scale(*yr, *((y0, y1) if p.invert_y else (y1, y0)))
            body.append(p._draw(sx, sy, xt, yt, show, xs[c] - left[c], inner_w))
        return (
            f'<svg viewBox="0 0 {self.width:g} {self.height:g}" width="100%" '
            f'style="max-width:{self.width:g}px" role="img" aria-label="{_esc(label)}" '
            f'font-family="{_esc(FONT)}" font-size="{SIZE:g}" fill="{TEXT}">{"".join(body)}</svg>'
        )
