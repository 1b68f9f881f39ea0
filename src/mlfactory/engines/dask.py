"""The ``dask`` engine: futures on a Dask cluster (``pip install 'mlfactory[dask]'``).

Without an address it starts a ``LocalCluster`` of ``workers`` single-threaded
worker processes and closes it at ``close``; with one (``tcp://host:8786``) it
connects, giving up after the timeout. Shared values are scattered to every
worker once. ``map`` runs a future per item (``client.map``); ``map_partitions``
(a batch's chunks) maps a bag of one chunk description per partition with
``map_partitions``, each partition's result gathered as it is next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, ClassVar, TypeVar

from mlfactory.engines.base import (
    ClusterEngine,
    Inline,
    Shared,
    check_answers,
    gathered,
    need,
    register_engine,
    run_task,
    within,
)
from mlfactory.errors import EngineError

__all__ = ["DaskEngine"]

T = TypeVar("T")
R = TypeVar("R")


@register_engine
class DaskEngine(ClusterEngine):
    name: ClassVar[str] = "dask"
    module: ClassVar[str] = "distributed"

    def __init__(self, workers: int, *, address: str | None, timeout: float) -> None:
        super().__init__(workers, address=address, timeout=timeout)
        self._client: Any = None
        self._cluster: Any = None

    def _start(self) -> Any:
        if self._client is not None:
            return self._client
        distributed = need("distributed", "dask")
        if self.address:
            check_answers(self.address, engine="dask", default_port=8786, timeout=self.timeout)
            try:
                self._client = within(
                    self.timeout,
                    lambda: distributed.Client(self.address, timeout=self.timeout),
                    what=f"connecting to the dask scheduler at {self.address!r}",
                )
            except EngineError:
                raise
            except Exception as exc:  # not a scheduler: a timeout, or bytes it cannot read
                raise EngineError(
                    f"the dask engine could not use the scheduler at {self.address!r} within "
                    f"{self.timeout:g} s ({type(exc).__name__}: {exc}); check that a dask "
                    "scheduler is running there, or leave the address out to start one here"
                ) from None
        else:
            self._cluster = distributed.LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # the scheduler's HTTP routes (health, metrics) on a free loopback port, not
                # on 8787, which another cluster or a user's own dashboard may hold
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.ERROR,
            )
            self._client = distributed.Client(self._cluster)
        return self._client

    def share(self, value: Any) -> Shared:
        client = self._start()
        return _Scattered(client.scatter(value, broadcast=True))

    def imap(
        self, fn: Callable[..., R], items: Sequence[T], shared: Shared | None = None
    ) -> Iterator[R]:
        if not items:
            return iter(())
        client = self._start()
        if isinstance(shared, _Scattered):  # a future as an argument: Dask hands its value
            call = partial(_run_with, fn)
            futures = client.map(call, items, value=shared.future, pure=False)
        else:  # fn inside the one function Dask sends, not an argument of every task
            futures = client.map(partial(_run, fn, shared), items, pure=False)
        return gathered(futures, client.gather, self.workers)

    def map_partitions(
        self, fn: Callable[..., R], partitions: Sequence[T], shared: Shared | None = None
    ) -> Iterator[R]:
        if not partitions:
            return iter(())
        client = self._start()
        import dask.bag

        bag = dask.bag.from_sequence(  # type: ignore[no-untyped-call]
            list(partitions), npartitions=len(partitions)
        )
        if isinstance(shared, _Scattered):  # a future as an argument: Dask hands its value
            mapped = bag.map_partitions(partial(_run_partition_with, fn), value=shared.future)
        else:
            mapped = bag.map_partitions(partial(_run_partition, fn, shared))
        futures = client.compute(mapped.to_delayed(optimize_graph=False))

        def get(done: list[Any]) -> list[Any]:
            return [outcome for part in client.gather(done) for outcome in part]

        return gathered(futures, get, self.workers)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None


class _Scattered(Shared):
    """A value scattered to every Dask worker; ``map`` passes its future as an argument."""

    def __init__(self, future: Any) -> None:
        super().__init__()
        self.future = future

    def fetch(self) -> Any:
        return self.future.result()


def _run(fn: Callable[..., Any], shared: Shared | None, item: Any) -> Any:
    return run_task(fn, item, shared)


def _run_with(fn: Callable[..., Any], item: Any, *, value: Any) -> Any:
    return run_task(fn, item, Inline(value))


def _run_partition(fn: Callable[..., Any], shared: Shared | None, items: list[Any]) -> list[Any]:
    return [run_task(fn, item, shared) for item in items]


def _run_partition_with(fn: Callable[..., Any], items: list[Any], *, value: Any) -> list[Any]:
    return [run_task(fn, item, Inline(value)) for item in items]
