"""A registry with real trained versions, for the exports to package."""

from __future__ import annotations

import pytest

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
