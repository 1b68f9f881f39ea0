"""The ``factory.yaml`` that ``mlfactory init`` writes: the guesses, each with a comment.

The text is built line by line (a YAML library would drop the comments); every value
goes through ``yaml.safe_dump``, so a column name that needs quotes gets them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlfactory.deploy.scaffold_infer import Guess
from mlfactory.versions import __version__

__all__ = ["GATES", "HORIZONS", "Source", "spec_text", "template_text"]

# A first gate per task, far enough from chance that a broken model fails it, low enough
# that a first model passes: the user sets the level their use needs.
GATES: dict[str, tuple[str, str, float, str]] = {
    "classification": ("min", "roc_auc", 0.6, "0.5 is chance"),
    "regression": ("min", "r2", 0.1, "0 predicts the mean"),
    "forecasting": ("max", "mase", 2.0, "1 is the seasonal naive forecast's error"),
    "anomaly": ("max", "flag_rate", 0.2, "the share of test rows flagged"),
}
HORIZONS = {"H": 24, "D": 7, "W": 4, "M": 3, "Q": 2, "Y": 3}
TRIALS = 10
CONTAMINATION = 0.05


@dataclass(frozen=True)
class Source:
    """Where the project's data is, as factory.yaml names it, and why there."""

    value: str  # data.source: data/FILE, an absolute path, or builtin:...
    note: str  # the comment above it


def _v(value: Any) -> str:
    """``value`` as a YAML scalar (quoted only when it must be)."""
    import yaml

    text: str = yaml.safe_dump(value, default_flow_style=True, width=1_000)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def project_name(folder_name: str) -> str:
    """A registered model name from the project folder's name."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", folder_name).strip("-._")
    return name[:100] or "model"


def spec_text(guess: Guess, *, name: str, source: Source, shown_as: str) -> str:
    """factory.yaml for a table: what was guessed, why, and what to change."""
    task = guess.task
    lines = [
        f"# Written by `mlfactory init` ({__version__}) from {shown_as}: {guess.rows:,} rows, "
        f"{len(guess.columns)} columns.",
        "# Each guess says why it was made; change what is wrong, then check with",
        "#   mlfactory validate factory.yaml",
        "# (`mlfactory schema` prints every key with its meaning.)",
        f"name: {_v(name)}",
        f"# guessed: {guess.task_reason}. Tasks: classification, regression, forecasting, anomaly.",
        f"task: {task}",
    ]
    if guess.forecast_hint:
        lines += [f"# {line}" for line in _wrap(guess.forecast_hint)]
    lines += ["data:", *[f"  # {line}" for line in _wrap(source.note)]]
    lines.append(f"  source: {_v(source.value)}")
    if guess.sql is not None:
        lines += [f"  # {line}" for line in _wrap(guess.sql_reason or "", 84)]
        lines.append(f"  sql: {_v(guess.sql)}")
    if guess.target is not None:
        lines.append(f"  target: {_v(guess.target)}")
    if guess.label_column is not None:
        lines += [
            "  # known anomalies: they evaluate and tune the detector, never fit it",
            f"  label_column: {_v(guess.label_column)}",
        ]
    lines += [f"  # id_column: {guess.id_reason}; an id is never a feature"]
    lines.append(
        f"  id_column: {_v(guess.id_column)}" if guess.id_column else "  # id_column: COLUMN"
    )
    lines += [f"  # time_column: {guess.time_reason}"]
    lines.append(
        f"  time_column: {_v(guess.time_column)}"
        if guess.time_column
        else "  # time_column: COLUMN"
    )
    if task == "forecasting":
        lines += [
            "  # other columns are not read: one known ahead (a price, a promotion) can be",
            "  # listed in forecast.exogenous, its values for the horizon in forecast.future",
        ]
    elif guess.exclude:
        lines.append("  # every other column is a feature, except these, which cannot be one:")
        for _, why in guess.exclude:
            lines += [f"  #   {line}" for line in _wrap(why, 84)]
        lines.append(f"  exclude: {_v([name for name, _ in guess.exclude])}")
    else:
        lines += [
            "  # every other column is a feature; list the ones to leave out:",
            "  # exclude: [COLUMN, ...]",
        ]
    if guess.group_column is not None:
        lines += [
            "split:",
            *(f"  # {line}" for line in _wrap(guess.group_reason or "", 84)),
            f"  group_column: {_v(guess.group_column)}",
        ]
    if task == "forecasting":
        frequency = guess.frequency or "D"
        lines += [
            "forecast:",
            f"  # {guess.frequency_reason}"
            + ("" if guess.frequency else " (none found: D, daily)"),
            f"  frequency: {frequency}",
            "  # steps ahead to forecast: a guess, set what your users plan with",
            f"  horizon: {HORIZONS[frequency]}",
        ]
        if guess.fill is not None:
            rule, why = guess.fill
            lines += [*(f"  # {line}" for line in _wrap(why, 84)), f"  fill: {rule}"]
        if guess.allow_negative is not None:
            lines += [f"  # {guess.allow_negative}", "  allow_negative: true"]
    if task == "anomaly":
        lines += [
            "anomaly:",
            "  # where the flag starts: the share of training rows flagged (a guess; or",
            "  # threshold: SCORE). Without it each detector flags by its own rule, which",
            "  # may flag far more rows than anyone can look at",
            f"  contamination: {CONTAMINATION}",
        ]
    side, metric, level, meaning = GATES[task]
    if task != "forecasting":  # its models are backtested as listed: no search
        lines += [
            "search:",
            "  # trials per candidate model (the first: the library's defaults): more find",
            "  # better parameters, slower (CI trains with fewer: make test TRIALS=N)",
            f"  trials: {TRIALS}",
        ]
    lines += [
        "gates:",
        "  # a version becomes champion only if it passes these; tests/test_model.py checks",
        "  # the champion against them too. A first guess, set the level your users need:",
        f"  # {metric}: {meaning}",
        f"  {side}: {{{metric}: {level}}}",
    ]
    if task != "anomaly":
        lines.append("  beat_baseline: true")
    return "\n".join(lines) + "\n"


def template_text(*, name: str, task: str) -> str:
    """factory.yaml without data: the keys to fill in (it does not validate until then)."""
    side, metric, level, meaning = GATES[task]
    target = "" if task == "anomaly" else "  target: COLUMN          # the column to predict\n"
    forecast = (
        "forecast:\n  frequency: D            # H, D, W, M, Q or Y\n  horizon: 7\n"
        if task == "forecasting"
        else ""
    )
    return (
        f"# Written by `mlfactory init` ({__version__}) without data: fill in the data keys,\n"
        "# or run `mlfactory init --force --data FILE --target COLUMN` to have them guessed.\n"
        "# Check with: mlfactory validate factory.yaml\n"
        f"name: {_v(name)}\n"
        f"task: {task}\n"
        "data:\n"
        "  source: data/train.csv   # CSV or Parquet, relative to this file\n"
        f"{target}"
        "  # id_column: COLUMN\n"
        "  # time_column: COLUMN\n"
        f"{forecast}"
        + (f"anomaly:\n  contamination: {CONTAMINATION}\n" if task == "anomaly" else "")
        + ("" if task == "forecasting" else f"search:\n  trials: {TRIALS}\n")
        + "gates:\n"
        f"  # a first guess ({metric}: {meaning}): set the level your users need\n"
        f"  {side}: {{{metric}: {level}}}\n"
    )


def _wrap(text: str, width: int = 86) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width) or [""]
