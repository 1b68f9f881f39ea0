"""Self-contained HTML pages, as the training and drift reports are made.

A page loads nothing from the network and runs no script: ``page`` lays out a
title, a header, a table of contents and the sections with the shared CSS;
``figure`` inlines a chart (``mlfactory.charts``) as an ``<svg>`` element with
its caption; ``escape`` HTML-escapes any value, which every piece of text must
go through.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlfactory.charts import Chart

__all__ = ["BASE_CSS", "escape", "figure", "page"]

BASE_CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--blue:#0969da}
*{box-sizing:border-box}
body{margin:0;color:#1f2328;font:14px/1.5 system-ui,"Segoe UI",Helvetica,Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px 32px 48px}
h1{font-size:28px;margin:0 0 4px;word-break:break-word} h1 .muted{font-weight:400}
h2{font-size:20px;margin:36px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:16px;margin:24px 0 4px}
a{color:var(--blue);text-decoration:none}
.sub,.muted,figcaption,footer{color:var(--muted)}
.toc{margin-top:16px;padding:8px 0;border:solid var(--line);border-width:1px 0}
.verdict{border:1px solid;border-radius:8px;padding:14px 18px;margin:18px 0}
.verdict.ok{background:#dafbe1;border-color:#4ac26b}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{text-align:left;padding:5px 10px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{background:var(--bg);white-space:nowrap}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap} .nw{white-space:nowrap}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-word}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:10px}
figure svg{display:block;height:auto;margin:0 auto}
figcaption{font-size:12.5px;margin-top:6px}
.grid figure.span{grid-column:1/-1}
footer{margin-top:40px;font-size:12px}
"""


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(
    *,
    title: str,
    kind: str,
    header: str,
    sections: list[tuple[str, str, str]],
    footer: str,
    css: str = "",
) -> str:
    """A whole page: ``sections`` are (anchor, heading, HTML body); ``header`` is HTML."""
    toc = " · ".join(f'<a href="#{key}">{escape(heading)}</a>' for key, heading, _ in sections)
    body = "".join(
        f'<section id="{key}"><h2>{escape(heading)}</h2>{content}</section>'
        for key, heading, content in sections
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · {escape(kind)}</title><style>{BASE_CSS}{css}</style></head>"
        f'<body><main>{header}<nav class="toc">{toc}</nav>{body}'
        f"<footer>{escape(footer)}</footer></main></body></html>\n"
    )


def figure(
    title: str, caption: str, draw: Callable[[], Chart | None], *, always: bool = False
) -> str:
    """The drawn chart as an inline <svg> with its caption.

    When ``draw`` returns None there is nothing to show: "" by default, or only
    the caption with ``always``. A wide chart spans the grid.
    """
    chart = draw()
    if chart is None and not always:
        return ""
    image = "" if chart is None else chart.svg(title)
    span = ' class="span"' if chart is not None and chart.wide else ""
    return (
        f"<figure{span}>{image}<figcaption><b>{escape(title)}</b>. "
        f"{escape(caption)}</figcaption></figure>"
    )
