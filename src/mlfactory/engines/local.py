"""The ``local`` engine: this process, or a pool of spawned processes on this machine."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from mlfactory.engines.base import TIMEOUT, Engine, Inline, Shared, register_engine

__all__ = ["LocalEngine"]

T = TypeVar("T")
R = TypeVar("R")


@register_engine
class LocalEngine(Engine):
    """One worker: a loop in this process. More: spawned processes (no fork of a process
    holding LightGBM's and the event loop's threads), started at the first ``map``,
    each with its share of the cores (``cpu_count // workers`` native threads).

    A shared value goes to the pool's workers as a pickle file in a private
    temporary folder, read once per worker and removed at ``close``.
    """

    name: ClassVar[str] = "local"

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self._pool: ProcessPoolExecutor | None = None
        self._files: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def create(
        cls, *, workers: int | None = None, address: str | None = None, timeout: float = TIMEOUT
    ) -> LocalEngine:
        if address:
            raise TypeError(f"the local engine takes no address, got {address!r}")
        return cls(workers or os.cpu_count() or 1)

    def share(self, value: Any) -> Shared:
        if self.workers == 1:
            return Inline(value)
        if self._files is None:
            self._files = tempfile.TemporaryDirectory(prefix="mlfactory-shared-")
        handle = _File(str(Path(self._files.name)))
        with open(handle.path, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        return handle

    def imap(
        self, fn: Callable[..., R], items: Sequence[T], shared: Shared | None = None
    ) -> Iterator[R]:
        call = fn if shared is None else partial(_with_shared, fn, shared)
        if self.workers == 1 or len(items) <= 1:
            return (call(item) for item in items)
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            threads = max(1, (os.cpu_count() or 1) // self.workers)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_share_cores,
                initargs=(threads,),
            )
        # a few items a message: many small items (200 group fits) pay few round trips,
        # a handful of big ones (batch chunks, trials) still spread over every worker
        chunksize = max(1, len(items) // (self.workers * 2))
        return self._pool.map(call, items, chunksize=chunksize)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._files is not None:
            self._files.cleanup()
            self._files = None


class _File(Shared):
    """A shared value pickled to a file on this machine (the engine's own temporary folder)."""

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.path = os.path.join(folder, f"{self.key}.pickle")

    def fetch(self) -> Any:
        with open(self.path, "rb") as f:
            return pickle.load(f)  # written by this engine in a private folder, never a user's


def _with_shared(fn: Callable[..., R], shared: Shared, item: Any) -> R:
    return fn(item, shared.value)


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _share_cores(threads: int) -> None:
    """A worker's start: its share of the cores, before any native library is loaded.

    LightGBM (OpenMP) and BLAS otherwise take every core in every worker, and two
    workers on two cores then run slower than one.
    """
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
