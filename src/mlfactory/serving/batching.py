"""Adaptive micro-batching: concurrent requests to one model share one predict call.

Requests wait in a queue. One worker per model takes the first waiting request,
adds whatever else arrives within ``max_wait_ms`` up to ``max_batch_rows`` rows,
and runs the batch on the model's own thread, off the event loop. While a batch
runs, new requests queue up, so batches grow with load and stay at one request
when traffic is light. A batch that fails is retried request by request, so a
bad request fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["BatchConfig", "MicroBatcher"]

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True)
class BatchConfig:
    enabled: bool = True
    max_batch_rows: int = 256
    max_wait_ms: float = 1.0


@dataclass
class _Item(Generic[In, Out]):
    payload: In
    rows: int
    future: asyncio.Future[Out] = field(repr=False)


class MicroBatcher(Generic[In, Out]):
    """Coalesce ``submit`` calls into calls of ``run_batch(payloads) -> results``.

    ``run_batch`` runs on a single dedicated thread and must return one result
    per payload, in order; a result that is an exception fails its request only.
    ``on_batch(rows, requests)`` observes each batch.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[In]], Sequence[Out | Exception]],
        *,
        config: BatchConfig,
        name: str = "model",
        on_batch: Callable[[int, int], None] = lambda rows, requests: None,
    ) -> None:
        self.run_batch = run_batch
        self.config = config
        self.on_batch = on_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"predict-{name}")
        self._queue: asyncio.Queue[_Item[In, Out]] | None = None
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, payload: In, rows: int) -> Out:
        loop = asyncio.get_running_loop()
        if not self.config.enabled:
            results = await loop.run_in_executor(self._executor, self._run, [payload])
            self.on_batch(rows, 1)
            if isinstance(results[0], Exception):
                raise results[0]
            return results[0]
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._loop())
        future: asyncio.Future[Out] = loop.create_future()
        await self._queue.put(_Item(payload, rows, future))
        return await future

    def _run(self, payloads: Sequence[In]) -> Sequence[Out | Exception]:
        return self.run_batch(payloads)

    async def _loop(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            first = await queue.get()
            batch = [first]
            rows = first.rows
            deadline = time.monotonic() + self.config.max_wait_ms / 1000
            while rows < self.config.max_batch_rows:
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        break
                batch.append(item)
                rows += item.rows
            live = [item for item in batch if not item.future.done()]  # drop cancelled clients
            if live:
                await self._dispatch(loop, live, sum(item.rows for item in live))

    async def _dispatch(
        self, loop: asyncio.AbstractEventLoop, batch: list[_Item[In, Out]], rows: int
    ) -> None:
        payloads = [item.payload for item in batch]
        try:
            results: Sequence[Any] = await loop.run_in_executor(self._executor, self._run, payloads)
            self.on_batch(rows, len(batch))
        except Exception as exc:
            # retry alone, so that only the request that breaks the model fails
            results = [_Failure(exc)] if len(batch) == 1 else await self._one_by_one(loop, batch)
        for item, result in zip(batch, results, strict=True):
            if item.future.done():
                continue
            if isinstance(result, _Failure):
                item.future.set_exception(result.error)
            elif isinstance(result, Exception):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

    async def _one_by_one(
        self, loop: asyncio.AbstractEventLoop, batch: list[_Item[In, Out]]
    ) -> list[Any]:
        results: list[Any] = []
        for item in batch:
            try:
                (result,) = await loop.run_in_executor(self._executor, self._run, [item.payload])
                self.on_batch(item.rows, 1)
                results.append(result)
            except Exception as exc:
                results.append(_Failure(exc))
        return results

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class _Failure:
    error: Exception
