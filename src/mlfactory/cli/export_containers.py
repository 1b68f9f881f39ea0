"""``mlfactory export docker|k8s|kserve``: a container for one model version, and the
Kubernetes and KServe manifests that run it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlfactory.cli.app import RegistryPath, _registry, export_app, out

OutputDir = Annotated[
    Path, typer.Option("--output", "-o", help="Folder to write to (created if missing).")
]
Force = Annotated[
    bool,
    typer.Option(
        "--force", help="Write into a folder that holds other files (they are left as they are)."
    ),
]


def _wrote(files: list[Path], folder: Path) -> None:
    for path in files:
        if "/" not in path.relative_to(folder).as_posix():  # the model folder's files: one line
            out.print(f"  {path}", highlight=False, soft_wrap=True)


@export_app.command("docker")
def export_docker(
    model: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION.")],
    output: OutputDir,
    registry: RegistryPath = Path(".mlfactory"),
    wheel: Annotated[
        Path | None,
        typer.Option(
            help="An mlfactory wheel to install instead of the model's pinned "
            "mlfactory==VERSION from the package index (a build of a checkout)."
        ),
    ] = None,
    base_image: Annotated[
        str, typer.Option(help="The Python image both stages start from.")
    ] = "python:3.11-slim",
    force: Force = False,
) -> None:
    """A Dockerfile and build context for a server of one model version."""
    from mlfactory.deploy.docker import export_docker as write

    done = write(
        _registry(registry), model, output, force=force, wheel=wheel, base_image=base_image
    )
    out.print(
        f"wrote the build context of {done.ref} (version {done.version}) to {output}:",
        highlight=False,
        soft_wrap=True,
    )
    _wrote(done.files, output)
    out.print(f"  {output}/model/ (the verified model folder)", highlight=False, soft_wrap=True)
    out.print(f"build it: docker build -t {done.image} {output}", highlight=False, soft_wrap=True)
