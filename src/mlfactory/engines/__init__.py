"""Engines: where independent pieces of work run, chosen by name.

An ``Engine`` maps a picklable function over picklable items and returns the
results in order; ``share`` places one large value where every worker can read
it once. ``local`` runs in this process (one worker) or in worker processes (joblib's loky);
``ray``, ``spark`` and ``dask`` run on a cluster they connect to or start on
this machine, each an optional extra whose library is imported only when the
engine is used. ``engine_named`` builds one from ``factory.yaml``'s ``engine:``
keys or the ``--engine`` options. The search hands engines batches of trials
(``training.search``) and ``mlfactory batch`` the chunks of its input.
"""

from __future__ import annotations

from mlfactory.engines.base import ENGINES, Engine, Shared, engine_named, register_engine
from mlfactory.engines.dask import DaskEngine
from mlfactory.engines.local import LocalEngine
from mlfactory.engines.ray import RayEngine
from mlfactory.engines.spark import SparkEngine

__all__ = [
    "ENGINES",
    "DaskEngine",
    "Engine",
    "LocalEngine",
    "RayEngine",
    "Shared",
    "SparkEngine",
    "engine_named",
    "register_engine",
]
