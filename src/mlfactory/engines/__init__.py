"""Engines: where independent pieces of work run, chosen by name.

An ``Engine`` maps a picklable function over picklable items and returns the
results in order. ``local`` runs them in this process (one worker) or in a pool
of spawned processes (``concurrent.futures``); the cluster engines of issue 12
(Ray, Spark, Dask) register themselves the same way, as optional extras
imported only when chosen. ``engine_named`` builds one from ``factory.yaml``'s
``engine:`` keys. The search hands it batches of trials (``training.search``).
"""

from __future__ import annotations

from mlfactory.engines.base import ENGINES, Engine, engine_named, register_engine
from mlfactory.engines.local import LocalEngine

__all__ = ["ENGINES", "Engine", "LocalEngine", "engine_named", "register_engine"]
