"""The ``spark`` engine: jobs on a Spark session (``pip install 'mlfactory[spark]'``).

The session's master is the address (``spark://host:7077``, ``yarn``,
``k8s://…``), ``local[workers]`` by default; a session this process already
holds is used as it is and left running. Shared values are broadcast once. In
local mode the workers run this interpreter (``PYSPARK_PYTHON``) on 127.0.0.1
unless those are set already.

- ``map`` (trials, per-group fits, backtests): one RDD job of up to 2 tasks a
  worker, as a Spark user writes it; its results come back when it ends.
- ``map_partitions`` (a batch's chunks): a DataFrame of one chunk description per
  partition, mapped with ``mapInPandas``, in jobs of doubling size (``slices``;
  the first a quarter of the chunks, or 4 a worker) submitted at once from a few
  threads, so that the first chunks commit while later ones run and one job's
  start-up overlaps another's work.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, ClassVar, TypeVar

from mlfactory.engines.base import (
    ClusterEngine,
    Shared,
    check_answers,
    in_order,
    keeping_signals,
    need,
    register_engine,
    run_frame,
    run_task,
    slices,
    task_rows,
    unwrap,
    within,
)

__all__ = ["SparkEngine"]

T = TypeVar("T")
R = TypeVar("R")

WAVE = 4  # items per worker in the first Spark job, at least (or a quarter of all items)


@register_engine
class SparkEngine(ClusterEngine):
    name: ClassVar[str] = "spark"
    module: ClassVar[str] = "pyspark"

    def __init__(self, workers: int, *, address: str | None, timeout: float) -> None:
        super().__init__(workers, address=address, timeout=timeout)
        self._session: Any = None
        self._started: Callable[[], None] | None = None  # this engine started the session:
        # close stops it, then puts back the signal handlers from before (Spark sets SIGINT's)

    def _start(self) -> Any:
        if self._session is not None:
            return self._session
        need("pyspark", "spark")
        from pyspark.sql import SparkSession

        master = self.address or f"local[{self.workers}]"
        if master.startswith("spark://"):  # even with a session held: say so
            check_answers(master, engine="spark", default_port=7077, timeout=self.timeout)
        active = SparkSession.getActiveSession()
        if active is not None:
            self._session = active
            return active
        if master.startswith("local"):
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            SparkSession.builder.master(master)
            .appName("mlfactory")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        )

        def start() -> Any:
            session = builder.getOrCreate()
            session.sparkContext.setLogLevel("ERROR")
            if not master.startswith("local"):  # executors must come: a first job says so
                session.sparkContext.parallelize([0], 1).count()
            return session

        if master.startswith("local"):
            self._session, self._started = keeping_signals(start)
        else:  # a master that takes the connection and never grants executors: stop here
            what = f"getting executors from the spark master {master!r}"
            self._session, self._started = keeping_signals(
                lambda: within(self.timeout, start, what=what)
            )
        return self._session

    @property
    def session(self) -> Any:
        """The SparkSession the engine runs on (started, or found, on first use)."""
        return self._start()

    def share(self, value: Any) -> Shared:
        session = self._start()
        return _Broadcast(session.sparkContext.broadcast(value))

    def imap(
        self, fn: Callable[..., R], items: Sequence[T], shared: Shared | None = None
    ) -> Iterator[R]:
        if not items:
            return iter(())
        context = self._start().sparkContext
        rdd = context.parallelize(list(items), min(len(items), self.workers * 2))
        outcomes = rdd.map(lambda item: run_task(fn, item, shared)).collect()
        return (unwrap(outcome) for outcome in outcomes)

    def map_partitions(
        self, fn: Callable[..., R], partitions: Sequence[T], shared: Shared | None = None
    ) -> Iterator[R]:
        if not partitions:
            return iter(())
        session = self._start()
        rows = task_rows(partitions)
        waves = list(slices(rows, max(self.workers * WAVE, len(rows) // 4)))
        pool = ThreadPoolExecutor(max_workers=min(len(waves), 4), thread_name_prefix="spark-job")
        jobs = [pool.submit(self._wave, session, fn, wave, shared) for wave in waves]
        pool.shutdown(wait=False)  # the jobs run on; Spark queues their tasks in order
        done = ((i, outcome) for job in jobs for i, outcome in job.result())
        return in_order(done, len(rows))

    @staticmethod
    def _wave(
        session: Any, fn: Callable[..., Any], rows: Sequence[Any], shared: Shared | None
    ) -> list[tuple[int, bytes]]:
        """One job: the rows' chunks, a partition each, through ``mapInPandas``."""
        frame = session.sparkContext.parallelize(
            [(i, bytearray(task)) for i, task in rows], len(rows)
        ).toDF("i long, task binary")
        mapped = frame.mapInPandas(
            partial(_frames, fn, shared), schema="i long, outcome binary"
        ).collect()
        return [(row["i"], bytes(row["outcome"])) for row in mapped]

    def close(self) -> None:
        if self._session is not None and self._started is not None:
            self._session.stop()
            self._started()
        self._session, self._started = None, None


class _Broadcast(Shared):
    """A value broadcast to every Spark executor once."""

    def __init__(self, broadcast: Any) -> None:
        super().__init__()
        self.broadcast = broadcast

    def fetch(self) -> Any:
        return self.broadcast.value


def _frames(fn: Callable[..., Any], shared: Shared | None, frames: Iterator[Any]) -> Iterator[Any]:
    """``mapInPandas``' function: each Arrow batch of a partition's chunks, run."""
    for frame in frames:
        yield run_frame(fn, shared, frame)
