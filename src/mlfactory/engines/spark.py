"""The ``spark`` engine: tasks on a Spark session (``pip install 'mlfactory[spark]'``).

The session's master is the address (``spark://host:7077``, ``yarn``,
``k8s://…``), ``local[workers]`` by default; a session this process already
holds is used as it is and left running. Items go out in jobs of doubling size
(``slices``; the first a quarter of the items, or 4 a worker), submitted at once
from a few threads so that one job's start-up overlaps another's work, each an
RDD of up to 2 partitions (Spark tasks) per worker; results come back in order.
Not ``mapInPandas``: an item is a trial or the description of a batch chunk that
its task reads itself, never rows that pass through Spark, and the Arrow round
trip made 200 small items 5x slower (``benchmarks/engines.py``). Shared values
are broadcast once. In local mode the workers run this interpreter
(``PYSPARK_PYTHON``) on 127.0.0.1 unless those are set already.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

from mlfactory.engines.base import (
    ClusterEngine,
    Shared,
    check_answers,
    gathered,
    keeping_signals,
    need,
    register_engine,
    run_task,
    slices,
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
        session = self._start()
        waves = list(slices(items, max(self.workers * WAVE, len(items) // 4)))
        pool = ThreadPoolExecutor(max_workers=min(len(waves), 4), thread_name_prefix="spark-job")
        jobs = [pool.submit(self._wave, session, fn, wave, shared) for wave in waves]
        pool.shutdown(wait=False)  # the jobs run on; Spark queues their tasks in order
        return gathered(jobs, lambda done: [r for job in done for r in job.result()], 1)

    def _wave(
        self, session: Any, fn: Callable[..., Any], items: Sequence[Any], shared: Shared | None
    ) -> list[Any]:
        tasks = min(len(items), self.workers * 2)  # contiguous slices of the wave
        rdd = session.sparkContext.parallelize(list(items), tasks)
        return rdd.map(lambda item: run_task(fn, item, shared)).collect()  # type: ignore[no-any-return]

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
