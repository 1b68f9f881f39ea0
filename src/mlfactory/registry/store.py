"""The registry: runs, versions, aliases and verified packages in one MLflow store.

The ``registry`` package is the only part of mlfactory that talks to MLflow; this
module holds the ``Registry`` every command uses.

By default an embedded store, ``sqlite:///.mlfactory/mlflow.db`` with artifacts
in ``.mlfactory/artifacts``; ``MLFLOW_TRACKING_URI`` (or the spec's
``registry.tracking_uri``) points it at any MLflow server instead.

Each trained model is one MLflow run plus one registered version whose tags
carry the gate decision and lineage. Aliases (``champion``, ``challenger``)
move only through ``set_alias``, which records every move in the alias ledger
(``ledger.py``: registered-model tags written ahead of the move, so that a
process killed at any MLflow call leaves a state ``recover`` settles).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlfactory.errors import (
    MlfactoryError,
    ModelReferenceError,
    RegistryError,
    RegistryLocationError,
    TamperedArtifactError,
)
from mlfactory.registry import ledger, signing
from mlfactory.registry import tags as tag
from mlfactory.registry.embedded import dispose_engines, file_identity, seed_store, sqlite_file
from mlfactory.registry.integrity import DIGESTS, PACKAGE_PATH, registration_tags, verify_files
from mlfactory.registry.manifest import Manifest
from mlfactory.registry.mlflow_model import write_model_folder
from mlfactory.registry.package import MANIFEST, ModelPackage

__all__ = ["ALIASES", "ModelRef", "Registry", "VersionInfo", "load_model"]

ALIASES = ("champion", "challenger")
_REF = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)(?:@(?P<alias>[A-Za-z0-9_-]+)|/(?P<version>\d+))?$"
)


@dataclass(frozen=True)
class ModelRef:
    """``NAME@ALIAS``, ``NAME/VERSION``, or a bare ``NAME`` (meaning ``NAME@champion``)."""

    name: str
    alias: str | None = None
    version: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        match = _REF.match(text.strip())
        if not match:
            raise ModelReferenceError(
                f"{text!r} is not a model reference; write NAME@ALIAS (e.g. "
                "flight-delays@champion) or NAME/VERSION (e.g. flight-delays/3)."
            )
        alias, version = match["alias"], match["version"]
        if alias is None and version is None:
            alias = "champion"
        return cls(match["name"], alias, version)

    def __str__(self) -> str:
        return f"{self.name}@{self.alias}" if self.alias else f"{self.name}/{self.version}"


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    run_id: str | None
    source: str
    aliases: list[str]
    tags: dict[str, str]
    created: float  # epoch seconds

    @property
    def decision(self) -> str:
        return self.tags.get(tag.DECISION, "")

    @property
    def reason(self) -> str:
        return self.tags.get(tag.REASON, "")

    @property
    def registering(self) -> ledger.Owner | None:
        """The process still registering this version (its alias has not moved yet)."""
        return ledger.registration_owner(self.tags.get(tag.REGISTRATION))

    @property
    def metrics(self) -> dict[str, float]:
        return json.loads(self.tags.get(tag.METRICS, "{}"))  # type: ignore[no-any-return]

    @property
    def family(self) -> dict[str, Any] | None:
        """A model family's shape (``tag.FAMILY``: columns, groups, own); None for one model."""
        try:
            value = json.loads(self.tags[tag.FAMILY])
        except (KeyError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    @property
    def drift(self) -> dict[str, Any] | None:
        """The latest monitoring summary recorded on this version (``tag.DRIFT``)."""
        try:
            value = json.loads(self.tags[tag.DRIFT])
        except (KeyError, ValueError):
            return None
        return value if isinstance(value, dict) else None


def _quiet_mlflow() -> None:
    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # stdout is ours


class Registry:
    """Runs, versions, aliases and packages in one MLflow store."""

    def __init__(self, *, tracking_uri: str | None = None, path: str | Path = ".mlfactory") -> None:
        self.path = Path(path).resolve()
        env_uri = os.environ.get("MLFLOW_TRACKING_URI")
        self.tracking_uri = env_uri or tracking_uri or f"sqlite:///{self.path / 'mlflow.db'}"
        self.embedded = not (env_uri or tracking_uri)
        self._client: Any = None
        self._client_lock = threading.Lock()
        # a SQLite store's file, and which file it was when opened (device, inode)
        self._store_file = sqlite_file(self.tracking_uri)
        self._store_identity: tuple[int, int] | None = None

    # -- connection -------------------------------------------------------------------

    def ensure_writable(self, name: str | None = None) -> None:
        """Fail fast, before any training, when the embedded store cannot be written.

        The folder, the SQLite file and the artifact folders (``name``'s own, when it
        exists) are each checked: any one of them read-only would let a whole training
        run and fail only when it registers.
        """
        if not self.embedded:
            return
        artifacts = self.path / "artifacts"
        folders = [self.path, artifacts]
        if name is not None and (artifacts / name).is_dir():
            folders.append(artifacts / name)
        for folder in folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                probe = folder / f".write-test-{os.getpid()}-{threading.get_ident()}"
                probe.write_text("ok")
                probe.unlink()
            except OSError as exc:
                raise RegistryLocationError(
                    f"cannot write the registry folder {str(folder)!r} "
                    f"({exc.strerror or exc}). Make it writable, or set registry.path in the "
                    "spec (or MLFLOW_TRACKING_URI) to a location you can write."
                ) from None
        db = self.path / "mlflow.db"
        try:
            if db.exists():
                with db.open("r+b"):  # opened for writing, nothing written
                    pass
        except OSError as exc:
            raise RegistryLocationError(
                f"cannot write the MLflow store {str(db)!r} ({exc.strerror or exc}). Make the "
                "file writable, or set registry.path in the spec (or MLFLOW_TRACKING_URI) to "
                "a store you can write."
            ) from None

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is not None and self._store_identity is not None:
                self._check_store_file()
            if self._client is None:
                _quiet_mlflow()
                from mlflow import MlflowClient

                if self.embedded and not (self.path / "mlflow.db").exists():
                    self.ensure_writable()
                    seed_store(self.path / "mlflow.db")
                try:
                    client = MlflowClient(
                        tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
                    )
                    client.search_experiments(max_results=1)  # creates an embedded store
                except Exception as exc:
                    raise RegistryError(
                        f"cannot open the MLflow store {self.tracking_uri!r}: {exc}"
                    ) from None
                self._client = client
                self._store_identity = file_identity(self._store_file)
            return self._client

    def _check_store_file(self) -> None:
        """A SQLite store deleted or replaced under a long-running process (a server).

        Its open connections would go on reading the old file and never see a change
        made in the new one; the change is an error once (the server counts a reload
        failure) and the next call opens the file that is there now.
        """
        identity = file_identity(self._store_file)
        if identity == self._store_identity:
            return
        if identity is None:
            raise RegistryError(
                f"the MLflow store {str(self._store_file)!r} was deleted while in use; "
                "restore it (the last loaded versions keep serving meanwhile)."
            )
        self._client = None
        dispose_engines(self.tracking_uri)
        raise RegistryError(
            f"the MLflow store {str(self._store_file)!r} was replaced while in use; "
            "it is reopened on the next call."
        )

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        from mlflow.exceptions import MlflowException

        try:
            yield
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                raise ModelReferenceError(f"{doing}: {exc.message}") from None
            raise RegistryError(f"{doing} failed in {self.tracking_uri}: {exc.message}") from None

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Serialize champion decisions for one model name across local processes."""
        folder = self.path if self.embedded else Path(tempfile.gettempdir()) / "mlfactory-locks"
        folder.mkdir(parents=True, exist_ok=True)
        key = hashlib.sha256(f"{self.tracking_uri}|{name}".encode()).hexdigest()[:16]
        with open(folder / f"{key}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- writing ----------------------------------------------------------------------

    def _experiment_id(self, name: str) -> str:
        exp_name = f"mlfactory/{name}"
        found = self.client.get_experiment_by_name(exp_name)
        if found is not None:
            return str(found.experiment_id)
        location = (self.path / "artifacts" / name).as_uri() if self.embedded else None
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.create_experiment(exp_name, artifact_location=location))
        except MlflowException:  # created meanwhile by a concurrent training
            return str(self.client.get_experiment_by_name(exp_name).experiment_id)

    def log_run(
        self,
        name: str,
        *,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        artifacts: dict[str, Path],
    ) -> str:
        """One finished MLflow run with its params, metrics and artifacts; returns its id."""
        import math

        from mlflow.entities import Metric, Param

        with self._errors(f"logging the training run of {name!r}"):
            run = self.client.create_run(self._experiment_id(name), tags=tags)
            run_id = run.info.run_id
            now = int(time.time() * 1000)
            try:
                # a batch is one store transaction (a call per value commits each);
                # MLflow takes at most 100 params and 1000 metrics per batch
                finite = [
                    Metric(key, float(value), now, 0)
                    for key, value in metrics.items()
                    if value is not None and math.isfinite(value)
                ]
                pairs = [Param(key, str(value)[:6000]) for key, value in params.items()]
                for start in range(0, max(len(finite), len(pairs), 1), 100):
                    self.client.log_batch(
                        run_id,
                        metrics=finite[start : start + 100],
                        params=pairs[start : start + 100],
                    )
                for artifact_path, local in artifacts.items():
                    if local.is_dir():
                        self.client.log_artifacts(run_id, str(local), artifact_path)
                    else:
                        self.client.log_artifact(run_id, str(local), artifact_path or None)
            except BaseException:
                self.client.set_terminated(run_id, "FAILED")
                raise
            self.client.set_terminated(run_id, "FINISHED")
            return str(run_id)

    @staticmethod
    def write_mlflow_model(package: ModelPackage, directory: Path) -> Path:
        """Save ``package`` as a sealed MLflow model folder (see ``mlflow_model``)."""
        _quiet_mlflow()
        return write_model_folder(package, directory)

    def log_report(self, run_id: str, report: Path) -> None:
        with self._errors("logging the report"):
            self.client.log_artifact(run_id, str(report))

    def artifact_uri(self, run_id: str, path: str = "") -> str:
        base = str(self.client.get_run(run_id).info.artifact_uri)
        return f"{base}/{path}" if path else base

    def register(self, name: str, *, run_id: str, model_dir: Path, tags: dict[str, str]) -> str:
        """A new version of ``name`` from the run's ``model`` artifact; returns the version.

        The version is created with its registration pending; ``set_alias(...,
        registration=True)`` completes it, and ``recover`` settles it if this process
        is killed in between.
        """
        from mlflow.exceptions import MlflowException

        all_tags = {
            **tags,
            **registration_tags(model_dir),  # digest (and signer) of the folder
            tag.REGISTRATION: ledger.pending_registration(),
        }
        with self._errors(f"registering {name!r}"):
            try:
                self.client.create_registered_model(name)
            except MlflowException as exc:
                if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                    raise
            version = self.client.create_model_version(
                name, source=self.artifact_uri(run_id, "model"), run_id=run_id, tags=all_tags
            )
            return str(version.version)

    def set_alias(
        self,
        name: str,
        alias: str,
        version: str,
        *,
        reason: str,
        rollback: bool = False,
        champion_was: str | None = None,
        check_champion: bool = False,
        registration: bool = False,
    ) -> None:
        """Point ``alias`` at ``version`` and record the move in the alias history.

        With ``check_champion`` the move happens only while ``champion`` still names
        ``champion_was``; otherwise ``ledger.StaleChampion`` (decide again). With
        ``registration`` it also completes the version's registration.
        """
        with self._errors(f"moving {name}@{alias}"):
            ledger.move(
                self.client,
                name,
                alias,
                version,
                reason=reason,
                rollback=rollback,
                champion_was=champion_was,
                check_champion=check_champion,
                registration=registration,
            )

    def set_version_tags(self, name: str, version: str, tags: dict[str, str]) -> None:
        with self._errors(f"tagging {name}/{version}"):
            for key, value in tags.items():
                self.client.set_model_version_tag(name, version, key, value)

    def set_run_tags(self, run_id: str, tags: dict[str, str]) -> None:
        with self._errors(f"tagging run {run_id}"):
            for key, value in tags.items():
                self.client.set_tag(run_id, key, value)

    def recover(self, name: str) -> list[str]:
        """Settle what killed processes left of ``name`` (see ``ledger``); one line each."""
        with self._errors(f"recovering {name!r}"):
            found = self.client.search_model_versions(f"name = '{name}'")
            if not found:
                return []
            return ledger.recover(self.client, name, found)

    # -- reading ----------------------------------------------------------------------

    @staticmethod
    def _info(mv: Any) -> VersionInfo:
        return VersionInfo(
            name=mv.name,
            version=str(mv.version),
            run_id=mv.run_id,
            source=mv.source,
            aliases=list(mv.aliases or []),
            tags=dict(mv.tags or {}),
            created=(mv.creation_timestamp or 0) / 1000,
        )

    def resolve(self, ref: str | ModelRef) -> VersionInfo:
        """The version a reference names, or ``ModelReferenceError`` saying what exists."""
        ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
        from mlflow.exceptions import MlflowException

        try:
            if ref.alias is not None:
                mv = self.client.get_model_version_by_alias(ref.name, ref.alias)
            else:
                mv = self.client.get_model_version(ref.name, ref.version)
        except MlflowException:
            known = [m["name"] for m in self.list_models()]
            if ref.name not in known:
                hint = (
                    f" Registered models: {', '.join(known)}."
                    if known
                    else (" The registry is empty: run `mlfactory train factory.yaml` first.")
                )
                raise ModelReferenceError(
                    f"no model named {ref.name!r} in {self.tracking_uri}.{hint}"
                ) from None
            versions = [v.version for v in self.versions(ref.name)]
            raise ModelReferenceError(
                f"{ref} does not exist; {ref.name} has versions {', '.join(versions)} "
                "(see `mlfactory models show " + ref.name + "`)."
            ) from None
        return self._info(mv)

    def champion(self, name: str) -> VersionInfo | None:
        try:
            return self.resolve(ModelRef(name, alias="champion"))
        except ModelReferenceError:
            return None

    def versions(self, name: str) -> list[VersionInfo]:
        with self._errors(f"listing versions of {name!r}"):
            found = self.client.search_model_versions(f"name = '{name}'")
            aliases: dict[str, list[str]] = {}
            if found:
                model = self.client.get_registered_model(name)
                for alias, version in (model.aliases or {}).items():
                    aliases.setdefault(str(version), []).append(alias)
        infos = [self._info(v) for v in found]
        infos = [
            VersionInfo(**{**i.__dict__, "aliases": sorted(aliases.get(i.version, []))})
            for i in infos
        ]
        return sorted(infos, key=lambda v: int(v.version))

    def list_models(self) -> list[dict[str, Any]]:
        with self._errors("listing models"):
            models = self.client.search_registered_models()
        return [
            {
                "name": m.name,
                "aliases": {a: str(v) for a, v in (m.aliases or {}).items()},
                "latest": max((int(v.version) for v in m.latest_versions or []), default=None),
            }
            for m in models
        ]

    def alias_history(self, name: str) -> list[dict[str, Any]]:
        """Every alias move of ``name`` that took place, oldest first."""
        with self._errors(f"reading the alias history of {name!r}"):
            return [event.record() for event in ledger.read(self.client, name).done]

    @staticmethod
    def _expected_digest(info: VersionInfo) -> str:
        expected = info.tags.get(tag.PACKAGE_DIGEST)
        if expected is None:
            raise TamperedArtifactError(
                f"{info.name}/{info.version} has no {tag.PACKAGE_DIGEST} tag: it was not "
                "registered by mlfactory, so its artifacts cannot be verified."
            )
        return expected

    def manifest(self, ref: str | ModelRef | VersionInfo) -> tuple[Manifest, VersionInfo]:
        """A version's verified manifest (metrics with intervals, schema, lineage) alone.

        Only ``digests.json`` (and its signature, when one is required) and the
        manifest are downloaded, not the model: cheap enough for every version.
        """
        info = ref if isinstance(ref, VersionInfo) else self.resolve(ref)
        expected = self._expected_digest(info)
        import mlflow.artifacts

        manifest = f"{PACKAGE_PATH}/{MANIFEST}"
        workdir = Path(tempfile.mkdtemp(prefix="mlfactory-manifest-"))

        def fetch(name: str) -> None:
            (workdir / name).parent.mkdir(parents=True, exist_ok=True)
            with self._errors(f"downloading {info.source}/{name}"):
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"{info.source}/{name}",
                    dst_path=str((workdir / name).parent),
                    tracking_uri=self.tracking_uri,
                )

        try:
            fetch(DIGESTS)
            fetch(manifest)
            if signing.verify_keys() is not None:
                with contextlib.suppress(MlfactoryError, OSError):  # absent: refused as unsigned
                    fetch(signing.SIGNATURE)
            verify_files(workdir, [manifest], expected_digest=expected, shown_as=info.source)
            text = (workdir / manifest).read_text()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return Manifest.from_json(text, shown_as=f"{info.source}/{manifest}"), info

    def load(
        self, ref: str | ModelRef | VersionInfo, *, files: dict[str, bytes] | None = None
    ) -> tuple[ModelPackage, VersionInfo]:
        """The verified package of a version: the fast path every mlfactory loader uses.

        ``files``, when given, receives every file of the verified model folder
        (relative path -> bytes), to ship the model to an engine's workers.
        """
        info = ref if isinstance(ref, VersionInfo) else self.resolve(ref)
        expected = self._expected_digest(info)
        import mlflow.artifacts

        workdir = Path(tempfile.mkdtemp(prefix="mlfactory-load-"))
        try:
            with self._errors(f"downloading {info.name}/{info.version}"):
                local = mlflow.artifacts.download_artifacts(  # the whole model folder
                    artifact_uri=info.source, dst_path=str(workdir), tracking_uri=self.tracking_uri
                )
            package = ModelPackage.load(Path(local), expected_digest=expected, shown_as=info.source)
            if files is not None:
                root = Path(local)
                for path in sorted(root.rglob("*")):
                    if path.is_file():
                        files[path.relative_to(root).as_posix()] = path.read_bytes()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return package, info

    # -- explicit alias moves ---------------------------------------------------------

    def promote(self, name: str, version: str, *, reason: str = "promoted by hand") -> None:
        self.resolve(ModelRef(name, version=version))
        with self.lock(name):
            self.recover(name)
            self.set_alias(name, "champion", version, reason=reason)

    def rollback(self, name: str) -> str:
        """Give ``champion`` back to the version under it on the champion stack.

        Every move to champion pushes a version and every rollback pops one, so
        rolling back twice steps back twice through the history.
        """
        with self.lock(name):
            self.recover(name)
            with self._errors(f"reading the alias history of {name!r}"):
                stack = ledger.read(self.client, name).champion_stack()
            current = stack[-1] if stack else None
            if len(stack) < 2:
                raise ModelReferenceError(
                    f"{name} has no earlier champion to roll back to (current champion: "
                    f"{current or 'none'}); see `mlfactory models history {name}`."
                )
            target = stack[-2]
            self.set_alias(
                name,
                "champion",
                target,
                reason=f"rollback from version {current}",
                rollback=True,
                champion_was=current,
                check_champion=True,
            )
            return target


def load_model(
    ref: str, *, tracking_uri: str | None = None, path: str | Path = ".mlfactory"
) -> ModelPackage:
    """Load and verify ``NAME@ALIAS`` or ``NAME/VERSION`` from the registry (the fast path)."""
    package, _ = Registry(tracking_uri=tracking_uri, path=path).load(ref)
    return package
