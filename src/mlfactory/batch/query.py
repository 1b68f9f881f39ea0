"""``--sql``: a DuckDB query over the input files, its result scored like a Parquet file.

The files ``--input`` names are the table ``input``, after the checks a run
without ``--sql`` makes (the same columns in every file; here an unreadable
file refuses the job, since the result would lack its rows); a query that reads
files itself needs no ``--input``. DuckDB types CSV columns itself, except the
model's categorical and ordinal columns, read as text (its sniffer would read
``yes``/``no`` as booleans, which the model has never seen). Before anything is
written, DuckDB binds the query: a query it refuses, or whose result lacks a
column the model needs, is an error naming it.

The query runs once. Its result is streamed (``rows`` at a time, so memory stays
bounded) into one Parquet file in the output folder, ``.query-<hash>.parquet``,
written hidden, synced and moved into place (``files.write_atomically``), in row
groups of ``rows`` rows, which are the job's chunks: from there on the job is
one of a Parquet file, resumed and refused alike. ``<hash>`` is of the query
and ``--input``, and the manifest records both, so a rerun (after a kill, or to
finish) scores the missing row groups of the same result without running the
query again, and another query on the same folder is refused like another
model's results unless ``--overwrite``. A kill while the query runs leaves a
temporary file, removed by the next run, which runs the query again.

A scored or refused row's ``_source`` is ``sql:<hash>`` and its ``_row`` its
number in the query's result, counted from 0. A query that fails while it runs
(a value it cannot cast) leaves nothing behind: the manifest written for it,
which has no part yet, is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from mlfactory.batch.inputs import SUFFIXES, InputPlan, plan_chunks, plan_parquet
from mlfactory.batch.parts import MANIFEST, BatchManifest
from mlfactory.errors import BadInputError, DataError
from mlfactory.files import write_atomically

if TYPE_CHECKING:
    from mlfactory.scoring import Scorer

__all__ = ["plan_query", "query_label"]

TABLE = "input"  # what the query calls the --input files
TEXT_KINDS = ("categorical", "ordinal")  # model columns a CSV file gives as text


def query_label(sql: str, input: str | None) -> str:
    """``sql:<hash>``: the ``_source`` of the query's rows, and the name of its result."""
    digest = hashlib.sha256(json.dumps([sql, input]).encode()).hexdigest()
    return f"sql:{digest[:12]}"


def plan_query(
    sql: str, input: str | None, output: Path, *, scorer: Scorer, overwrite: bool, rows: int
) -> tuple[InputPlan, BatchManifest]:
    """The chunks of the query's result (run now, or kept from an earlier run) and the manifest."""
    label = query_label(sql, input)
    result = output / f".query-{label.removeprefix('sql:')}.parquet"
    job: dict[str, Any] = {
        "model": scorer.name,
        "version": scorer.version,
        "input": input,
        "query": sql,
        "overwrite": overwrite,
    }
    if result.is_file() and not overwrite:  # this job's result, kept: the query is not rerun
        manifest = BatchManifest.open(output, **job)
        return plan_parquet(result, label=label), manifest
    import duckdb

    # no replacement scans: a table name in the query never reaches a Python variable of ours
    con = duckdb.connect(config={"python_enable_replacements": False})
    try:
        text = [c.name for c in scorer.package.schema.columns if c.kind in TEXT_KINDS]
        relation = _bind(con, sql, input, text)
        missing = [c for c in scorer.package.schema.names if c not in relation.columns]
        if missing:
            raise DataError(
                f"the result of --sql lacks the model's column(s) {missing}; {scorer.name} "
                f"version {scorer.version} needs {scorer.package.schema.names}: select them "
                f"(the query returns {relation.columns})"
            )
        created = not output.exists()
        manifest = BatchManifest.open(output, **job)
        try:
            write_atomically(result, lambda handle: _stream(relation, handle, rows))
        except duckdb.Error as exc:
            _discard(output, manifest, created)
            raise DataError(f"the --sql query failed while it ran: {_first_line(exc)}") from None
        except OSError as exc:
            raise BadInputError(
                f"cannot write the result of --sql in {str(output)!r}: {exc.strerror or exc}. "
                "Free space or fix the folder's permissions and run again (the query runs "
                "again; no part was written yet)"
            ) from None
    finally:
        con.close()
    return plan_parquet(result, label=label), manifest


def _bind(con: Any, sql: str, input: str | None, text: list[str]) -> Any:
    """The query as a DuckDB relation, bound (its columns known) but not run."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            kinds = ", ".join(s.type.name for s in statements) or "none"
            raise BadInputError(
                f"--sql takes one query that returns rows (SELECT ... or FROM ...); got "
                f"{len(statements)} statement(s): {kinds}"
            )
        if input is not None:
            _input_table(con, input, text)
        return con.sql(sql)
    except duckdb.Error as exc:
        hint = ""
        if input is None and f"name {TABLE} does not exist" in str(exc):
            hint = f" (the table {TABLE} holds the --input files; give --input)"
        raise DataError(f"DuckDB refused the --sql query: {_first_line(exc)}{hint}") from None


def _input_table(con: Any, input: str, text: list[str]) -> None:
    """The --input files as the view ``input``: Parquet and CSV files joined by column name.

    The ``text`` columns of CSV files are read as text.
    """
    plan = plan_chunks(input)
    if plan.problems:
        raise DataError.from_problems(
            f"--sql reads every file of --input {input!r}, and some cannot be read; fix or "
            "remove them",
            plan.problems,
        )
    views = []
    for kind in ("parquet", "csv"):
        files = [f for f in plan.files if SUFFIXES[Path(f).suffix] == kind]
        if not files:
            continue
        if kind == "parquet":
            relation = con.read_parquet(files)
        else:
            relation = con.read_csv(files, dtype={c: "VARCHAR" for c in text if c in plan.columns})
        relation.create_view(f"_{kind}_files")
        views.append(f"SELECT * FROM _{kind}_files")
    con.execute(f"CREATE VIEW {TABLE} AS " + " UNION ALL BY NAME ".join(views))


def _stream(relation: Any, handle: BinaryIO, rows: int) -> None:
    """Write the relation's rows to ``handle`` as Parquet, in row groups of ``rows`` rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    reader = relation.to_arrow_reader(rows)
    with pq.ParquetWriter(handle, reader.schema) as writer:
        pending: list[Any] = []
        held = 0
        for batch in reader:
            pending.append(batch)
            held += batch.num_rows
            while held >= rows:
                table = pa.Table.from_batches(pending, reader.schema)
                writer.write_table(table.slice(0, rows), row_group_size=rows)
                pending, held = table.slice(rows).to_batches(), held - rows
        if held:
            writer.write_table(pa.Table.from_batches(pending, reader.schema))


def _discard(output: Path, manifest: BatchManifest, created: bool) -> None:
    """Leave nothing of a job whose query failed: its manifest (no parts yet), a new folder."""
    if manifest.parts:
        return
    with contextlib.suppress(OSError):
        (output / MANIFEST).unlink()
        if created:
            output.rmdir()


def _first_line(exc: BaseException) -> str:
    """DuckDB's message without the query it quotes (``LINE 1: ...`` and a caret line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    quoted = next((i for i, line in enumerate(lines) if line.startswith("LINE ")), len(lines))
    return " ".join(lines[:quoted])
