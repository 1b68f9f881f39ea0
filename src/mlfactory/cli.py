"""The ``mlfactory`` command: parses arguments, calls the Python API, prints.

Exit codes: 0 success (for ``train``: promoted), 3 a gate held the model back,
2 bad input, 1 any other failure. Errors are one paragraph; ``--debug`` shows
the traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mlfactory.errors import BadInputError, MlfactoryError

if TYPE_CHECKING:
    from mlfactory.monitoring import MonitorResult
    from mlfactory.registry import Registry
    from mlfactory.training import TrainResult

app = typer.Typer(
    name="mlfactory",
    help="From one factory.yaml to a tuned, gated, registered model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(
    help="Registered models: versions, aliases, history.", no_args_is_help=True
)
app.add_typer(models_app, name="models")
keys_app = typer.Typer(help="Keys that sign models and verify them.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

out = Console()
err = Console(stderr=True)

RegistryPath = Annotated[
    Path, typer.Option("--registry", help="Embedded registry folder (MLFLOW_TRACKING_URI wins).")
]


def _registry(path: Path) -> Registry:
    from mlfactory.registry import Registry

    return Registry(path=path)


def _require_versions(reg: Registry, name: str) -> list[Any]:
    from mlfactory.registry import ModelRef

    versions = reg.versions(name)
    if not versions:
        reg.resolve(ModelRef(name, alias="champion"))  # raises, naming the models that exist
    return versions


def _recover(reg: Registry, name: str) -> None:
    """Settle what a killed command left (see registry/ledger.py) and say what was done."""
    try:
        settled = reg.recover(name)
    except MlfactoryError as exc:  # a read-only look at the registry still works
        err.print(f"[yellow]could not settle interrupted changes[/]: {exc}", highlight=False)
        return
    for line in settled:
        err.print(f"recovered: {line}", highlight=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of factory.yaml (for editor validation)."""
    from mlfactory.spec import json_schema

    print(json.dumps(json_schema(), indent=2))


@app.command()
def validate(spec: Annotated[Path, typer.Argument(help="Path to factory.yaml.")]) -> None:
    """Check the spec and its data without training anything."""
    from mlfactory.data import load_frame, prepare_training
    from mlfactory.spec import load_spec

    parsed = load_spec(spec)
    frame = load_frame(parsed.data.source, parsed.data.sql)
    data = prepare_training(frame, parsed.data, parsed.task)
    table = Table(title=f"{parsed.name}: {len(data.schema.columns)} features", show_lines=False)
    for column in ("feature", "kind", "dtype", "missing"):
        table.add_column(column)
    for col in data.schema.columns:
        table.add_row(col.name, col.kind, col.dtype, f"{col.missing_rate:.1%}")
    out.print(table)
    out.print(
        f"[green]ok[/]: {data.rows_read:,} rows, {data.dropped_missing_target:,} with a missing "
        f"target would be dropped; task {parsed.task}, target {parsed.data.target!r}"
        + (f", classes {data.schema.classes}" if data.schema.classes else "")
    )


def _fmt(value: float) -> str:
    return "—" if value != value else f"{value:.4f}"


def _print_result(result: TrainResult) -> None:
    table = Table(title=f"{result.name} v{result.version} ({result.model}), test metrics")
    for column in ("metric", "test", "95% CI", "train", "baseline"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, value in result.evaluation.metrics.items():
        low, high = result.evaluation.intervals[name]
        label = f"[bold]{name}[/] (primary)" if name == result.metric else name
        table.add_row(
            label,
            _fmt(value),
            f"[{_fmt(low)}, {_fmt(high)}]",
            _fmt(result.evaluation.train_metrics[name]),
            _fmt(result.baseline.metrics[name]),
        )
    out.print(table)
    decision = result.decision
    verdict = (
        f"[bold green]promoted[/]: version {result.version} is now {result.name}@champion"
        if decision.promoted
        else f"[bold yellow]held back[/]: version {result.version} is {result.name}@challenger"
    )
    out.print(verdict)
    for check in decision.checks:
        mark = "[green]✓[/]" if check.passed else "[red]✗[/]"
        out.print(f"  {mark} {check.detail}")
    out.print(f"report: {result.report_path}")


@app.command()
def train(
    spec: Annotated[Path, typer.Argument(help="Path to factory.yaml.")],
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress output.")] = False,
) -> int:
    """Train, tune, evaluate and gate; register the model (exit 0 promoted, 3 held back)."""
    from mlfactory.training import train as run

    result = run(spec, progress=not quiet)
    _print_result(result)
    return result.exit_code


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION.")],
    input: Annotated[Path, typer.Option("--input", help="CSV or Parquet file to score.")],
    output: Annotated[Path, typer.Option("--output", help="Where to write (.csv or .parquet).")],
    registry: RegistryPath = Path(".mlfactory"),
) -> None:
    """Score a small file with a registered model (input columns plus predictions)."""
    import pandas as pd

    from mlfactory.data import read_source

    if output.suffix not in (".csv", ".parquet"):
        raise BadInputError(f"--output {str(output)!r}: use a .csv or .parquet file name.")
    if input.is_dir() or input.suffix not in (".csv", ".parquet"):
        raise BadInputError(f"--input {str(input)!r}: give one .csv or .parquet file.")
    package, info = _registry(registry).load(model)
    frame = read_source(str(input))
    scored = pd.concat([frame, package.predict(frame)], axis=1)
    if output.suffix == ".csv":
        scored.to_csv(output, index=False)
    else:
        scored.to_parquet(output, index=False)
    err.print(f"scored {len(scored):,} rows with {info.name}/{info.version} → {output}")


