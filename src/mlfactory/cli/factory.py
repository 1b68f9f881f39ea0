"""The model factory: schema, validate, train, predict, ui."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlfactory.cli.app import (
    EngineAddress,
    EngineName,
    EngineTimeout,
    JsonPath,
    ModelArg,
    RegistryPath,
    Workers,
    _numbers,
    _registry,
    _tables,
    _with_engine,
    app,
    err,
    out,
)
from mlfactory.errors import BadInputError

if TYPE_CHECKING:
    from mlfactory.training import TrainResult

LISTED_FEATURES = 40  # validate lists this many features one per row, then sums the rest up


@app.command()
def schema() -> None:
    """Print the JSON Schema of factory.yaml (for editor validation)."""
    from mlfactory.spec import json_schema

    print(json.dumps(json_schema(), indent=2))


@app.command()
def validate(spec: Annotated[Path, typer.Argument(help="Path to factory.yaml.")]) -> None:
    """Check the spec and its data without training anything."""
    from mlfactory.spec import load_spec
    from mlfactory.tasks import task_named
    from mlfactory.training.leakage import data_warnings
    from mlfactory.training.prepare import prepare, split_prepared

    parsed = load_spec(spec)
    if task_named(parsed.task).series:
        _validate_series(parsed, spec.parent)
        return
    prepared = prepare(parsed)
    split = split_prepared(parsed, prepared)  # as training splits: its problems, its leaks
    data = prepared.data
    table = Table(title=f"{parsed.name}: {len(data.schema.columns)} features", show_lines=False)
    table.add_column("feature", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("dtype")  # 'datetime64[ns, UTC]' may wrap after the comma
    table.add_column("missing", justify="right", no_wrap=True)
    columns = data.schema.columns
    for col in columns[:LISTED_FEATURES]:
        table.add_row(escape(col.name), col.kind, escape(col.dtype), f"{col.missing_rate:.1%}")
    if len(columns) > LISTED_FEATURES:  # a wide table is summed up, not printed in full
        kinds = Counter(col.kind for col in columns)
        caption = f"the first {LISTED_FEATURES} of {len(columns):,}; all: " + ", ".join(
            f"{n:,} {kind}" for kind, n in kinds.most_common()
        )
        gappy = max(columns, key=lambda col: col.missing_rate)
        if gappy.missing_rate > 0:
            caption += f"; most missing: {gappy.name} ({gappy.missing_rate:.1%})"
        table.caption = escape(caption)
    out.print(table)
    if parsed.data.target is not None:
        learns = (
            f"{data.dropped_missing_target:,} with a missing target would be dropped; task "
            f"{parsed.task}, target {parsed.data.target!r}"
            + (f", classes {data.schema.classes}" if data.schema.classes else "")
        )
    else:  # anomaly: features alone, labels (if any) to judge by
        label = parsed.data.label_column
        learns = f"task {parsed.task}, " + (
            f"known anomalies in {label!r}" if label else "no labels"
        )
    metric = parsed.search.metric or data.metric or task_named(parsed.task).default_metric
    out.print(
        f"[green]ok[/]: {data.rows_read:,} rows, {escape(learns)}; primary metric {metric}",
        highlight=False,
    )
    for note in data.notes:
        out.print(f"  {escape(note)}", highlight=False)
    for warning in data_warnings(parsed, prepared, split):
        out.print(f"  [yellow]warning[/]: {escape(warning)}", highlight=False)


def _validate_series(parsed: Any, folder: Path) -> None:
    """A forecasting spec's panel, checked as training would check it, and summed up."""
    from mlfactory.training.forecast import prepare_series

    prepared = prepare_series(parsed, folder)
    panel = prepared.panel
    frame = panel.frame
    sizes = frame.groupby("unique_id").size()
    out.print(
        f"[green]ok[/]: {prepared.rows_read:,} rows, {len(sizes):,} series of "
        f"{escape(', '.join(parsed.data.id_columns))} ({panel.alias}), {sizes.min():,} to "
        f"{sizes.max():,} points each, {frame['ds'].min():%Y-%m-%d} to "
        f"{frame['ds'].max():%Y-%m-%d}; forecast {parsed.forecast.horizon} steps ahead"
    )
    for note in panel.notes:
        out.print(f"  {escape(note)}", highlight=False)


