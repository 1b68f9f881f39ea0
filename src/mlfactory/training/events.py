"""Training progress as a stream of events, and the console view of it.

``train(on_event=...)`` calls its callback with each event as it happens; the
CLI (and ``train(progress=True)``) renders them with ``ConsoleProgress``: a log
line per step and a progress bar over the search's trials. Any other consumer
(a notebook widget, a scheduler's log, a test) takes the same events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "ConsoleProgress",
    "Event",
    "OnEvent",
    "SearchFinished",
    "SearchStarted",
    "Step",
    "TrialFinished",
    "shown",
]


@dataclass(frozen=True)
class Step:
    """A step began (``prepare``, ``search``, ``evaluate``, ``package``, ``register``,
    ``report``); ``message`` says what it is doing, for a person."""

    name: str
    message: str


@dataclass(frozen=True)
class SearchStarted:
    trials: int  # over every candidate model


@dataclass(frozen=True)
class TrialFinished:
    model: str
    state: str  # complete | pruned | failed
    metric: str
    best: float  # the model's best validation score so far


@dataclass(frozen=True)
class SearchFinished:
    pass


Event = Step | SearchStarted | TrialFinished | SearchFinished
OnEvent = Callable[[Event], None]


def shown(text: str) -> str:
    """The user's text (a column, a class, a series id) inside a ``Step`` message, which is
    rich markup: shown as written, so a name like ``share[/b]`` is no tag."""
    from rich.markup import escape

    return escape(text)


class ConsoleProgress:
    """Renders events on a rich console: log lines, and a bar while the search runs."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, Step):
            from rich.errors import MarkupError
            from rich.text import Text

            try:  # a message is markup; the names in it are the user's: '[/b]' is no tag
                self.console.log(event.message)
            except MarkupError:
                self.console.log(Text(event.message))
        elif isinstance(event, SearchStarted):
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("search", total=event.trials)
        elif isinstance(event, TrialFinished) and self._bar is not None:
            self._bar.update(
                self._task,
                advance=1,
                description=f"{event.model}: best validation {event.metric} {event.best:.4f}",
            )
        elif isinstance(event, SearchFinished) and self._bar is not None:
            task = self._bar.tasks[0]
            self._bar.update(self._task, completed=task.total)
            self._bar.stop()
            self._bar = None

    def close(self) -> None:
        """Stop the bar if a search ended without its ``SearchFinished`` (an error)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
