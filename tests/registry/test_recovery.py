"""Registry changes survive kill -9 at every MLflow write of train, promote and rollback.

A real `mlfactory` process is killed with SIGKILL right after one of its MLflow
calls returns (a prelude run in it wraps MlflowClient's write methods; nothing in
mlfactory knows about it). Killing after a read leaves the same state as killing
after the write before it, so the writes are the cases. After each kill the next
command must leave the registry consistent: no pending move or registration is
left, the last recorded move of every alias names the version it points at,
no version is in limbo, and rollback works.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import zygote
from mlfactory.cli import main
from mlfactory.registry import Registry, ledger, tags
from mlfactory.spec import parse_spec
from mlfactory.training import train

from conftest import mroz_spec

PRELUDE = """
import os, signal
from mlflow import MlflowClient

WRITES = {writes!r}
kill_at, record = int(os.environ["KILL_AT"]), os.environ["CALL_LOG"]
calls = 0


def wrap(name):
    original = getattr(MlflowClient, name)

    def call(self, *args, **kwargs):
        global calls
        try:
            return original(self, *args, **kwargs)
        finally:
            calls += 1
            with open(record, "a") as log:
                log.write(name + "\\n")
            if calls == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    return call


for name in WRITES:
    setattr(MlflowClient, name, wrap(name))
