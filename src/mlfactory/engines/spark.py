"""The ``spark`` engine: ``mapInPandas`` on a Spark session (``pip install 'mlfactory[spark]'``).

The session's master is the address (``spark://host:7077``, ``yarn``,
``k8s://…``), ``local[workers]`` by default; a session this process already
holds is used as it is and left running. Items go out as a DataFrame of
pickled items, up to 4 partitions (Spark tasks) per worker, are applied with
``mapInPandas``, and come back in order. Shared values are broadcast once. For
local mode the workers run this interpreter (``PYSPARK_PYTHON``) on 127.0.0.1
unless those are set already. Items are sent in jobs of doubling size (4 tasks a
worker each, an item per task at first), so results (and a batch job's
manifest) arrive as the work goes, and many small items cost few jobs.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, TypeVar

from mlfactory.engines.base import (
    TIMEOUT,
    Engine,
    Shared,
    check_answers,
    kept_signals,
    need,
    register_engine,
    run_task,
    unwrap,
    within,
)

__all__ = ["SparkEngine"]

T = TypeVar("T")
R = TypeVar("R")

WAVE = 4  # tasks per worker in one Spark job
LARGEST_WAVE = 1024  # items in one Spark job, at most


@register_engine
class SparkEngine(Engine):
    name: ClassVar[str] = "spark"
    extra: ClassVar[str | None] = "spark"

    def __init__(self, workers: int, *, address: str | None, timeout: float) -> None:
        super().__init__(workers)
        self.address, self.timeout = address, timeout
        self._session: Any = None
        self._started: Callable[[], None] | None = None  # this engine started the session:
        # close stops it, then puts back the signal handlers from before (Spark sets SIGINT's)

    @classmethod
    def create(
        cls, *, workers: int | None = None, address: str | None = None, timeout: float = TIMEOUT
    ) -> SparkEngine:
        need("pyspark", "spark")
        return cls(workers or os.cpu_count() or 1, address=address, timeout=timeout)

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

        restore = kept_signals()
        if master.startswith("local"):
            self._session = start()
        else:  # a master that takes the connection and never grants executors: stop here
            what = f"getting executors from the spark master {master!r}"
            self._session = within(self.timeout, start, what=what)
        self._started = restore
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
        return (
            unwrap(result)
            for wave in _waves(items, self.workers)
            for result in self._wave(session, fn, wave, shared)
        )

    def _wave(
        self, session: Any, fn: Callable[..., Any], items: Sequence[Any], shared: Shared | None
    ) -> list[Any]:
        from pyspark.sql.types import BinaryType, LongType, StructField, StructType

        schema = StructType(
            [StructField("position", LongType()), StructField("payload", BinaryType())]
        )
        rows = [
            (i, pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
            for i, item in enumerate(items)
        ]
        tasks = min(len(rows), self.workers * WAVE)  # contiguous slices of the wave
        frame = session.createDataFrame(
            session.sparkContext.parallelize(rows, tasks), schema=schema
        )

        def apply(batches: Iterable[Any]) -> Iterator[Any]:
            import pandas as pd

            for batch in batches:
                results = [
                    pickle.dumps(run_task(fn, pickle.loads(item), shared), protocol=5)
                    for item in batch["payload"]
                ]
                yield pd.DataFrame({"position": batch["position"], "payload": results})

        collected = frame.mapInPandas(apply, schema=schema).collect()
        ordered = sorted(collected, key=lambda row: row["position"])
        return [pickle.loads(row["payload"]) for row in ordered]

    def close(self) -> None:
        if self._session is not None and self._started is not None:
            self._session.stop()
            self._started()
        self._session, self._started = None, None


def _waves(items: Sequence[T], workers: int) -> Iterator[Sequence[T]]:
    """The items in Spark jobs of doubling size: the first results (a batch job's first
    manifest commits, its progress) come soon, and many small items pay few jobs."""
    start, size = 0, max(1, workers * WAVE)
    while start < len(items):
        yield items[start : start + size]
        start += size
        size = min(size * 2, LARGEST_WAVE)


class _Broadcast(Shared):
    """A value broadcast to every Spark executor once."""

    def __init__(self, broadcast: Any) -> None:
        super().__init__()
        self.broadcast = broadcast

    def fetch(self) -> Any:
        return self.broadcast.value
