"""The ``local`` engine: this process, or a pool of worker processes on this machine."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from mlfactory.engines.base import TIMEOUT, Engine, Inline, Shared, cores, register_engine
from mlfactory.errors import SpecError

__all__ = ["LocalEngine"]

T = TypeVar("T")
R = TypeVar("R")


@register_engine
class LocalEngine(Engine):
    """One worker: a loop in this process. More: joblib's loky processes (started clean,
    not forked from a process holding LightGBM's and the event loop's threads),
    started at the first ``map``, each told its share of the cores (``cores() //
    workers`` native threads, so two LightGBMs do not each take every core), with
    tasks batched adaptively (``benchmarks/engines.py``: 200 small fits as fast as
    joblib itself; a pool sending one item a message was 9.6x slower).

    A shared value goes to the pool's workers as a pickle file in a private
    temporary folder, read once per worker and removed at ``close``.
    """

    name: ClassVar[str] = "local"

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self._pool: Any = None
        self._files: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def create(
        cls, *, workers: int | None = None, address: str | None = None, timeout: float = TIMEOUT
    ) -> LocalEngine:
        if address:
            raise SpecError(
                f"the local engine runs on this machine and takes no address (got {address!r}); "
                "choose ray, spark or dask for a cluster (engine.name, or --engine)"
            )
        return cls(workers or cores())

    def task_threads(self) -> int:
        """This process's cores, shared out among the workers (all of them in this process)."""
        return max(1, cores() // self.workers)

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
            from joblib import Parallel

            # loky: processes started clean (not a fork of this one, which holds
            # LightGBM's and the event loop's threads), each told its share of the
            # cores; tasks batched adaptively, results in order as they come
            self._pool = Parallel(n_jobs=self.workers, backend="loky", return_as="generator")
        from joblib import delayed

        return iter(self._pool(delayed(call)(item) for item in items))

    def close(self) -> None:
        self._pool = None  # loky keeps its workers a while for the next pool, then stops them
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
