"""The ETML job's LLM client: OpenAI Chat Completions, bounded, cached, never fatal.

``LLMClient(settings).complete(prompts)`` sends each prompt to any endpoint that speaks
the Chat Completions API (OpenAI, Azure, vLLM, Ollama, a llama.cpp server) through the
official ``openai`` package and returns the answers in prompt order with a ``Usage``:

- up to ``concurrency`` requests at once; a request that gets a 429, a 5xx, a timeout
  or no connection is retried up to ``retries`` times, waiting ``backoff * 2**attempt``
  seconds with jitter, or the ``Retry-After`` the endpoint sent; every wait is capped at
  ``max_wait``. The package's own retries are off, so ours are the ones counted.
- a refused key (401/403), an unknown model or path (404), or an endpoint that failed
  to connect ``retries + 1`` times in a row (counting every prompt's attempts) stops
  every further call: the prompts left get their fallback answer with the reason.
- ``token_budget`` bounds the tokens (prompt + completion) of the whole run, across
  calls of ``complete`` on one client: a prompt whose estimated size plus ``max_tokens``
  would pass it is not sent.
- a successful answer is cached on disk, one small JSON file per SHA-256 of
  (base_url, model, messages, max_tokens, temperature); a cached prompt makes no call.
- nothing is raised: a prompt the LLM did not answer gets ``Prompt.fallback`` as an
  ``Answer`` of source ``"extractive"`` with the reason, counted in ``Usage.reasons``.

The key is read from the environment variable ``api_key_env`` when the calls are made;
it is never stored in the settings, the cache or a message. ``LLMSettings.with_environment``
applies ``MLFACTORY_LLM_BASE_URL`` and ``MLFACTORY_LLM_MODEL`` over the spec's values.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import email.utils
import hashlib
import json
import logging
import math
import os
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlfactory.errors import BadInputError
from mlfactory.files import write_atomically

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["Answer", "LLMClient", "LLMSettings", "Prompt", "Usage", "estimate_tokens"]

log = logging.getLogger("mlfactory.etml")

BASE_URL_ENV = "MLFACTORY_LLM_BASE_URL"
MODEL_ENV = "MLFACTORY_LLM_MODEL"
NO_ENDPOINT = "no LLM endpoint configured"

Source = Literal["llm", "cache", "extractive"]


@dataclass(frozen=True)
class LLMSettings:
    """Where and how to ask; ``base_url=None`` means no endpoint: no call is ever made.

    ``timeout`` and the waits are seconds; ``token_budget`` counts prompt and completion
    tokens of one run (``None``: unlimited); prices are per 1,000 tokens (for the cost);
    ``cache_dir=None`` turns the answer cache off.
    """

    base_url: str | None = None
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    timeout: float = 30.0
    retries: int = 5
    max_tokens: int = 200
    token_budget: int | None = None
    temperature: float = 0.0
    price_per_1k_input: float = 0.0
    price_per_1k_output: float = 0.0
    cache_dir: Path | None = Path(".mlfactory/llm-cache")
    backoff: float = 0.5
    max_wait: float = 30.0

    def __post_init__(self) -> None:
        problems = []
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            problems.append(f"base_url {self.base_url!r} is not an http(s) URL")
        if self.base_url is not None and not self.model:
            problems.append("model is empty: name the model the endpoint serves")
        if not self.api_key_env:
            problems.append("api_key_env is empty: name the variable holding the key")
        positive = ("concurrency", "timeout", "max_tokens")
        for name in positive:
            if not getattr(self, name) > 0:
                problems.append(f"{name} is {getattr(self, name)!r}: it must be above 0")
        for name in ("retries", "price_per_1k_input", "price_per_1k_output", "backoff"):
            if not getattr(self, name) >= 0:
                problems.append(f"{name} is {getattr(self, name)!r}: it must be 0 or more")
        if self.token_budget is not None and self.token_budget < 0:
            problems.append(f"token_budget is {self.token_budget}: give 0 or more, or none")
        if not 0 <= self.temperature <= 2:
            problems.append(f"temperature is {self.temperature}: it must be in [0, 2]")
        if not self.max_wait >= 0:
            problems.append(f"max_wait is {self.max_wait!r}: it must be 0 or more")
        if problems:
            raise BadInputError.from_problems("summarise.llm settings are invalid", problems)

    def with_environment(self, environ: Mapping[str, str] | None = None) -> LLMSettings:
        """These settings with ``MLFACTORY_LLM_BASE_URL`` / ``MLFACTORY_LLM_MODEL`` applied
        when set (non-empty) in ``environ`` (default: ``os.environ``)."""
        env = os.environ if environ is None else environ
        base_url = env.get(BASE_URL_ENV) or self.base_url
        model = env.get(MODEL_ENV) or self.model
        if (base_url, model) == (self.base_url, self.model):
            return self
        return dataclasses.replace(self, base_url=base_url, model=model)


@dataclass(frozen=True)
class Prompt:
    """One request: the user message, an optional system message, and the text to
    answer with when the LLM does not (the caller's extractive summary)."""

    user: str
    system: str = ""
    fallback: str = ""

    @property
    def messages(self) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": self.user}]


@dataclass(frozen=True)
class Answer:
    """The text for one prompt. Tokens are those this run spent on it (0 from the cache);
    ``reason`` says why the LLM did not answer (``source == "extractive"``)."""

    text: str
    source: Source
    reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Usage:
    """What a run asked: ``calls`` counts requests sent (a retry is a call), ``retries``
    the repeated ones, ``failures`` the prompts sent but never answered, ``fallbacks``
    every answer not from the LLM or the cache, ``reasons`` their reasons."""

    calls: int = 0
    cached: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    fallbacks: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: Usage) -> Usage:
        reasons = Counter(self.reasons) + Counter(other.reasons)
        numbers = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in dataclasses.fields(self)
            if f.name != "reasons"
        }
        return Usage(**numbers, reasons=dict(reasons))

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["cost"] = round(self.cost, 6)
        return out


