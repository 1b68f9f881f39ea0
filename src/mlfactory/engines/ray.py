"""The ``ray`` engine: tasks on a Ray cluster (``pip install 'mlfactory[ray]'``).

Without an address it starts a local Ray instance with ``workers`` CPUs and
stops it at ``close``; with one (``auto``, ``host:6379``, ``ray://host:10001``),
it connects, after checking that the address answers within the timeout. A
Ray session this process already holds is used as it is and left running.
Shared values go through Ray's object store once. ``map`` runs a Ray task per
item; ``map_partitions`` (a batch's chunks) maps a Ray Data dataset of one
chunk description per block with ``map_batches``, streaming the results back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, ClassVar, TypeVar

from mlfactory.engines.base import (
    ClusterEngine,
    Shared,
    check_answers,
    gathered,
    in_order,
    keeping_signals,
    need,
    register_engine,
    run_frame,
    run_task,
    task_rows,
    within,
)
from mlfactory.errors import EngineError

__all__ = ["RayEngine"]

T = TypeVar("T")
R = TypeVar("R")


@register_engine
class RayEngine(ClusterEngine):
    name: ClassVar[str] = "ray"
    module: ClassVar[str] = "ray"

    def __init__(self, workers: int, *, address: str | None, timeout: float) -> None:
        super().__init__(workers, address=address, timeout=timeout)
        self._ray: Any = None
        self._started: Callable[[], None] | None = None  # set when this engine ran ray.init:
        # close shuts Ray down, then puts back the signal handlers from before
        self._task: Any = None

    def _start(self) -> Any:
        if self._ray is not None:
            return self._ray
        ray = need("ray", "ray")
        if self.address and self.address != "auto":  # even with a session held: say so
            check_answers(self.address, engine="ray", default_port=6379, timeout=self.timeout)
        if not ray.is_initialized():
            settings: dict[str, Any] = {
                "log_to_driver": False,
                "logging_level": logging.WARNING,
                "configure_logging": True,
            }
            if self.address:
                settings["address"] = self.address
            else:
                settings.update(num_cpus=self.workers, include_dashboard=False)

            def init() -> None:
                if self.address:
                    within(
                        self.timeout,
                        lambda: ray.init(**settings),
                        what=f"connecting to the ray cluster at {self.address!r}",
                    )
                else:
                    ray.init(**settings)

            try:
                _, self._started = keeping_signals(init)
            except ConnectionError as exc:
                raise EngineError(
                    f"the ray engine could not connect to {self.address!r}: {exc}"
                ) from None
        self._ray = ray
        self._task = ray.remote(run_task)
        return ray

    def share(self, value: Any) -> Shared:
        ray = self._start()
        return _ObjectRef(ray.put(value))

    def imap(
        self, fn: Callable[..., R], items: Sequence[T], shared: Shared | None = None
    ) -> Iterator[R]:
        if not items:
            return iter(())
        ray = self._start()
        refs = [self._task.remote(fn, item, shared) for item in items]
        return gathered(refs, ray.get, self.workers)

    def map_partitions(
        self, fn: Callable[..., R], partitions: Sequence[T], shared: Shared | None = None
    ) -> Iterator[R]:
        if not partitions:
            return iter(())
        self._start()
        data = _quiet_data()
        rows = [{"i": i, "task": task} for i, task in task_rows(partitions)]
        dataset = data.from_items(rows, override_num_blocks=len(rows))
        mapped = dataset.map_batches(
            partial(run_frame, fn, shared), batch_size=1, batch_format="pandas"
        )
        return in_order(((row["i"], row["outcome"]) for row in mapped.iter_rows()), len(rows))

    def close(self) -> None:
        if self._ray is not None and self._started is not None:
            self._ray.shutdown()
            self._started()
        self._ray, self._task, self._started = None, None, None


class _ObjectRef(Shared):
    """A value in Ray's object store (a worker reads it from there once)."""

    def __init__(self, ref: Any) -> None:
        super().__init__()
        self.ref = ref

    def fetch(self) -> Any:
        import ray

        return ray.get(self.ref)


def _quiet_data() -> Any:
    """``ray.data``, with its progress bars and its per-run log lines off (ours show progress)."""
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    return ray.data
