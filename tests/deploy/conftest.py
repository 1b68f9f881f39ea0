"""A registry with real trained versions for the exports to package, and `mroz@champion`
exported for Lambda once."""

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
    """`mroz` v1 (champion) and v2 (challenger, another seed)."""
    registry = Registry(path=tmp_path_factory.mktemp("deploy") / ".mlfactory")
    train(parse_spec(mroz_spec()), registry=registry, progress=False)
    other = mroz_spec(search={"trials": 2, "seed": 11}, gates={"champion_margin": 0.5})
    train(parse_spec(other), registry=registry, progress=False)
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
