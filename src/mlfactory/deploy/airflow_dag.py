"""The text of a generated Airflow DAG file: plain Python that imports Airflow and nothing of
mlfactory, so it loads in the scheduler of any Airflow 3 install.

``deploy/airflow.py`` fills ``HEADER``'s constants (each one a Python literal), appends
``RUNNER`` as it is, ``DAG_OPEN`` filled, and one of the two graphs. Every task runs the
``mlfactory`` command in a subprocess with the run's logical date (``{date}`` in an
argument), never the clock.
"""

from __future__ import annotations

HEADER = '''"""{title}

Written by `mlfactory export airflow` from {spec_shown}; export again after changing the
spec or these options (the line above lets mlfactory know this file is its own).

Every task runs the mlfactory command with this run's logical date, never the clock, so a
backfill or a rerun of a date does that date's work again. The command's exit code:
- 0: done;
- 3: {three};
- 2: bad input: the task fails at once, without retries (a retry cannot fix a spec);
- any other: the task fails and is retried {retries} times, {retry_delay} s apart.

This file holds no secrets: ENV_FROM_CONNECTIONS names Airflow connections whose password becomes an
environment variable of the command.
"""

from __future__ import annotations

import datetime
import logging
import os
import shlex
import subprocess

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, BaseHook, CronDataIntervalTimetable
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

MLFACTORY = {executable!r}  # the mlfactory executable on the Airflow workers
WORKDIR = {workdir!r}  # where each task runs (a relative registry path resolves here)
SPEC = {spec!r}
HELD_BACK_FAILS = {held_back_fails!r}  # does a gate holding a model back fail its task?
ENV_FROM_CONNECTIONS: dict[str, str] = {connections!r}  # env var -> Airflow connection id
'''

RUNNER = '''
log = logging.getLogger(__name__)


def _argument(text: str, context: dict) -> str:
    """``{date}`` (YYYY-MM-DD) and ``{ts}`` (ISO 8601) in an argument: this run's logical date,
    from Airflow, never from the clock. (A manual run's data interval ends at its logical
    date where a scheduled run's starts there: the logical date means the same in both.)"""
    logical = context.get("logical_date")
    if logical is None:
        raise AirflowFailException(
            "this run has no logical date: trigger it with one (airflow dags trigger "
            "--logical-date YYYY-MM-DD ...), so the command knows which date to work on"
        )
    return text.replace("{date}", logical.strftime("%Y-%m-%d")).replace(
        "{ts}", logical.isoformat()
    )


def run_mlfactory(args: list[str], exit_3: str, after: str | None = None, **context) -> int:
    """Run ``mlfactory ARGS``; map its exit code to the task's state.

    ``exit_3`` says what exit 3 means: "held back" (a gate kept the new model back: the
    task succeeds unless HELD_BACK_FAILS), "drift" (the task succeeds and returns 3, so
    the retraining task after it runs) or "failure" (a command that never exits 3).
    ``after``: skip this task unless that task returned 3 (retrain only on drift)."""
    if after is not None and context["ti"].xcom_pull(task_ids=after) != 3:
        raise AirflowSkipException(f"{after} found no drift: nothing to retrain")
    argv = [MLFACTORY, *(_argument(a, context) for a in args)]
    env = dict(os.environ)
    for variable, connection in ENV_FROM_CONNECTIONS.items():
        env[variable] = BaseHook.get_connection(connection).password or ""
    log.info("running in %s: %s", WORKDIR, shlex.join(argv))
    try:
        process = subprocess.Popen(
            argv, cwd=WORKDIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace",
        )
    except OSError as exc:
        raise AirflowFailException(
            f"cannot run {MLFACTORY!r} in {WORKDIR!r}: {exc}; install mlfactory on the "
            "workers or export again with --mlfactory PATH"
        ) from None
    assert process.stdout is not None
    for line in process.stdout:
        log.info("%s", line.rstrip())
    code = process.wait()
    if code == 0:
        return 0
    if code == 3 and exit_3 == "drift":
        log.info("drift or decay found (exit 3): the retraining task runs next")
        return 3
    if code == 3 and exit_3 == "held back":
        if HELD_BACK_FAILS:
            raise AirflowFailException("a gate held the new model back (exit 3)")
        log.info("a gate held the new model back (exit 3): registered, not promoted")
        return 3
    if code == 2:
        raise AirflowFailException(f"bad input (exit 2): fix it and clear the task ({argv[1]})")
    raise AirflowException(f"mlfactory {argv[1]} failed with exit code {code}")
'''

DAG_OPEN = """

with DAG(
    dag_id={dag_id!r},
    description={description!r},
    schedule={schedule},
    start_date=datetime.datetime(
        {start_year}, {start_month}, {start_day}, tzinfo=datetime.timezone.utc
    ),
    catchup={catchup!r},
    max_active_runs=1,  # one writer at a time: the registry's aliases, a date's output folder
    default_args={{
        "retries": {retries!r},
        "retry_delay": datetime.timedelta(seconds={retry_delay!r}),
    }},
    tags=["mlfactory"],
    doc_md=__doc__,
) as dag:
"""

MODEL_TASKS = """
    validate = PythonOperator(
        task_id="validate",
        python_callable=run_mlfactory,
        op_kwargs={{"args": ["validate", SPEC], "exit_3": "failure"}},
    )
    train = PythonOperator(
        task_id="train",
        python_callable=run_mlfactory,
        op_kwargs={{"args": ["train", SPEC, "--quiet"], "exit_3": "held back"}},
    )
    monitor = PythonOperator(
        task_id="monitor",
        python_callable=run_mlfactory,
        op_kwargs={{"args": {monitor_args!r}, "exit_3": "drift"}},
    )
    retrain = PythonOperator(
        task_id="retrain",
        python_callable=run_mlfactory,
        op_kwargs={{"args": {retrain_args!r}, "exit_3": "held back", "after": "monitor"}},
    )
    validate >> train >> monitor >> retrain
"""

ETML_TASKS = """
    # The job is one command (mlfactory etml JOB --date D): extract, transform, detect,
    # summarise and load run in it, and the date's output folder is replaced whole at the
    # end, so a retry redoes the whole date (the LLM answers come from the job's cache).
    etml = PythonOperator(
        task_id="extract_detect_summarise_load",
        python_callable=run_mlfactory,
        op_kwargs={{"args": ["etml", SPEC, "--date", "{{date}}"], "exit_3": "failure"}},
    )
"""
