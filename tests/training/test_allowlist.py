"""The allow-list of stored types is exactly what the catalog's fitted pipelines hold."""

from __future__ import annotations

import importlib
from importlib import metadata

from mlfactory.registry.trusted_types import TRUSTED_TYPES
from mlfactory.training.allowlist import generate

# Functions are called with whatever arguments a file gives them; each one here was
# reviewed as harmless with any arguments. Every other name must be a class.
REVIEWED_FUNCTIONS = {"sklearn.utils.validation.check_array"}


def _versions() -> str:
    names = ("scikit-learn", "lightgbm", "numpy", "scipy", "skops")
    return ", ".join(f"{n} {metadata.version(n)}" for n in names)


def test_the_allow_list_is_what_the_catalog_pipelines_hold() -> None:
    generated = set(generate())
    new, gone = sorted(generated - TRUSTED_TYPES), sorted(TRUSTED_TYPES - generated)
    assert not new and not gone, (
        f"with {_versions()} the catalog's fitted pipelines hold these new names: {new}, "
        f"and no longer hold: {gone}. Review each new name (a class must run no code from "
        "its stored state; a function must be harmless with any arguments), then run "
        "`python -m mlfactory.training.allowlist --write` to update "
        "src/mlfactory/registry/trusted_types.py."
    )


def test_every_allowed_name_is_a_class_or_a_reviewed_function() -> None:
    for name in sorted(TRUSTED_TYPES):
        module, _, attribute = name.rpartition(".")
        obj = getattr(importlib.import_module(module), attribute)
        assert isinstance(obj, type) or name in REVIEWED_FUNCTIONS, (
            f"{name} is a function: a model file could call it with any arguments; "
            "review it, then add it to REVIEWED_FUNCTIONS"
        )
    assert not {"builtins.exec", "builtins.eval", "numpy.load", "os.system"} & TRUSTED_TYPES
