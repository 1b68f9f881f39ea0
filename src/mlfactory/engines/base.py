"""The engine protocol, the table of engines and the one way to build one.

An engine maps a picklable function over picklable items and gives the results
back in the items' order. Work that needs one large value everywhere (a model
package, the search's training matrices) hands it to ``share`` once and passes
the handle to ``map``: each call is then ``fn(item, value)``, and the engine
moves the value to each worker at most once (a file on this machine, Ray's
object store, a Spark broadcast, a Dask scatter). An exception raised by ``fn``
is raised again by ``map`` as it was raised there, on every engine.

Two shapes of work. ``map``/``imap`` run independent tasks (trials, per-group
fits, backtests) with the engine's task API. ``map_partitions`` runs a dataset's
partitions (a batch job's chunks) with its data-parallel API: Spark's
``mapInPandas``, Ray Data's ``map_batches``, Dask's ``map_partitions``. A
partition there is the description of rows its function reads and writes itself,
so only descriptions and small results cross the engine, never the rows.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import threading
import traceback
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from mlfactory.errors import EngineError, SpecError

__all__ = [
    "ENGINES",
    "ClusterEngine",
    "Engine",
    "Shared",
    "cores",
    "engine_named",
    "register_engine",
]

T = TypeVar("T")
R = TypeVar("R")

TIMEOUT = 10.0  # seconds an engine's address has to answer


class Shared:
    """A handle on a value ``Engine.share`` placed where the workers can read it.

    ``fetch`` gets the value (in a worker); ``value`` fetches it once per process
    and keeps the few most recent. Engines subclass it with how their workers
    fetch (``local``: a file; ``ray``: an object reference; ``spark``: a broadcast
    variable); it must pickle small.
    """

    def __init__(self) -> None:
        self.key = uuid.uuid4().hex

    def fetch(self) -> Any:
        raise NotImplementedError

    @property
    def value(self) -> Any:
        with _CACHE_LOCK:
            if self.key not in _CACHE:
                while len(_CACHE) >= 4:
                    _CACHE.pop(next(iter(_CACHE)))
                _CACHE[self.key] = self.fetch()
            return _CACHE[self.key]


_CACHE: dict[str, Any] = {}
_CACHE_LOCK = threading.Lock()


class Engine(ABC):
    """Runs ``fn`` over items somewhere; results come back in the items' order.

    ``fn`` and the items must be picklable (module-level functions, plain data or
    references); an exception inside ``fn`` is raised by ``map`` as it was raised
    there. An engine holds its workers (and the cluster it started, if any) until
    ``close`` (or the end of a ``with`` block).
    """

    name: ClassVar[str]

    def __init__(self, workers: int) -> None:
        self.workers = workers

    @classmethod
    @abstractmethod
    def create(
        cls, *, workers: int | None = None, address: str | None = None, timeout: float = TIMEOUT
    ) -> Engine:
        """The engine for ``factory.yaml``'s ``engine:`` keys (None: its defaults).

        ``address`` names a running cluster (None: start one on this machine with
        ``workers`` workers); it must answer within ``timeout`` seconds.
        """

    @abstractmethod
    def imap(
        self, fn: Callable[..., R], items: Sequence[T], shared: Shared | None = None
    ) -> Iterator[R]:
        """``fn(item)`` (or ``fn(item, shared value)``) per item, yielded in order as they end."""

    def map(
        self, fn: Callable[..., R], items: Sequence[T], shared: Shared | None = None
    ) -> list[R]:
        """``[fn(item) for item in items]``, computed by up to ``workers`` at once."""
        return list(self.imap(fn, items, shared))

    def map_partitions(
        self, fn: Callable[..., R], partitions: Sequence[T], shared: Shared | None = None
    ) -> Iterator[R]:
        """``fn(partition)`` (or ``fn(partition, shared value)``) per partition of a dataset,
        with the engine's data-parallel API, yielded in order as they end (here: ``imap``)."""
        return self.imap(fn, partitions, shared)

    def share(self, value: Any) -> Shared:
        """Place ``value`` where the workers can read it, once; pass the handle to ``map``."""
        return Inline(value=value)

    def task_threads(self) -> int:
        """Native threads one task may use: a cluster gives each task one core (Ray,
        Spark and Dask count their slots so); more threads than that only wait on each
        other (a LightGBM of 2 threads in each of 2 tasks on 2 cores: several times slower)."""
        return 1

    @abstractmethod
    def close(self) -> None:
        """Stop the workers and any cluster the engine started (a later ``map`` starts again)."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{self.name} engine, {self.workers} worker(s)>"


class Inline(Shared):
    """A value used where it is (one worker: this process); nothing is copied or cached."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self._value = value

    @property
    def value(self) -> Any:
        return self._value


