"""AWS Lambda: the model server's own FastAPI app behind Mangum, its models loaded once.

Lambda calls ``handler(event, context)`` with an API Gateway REST (v1), HTTP API (v2) or
function URL event; Mangum turns it into one ASGI request to the app ``create_app``
builds, so every protocol, the token check, the 4xx bodies and the health routes are
the server's, unchanged. The app is built, and its models loaded, verified and warmed,
once per container: the first time the runtime looks ``handler`` up, which it does in
the init phase, before any request. Mangum's own lifespan handling (``auto``/``on``)
runs the app's start-up and shut-down around every invocation, which would load the
model for each request; it is off here, and the start-up runs once on the container's
one event loop, which every invocation then reuses.

What the app serves comes from the environment, in one of two ways:

- ``MLFACTORY_MODEL_DIR``: a verified model folder baked into the image by
  ``mlfactory export lambda`` (its ``model.json`` says which version it is), served as
  ``MLFACTORY_MODEL`` (NAME@ALIAS) only when the folder's digest manifest hashes to
  ``MLFACTORY_MODEL_DIGEST``. No MLflow store is opened; nothing is written.
- ``MLFACTORY_SERVE_CONFIG``: the settings ``mlfactory serve`` hands its workers
  (``server.app_from_env``), for a registry the function can reach.

The ``[lambda]`` extra (``pip install 'mlfactory[lambda]'``) provides Mangum.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfactory.errors import BadInputError, MlfactoryError, ModelReferenceError
from mlfactory.registry import ModelPackage, ModelRef, Registry, VersionInfo
from mlfactory.registry import tags as tag
from mlfactory.serving.batching import BatchConfig
from mlfactory.serving.server import CONFIG_ENV, ServingConfig, app_from_env, create_app

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "DIGEST_ENV",
    "MODEL_DIR_ENV",
    "MODEL_ENV",
    "MODEL_FILE",
    "BakedModel",
    "LambdaHandler",
    "app_for_lambda",
]

MODEL_DIR_ENV = "MLFACTORY_MODEL_DIR"
MODEL_ENV = "MLFACTORY_MODEL"
DIGEST_ENV = "MLFACTORY_MODEL_DIGEST"
MODEL_FILE = "model.json"  # beside the model folder: name, version, aliases, digest
EXTRA = "pip install 'mlfactory[lambda]'"


class BakedModel(Registry):
    """One exported version, read from its folder: a registry that holds it and nothing else.

    ``resolve`` answers the version and the aliases it had when exported; ``load``
    verifies every file against ``digest`` (the digest of its ``digests.json``) first.
    """

    def __init__(self, folder: Path, *, digest: str) -> None:
        super().__init__(path=folder)
        self.folder = Path(folder)
        described = self.folder / MODEL_FILE
        try:
            about = json.loads(described.read_text())
            self.info = VersionInfo(
                name=str(about["name"]),
                version=str(about["version"]),
                run_id=None,
                source=str(self.folder / "model"),
                aliases=[str(a) for a in about.get("aliases", [])],
                tags={tag.PACKAGE_DIGEST: digest},
                created=float(about.get("created", 0.0)),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BadInputError(
                f"{MODEL_DIR_ENV}={str(self.folder)!r} holds no readable {MODEL_FILE} ({exc}); "
                "point it at the folder `mlfactory export lambda` wrote the model to"
            ) from None

    def resolve(self, ref: str | ModelRef) -> VersionInfo:
        ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
        info = self.info
        if ref.name == info.name and (ref.version == info.version or ref.alias in info.aliases):
            return info
        names = [f"{info.name}/{info.version}", *(f"{info.name}@{a}" for a in info.aliases)]
        held = ", ".join(names)
        raise ModelReferenceError(
            f"{ref} is not in this image; it holds {held}. Set {MODEL_ENV} to one of them, "
            "or export the model you want with `mlfactory export lambda`."
        )

    def load(
        self, ref: str | ModelRef | VersionInfo, *, files: dict[str, bytes] | None = None
    ) -> tuple[ModelPackage, VersionInfo]:
        info = ref if isinstance(ref, VersionInfo) else self.resolve(ref)
        digest = info.tags[tag.PACKAGE_DIGEST]
        return ModelPackage.load(Path(info.source), expected_digest=digest), info


def lambda_config() -> ServingConfig:
    """How a Lambda container serves: one request at a time, a model that never changes."""
    return ServingConfig(
        batching=BatchConfig(enabled=False),  # one request per container at a time
        poll_seconds=0,  # the image's version is the only one
    )


def app_for_lambda() -> FastAPI:
    """The app the environment describes (see the module's docstring)."""
    folder = os.environ.get(MODEL_DIR_ENV)
    if folder:
        digest = os.environ.get(DIGEST_ENV, "").strip()
        if not digest:
            raise BadInputError(
                f"{MODEL_DIR_ENV} is set but {DIGEST_ENV} is not; set it to the model's "
                "digest (template.yaml and the Dockerfile of `mlfactory export lambda` do)"
            )
        baked = BakedModel(Path(folder), digest=digest)
        ref = os.environ.get(MODEL_ENV) or f"{baked.info.name}/{baked.info.version}"
        return create_app([ref], registry=baked, config=lambda_config())
    if os.environ.get(CONFIG_ENV):
        return app_from_env()
    raise BadInputError(
        f"nothing to serve: set {MODEL_DIR_ENV} (a model baked in by `mlfactory export "
        f"lambda`) or {CONFIG_ENV} (the settings of `mlfactory serve`)"
    )


class LambdaHandler:
    """``handler(event, context)`` for one app, whose start-up ran when this was made."""

    def __init__(self, app: FastAPI) -> None:
        try:
            from mangum import Mangum
        except ImportError:
            raise MlfactoryError(
                f"serving on AWS Lambda needs Mangum, which is not installed: {EXTRA}"
            ) from None
        self.app = app
        # the container's one loop: the start-up's tasks and threads are bound to it
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self._lifespan = contextlib.AsyncExitStack()
        try:
            self.loop.run_until_complete(
                self._lifespan.enter_async_context(app.router.lifespan_context(app))
            )
        except BaseException:
            self.loop.close()
            raise
        self.adapter = Mangum(app, lifespan="off")  # started above, once

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        asyncio.set_event_loop(self.loop)  # Mangum runs each request on the current loop
        return self.adapter(event, context)

    def close(self) -> None:
        """Stop the app (its shut-down) and the loop; Lambda itself never calls this."""
        if self.loop.is_closed():
            return
        try:
            self.loop.run_until_complete(self._lifespan.aclose())
        finally:
            self.loop.close()


_handler: LambdaHandler | None = None


def __getattr__(name: str) -> Any:
    """``handler``, made on first use: the runtime looks it up in the init phase."""
    global _handler
    if name != "handler":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _handler is None:
        _handler = LambdaHandler(app_for_lambda())
    return _handler
