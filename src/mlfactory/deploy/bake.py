"""Inside an image's build: one model version put into the image's own embedded registry.

``mlfactory export docker`` writes the verified model folder (``model/``) and what the
source registry recorded of the version (``model.json``) into the build context;
the Dockerfile's build stage runs ``python -m mlfactory.deploy.bake CONTEXT REGISTRY``.
The version keeps its number (the numbers before it are made and deleted: MLflow
never reuses one), its tags and its alias, so the server answers as the source
registry's would. The folder's digest must be the one recorded at registration
(``package_sha256`` in ``model.json``, also the image's label); the build fails
otherwise. At every start, ``mlfactory serve`` loads it through ``Registry.load``,
which checks every file against that digest and refuses to start on a mismatch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mlfactory.errors import MlfactoryError, TamperedArtifactError
from mlfactory.registry import ModelRef, Registry
from mlfactory.registry import tags as tag

__all__ = ["MODEL_FOLDER", "RECORD", "bake", "record_of"]

MODEL_FOLDER = "model"  # the sealed model folder, in the build context
RECORD = "model.json"  # the version as the source registry recorded it
_RECOMPUTED = (tag.PACKAGE_DIGEST, tag.SIGNED_BY, tag.REGISTRATION)
BAKED_REASON = "baked into the image by mlfactory export docker"


def record_of(ref: ModelRef, version: str, tags: dict[str, str]) -> dict[str, Any]:
    """What ``bake`` needs to know of a version, as written to ``model.json``."""
    return {
        "name": ref.name,
        "version": version,
        "alias": ref.alias,
        "package_sha256": tags[tag.PACKAGE_DIGEST],
        "tags": {k: v for k, v in sorted(tags.items()) if k not in _RECOMPUTED},
    }


def bake(context: Path, registry_path: Path) -> str:
    """Register ``context/model`` in a new registry at ``registry_path``; return its ref."""
    record = json.loads((context / RECORD).read_text())
    name, version = str(record["name"]), str(record["version"])
    folder = context / MODEL_FOLDER
    registry = Registry(path=registry_path)
    if registry.list_models():
        raise TamperedArtifactError(
            f"{registry_path} already holds models; the image's registry is made empty."
        )
    client = registry.client
    client.create_registered_model(name)
    for _ in range(1, int(version)):  # deleted numbers are not reused
        placeholder = client.create_model_version(name, source=folder.resolve().as_uri())
        client.delete_model_version(name, placeholder.version)
    run_id = registry.log_run(
        name, params={}, metrics={}, tags={"mlfactory.baked": "true"}, artifacts={"model": folder}
    )
    made = registry.register(name, run_id=run_id, model_dir=folder, tags=record["tags"])
    info = registry.resolve(ModelRef(name, version=made))
    if made != version or info.tags.get(tag.PACKAGE_DIGEST) != record["package_sha256"]:
        raise TamperedArtifactError(
            f"the model folder in the build context is not {name}/{version} as registered "
            f"(digest {info.tags.get(tag.PACKAGE_DIGEST)}, registered "
            f"{record['package_sha256']}); export it again."
        )
    alias = record.get("alias") or "champion"
    registry.set_alias(name, alias, version, reason=BAKED_REASON, registration=True)
    registry.load(info)  # every file against the digest, now rather than at the first start
    return str(ModelRef(name, alias=alias))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m mlfactory.deploy.bake CONTEXT REGISTRY", file=sys.stderr)
        return 2
    try:
        ref = bake(Path(argv[0]), Path(argv[1]))
    except MlfactoryError as exc:
        print(f"error ({type(exc).__name__}): {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"baked {ref} into {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