@app.command()
def ui(
    registry: RegistryPath = Path(".mlfactory"),
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5000,
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


@app.command()
def serve(
    models: Annotated[list[str], typer.Argument(help="NAME@ALIAS or NAME/VERSION, one or more.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    registry: RegistryPath = Path(".mlfactory"),
    poll_seconds: Annotated[
        float, typer.Option(help="How often to check the registry for a new version; 0 = never.")
    ] = 30.0,
    max_batch_rows: Annotated[int, typer.Option(min=1, help="Rows per micro-batch.")] = 256,
    max_wait_ms: Annotated[float, typer.Option(min=0, help="Wait for a batch to fill.")] = 1.0,
    batching: Annotated[bool, typer.Option(help="Micro-batch concurrent requests.")] = True,
    max_rows: Annotated[int, typer.Option(min=1, help="Rows per request.")] = 10_000,
    max_body_bytes: Annotated[int, typer.Option(min=1, help="Request body limit.")] = 4 << 20,
    prediction_log: Annotated[
        Path | None, typer.Option(help="Folder for the Parquet prediction log.")
    ] = None,
    log_seconds: Annotated[
        float, typer.Option(min=1, help="Write logged rows to a file at least this often.")
    ] = 300.0,
    canary_percent: Annotated[
        float, typer.Option(min=0, max=100, help="Share of requests NAME@challenger answers.")
    ] = 0.0,
    shadow: Annotated[
        bool, typer.Option(help="NAME@challenger also scores every request, for the log only.")
    ] = False,
) -> None:
    """Serve registered models over HTTP (mlfactory JSON, MLflow /invocations, V2)."""
    import os

    import uvicorn

    from mlfactory.registry import ModelRef
    from mlfactory.registry.signing import verify_keys
    from mlfactory.serving import ServingConfig
    from mlfactory.serving.metrics import shared_by_workers
    from mlfactory.serving.predlog import check_folder
    from mlfactory.serving.server import CONFIG_ENV
    from mlfactory.serving.startup import log_config, startup_failures

    reg = _registry(registry)
    for ref in models:
        reg.resolve(ModelRef.parse(ref))  # fail now, with the list of what exists
    verify_keys()  # a bad MLFACTORY_VERIFY_KEY: say so once, not in every worker
    settings = {
        "models": models,
        "registry_path": str(reg.path),
        "batching": {
            "enabled": batching,
            "max_batch_rows": max_batch_rows,
            "max_wait_ms": max_wait_ms,
        },
        "poll_seconds": poll_seconds,
        "max_rows": max_rows,
        "max_body_bytes": max_body_bytes,
        "prediction_log": str(prediction_log.resolve()) if prediction_log else None,
        "log_seconds": log_seconds,
        "protocols": ["mlfactory", "mlflow", "v2"],
        "canary_percent": canary_percent,
        "shadow": shadow,
    }
    ServingConfig(canary_percent=canary_percent, shadow=shadow)  # refuse bad combinations now
    if prediction_log is not None:  # a log that cannot be written would drop every row
        check_folder(prediction_log, [ModelRef.parse(m).name for m in models])
    os.environ[CONFIG_ENV] = json.dumps(settings)
    # one /metrics over all workers; a worker that cannot start says why, once
    with shared_by_workers(workers), startup_failures() as failures:
        err.print(f"serving {', '.join(models)} on http://{host}:{port} ({workers} worker(s))")
        try:
            uvicorn.run(
                "mlfactory.serving.server:app_from_env",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="warning",
                log_config=log_config(),
            )
        except SystemExit:
            failures.raise_first()
            raise
        failures.raise_first()


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
    model: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION.")],
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
) -> int:
    """Retrain if the condition holds for the champion (exit 0 nothing to do or promoted,
    3 retrained but held back by a gate, 2 bad input)."""
    from mlfactory.loop import Source
    from mlfactory.loop import retrain as run

    source = Source(current=current, sql=sql, prediction_log=prediction_log, hours=hours)
    outcome = run(spec, when=when, source=source, progress=not quiet)
    verb = "retraining" if outcome.retrained else "no retraining"
    if outcome.check is not None:
        _print_monitor(outcome.check, f"{outcome.check.model}@champion")
        if outcome.retrained:
            out.print(f"[bold]{verb}[/]: champion version {outcome.champion} drifted (above)")
    if outcome.check is None or not outcome.retrained:
        out.print(f"[bold]{verb}[/]: {outcome.reason}", highlight=False)
    if outcome.trained is None:
        return 0
    _print_result(outcome.trained)
    return outcome.trained.exit_code


@app.command()
def watch(
    model: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION.")],
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
) -> int:
    """Check a model on an interval; record each result; retrain on drift with --retrain."""
    import time

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
            err.print(f"{stamp} check {count}: [yellow]not checked[/]: {outcome}", highlight=False)
        elif isinstance(outcome, RetrainOutcome):
            trained = outcome.trained
            after = f" -> version {trained.version}: {trained.decision.reason}" if trained else ""
            out.print(f"{stamp} check {count}: [red]drift[/], retrained{after}", highlight=False)
        elif outcome.alarm:
            out.print(f"{stamp} check {count}: [red]drift[/]: " + "; ".join(outcome.reasons()),
                      highlight=False)  # fmt: skip
        else:
            out.print(f"{stamp} check {count}: no drift in {outcome.data.n_current:,} rows "
                      f"(version {outcome.version})")  # fmt: skip

    out.print(f"watching {model} every {every}; Ctrl-C stops")
    try:
        run(
            model,
            registry=_registry(registry),
            source=source,
            every_seconds=seconds,
            spec_path=retrain_spec,
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
    from rich.markup import escape

    table = Table(
        title=f"{model} (version {result.version}): {result.data.n_current:,} current rows vs "
        f"{result.data.n_reference:,} reference rows"
    )
    for column in ("column", "kind", "effect", "limit", "p (BH)", "drift", "change"):
        table.add_column(column, overflow="fold")
    shown = result.data.columns + ([result.prediction] if result.prediction else [])
    for c in shown:
        table.add_row(
            c.column,
            c.kind[:3] + ".",
            f"{c.effect:.3g}",
            f"{c.threshold:g}",
            "" if c.p_value is None else f"{c.p_value:.1g}",
            "[red]yes[/]" if c.drifted else "no",
            c.detail.split(";")[0],  # the whole detail is in --json and --report
        )
    out.print(table)
    if result.domain is not None:
        d = result.domain
        top = ", ".join(f"{c} {s:.0%}" for c, s in list(d.importance.items())[:3])
        out.print(
            f"domain classifier: AUC {d.auc:.3f} (threshold {d.threshold}; 0.5 = "
            f"indistinguishable) on {d.n_reference:,} + {d.n_current:,} rows; separating: {top}",
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
                f"{p.n_labelled:,} labelled rows; {p.reference:.4f} at registration",
                highlight=False,
            )
    for finding in result.data.quality:
        out.print(f"[yellow]quality[/]: {finding}", highlight=False)
    if result.alarm:
        out.print("[bold red]" + ("drift" if result.drifted else "performance decay") + "[/]:")
        for reason in result.reasons():
            out.print(f"  - {reason}", highlight=False)
    else:
        out.print("[bold green]no drift[/]")


def _write_monitor_outputs(
    result: MonitorResult, report: Path | None, json_out: Path | None
) -> None:
    if report is not None:
        from mlfactory.monitoring.report import write_report

        write_report(result, report)
        out.print(f"report: {report}")
    if json_out is not None:
        json_out.write_text(json.dumps(result.to_dict(), indent=1, default=str))


@models_app.command("list")
def models_list(registry: RegistryPath = Path(".mlfactory")) -> None:
    """Every registered model with its aliases."""
    reg = _registry(registry)
    rows = reg.list_models()
    if not rows:
        out.print(f"no models in {reg.tracking_uri}; run `mlfactory train factory.yaml`")
        return
    table = Table(title=f"models in {reg.tracking_uri}")
    for column in ("name", "latest version", "aliases"):
        table.add_column(column)
    for row in rows:
        aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(row["aliases"].items()))
        table.add_row(row["name"], str(row["latest"]), aliases)
    out.print(table)


@models_app.command("show")
def models_show(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    registry: RegistryPath = Path(".mlfactory"),
) -> None:
    """Versions of one model: aliases, metrics, the gate decision and its reason."""
    from datetime import datetime

    reg = _registry(registry)
    _recover(reg, name)
    versions = _require_versions(reg, name)
    table = Table(title=f"{name}")
    for column in ("version", "aliases", "created", "model", "test metric", "decided at training"):
        table.add_column(column)
    for v in versions:
        metric = v.tags.get("mlfactory.metric", "")
        value = v.metrics.get(metric)
        table.add_row(
            v.version,
            ", ".join(v.aliases),
            datetime.fromtimestamp(v.created).strftime("%Y-%m-%d %H:%M:%S"),
            v.tags.get("mlfactory.model", ""),
            f"{metric} {value:.4f}" if value is not None else "",
            "registering" if v.registering else v.decision,
        )
    out.print(table)
    for v in versions:
        out.print(f"v{v.version} {v.reason}", highlight=False)
        if v.registering:
            out.print(
                f"v{v.version} is still being registered by {v.registering.describe()}; "
                "its alias has not moved yet",
                highlight=False,
            )
    out.print(
        "load it anywhere: mlflow.set_tracking_uri("
        f"{reg.tracking_uri!r}); mlflow.pyfunc.load_model('models:/{name}@champion')"
    )


@models_app.command("history")
def models_history(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    registry: RegistryPath = Path(".mlfactory"),
) -> None:
    """Every alias move: who held champion when, and why."""
    from datetime import datetime

    reg = _registry(registry)
    _recover(reg, name)
    _require_versions(reg, name)
    table = Table(title=f"{name}: alias history", show_lines=True)
    for column in ("time", "alias", "version", "previous", "reason"):
        table.add_column(column)
    for event in reg.alias_history(name):
        table.add_row(
            datetime.fromtimestamp(event["time"]).strftime("%Y-%m-%d %H:%M:%S"),
            event["alias"],
            str(event["version"]),
            str(event.get("previous") or ""),
            event["reason"],
        )
    out.print(table)


@models_app.command("promote")
def models_promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Argument(help="Version to make champion.")],
    reason: Annotated[
        str, typer.Option(help="Recorded in the alias history.")
    ] = "promoted by hand",
    registry: RegistryPath = Path(".mlfactory"),
) -> None:
    """Make VERSION the champion (recorded in the history)."""
    if not version.isdigit():
        raise BadInputError(f"VERSION must be a number like 3, got {version!r}.")
    reg = _registry(registry)
    _recover(reg, name)
    reg.promote(name, version, reason=reason)
    out.print(f"{name}@champion → version {version}")


