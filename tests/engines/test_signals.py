"""Ctrl-C after a cluster engine: the handlers the process had before are back."""

from __future__ import annotations

import signal

import pytest

from mlfactory.engines import engine_named

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["spark", "ray"])
def test_a_cluster_engine_that_started_a_session_gives_back_the_signal_handlers(
    name: str,
) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with engine_named(name, workers=1) as engine:
        assert engine.map(abs, [-1]) == [1]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.mark.parametrize("name", ["spark", "ray"])
def test_a_handler_put_back_by_someone_else_meanwhile_is_left_alone(name: str) -> None:
    """A search's Ctrl-C check starts an engine under its own handler and puts the old one
    back before the engine closes: close must not bring the check's handler back."""

    def check(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, check)
    engine = engine_named(name, workers=1)
    try:
        assert engine.map(abs, [-1]) == [1]  # started while `check` is the handler
    finally:
        signal.signal(signal.SIGINT, previous)  # the check's scope ends
        engine.close()
    assert signal.getsignal(signal.SIGINT) is previous
