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

The drawing primitives in pixel space (colours, ticks and labels, text, paths,
scales and marks) are in ``mlfactory.svg``; this module lays out panels and charts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from mlfactory.svg import (
    AXIS,
    BLUE,
    FONT,
    GREY,
    GRID,
    GUIDE,
    MUTED,
    PALETTE,
    RED,
    SIZE,
    SMALL,
    TEXT,
    Anchor,
    Formatter,
    Mark,
    Scale,
    as_floats,
    blues,
    draw_cells,
    draw_dots,
    draw_line,
    draw_note,
    draw_rects,
    draw_rule,
    escape,
    number,
    percent,
    px,
    rect,
    text_element,
    text_width,
    thin,
    ticks,
)

__all__ = ["BLUE", "GREY", "GUIDE", "PALETTE", "RED", "Chart", "ColorBar", "Panel", "blues",
           "number", "percent", "thin", "ticks"]  # fmt: skip

Ticks = Sequence[tuple[float, str]]  # explicit ticks: position, label
Legend = Literal["upper left", "upper right", "lower left", "lower right", "right", "top"]

_PAD, _TICK, _ROW = 4.0, 4.0, 16.0  # outer padding, tick length, legend row height


def _widened(lo: float, hi: float) -> tuple[float, float]:
    """A range around one value, so it has a width: 5% either side, or 0.5 around zero."""
    return lo - (0.05 * abs(lo) or 0.5), hi + (0.05 * abs(hi) or 0.5)


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
        self.marks: list[Mark] = []
        self._cycle = 0

    def _color(self, color: str | None) -> str:
        if color is None:
            color, self._cycle = PALETTE[self._cycle % len(PALETTE)], self._cycle + 1
        return color

    def _add(self, mark: Mark) -> Panel:
        self.marks.append(mark)
        return self

    def line(self, x: ArrayLike, y: ArrayLike, *, color: str | None = None, width: float = 1.6,
             dash: bool = False, label: str | None = None) -> Panel:  # fmt: skip
        xs, ys, c = as_floats(x), as_floats(y), self._color(color)
        draw = partial(draw_line, xs, ys, c, width, dash, 0.0)
        return self._add(Mark(draw, xs, ys, label=label, color=c, width=width, dash=dash))

    def step(self, x: ArrayLike, y: ArrayLike, *, color: str | None = None,
             label: str | None = None) -> Panel:  # fmt: skip
        """A step line: each y holds until the next x (matplotlib's ``where="post"``)."""
        xs, ys = as_floats(x), as_floats(y)
        ok = np.isfinite(xs) & np.isfinite(ys)
        return self.line(np.repeat(xs[ok], 2)[1:], np.repeat(ys[ok], 2)[:-1], color=color,
                         label=label)  # fmt: skip

    def stairs(self, values: ArrayLike, edges: ArrayLike, *, fill: bool = False, alpha: float = 1.0,
               color: str | None = None, label: str | None = None) -> Panel:  # fmt: skip
        """Values between ``edges`` as steps, down to zero at both ends; or a filled area."""
        v, e, c = as_floats(values), as_floats(edges), self._color(color)
        if len(e) != len(v) + 1 or not len(v):
            return self
        x = np.repeat(e, 2)
        y = np.concatenate([[0.0], np.repeat(np.where(np.isfinite(v), v, 0.0), 2), [0.0]])
        draw = partial(draw_line, x, y, c, 1.6, False, alpha if fill else 0.0)
        symbol: Literal["box", "line"] = "box" if fill else "line"
        return self._add(Mark(draw, x, y, sticky_y=(0.0,), label=label, symbol=symbol, color=c,
                              width=1.6, alpha=alpha))  # fmt: skip

    def scatter(self, x: ArrayLike, y: ArrayLike, *, radius: float | ArrayLike = 2.0,
                color: str | None = None, alpha: float = 1.0, label: str | None = None,
                clip: bool = True) -> Panel:  # fmt: skip
        """Dots of ``radius`` px (one for all or one each); unclipped they may cross the axes."""
        xs, ys, c = as_floats(x), as_floats(y), self._color(color)
        r = np.broadcast_to(np.asarray(radius, dtype=float), xs.shape).astype(float)
        draw = partial(draw_dots, xs, ys, r, c, alpha)
        return self._add(Mark(draw, xs, ys, label=label, symbol="dot", color=c, alpha=alpha,
                              clip=clip))  # fmt: skip

    def hbar(self, positions: ArrayLike, values: ArrayLike, *, height: float = 0.8,
             color: str | Sequence[str] | None = None,
             label: str | None = None) -> Panel:  # fmt: skip
        """Horizontal bars from zero to each value, centred on their y position; one colour each."""
        p, v = as_floats(positions), as_floats(values)
        if color is None or isinstance(color, str):
            colors = [self._color(color)] * len(v)
        else:
            colors = list(color)
        zero, low, high = np.zeros(len(v)), p - height / 2, p + height / 2
        draw = partial(draw_rects, zero, v, low, high, colors)
        x, y = np.concatenate([zero, v]), np.concatenate([low, high])
        return self._add(Mark(draw, x, y, sticky_x=(0.0,), label=label, symbol="box",
                              color=colors[0] if colors else GREY))  # fmt: skip

    def histogram(self, edges: ArrayLike, counts: ArrayLike, *, horizontal: bool = False,
                  color: str = GREY) -> Panel:  # fmt: skip
        """Bars over bins from zero to each count, along y when ``horizontal``."""
        e, c = as_floats(edges), as_floats(counts)
        zero, colors, span = np.zeros(len(c)), [color] * len(c), np.append(c, 0.0)
        if horizontal:
            draw = partial(draw_rects, zero, c, e[:-1], e[1:], colors)
            return self._add(Mark(draw, span, e, sticky_x=(0.0,)))
        draw = partial(draw_rects, e[:-1], e[1:], zero, c, colors)
        return self._add(Mark(draw, e, span, sticky_y=(0.0,)))

    def hline(self, y: float, *, color: str = GUIDE, dash: bool = True,
              label: str | None = None) -> Panel:  # fmt: skip
        """A reference line across the panel at ``y`` (1 px, dashed unless told)."""
        draw = partial(draw_rule, float(y), False, color, dash)
        return self._add(Mark(draw, y=as_floats(y), label=label, color=color, dash=dash))

    def vline(self, x: float, *, color: str = GUIDE, dash: bool = True,
              label: str | None = None) -> Panel:  # fmt: skip
        draw = partial(draw_rule, float(x), True, color, dash)
        return self._add(Mark(draw, x=as_floats(x), label=label, color=color, dash=dash))

    def heatmap(self, values: ArrayLike, texts: Sequence[Sequence[str]], *,
                cmap: Callable[[float], str] = blues, size: float = SIZE) -> Panel:  # fmt: skip
        """Cells coloured by value (row i at y = i, column j at x = j), with text that fits."""
        grid = np.atleast_2d(np.asarray(values, dtype=float))
        xs, ys = np.array([-0.5, grid.shape[1] - 0.5]), np.array([-0.5, grid.shape[0] - 0.5])
        draw = partial(draw_cells, grid, [[str(t) for t in row] for row in texts], cmap, size)
        return self._add(Mark(draw, xs, ys, tuple(xs), tuple(ys)))

    def text(self, x: float, y: float, text: str, *, anchor: Anchor = "end", color: str = TEXT,
             box: bool = False) -> Panel:  # fmt: skip
        """A note at (x, y), on a white box with ``box``."""
        return self._add(Mark(partial(draw_note, float(x), float(y), text, anchor, color, box)))

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
            return _widened(lo, hi)
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
            if length * (values[1] - values[0]) / (hi - lo) > max(map(text_width, labels)) + 12:
                break
            count -= 1
        return list(zip(values, labels, strict=True))

    def _legend(self, room: float) -> tuple[float, float, list[tuple[float, float]]]:
        """Width, height and each entry's place from the legend's top left; "top" wraps."""
        widths = [text_width(m.label, SMALL) for m in self.marks if m.label]
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
        left = 4 + (_TICK + 4 + max(map(text_width, (s for _, s in yt)), default=0)) * show[1]
        left += (SIZE + 8) * bool(self.ylabel)
        bottom = _TICK + 8 + self._xtick_depth(xt) if show[0] and xt else 6.0
        bottom += (SIZE + 6) * bool(self.xlabel)
        legend_w, legend_h, _ = self._legend(room)
        top = 8 + (SIZE + 8) * bool(self.title or self.note) + legend_h * (self.legend == "top")
        right = 8 + (max(text_width(xt[-1][1]) / 2 - 4, 0) if show[0] and xt else 0)
        right += (legend_w + 10) * (self.legend == "right")
        if (bar := self.colorbar) is not None:
            labels = bar.format(ticks(bar.lo, bar.hi))
            right = 38 + _TICK + max(map(text_width, labels)) + SIZE
        return [left, right, top, bottom]

    def _xtick_depth(self, xt: Ticks) -> float:
        if not self.rotate_xticks:
            return SIZE
        return 0.71 * (max(map(text_width, (s for _, s in xt)), default=0) + SIZE)

    def _draw(self, sx: Scale, sy: Scale, xt: Ticks, yt: Ticks, show: tuple[bool, bool],
              label_x: float, room: float) -> str:  # fmt: skip
        x0, x1, w = sx.start, sx.end, sx.end - sx.start
        y0, y1 = min(sy.start, sy.end), max(sy.start, sy.end)
        lines = [f"M{px(sx.at(v))} {px(y0)}V{px(y1)}" for v, _ in xt if self.grid in ("both", "x")]
        lines += [f"M{px(x0)} {px(sy.at(v))}H{px(x1)}" for v, _ in yt if self.grid in ("both", "y")]
        out = [f'<path d="{"".join(lines)}" stroke="{GRID}"/>' * bool(lines)]
        out.append(
            f'<svg x="{px(x0)}" y="{px(y0)}" width="{px(w)}" height="{px(y1 - y0)}" '
            f'viewBox="{px(x0)} {px(y0)} {px(w)} {px(y1 - y0)}" overflow="hidden">'
            + "".join(m.draw(sx, sy) for m in self.marks if m.clip)
            + "</svg>"
        )
        out += [m.draw(sx, sy) for m in self.marks if not m.clip]
        axes = [f"M{px(x0)} {px(y0)}V{px(y1)}H{px(x1)}"]
        axes += [f"M{px(sx.at(v))} {px(y1)}v{_TICK:g}" for v, _ in xt]
        axes += [f"M{px(x0)} {px(sy.at(v))}h-{_TICK:g}" for v, _ in yt]
        out.append(f'<path d="{"".join(axes)}" stroke="{AXIS}" fill="none"/>')
        at = y1 + _TICK + 4
        for v, s in xt if show[0] else ():
            if self.rotate_xticks:
                out.append(text_element(sx.at(v), at + 2, s, anchor="end", color=MUTED, rotate=-45))
            else:
                out.append(text_element(sx.at(v), at + SIZE / 2, s, color=MUTED))
        for v, s in yt if show[1] else ():
            out.append(text_element(x0 - _TICK - 4, sy.at(v), s, anchor="end", color=MUTED))
        if self.xlabel:
            below = at + 6 + (self._xtick_depth(xt) if xt and show[0] else 0)
            out.append(text_element((x0 + x1) / 2, below + SIZE / 2, self.xlabel))
        if self.ylabel:
            out.append(text_element(label_x + SIZE / 2, (y0 + y1) / 2, self.ylabel, rotate=-90))
        if self.title:
            out.append(text_element(x0, y0 - 8 - SIZE / 2, self.title, anchor="start"))
        if self.note:
            out.append(text_element(x1, y0 - 8 - SIZE / 2, self.note, anchor="end", size=SMALL,
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
        return rect(left, top, width, height, background) * (self.legend != "top") + "".join(
            m.swatch(left + x + 14, top + y)
            + text_element(left + x + 30, top + y, m.label or "", size=SMALL, anchor="start")
            for m, (x, y) in zip(entries, spots, strict=True)
        )


def _colorbar(bar: ColorBar, x: float, y: float, h: float) -> str:
    """The colour scale in 32 bands (no gradient: a gradient needs a page-wide id), ticks right."""
    bands = "".join(
        rect(
            x,
            y + h * (31 - i) / 32,
            12,
            h / 32 + 0.3,
            f' fill="{bar.cmap(bar.lo + (i + 0.5) / 32 * (bar.hi - bar.lo))}"',
        )
        for i in range(32)
    )
    sy = Scale(bar.lo, bar.hi, y + h, y)
    values = ticks(bar.lo, bar.hi)
    labels = bar.format(values)
    marks = "".join(f"M{px(x + 12)} {px(sy.at(v))}h{_TICK:g}" for v in values)
    label_x = x + 26 + _TICK + max(map(text_width, labels)) + SIZE / 2
    return (
        f'<g shape-rendering="crispEdges">{bands}</g>'
        + rect(x, y, 12, h, f' fill="none" stroke="{AXIS}" stroke-width="0.5"')
        + f'<path d="{marks}" stroke="{AXIS}"/>'
        + "".join(
            text_element(x + 16 + _TICK, sy.at(v), s, anchor="start", color=MUTED)
            for v, s in zip(values, labels, strict=True)
        )
        + text_element(label_x, y + h / 2, bar.label, rotate=-90)
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
                lo, hi = next((g for g in given if g is not None), union)
                pair.append(_widened(lo, hi) if lo == hi else (lo, hi))
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
            sx = Scale(*xr, xs[c], xs[c] + widths[c])
            sy = Scale(*yr, *((y0, y1) if p.invert_y else (y1, y0)))
            body.append(p._draw(sx, sy, xt, yt, show, xs[c] - left[c], inner_w))
        return (
            f'<svg viewBox="0 0 {self.width:g} {self.height:g}" width="100%" '
            f'style="max-width:{self.width:g}px" role="img" aria-label="{escape(label)}" '
            f'font-family="{escape(FONT)}" font-size="{SIZE:g}" fill="{TEXT}">{"".join(body)}</svg>'
        )
