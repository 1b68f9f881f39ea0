"""mlfactory's own version, and installed versions of Python distributions.

``__version__`` lives here, at the bottom, so any module can name it without
importing the top-level package. One lookup for the two records that name
installed versions: the exact pins of a registered model's ``requirements.txt``
(``registry/mlflow_model.py``) and the package versions a training keeps in its
lineage (``training/packaging.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

__all__ = ["__version__", "installed_version", "installed_versions"]

__version__ = "0.1.0"  # as pyproject.toml says


def installed_version(name: str) -> str | None:
    """The installed version of the distribution ``name`` (``scikit-learn``), or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def installed_versions(names: Iterable[str]) -> dict[str, str]:
    """``{name: version}`` for those of ``names`` that are installed, in the order given."""
    return {name: version for name in names if (version := installed_version(name)) is not None}
