"""The engine protocol, the table of engines and the one way to build one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from mlfactory.errors import SpecError

__all__ = ["ENGINES", "Engine", "engine_named", "register_engine"]

T = TypeVar("T")
R = TypeVar("R")


class Engine(ABC):
    """Runs ``fn`` over items somewhere; results come back in the items' order.

    ``fn`` and the items must be picklable (module-level functions, plain data or
    references such as ``MatrixRef``); an exception inside ``fn`` is raised by
    ``map`` as it was raised there. An engine holds its workers until ``close``
    (or the end of a ``with`` block).
    """

    name: ClassVar[str]

    def __init__(self, workers: int) -> None:
        self.workers = workers

    @classmethod
    @abstractmethod
    def create(cls, *, workers: int | None = None, **settings: Any) -> Engine:
        """The engine from ``factory.yaml``'s ``engine:`` keys (None: its default workers)."""

    @abstractmethod
    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(item) for item in items]``, computed by up to ``workers`` at once."""

    @abstractmethod
    def close(self) -> None:
        """Stop the workers (a later ``map`` starts them again)."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{self.name} engine, {self.workers} worker(s)>"


ENGINES: dict[str, type[Engine]] = {}


def register_engine(cls: type[Engine]) -> type[Engine]:
    """Add an engine class to ``ENGINES`` under its ``name`` (a class decorator)."""
    if cls.name in ENGINES:
        raise ValueError(f"an engine named {cls.name!r} is already registered")
    ENGINES[cls.name] = cls
    return cls


def engine_named(name: str, *, workers: int | None = None, **settings: Any) -> Engine:
    """The engine ``name`` with ``workers`` (None: the engine's default) and its settings."""
    cls = ENGINES.get(name)
    if cls is None:
        raise SpecError(f"unknown engine {name!r}; choose from {', '.join(sorted(ENGINES))}")
    return cls.create(workers=workers, **settings)
