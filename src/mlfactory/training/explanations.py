"""The training report's explanations: what moves the model's predictions, on test rows.

``explain_test_rows`` explains up to 5,000 test rows (a seeded sample of more)
through ``scoring.explain``, the same contributions the server and ``predict
--explain`` answer: LightGBM's TreeSHAP, or coefficient x (value - mean) for a
linear model, one contribution per input column, adding up with the base value
to the raw score. ``explanation_section`` draws them for the report:

- a bar per input column: the mean absolute contribution, how far the column
  moves a prediction's raw score from the base value on average (for a
  multiclass model, summed over the classes' raw scores);
- for the three columns that move it most, a dependence plot: each dot one test
  row, the column's value against its contribution (a multiclass model: a colour
  per class). Numbers and dates are placed by value, categories side by side,
  the most frequent first.

A model that cannot be explained gets a sentence saying which models can.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.charts import BLUE, GUIDE, PALETTE, Chart, Panel, number
from mlfactory.errors import BadInputError
from mlfactory.pages import escape, figure
from mlfactory.scoring.explain import Explanation, explainer

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.registry import ModelPackage

__all__ = ["ExplainedRows", "explain_test_rows", "explanation_section"]

MAX_ROWS = 5_000  # test rows explained
MAX_DOTS = 1_500  # dots in a dependence plot (a seeded sample of the explained rows)
MAX_BARS = 20  # columns in the bar chart
TOP = 3  # dependence plots, for the columns with the largest mean |contribution|
MAX_CATEGORIES = 12  # categories shown side by side; the rest are one "other"
MAX_CLASSES = len(PALETTE)  # classes drawn in a multiclass dependence plot
WIDTH, HEIGHT = 540, 387  # px of a plot in the report's two-column grid


@dataclass(frozen=True)
class ExplainedRows:
    """The explained test rows, or why there are none (``why_not``)."""

    explanation: Explanation | None
    rows: pd.DataFrame | None = None  # the explained rows, conformed to the schema
    total: int = 0  # test rows there were (``rows`` holds at most MAX_ROWS of them)
    why_not: str = ""
    method: str = ""  # how the contributions were computed (``Explainer.method``)

    @property
    def strength(self) -> dict[str, float]:
        """Mean |contribution| per input column, largest first (summed over classes)."""
        if self.explanation is None or not len(self.explanation):
            return {}
        mean = np.abs(self.explanation.contributions).mean(axis=0).sum(axis=0)
        pairs = zip(self.explanation.columns, mean.tolist(), strict=True)
        return dict(sorted(pairs, key=lambda kv: -kv[1]))


def explain_test_rows(package: ModelPackage, rows: pd.DataFrame, *, seed: int) -> ExplainedRows:
    """Explain up to ``MAX_ROWS`` of the test rows with the packaged model."""
    total = len(rows)
    if package.family is not None:  # each group's model would need its own base value
        why = "a model family (one model per group) cannot explain its predictions yet"
        return ExplainedRows(None, total=total, why_not=why)
    if total > MAX_ROWS:
        rows = rows.sample(n=MAX_ROWS, random_state=seed)
    try:
        conformed = package.schema.conform(rows)
        explaining = explainer(package)
        explanation = explaining.explain(conformed)
        shown = _in_order(conformed, package)
        return ExplainedRows(explanation, shown, total, method=explaining.method)
    except BadInputError as exc:  # a model that cannot be explained
        return ExplainedRows(None, total=total, why_not=str(exc))


def _in_order(rows: pd.DataFrame, package: ModelPackage) -> pd.DataFrame:
    """The rows with each ordinal column as an ordered Categorical: plotted in its order."""
    import pandas as pd

    ordinal = [c for c in package.schema.columns if c.kind == "ordinal"]
    if not ordinal:
        return rows
    rows = rows.copy()
    for col in ordinal:
        rows[col.name] = pd.Categorical(rows[col.name], categories=col.categories, ordered=True)
    return rows


def explanation_section(found: ExplainedRows | None) -> str:
    """The report's section: the bar chart, then the dependence plots in a grid."""
    if found is None:
        return '<p class="muted">No explanation was computed.</p>'
    explanation, rows = found.explanation, found.rows
    if explanation is None or rows is None or not len(explanation):
        why = found.why_not or "there were no test rows to explain"
        return f'<p class="muted">Predictions are not explained: {escape(why)}.</p>'
    strength = found.strength
    sample = (
        f"all {len(explanation):,} test rows"
        if len(explanation) == found.total
        else f"a random {len(explanation):,} of {found.total:,} test rows"
    )
    scale = _scale(explanation)
    named = explanation.labels or [""]
    bases = ", ".join(f"{k} {b:.4g}".strip() for k, b in zip(named, explanation.base, strict=True))
    caption = (
        f"Mean absolute contribution of each input column to the {scale}, over {sample}: how "
        f"far the column moves a prediction from the base value ({bases}) on average. "
        + _method(explanation, found.method)
    )
    if len(strength) > MAX_BARS:
        caption += f" Top {MAX_BARS} of {len(strength)} columns."
    bars = figure(
        "Mean |contribution|", caption, functools.partial(_strength_plot, strength, scale)
    )
    top = [name for name, value in strength.items() if value > 0][:TOP]
    plots = [_dependence_figure(explanation, rows, name, scale) for name in top]
    return bars + ('<div class="grid">' + "".join(plots) + "</div>" if plots else "")


