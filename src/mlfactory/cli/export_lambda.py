"""``mlfactory export lambda``: a SAM template and a container image for one registered version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from mlfactory.cli.app import RegistryPath, _registry, err, export_app, out


@export_app.command("lambda")
def export_lambda_command(
    model: Annotated[str, typer.Argument(metavar="NAME@ALIAS", help="Or NAME/VERSION.")],
    output: Annotated[Path, typer.Option(help="Folder to write the function's files to.")],
    registry: RegistryPath = Path(".mlfactory"),
    memory: Annotated[int, typer.Option(help="The function's memory in MB (128-10240).")] = 1024,
    timeout: Annotated[int, typer.Option(help="Seconds a request may take (1-900).")] = 30,
    force: Annotated[
        bool, typer.Option(help="Write into a folder that is not empty (other files are kept).")
    ] = False,
) -> None:
    """AWS Lambda: a container-image function serving one version, with its SAM template."""
    from mlfactory.deploy.aws_lambda import export_lambda

    written = export_lambda(
        model,
        output,
        registry=_registry(registry),
        force=force,
        memory_mb=memory,
        timeout_s=timeout,
    )
    err.print(
        f"{escape(written.ref)} (version {written.version}) -> {escape(str(output))}: "
        f"{', '.join(written.files)}",
        highlight=False,
        soft_wrap=True,
    )
    out.print(  # one line, to copy and paste
        f"cd {escape(str(output))} && sam build && sam deploy --guided",
        highlight=False,
        soft_wrap=True,
    )