# -- what runs in a worker -------------------------------------------------------------


class ClusterEngine(Engine):
    """An engine on a cluster library (an extra): ``address`` names a running cluster,
    None starts one on this machine with ``workers`` workers (default: one per core)."""

    module: ClassVar[str]  # the library ``create`` imports, to fail early naming the extra
    # (the extra is the engine's name: pip install 'mlfactory[ray]')

    def __init__(self, workers: int, *, address: str | None, timeout: float) -> None:
        super().__init__(workers)
        self.address, self.timeout = address, timeout

    @classmethod
    def create(
        cls, *, workers: int | None = None, address: str | None = None, timeout: float = TIMEOUT
    ) -> Engine:
        need(cls.module, cls.name)
        return cls(workers or cores(), address=address, timeout=timeout)


def cores() -> int:
    """The cores this process may use: its CPU affinity and its container's CPU quota
    (joblib's count), not the machine's (``os.cpu_count``: 64 in a 2-CPU pod on a
    64-core node, and as many busy threads fighting over 2 cores)."""
    from joblib import cpu_count

    return max(1, int(cpu_count()))


@dataclass(frozen=True)
class Failure:
    """An exception raised in a worker, carried back to be raised by ``map``."""

    error: BaseException
    trace: str

    def throw(self) -> Any:
        raise self.error


def run_task(fn: Callable[..., Any], item: Any, shared: Shared | None) -> Any:
    """A cluster engine's task: ``fn``'s result, or its exception wrapped to travel back.

    An exception that cannot be pickled comes back as an ``EngineError`` with its text.
    """
    try:
        return fn(item) if shared is None else fn(item, shared.value)
    except Exception as exc:
        trace = traceback.format_exc()
        try:
            pickle.dumps(exc)
        except Exception:
            exc = EngineError(f"{type(exc).__name__} in a worker: {exc}\n{trace}")
        return Failure(exc, trace)


def unwrap(outcome: Any) -> Any:
    """The result of ``run_task``, or its exception raised here."""
    return outcome.throw() if isinstance(outcome, Failure) else outcome


def task_rows(items: Sequence[Any]) -> list[tuple[int, bytes]]:
    """Items as rows of a dataset for a data-parallel API: (position, the item pickled)."""
    return [
        (i, pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)) for i, item in enumerate(items)
    ]


def run_frame(fn: Callable[..., Any], shared: Shared | None, frame: Any) -> Any:
    """A data-parallel task: a pandas frame of ``task_rows`` in, one of outcomes out.

    The outcome column holds ``run_task``'s result pickled (a worker's exception
    travels back in it), beside the item's position.
    """
    import pandas as pd

    outcomes = [
        pickle.dumps(run_task(fn, pickle.loads(task), shared), protocol=pickle.HIGHEST_PROTOCOL)
        for task in frame["task"]
    ]  # the tasks were pickled by this module in the submitting process, never by a user
    return pd.DataFrame({"i": frame["i"].to_numpy(dtype="int64"), "outcome": outcomes})


def in_order(rows: Iterable[tuple[int, bytes]], count: int) -> Iterator[Any]:
    """The outcomes of ``run_frame`` rows, arriving in any order, yielded in the items' order
    as soon as each is next (a worker's exception raised here)."""
    waiting: dict[int, bytes] = {}
    position = 0
    for i, outcome in rows:
        waiting[int(i)] = outcome
        while position in waiting:
            yield unwrap(pickle.loads(waiting.pop(position)))
            position += 1
    if position != count:
        raise EngineError(f"the engine gave back {position} of {count} results")


LARGEST_SLICE = 1024