"""
CLIENT_WRITES = (
    "create_experiment",
    "create_run",
    "log_batch",
    "log_artifact",
    "log_artifacts",
    "set_terminated",
    "create_registered_model",
    "create_model_version",
    "set_registered_model_tag",
    "delete_registered_model_tag",
    "set_registered_model_alias",
    "set_model_version_tag",
    "set_tag",
)
# What a training that beats the champion writes, in order (pinned: a new write is a new case)
TRAIN_WRITES = [
    "create_run",
    "log_batch",
    "log_artifacts",
    "set_terminated",
    "create_registered_model",  # the model exists: MLflow answers "already exists"
    "create_model_version",  # the version, its registration pending
    "set_registered_model_tag",  # the move, pending
    "set_registered_model_alias",  # champion moves
    "set_registered_model_tag",  # the move, done
    "set_model_version_tag",  # the registration, complete
    "log_artifact",  # the HTML report
]
MOVE_WRITES = ["set_registered_model_tag", "set_registered_model_alias", "set_registered_model_tag"]

STRONG = mroz_spec(search={"trials": 1})


def run_killed(args: list[str], kill_at: int, tmp_path: Path) -> tuple[int, list[str]]:
    """Run `mlfactory ARGS`, SIGKILLed after its KILL_AT-th MLflow write (0: never)."""
    record = tmp_path / f"calls-{kill_at}.txt"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(KILL_AT=str(kill_at), CALL_LOG=str(record))
    done = zygote.run(args, env=env, prelude=PRELUDE.format(writes=CLIENT_WRITES))
    calls = record.read_text().split() if record.exists() else []
    return done.returncode, calls


def assert_consistent(registry: Registry, name: str) -> None:
    """No limbo: what a user reads in show, history and the aliases agrees."""
    book = ledger.read(registry.client, name)
    assert not [e for e in book.events if e.pending], "a move is left pending"
    for alias, version in book.aliases.items():
        moves = [e for e in book.done if e.alias == alias]
        assert moves and moves[-1].version == version, f"history disagrees with @{alias}"
    assert {e.alias for e in book.done} <= set(book.aliases)
    for v in registry.versions(name):
        assert v.registering is None, f"v{v.version} is left registering"
        assert v.decision in ("champion", "challenger", "interrupted"), v.decision
        if v.decision == "interrupted":
            assert not v.aliases and "registration interrupted" in v.reason


def test_the_writes_of_a_training_are_the_cases_below(
    weak_champion: Registry, tmp_path: Path
) -> None:
    spec = tmp_path / "factory.yaml"
    spec.write_text(__import__("yaml").safe_dump(STRONG))
    code, calls = run_killed(["train", str(spec), "--quiet"], 0, tmp_path)
    assert code == 0  # the strong model beat the weak champion
    assert calls == TRAIN_WRITES


@pytest.mark.parametrize(
    "kill_at",
    range(1, len(TRAIN_WRITES) + 1),
    ids=[f"{i + 1}-{w}" for i, w in enumerate(TRAIN_WRITES)],
)
def test_a_training_killed_after_any_write_leaves_a_recoverable_registry(
    kill_at: int, weak_champion: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = weak_champion
    spec = tmp_path / "factory.yaml"
    spec.write_text(__import__("yaml").safe_dump(STRONG))
    code, calls = run_killed(["train", str(spec), "--quiet"], kill_at, tmp_path)
    assert code == -9 and len(calls) == kill_at

    assert main(["models", "show", "mroz"]) == 0  # the next command settles the registry
    shown = capsys.readouterr()
    assert_consistent(registry, "mroz")
    versions = {v.version: v for v in registry.versions("mroz")}
    champion = registry.resolve("mroz@champion").version
    if kill_at < TRAIN_WRITES.index("create_model_version") + 1:
        assert list(versions) == ["1"] and champion == "1"  # nothing registered
    elif kill_at < TRAIN_WRITES.index("set_registered_model_alias") + 1:
        assert champion == "1" and versions["2"].decision == "interrupted"
        assert "mroz/2: registration interrupted" in shown.err
        assert "interrupted" in shown.out
    else:
        assert champion == "2" and versions["2"].decision == "champion"

    # rollback works wherever there is an earlier champion, and says so where there is none
    assert main(["models", "rollback", "mroz"]) == (0 if champion == "2" else 2)
    assert registry.resolve("mroz@champion").version == "1"
    assert_consistent(registry, "mroz")
    if "2" in versions and versions["2"].decision == "interrupted":
        # the next training decides against the champion as usual, past the interrupted v2
        assert train(parse_spec(STRONG), registry=registry, progress=False).promoted
        assert_consistent(registry, "mroz")


@pytest.mark.parametrize("kill_at", [1, 2, 3], ids=["pending", "alias", "done"])
def test_a_promotion_killed_after_any_write_is_recoverable(
    kill_at: int, challenger: Registry, tmp_path: Path
) -> None:
    code, calls = run_killed(["models", "promote", "mroz", "2"], kill_at, tmp_path)
    assert code == -9 and calls == MOVE_WRITES[:kill_at]
    assert main(["models", "history", "mroz"]) == 0
    assert_consistent(challenger, "mroz")
    moved = kill_at >= 2
    assert challenger.resolve("mroz@champion").version == ("2" if moved else "1")
    assert main(["models", "rollback", "mroz"]) == (0 if moved else 2)
    assert challenger.resolve("mroz@champion").version == "1"
    assert_consistent(challenger, "mroz")


@pytest.mark.parametrize("kill_at", [1, 2, 3], ids=["pending", "alias", "done"])
def test_a_rollback_killed_after_any_write_is_recoverable(
    kill_at: int, challenger: Registry, tmp_path: Path
) -> None:
    challenger.promote("mroz", "2", reason="ops")
    code, calls = run_killed(["models", "rollback", "mroz"], kill_at, tmp_path)
    assert code == -9 and calls == MOVE_WRITES[:kill_at]
    assert main(["models", "show", "mroz"]) == 0
    assert_consistent(challenger, "mroz")
    rolled = kill_at >= 2
    assert challenger.resolve("mroz@champion").version == ("1" if rolled else "2")
    # the rollback either happened (then there is nothing before v1) or can be done now
    assert main(["models", "rollback", "mroz"]) == (2 if rolled else 0)
    assert challenger.resolve("mroz@champion").version == "1"


def test_a_live_registration_is_left_to_its_owner(challenger: Registry) -> None:
    """Only items whose owner is gone are settled: another process may be mid-move."""
    me = ledger.pending_registration()  # this test's own process: alive
    challenger.set_version_tags("mroz", "2", {tags.REGISTRATION: me})
    assert challenger.recover("mroz") == []
    assert challenger.resolve("mroz/2").registering is not None
    gone = me.replace(f'"pid": {os.getpid()}', '"pid": 999999999')
    challenger.set_version_tags("mroz", "2", {tags.REGISTRATION: gone})
    assert challenger.recover("mroz") == []  # v2 holds challenger: its move is recorded
    info = challenger.resolve("mroz/2")
    assert info.registering is None and info.decision == "challenger"
