"""The same backtest on every engine gives the same forecasts, to the last bit (the global
LightGBM on 2 threads in the local engine's process, on 1 in each cluster task)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from mlfactory.engines import Engine, engine_named
from mlfactory.spec import parse_spec
from mlfactory.training.forecast import backtest, prepare_series

from .test_train import pizza_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inline() -> tuple[object, object, pd.DataFrame]:
    spec = parse_spec(pizza_spec(models=["seasonal_naive", "auto_ets", "lightgbm"]))
    prepared = prepare_series(spec, Path.cwd())
    with engine_named("local", workers=1) as one:
        tested = backtest(spec, prepared, engine=one)
    return spec, prepared, _sorted(tested.forecasts)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["model", "origin", "unique_id", "ds"]
    return frame.sort_values(columns).reset_index(drop=True)[[*columns, "mean"]]


@pytest.mark.parametrize("name", ["local", "ray", "spark", "dask"])
def test_every_engine_gives_the_same_forecasts(
    name: str,
    inline: tuple[object, object, pd.DataFrame],
    cluster: Callable[[str], Engine],
) -> None:
    spec, prepared, expected = inline
    engine = engine_named("local", workers=2) if name == "local" else cluster(name)
    try:
        tested = backtest(spec, prepared, engine=engine)  # type: ignore[arg-type]
    finally:
        if name == "local":
            engine.close()
    got = _sorted(tested.forecasts)
    assert len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(got, expected)
    assert set(got["model"]) == {"seasonal_naive", "auto_ets", "lightgbm"}