def slices(items: Sequence[T], first: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of doubling size, from ``first`` to 1,024.

    Cluster engines fetch results (or submit jobs) a slice at a time: the first
    results come soon (a batch's first manifest commits, its progress), and many
    small items pay few round trips.
    """
    start, size = 0, max(1, first)
    while start < len(items):
        yield items[start : start + size]
        start += size
        size = min(size * 2, LARGEST_SLICE)


def gathered(
    handles: Sequence[T], get: Callable[[list[T]], list[Any]], first: int
) -> Iterator[Any]:
    """The tasks' results in order, fetched by ``get`` a slice of ``handles`` at a time."""
    for part in slices(handles, first):
        yield from (unwrap(outcome) for outcome in get(list(part)))


# -- building engines ------------------------------------------------------------------


ENGINES: dict[str, type[Engine]] = {}


def register_engine(cls: type[Engine]) -> type[Engine]:
    """Add an engine class to ``ENGINES`` under its ``name`` (a class decorator)."""
    if cls.name in ENGINES:
        raise ValueError(f"an engine named {cls.name!r} is already registered")
    ENGINES[cls.name] = cls
    return cls


def engine_named(
    name: str,
    *,
    workers: int | None = None,
    address: str | None = None,
    timeout: float = TIMEOUT,
) -> Engine:
    """The engine ``name`` with ``workers`` (None: the engine's default) at ``address``.

    Without ``address``, a cluster engine reads ``MLFACTORY_<NAME>_ADDRESS``
    (``MLFACTORY_RAY_ADDRESS``, ...), else starts a cluster on this machine.
    """
    cls = ENGINES.get(name)
    if cls is None:
        raise SpecError(f"unknown engine {name!r}; choose from {', '.join(sorted(ENGINES))}")
    if address is None and name != "local":
        address = os.environ.get(f"MLFACTORY_{name.upper()}_ADDRESS") or None
    return cls.create(workers=workers, address=address, timeout=timeout)


def keeping_signals(start: Callable[[], R]) -> tuple[R, Callable[[], None]]:
    """``start()``, and a function that undoes what it did to SIGINT's and SIGTERM's handlers.

    Spark (and Ray) install handlers of their own that outlive the session; an
    engine that started one calls the function at ``close``. A handler is put back
    only where the library's is still in place: one installed since by someone
    else (a search's Ctrl-C check, say) is theirs to restore.
    """
    numbers = (signal.SIGINT, signal.SIGTERM)
    before = {number: signal.getsignal(number) for number in numbers}
    value = start()
    after = {number: signal.getsignal(number) for number in numbers}

    def restore() -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for number in numbers:
            changed = after[number] is not before[number] and before[number] is not None
            if changed and signal.getsignal(number) is after[number]:
                signal.signal(number, before[number])

    return value, restore


def need(module: str, engine: str) -> Any:
    """Import an engine's library, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EngineError(
            f"the {engine} engine needs {module!r}, which is not installed ({exc}); "
            f"install it with: pip install 'mlfactory[{engine}]'"
        ) from None


def within(seconds: float, fn: Callable[[], R], *, what: str) -> R:
    """``fn()``, or an ``EngineError`` naming ``what`` if it has not returned in ``seconds``.

    For a cluster that accepts a connection and then says nothing: the call is left
    behind in a daemon thread, so the command still ends.
    """
    box: list[Any] = []

    def call() -> None:
        try:
            box.append((True, fn()))
        except BaseException as exc:
            box.append((False, exc))

    thread = threading.Thread(target=call, name=f"mlfactory {what}", daemon=True)
    thread.start()
    thread.join(seconds)
    if not box:
        raise EngineError(
            f"{what} did not finish within {seconds:g} s; check that the cluster is running "
            "and reachable (and raise engine.timeout if it is only slow)"
        )
    ok, value = box[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def check_answers(address: str, *, engine: str, default_port: int, timeout: float) -> None:
    """Fail within ``timeout`` seconds, naming the address, if nothing listens there.

    ``address`` is ``host:port`` or a URL (``ray://host:port``, ``tcp://…``,
    ``spark://…``); without a port, ``default_port``.
    """
    parts = urlsplit(address if "://" in address else f"//{address}")
    host, port = parts.hostname, parts.port or default_port
    if not host:
        raise EngineError(f"the {engine} engine's address {address!r} names no host")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise EngineError(
            f"the {engine} engine's address {address!r} did not answer within {timeout:g} s "
            f"({exc.strerror or exc}); check that the cluster is running and reachable, or "
            "leave the address out to start one on this machine"
        ) from None
