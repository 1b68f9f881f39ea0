"""The model server: ``create_app`` builds a FastAPI app that serves registered models.

Every route of the app first passes ``Server.authorize``, the one auth
dependency (see ``serving.auth``). The routes come from the protocols of the
``PROTOCOLS`` table (``serving.protocols``), which see the server only through
the small ``Models`` interface. A scoring route hands ``Server.score`` its
protocol's ``decode`` and ``encode``; ``score`` does what all of them share: size
limits, the model lookup, validation against the model's schema, micro-batched
prediction, the prediction log and metrics, and the ``X-Out-Of-Range`` header (the
columns of numbers far outside the training range, on every protocol). Every
refusal, on any route, is an ``MlfactoryError`` raised to the app's one error
handler (``Server.failed``): it answers the error's ``http_status`` with the JSON
error body and counts the error's ``kind``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Depends, FastAPI, Request, Response
from starlette.requests import ClientDisconnect

from mlfactory.errors import BadInputError, MlfactoryError, RegistryError, ServingError
from mlfactory.registry import ModelRef, Registry
from mlfactory.serving.access import MODEL_KEY, AccessLog
from mlfactory.serving.auth import TOKEN_ENV, Guard
from mlfactory.serving.batching import BatchConfig
from mlfactory.serving.frames import Rows, dumps
from mlfactory.serving.host import ModelHost
from mlfactory.serving.metrics import ServingMetrics
from mlfactory.serving.protocols import PROTOCOLS, Call, Result, ServingProtocol

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Server", "ServingConfig", "create_app"]

Context = TypeVar("Context")

log = logging.getLogger("mlfactory.serving")
CLIENT_CLOSED = 499  # the status label of a request whose client hung up (nginx's code)
OUT_OF_RANGE = "X-Out-Of-Range"  # a JSON list of the columns that had far-out numbers


@dataclass(frozen=True)
class ServingConfig:
    """Everything about how models are served (the models themselves are references)."""

    batching: BatchConfig = field(default_factory=BatchConfig)
    poll_seconds: float = 30.0  # how often to ask the registry for a new version; 0 = never
    max_body_bytes: int = 4 * 1024 * 1024
    max_rows: int = 10_000
    api_token: str | None = None  # default: $MLFACTORY_API_TOKEN
    prediction_log: Path | None = None  # folder for the Parquet prediction log; None = off
    log_seconds: float = 300.0  # the log's rows reach a file within this many seconds
    protocols: tuple[str, ...] = field(default_factory=lambda: tuple(PROTOCOLS))  # all of them
    canary_percent: float = 0.0  # share of requests the `challenger` alias answers
    shadow: bool = False  # the `challenger` also scores every request, for the log only
    access_log: bool = True  # one line per request (serving.access); off: no cost at all

    def __post_init__(self) -> None:
        if not 0 <= self.canary_percent <= 100:
            raise BadInputError(f"canary_percent must be 0-100, got {self.canary_percent}")
        if self.canary_percent and self.shadow:
            raise BadInputError("choose a canary or a shadow challenger, not both")
        unknown = [p for p in self.protocols if p not in PROTOCOLS]
        if unknown or not self.protocols:
            wrong = (
                f"unknown protocol(s) {', '.join(map(repr, unknown))}"
                if unknown
                else "no protocol given"
            )
            raise BadInputError(f"{wrong}; serve one or more of {', '.join(PROTOCOLS)}")


class Server:
    """The served models and everything the protocols share (it implements ``Models``)."""

    def __init__(self, refs: list[ModelRef], registry: Registry, config: ServingConfig) -> None:
        if not refs:
            raise BadInputError("give at least one model to serve, e.g. flight-delays@champion")
        names = [r.name for r in refs]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise BadInputError(
                f"{', '.join(sorted(duplicates))} is listed twice; serve each model name once"
            )
        self.config = config
        self.registry = registry
        self.metrics = ServingMetrics()
        token = config.api_token if config.api_token is not None else os.environ.get(TOKEN_ENV)
        self.guard = Guard(token)
        self.protocol_of: dict[str, ServingProtocol] = {}  # route template -> its protocol
        self.predlog: Any = None
        if config.prediction_log is not None:
            from mlfactory.serving.predlog import PredictionLog, check_folder

            check_folder(config.prediction_log, names)  # now, not by dropping every row
            self.predlog = PredictionLog(
                config.prediction_log,
                rotate_seconds=config.log_seconds,
                on_drop=self.metrics.predlog_dropped.inc,
            )
        self.hosts = {
            r.name: ModelHost(
                registry,
                r,
                batching=config.batching,
                metrics=self.metrics,
                predlog=self.predlog,
                canary_percent=config.canary_percent,
                shadow=config.shadow,
            )
            for r in refs
        }
        self.default_model = refs[0].name
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load and warm every model before the server accepts a connection.

        Each worker process accepts requests only once its models are ready, so no
        request ever meets a worker that is still loading.
        """
        if self.predlog is not None:
            self.predlog.start()
        await self.refresh()
        _settle_garbage()
        if not self.ready:  # a challenger that fails to load does not stop the champion
            problems = "; ".join(
                f"{h.ref}: {h.last_error}" for h in self.hosts.values() if not h.ready
            )
            raise RegistryError(f"cannot serve: {problems}")
        self._tasks.append(asyncio.create_task(self._follow_registry()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for host in self.hosts.values():
            await host.batcher.close()
        if self.predlog is not None:
            await asyncio.to_thread(self.predlog.close)

    async def refresh(self) -> list[dict[str, Any]]:
        results = []
        for host in self.hosts.values():
            results.append(await asyncio.to_thread(host.refresh))
            if host.canary_percent > 0 or host.shadow:
                results.append(await asyncio.to_thread(host.refresh, "challenger"))
        return results

    async def _follow_registry(self) -> None:
        while self.config.poll_seconds > 0:
            await asyncio.sleep(self.config.poll_seconds)
            results = await self.refresh()
            if any(r["status"] in ("swapped", "loaded") for r in results):
                _settle_garbage()

    @property
    def ready(self) -> bool:
        return all(h.ready for h in self.hosts.values())

    @property
    def max_rows(self) -> int:
        return self.config.max_rows

    @property
    def max_body_bytes(self) -> int:
        return self.config.max_body_bytes

    # -- requests ----------------------------------------------------------------------

    async def authorize(self, request: Request) -> None:
        """The app's one dependency: refuse the request (401/403) unless it may call its route.

        A refusal is answered and counted by ``failed``, as any other failed request.
        """
        route = getattr(request.scope.get("route"), "path", None) or request.url.path
        raw = next((v for k, v in request.headers.raw if k.lower() == b"authorization"), b"")
        refusal = self.guard.refusal(route, raw)
        if refusal is not None:
            raise refusal

    def labels(self, request: Request) -> tuple[str, str]:
        """The metric labels of a request: the model it names (or "unknown"), its protocol."""
        route = getattr(request.scope.get("route"), "path", None) or request.url.path
        protocol = self.protocol_of.get(route)
        if protocol is None:  # the app's own routes (health, metrics, admin)
            name = request.path_params.get("name") or request.query_params.get("model")
            return (name if name in self.hosts else "unknown"), "server"
        name = protocol.model_of(request)
        return (name if name in self.hosts else "unknown"), protocol.name

    def answered(self, request: Request, started: float) -> None:
        """Count a request a route answered without ``score`` (200) and its latency."""
        label, protocol = self.labels(request)
        self.metrics.requests.labels(label, protocol, "200").inc()
        self.metrics.latency.labels(label, protocol).observe(time.perf_counter() - started)

    def failed(self, request: Request, exc: MlfactoryError) -> Response:
        """The app's one error handler: answer ``exc.http_status``, count ``exc.kind``."""
        status = exc.http_status
        label, protocol = self.labels(request)
        self.metrics.errors.labels(label, exc.kind).inc()
        self.metrics.requests.labels(label, protocol, str(status)).inc()
        request_id = getattr(request.state, "request_id", None)
        request_id = request_id or request.headers.get("x-request-id")
        if status >= 500:
            log.warning("request %s: %s: %s", request_id, type(exc).__name__, exc)
        else:
            log.debug("request %s: %s %s", request_id, status, exc.kind)
        extra = {"problems": exc.problems} if exc.problems else {}
        return self.error(status, str(exc), request_id, **extra)

    def host(self, name: str) -> ModelHost:
        host = self.hosts.get(name)
        if host is None:
            raise ServingError(
                404,
                f"no model named {name!r} is served here; served: {', '.join(self.hosts)}",
                kind="unknown_model",
            )
        return host

    async def read_body(self, request: Request) -> bytes:
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ServingError(
                413,
                f"the body has {int(declared):,} bytes; the limit is {limit:,}",
                kind="too_large",
            )
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ServingError(
                        413, f"the body is over the limit of {limit:,} bytes", kind="too_large"
                    )
                chunks.append(chunk)
        except ClientDisconnect:  # its doing, nobody to answer: counted, not an error of ours
            raise ServingError(
                CLIENT_CLOSED, "the client closed the connection mid-body", kind="client_disconnect"
            ) from None
        return b"".join(chunks)

    def check_rows(self, rows: int) -> None:
        if rows > self.config.max_rows:
            raise ServingError(
                413,
                f"{rows:,} rows in one request; the limit is "
                f"{self.config.max_rows:,} (use batch scoring for more)",
                kind="too_large",
            )

    async def score(
        self,
        request: Request,
        name: str,
        decode: Callable[[Call], tuple[pd.DataFrame | Rows, Context]],
        encode: Callable[[Context, Result], Response],
        *,
        explain: Callable[[Context], bool] | None = None,
    ) -> Response:
        """Answer a scoring request for model ``name``: ``decode`` it, score, ``encode``.

        When ``explain(context)`` says so, the answer holds each row's contributions.
        """
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = request_id  # for the error handler's answer
        status: int | None = 500  # counted here unless the error handler answers
        label, protocol = self.labels(request)
        try:
            host = self.host(name)
            if not host.ready:
                raise ServingError(503, f"{name} is still loading; retry shortly", kind="not_ready")
            served = host.current
            if served is not None:  # the access log's version, should the request be refused
                setattr(request.state, MODEL_KEY, f"{host.name}/{served.version}")
            rows, context = decode(Call(request, await self.read_body(request), host))
            self.check_rows(len(rows))
            asked = explain is not None and explain(context)
            scored = await host.predict(rows, request_id, explain=asked)
            setattr(request.state, MODEL_KEY, f"{host.name}/{scored.version}")
            response = encode(context, Result(scored, request_id, host.name))
            if scored.out_of_range:  # flagged on every protocol, whatever its body holds
                columns = [far.column for far in scored.out_of_range]
                response.headers[OUT_OF_RANGE] = json.dumps(columns)  # ASCII, any name
            status = 200
            return response
        except MlfactoryError:
            status = None  # answered and counted by the one error handler (``failed``)
            raise
        finally:
            if status is not None:
                self.metrics.requests.labels(label, protocol, str(status)).inc()
            self.metrics.latency.labels(label, protocol).observe(time.perf_counter() - started)

    @staticmethod
    def error(status: int, message: str, request_id: str | None = None, **extra: Any) -> Response:
        codes = {
            400: "BAD_REQUEST",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "RESOURCE_DOES_NOT_EXIST",
            413: "REQUEST_LIMIT_EXCEEDED",
            415: "BAD_REQUEST",
            422: "INVALID_PARAMETER_VALUE",
            503: "TEMPORARILY_UNAVAILABLE",
        }
        body = {
            "error": message,
            "error_code": codes.get(status, "INTERNAL_ERROR"),
            "message": message,
            **extra,
        }
        headers = {"X-Request-ID": request_id} if request_id else {}
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="mlfactory"'
        return Response(
            dumps(body), status_code=status, media_type="application/json", headers=headers
        )

    def describe(self, name: str | None = None) -> list[dict[str, Any]]:
        hosts = [self.host(name)] if name is not None else list(self.hosts.values())
        out = []
        for h in hosts:
            served = h.current
            entry: dict[str, Any] = {
                "name": h.name,
                "ref": str(h.ref),
                "ready": h.ready,
                "version": served.version if served else None,
            }
            if served is not None:
                schema = served.package.schema
                entry["task"] = served.package.task.name
                entry["inputs"] = [{"name": c.name, "kind": c.kind} for c in schema.columns]
                entry["classes"] = schema.classes
                entry["fast_path"] = served.fast is not None
            out.append(entry)
        return out


def _settle_garbage() -> None:
    """Collect once, then freeze what is left (loaded models, libraries).

    Without this, every full collection walks the ~350k objects left from
    start-up and stops the server for ~200 ms: the p99 latency. After a swap
    the old version's objects are unfrozen and collected first.
    """
    import gc

    gc.unfreeze()
    gc.collect()
    gc.freeze()


def create_app(
    models: list[str],
    *,
    registry: Registry | None = None,
    config: ServingConfig | None = None,
) -> FastAPI:
    """A FastAPI app serving ``models`` (``NAME@ALIAS`` or ``NAME/VERSION`` each)."""
    from mlfactory.versions import __version__

    config = config or ServingConfig()
    server = Server([ModelRef.parse(m) for m in models], registry or Registry(), config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    protocols = [PROTOCOLS[name](server) for name in config.protocols]
    *titles, last = [p.title for p in protocols]
    listed = f"{', '.join(titles)} and {last}" if titles else last
    app = FastAPI(
        dependencies=[Depends(server.authorize)],  # every route, however it is added later
        title="mlfactory model server",
        version=__version__,
        lifespan=lifespan,
        description=f"Serves registered models over the {listed} protocol{'s' * bool(titles)}.",
    )
    app.state.server = server

    async def failed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MlfactoryError)
        return server.failed(request, exc)

    app.add_exception_handler(MlfactoryError, failed)  # every refusal, on every route

    @app.get("/health/live", tags=["health"])
    async def live() -> Response:
        return Response(dumps({"status": "live"}), media_type="application/json")

    @app.get("/health/ready", tags=["health"])
    async def ready() -> Response:
        waiting = [h.name for h in server.hosts.values() if not h.ready]
        if waiting:
            return server.error(503, f"not ready: still loading {', '.join(waiting)}")
        keys = ("name", "ref", "ready", "version")  # the schemas are at /v1/models, with the token
        models = [{k: m[k] for k in keys} for m in server.describe()]
        return Response(dumps({"status": "ready", "models": models}), media_type="application/json")

    @app.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        body, content_type = server.metrics.render()
        return Response(body, media_type=content_type)

    @app.post("/admin/reload", tags=["admin"])
    async def reload() -> Response:
        results = await server.refresh()
        if any(r["status"] in ("swapped", "loaded") for r in results):
            _settle_garbage()
        failed = any(r["status"] == "error" for r in results)
        return Response(
            dumps({"models": results}),
            status_code=503 if failed else 200,
            media_type="application/json",
        )

    for protocol in protocols:
        router = protocol.routes()
        server.protocol_of.update((getattr(r, "path", ""), protocol) for r in router.routes)
        app.include_router(router)
    if config.access_log:
        app.add_middleware(AccessLog)
    return app


CONFIG_ENV = "MLFACTORY_SERVE_CONFIG"


def app_from_env() -> FastAPI:
    """The app ``mlfactory serve --workers N`` starts in each worker process."""
    from mlfactory.serving.startup import ReportStartupFailures

    raw = json.loads(os.environ[CONFIG_ENV])
    batching = BatchConfig(**raw.pop("batching"))
    log_folder = raw.pop("prediction_log")
    config = ServingConfig(
        batching=batching,
        prediction_log=Path(log_folder) if log_folder else None,
        protocols=tuple(raw.pop("protocols")),
        **{k: v for k, v in raw.items() if k not in ("models", "registry_path")},
    )
    app = create_app(raw["models"], registry=Registry(path=raw["registry_path"]), config=config)
    app.add_middleware(ReportStartupFailures)  # a failed start: its reason, no traceback
    return app
