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
    holding LightGBM's and the event loop's threads), started at the first ``map``."""

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
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return list(self._pool.map(fn, items))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
