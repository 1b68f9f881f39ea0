"""The model folder's integrity: one digest manifest over every file, optionally signed.

A model folder, as ``Registry.write_mlflow_model`` writes it::

    MLmodel, requirements.txt, python_env.yaml, conda.yaml
    data/package/manifest.json, pipeline.skops, reference.parquet (optional)
    digests.json    SHA-256 of every other file, by its path in the folder (written last)
    digests.sig     with MLFACTORY_SIGNING_KEY: the manifest's ed25519 signature (``signing``)

``verify_folder`` refuses the folder unless every file in it is listed and
matches, and every listed file is there: a changed ``MLmodel``, an added
``code/`` folder or any extra file is refused. The one file allowed in addition
is ``registered_model_meta``, which MLflow itself writes next to ``MLmodel`` when
it downloads a ``models:/`` URI. The registry records the SHA-256 of
``digests.json`` at registration (``registration_tags``); mlfactory's own
loaders compare it, so someone who can write only the artifact store cannot
replace a model consistently. With ``MLFACTORY_VERIFY_KEY`` set, the signature is
checked first, on every path: then nobody without the private key can.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path, PurePosixPath

from mlfactory.errors import TamperedArtifactError
from mlfactory.registry import signing, tags

__all__ = [
    "DIGESTS",
    "PACKAGE_PATH",
    "file_digest",
    "model_root",
    "registration_tags",
    "seal",
    "verify_files",
    "verify_folder",
]

DIGESTS = "digests.json"
MLFLOW_META = "registered_model_meta"  # written by MLflow when it downloads models:/...
PACKAGE_PATH = "data/package"  # where the package sits in the MLflow model folder
_OWN = {DIGESTS, signing.SIGNATURE}  # files at the top the manifest cannot list


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def registration_tags(folder: Path) -> dict[str, str]:
    """The version tags that record the sealed folder: its manifest's digest, its signer."""
    recorded = {tags.PACKAGE_DIGEST: file_digest(folder / DIGESTS)}
    if signer := signing.signer_of(folder / signing.SIGNATURE):
        recorded[tags.SIGNED_BY] = signer
    return recorded


def model_root(path: Path) -> Path:
    """The model folder of ``path``: the folder itself, or the one holding its data/package."""
    path = Path(path)
    if not (path / "MLmodel").exists() and path.parts[-2:] == tuple(PACKAGE_PATH.split("/")):
        return path.parents[1]
    return path


def _contents(folder: Path, shown_as: str) -> tuple[set[str], set[str]]:
    """Relative paths of the regular files and of the folders under ``folder``."""
    files: set[str] = set()
    folders: set[str] = set()
    for top, subfolders, names in os.walk(folder):
        for name in [*subfolders, *names]:
            path = Path(top) / name
            relative = path.relative_to(folder).as_posix()
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                raise TamperedArtifactError(
                    f"{shown_as}/{relative} is a link or a special file; a model folder holds "
                    "only plain files. Refusing to load it."
                )
            (folders if path.is_dir() else files).add(relative)
    return files, folders


def _listed(raw: bytes, shown: str) -> dict[str, str]:
    try:
        recorded = json.loads(raw)
        if not isinstance(recorded, dict):
            raise ValueError("not a mapping of paths to digests")
        for name, digest in recorded.items():
            parts = PurePosixPath(name).parts
            if (
                not isinstance(digest, str)
                or name in _OWN
                or name.startswith("/")
                or "\\" in name
                or any(p in ("", ".", "..") for p in parts)
                or "/".join(parts) != name
            ):
                raise ValueError(f"bad entry {name!r}")
    except ValueError as exc:
        raise TamperedArtifactError(
            f"{shown} is not a digest manifest mlfactory wrote ({exc}); refusing to load it."
        ) from None
    return recorded


