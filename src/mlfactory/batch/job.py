"""A batch job: plan the chunks, skip those committed, score the rest on an engine.

``run_chunk`` (read, score, write, in one call) depends on nothing but the
scorer, the chunk and the output folder, so an engine maps it over the chunks
as a dataset's partitions (``Engine.map_partitions``: Spark's ``mapInPandas``,
Ray Data's ``map_batches``, Dask's ``map_partitions``): in this process with
the scorer already loaded (one local worker), or in other processes or on a
cluster, where the verified model files are shared once (a Spark broadcast, ...)
and loaded once per worker (``scoring.shipped``). Each
worker reads its own chunk and writes its own parts; only this process writes
the manifest, as each chunk's result comes back in order. Memory is bounded by
a chunk per worker (a Parquet row group, or ``csv_rows`` CSV records), whatever
the input's size; the workers must see the input and the output folder (on a
cluster: shared storage).

A chunk that cannot be read (a corrupt file, a CSV line with too many fields)
is reported and left out of the manifest; the others are scored, and the
result's ``problems`` say what to fix before running again, which then scores
only what is missing.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from time import monotonic
from time import time as wall_time
from typing import TYPE_CHECKING

from mlfactory.batch.inputs import CSV_ROWS, Chunk, plan_chunks, read_chunk
from mlfactory.batch.parts import BatchManifest, PartRecord, write_part
from mlfactory.batch.query import plan_query
from mlfactory.batch.result import BatchResult, Progress
from mlfactory.batch.score import score_chunk
from mlfactory.errors import BadInputError, DataError
from mlfactory.scoring.shipped import Here, ScorerSource

if TYPE_CHECKING:
    from mlfactory.engines import Engine
    from mlfactory.registry import Registry
    from mlfactory.scoring import Scorer

__all__ = ["BatchResult", "Progress", "run_batch", "run_chunk"]


def run_chunk(scorer: Scorer, chunk: Chunk, output: Path, *, cwd: str = "") -> PartRecord:
    """Read, score and write one chunk's parts; the record the manifest commits.

    ``cwd`` is the folder relative paths are relative to (the submitting process's:
    a cluster's workers run elsewhere); ``_source`` keeps the path as given.
    """
    elsewhere = cwd and cwd != os.getcwd()
    where = replace(chunk, path=os.path.join(cwd, chunk.path)) if elsewhere else chunk
    output = Path(cwd, output) if elsewhere else output
    scored = score_chunk(scorer, chunk, read_chunk(where), time=wall_time())
    try:
        write_part(output, scorer.name, chunk.key, scored.scored, scored.rejects)
    except OSError as exc:
        raise BadInputError(
            f"cannot write the parts of {chunk.path!r} (chunk {chunk.index}) in "
            f"{str(output)!r}: {exc.strerror or exc}. The parts already committed are "
            "complete; free space or fix the folder's permissions and run again to finish"
        ) from None
    return PartRecord(
        chunk.key, chunk.path, chunk.index, chunk.rows, len(scored.scored), len(scored.rejects)
    )


def run_batch(
    registry: Registry,
    model: str,
    input: str | None,
    output: Path,
    *,
    sql: str | None = None,
    overwrite: bool = False,
    csv_rows: int = CSV_ROWS,
    engine: Engine | None = None,
    progress: Progress | None = None,
    ids: list[str] | None = None,
    horizon: int | None = None,
    levels: list[float] | None = None,
) -> BatchResult:
    """Score ``input`` with ``model`` (``NAME@ALIAS`` or ``NAME/VERSION``) into ``output``.

    ``engine`` runs the chunks (None: one after another in this process).
    With ``sql``, the query's result over ``input`` (or over files it reads itself)
    is scored instead (``query.py``); ``csv_rows`` is then its rows per chunk.
    Without either, a forecasting model's forecasts of ``ids`` (None: all its
    series) are written instead (``forecasts.py``), ``horizon`` steps ahead with
    an interval per level of ``levels`` (None: the trained ones).
    """
    from mlfactory.scoring import Scorer
    from mlfactory.scoring.shipped import ship

    if (input is not None or sql is not None) and (ids, horizon, levels) != (None, None, None):
        raise BadInputError(
            "--ids, --horizon and --levels ask a forecasting model for its forecasts; "
            "leave out --input and --sql with them"
        )

    started = monotonic()
    in_process = engine is None or (engine.name == "local" and engine.workers == 1)

    def load() -> tuple[Scorer, ScorerSource]:
        """The scorer here, and what the engine's workers score with."""
        if in_process:
            here = Scorer.load(registry, model)
            return here, Here(here)
        return ship(registry, model)

    if sql is not None:
        scorer, source = load()
        plan, manifest = plan_query(
            sql, input, output, scorer=scorer, overwrite=overwrite, rows=csv_rows
        )
    elif input is None:
        from mlfactory.batch.forecasts import write_forecasts
        from mlfactory.scoring import Scorer as Loaded

        scorer = Loaded.load(registry, model)
        if scorer.package.manifest.forecast is None:
            raise BadInputError("give --input (CSV or Parquet files), --sql (a query), or both")
        result = BatchResult(scorer.name, scorer.version, str(output))
        write_forecasts(
            scorer,
            output,
            result,
            ids=ids,
            horizon=horizon,
            levels=levels,
            overwrite=overwrite,
            progress=progress,
        )
        result.seconds = monotonic() - started
        result.peak_memory_mb = peak_memory_mb()
        return result
    else:
        plan = plan_chunks(input, csv_rows=csv_rows)
        scorer, source = load()
        missing = [c for c in scorer.package.schema.names if c not in plan.columns]
        if plan.chunks and missing:
            raise DataError(
                f"the files of --input {input!r} lack the model's column(s) {missing}; "
                f"{scorer.name} version {scorer.version} needs {scorer.package.schema.names}"
            )
        manifest = BatchManifest.open(
            output, model=scorer.name, version=scorer.version, input=input, overwrite=overwrite
        )
    result = BatchResult(scorer.name, scorer.version, str(output), problems=list(plan.problems))
    result.rows = sum(c.rows for c in plan.chunks)
    done = 0
    todo = []
    for chunk in plan.chunks:
        record = manifest.parts.get(chunk.key)
        if record is None:
            todo.append(chunk)
            continue
        result.resumed += 1
        result.parts += 1
        result.scored += record.scored
        result.rejected += record.rejected
        done += chunk.rows
    _tell(progress, done, result.rows)
    if todo:
        with _engine(engine) as running:
            shared = running.share(source)
            tasks = [(chunk, output, os.getcwd()) for chunk in todo]
            for chunk, outcome in zip(
                todo, running.map_partitions(_chunk_task, tasks, shared), strict=True
            ):
                done += chunk.rows
                if isinstance(outcome, str):  # this chunk cannot be read: said, others scored
                    result.problems.append(outcome)
                    _tell(progress, done, result.rows)
                    continue
                try:
                    manifest.commit(output, outcome)
                except OSError as exc:
                    raise BadInputError(
                        f"cannot write the batch manifest in {str(output)!r}: "
                        f"{exc.strerror or exc}. The parts already committed are complete; "
                        "free space or fix the folder's permissions and run again to finish"
                    ) from None
                result.parts += 1
                result.scored += outcome.scored
                result.rejected += outcome.rejected
                _tell(progress, done, result.rows)
    result.seconds = monotonic() - started
    result.peak_memory_mb = peak_memory_mb()
    return result


def _chunk_task(task: tuple[Chunk, Path, str], source: ScorerSource) -> PartRecord | str:
    """One chunk, in whichever process the engine runs it: its record, or why it is unreadable."""
    chunk, output, cwd = task
    try:
        return run_chunk(source.scorer(), chunk, output, cwd=cwd)
    except DataError as exc:
        return str(exc)


@contextlib.contextmanager
def _engine(engine: Engine | None) -> Iterator[Engine]:
    """The caller's engine as it is, or one worker in this process (closed after)."""
    if engine is not None:
        yield engine
        return
    from mlfactory.engines import LocalEngine

    with LocalEngine(1) as local:
        yield local


def _tell(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def peak_memory_mb() -> float:
    """This process's peak resident memory (``getrusage``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024
