"""A real uvicorn server on 127.0.0.1 serving real registered models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train
from servers import serve

from conftest import mroz_spec, read_only

__all__ = ["serve"]  # the tests of this folder import it from here


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """A registry with `mroz` v1 (champion) and v2 (challenger, another seed)."""
    registry = Registry(path=tmp_path_factory.mktemp("serving") / ".mlfactory")
    train(parse_spec(mroz_spec()), registry=registry, progress=False)
    other = mroz_spec(search={"trials": 2, "seed": 11}, gates={"champion_margin": 0.5})
    train(parse_spec(other), registry=registry, progress=False)
    return registry


@pytest.fixture
def rows() -> list[dict[str, Any]]:
    import pandas as pd

    frame = pd.read_csv(Path(__file__).parents[1] / "training" / "mroz_rows.csv")
    return frame.to_dict(orient="records")  # type: ignore[return-value]


def _bad_log_folder(case: str, tmp_path: Path) -> tuple[Path, str]:
    """A --prediction-log folder for model `mroz` the log cannot write, and the path to name."""
    folder = tmp_path / "predictions"
    if case == "a file":
        folder.write_text("not a folder")
        return folder, f"'{folder}' is a file, not a folder"
    if case == "inside a file":
        folder.write_text("not a folder")
        return folder / "log", f"cannot create or write the folder '{folder / 'log'}'"
    if case == "the model's folder is a file":
        (folder / "model=mroz").parent.mkdir()
        (folder / "model=mroz").write_text("not a folder")
        return folder, f"'{folder / 'model=mroz'}', where model 'mroz' logs, is a file"
    assert case == "read-only"
    folder.mkdir()
    return folder, f"cannot create or write the folder '{folder}'"


BAD_LOG_FOLDERS = ["a file", "inside a file", "the model's folder is a file", "read-only"]


@pytest.fixture(params=BAD_LOG_FOLDERS)
def bad_log_folder(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Each way a prediction log folder can be unusable: (folder, what the error must say)."""
    folder, message = _bad_log_folder(request.param, tmp_path)
    if request.param != "read-only":
        yield folder, message
        return
    with read_only(folder):
        yield folder, message
