"""MLflow's ``loader_module`` for model packages.

``mlflow.pyfunc.load_model("models:/NAME@champion")`` imports this module and
calls ``_load_pyfunc`` with the package folder; no mlfactory call is needed
first. The whole model folder is verified against its digest manifest here too,
and only allow-listed types are constructed. MLflow reads ``MLmodel`` and imports
this module before any of that: see the README's security section.

A column that had missing values in training is optional in the model's MLflow
signature (``registry/signature.py``), so MLflow lets a frame without it through;
it is scored as all missing, which is what optional promises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlfactory.registry.package import ModelPackage


class PyFuncModel:
    """What MLflow's ``PyFuncModel`` wraps: ``predict(DataFrame) -> DataFrame``."""

    def __init__(self, package: ModelPackage) -> None:
        self.package = package

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        import pandas as pd

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        schema = self.package.schema
        absent = [c.name for c in schema.columns if c.allows_missing and c.name not in frame]
        if absent:
            frame = frame.assign(**dict.fromkeys(absent, float("nan")))
        return self.package.predict(frame)


def _load_pyfunc(path: str) -> PyFuncModel:
    return PyFuncModel(ModelPackage.load(Path(path)))
