"""Canary and shadow: the challenger answers a share of traffic, or scores it on the side."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from mlfactory.registry import Registry

from .conftest import serve


def test_canary_sends_a_share_of_requests_to_the_challenger(
    trained: Registry, rows: list[dict[str, Any]]
) -> None:
    answered: Counter[str] = Counter()
    with serve(["mroz@champion"], trained, canary_percent=30) as base:
        for _ in range(200):
            body = httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows[:1]}).json()
            answered[body["model_version"]] += 1
        metrics = httpx.get(f"{base}/metrics").text
    assert set(answered) == {"1", "2"}
    assert 30 <= answered["2"] <= 90  # 30% of 200, with room for chance
    assert 'mlfactory_predictions_total{model="mroz",role="canary",version="2"}' in metrics


def test_shadow_scores_every_request_with_the_challenger_but_answers_with_the_champion(
    trained: Registry, rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    from mlfactory.serving.predlog import read_log

    with serve(["mroz@champion"], trained, shadow=True, prediction_log=tmp_path / "log") as base:
        ids = set()
        for _ in range(10):
            body = httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows}).json()
            assert body["model_version"] == "1"
            ids.add(body["request_id"])
    logged, _ = read_log(tmp_path / "log", "mroz")
    by_version = logged.groupby("_model_version")["_request_id"].agg(set)
    assert by_version["1"] == ids and by_version["2"] == ids  # the same requests, both versions
    assert (logged["_model_version"] == "2").sum() == 50


def test_canary_and_shadow_together_are_refused() -> None:
    import pytest

    from mlfactory.errors import BadInputError
    from mlfactory.serving import ServingConfig

    with pytest.raises(BadInputError, match="not both"):
        ServingConfig(canary_percent=10, shadow=True)
    with pytest.raises(BadInputError, match="0-100"):
        ServingConfig(canary_percent=150)
