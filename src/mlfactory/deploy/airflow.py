"""``mlfactory export airflow``: an Airflow 3 DAG file for a model (factory.yaml) or an ETML
job (job.yaml).

A model's DAG is validate -> train -> monitor -> retrain (only when monitor found drift); a
job's is one task, ``mlfactory etml JOB --date D``. Every task calls the mlfactory command
with the run's logical date; the text of the file is ``deploy/airflow_dag.py``'s.

The file is ``OUTPUT/DAG_ID.py``; its first line marks it as written by mlfactory, with the
DAG id, the spec and a digest of the rest, so exporting again replaces our own unedited file
and nothing else: a file we did not write, one edited since, one written for another spec,
or another file of the folder defining the same DAG id is refused unless ``force``.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mlfactory.deploy import airflow_dag
from mlfactory.errors import BadInputError, SpecError

__all__ = ["AirflowOptions", "DagSpec", "check_schedule", "export_airflow", "read_spec"]

PRESETS = (
    "@once",
    "@hourly",
    "@daily",
    "@midnight",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
    "@annually",
)
MARKER = "# mlfactory export airflow:"
_DAG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FIELDS = (  # name, low, high, names (their value is low + index)
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)


@dataclass(frozen=True)
class AirflowOptions:
    """How the DAG runs; every field is the command line's option of the same name."""

    schedule: str = "@daily"
    dag_id: str | None = None
    executable: str = "mlfactory"
    workdir: Path | None = None  # default: the current folder
    current: str | None = None
    sql: str | None = None
    retries: int = 2
    retry_delay: int = 300
    fail_on_held_back: bool = False
    start_date: datetime.date = datetime.date(2000, 1, 1)
    catchup: bool = False
    env_from_connections: dict[str, str] = field(default_factory=dict)
    force: bool = False


@dataclass(frozen=True)
class DagSpec:
    """What the DAG needs of a checked spec: its kind, name and registry folder."""

    kind: Literal["model", "etml"]
    name: str
    path: Path
    registry: str


def check_schedule(schedule: str) -> str | None:
    """The schedule as Airflow takes it (None: runs only when triggered), or a
    ``BadInputError`` naming what Airflow would reject."""
    text = schedule.strip()
    if text.lower() == "none":
        return None
    if text.startswith("@"):
        if text == "@continuous":
            raise BadInputError(
                "--schedule: '@continuous' starts a run as soon as one ends, so a run has no "
                "date of its own to work on; use a preset such as @hourly or @daily, or a cron "
                "expression"
            )
        if text not in PRESETS:
            raise BadInputError(
                f"--schedule: {schedule!r} is not an Airflow preset; use one of "
                f"{', '.join(PRESETS)}, a cron expression ('0 2 * * *'), or none"
            )
        return text
    fields = text.split()
    if len(fields) != 5:
        raise BadInputError(
            f"--schedule: {schedule!r} has {len(fields)} fields; a cron expression has 5 "
            "(minute hour day-of-month month day-of-week, e.g. '0 2 * * *'), or use a preset "
            "such as @daily"
        )
    for value, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        problem = _cron_field(value.lower(), name, low, high, names)
        if problem:
            raise BadInputError(
                f"--schedule: {schedule!r}: the {name} field {value!r} {problem}; Airflow "
                "would refuse the DAG"
            )
    return " ".join(fields)


def _cron_field(value: str, name: str, low: int, high: int, names: tuple[str, ...]) -> str:
    """Why one cron field is invalid (as croniter, which Airflow uses, judges it), or ''."""

    def number(text: str) -> int | None:
        if text in names:
            return low + names.index(text)
        return int(text) if text.isdigit() else None

    for item in value.split(","):
        if item in ("*", "?") and (item == "*" or name.startswith("day")):
            continue
        if item == "l" and name == "day of month":
            continue
        if name == "day of week" and "#" in item:
            day, _, nth = item.partition("#")
            known = number(day)
            if known is None or not low <= known <= high or nth not in list("12345"):
                return f"has {item!r}, not DAY#N (N from 1 to 5)"
            continue
        base, slash, step = item.partition("/")
        if slash and (not step.isdigit() or int(step) == 0):
            return f"has the step {step!r}, not a whole number above 0"
        if base == "*":
            continue
        bounds = base.split("-")
        values = [number(b) for b in bounds]
        if len(bounds) > 2 or any(v is None for v in values):
            return f"has {item!r}, not a number" + (", a name" if names else "") + " or a range"
        if any(not low <= v <= high for v in values if v is not None):
            return f"has {item!r}, outside {low}-{high}"
    return ""


