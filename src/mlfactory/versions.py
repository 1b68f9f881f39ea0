"""Installed versions of Python distributions.

One lookup for the two records that name them: the exact pins of a registered
model's ``requirements.txt`` (``registry/mlflow_model.py``) and the package
versions a training keeps in its lineage (``training/factory.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

__all__ = ["installed_version", "installed_versions"]


def installed_version(name: str) -> str | None:
    """The installed version of the distribution ``name`` (``scikit-learn``), or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def installed_versions(names: Iterable[str]) -> dict[str, str]:
    """``{name: version}`` for those of ``names`` that are installed, in the order given."""
    return {name: version for name in names if (version := installed_version(name)) is not None}
