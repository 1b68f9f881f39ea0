"""The model catalog: names in ``factory.yaml`` mapped to estimators and search spaces.

``CATALOG`` is filled by the family modules of this package, each calling
``register_model`` for its entries (``base.py`` says what an entry holds). A new
model is a new module here and its name in the import line below, whose order is
the catalog's; code outside mlfactory calls ``register_model`` itself. A model
whose fitted pipelines hold new types also needs the model-file allow-list
regenerated (``python -m mlfactory.training.allowlist --write``).
"""

from __future__ import annotations

from mlfactory.models.base import CATALOG, Builder, CatalogEntry, SearchRange, register_model

# isort: off
from mlfactory.models import boosting, forest, linear, baseline, anomaly  # noqa: F401  (they register)
# isort: on

__all__ = [
    "CATALOG",
    "Builder",
    "CatalogEntry",
    "SearchRange",
    "register_model",
]