def read_spec(path: Path) -> DagSpec:
    """``factory.yaml`` or ``job.yaml`` (a mapping with ``extract``), checked as the command
    that will run it checks it; a ``SpecError`` (exit 2) otherwise."""
    import yaml

    from mlfactory.spec import load_yaml

    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"spec file {str(path)!r} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"cannot read the spec {str(path)!r}: {exc}") from None
    if isinstance(raw, dict) and "extract" in raw:
        from mlfactory.etml.spec import load_job

        job = load_job(path).spec
        return DagSpec("etml", job.name, path, job.registry.path)
    from mlfactory.spec import load_spec

    spec = load_spec(path)
    return DagSpec("model", spec.name, path, spec.registry.path)


def export_airflow(spec_path: Path, output: Path, options: AirflowOptions) -> Path:
    """Write the DAG of ``spec_path`` to ``output/DAG_ID.py`` and return its path."""
    schedule = check_schedule(options.schedule)
    spec = read_spec(spec_path)
    dag_id = options.dag_id or spec.name
    if not _DAG_ID.match(dag_id):
        raise BadInputError(
            f"--dag-id: {dag_id!r} is not an Airflow DAG id: use up to 250 letters, digits, "
            "'_', '-' or '.'"
        )
    _check_options(spec, options)
    workdir = (options.workdir or Path.cwd()).resolve()
    resolved = spec_path.resolve()
    shown = str(resolved.relative_to(workdir)) if resolved.is_relative_to(workdir) else ""
    body = render(spec, dag_id, schedule, options, workdir, shown or str(resolved))
    target = output / f"{dag_id}.py"
    _check_target(output, target, dag_id, str(resolved), options.force)
    digest = hashlib.sha256(body.encode()).hexdigest()
    text = f"{MARKER} dag_id={dag_id} spec={resolved} sha256={digest}\n{body}"
    from mlfactory.files import write_atomically

    output.mkdir(parents=True, exist_ok=True)
    write_atomically(target, lambda handle: handle.write(text.encode()))
    return target


def _check_options(spec: DagSpec, options: AirflowOptions) -> None:
    if options.catchup and options.start_date == AirflowOptions.start_date:
        raise BadInputError(
            "--catchup runs every date from --start-date on: give --start-date YYYY-MM-DD"
        )
    if spec.kind == "etml" and (options.current or options.sql):
        raise BadInputError(
            f"--current and --sql are for a model's monitor task; {spec.path} is an ETML job, "
            "which reads its extract.source for each date"
        )
    if spec.kind == "model":
        if not options.current:
            raise BadInputError(
                f"{spec.path} is a model: its DAG monitors each date's data, so give --current "
                "with {date} where the date goes, e.g. --current 'data/day={date}.parquet' "
                "(or a folder, glob, or builtin: source with --sql selecting the date)"
            )
        if not any(p in f"{options.current} {options.sql or ''}" for p in _PLACES):
            raise BadInputError(
                f"--current {options.current!r}"
                + (f" and --sql {options.sql!r}" if options.sql else "")
                + " hold neither {date} nor {ts}: every run would monitor the same data; put "
                "{date} in the path, or select the date's rows in --sql "
                "(WHERE CAST(time AS DATE) = '{date}')"
            )
    for variable, connection in options.env_from_connections.items():
        if not _ENV.match(variable) or not _DAG_ID.match(connection):
            raise BadInputError(
                f"--env-from-connection: {variable}={connection} is not VARIABLE=CONNECTION_ID "
                "(an environment variable's name and an Airflow connection id)"
            )


_PLACES = ("{date}", "{ts}")


