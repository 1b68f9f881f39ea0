"""The Typer apps, the consoles and what several commands share."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from mlfactory.errors import BadInputError

if TYPE_CHECKING:
    from mlfactory.engines import Engine
    from mlfactory.registry import Registry
    from mlfactory.spec import FactorySpec

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
export_app = typer.Typer(
    help="Files to deploy with: an Airflow DAG, a container, Kubernetes, KServe, Lambda.",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")

# Every table is made to fit an 80-column terminal without splitting a word across
# lines: a column holding one word or number per cell never wraps (``no_wrap``); one
# holding words wraps between them; a word that cannot fit is cut with "…", never folded.
# A line holding a path or URI to copy is printed whole (``soft_wrap``): the terminal
# wraps it, and a copy gets it in one piece.
out = Console()
err = Console(stderr=True)

ModelArg = Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION.")]
RegistryPath = Annotated[
    Path, typer.Option("--registry", help="Embedded registry folder (MLFLOW_TRACKING_URI wins).")
]
JsonPath = Annotated[
    Path | None,
    typer.Option(
        "--json",
        metavar="PATH",
        help="Also write the result as JSON here ('-': to stdout, the tables to stderr).",
    ),
]

EngineName = Annotated[
    str | None,
    typer.Option(
        "--engine",
        metavar="NAME",
        help="Where the work runs: local, ray, spark or dask (default: the spec's, or local).",
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        max=256,
        help="Tasks at once (default: the spec's; local: 1, the others: this machine's cores).",
    ),
]
EngineAddress = Annotated[
    str | None,
    typer.Option(
        "--engine-address",
        metavar="ADDRESS",
        help="A running ray, spark or dask cluster (default: MLFACTORY_<ENGINE>_ADDRESS, "
        "else one started here).",
    ),
]

EngineTimeout = Annotated[
    float | None,
    typer.Option(
        "--engine-timeout",
        metavar="SECONDS",
        min=0.1,
        help="Seconds the engine's address has to answer (default: the spec's, or 10).",
    ),
]


def _with_engine(
    spec: FactorySpec,
    name: str | None,
    workers: int | None,
    address: str | None,
    timeout: float | None = None,
) -> FactorySpec:
    """The spec with the command line's engine options over its ``engine:`` keys."""
    from mlfactory.errors import SpecError
    from mlfactory.spec import EngineSpec

    given = {"name": name, "workers": workers, "address": address, "timeout": timeout}
    if not any(given.values()):
        return spec
    keys = spec.engine.model_dump(exclude_unset=True) if name in (None, spec.engine.name) else {}
    try:
        engine = EngineSpec.model_validate({**keys, **{k: v for k, v in given.items() if v}})
    except ValueError as exc:
        raise SpecError(f"--engine: {exc}") from None
    return spec.model_copy(update={"engine": engine})


def _engine(
    name: str | None, workers: int | None, address: str | None, timeout: float | None
) -> Engine:
    """The engine the command line names (default: local, one worker in this process)."""
    from mlfactory.engines import engine_named
    from mlfactory.engines.base import TIMEOUT

    name = name or "local"
    return engine_named(
        name,
        workers=workers or (1 if name == "local" else None),
        address=address,
        timeout=timeout or TIMEOUT,
    )


def _numbers(*values: float) -> list[str]:
    """Values shown together (one row): four decimals, or whole and grouped when one of
    them reaches 10,000 (a regression's errors), so a row stays narrow and of one kind."""
    import math

    finite = [abs(v) for v in values if math.isfinite(v)]
    whole = bool(finite) and max(finite) >= 10_000

    def shown(v: float) -> str:
        if v != v:
            return "—"
        if not math.isfinite(v):
            return str(v)
        # rounded first, then + 0.0: -0.00001 shows as 0.0000, not -0.0000
        return f"{round(v) + 0:,}" if whole else f"{round(v, 4) + 0.0:.4f}"

    return [shown(v) for v in values]


def _tables(json_out: Path | None) -> Console:
    """Where the human-readable output goes: stderr when the JSON takes stdout."""
    return err if json_out is not None and str(json_out) == "-" else out


def _registry(path: Path) -> Registry:
    """The registry a command reads (every one but ``train``/``retrain``, which make it).

    A folder without a store is refused, naming it: opening it would leave an empty
    store there, and the user most likely gave the wrong folder.
    """
    from mlfactory.registry import Registry

    registry = Registry(path=path)
    if registry.embedded and not (registry.path / "mlflow.db").is_file():
        raise BadInputError(
            f"no registry at --registry {str(path)!r} (no mlflow.db in {str(registry.path)!r}); "
            "point --registry at the folder `mlfactory train` wrote (.mlfactory beside the "
            "spec you trained), or train a model first"
        )
    return registry


def _require_versions(reg: Registry, name: str) -> list[Any]:
    from mlfactory.registry import ModelRef

    versions = reg.versions(name)
    if not versions:
        reg.resolve(ModelRef(name, alias="champion"))  # raises, naming the models that exist
    return versions
