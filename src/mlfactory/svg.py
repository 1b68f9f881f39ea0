"""SVG drawing primitives in pixel space, for the charts of ``mlfactory.charts``.

The house style's colours (``PALETTE``, ``blues``), font and sizes; nice tick
values (``ticks``) and their labels (``number``, ``percent``); text measured
generously and written as ``<text>`` with every string escaped; coordinates
rounded to 0.1 px (``px``); long polylines thinned (``thin``, Douglas-Peucker)
and written as compact path data; ``Scale``, data to pixels along one axis; and
the marks a panel draws, each a ``Mark`` whose ``draw`` is one of the
``draw_*`` renderers given the panel's two scales. Only numpy is needed.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["AXIS", "BLUE", "FONT", "GREY", "GRID", "GUIDE", "MAX_VERTICES", "MUTED", "PALETTE",
           "RED", "SIZE", "SMALL", "TEXT", "Anchor", "Floats", "Formatter", "Mark", "Scale",
           "as_floats", "blues", "draw_cells", "draw_dots", "draw_line", "draw_note",
           "draw_rects", "draw_rule", "escape", "number", "percent", "px", "rect",
           "text_element", "text_width", "thin", "ticks"]  # fmt: skip

Floats = NDArray[np.float64]
Formatter = Callable[[Sequence[float]], list[str]]  # tick values -> their labels
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


def text_width(text: str, size: float = SIZE) -> float:
    """The width in px of one line of ``text`` at font ``size`` (generous: see ``_WIDTHS``)."""
    return size * sum(_WIDTHS.get(c, 0.74 if c.isupper() else 0.62) for c in text)


def px(value: float) -> str:
    """A coordinate rounded to 0.1 px, as short as it gets."""
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def rect(x: float, y: float, w: float, h: float, attrs: str) -> str:
    """A ``<rect>`` at (x, y) px of size w x h, with ``attrs`` (each with a leading space)."""
    return f'<rect x="{px(x)}" y="{px(y)}" width="{px(w)}" height="{px(h)}"{attrs}/>'


def escape(value: object) -> str:
    """``value`` as text safe in SVG content and in a quoted attribute."""
    return html.escape(str(value), quote=True)


def as_floats(values: ArrayLike) -> Floats:
    """Any numbers (a scalar too) as a flat float array."""
    return np.asarray(values, dtype=float).reshape(-1)


def text_element(x: float, y: float, text: str, *, size: float = SIZE,
                 anchor: Anchor = "middle", color: str = TEXT,
                 rotate: float = 0.0) -> str:  # fmt: skip
    """Text centred vertically on ``y``, one line per "\\n"."""
    lines = text.split("\n")
    top = y - (len(lines) - 1) * 0.6 * size + 0.35 * size
    attrs = f' text-anchor="{anchor}"' * (anchor != "start")
    attrs += f' font-size="{size:g}"' * (size != SIZE) + f' fill="{color}"' * (color != TEXT)
    attrs += f' transform="rotate({rotate:g} {px(x)} {px(y)})"' * bool(rotate)
    if len(lines) == 1:
        return f'<text x="{px(x)}" y="{px(top)}"{attrs}>{escape(text)}</text>'
    spans = "".join(
        f'<tspan x="{px(x)}" y="{px(top + 1.2 * size * i)}">{escape(line)}</tspan>'
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
        ox, oy, dx, dy = x[a + 1 : b] - x[a], y[a + 1 : b] - y[a], x[b] - x[a], y[b] - y[a]
        length = dx * dx + dy * dy
        t = np.clip((ox * dx + oy * dy) / length, 0.0, 1.0) if length > 0 else 0.0
        distance = np.hypot(ox - t * dx, oy - t * dy)  # to the segment a-b
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
    moves = " ".join(f"{px(a / 10)} {px(b / 10)}" for a, b in steps)
    return f"M{px(tx[0] / 10)} {px(ty[0] / 10)}" + f"l{moves}" * bool(moves) + "Z" * close


# -- marks: each a function of the panel's scales --------------------------------------


@dataclass(frozen=True)
class Scale:
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
class Mark:
    """Something drawn in a panel: its data extent, its legend entry and how to draw it."""

    draw: Callable[[Scale, Scale], str]
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
            return rect(x - 8, y - 5, 16, 10, f' fill="{self.color}"{opacity}')
        if self.symbol == "dot":
            return f'<circle cx="{px(x)}" cy="{px(y)}" r="4" fill="{self.color}"{opacity}/>'
        return (
            f'<path d="M{px(x - 10)} {px(y)}h20" fill="none" stroke="{self.color}" '
            f'stroke-width="{self.width:g}"{_DASH * self.dash}/>'
        )


def draw_line(x: Floats, y: Floats, color: str, width: float, dash: bool, fill: float,
              sx: Scale, sy: Scale) -> str:  # fmt: skip
    """A polyline, or with ``fill`` > 0 a closed area of that opacity."""
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return ""
    xs, ys = thin(sx(x[ok]), sy(y[ok]))
    if fill:
        style = f' fill="{color}"' + f' fill-opacity="{fill:g}"' * (fill < 1)
    else:
        style = f' fill="none" stroke="{color}" stroke-width="{width:g}" stroke-linejoin="round"'
    return f'<path d="{_path(xs, ys, close=fill > 0)}"{style}{_DASH * dash}/>'


def draw_dots(x: Floats, y: Floats, radius: Floats, color: str, alpha: float,
              sx: Scale, sy: Scale) -> str:  # fmt: skip
    """Circles of ``radius`` px each; with ``alpha`` < 1 see-through, denser where they pile."""
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(radius)
    cx, cy, r = sx(x[ok]), sy(y[ok]), radius[ok]
    if not len(cx):
        return ""
    # dots on one spot (within 0.5 px) become one, a little more opaque: same look, fewer bytes
    spots = np.stack([np.round(cx * 2), np.round(cy * 2), np.round(r * 10)], axis=1)
    _, first, count = np.unique(spots, axis=0, return_index=True, return_counts=True)
    layers: dict[int, list[str]] = {}
    for i, k in sorted(zip(first.tolist(), count.tolist(), strict=True)):
        dot = f'<circle cx="{px(cx[i])}" cy="{px(cy[i])}" r="{px(r[i])}"/>'
        layers.setdefault(k, []).append(dot)
    groups = (
        f'<g fill-opacity="{1 - (1 - alpha) ** k:.2g}">{"".join(d)}</g>'
        if alpha < 1
        else "".join(d)
        for k, d in sorted(layers.items())
    )
    return f'<g fill="{color}">{"".join(groups)}</g>'


def draw_rects(x0: Floats, x1: Floats, y0: Floats, y1: Floats, colors: Sequence[str],
               sx: Scale, sy: Scale) -> str:  # fmt: skip
    """Rectangles from (x0, y0) to (x1, y1), one colour each; non-finite ones skipped."""
    out = []
    for a, b, c, d, color in zip(sx(x0), sx(x1), sy(y0), sy(y1), colors, strict=True):
        if all(map(math.isfinite, (a, b, c, d))):
            (left, right), (top, bottom) = sorted((a, b)), sorted((c, d))
            out.append(rect(left, top, right - left, bottom - top, f' fill="{color}"'))
    return f'<g shape-rendering="crispEdges">{"".join(out)}</g>'


def draw_rule(value: float, vertical: bool, color: str, dash: bool, sx: Scale, sy: Scale) -> str:
    """A line across the whole plot area at ``value``: of x when ``vertical``, else of y."""
    if not math.isfinite(value):
        return ""
    if vertical:
        d = f"M{px(sx.at(value))} {px(min(sy.start, sy.end))}V{px(max(sy.start, sy.end))}"
    else:
        d = f"M{px(min(sx.start, sx.end))} {px(sy.at(value))}H{px(max(sx.start, sx.end))}"
    return f'<path d="{d}" stroke="{color}"{_DASH * dash}/>'


def draw_cells(values: Floats, texts: Sequence[Sequence[str]], cmap: Callable[[float], str],
               size: float, sx: Scale, sy: Scale) -> str:  # fmt: skip
    """Heatmap cells (row i at y = i, column j at x = j) coloured by ``cmap``, text that fits."""
    w, h = abs(sx.at(1) - sx.at(0)), abs(sy.at(1) - sy.at(0))
    out = []
    for (i, j), value in np.ndenumerate(values):
        x, y, text = sx.at(j), sy.at(i), texts[i][j]
        lines = text.split("\n")
        widest = max(max(text_width(line, 1.0) for line in lines), 1e-9)
        fit = min(size, 0.8 * h / (1.2 * len(lines)), 0.9 * w / widest)  # shrunk to fit
        out.append(rect(x - w / 2, y - h / 2, w, h, f' fill="{cmap(float(value))}"'))
        color = "#fff" if value > 0.55 else TEXT
        out.append(text_element(x, y, text, size=round(fit, 1), color=color))
    return f'<g shape-rendering="crispEdges">{"".join(out)}</g>'


def draw_note(x: float, y: float, text: str, anchor: Anchor, color: str, box: bool,
              sx: Scale, sy: Scale) -> str:  # fmt: skip
    """Small text at data point (x, y), on a white box with ``box``; skipped off the scales."""
    at_x, at_y = sx.at(x), sy.at(y)
    if not (math.isfinite(at_x) and math.isfinite(at_y)):
        return ""
    w, h = text_width(text, SMALL) + 6, 1.5 * SMALL
    left = {"start": at_x - 3, "middle": at_x - w / 2, "end": at_x - w + 3}[anchor]
    background = rect(left, at_y - h / 2, w, h, ' fill="#fff" fill-opacity="0.9"') * box
    return background + text_element(at_x, at_y, text, size=SMALL, anchor=anchor, color=color)
