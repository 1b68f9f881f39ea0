"""The embedded SQLite store: a fast start for new stores, and noticing a replaced file.

A new store starts as a copy of an empty one cached per MLflow version
(``seed_store``). A long-running process (a server) checks the store file's
identity (device, inode) on every use: a file deleted or replaced under it
(a restore, a copy) would otherwise go on being read through MLflow's pooled
connections, which ``dispose_engines`` closes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from pathlib import Path

__all__ = ["dispose_engines", "file_identity", "seed_store", "sqlite_file"]


def seed_store(db: Path) -> None:
    """Start a new embedded store from a copy of an empty one, made once per MLflow version.

    MLflow builds a new SQLite store by running its schema migrations, ~1.2 s every
    time; the empty result is cached under ``$XDG_CACHE_HOME/mlfactory`` and copied.
    ``os.link`` puts the copy in place only if no store appeared meanwhile (two
    trainings starting at once). Any failure leaves the folder to MLflow's own path.
    """
    import sqlite3

    import mlflow
    from mlflow import MlflowClient

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlfactory"
    template = cache / f"mlflow-{mlflow.__version__}-empty.db"
    staged = db.with_name(f".{db.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        if not template.exists():
            cache.mkdir(parents=True, exist_ok=True)
            fresh = template.with_name(f".{template.name}.{os.getpid()}")
            uri = f"sqlite:///{fresh}"
            MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments(max_results=1)
            os.replace(fresh, template)
        shutil.copyfile(template, staged)
        with contextlib.closing(sqlite3.connect(staged)) as conn, conn:
            # where MLflow would have put the unused Default experiment had it made the store
            default = str(Path.cwd() / "mlruns" / "0")
            conn.execute(
                "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0", (default,)
            )
        with contextlib.suppress(FileExistsError):
            os.link(staged, db)
    except (OSError, sqlite3.Error):
        pass  # read-only cache, full disk...: MLflow creates the store itself
    finally:
        staged.unlink(missing_ok=True)


def sqlite_file(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` tracking URI (None for any other store)."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def file_identity(path: Path | None) -> tuple[int, int] | None:
    """(device, inode) of ``path``, or None when it is missing."""
    if path is None:
        return None
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def dispose_engines(uri: str) -> None:
    """Close MLflow's pooled connections to ``uri`` (MLflow keeps one engine per URI)."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as Models
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as Runs

    for store in (Runs, Models):
        engine = getattr(store, "_engine_map", {}).get(uri)
        if engine is not None:
            engine.dispose()
