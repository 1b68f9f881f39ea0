"""mlfactory init: a project to commit (factory.yaml, Makefile, model tests, CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlfactory.cli.app import app, out


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="The project folder to write.")],
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            metavar="FILE",
            help="A CSV or Parquet file (or builtin:...) to guess factory.yaml from; a small "
            "file is copied into DIR/data/.",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", metavar="COL", help="The column to predict (none: anomaly)."),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            metavar="TASK",
            help="classification, regression, forecasting or anomaly (default: guessed "
            "from the target).",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="The registered model's name (default: DIR's name)."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Update a folder that is not empty: files init wrote and nobody edited are "
            "rewritten; edited ones are kept, init's version beside them as FILE.new.",
        ),
    ] = False,
) -> None:
    """Write a project: factory.yaml guessed from the data, a Makefile, model tests, CI."""
    from rich.markup import escape

    from mlfactory.deploy.scaffold import init_project

    done = init_project(folder, data=data, target=target, task=task, name=name, force=force)
    found = done.guess
    if found is not None:
        out.print(f"task {found.task}: {escape(found.task_reason)}", highlight=False)
        for column, reason in (
            (found.id_column, found.id_reason),
            (found.time_column, found.time_reason),
        ):
            out.print(f"{'  ' if column else '  (none) '}{escape(reason)}", highlight=False)
        for setting, why in (
            ("split.group_column", found.group_reason),
            ("data.sql", found.sql_reason),
            (f"forecast.fill {found.fill[0]}" if found.fill else "", found.fill and found.fill[1]),
            ("forecast.allow_negative", found.allow_negative),
        ):
            if why:
                out.print(f"  {setting}: {escape(why)}", highlight=False)
        if found.forecast_hint:
            out.print(f"  note: {escape(found.forecast_hint)}", highlight=False)
    shown = escape(str(done.folder))
    if done.written:
        out.print(f"wrote {', '.join(done.written)} in {shown}", highlight=False, soft_wrap=True)
    if done.unchanged:
        out.print(f"unchanged: {', '.join(done.unchanged)}", highlight=False)
    if done.kept:
        out.print(
            "[yellow]kept your edits[/] to "
            + ", ".join(done.kept)
            + "; init's versions are beside them as "
            + ", ".join(f"{k}.new" for k in done.kept),
            highlight=False,
        )
    out.print(
        f"next: cd {shown} && make test   (trains factory.yaml, then tests the champion)",
        highlight=False,
        soft_wrap=True,
    )
