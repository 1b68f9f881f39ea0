"""The alias ledger: every alias move written ahead, so a kill at any step is recoverable.

MLflow keeps aliases but no history of them, and no transaction spans two of
its calls. So every move is three calls, each leaving a state that ``recover``
understands:

1. the move is written as an event (a registered-model tag
   ``mlfactory.alias_event.<ns time>``) in state ``pending``, naming its owner
   (host, process, time);
2. the alias moves;
3. the event is rewritten as ``done``.

A new version is created with the tag ``mlfactory.registration`` pending (with
its owner) and marked ``complete`` once its first alias move is done.

``recover`` finishes what a killed process left, and only what its owner can no
longer finish: the owner is a process of this host that no longer runs, or the
item is older than ``LEASE_SECONDS`` (an owner on another host).

- A pending event whose alias names its version, or that a later move
  replaced, happened: it becomes ``done``. Otherwise it never happened and is
  deleted.
- A pending registration whose version a done event moved an alias to is
  complete. Otherwise its alias never moved: the version is marked
  ``interrupted`` (it holds no alias; promote it by hand if you want it).

Champion moves are checked against the registry itself (optimistic
concurrency, for trainings on several hosts whose local locks do not see each
other): the mover writes its pending event, then reads the aliases and events
again. It moves only if the alias is still what its event says it replaces,
the champion is still the version its decision was made against, and no other
live process has a pending move of the same alias; otherwise it withdraws its
event and either waits and retries (a move in flight) or raises
``StaleChampion`` so that the caller decides again against the new champion.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from mlfactory.errors import RegistryError
from mlfactory.registry import tags

__all__ = [
    "Event",
    "Ledger",
    "Owner",
    "StaleChampion",
    "move",
    "pending_registration",
    "read",
    "recover",
]

COMPLETE = "complete"
INTERRUPTED = "interrupted"
LEASE_SECONDS = 300.0  # an owner on another host is given up after this long
_ATTEMPTS = 60  # waits for another process's move in flight, 0.05-0.5 s each
_REASON_CHARS = 3000  # MLflow tag values hold 5000 characters; the rest of an event is short


class StaleChampion(RegistryError):
    """The champion changed since the decision was made; ``current`` is the new one."""

    def __init__(self, name: str, expected: str | None, current: str | None) -> None:
        super().__init__(
            f"{name}@champion moved from {expected or 'none'} to {current or 'none'} while "
            "this decision was being made; decide again against the new champion."
        )
        self.current = current


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process its parent has not reaped yet (a zombie) no longer runs
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


@dataclass(frozen=True)
class Owner:
    """Which process wrote a pending item, and when."""

    host: str
    pid: int
    time: float

    @classmethod
    def me(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), time.time())

    def gone(self, now: float | None = None) -> bool:
        """True when nobody will finish this owner's item: recover may."""
        if (now or time.time()) - self.time > LEASE_SECONDS:
            return True
        return self.host == socket.gethostname() and not _running(self.pid)

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.time))
        return f"process {self.pid} on {self.host} at {when}"

    @classmethod
    def from_dict(cls, raw: Any) -> Owner | None:
        try:
            return cls(str(raw["host"]), int(raw["pid"]), float(raw["time"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Event:
    """One alias move. Events written before the ledger existed have no state: done."""

    key: str
    alias: str
    version: str
    previous: str | None
    reason: str
    time: float
    user: str = ""
    rollback: bool = False
    state: str = "done"  # pending | done
    owner: Owner | None = None

    @property
    def pending(self) -> bool:
        return self.state == "pending"

    def record(self) -> dict[str, Any]:
        """The event as ``alias_history`` shows it (and as it is stored, minus the key)."""
        out = asdict(self)
        del out["key"]
        if self.owner is None:
            del out["owner"]
        return out

    def to_json(self) -> str:
        return json.dumps({**self.record(), "reason": self.reason[:_REASON_CHARS]})

    @classmethod
    def parse(cls, key: str, text: str) -> Event | None:
        try:
            raw = json.loads(text)
            return cls(
                key=key,
                alias=str(raw["alias"]),
                version=str(raw["version"]),
                previous=None if raw.get("previous") in (None, "") else str(raw["previous"]),
                reason=str(raw.get("reason", "")),
                time=float(raw.get("time", 0.0)),
                user=str(raw.get("user", "")),
                rollback=bool(raw.get("rollback", False)),
                state=str(raw.get("state", "done")),
                owner=Owner.from_dict(raw.get("owner")),
            )
        except (ValueError, KeyError, TypeError):
            return None  # not an event mlfactory wrote (or cut short): not history


@dataclass(frozen=True)
class Ledger:
    """The aliases of one registered model and every recorded move, oldest first."""

    aliases: dict[str, str]
    events: list[Event] = field(default_factory=list)

    @property
    def done(self) -> list[Event]:
        return [e for e in self.events if not e.pending]

    def live_pending(self, alias: str, *, besides: str = "") -> list[Event]:
        """Pending moves of ``alias`` whose owners may still finish them."""
        return [
            e
            for e in self.events
            if e.pending
            and e.alias == alias
            and e.key != besides
            and not (e.owner is None or e.owner.gone())
        ]

    def happened(self, event: Event) -> bool:
        """Whether a pending move took place: its alias names its version, or a later move
        of the alias replaced its version."""
        if self.aliases.get(event.alias) == event.version:
            return True
        return any(
            e.alias == event.alias and e.previous == event.version and e.key > event.key
            for e in self.done
        )

    def champion_stack(self) -> list[str]:
        """Champions as a stack: a move pushes its version, a rollback pops one.

        ``rollback`` gives champion to the version under the top, so rolling back
        twice steps back twice instead of bouncing between two versions.
        """
        stack: list[str] = []
        for e in self.done:
            if e.alias != "champion":
                continue
            if e.rollback and stack and stack[-1] == e.previous:
                stack.pop()
            if not stack and e.previous is not None and not e.rollback:
                stack.append(e.previous)  # a history that starts after its first champion
            if not stack or stack[-1] != e.version:
                stack.append(e.version)
        current = self.aliases.get("champion")
        if current is not None and (not stack or stack[-1] != current):
            stack.append(current)  # moved outside mlfactory: the top is what serves
        return stack


def read(client: Any, name: str) -> Ledger:
    """The ledger of ``name`` in one MLflow call."""
    model = client.get_registered_model(name)
    events = [
        event
        for key, value in sorted((model.tags or {}).items())
        if key.startswith(tags.ALIAS_EVENT_PREFIX)
        and (event := Event.parse(key, value)) is not None
    ]
    aliases = {str(a): str(v) for a, v in (model.aliases or {}).items()}
    return Ledger(aliases=aliases, events=events)


def pending_registration() -> str:
    """The value of ``tags.REGISTRATION`` on a version being registered by this process."""
    return json.dumps({"state": "pending", "owner": asdict(Owner.me())})


def registration_owner(value: str | None) -> Owner | None:
    """The owner of a pending registration; None when complete (or never tagged)."""
    if not value or value == COMPLETE:
        return None
    try:
        raw = json.loads(value)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("state") != "pending":
        return None
    return Owner.from_dict(raw.get("owner")) or Owner("", 0, 0.0)  # unreadable: long gone


def _new_key() -> str:
    return f"{tags.ALIAS_EVENT_PREFIX}{time.time_ns():020d}"


def move(
    client: Any,
    name: str,
    alias: str,
    version: str,
    *,
    reason: str,
    rollback: bool = False,
    champion_was: str | None = None,
    check_champion: bool = False,
    registration: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> Event:
    """Point ``alias`` at ``version``, recorded so that a kill at any call is recoverable.

    With ``check_champion``, the move happens only while ``champion`` still names
    ``champion_was`` (None: no champion); otherwise ``StaleChampion``. With
    ``registration``, the version's pending registration is completed after the move.
    """
    me = Owner.me()
    for _ in range(_ATTEMPTS):
        before = read(client, name)
        if check_champion and before.aliases.get("champion") != champion_was:
            raise StaleChampion(name, champion_was, before.aliases.get("champion"))
        if before.live_pending(alias):
            sleep(random.uniform(0.05, 0.5))  # another process is moving it: let it finish
            continue
        event = Event(
            key=_new_key(),
            alias=alias,
            version=version,
            previous=before.aliases.get(alias),
            reason=reason,
            time=me.time,
            user=os.environ.get("USER", ""),
            rollback=rollback,
            state="pending",
            owner=me,
        )
        client.set_registered_model_tag(name, event.key, event.to_json())
        try:
            after = read(client, name)
            stale = check_champion and after.aliases.get("champion") != champion_was
            if (
                stale
                or after.aliases.get(alias) != event.previous
                or after.live_pending(alias, besides=event.key)
            ):
                client.delete_registered_model_tag(name, event.key)  # withdrawn: never happened
                if stale:
                    raise StaleChampion(name, champion_was, after.aliases.get("champion"))
                sleep(random.uniform(0.05, 0.5))
                continue
            client.set_registered_model_alias(name, alias, version)
        except StaleChampion:
            raise
        except BaseException:
            _withdraw_if_unmoved(client, name, event)
            raise
        done = replace(event, state="done")
        client.set_registered_model_tag(name, done.key, done.to_json())
        if registration:
            client.set_model_version_tag(name, version, tags.REGISTRATION, COMPLETE)
        return done
    raise RegistryError(
        f"could not move {name}@{alias}: other processes kept moving it for "
        f"{_ATTEMPTS} attempts; retry, or see `mlfactory models history {name}`."
    )


def _withdraw_if_unmoved(client: Any, name: str, event: Event) -> None:
    """After a failure mid-move: drop the pending event unless the alias did move."""
    try:
        if not read(client, name).happened(event):
            client.delete_registered_model_tag(name, event.key)
    except Exception:
        pass  # recover() settles it once this process has exited


def recover(client: Any, name: str, versions: list[Any]) -> list[str]:
    """Settle what killed processes left of ``name``; returns one line per item settled.

    ``versions`` are the model's MLflow versions (with tags). Pending items of live
    owners are left alone.
    """
    ledger = read(client, name)
    settled: list[str] = []
    for event in ledger.events:
        if not event.pending or (event.owner is not None and not event.owner.gone()):
            continue
        if ledger.happened(event):
            done = replace(event, state="done")
            client.set_registered_model_tag(name, done.key, done.to_json())
            settled.append(f"{name}@{event.alias} → v{event.version}: move completed")
        else:
            client.delete_registered_model_tag(name, event.key)
            settled.append(f"{name}@{event.alias} → v{event.version}: never happened, dropped")
    if any(e.pending for e in ledger.events):
        ledger = read(client, name)
    moved_to = {e.version for e in ledger.done}
    for mv in versions:
        version = str(mv.version)
        owner = registration_owner((mv.tags or {}).get(tags.REGISTRATION))
        if owner is None or not owner.gone():
            continue
        if version not in moved_to:
            reason = (
                f"registration interrupted: {owner.describe()} stopped after creating the "
                "version and before moving an alias to it; it holds no alias (promote it by "
                "hand if you want it)"
            )
            client.set_model_version_tag(name, version, tags.DECISION, INTERRUPTED)
            client.set_model_version_tag(name, version, tags.REASON, reason)
            settled.append(f"{name}/{version}: registration interrupted, marked")
        client.set_model_version_tag(name, version, tags.REGISTRATION, COMPLETE)
    return settled
