"""Serving: a FastAPI app that serves registered models over the protocols of its table."""

from mlfactory.serving.batching import BatchConfig
from mlfactory.serving.server import ServingConfig, create_app

__all__ = ["BatchConfig", "ServingConfig", "create_app"]
