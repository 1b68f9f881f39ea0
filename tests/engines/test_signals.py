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
