"""Forecasts: ``POST /v1/models/{name}/forecast`` for a forecasting model.

Request, either shape:

- ``{"ids": ["CA", "TX"], "horizon": 28, "levels": [80, 95]}``: each id's next
  ``horizon`` steps (default: the trained horizon) with an interval per level
  (default: the trained levels; any percentage works). With several id columns an
  id is the values joined with ``|`` or an object ``{"store": 1, "item": 7}``.
- The book's ``{"store_id": "4", "begin_date": "2016-01-01", "end_date":
  "2016-01-07"}`` (or the id columns' own names instead of ``store_id``, every one
  of them): one series between two dates (both included, within the forecast's
  dates).

Answer: ``model_name``, ``model_version``, ``horizon``, ``levels`` and
``forecasts``: per id its ``dates``, ``mean`` and ``lo_<level>``/``hi_<level>``
lists. An id the model has no series of is a 404 naming it; a horizon beyond the
trained one, or dates outside the forecast, a 400; a key of neither shape (``horizn``),
or keys of both at once, a 422 naming it.

A version's forecasts never change, so answers are cached per (version, ids,
horizon, levels, dates): a repeated request is answered from memory; a new
version is new keys. The work of an uncached answer runs in a thread, never on
the event loop. Requests and latency are counted as for any protocol.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from mlfactory.errors import BadInputError, ServingError, did_you_mean
from mlfactory.forecasting.keys import SEPARATOR
from mlfactory.registry.forecasts import SeriesForecasts, interval_columns
from mlfactory.serving.frames import dumps, parse_json
from mlfactory.serving.protocols.base import ServingProtocol, register

if TYPE_CHECKING:
    from mlfactory.registry.manifest import ForecastFamily

__all__ = ["Ask", "Forecast", "ForecastCache"]

CACHED = 4096  # answers kept per server
MAX_IDS = 1000  # ids in one request


@dataclass(frozen=True)
class Ask:
    """What a request asks for, as a hashable key."""

    ids: tuple[str, ...]
    horizon: int
    levels: tuple[float, ...]
    begin: str | None = None  # the book's shape: the first and last date wanted
    end: str | None = None


class ForecastCache:
    """The encoded answers of the last ``CACHED`` asks, per model version (thread-safe)."""

    def __init__(self, size: int = CACHED) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str, Ask], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple[str, str, Ask]) -> bytes | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self.hits += 1
            self._items.move_to_end(key)
            return found

    def put(self, key: tuple[str, str, Ask], body: bytes) -> None:
        with self._lock:
            self._items[key] = body
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def parse(body: bytes, family: ForecastFamily) -> Ask:
    """The request's ids, horizon, levels and dates; ``ServingError`` 400/422 otherwise."""
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise ServingError(400, 'send a JSON object: {"ids": [...], "horizon": N, "levels": [...]}')
    _known_keys(payload, family)
    if "ids" not in payload and "store_id" in payload:
        return _dated(payload, payload["store_id"], family)
    named = [c for c in family.ids if c in payload]
    if "ids" not in payload and named:  # the id columns' own names
        if len(named) < len(family.ids):
            raise ServingError(
                422, f"name the series by every id column ({', '.join(family.ids)}); got {named}"
            )
        return _dated(payload, {c: payload[c] for c in family.ids}, family)
    ids = payload.get("ids")
    if not isinstance(ids, list) or not ids:
        raise ServingError(
            422,
            "'ids' must be a non-empty list of series ids, e.g. "
            f'{{"ids": ["..."], "horizon": {family.horizon}}} (or send the book\'s '
            '{"store_id": ..., "begin_date": ..., "end_date": ...})',
        )
    if len(ids) > MAX_IDS:
        raise ServingError(413, f"{len(ids):,} ids in one request; the limit is {MAX_IDS:,}")
    horizon = payload.get("horizon", family.horizon)
    if isinstance(horizon, float) and horizon.is_integer():
        horizon = int(horizon)  # 7.0 from a client that writes every number as a float
    if isinstance(horizon, bool) or not isinstance(horizon, int):
        raise ServingError(422, f"'horizon' must be a whole number of steps; got {horizon!r}")
    return Ask(tuple(_key(i, family) for i in ids), horizon, _levels(payload, family))


def _known_keys(payload: dict[str, Any], family: ForecastFamily) -> None:
    """A key of neither shape (``horizn``), or both shapes at once, is refused by name: a
    key skipped without a word would answer another question (the default horizon)."""
    book = {"store_id", *family.ids, "begin_date", "end_date"}
    known = {"ids", "horizon", "levels", *book}
    if unknown := [k for k in payload if k not in known]:
        word = unknown[0]
        raise ServingError(
            422,
            f"unknown key {word!r}{did_you_mean(word, sorted(known))}; a forecast request "
            f"has 'ids', 'horizon' and 'levels' (or the book's "
            f"'store_id', 'begin_date' and 'end_date')",
        )
    if "ids" in payload and (mixed := sorted(book & set(payload))):
        raise ServingError(
            422,
            f"send 'ids' (with 'horizon') or the book's 'store_id' with 'begin_date' and "
            f"'end_date', not both; got 'ids' and {', '.join(map(repr, mixed))}",
        )


