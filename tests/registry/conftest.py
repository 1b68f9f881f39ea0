"""Small registries the registry tests start from (real training, real SQLite store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train

from conftest import mroz_spec

WEAK = mroz_spec(data={"features": ["k5"]}, search={"trials": 1})  # test roc_auc ~0.63


@pytest.fixture
def weak_champion(tmp_path: Path) -> Registry:
    """`mroz` v1, a weak model, as champion."""
    registry = Registry(path=tmp_path / ".mlfactory")
    assert train(parse_spec(WEAK), registry=registry, progress=False).promoted
    return registry


@pytest.fixture
def challenger(weak_champion: Registry) -> Registry:
    """v1 champion (weak), v2 challenger (a better model held back by an impossible margin)."""
    held = mroz_spec(search={"trials": 1}, gates={"champion_margin": 0.9})
    assert not train(parse_spec(held), registry=weak_champion, progress=False).promoted
    return weak_champion