@models_app.command("rollback")
def models_rollback(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    registry: RegistryPath = Path(".mlfactory"),
) -> None:
    """Give champion back to the version before the current one (again: one step further)."""
    reg = _registry(registry)
    _recover(reg, name)
    target = reg.rollback(name)
    out.print(f"{name}@champion → version {target} (rolled back)")


@keys_app.command("generate")
def keys_generate(
    directory: Annotated[Path, typer.Argument(help="Folder for the two key files.")],
) -> None:
    """Make an ed25519 pair: training signs with the private key, loaders verify."""
    from mlfactory.registry.signing import SIGNING_KEY_ENV, VERIFY_KEY_ENV, generate_keys

    private, public, fingerprint = generate_keys(directory)
    lines = (
        f"private key (owner only): {private}",
        f"public key: {public}",
        f"fingerprint: {fingerprint}",
        f"train with  {SIGNING_KEY_ENV}={private}",
        f"load with   {VERIFY_KEY_ENV}={public}",
    )
    out.print("\n".join(lines), highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command and map errors to exit codes."""
    import click

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        result: Any = app(args=args, prog_name="mlfactory", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return 2
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print("interrupted")
        return 130
    except MlfactoryError as exc:
        if debug:
            raise
        # soft wrap: a long path or URI in the message stays whole, to copy and paste
        err.print(
            f"[bold red]error[/] ({type(exc).__name__}): {exc}", highlight=False, soft_wrap=True
        )
        return exc.exit_code
    except Exception as exc:
        if debug:
            raise
        err.print(
            f"[bold red]internal error[/]: {type(exc).__name__}: {exc}\n"
            "This is a bug in mlfactory; run again with --debug for the traceback and report it.",
            highlight=False,
        )
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
