"""The alias ledger: the champion stack, what counts as a move, whose items may be settled."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from mlfactory.errors import ModelReferenceError
from mlfactory.registry import Registry
from mlfactory.registry.ledger import LEASE_SECONDS, Event, Ledger, Owner, read


def event(n: int, alias: str, version: str, previous: str | None, **extra: object) -> Event:
    return Event(
        key=f"mlfactory.alias_event.{n:020d}",
        alias=alias,
        version=version,
        previous=previous,
        reason="",
        time=float(n),
        **extra,  # type: ignore[arg-type]
    )


def test_rolling_back_twice_steps_back_twice_instead_of_bouncing() -> None:
    """v1, v2, then v1 promoted by hand: rollbacks go to v2, then v1, then stop."""
    moves = [event(1, "champion", "1", None), event(2, "champion", "2", "1")]
    moves.append(event(3, "champion", "1", "2"))  # by hand, not a rollback
    book = Ledger(aliases={"champion": "1"}, events=moves)
    assert book.champion_stack() == ["1", "2", "1"]
    moves.append(event(4, "champion", "2", "1", rollback=True))
    assert Ledger({"champion": "2"}, moves).champion_stack() == ["1", "2"]
    moves.append(event(5, "champion", "1", "2", rollback=True))
    assert Ledger({"champion": "1"}, moves).champion_stack() == ["1"]


def test_the_stack_ignores_challenger_moves_and_pending_ones_and_trusts_the_alias() -> None:
    moves = [
        event(1, "champion", "1", None),
        event(2, "challenger", "2", None),
        event(3, "champion", "3", "1", state="pending"),
    ]
    assert Ledger({"champion": "1", "challenger": "2"}, moves).champion_stack() == ["1"]
    # champion moved by plain MLflow, outside the ledger: the top is what serves
    assert Ledger({"champion": "7"}, moves).champion_stack() == ["1", "7"]
    # a history that starts after its first champion still knows the one before
    assert Ledger({"champion": "5"}, [event(9, "champion", "5", "4")]).champion_stack() == [
        "4",
        "5",
    ]


def test_a_pending_move_happened_when_its_alias_names_it_or_a_later_move_replaced_it() -> None:
    pending = event(2, "champion", "2", "1", state="pending")
    assert Ledger({"champion": "2"}, [pending]).happened(pending)
    assert not Ledger({"champion": "1"}, [pending]).happened(pending)
    later = event(3, "champion", "3", "2")
    assert Ledger({"champion": "3"}, [pending, later]).happened(pending)


def test_events_from_before_the_ledger_and_foreign_tags_are_read_safely() -> None:
    legacy = json.dumps({"alias": "champion", "version": "1", "previous": None, "reason": "x"})
    parsed = Event.parse("mlfactory.alias_event.1", legacy)
    assert parsed is not None and not parsed.pending and parsed.owner is None
    assert Event.parse("mlfactory.alias_event.2", legacy[:20]) is None  # cut short
    assert Event.parse("mlfactory.alias_event.3", "[1, 2]") is None


def test_an_event_keeps_a_huge_reason_within_mlflows_tag_limit() -> None:
    big = Event("k", "champion", "1", None, reason="r" * 20_000, time=0.0, owner=Owner.me())
    stored = big.to_json()
    assert len(stored) < 5000 and Event.parse("k", stored) is not None


def test_owners_are_gone_when_their_process_is_or_their_lease_ran_out() -> None:
    me = Owner.me()
    assert not me.gone()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = Owner(socket.gethostname(), child.pid, time.time())
    assert not owner.gone()
    child.send_signal(signal.SIGKILL)
    time.sleep(0.2)
    assert owner.gone()  # killed and not reaped yet (a zombie): gone all the same
    child.wait()
    assert owner.gone()
    elsewhere = Owner("another-host", os.getpid(), time.time())
    assert not elsewhere.gone()  # another host's process cannot be checked: wait for its lease
    assert Owner("another-host", 1, time.time() - LEASE_SECONDS - 1).gone()


def test_rollback_after_rollback_walks_back_on_a_real_registry(challenger: Registry) -> None:
    challenger.promote("mroz", "2", reason="canary went well")
    challenger.promote("mroz", "1", reason="by hand, not a rollback")
    assert challenger.rollback("mroz") == "2"
    assert challenger.rollback("mroz") == "1"
    with pytest.raises(ModelReferenceError, match="no earlier champion"):
        challenger.rollback("mroz")
    rollbacks = [e for e in challenger.alias_history("mroz") if e["rollback"]]
    assert [(e["version"], e["previous"]) for e in rollbacks] == [("2", "1"), ("1", "2")]
    assert read(challenger.client, "mroz").aliases["champion"] == "1"
