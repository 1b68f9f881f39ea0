"""``mlfactory serve``: checks what it can before uvicorn starts, then runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mlfactory.cli.app import RegistryPath, _registry, app, err


@app.command()
def serve(
    models: Annotated[list[str], typer.Argument(help="NAME@ALIAS or NAME/VERSION, one or more.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    registry: RegistryPath = Path(".mlfactory"),
    poll_seconds: Annotated[
        float,
        typer.Option(min=0, help="How often to check the registry for a new version; 0 = never."),
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
    protocol: Annotated[
        list[str] | None,
        typer.Option(help="A protocol to serve (repeat for several); default: all of them."),
    ] = None,
    access_log: Annotated[
        bool,
        typer.Option(
            help="One line per request on stderr: method, path, status, ms, model version."
        ),
    ] = True,
) -> None:
    """Serve registered models over HTTP (mlfactory JSON, MLflow /invocations, V2)."""
    import os

    import uvicorn

    from mlfactory.registry import ModelRef
    from mlfactory.registry.signing import verify_keys
    from mlfactory.serving import ServingConfig
    from mlfactory.serving.auth import TOKEN_ENV, Guard
    from mlfactory.serving.metrics import shared_by_workers
    from mlfactory.serving.predlog import check_folder
    from mlfactory.serving.protocols import PROTOCOLS
    from mlfactory.serving.server import CONFIG_ENV
    from mlfactory.serving.startup import log_config, startup_failures

    config = ServingConfig(  # refuse bad combinations and unknown protocols now
        canary_percent=canary_percent, shadow=shadow, protocols=tuple(protocol or PROTOCOLS)
    )
    reg = _registry(registry)
    for ref in models:
        reg.resolve(ModelRef.parse(ref))  # fail now, with the list of what exists
    verify_keys()  # a bad MLFACTORY_VERIFY_KEY: say so once, not in every worker
    Guard(os.environ.get(TOKEN_ENV))  # a blank MLFACTORY_API_TOKEN, likewise
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
        "protocols": list(config.protocols),
        "canary_percent": canary_percent,
        "shadow": shadow,
        "access_log": access_log,
    }
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
