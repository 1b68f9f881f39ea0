"""``mlfactory models``: versions, aliases, history, promote, rollback; ``keys``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mlfactory.cli.app import (
    JsonPath,
    RegistryPath,
    _numbers,
    _registry,
    _require_versions,
    _tables,
    err,
    keys_app,
    models_app,
    out,
)
from mlfactory.errors import BadInputError, MlfactoryError

if TYPE_CHECKING:
    from mlfactory.registry import Registry


def _recover(reg: Registry, name: str) -> None:
    """Settle what a killed command left (see registry/ledger.py) and say what was done."""
    try:
        settled = reg.recover(name)
    except MlfactoryError as exc:  # a read-only look at the registry still works
        err.print(
            f"[yellow]could not settle interrupted changes[/]: {escape(str(exc))}", highlight=False
        )
        return
    for line in settled:
        err.print(f"recovered: {escape(line)}", highlight=False)


@models_app.command("list")
def models_list(registry: RegistryPath = Path(".mlfactory")) -> None:
    """Every registered model with its aliases."""
    reg = _registry(registry)
    rows = reg.list_models()
    if not rows:
        out.print(f"no models in {reg.tracking_uri}; run `mlfactory train factory.yaml`")
        return
    table = Table(title="registered models")
    table.add_column("name", no_wrap=True)
    table.add_column("latest", justify="right", no_wrap=True)
    table.add_column("aliases")
    for row in rows:
        aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(row["aliases"].items()))
        table.add_row(row["name"], str(row["latest"]), aliases)
    out.print(table)
    out.print(f"in {reg.tracking_uri}", soft_wrap=True, highlight=False)


@models_app.command("show")
def models_show(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    json_out: JsonPath = None,
    registry: RegistryPath = Path(".mlfactory"),
) -> None:
    """Versions of one model: aliases, metrics, the gate decision and its reason."""
    from datetime import datetime

    from mlfactory.cli.records import check_target, decision_words, model_record, write_json
    from mlfactory.registry import tags

    check_target(json_out)
    console = _tables(json_out)
    reg = _registry(registry)
    _recover(reg, name)
    versions = _require_versions(reg, name)
    metrics = {v.tags.get(tags.METRIC, "") for v in versions}
    shared = metrics.pop() if len(metrics) == 1 else None  # then named once, in the header
    table = Table(title=name)  # when each version was made is in the lines below it
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("aliases")
    table.add_column("model")  # one word: cut with … on a narrow terminal, never split
    table.add_column(f"test {shared}" if shared else "test metric", justify="right")
    table.add_column("decision", no_wrap=True)
    for v in versions:
        metric = v.tags.get(tags.METRIC, "")
        value = v.metrics.get(metric)
        shown = "" if value is None else _numbers(value)[0]
        table.add_row(
            v.version,
            ", ".join(v.aliases),
            v.tags.get(tags.MODEL, ""),
            shown if shared or not shown else f"{metric} {shown}",
            decision_words(v),
        )
    console.print(table)
    for v in versions:
        created = datetime.fromtimestamp(v.created).strftime("%Y-%m-%d %H:%M")
        console.print(f"v{v.version} ({created}) {escape(v.reason)}", highlight=False)
        if family := v.family:
            columns = ", ".join(map(str, family.get("columns", [])))
            if "series" in family:  # a forecasting version: its series and who forecasts them
                models = family.get("models") or {}
                who = ", ".join(f"{n:,} by {m}" for m, n in models.items() if n)
                line = f"forecasts {family['series']:,} series of {columns}: {who}"
            else:
                line = (
                    f"is a family of {family.get('groups')} groups of {columns}: "
                    f"{family.get('own')} with a model of their own, the global model scoring "
                    "the rest"
                )
            console.print(f"v{v.version} {escape(line)}", highlight=False)
        if signer := v.tags.get(tags.SIGNED_BY):
            console.print(f"v{v.version} signed by the key {signer[:16]}…", highlight=False)
        if v.registering:
            console.print(
                f"v{v.version} is still being registered by {v.registering.describe()}; "
                "its alias has not moved yet",
                highlight=False,
            )
    console.print("load it anywhere:")
    console.print(f"  mlflow.set_tracking_uri({reg.tracking_uri!r})", soft_wrap=True)
    console.print(f"  mlflow.pyfunc.load_model('models:/{name}@champion')", soft_wrap=True)
    if json_out is not None:
        write_json(model_record(reg, versions), json_out)


@models_app.command("split")
def models_split(
    model: Annotated[str, typer.Argument(help="NAME/VERSION or NAME@ALIAS.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write: .parquet or .csv.")
    ],
    force: Annotated[bool, typer.Option(help="Replace OUTPUT if it exists.")] = False,
    registry: RegistryPath = Path(".mlfactory"),
) -> None:
    """Write which rows trained, validated and tested a version, to check it on the same rows."""
    if output.suffix not in (".parquet", ".csv"):
        raise BadInputError(f"--output must end in .parquet or .csv, got {str(output)!r}.")
    if output.exists() and not force:
        raise BadInputError(f"{output} exists; pass --force to replace it.")
    reg = _registry(registry)
    package, info = reg.load(model)
    rows = package.split
    if rows is None:
        raise BadInputError(
            f"{info.name}/{info.version} was trained before mlfactory recorded splits; retrain it."
        )
    from mlfactory.files import write_atomically

    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix == ".csv":
        write_atomically(output, lambda handle: rows.to_csv(handle, index=False))
    else:
        write_atomically(output, lambda handle: rows.to_parquet(handle, index=False))
    counts = rows["part"].value_counts()
    lineage = package.manifest.lineage
    out.print(
        f"{info.name}/{info.version}: {len(rows):,} rows → {output} ("
        + ", ".join(f"{part} {counts.get(part, 0):,}" for part in ("train", "validation", "test"))
        + f"); 'row' is the position in the data as read, whose fingerprint is "
        f"{lineage.data_fingerprint[:16]}…"
        + ("; refit on train + validation" if lineage.split.get("refit") else ""),
        highlight=False,
        soft_wrap=True,
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
    for column in ("time", "alias", "version", "previous"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason")
    for event in reg.alias_history(name):
        table.add_row(
            datetime.fromtimestamp(event["time"]).strftime("%Y-%m-%d %H:%M:%S"),
            event["alias"],
            str(event["version"]),
            str(event.get("previous") or ""),
            escape(event["reason"]),
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
