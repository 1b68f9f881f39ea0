"""The fake OpenAI-compatible server, started for a test and stopped after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from etml.fake_llm import FakeLLM, serve_fake_llm


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A fake LLM answering every prompt (its faults set by cues in the prompts)."""
    with serve_fake_llm() as fake:
        yield fake


@pytest.fixture
def start_fake_llm() -> Iterator[Callable[..., FakeLLM]]:
    """Start a fake LLM with options (``api_key``, ``schedule``, ``usage``…); stopped after."""
    with ExitStack() as stack:

        def start(**options: Any) -> FakeLLM:
            return stack.enter_context(serve_fake_llm(**options))

        yield start