def seal(folder: Path) -> None:
    """Write ``digests.json`` over every file of ``folder``, then sign it if a key is set."""
    files, _ = _contents(folder, str(folder))
    digests = {name: file_digest(folder / name) for name in sorted(files - _OWN)}
    (folder / DIGESTS).write_text(json.dumps(digests, indent=1, sort_keys=True))
    key = signing.signing_key()
    if key is not None:
        (folder / signing.SIGNATURE).write_bytes(signing.sign((folder / DIGESTS).read_bytes(), key))


def _checked_manifest(folder: Path, expected_digest: str | None, shown_as: str) -> dict[str, str]:
    """The digests ``folder/digests.json`` lists, after its signature and registry record."""
    manifest = folder / DIGESTS
    if not manifest.is_file():
        if (folder / PACKAGE_PATH / DIGESTS).is_file():
            raise TamperedArtifactError(
                f"{shown_as} was made by an older mlfactory, whose digests cover only "
                f"{PACKAGE_PATH} and not MLmodel; this mlfactory refuses it. Retrain the model."
            )
        raise TamperedArtifactError(
            f"{shown_as} has no {DIGESTS}: it is not a complete model made by mlfactory."
        )
    raw = manifest.read_bytes()
    keys = signing.verify_keys()
    if keys is not None:
        signing.check_signature(raw, folder / signing.SIGNATURE, keys, f"{shown_as}/{DIGESTS}")
    if expected_digest is not None and hashlib.sha256(raw).hexdigest() != expected_digest:
        raise TamperedArtifactError(
            f"{shown_as}/{DIGESTS} differs from the digest the registry recorded at "
            "registration: the model was modified after registration. Retrain or restore it."
        )
    return _listed(raw, f"{shown_as}/{DIGESTS}")


def verify_files(folder: Path, names: list[str], *, expected_digest: str, shown_as: str) -> None:
    """Like ``verify_folder`` for a few files of a model downloaded alone (``names``).

    ``digests.json`` (and ``digests.sig``, with ``MLFACTORY_VERIFY_KEY`` set) sit in
    ``folder`` as in the model folder; each named file must be listed and match.
    """
    recorded = _checked_manifest(folder, expected_digest, shown_as)
    for name in names:
        shown = f"{shown_as}/{name}"
        if name not in recorded:
            raise TamperedArtifactError(f"{shown} is not part of the registered package.")
        _compare(folder / name, recorded[name], shown)


def verify_folder(folder: Path, *, expected_digest: str | None = None, shown_as: str) -> None:
    """Raise ``TamperedArtifactError`` unless every file of the folder matches the manifest.

    ``expected_digest`` is the registry's record of the manifest; ``shown_as`` names
    the folder in messages (its place in the artifact store). With
    ``MLFACTORY_VERIFY_KEY`` set, the manifest's signature is checked before
    anything else is read.
    """
    recorded = _checked_manifest(folder, expected_digest, shown_as)
    files, folders = _contents(folder, shown_as)
    needed = {str(parent) for name in recorded for parent in PurePosixPath(name).parents}
    for extra in sorted(folders - needed):
        raise TamperedArtifactError(
            f"{shown_as}/{extra}/ is not part of the registered package: a folder was added "
            "after registration. Refusing to load the model."
        )
    for name in sorted((files - _OWN - {MLFLOW_META}) | set(recorded)):
        path, shown = folder / name, f"{shown_as}/{name}"
        if name not in recorded:
            raise TamperedArtifactError(
                f"{shown} is not part of the registered package: a file was added after "
                "registration. Refusing to load the model."
            )
        if name not in files:
            raise TamperedArtifactError(f"{shown} is missing from the model.")
        _compare(path, recorded[name], shown)


def _compare(path: Path, recorded: str, shown: str) -> None:
    actual = file_digest(path)
    if actual != recorded:
        raise TamperedArtifactError(
            f"{shown} has SHA-256 {actual[:12]}…, but {recorded[:12]}… was recorded: "
            "the artifact was modified after registration; refusing to load it."
        )