def _levels(payload: dict[str, Any], family: ForecastFamily) -> tuple[float, ...]:
    from mlfactory.forecasting.select import distinct_levels

    levels = payload.get("levels", family.levels)
    if not isinstance(levels, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in levels
    ):
        raise ServingError(422, f"'levels' must be a list of percentages; got {levels!r}")
    if len(levels) > 10:
        raise ServingError(422, f"at most 10 levels; got {len(levels)}")
    return tuple(distinct_levels(float(v) for v in levels))  # each interval answered once


def _key(value: Any, family: ForecastFamily) -> str:
    """A series id as the model keys it: text, or an object of the id columns."""
    if isinstance(value, dict):
        missing = [c for c in family.ids if c not in value]
        if missing:
            raise ServingError(422, f"an id object needs {', '.join(family.ids)}; got {value!r}")
        return SEPARATOR.join(_text(value[c]) for c in family.ids)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        several = (
            f' (several id columns: {{"{family.ids[0]}": ..., ...}} or their values joined '
            "with '|')"
            if len(family.ids) > 1
            else ""
        )
        raise ServingError(422, f"a series id is text or a number{several}; got {value!r}")
    return _text(value)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _dated(payload: dict[str, Any], series: Any, family: ForecastFamily) -> Ask:
    if "horizon" in payload:  # the dates say how far: a horizon beside them would be skipped
        raise ServingError(
            422, "the book's request asks by 'begin_date' and 'end_date'; leave out 'horizon'"
        )
    begin, end = payload.get("begin_date"), payload.get("end_date")
    if not isinstance(begin, str) or not isinstance(end, str):
        raise ServingError(
            422, "the book's request needs 'begin_date' and 'end_date' as dates, e.g. 2016-01-01"
        )
    return Ask((_key(series, family),), family.horizon, _levels(payload, family), begin, end)


def answer(forecasts: SeriesForecasts, ask: Ask, name: str, version: str) -> bytes:
    """The encoded answer (blocking: run it in a thread)."""

    levels = list(ask.levels)
    frame = forecasts.forecast(list(ask.ids), ask.horizon, levels)
    if ask.begin is not None:
        from mlfactory.forecasting.panel import read_date

        begin, end = read_date(ask.begin), read_date(str(ask.end))
        if begin is None or end is None:
            unread = ask.begin if begin is None else ask.end
            raise BadInputError(
                f"begin_date/end_date must be dates, e.g. 2016-01-01 (as the data writes "
                f"them); got {unread!r}"
            )
        if begin > end:
            raise BadInputError(f"begin_date {ask.begin} is after end_date {ask.end}")
        first, last = frame["ds"].min(), frame["ds"].max()
        if begin < first or end > last:
            raise BadInputError(
                f"dates {ask.begin} to {ask.end} are outside this version's forecast of "
                f"{ask.ids[0]!r}, {first:%Y-%m-%d} to {last:%Y-%m-%d}; ask within it (or "
                "retrain on newer data)"
            )
        frame = frame[(frame["ds"] >= begin) & (frame["ds"] <= end)]
    columns = ["mean", *interval_columns(levels)]
    out = []
    for key, rows in frame.groupby("unique_id", sort=False):
        one: dict[str, Any] = {
            "id": key,
            "dates": rows["ds"].dt.strftime("%Y-%m-%dT%H:%M:%S").tolist(),
        }
        one.update({c: rows[c].to_numpy() for c in columns})
        out.append(one)
    return dumps(
        {
            "model_name": name,
            "model_version": version,
            "horizon": ask.horizon,
            "levels": levels,
            "forecasts": out,
        }
    )


@register
class Forecast(ServingProtocol):
    name = "forecast"
    title = "forecasts (many series)"

    def routes(self) -> APIRouter:
        models = self.models
        cache = ForecastCache()
        router = APIRouter(tags=["forecasts"])

        @router.post(
            "/v1/models/{name}/forecast",
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "description": "Series ids, horizon and interval levels; or the book's "
                    "store_id, begin_date and end_date.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "ids": {"type": "array", "items": {}},
                                    "horizon": {"type": "integer"},
                                    "levels": {"type": "array", "items": {"type": "number"}},
                                    "store_id": {},
                                    "begin_date": {"type": "string"},
                                    "end_date": {"type": "string"},
                                },
                            }
                        }
                    },
                },
            },
        )
        async def forecast(name: str, request: Request) -> Response:
            started = time.perf_counter()
            host = models.host(name)
            served = host.current
            if served is None:
                raise ServingError(503, f"{name} is still loading; retry shortly", kind="not_ready")
            forecasts = served.package.pipeline
            if not isinstance(forecasts, SeriesForecasts):
                raise ServingError(
                    400,
                    f"{name} is a {served.package.manifest.task} model, not a forecast; "
                    f"score rows with POST /v1/models/{name}/predict",
                )
            ask = parse(await models.read_body(request), forecasts.family)
            key = (name, served.version, ask)
            body = cache.get(key)
            if body is None:
                body = await run_in_threadpool(answer, forecasts, ask, name, served.version)
                cache.put(key, body)
            models.answered(request, started)
            return Response(
                body,
                media_type="application/json",
                headers={"X-Model-Version": served.version},
            )

        return router