def _print_result(result: TrainResult, console: Console = out) -> None:
    # a forecast is scored on its last backtest window, after a choice made on the earlier ones
    series = result.forecast is not None
    scored = "backtest (last window)" if series else "test metrics"
    table = Table(title=f"{result.name} v{result.version} ({result.model}), {scored}")
    if series and not result.evaluation.intervals:
        table.caption = "95% CI: none for one series (it resamples series)"
    table.add_column("metric")  # 'roc_auc (primary)' may wrap before '(primary)'
    columns = ("last", "95% CI", "earlier", "naive") if series else ("test", "95% CI", "train")
    for column in columns if series else (*columns, "baseline"):
        table.add_column(column, justify="right", no_wrap=True)
    for name, value in result.evaluation.metrics.items():
        # no interval from a bootstrap over one series (or a test set too small to resample)
        low, high = result.evaluation.intervals.get(name, (math.nan, math.nan))
        label = f"[bold]{name}[/] (primary)" if name == result.metric else name
        train, baseline = result.evaluation.train_metrics[name], result.baseline.metrics[name]
        test, low_, high_, train_, baseline_ = _numbers(value, low, high, train, baseline)
        table.add_row(label, test, f"[{low_}, {high_}]", train_, baseline_)
    console.print(table)
    if (chosen := result.threshold) is not None:
        console.print(
            f"decision threshold {chosen.value:.4g}: {escape(chosen.rule)}", highlight=False
        )
    if result.family is not None:
        console.print(escape(result.family.summary()), highlight=False)
    if result.forecast is not None:
        console.print(escape(result.forecast.summary()), highlight=False)
        if covered := result.forecast.coverage:
            console.print(
                "interval coverage on the last window: "
                + ", ".join(
                    f"{k.removeprefix('coverage_')}% → {v:.1%}" for k, v in covered.items()
                ),
                highlight=False,
            )
    if result.candidates:
        console.print(f"search, best validation {result.metric} per model:")
    for row in result.candidates:
        console.print(_search_line(row, chosen=row["name"] == result.model))
    decision = result.decision
    verdict = (
        f"[bold green]promoted[/]: version {result.version} is now {result.name}@champion"
        if decision.promoted
        else f"[bold yellow]held back[/]: version {result.version} is {result.name}@challenger"
    )
    console.print(verdict)
    for check in decision.checks:
        mark = "[green]✓[/]" if check.passed else "[red]✗[/]"
        console.print(f"  {mark} {escape(check.detail)}")
    for warning in result.warnings:  # said in the progress too, which --quiet hides
        console.print(f"[yellow]warning[/]: {escape(warning)}", highlight=False)
    console.print(f"report: {result.report_path}", soft_wrap=True)


def _search_line(row: dict[str, Any], *, chosen: bool) -> str:
    """A candidate's search in one line: trials run, pruned and failed, and which won."""
    pruned, failed = row.get("pruned", 0), row.get("failed", 0)
    ran = row.get("trials", 0) + pruned + failed
    number, score = row.get("best_trial"), float(row["validation_score"])
    won = "trial 0 (library defaults) won" if number == 0 else f"trial {number} won"
    return (
        f"  {row['name']} {'—' if score != score else f'{score:.4f}'}"
        f"{' (chosen)' if chosen else ''}: "
        f"{ran} trial{'s' * (ran != 1)} ran, {pruned} pruned, {failed} failed; {won}"
    )


@app.command()
def train(
    spec: Annotated[Path, typer.Argument(help="Path to factory.yaml.")],
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress output.")] = False,
    json_out: JsonPath = None,
    engine: EngineName = None,
    workers: Workers = None,
    engine_address: EngineAddress = None,
    engine_timeout: EngineTimeout = None,
) -> int:
    """Train, tune, evaluate and gate; register the model (exit 0 promoted, 3 held back)."""
    from mlfactory.cli.records import check_target, training_record, write_json
    from mlfactory.spec import load_spec
    from mlfactory.training import train as run
    from mlfactory.training.events import ConsoleProgress

    check_target(json_out)  # before a training, not after it
    parsed = _with_engine(load_spec(spec), engine, workers, engine_address, engine_timeout)

    view = ConsoleProgress(Console(stderr=True, quiet=quiet, log_path=False))
    try:
        result = run(parsed, on_event=view)
    finally:
        view.close()
    _print_result(result, _tables(json_out))
    if json_out is not None:
        write_json(training_record(result), json_out)
    return result.exit_code


@app.command()
def predict(
    model: ModelArg,
    input: Annotated[Path, typer.Option("--input", help="CSV or Parquet file to score.")],
    output: Annotated[Path, typer.Option("--output", help="Where to write (.csv or .parquet).")],
    registry: RegistryPath = Path(".mlfactory"),
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Also write each input column's contribution to the raw score "
            "(contrib_COLUMN) and base_value, which add up to it; per class for a "
            "multiclass model. LightGBM and linear models.",
        ),
    ] = False,
) -> None:
    """Score a small file with a registered model (input columns plus predictions).

    The rows are checked as the server checks them; a row it would refuse stops the run,
    and numbers far outside the training range are scored with a warning."""
    import pandas as pd

    from mlfactory.data import read_source
    from mlfactory.scoring import Scorer

    if output.suffix not in (".csv", ".parquet"):
        raise BadInputError(f"--output {str(output)!r}: use a .csv or .parquet file name.")
    if input.is_dir() or input.suffix not in (".csv", ".parquet"):
        raise BadInputError(f"--input {str(input)!r}: give one .csv or .parquet file.")
    from mlfactory.registry import ModelRef

    ModelRef.parse(model)  # a malformed reference is said before a missing registry
    scorer = Scorer.load(_registry(registry), model)
    frame = read_source(str(input))
    scores = scorer.score(frame)
    parts = [frame, pd.DataFrame(scores.outputs, index=frame.index)]
    if explain:  # the rows as validated: the values the predictions were made from
        parts.append(scorer.explain(scores.validated.frame).frame(index=frame.index))
    for warning in scores.validated.warnings():
        err.print(f"[yellow]warning[/]: {escape(warning)}")
    scored = pd.concat(parts, axis=1)
    if output.suffix == ".csv":
        scored.to_csv(output, index=False)
    else:
        scored.to_parquet(output, index=False)
    err.print(f"scored {len(scored):,} rows with {scorer.name}/{scorer.version} → {output}")


@app.command()
def ui(
    registry: RegistryPath = Path(".mlfactory"),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 5000,
) -> int:
    """Start the MLflow UI on the registry (on 127.0.0.1)."""
    import subprocess

    reg = _registry(registry)
    err.print(f"MLflow UI for {reg.tracking_uri} at http://127.0.0.1:{port} (Ctrl-C stops it)")
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", reg.tracking_uri]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0
