"""The detect step with a registered model: what it hands the engine's workers, and what
comes back."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlfactory.engines import LocalEngine, Shared
from mlfactory.etml.detect import detect
from mlfactory.etml.spec import DetectSpec
from mlfactory.registry import Registry

RIDES = Path(__file__).parents[2] / "examples" / "taxi_etml" / "data" / "rides"
FEATURES = ["ride_dist", "ride_time"]


class Recording(LocalEngine):
    """The local engine, keeping every item it was given and every result it gave back."""

    def __init__(self) -> None:
        super().__init__(1)
        self.items: list[Any] = []
        self.results: list[Any] = []

    def imap(
        self, fn: Callable[..., Any], items: Sequence[Any], shared: Shared | None = None
    ) -> Iterator[Any]:
        self.items += items
        for result in super().imap(fn, items, shared):
            self.results.append(result)
            yield result


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    from mlfactory.training import train

    folder = tmp_path_factory.mktemp("detect")
    pd.read_parquet(RIDES / "date=2026-11-27").to_csv(folder / "history.csv", index=False)
    spec = {
        "name": "taxi-odd",
        "task": "anomaly",
        "data": {"source": "history.csv", "id_column": "ride_id", "features": FEATURES},
        "models": ["isolation_forest"],
        "search": {"trials": 1},
    }
    (folder / "factory.yaml").write_text(yaml.safe_dump(spec))
    registry = Registry(path=folder / ".mlfactory")
    train(folder / "factory.yaml", registry=registry, progress=False)
    return registry


@pytest.mark.slow
def test_only_the_models_columns_go_to_the_workers_and_only_scores_come_back(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlfactory.etml.detect as detect_module

    monkeypatch.setattr(detect_module, "PART_ROWS", 700)  # several parts
    day = pd.read_parquet(RIDES / "date=2026-11-28").drop(columns=["is_anomaly"])
    day.loc[5, "ride_time"] = np.nan  # training had none missing: refused, with the reason
    engine = Recording()
    found = detect(DetectSpec(model="taxi-odd@champion"), day, registry=registry, engine=engine)

    # the day's text, ids and times never travel to a worker (a day of 1M rides sent 54 MiB
    # to a Dask scheduler with them, 15 MiB without), and the workers send back no copy
    assert len(engine.items) == 5
    assert all(list(rows.columns) == FEATURES for _, rows in engine.items)
    assert sum(len(rows) for _, rows in engine.items) == len(day)
    for scored, rejects in engine.results:
        assert list(scored.columns) == ["_row", "score", "prediction"]
        assert list(rejects.columns) == ["_row", "_reason"]

    package, _ = registry.load("taxi-odd@champion")
    kept = day.drop(index=5)
    expected = package.predict(kept[FEATURES])
    assert found.scores[kept.index] == pytest.approx(expected["score"].to_numpy())
    assert (found.flags[kept.index] == expected["prediction"].to_numpy()).all()
    assert np.isnan(found.scores[5]) and not found.flags[5]
    assert "ride_time" in found.reasons[5] and list(found.reasons) == [5]


@pytest.mark.slow
def test_a_column_the_model_needs_and_the_day_lacks_is_named_with_the_days_columns(
    registry: Registry,
) -> None:
    from mlfactory.errors import MlfactoryError

    day = pd.read_parquet(RIDES / "date=2026-11-28").rename(columns={"ride_time": "ride_tme"})
    with pytest.raises(MlfactoryError, match="did you mean 'ride_tme'"):
        detect(DetectSpec(model="taxi-odd@champion"), day, registry=registry, engine=Recording())