def estimate_tokens(messages: Sequence[Mapping[str, str]]) -> int:
    """A rough upper estimate of a prompt's tokens: 4 characters a token, 4 per message."""
    return sum(math.ceil(len(m["content"]) / 4) + 4 for m in messages)


def cache_key(settings: LLMSettings, messages: Sequence[Mapping[str, str]]) -> str:
    """The SHA-256 naming a prompt's answer in the cache."""
    material: list[Any] = [settings.base_url, settings.model, list(messages)]
    material += [settings.max_tokens, settings.temperature]
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class _Stop(Exception):
    """Stops every further call of the run: the reason says why."""


class LLMClient:
    """Asks the endpoint of ``settings``; the token budget and a stop (a refused key, an
    unreachable endpoint) hold for every ``complete`` call of this client."""

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.used_tokens = 0
        self.connect_failures = 0
        self.stopped: str | None = None if settings.base_url else NO_ENDPOINT

    def remaining_tokens(self) -> int | None:
        """Tokens the budget still allows (``None``: no budget)."""
        budget = self.settings.token_budget
        return None if budget is None else max(0, budget - self.used_tokens)

    def complete(self, prompts: Sequence[Prompt]) -> tuple[list[Answer], Usage]:
        """Answer every prompt, in order; never raises for the endpoint's faults."""
        run = _Run(self, prompts)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(run.main())
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # called from a running loop
            return pool.submit(asyncio.run, run.main()).result()


