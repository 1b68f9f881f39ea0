"""mlfactory: from one factory.yaml to a gated, registered, monitored model.

``import mlfactory`` is cheap: the names below are loaded on first use, so the
heavy libraries (MLflow, scikit-learn, LightGBM, Optuna) are imported only by
the call that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlfactory.errors import (
    BadInputError,
    DataError,
    EngineError,
    MlfactoryError,
    ModelReferenceError,
    RegistryError,
    RegistryLocationError,
    SpecError,
    TamperedArtifactError,
)

if TYPE_CHECKING:
    from mlfactory.registry import ModelPackage, ModelRef, Registry, load_model
    from mlfactory.spec import FactorySpec, load_spec
    from mlfactory.training import TrainResult, train

from mlfactory.versions import __version__

__all__ = [
    "BadInputError",
    "DataError",
    "EngineError",
    "FactorySpec",
    "MlfactoryError",
    "ModelPackage",
    "ModelRef",
    "ModelReferenceError",
    "Registry",
    "RegistryError",
    "RegistryLocationError",
    "SpecError",
    "TamperedArtifactError",
    "TrainResult",
    "__version__",
    "load_model",
    "load_spec",
    "train",
]

_LAZY = {
    "FactorySpec": "mlfactory.spec",
    "load_spec": "mlfactory.spec",
    "ModelPackage": "mlfactory.registry",
    "ModelRef": "mlfactory.registry",
    "Registry": "mlfactory.registry",
    "load_model": "mlfactory.registry",
    "TrainResult": "mlfactory.training",
    "train": "mlfactory.training",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlfactory' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
