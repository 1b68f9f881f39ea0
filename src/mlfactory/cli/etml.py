"""mlfactory etml: run an ETML job (extract, transform, detect, summarise, load) for dates."""

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
    Workers,
    _engine,
    _tables,
    app,
    err,
)


@app.command()
def etml(
    job_file: Annotated[Path, typer.Argument(metavar="JOB", help="The job spec, job.yaml.")],
    day: Annotated[str | None, typer.Option("--date", help="The date to run, YYYY-MM-DD.")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Backfill: the first date, YYYY-MM-DD.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Backfill: the last date (included).")
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option(
            "--registry",
            help="The embedded store where each day's run is recorded "
            "(default: the job's registry.path).",
        ),
    ] = None,
    json_out: JsonPath = None,
    engine: EngineName = None,
    workers: Workers = None,
    engine_address: EngineAddress = None,
    engine_timeout: EngineTimeout = None,
) -> int:
    """Run the job for --date, or each date from --from to --to, in order.

    Each date's output (OUTPUT/date=YYYY-MM-DD/) is replaced as a whole; a rerun
    makes no LLM call for rows it already summarised. Exit 0 when every date ran,
    2 on bad input (a malformed date, no rows with extract.on_empty: fail)."""
    from rich.markup import escape

    from mlfactory.cli.records import write_json
    from mlfactory.etml.dates import date_range, parse_date
    from mlfactory.etml.job import run_days
    from mlfactory.etml.result import DayResult
    from mlfactory.etml.spec import load_job
    from mlfactory.registry import Registry

    if (day is None) == (start is None and end is None):
        raise typer.BadParameter("give --date, or --from and --to", param_hint="--date")
    if day is not None:
        days = [parse_date(day, what="--date")]
    else:
        if start is None or end is None:
            raise typer.BadParameter("a backfill needs both --from and --to", param_hint="--from")
        days = date_range(parse_date(start, what="--from"), parse_date(end, what="--to"))
    job = load_job(job_file)
    spec = job.spec
    store = Registry(
        tracking_uri=spec.registry.tracking_uri,
        path=registry if registry is not None else spec.registry.path,
    )
    console = _tables(json_out)
    table = Table(title=f"{spec.name} → {job.output}")
    for column in ("date", "rows", "flagged", "rate", "LLM calls", "cached", "tokens", "s"):
        table.add_column(column, justify="right", no_wrap=True)

    def on_day(result: DayResult) -> None:
        u = result.usage
        table.add_row(
            result.day.isoformat(),
            f"{result.rows:,}",
            f"{result.flagged:,}",
            f"{result.flag_rate:.1%}",
            f"{u.calls:,}",
            f"{u.cached:,}",
            f"{u.prompt_tokens + u.completion_tokens:,}",
            f"{result.seconds:.1f}",
        )
        for note in result.notes:
            err.print(f"{result.day}: {escape(note)}", soft_wrap=True)
        if u.fallbacks:
            reasons = "; ".join(f"{n}× {r}" for r, n in sorted(u.reasons.items()))
            err.print(
                f"{result.day}: {u.fallbacks:,} extractive summaries ({escape(reasons)})",
                soft_wrap=True,
            )
        err.print(f"{result.day}: written to {result.output}", soft_wrap=True)

    chosen = (
        _engine(engine, workers, engine_address, engine_timeout)
        if engine is not None
        else spec.engine.start()
    )
    results = run_days(job, days, registry=store, engine=chosen, on_day=on_day)
    console.print(table)
    if json_out is not None:
        write_json({"job": spec.name, "days": [r.to_dict() for r in results]}, json_out)
    return 0
