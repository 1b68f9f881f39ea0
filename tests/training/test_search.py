"""The search stops on one Ctrl-C, even when Python swallows the KeyboardInterrupt."""

from __future__ import annotations

import os
import signal
import time

import pytest

from mlfactory.training.search import interruptible


class _Finalized:
    """An object whose finalizer is running when the interrupt lands (as LightGBM's do)."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs here; its KeyboardInterrupt is "ignored"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_interrupt_swallowed_by_a_finalizer_still_stops_the_search() -> None:
    with interruptible() as stop_if_interrupted:
        stop_if_interrupted()  # nothing yet
        _Finalized()  # dropped at once: the interrupt lands in __del__ and is swallowed
        with pytest.raises(KeyboardInterrupt):
            stop_if_interrupted()  # the next trial stops
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_custom_sigint_handler_is_left_alone() -> None:
    calls: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        with interruptible() as stop_if_interrupted:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            stop_if_interrupted()  # the caller's handler decides, not the search
        assert calls == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)
