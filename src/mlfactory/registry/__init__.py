"""The registry: model packages stored as MLflow models, versions, aliases, history."""

from mlfactory.registry.package import ModelPackage
from mlfactory.registry.store import ALIASES, ModelRef, Registry, VersionInfo, load_model

__all__ = ["ALIASES", "ModelPackage", "ModelRef", "Registry", "VersionInfo", "load_model"]
