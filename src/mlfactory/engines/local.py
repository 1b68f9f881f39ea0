"""The ``local`` engine: this process, or a pool of spawned processes on this machine."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, ClassVar, TypeVar

from mlfactory.engines.base import Engine, register_engine

__all__ = ["LocalEngine"]

T = TypeVar("T")
R = TypeVar("R")


@register_engine
class LocalEngine(Engine):
    """One worker: a loop in this process. More: spawned processes (no fork of a process
    holding LightGBM's and the event loop's threads), started at the first ``map``,
    each with its share of the cores (``cpu_count // workers`` native threads)."""

    name: ClassVar[str] = "local"

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self._pool: ProcessPoolExecutor | None = None

    @classmethod
    def create(cls, *, workers: int | None = None, **settings: Any) -> LocalEngine:
        if settings:
            raise TypeError(f"the local engine takes no settings, got {sorted(settings)}")
        return cls(workers or os.cpu_count() or 1)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self.workers == 1 or len(items) <= 1:
            return [fn(item) for item in items]
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            threads = max(1, (os.cpu_count() or 1) // self.workers)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_share_cores,
                initargs=(threads,),
            )
        return list(self._pool.map(fn, items))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _share_cores(threads: int) -> None:
    """A worker's start: its share of the cores, before any native library is loaded.

    LightGBM (OpenMP) and BLAS otherwise take every core in every worker, and two
    workers on two cores then run slower than one.
    """
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
