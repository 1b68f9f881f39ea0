"""mlfactory batch: score a table of any size to Parquet parts, resumably."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mlfactory.cli.app import (
    EngineAddress,
    EngineName,
    EngineTimeout,
    JsonPath,
    ModelArg,
    RegistryPath,
    Workers,
    _engine,
    _registry,
    _tables,
    app,
    err,
)


@app.command()
def batch(
    model: ModelArg,
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            help="Folder for the parts: model=NAME/ (scores), rejects/, _batch.json.",
        ),
    ],
    input: Annotated[
        str | None,
        typer.Option(
            "--input", help="A CSV or Parquet file, a folder of them, or a glob ('data/*.pq')."
        ),
    ] = None,
    sql: Annotated[
        str | None,
        typer.Option(
            "--sql",
            help="A DuckDB query over the --input files (the table input), or reading files "
            "itself; its result is scored, and kept in the output folder for reruns.",
        ),
    ] = None,
    registry: RegistryPath = Path(".mlfactory"),
    json_out: JsonPath = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace another model's, version's, input's or query's results."
        ),
    ] = False,
    csv_rows: Annotated[
        int,
        typer.Option(
            "--csv-rows", min=1, help="Rows per chunk: CSV records, or rows of the --sql result."
        ),
    ] = 100_000,
    ids: Annotated[
        str | None,
        typer.Option(
            "--ids",
            help="A forecasting model, without --input: the series to forecast, comma-"
            "separated (default: all of them).",
        ),
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option(
            "--horizon", min=1, help="A forecasting model: steps ahead (default: its own)."
        ),
    ] = None,
    levels: Annotated[
        str | None,
        typer.Option(
            "--levels", help="A forecasting model: interval levels, e.g. 80,95 (default: its own)."
        ),
    ] = None,
    engine: EngineName = None,
    workers: Workers = None,
    engine_address: EngineAddress = None,
    engine_timeout: EngineTimeout = None,
) -> int:
    """Score files in bounded memory; a rerun finishes only the missing parts.

    A forecasting model without --input writes its forecasts instead: all its
    series, or those of --ids. Exit 0 when every chunk is scored, 2 when some input
    could not be read (the rest is scored; run again after fixing it)."""
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from mlfactory.batch import run_batch
    from mlfactory.cli.records import write_json

    columns = (
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("rows", total=None, rate="")

        def advance(done: int, total: int) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = f"{done / elapsed:,.0f} rows/s" if elapsed > 0 else ""
            bar.update(task, completed=done, total=total, rate=rate)

        with _engine(engine, workers, engine_address, engine_timeout) as running:
            result = run_batch(
                _registry(registry),
                model,
                input,
                output,
                sql=sql,
                overwrite=overwrite,
                csv_rows=csv_rows,
                engine=running,
                progress=advance,
                ids=_listed(ids),
                horizon=horizon,
                levels=_levels(levels),
            )
    console = _tables(json_out)
    table = Table(title=f"{result.model} version {result.version} → {result.output}")
    for column in ("rows", "scored", "rejected", "parts", "resumed", "seconds", "peak MB"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_row(
        f"{result.rows:,}",
        f"{result.scored:,}",
        f"{result.rejected:,}",
        f"{result.parts:,}",
        f"{result.resumed:,}",
        f"{result.seconds:.1f}",
        f"{result.peak_memory_mb:,.0f}",
    )
    console.print(table)
    if result.rejected:
        console.print(f"refused rows and why: {result.output}/rejects/", soft_wrap=True)
    for problem in result.problems:
        err.print(f"[bold red]error[/]: {escape(problem)}", soft_wrap=True)
    if json_out is not None:
        write_json(result.record(), json_out)
    return result.exit_code


def _listed(text: str | None) -> list[str] | None:
    if text is None:
        return None
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise typer.BadParameter(
            "list at least one series id, e.g. --ids CA,TX", param_hint="--ids"
        )
    return values


def _levels(text: str | None) -> list[float] | None:
    values = _listed(text)
    if values is None:
        return None
    try:
        return [float(v) for v in values]
    except ValueError:
        raise typer.BadParameter(
            f"levels are percentages, e.g. 80,95; got {text!r}", param_hint="--levels"
        ) from None