def _scale(explanation: Explanation) -> str:
    """What the contributions are of, after "to the": "log-odds of 'yes'", "predicted value"."""
    scale = "raw score of each class" if explanation.labels else explanation.scale
    return scale.removeprefix("the ")


def _method(explanation: Explanation, method: str) -> str:
    adds = (
        "For each class the contributions add up with its base value to the class's raw score "
        "(before the softmax); a bar is the sum over the classes."
        if explanation.labels
        else "The contributions of a row add up with the base value to its raw score."
    )
    return f"{adds} Computed as {method}, as the server answers them with explain: true."


def _strength_plot(strength: dict[str, float], scale: str) -> Chart:
    top = list(strength.items())[:MAX_BARS][::-1]
    names = [k if len(k) <= 32 else k[:31] + "…" for k, _ in top]
    chart = Chart(width=720, height=max(198, 27 * len(top) + 90))
    ax = chart.add(
        Panel(xlabel=f"mean |contribution| to the {scale}", grid="x",
              yticks=list(enumerate(names)))
    )  # fmt: skip
    ax.hbar(range(len(top)), [v for _, v in top], color=BLUE)
    return chart


def _dependence_figure(explanation: Explanation, rows: pd.DataFrame, name: str, scale: str) -> str:
    j = explanation.columns.index(name)
    values = rows[name]
    keep = np.arange(len(values))
    shown = "each dot a test row"
    if len(keep) > MAX_DOTS:
        keep = np.sort(np.random.default_rng(0).choice(len(keep), MAX_DOTS, replace=False))
        shown = f"a random {MAX_DOTS:,} of the {len(values):,} explained test rows"
    caption = (
        f"The value of {name} against its contribution to the {scale} ({shown}). Above zero it "
        "pushes the prediction up from the base value, below zero down."
    )
    missing = int(values.isna().sum())
    draw = functools.partial(
        _dependence_plot, values.iloc[keep], explanation.contributions[keep][:, :, j], name,
        explanation.labels, scale,
    )  # fmt: skip
    if missing and _kind(values) != "categorical":
        caption += f" {missing:,} row(s) without a value are not shown."
    if explanation.labels and len(explanation.labels) > MAX_CLASSES:
        caption += f" The first {MAX_CLASSES} of {len(explanation.labels)} classes."
    return figure(f"Dependence on {name}", caption, draw)


def _kind(values: pd.Series) -> str:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(values.dtype):
        return "numeric"
    return "categorical"


def _dependence_plot(
    values: pd.Series,
    contributions: Any,  # (rows, outputs)
    name: str,
    labels: list[str] | None,
    scale: str,
) -> Chart:
    kind = _kind(values)
    xticks = None
    if kind == "categorical":
        x, xticks = _positions(values)
    elif kind == "datetime":
        import pandas as pd

        stamps = values.dt.tz_localize(None) if values.dt.tz is not None else values
        x = np.asarray((stamps - pd.Timestamp(0)) / pd.Timedelta(days=1), dtype=float)  # days
    else:
        x = values.to_numpy(dtype=float, na_value=np.nan)
    chart = Chart(width=WIDTH, height=HEIGHT)
    ax = chart.add(
        Panel(xlabel=name, ylabel=f"contribution to the {scale}", xticks=xticks,
              rotate_xticks=xticks is not None, legend="upper left" if labels else None,
              xformat=_dates if kind == "datetime" else number)
    )  # fmt: skip
    outputs = contributions.shape[1]
    for k in range(min(outputs, MAX_CLASSES)):
        label = labels[k] if labels else None
        color = PALETTE[k] if labels else BLUE
        ax.scatter(x, contributions[:, k], radius=2.0, alpha=0.45, color=color, label=label)
    ax.hline(0.0, color=GUIDE)
    return chart


def _dates(days: Sequence[float]) -> list[str]:
    """Tick labels of days since 1970 as dates, as precise as their spacing needs."""
    import pandas as pd

    span = max(days) - min(days) if len(days) > 1 else 0.0
    form = "%Y-%m" if span > 365 else "%Y-%m-%d" if span >= 2 else "%m-%d %H:%M"
    return [pd.Timestamp(d * 86_400, unit="s").strftime(form) for d in days]


def _positions(values: pd.Series) -> tuple[Any, list[tuple[float, str]]]:
    """Categories side by side (most frequent first, an ordinal's levels in order; then
    "other" and "missing"), jittered."""
    import pandas as pd

    text = [None if pd.isna(v) else str(v) for v in values.astype(object)]
    counts = pd.Series([v for v in text if v is not None], dtype=object).value_counts()
    if isinstance(values.dtype, pd.CategoricalDtype) and values.dtype.ordered:  # an ordinal
        counts = counts.reindex([str(c) for c in values.dtype.categories], fill_value=0)
    shown = [str(c) for c in counts.index[:MAX_CATEGORIES]]
    where = {c: float(i) for i, c in enumerate(shown)}
    ticks = [(float(i), c if len(c) <= 20 else c[:19] + "…") for i, c in enumerate(shown)]
    other = missing = float(len(shown))
    if len(counts) > len(shown):
        ticks.append((other, "other"))
        missing += 1
    if None in text:
        ticks.append((missing, "missing"))
    x = np.array([missing if v is None else where.get(v, other) for v in text], dtype=float)
    jitter = np.random.default_rng(0).uniform(-0.3, 0.3, len(x))
    return x + jitter, ticks
