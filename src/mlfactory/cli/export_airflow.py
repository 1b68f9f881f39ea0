"""mlfactory export airflow: an Airflow 3 DAG file for a model or an ETML job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlfactory.cli.app import export_app, out


@export_app.command("airflow")
def airflow(
    spec: Annotated[
        Path, typer.Argument(metavar="SPEC", help="factory.yaml (a model) or job.yaml (ETML).")
    ],
    schedule: Annotated[
        str,
        typer.Option(
            help="An Airflow preset (@daily, @hourly, @weekly, @once, ...), a 5-field cron "
            "expression ('0 2 * * *', UTC), or none (runs only when triggered)."
        ),
    ] = "@daily",
    output: Annotated[
        Path, typer.Option(help="The DAGs folder; the file is DAG_ID.py in it.")
    ] = Path("dags"),
    dag_id: Annotated[
        str | None, typer.Option(help="The DAG id (default: the spec's name).")
    ] = None,
    current: Annotated[
        str | None,
        typer.Option(
            help="A model's data to monitor for each date, with {date} (YYYY-MM-DD) where the "
            "date goes: 'data/day={date}.parquet'.",
        ),
    ] = None,
    sql: Annotated[
        str | None,
        typer.Option(
            help="DuckDB SQL over --current (the table `data`) selecting the run's rows with "
            "{date} or {ts} (the logical date as YYYY-MM-DD or ISO 8601).",
        ),
    ] = None,
    mlfactory: Annotated[
        str, typer.Option("--mlfactory", help="The mlfactory executable on the Airflow workers.")
    ] = "mlfactory",
    workdir: Annotated[
        Path | None,
        typer.Option(
            help="Where the tasks run on the workers; a relative registry path resolves "
            "there (default: the current folder)."
        ),
    ] = None,
    retries: Annotated[int, typer.Option(min=0, max=20, help="Retries of a failed task.")] = 2,
    retry_delay: Annotated[
        int, typer.Option(min=0, help="Seconds between a task's retries.")
    ] = 300,
    fail_on_held_back: Annotated[
        bool,
        typer.Option(
            "--fail-on-held-back",
            help="A gate holding the new model back (exit 3) fails train/retrain.",
        ),
    ] = False,
    start_date: Annotated[
        str | None,
        typer.Option(
            help="The earliest logical date of a run or a backfill, YYYY-MM-DD (Airflow runs "
            "no task for a date before it; default 2000-01-01)."
        ),
    ] = None,
    catchup: Annotated[
        bool, typer.Option(help="Also run every date from --start-date on (needs --start-date).")
    ] = False,
    env_from_connection: Annotated[
        list[str] | None,
        typer.Option(
            "--env-from-connection",
            metavar="VAR=CONN_ID",
            help="Set the command's env var VAR to the password of the Airflow connection "
            "CONN_ID (repeatable), e.g. OPENAI_API_KEY=openai_default: no secret in the file.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace DAG_ID.py even if it is not ours as written.")
    ] = False,
) -> None:
    """Write an Airflow 3 DAG that runs the spec on a schedule, with each run's logical date.

    A model: validate -> train -> monitor --current -> retrain (on drift). An ETML job: one
    task, mlfactory etml JOB --date {date}. Exit 3 (held back) does not fail a task unless
    --fail-on-held-back; exit 2 fails without retries."""
    import datetime

    from mlfactory.deploy.airflow import AirflowOptions, export_airflow
    from mlfactory.errors import BadInputError

    day = AirflowOptions.start_date
    if start_date is not None:
        try:
            day = datetime.date.fromisoformat(start_date)
        except ValueError:
            raise BadInputError(
                f"--start-date: {start_date!r} is not a date; use YYYY-MM-DD"
            ) from None
    connections: dict[str, str] = {}
    for pair in env_from_connection or []:
        variable, equals, connection = pair.partition("=")
        if not equals:
            raise BadInputError(
                f"--env-from-connection: {pair!r} is not VAR=CONN_ID (e.g. "
                "OPENAI_API_KEY=openai_default)"
            )
        connections[variable] = connection
    options = AirflowOptions(
        schedule=schedule,
        dag_id=dag_id,
        executable=mlfactory,
        workdir=workdir,
        current=current,
        sql=sql,
        retries=retries,
        retry_delay=retry_delay,
        fail_on_held_back=fail_on_held_back,
        start_date=day,
        catchup=catchup,
        env_from_connections=connections,
        force=force,
    )
    written = export_airflow(spec, output, options)
    out.print(f"wrote {written}", soft_wrap=True, highlight=False)
