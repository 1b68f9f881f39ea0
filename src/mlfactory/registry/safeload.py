"""Load a skops file, constructing only the exact types mlfactory's own pipelines hold.

skops rebuilds objects from the nodes of the file's ``schema.json``, and a node
names what it constructs or calls as ``module.name``: a class, or a function
that a reduce node calls while the file loads (``builtins.exec``,
``numpy.load(path, None, True)``) or that a ``functools.partial`` keeps to be
called when the model predicts. skops's own check trusts a default set on top of
what the caller lists (every scikit-learn estimator, numpy and scipy ufuncs,
builtin containers); ``stored_types`` switches those defaults off and returns
every name the file would construct or call. ``load_pipeline`` refuses a file
with any name outside ``TRUSTED_TYPES`` (the exact list generated from the
catalog's fitted pipelines) before anything is constructed, then lets skops load
it trusting exactly those names, so skops's audit runs as a second check.

This reads skops internals (``get_tree``, node classes); skops is pinned in
``constraints.txt`` and ``tests/registry/test_safeload.py`` fails loudly if they change.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlfactory.errors import TamperedArtifactError
from mlfactory.registry.trusted_types import TRUSTED_TYPES

__all__ = ["UnreadableSkopsFile", "load_pipeline", "refused_types", "stored_types"]


class UnreadableSkopsFile(ValueError):
    """The bytes are not a skops file this skops can audit."""


def _nodes(root: Any, more: Iterable[Any]) -> list[Any]:
    """Every node reachable from ``root`` (and from ``more``) through ``children``."""
    from skops.io._audit import Node

    seen: dict[int, Any] = {}
    stack = [root, *more]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen[id(node)] = node
        for child in node.children.values():
            if isinstance(child, Node):
                stack.append(child)
            elif isinstance(child, list):
                stack.extend(c for c in child if isinstance(c, Node))
            elif isinstance(child, dict):
                stack.extend(c for c in child.values() if isinstance(c, Node))
    return list(seen.values())


def stored_types(data: bytes) -> set[str]:
    """Every class and function name the skops file ``data`` would construct or call.

    Nothing in the file is imported or constructed. Raises ``UnreadableSkopsFile``
    for bytes that are not a skops file, or that use node kinds of an older skops
    protocol (which this skops reads with older, laxer nodes).
    """
    import skops.io  # noqa: F401  (registers every node kind)
    from skops.io._audit import NODE_TYPE_MAPPING, get_tree
    from skops.io._numpy import RandomGeneratorNode
    from skops.io._protocol import PROTOCOL
    from skops.io._utils import read_schema

    current = {cls for (_, protocol), cls in NODE_TYPE_MAPPING.items() if protocol == PROTOCOL}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema, context = read_schema(archive)
            root = get_tree(schema, context, trusted=None)
        names: set[str] = set()
        for node in _nodes(root, context.memo.values()):
            if type(node) not in current:
                raise UnreadableSkopsFile(
                    f"it uses the node kind {type(node).__name__} of skops protocol "
                    f"{context.protocol}, older than the {PROTOCOL} this skops writes"
                )
            node.trusted = []  # no defaults: every name counts
            # the node's own names (its class, a function, a method), children aside:
            # every node is visited here, so one pass stays linear in the file's size
            children = node.children
            node.children = {k: v for k, v in children.items() if type(v) is type}
            try:
                names |= node.get_unsafe_set()
            finally:
                node.children = children
            if isinstance(node, RandomGeneratorNode):  # it calls its bit generator class
                names.add(f"numpy.random.{node.bit_generator_name}")
    except UnreadableSkopsFile:
        raise
    except Exception as exc:
        raise UnreadableSkopsFile(f"{type(exc).__name__}: {exc}") from None
    return names


def refused_types(data: bytes) -> list[str]:
    """The names in the skops file ``data`` that are not in ``TRUSTED_TYPES``, sorted."""
    return sorted(stored_types(data) - TRUSTED_TYPES)


def load_pipeline(path: Path, *, shown_as: str) -> Any:
    """The object stored in the skops file ``path``, or ``TamperedArtifactError``.

    ``shown_as`` names the file in messages (its place in the artifact store, not
    a temporary copy). The file is read once, so what is checked is what loads.
    """
    import skops.io as sio

    data = Path(path).read_bytes()
    try:
        names = stored_types(data)
    except UnreadableSkopsFile as exc:
        raise TamperedArtifactError(
            f"{shown_as} is not a model file mlfactory can check ({exc}); refusing to load it."
        ) from None
    refused = sorted(names - TRUSTED_TYPES)
    if refused:
        raise TamperedArtifactError(
            f"{shown_as} holds {', '.join(refused)}: mlfactory constructs only the exact "
            "types its own pipelines hold, and calls no other function, so this file was "
            "not made by mlfactory (or by a newer one: see `python -m "
            "mlfactory.training.allowlist`). Refusing to load it; nothing in it ran."
        )
    try:
        return sio.loads(data, trusted=sorted(names))
    except Exception as exc:
        raise TamperedArtifactError(
            f"{shown_as} passed the type check but cannot be loaded "
            f"({type(exc).__name__}: {exc}); it is damaged. Retrain or restore it."
        ) from None