class _Run:
    """One ``complete`` call: the unique prompts, the shared usage, the in-flight budget."""

    def __init__(self, client: LLMClient, prompts: Sequence[Prompt]) -> None:
        self.client = client
        self.settings = client.settings
        self.prompts = list(prompts)
        self.usage = Usage()
        self.reserved = 0

    async def main(self) -> tuple[list[Answer], Usage]:
        keys = [cache_key(self.settings, p.messages) for p in self.prompts]
        first: dict[str, int] = {}
        for index, key in enumerate(keys):
            first.setdefault(key, index)
        answers: dict[str, Answer] = {}
        if self.settings.base_url:
            answers = await self._ask_all({key: self.prompts[i] for key, i in first.items()})
        out = []
        for prompt, key in zip(self.prompts, keys, strict=True):
            answer = answers.get(key) or self._fallback(prompt, self.client.stopped or "")
            if answer.source == "cache":
                self.usage.cached += 1
            elif answer.source == "extractive":
                self.usage.fallbacks += 1
                reason = answer.reason or ""
                self.usage.reasons[reason] = self.usage.reasons.get(reason, 0) + 1
            out.append(answer)
        s = self.settings
        self.usage.cost = (
            self.usage.prompt_tokens * s.price_per_1k_input
            + self.usage.completion_tokens * s.price_per_1k_output
        ) / 1000
        return out, self.usage

    async def _ask_all(self, prompts: dict[str, Prompt]) -> dict[str, Answer]:
        from openai import AsyncOpenAI

        answers = {key: hit for key in prompts if (hit := self._cached(key)) is not None}
        todo = [(key, prompt) for key, prompt in prompts.items() if key not in answers]
        if not todo:
            return answers
        key_value = os.environ.get(self.settings.api_key_env)
        client = AsyncOpenAI(
            api_key=key_value or "not-set",  # a local server may need none
            base_url=self.settings.base_url,
            timeout=self.settings.timeout,
            max_retries=0,
        )
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def ask_and_keep(key: str, prompt: Prompt) -> Answer:
            answer = await self._ask(client, gate, prompt)
            if answer.source == "llm":  # cached as it arrives, off the loop, while others wait
                await asyncio.to_thread(self._store, key, answer)
            return answer

        try:
            results = await asyncio.gather(*(ask_and_keep(k, p) for k, p in todo))
        finally:
            await client.close()
        answers.update({key: answer for (key, _), answer in zip(todo, results, strict=True)})
        return answers

    def _fallback(self, prompt: Prompt, reason: str) -> Answer:
        return Answer(prompt.fallback, "extractive", reason)

    async def _ask(self, client: AsyncOpenAI, gate: asyncio.Semaphore, prompt: Prompt) -> Answer:
        need = estimate_tokens(prompt.messages) + self.settings.max_tokens
        booked: list[int] = []  # the tokens booked for this prompt while it is asked
        try:
            return await self._attempts(client, gate, prompt, need, booked)
        except _Stop as stop:
            if self.client.stopped is None:
                self.client.stopped = str(stop)
                log.warning("LLM calls stopped: %s", stop)
            self.usage.failures += 1
            return self._fallback(prompt, str(stop))
        finally:
            self.reserved -= sum(booked)

    async def _attempts(
        self,
        client: AsyncOpenAI,
        gate: asyncio.Semaphore,
        prompt: Prompt,
        need: int,
        booked: list[int],
    ) -> Answer:
        """Ask until answered or out of retries. Right before the first call, the budget is
        checked against the tokens used so far plus those booked by the calls in flight."""
        import openai

        s = self.settings
        reason, unreachable = "", False
        for attempt in range(s.retries + 1):
            if attempt:
                self.usage.retries += 1
            wait: float | None = None
            unreachable = False
            async with gate:
                if self.client.stopped is not None:
                    return self._fallback(prompt, self.client.stopped)
                budget = s.token_budget
                if not booked and budget is not None:
                    if self.client.used_tokens + self.reserved + need > budget:
                        return self._fallback(prompt, f"token budget {budget} reached")
                    booked.append(need)
                    self.reserved += need
                self.usage.calls += 1
                try:
                    reply = await client.chat.completions.create(
                        model=s.model,
                        messages=prompt.messages,  # type: ignore[arg-type]
                        max_tokens=s.max_tokens,
                        temperature=s.temperature,
                    )
                    return self._answer(prompt, reply)
                except openai.APIStatusError as error:
                    self.client.connect_failures = 0  # it answers
                    status = error.status_code
                    if status in (401, 403):
                        set_or_not = "set" if os.environ.get(s.api_key_env) else "not set"
                        raise _Stop(
                            f"the endpoint refused the key (HTTP {status}): check "
                            f"{s.api_key_env} ({set_or_not})"
                        ) from None
                    if status == 404:
                        raise _Stop(
                            f"the endpoint answered HTTP 404: check base_url {s.base_url!r} "
                            f"and model {s.model!r}"
                        ) from None
                    if status not in (408, 409, 429) and status < 500:
                        self.usage.failures += 1
                        return self._fallback(prompt, f"HTTP {status} from the endpoint")
                    reason = f"HTTP {status} from the endpoint after {s.retries} retries"
                    wait = _retry_after(error.response.headers)
                except openai.APITimeoutError as error:
                    unreachable = _connect_failed(error)
                    if unreachable:
                        reason = f"endpoint {s.base_url} unreachable (connect timeout)"
                    else:
                        reason = f"no answer within {s.timeout:g} s after {s.retries} retries"
                except openai.APIConnectionError as error:
                    reason = f"endpoint {s.base_url} unreachable ({_root(error)})"
                    unreachable = True
                except Exception as error:  # a malformed reply: this prompt only
                    self.usage.failures += 1
                    return self._fallback(prompt, f"unusable answer ({type(error).__name__})")
            if unreachable:  # in a row, counting every prompt's attempts
                self.client.connect_failures += 1
                if self.client.connect_failures > s.retries:
                    raise _Stop(reason)
            if attempt < s.retries:
                backoff = s.backoff * 2**attempt * random.uniform(0.5, 1.0)
                await asyncio.sleep(min(s.max_wait, backoff if wait is None else wait))
        if unreachable:
            raise _Stop(reason)
        self.usage.failures += 1
        return self._fallback(prompt, reason)

    def _answer(self, prompt: Prompt, reply: Any) -> Answer:
        text = (reply.choices[0].message.content or "").strip() if reply.choices else ""
        if not text:
            self.usage.failures += 1
            return self._fallback(prompt, "the endpoint answered with no text")
        self.client.connect_failures = 0
        usage = reply.usage
        prompt_tokens = usage.prompt_tokens if usage else estimate_tokens(prompt.messages)
        completion_tokens = usage.completion_tokens if usage else math.ceil(len(text) / 4)
        self.client.used_tokens += prompt_tokens + completion_tokens
        self.usage.prompt_tokens += prompt_tokens
        self.usage.completion_tokens += completion_tokens
        return Answer(text, "llm", None, prompt_tokens, completion_tokens)

    def _path(self, key: str) -> Path | None:
        folder = self.settings.cache_dir
        return None if folder is None else folder / key[:2] / f"{key}.json"

    def _cached(self, key: str) -> Answer | None:
        """The cached answer, or None: a missing, torn or foreign file is a miss."""
        path = self._path(key)
        if path is None:
            return None
        try:
            entry = json.loads(path.read_bytes())
            text = entry["text"]
            digest = hashlib.sha256(text.encode()).hexdigest()
            if entry["key"] != key or entry["sha256"] != digest:
                return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return Answer(text, "cache")

    def _store(self, key: str, answer: Answer) -> None:
        """Write the answer whole (readers check its key and digest); a failure is a warning."""
        path = self._path(key)
        if path is None:
            return
        entry = {"key": key, "text": answer.text, "model": self.settings.model}
        entry["sha256"] = hashlib.sha256(answer.text.encode()).hexdigest()
        body = json.dumps(entry).encode()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, lambda handle: handle.write(body))
        except OSError as error:
            log.warning("could not cache an LLM answer in %s: %s", path, error)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the endpoint asked to wait (``retry-after-ms``, ``retry-after``), or None."""
    with contextlib.suppress(KeyError, ValueError, TypeError):
        return max(0.0, float(headers["retry-after-ms"]) / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    return None


def _root(error: BaseException) -> str:
    """The innermost cause's message: 'Connection refused' rather than 'Connection error.'"""
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error) or type(error).__name__


def _connect_failed(error: BaseException) -> bool:
    """Whether a timeout happened while connecting (nothing answers) or while waiting."""
    cause = error.__cause__
    return cause is not None and "Connect" in type(cause).__name__
