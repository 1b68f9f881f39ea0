"""Monitoring and the loop: monitor, retrain, watch, and how their results print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mlfactory.cli.app import (
    EngineAddress,
    EngineName,
    EngineTimeout,
    ModelArg,
    RegistryPath,
    Workers,
    _registry,
    _with_engine,
    app,
    err,
    out,
)
from mlfactory.cli.factory import _print_result
from mlfactory.errors import BadInputError, MlfactoryError

if TYPE_CHECKING:
    from mlfactory.monitoring import MonitorResult
    from mlfactory.monitoring.forecasts import ForecastCheck

SHOWN_SERIES = 10  # series in the forecast table (worst first); --json and --report have all


CurrentOption = Annotated[
    str | None, typer.Option(help="Current data: CSV/Parquet file or folder, builtin:...")
]
SqlOption = Annotated[
    str | None, typer.Option(help="DuckDB SQL over --current (the table `data`) or files.")
]
LogOption = Annotated[
    Path | None, typer.Option(help="A server's --prediction-log folder, instead of data.")
]
HoursOption = Annotated[
    float | None, typer.Option(min=0, help="With --prediction-log: only the last N hours.")
]


@app.command("monitor")
def monitor_command(
    model: ModelArg,
    current: CurrentOption = None,
    sql: SqlOption = None,
    prediction_log: LogOption = None,
    hours: HoursOption = None,
    labels: Annotated[
        str | None,
        typer.Option(help="Labels that arrived (id column + target): adds performance decay."),
    ] = None,
    id_column: Annotated[
        str | None, typer.Option(help="Joins --labels to the rows; default data.id_column.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the HTML drift report here.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the result as JSON here.")
    ] = None,
    multivariate: Annotated[
        bool, typer.Option(help="Run the domain-classifier check (a few seconds).")
    ] = True,
    record: Annotated[
        bool, typer.Option(help="Store the figures on the version (the server's gauges).")
    ] = True,
    registry: RegistryPath = Path(".mlfactory"),
) -> int:
    """Check current data for drift (exit 0 no drift, 3 drift or decay, 2 bad input)."""
    from mlfactory.monitoring import monitor, record_result

    reg = _registry(registry)
    result = monitor(
        model,
        registry=reg,
        current=current,
        sql=sql,
        prediction_log=prediction_log,
        since=_since(hours),
        labels=labels,
        id_column=id_column,
        multivariate=multivariate,
    )
    _print_monitor(result, model)
    if record:
        record_result(reg, result)
    _write_monitor_outputs(result, report, json_out)
    return 3 if result.alarm else 0


@app.command()
def retrain(
    spec: Annotated[Path, typer.Argument(help="Path to factory.yaml.")],
    when: Annotated[
        str, typer.Option(help="always | drift | stale:<age> (stale:30d, stale:12h).")
    ] = "drift",
    current: CurrentOption = None,
    sql: SqlOption = None,
    prediction_log: LogOption = None,
    hours: HoursOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress output.")] = False,
    engine: EngineName = None,
    workers: Workers = None,
    engine_address: EngineAddress = None,
    engine_timeout: EngineTimeout = None,
) -> int:
    """Retrain if the condition holds for the champion (exit 0 nothing to do or promoted,
    3 retrained but held back by a gate, 2 bad input)."""
    from mlfactory.loop import Source
    from mlfactory.loop import retrain as run
    from mlfactory.spec import load_spec

    parsed = _with_engine(load_spec(spec), engine, workers, engine_address, engine_timeout)
    source = Source(current=current, sql=sql, prediction_log=prediction_log, hours=hours)
    outcome = run(parsed, when=when, source=source, progress=not quiet)
    verb = "retraining" if outcome.retrained else "no retraining"
    if outcome.check is not None:
        _print_monitor(outcome.check, f"{outcome.check.model}@champion")
        if outcome.retrained:
            what = "drifted" if outcome.check.drifted else "decayed"
            out.print(f"[bold]{verb}[/]: champion version {outcome.champion} {what} (above)")
    if outcome.check is None or not outcome.retrained:
        out.print(f"[bold]{verb}[/]: {escape(outcome.reason)}", highlight=False)
    if outcome.trained is None:
        return 0
    _print_result(outcome.trained)
    return outcome.trained.exit_code


@app.command()
def watch(
    model: ModelArg,
    every: Annotated[str, typer.Option(help="Interval between checks: 30s, 10m, 1h, 1d.")] = "1h",
    current: CurrentOption = None,
    sql: SqlOption = None,
    prediction_log: LogOption = None,
    hours: HoursOption = None,
    retrain_spec: Annotated[
        Path | None, typer.Option("--retrain", help="factory.yaml to retrain on drift.")
    ] = None,
    report_dir: Annotated[
        Path | None, typer.Option(help="Write NAME-latest.html here after every check.")
    ] = None,
    times: Annotated[
        int | None, typer.Option(min=1, help="Stop after N checks (default: run until Ctrl-C).")
    ] = None,
    registry: RegistryPath = Path(".mlfactory"),
    engine: EngineName = None,
    workers: Workers = None,
    engine_address: EngineAddress = None,
    engine_timeout: EngineTimeout = None,
) -> int:
    """Check a model on an interval; record each result; retrain on drift with --retrain.

    The engine options apply to the retraining (the spec is then read once, now)."""
    import time

    from mlfactory.spec import FactorySpec, load_spec

    spec: Path | FactorySpec | None = retrain_spec
    if retrain_spec is not None and any((engine, workers, engine_address, engine_timeout)):
        spec = _with_engine(
            load_spec(retrain_spec), engine, workers, engine_address, engine_timeout
        )
    elif any((engine, workers, engine_address, engine_timeout)):
        raise BadInputError("--engine and its options apply to --retrain: give a factory.yaml")

    from mlfactory.loop import RetrainOutcome, Source, parse_duration
    from mlfactory.loop import watch as run

    seconds = parse_duration(every)
    if seconds is None or seconds <= 0:
        raise BadInputError(f"--every {every!r}: give a duration such as 30s, 10m, 1h or 1d")
    source = Source(current=current, sql=sql, prediction_log=prediction_log, hours=hours)
    if not source.given:
        raise BadInputError("give the current data: --current, --sql, or --prediction-log")

    def show(count: int, outcome: Any) -> None:
        stamp = time.strftime("%H:%M:%S")
        if isinstance(outcome, MlfactoryError):
            err.print(
                f"{stamp} check {count}: [yellow]not checked[/]: {escape(str(outcome))}",
                highlight=False,
            )
        elif isinstance(outcome, RetrainOutcome):
            trained = outcome.trained
            after = (
                f" -> version {trained.version}: {escape(trained.decision.reason)}"
                if trained
                else ""
            )
            what = "decay" if outcome.check is not None and not outcome.check.drifted else "drift"
            out.print(f"{stamp} check {count}: [red]{what}[/], retrained{after}", highlight=False)
        elif outcome.alarm:
            what = "drift" if outcome.drifted else "decay"
            out.print(f"{stamp} check {count}: [red]{what}[/]: "
                      + escape("; ".join(outcome.reasons())), highlight=False)  # fmt: skip
        else:
            said = (
                outcome.all_clear()
                if outcome.forecast is not None
                else f"no drift in {outcome.data.n_current:,} rows"
            )
            out.print(f"{stamp} check {count}: {escape(said)} (version {outcome.version})",
                      highlight=False)  # fmt: skip

    out.print(f"watching {model} every {every}; Ctrl-C stops")
    try:
        run(
            model,
            registry=_registry(registry),
            source=source,
            every_seconds=seconds,
            spec_path=spec,
            report_dir=report_dir,
            times=times,
            on_result=show,
        )
    except KeyboardInterrupt:
        out.print("stopped")
    return 0


def _since(hours: float | None) -> float | None:
    import time

    return time.time() - hours * 3600 if hours is not None else None


def _print_monitor(result: MonitorResult, model: str) -> None:

    if result.forecast is not None:
        _print_forecast(result, result.forecast, model)
        return
    table = Table(
        title=f"{model} (version {result.version}): {result.data.n_current:,} current rows vs "
        f"{result.data.n_reference:,} reference rows"
    )
    # the kind shows in the limit and the change; the change wraps, the rest never does
    for column in ("column", "effect", "limit", "p (BH)", "drift"):
        table.add_column(column, no_wrap=True)
    table.add_column("change")
    shown = result.data.columns + ([result.prediction] if result.prediction else [])
    for c in shown:
        table.add_row(
            escape(c.column),
            f"{c.effect:.3g}",
            f"{c.threshold:g}",
            "" if c.p_value is None else f"{c.p_value:.1g}",
            "[red]yes[/]" if c.drifted else "no",
            escape(c.detail.split(";")[0]),  # the whole detail is in --json and --report
        )
    out.print(table)
    if result.domain is not None:
        d = result.domain
        top = escape(", ".join(f"{c} {s:.0%}" for c, s in list(d.importance.items())[:3]))
        out.print(
            f"domain classifier: AUC {d.auc:.3f} (threshold {d.threshold}; 0.5 = "
            f"indistinguishable) on {d.n_reference:,} + {d.n_current:,} rows; "
            + (escape(d.note) if d.note else f"separating: {top}"),
            highlight=False,
        )
    if result.performance is not None:
        p = result.performance
        if p.current is None or p.low is None or p.high is None:
            why = escape(str(p.not_checked))
            out.print(f"performance: [yellow]not checked[/]: {why}", highlight=False)
        else:
            out.print(
                f"performance: {p.metric} {p.current:.4f} [{p.low:.4f}, {p.high:.4f}] on "
                f"{p.n_labelled:,} labelled rows; {p.reference:.4f} at registration"
                + (f" ({p.n_refused:,} refused by the input checks)" if p.n_refused else ""),
                highlight=False,
            )
    for finding in result.data.quality:
        out.print(f"[yellow]quality[/]: {escape(finding)}", highlight=False)
    if result.alarm:
        out.print("[bold red]" + ("drift" if result.drifted else "performance decay") + "[/]:")
        for reason in result.reasons():
            out.print(f"  - {escape(reason)}", highlight=False)
    else:
        out.print("[bold green]no drift[/]")


def _print_forecast(result: MonitorResult, check: ForecastCheck, model: str) -> None:
    """A forecasting check: the worst series, the overall comparison, the coverage."""

    table = Table(
        title=f"{model} (version {result.version}): {check.n_used:,} actuals of "
        f"{len(check.series):,} series against the forecasts served"
    )
    for column in ("series", "actuals", "live MASE", "backtest", "x backtest", "sMAPE"):
        table.add_column(column, no_wrap=True, justify="left" if column == "series" else "right")
    for name in check.coverage:
        table.add_column(f"in {name.removeprefix('coverage_')}%", justify="right")
    table.add_column("decay")
    for s in check.series[:SHOWN_SERIES]:
        table.add_row(
            escape(s.key),
            f"{s.points:,}",
            f"{s.mase:.3f}",
            f"{s.backtest:.3f}",
            f"{s.ratio:.2f}",
            f"{s.smape:.1f}",
            *(f"{share:.0%}" for share in s.coverage.values()),
            "[red]yes[/]" if s.decayed else "no",
        )
    if len(check.series) > SHOWN_SERIES:
        table.caption = f"the {SHOWN_SERIES} worst of {len(check.series):,} series; all in --json"
    out.print(table)
    if check.live is not None and check.low is not None and check.high is not None:
        out.print(
            f"overall: mean live MASE {check.live:.3f} [{check.low:.3f}, {check.high:.3f}] over "
            f"{check.compared:,} series; {check.backtest:.3f} in their backtest",
            highlight=False,
        )
    covered = "; ".join(
        f"{name.removeprefix('coverage_')}%: {share:.0%} of actuals"
        + (f" ({check.backtest_coverage[name]:.0%} in the backtest)"
           if name in check.backtest_coverage else "")
        for name, share in check.coverage.items()
    )  # fmt: skip
    if covered:
        out.print(f"interval coverage: {covered}", highlight=False)
    for finding in result.data.quality:
        out.print(f"[yellow]quality[/]: {escape(finding)}", highlight=False)
    if result.alarm:
        out.print("[bold red]accuracy decay[/]:")
        for reason in result.reasons():
            out.print(f"  - {escape(reason)}", highlight=False)
    else:
        out.print(f"[bold green]{escape(result.all_clear())}[/]", highlight=False)


def _write_monitor_outputs(
    result: MonitorResult, report: Path | None, json_out: Path | None
) -> None:
    if report is not None:
        from mlfactory.monitoring.report import write_report

        write_report(result, report)
        out.print(f"report: {report}", soft_wrap=True)
    if json_out is not None:
        json_out.write_text(json.dumps(result.to_dict(), indent=1, default=str))