def render(
    spec: DagSpec,
    dag_id: str,
    schedule: str | None,
    options: AirflowOptions,
    workdir: Path,
    spec_shown: str,
) -> str:
    """The DAG file's text, without its first (marker) line."""
    model = spec.kind == "model"
    held_back = "fails the task" if options.fail_on_held_back else "does not fail the task"
    start = options.start_date
    header = airflow_dag.HEADER.format(
        title=(
            f"Model {spec.name}: validate, train, monitor each date's data, retrain on drift."
            if model
            else f"ETML job {spec.name}: extract, detect, summarise and load each date."
        ),
        spec_shown=spec_shown,
        three=(
            "from train or retrain, a gate held the new model back, which\n  "
            + held_back
            + " (--fail-on-held-back); from monitor, drift: retrain runs"
            if model
            else "the job never exits 3: it fails like any other code"
        ),
        retries=options.retries,
        retry_delay=options.retry_delay,
        executable=options.executable,
        workdir=str(workdir),
        spec=spec_shown,
        held_back_fails=options.fail_on_held_back,
        connections=dict(options.env_from_connections),
    )
    if schedule is None or schedule == "@once":
        schedule_code = repr(schedule)
    else:  # a date's run starts after its interval ends, so the date's data is complete
        schedule_code = f'CronDataIntervalTimetable({schedule!r}, timezone="UTC")'
    opening = airflow_dag.DAG_OPEN.format(
        dag_id=dag_id,
        description=f"mlfactory {spec.kind} {spec.name} ({spec_shown})",
        schedule=schedule_code,
        start_year=start.year,
        start_month=start.month,
        start_day=start.day,
        catchup=options.catchup,
        retries=options.retries,
        retry_delay=options.retry_delay,
    )
    if model:
        data = ["--current", options.current or ""]
        data += ["--sql", options.sql] if options.sql else []
        tasks = airflow_dag.MODEL_TASKS.format(
            monitor_args=["monitor", f"{spec.name}@champion", *data, "--registry", spec.registry],
            retrain_args=["retrain", "SPEC", "--when", "drift", *data, "--quiet"],
        ).replace("['retrain', 'SPEC',", "['retrain', SPEC,")
    else:
        tasks = airflow_dag.ETML_TASKS.format()
    return header + airflow_dag.RUNNER + opening + tasks


def _check_target(output: Path, target: Path, dag_id: str, spec: str, force: bool) -> None:
    if output.exists() and not output.is_dir():
        raise BadInputError(f"--output {str(output)!r} is a file; give a folder (dags/)")
    if force:
        return
    redo = "; give --force to replace it"
    if target.exists():
        marker = _marker(target)
        if marker is None:
            raise BadInputError(
                f"{target} exists and was not written by mlfactory export airflow{redo}, or "
                "choose another --dag-id or --output"
            )
        if marker.get("spec") != spec:
            raise BadInputError(
                f"{target} is the DAG {dag_id!r} of {marker.get('spec')}, not of {spec}: "
                f"Airflow needs one DAG per id; give --dag-id to name this one{redo}"
            )
        lines = target.read_text(encoding="utf-8").split("\n", 1)
        body = lines[1] if len(lines) > 1 else ""
        if hashlib.sha256(body.encode()).hexdigest() != marker.get("sha256"):
            raise BadInputError(f"{target} was edited since mlfactory wrote it{redo}")
    if output.is_dir():
        for other in sorted(output.glob("*.py")):
            if other != target and _defines(other, dag_id):
                raise BadInputError(
                    f"{other} already defines the DAG id {dag_id!r}; Airflow needs one DAG per "
                    f"id: give --dag-id to name this one, or remove {other.name}"
                )


def _marker(path: Path) -> dict[str, str] | None:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            first = handle.readline()
    except OSError:
        return None
    if not first.startswith(MARKER):
        return None
    words = first[len(MARKER) :].split()
    return dict(w.split("=", 1) for w in words if "=" in w)


def _defines(path: Path, dag_id: str) -> bool:
    """Does this Python file define the DAG ``dag_id`` (ours by the marker; another's by
    ``dag_id="ID"`` or ``DAG("ID"``)?"""
    marker = _marker(path)
    if marker is not None:
        return marker.get("dag_id") == dag_id
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    quoted = rf"""["']{re.escape(dag_id)}["']"""
    return re.search(rf"(dag_id\s*=\s*|DAG\(\s*){quoted}", text) is not None
