"""A scorer that travels: what an engine's workers score with.

``Here`` is the scorer this process already loaded (one worker, no copy).
``Shipped`` is a verified model folder as bytes, with the digest the registry
recorded: a worker on any machine writes it to a temporary folder, verifies
every file again (digests, and the signature when ``MLFACTORY_VERIFY_KEY`` is
set) through the same loader as every other path, loads it with one native
thread, and keeps the scorer for the rest of the job. Nothing is pickled but
the bytes and names; the model is never unpickled.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlfactory.registry import ModelRef, Registry
    from mlfactory.scoring.scorer import Scorer

__all__ = ["Here", "ScorerSource", "Shipped", "ship"]


class ScorerSource:
    """Something a worker gets a scorer from (``Here`` or ``Shipped``)."""

    def scorer(self) -> Scorer:
        raise NotImplementedError


@dataclass(frozen=True)
class Here(ScorerSource):
    loaded: Scorer

    def scorer(self) -> Scorer:
        return self.loaded


@dataclass(frozen=True)
class Shipped(ScorerSource):
    name: str
    version: str
    source: str  # the model folder in the artifact store, for messages
    digest: str  # the registry's record of the folder's digest manifest
    files: dict[str, bytes] = field(repr=False)

    def scorer(self) -> Scorer:
        """The scorer of these files, loaded and verified once in this process."""
        with _LOCK:
            found = _LOADED.get(self.digest)
            if found is None:
                found = _LOADED[self.digest] = self._load()
            return found

    def _load(self) -> Scorer:
        from mlfactory.registry import ModelPackage
        from mlfactory.scoring.scorer import Scorer

        folder = Path(tempfile.mkdtemp(prefix="mlfactory-shipped-"))
        try:
            for name, data in self.files.items():
                path = (folder / name).resolve()
                if not path.is_relative_to(folder.resolve()):  # verify_folder names the rest
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            package = ModelPackage.load(folder, expected_digest=self.digest, shown_as=self.source)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return Scorer.of(package, name=self.name, version=self.version, threads=1)


_LOADED: dict[str, Scorer] = {}  # digest -> scorer, in each worker process
_LOCK = threading.Lock()


def ship(registry: Registry, ref: str | ModelRef) -> tuple[Scorer, Shipped]:
    """The verified version ``ref`` names: its scorer here, and its files to ship."""
    from mlfactory.registry.tags import PACKAGE_DIGEST
    from mlfactory.scoring.scorer import Scorer

    files: dict[str, bytes] = {}
    package, info = registry.load(ref, files=files)
    scorer = Scorer.of(package, name=info.name, version=info.version)
    shipped = Shipped(info.name, info.version, info.source, info.tags[PACKAGE_DIGEST], files)
    return scorer, shipped
