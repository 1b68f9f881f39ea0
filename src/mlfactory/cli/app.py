"""The Typer apps, the consoles and what several commands share."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from mlfactory.registry import Registry

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

# Every table is made to fit an 80-column terminal without splitting a word across
# lines: a column holding one word or number per cell never wraps (``no_wrap``); one
# holding words wraps between them; a word that cannot fit is cut with "…", never folded.
# A line holding a path or URI to copy is printed whole (``soft_wrap``): the terminal
# wraps it, and a copy gets it in one piece.
out = Console()
err = Console(stderr=True)

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


def _numbers(*values: float) -> list[str]:
    """Values shown together (one row): four decimals, or whole and grouped when one of
    them reaches 10,000 (a regression's errors), so a row stays narrow and of one kind."""
    import math

    finite = [abs(v) for v in values if math.isfinite(v)]
    whole = bool(finite) and max(finite) >= 10_000
    return ["—" if v != v else f"{v:,.0f}" if whole else f"{v:.4f}" for v in values]


def _tables(json_out: Path | None) -> Console:
    """Where the human-readable output goes: stderr when the JSON takes stdout."""
    return err if json_out is not None and str(json_out) == "-" else out


def _registry(path: Path) -> Registry:
    from mlfactory.registry import Registry

    return Registry(path=path)


def _require_versions(reg: Registry, name: str) -> list[Any]:
    from mlfactory.registry import ModelRef

    versions = reg.versions(name)
    if not versions:
        reg.resolve(ModelRef(name, alias="champion"))  # raises, naming the models that exist
    return versions
