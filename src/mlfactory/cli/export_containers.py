"""``mlfactory export docker|k8s|kserve``: a container for one model version, and the
Kubernetes and KServe manifests that run it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlfactory.cli.app import ModelArg, RegistryPath, _registry, export_app, out

OutputDir = Annotated[
    Path, typer.Option("--output", "-o", help="Folder to write to (created if missing).")
]
Force = Annotated[
    bool,
    typer.Option(
        "--force", help="Write into a folder that holds other files (they are left as they are)."
    ),
]


def _say(text: str) -> None:
    out.print(text, highlight=False, soft_wrap=True)  # paths whole, to copy


def _wrote(files: list[Path], folder: Path) -> None:
    for path in files:
        if "/" not in path.relative_to(folder).as_posix():  # the model folder's files: one line
            _say(f"  {path}")


@export_app.command("docker")
def export_docker(
    model: ModelArg,
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
    _say(f"wrote the build context of {done.ref} (version {done.version}) to {output}:")
    _wrote(done.files, output)
    _say(f"  {output}/model/ (the verified model folder)")
    _say(f"build it: docker build -t {done.image} {output}")


TokenSecret = Annotated[
    str | None,
    typer.Option(
        help="The Secret holding the API token under the key 'token' (default: NAME-api-token)."
    ),
]


@export_app.command("k8s")
def export_k8s(
    model: ModelArg,
    output: OutputDir,
    registry: RegistryPath = Path(".mlfactory"),
    image: Annotated[
        str | None,
        typer.Option(help="The image `export docker` built (default: NAME:VERSION)."),
    ] = None,
    replicas: Annotated[
        int, typer.Option(min=1, help="Replicas, and the autoscaler's minimum.")
    ] = 2,
    max_replicas: Annotated[int, typer.Option(min=1, help="The autoscaler's maximum.")] = 10,
    canary: Annotated[
        bool,
        typer.Option(
            help="Also a one-replica Deployment of NAME@challenger behind the same Service."
        ),
    ] = False,
    canary_image: Annotated[
        str | None, typer.Option(help="The challenger's image (default: NAME:ITS_VERSION).")
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            help="Cron schedule of a CronJob running `mlfactory retrain --when drift` on the "
            "servers' prediction log ('0 * * * *'): `mlfactory watch` on Kubernetes."
        ),
    ] = None,
    token_secret: TokenSecret = None,
    force: Force = False,
) -> None:
    """A Deployment, Service and HorizontalPodAutoscaler (and a canary, a CronJob)."""
    from mlfactory.deploy.kubernetes import export_k8s as write

    done = write(
        _registry(registry),
        model,
        output,
        image=image,
        replicas=replicas,
        max_replicas=max_replicas,
        canary=canary,
        canary_image=canary_image,
        schedule=schedule,
        token_secret=token_secret,
        force=force,
    )
    _say(f"wrote the manifests of {done.ref} (version {done.version}, image {done.image}):")
    _wrote(done.files, output)
    _say(f"apply them: kubectl apply -f {output}")


@export_app.command("kserve")
def export_kserve(
    model: ModelArg,
    output: OutputDir,
    image: Annotated[str, typer.Option(help="The image `export docker` built, in a registry.")],
    registry: RegistryPath = Path(".mlfactory"),
    min_replicas: Annotated[
        int, typer.Option(min=0, help="Fewest replicas (0: scale to zero).")
    ] = 1,
    max_replicas: Annotated[int, typer.Option(min=1, help="Most replicas.")] = 3,
    token_secret: TokenSecret = None,
    force: Force = False,
) -> None:
    """A KServe InferenceService: the image as a custom predictor speaking V2."""
    from mlfactory.deploy.kubernetes import export_kserve as write

    done = write(
        _registry(registry),
        model,
        output,
        image=image,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        token_secret=token_secret,
        force=force,
    )
    _say(f"wrote the InferenceService of {done.ref} (version {done.version}):")
    _wrote(done.files, output)
