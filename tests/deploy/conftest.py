"""A registry with a real trained model, and that model exported for Lambda once."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlfactory.deploy.aws_lambda import LambdaExport, export_lambda
from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train

from conftest import mroz_spec


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """A registry with `mroz` version 1, the champion."""
    registry = Registry(path=tmp_path_factory.mktemp("deploy") / ".mlfactory")
    train(parse_spec(mroz_spec()), registry=registry, progress=False)
    return registry


@pytest.fixture(scope="session")
def exported(trained: Registry, tmp_path_factory: pytest.TempPathFactory) -> LambdaExport:
    """`mlfactory export lambda mroz@champion`'s folder (read it, do not change it)."""
    folder = tmp_path_factory.mktemp("lambda") / "out"
    return export_lambda("mroz@champion", folder, registry=trained)


@pytest.fixture
def rows() -> list[dict[str, object]]:
    import pandas as pd

    frame = pd.read_csv(Path(__file__).parents[1] / "training" / "mroz_rows.csv")
    return frame.to_dict(orient="records")  # type: ignore[return-value]
