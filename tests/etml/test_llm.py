"""The LLM client against a real OpenAI-compatible server on 127.0.0.1 (tests/etml/fake_llm.py)."""

from __future__ import annotations

import asyncio
import json
import pickle
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from etml.fake_llm import FakeLLM, answer_for, closed_port_url
from mlfactory.errors import BadInputError
from mlfactory.etml.llm import (
    NO_ENDPOINT,
    LLMClient,
    LLMSettings,
    Prompt,
    estimate_tokens,
)


def settings_for(url: str, tmp_path: Path, **overrides: Any) -> LLMSettings:
    options: dict[str, Any] = {
        "base_url": url,
        "model": "fake-model",
        "cache_dir": tmp_path / "cache",
        "backoff": 0.01,
        "timeout": 5.0,
    }
    return LLMSettings(**{**options, **overrides})


def prompts(*texts: str) -> list[Prompt]:
    return [Prompt(text, system="be brief", fallback=f"fallback {text}") for text in texts]


def test_answers_come_in_prompt_order_with_tokens_and_cost(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    settings = settings_for(
        fake_llm.url, tmp_path, price_per_1k_input=2.0, price_per_1k_output=10.0
    )
    texts = [f"ride {i} was slow because of rain" for i in range(6)]
    answers, usage = LLMClient(settings).complete(prompts(*texts))
    assert [a.text for a in answers] == [answer_for(t) for t in texts]
    assert {a.source for a in answers} == {"llm"}
    assert fake_llm.calls == usage.calls == 6
    assert usage.prompt_tokens == sum(a.prompt_tokens for a in answers) == 6 * (2 + 7)
    assert usage.completion_tokens == sum(a.completion_tokens for a in answers) > 0
    expected = (usage.prompt_tokens * 2.0 + usage.completion_tokens * 10.0) / 1000
    assert usage.cost == pytest.approx(expected)
    assert usage.to_dict()["fallbacks"] == 0
    assert fake_llm.bodies[0]["model"] == "fake-model"
    assert fake_llm.bodies[0]["max_tokens"] == 200
    assert fake_llm.bodies[0]["temperature"] == 0


def test_5xx_is_retried_until_it_succeeds(fake_llm: FakeLLM, tmp_path: Path) -> None:
    answers, usage = LLMClient(settings_for(fake_llm.url, tmp_path)).complete(
        prompts("flaky [fail=2x503]", "fine")
    )
    assert [a.source for a in answers] == ["llm", "llm"]
    assert fake_llm.statuses.count(503) == 2
    assert fake_llm.calls == usage.calls == 4
    assert usage.retries == 2
    assert usage.failures == usage.fallbacks == 0


def test_429_waits_as_long_as_retry_after_says(fake_llm: FakeLLM, tmp_path: Path) -> None:
    settings = settings_for(fake_llm.url, tmp_path)  # our own backoff: 10 ms
    answers, _ = LLMClient(settings).complete(prompts("busy [fail=1x429][retry-after=1]"))
    assert answers[0].source == "llm"
    assert fake_llm.statuses == [429, 200]
    assert fake_llm.times[1] - fake_llm.times[0] >= 0.95


def test_429_without_retry_after_backs_off_briefly(fake_llm: FakeLLM, tmp_path: Path) -> None:
    answers, _ = LLMClient(settings_for(fake_llm.url, tmp_path)).complete(
        prompts("busy [fail=3x429]")
    )
    assert answers[0].source == "llm"
    assert fake_llm.statuses == [429, 429, 429, 200]
    assert fake_llm.times[-1] - fake_llm.times[0] < 0.9  # 10, 20, 40 ms (with jitter)


def test_retry_after_is_capped_by_max_wait(
    start_fake_llm: Callable[..., FakeLLM], tmp_path: Path
) -> None:
    fake = start_fake_llm(schedule=[429], retry_after="120")
    started = time.monotonic()
    answers, _ = LLMClient(settings_for(fake.url, tmp_path, max_wait=0.2)).complete(
        prompts("hello")
    )
    assert answers[0].source == "llm"
    assert time.monotonic() - started < 5


def test_5xx_beyond_the_retries_falls_back_with_the_reason(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    settings = settings_for(fake_llm.url, tmp_path, retries=2)
    answers, usage = LLMClient(settings).complete(prompts("broken [status=500]", "fine"))
    reason = "HTTP 500 from the endpoint after 2 retries"
    assert answers[0].text == "fallback broken [status=500]"
    assert (answers[0].source, answers[0].reason) == ("extractive", reason)
    assert answers[1].source == "llm"
    assert fake_llm.calls == 3 + 1
    assert (usage.failures, usage.fallbacks, usage.reasons) == (1, 1, {reason: 1})


def test_a_refused_key_stops_every_further_call(
    start_fake_llm: Callable[..., FakeLLM], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = start_fake_llm(api_key="right-key")
    monkeypatch.setenv("OPENAI_API_KEY", "wrong-key")
    client = LLMClient(settings_for(fake.url, tmp_path, concurrency=1))
    answers, usage = client.complete(prompts(*[f"row {i}" for i in range(10)]))
    assert fake.calls == usage.calls == 1
    assert [a.text for a in answers] == [f"fallback row {i}" for i in range(10)]
    reason = "the endpoint refused the key (HTTP 401): check OPENAI_API_KEY (set)"
    assert usage.reasons == {reason: 10}
    assert "wrong-key" not in json.dumps(usage.to_dict())
    client.complete(prompts("another"))  # the day's summary on the same client
    assert fake.calls == 1


def test_the_key_is_read_from_the_named_variable(
    start_fake_llm: Callable[..., FakeLLM], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = start_fake_llm(api_key="s3cret")
    monkeypatch.setenv("OPENAI_API_KEY", "not-this-one")
    monkeypatch.setenv("TAXI_LLM_KEY", "s3cret")
    settings = settings_for(fake.url, tmp_path, api_key_env="TAXI_LLM_KEY")
    answers, _ = LLMClient(settings).complete(prompts("a", "b"))
    assert {a.source for a in answers} == {"llm"}
    assert fake.authorizations == ["Bearer s3cret"] * 2
    assert "s3cret" not in repr(settings) + pickle.dumps(settings).decode("latin-1")
    cached = "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert cached and "s3cret" not in cached


def test_an_unreachable_endpoint_falls_back_in_bounded_time(tmp_path: Path) -> None:
    settings = settings_for(closed_port_url(), tmp_path, retries=2, timeout=2.0)
    started = time.monotonic()
    answers, usage = LLMClient(settings).complete(prompts(*[f"row {i}" for i in range(30)]))
    assert time.monotonic() - started < 10
    assert {a.source for a in answers} == {"extractive"}
    assert len(usage.reasons) == 1
    (reason,) = usage.reasons
    assert reason.startswith("endpoint http://127.0.0.1:") and "unreachable" in reason
    assert usage.calls <= 8 * 3  # the first wave and its retries, then no more calls


def test_a_reply_slower_than_the_timeout_is_retried_then_falls_back(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    settings = settings_for(fake_llm.url, tmp_path, timeout=0.3, retries=1)
    started = time.monotonic()
    answers, usage = LLMClient(settings).complete(prompts("slow [sleep=2]", "quick"))
    assert time.monotonic() - started < 1.8
    assert answers[0].reason == "no answer within 0.3 s after 1 retries"
    assert answers[1].source == "llm"
    assert fake_llm.calls == 3 and usage.retries == 1


def test_no_more_requests_in_flight_than_the_concurrency(fake_llm: FakeLLM, tmp_path: Path) -> None:
    settings = settings_for(fake_llm.url, tmp_path, concurrency=3)
    started = time.monotonic()
    answers, _ = LLMClient(settings).complete(prompts(*[f"r{i} [sleep=0.2]" for i in range(12)]))
    assert {a.source for a in answers} == {"llm"}
    assert fake_llm.max_in_flight == 3
    assert time.monotonic() - started < 12 * 0.2  # concurrent, not one after another


def test_the_token_budget_stops_calls(
    start_fake_llm: Callable[..., FakeLLM], tmp_path: Path
) -> None:
    fake = start_fake_llm(usage=(50, 10))  # every answer costs 60 tokens
    texts = [f"row {i}" for i in range(5)]
    need = estimate_tokens(prompts(texts[0])[0].messages) + 10
    assert need < 70  # so after 2 answers (120 tokens), a third would pass 130
    settings = settings_for(fake.url, tmp_path, token_budget=130, max_tokens=10, concurrency=1)
    client = LLMClient(settings)
    answers, usage = client.complete(prompts(*texts))
    assert fake.calls == 2
    assert [a.source for a in answers] == ["llm", "llm"] + ["extractive"] * 3
    assert usage.reasons == {"token budget 130 reached": 3}
    assert usage.prompt_tokens + usage.completion_tokens == client.used_tokens == 120
    client.complete(prompts("the day"))
    assert fake.calls == 2


def test_a_zero_budget_makes_no_call(fake_llm: FakeLLM, tmp_path: Path) -> None:
    _, usage = LLMClient(settings_for(fake_llm.url, tmp_path, token_budget=0)).complete(
        prompts("a")
    )
    assert fake_llm.calls == 0
    assert usage.reasons == {"token budget 0 reached": 1}


def test_a_rerun_is_answered_from_the_cache(fake_llm: FakeLLM, tmp_path: Path) -> None:
    texts = [f"ride {i}" for i in range(5)]
    first, _ = LLMClient(settings_for(fake_llm.url, tmp_path)).complete(prompts(*texts))
    assert fake_llm.calls == 5
    again, usage = LLMClient(settings_for(fake_llm.url, tmp_path)).complete(prompts(*texts))
    assert fake_llm.calls == 5
    assert [a.text for a in again] == [a.text for a in first]
    assert {a.source for a in again} == {"cache"}
    assert (usage.calls, usage.cached, usage.prompt_tokens, usage.cost) == (0, 5, 0, 0)
    LLMClient(settings_for(fake_llm.url, tmp_path, max_tokens=50)).complete(prompts(*texts))
    assert fake_llm.calls == 10  # another answer length is another question


def test_identical_prompts_in_one_run_are_asked_once(fake_llm: FakeLLM, tmp_path: Path) -> None:
    answers, _ = LLMClient(settings_for(fake_llm.url, tmp_path, cache_dir=None)).complete(
        prompts("same", "same", "other", "same")
    )
    assert fake_llm.calls == 2
    assert [a.text for a in answers] == [answer_for(t) for t in ("same", "same", "other", "same")]


def test_only_answers_from_the_llm_are_cached(fake_llm: FakeLLM, tmp_path: Path) -> None:
    settings = settings_for(fake_llm.url, tmp_path, retries=0)
    LLMClient(settings).complete(prompts("broken [status=500]"))
    LLMClient(settings).complete(prompts("broken [status=500]"))
    assert fake_llm.calls == 2
    assert not list((tmp_path / "cache").rglob("*.json"))


def test_a_torn_cache_file_is_asked_again_and_rewritten(fake_llm: FakeLLM, tmp_path: Path) -> None:
    settings = settings_for(fake_llm.url, tmp_path)
    LLMClient(settings).complete(prompts("ride"))
    (entry,) = (tmp_path / "cache").rglob("*.json")
    entry.write_bytes(entry.read_bytes()[:20])
    answers, _ = LLMClient(settings).complete(prompts("ride"))
    assert (answers[0].source, answers[0].text) == ("llm", answer_for("ride"))
    answers, _ = LLMClient(settings).complete(prompts("ride"))
    assert answers[0].source == "cache" and fake_llm.calls == 2


def test_processes_sharing_the_cache_leave_it_whole(fake_llm: FakeLLM, tmp_path: Path) -> None:
    texts = [f"ride {i}" for i in range(40)]
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        from mlfactory.etml.llm import LLMClient, LLMSettings, Prompt
        settings = LLMSettings(base_url={fake_llm.url!r}, model="m",
                               cache_dir=Path({str(tmp_path / "cache")!r}))
        LLMClient(settings).complete([Prompt(t) for t in {texts!r}])
        """
    )
    workers = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(3)]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0]
    calls = fake_llm.calls
    settings = LLMSettings(base_url=fake_llm.url, model="m", cache_dir=tmp_path / "cache")
    answers, usage = LLMClient(settings).complete([Prompt(t) for t in texts])
    assert [a.text for a in answers] == [answer_for(t) for t in texts]
    assert usage.cached == 40 and fake_llm.calls == calls


def test_without_an_endpoint_no_call_is_made(tmp_path: Path) -> None:
    answers, usage = LLMClient(LLMSettings()).complete(prompts("a", "b"))
    assert [(a.text, a.source, a.reason) for a in answers] == [
        ("fallback a", "extractive", NO_ENDPOINT),
        ("fallback b", "extractive", NO_ENDPOINT),
    ]
    assert (usage.calls, usage.fallbacks, usage.reasons) == (0, 2, {NO_ENDPOINT: 2})


def test_complete_works_inside_a_running_event_loop(fake_llm: FakeLLM, tmp_path: Path) -> None:
    async def inside() -> list[str]:
        answers, _ = LLMClient(settings_for(fake_llm.url, tmp_path)).complete(prompts("x"))
        return [a.text for a in answers]

    assert asyncio.run(inside()) == [answer_for("x")]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"concurrency": 0}, "concurrency is 0"),
        ({"token_budget": -1}, "token_budget is -1"),
        ({"timeout": 0}, "timeout is 0"),
        ({"retries": -1}, "retries is -1"),
        ({"model": ""}, "model is empty"),
        ({"base_url": "localhost:8000"}, "base_url 'localhost:8000' is not an http(s) URL"),
    ],
)
def test_invalid_settings_are_refused_when_made(overrides: dict[str, Any], named: str) -> None:
    with pytest.raises(BadInputError, match=r"summarise\.llm settings are invalid") as raised:
        LLMSettings(**{"base_url": "http://127.0.0.1:1/v1", "model": "m", **overrides})
    assert any(named in problem for problem in raised.value.problems)


def test_environment_variables_override_the_endpoint_and_model() -> None:
    spec = LLMSettings(base_url="http://spec/v1", model="spec-model", concurrency=2)
    env = {"MLFACTORY_LLM_BASE_URL": "http://env/v1", "MLFACTORY_LLM_MODEL": "env-model"}
    assert spec.with_environment(env) == LLMSettings(
        base_url="http://env/v1", model="env-model", concurrency=2
    )
    assert spec.with_environment({}) is spec
    assert LLMSettings().with_environment({"MLFACTORY_LLM_MODEL": "m"}).base_url is None
    assert pickle.loads(pickle.dumps(spec)) == spec
