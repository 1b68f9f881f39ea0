"""Hot swap: the server follows the alias under load and loses no request."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train

from .conftest import serve
from conftest import mroz_spec


def test_alias_moves_twice_under_load_and_no_request_fails(
    trained: Registry, rows: list[dict[str, Any]]
) -> None:
    versions: Counter[str] = Counter()
    failures: list[str] = []
    stop = threading.Event()

    async def client(base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while not stop.is_set():
                answer = await http.post("/v1/models/mroz/predict", json={"records": rows[:2]})
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")
                    continue
                body = answer.json()
                assert answer.headers["x-model-version"] == body["model_version"]
                versions[body["model_version"]] += 1

    async def load(base: str) -> None:
        await asyncio.gather(*(client(base) for _ in range(16)))

    try:
        with serve(["mroz@champion"], trained, poll_seconds=0.2) as base:
            runner = threading.Thread(target=lambda: asyncio.run(load(base)))
            runner.start()
            time.sleep(1.0)
            trained.promote("mroz", "2", reason="swap test")
            deadline = time.monotonic() + 30
            while versions["2"] < 20:
                assert time.monotonic() < deadline, f"never answered from v2: {versions}"
                time.sleep(0.05)
            before = versions["1"]
            trained.promote("mroz", "1", reason="swap test back")
            while versions["1"] < before + 20:
                assert time.monotonic() < deadline, f"never swapped back: {versions}"
                time.sleep(0.05)
            stop.set()
            runner.join(timeout=30)
    finally:
        stop.set()
        if trained.resolve("mroz@champion").version != "1":
            trained.promote("mroz", "1", reason="restore")
    assert failures == []
    assert versions["1"] > 40 and versions["2"] >= 20


def _registry_with_two_versions(tmp_path: Path) -> Registry:
    registry = Registry(path=tmp_path / ".mlfactory")
    spec = parse_spec(mroz_spec(search={"trials": 1}, gates={"champion_margin": 0.5}))
    train(spec, registry=registry, progress=False)
    train(spec, registry=registry, progress=False)
    return registry


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(
    tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    registry = _registry_with_two_versions(tmp_path)
    run_id = registry.resolve("mroz/2").run_id
    skops = next((registry.path / "artifacts").rglob(f"{run_id}/**/pipeline.skops"))
    skops.write_bytes(b"tampered")
    token = {"Authorization": "Bearer t"}
    with serve(["mroz@champion"], registry, poll_seconds=0, api_token="t") as base:
        registry.promote("mroz", "2", reason="bad version")
        reload = httpx.post(f"{base}/admin/reload", headers=token)
        assert reload.status_code == 503
        status = reload.json()["models"][0]
        assert status["status"] == "error" and status["version"] == "1"
        assert "TamperedArtifactError" in status["error"]
        answer = httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows}, headers=token)
        assert answer.status_code == 200 and answer.json()["model_version"] == "1"
        metrics = httpx.get(f"{base}/metrics").text
        assert 'mlfactory_reload_failures_total{model="mroz"} 1.0' in metrics
        assert httpx.get(f"{base}/health/ready").status_code == 200


def test_one_refresh_follows_the_champion_and_the_challenger_alike(
    tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    """Unchanged, swapped, absent or failed: both roles report the same way."""
    registry = _registry_with_two_versions(tmp_path)  # v1 champion, v2 challenger
    token = {"Authorization": "Bearer t"}

    def reload() -> dict[str, dict[str, Any]]:
        answer = httpx.post(f"{base}/admin/reload", headers=token)
        return {r["ref"]: r for r in answer.json()["models"]}

    def versions() -> set[str]:
        return {
            httpx.post(
                f"{base}/v1/models/mroz/predict", json={"records": rows[:1]}, headers=token
            ).json()["model_version"]
            for _ in range(30)
        }

    config = {"poll_seconds": 0, "api_token": "t", "canary_percent": 50}
    with serve(["mroz@champion"], registry, **config) as base:
        unchanged = {ref: (r["status"], r["version"]) for ref, r in reload().items()}
        assert unchanged == {
            "mroz@champion": ("unchanged", "1"),
            "mroz@challenger": ("unchanged", "2"),
        }
        assert versions() == {"1", "2"}
        registry.set_alias("mroz", "challenger", "1", reason="test")
        registry.set_alias("mroz", "champion", "2", reason="test")
        swapped = reload()
        for ref, version, previous in [("mroz@champion", "2", "1"), ("mroz@challenger", "1", "2")]:
            assert swapped[ref]["status"] == "swapped", swapped
            assert (swapped[ref]["version"], swapped[ref]["previous"]) == (version, previous)

        registry.client.delete_registered_model_alias("mroz", "challenger")
        absent = reload()["mroz@challenger"]
        assert (absent["status"], absent["version"]) == ("absent", None)
        assert versions() == {"2"}

        run_id = registry.resolve("mroz/1").run_id
        skops = next((registry.path / "artifacts").rglob(f"{run_id}/**/pipeline.skops"))
        skops.write_bytes(b"tampered")
        registry.set_alias("mroz", "challenger", "1", reason="test")
        registry.set_alias("mroz", "champion", "1", reason="test")
        failed = reload()
        for ref, version in [("mroz@champion", "2"), ("mroz@challenger", None)]:
            assert failed[ref]["status"] == "error", failed
            assert failed[ref]["version"] == version and "Tampered" in failed[ref]["error"]
        assert versions() == {"2"}
        metrics = httpx.get(f"{base}/metrics").text
        assert 'mlfactory_reload_failures_total{model="mroz"} 2.0' in metrics


def test_an_unreadable_registry_keeps_the_loaded_model_serving(
    tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    registry = _registry_with_two_versions(tmp_path)
    token = {"Authorization": "Bearer t"}
    with serve(["mroz@champion"], registry, poll_seconds=0, api_token="t") as base:
        with open(registry.path / "mlflow.db", "r+b") as database:  # corrupt it in place
            database.write(b"this is not a database" * 1000)
        reload = httpx.post(f"{base}/admin/reload", headers=token)
        assert reload.status_code == 503
        assert reload.json()["models"][0]["status"] == "error"
        assert httpx.get(f"{base}/health/ready").status_code == 200
        answer = httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows}, headers=token)
        assert answer.status_code == 200 and answer.json()["model_version"] == "1"


def test_a_champion_that_cannot_load_stops_the_start_with_the_reason(tmp_path: Path) -> None:
    import pytest

    from mlfactory.errors import RegistryError
    from mlfactory.registry import ModelRef
    from mlfactory.serving.server import Server, ServingConfig

    registry = _registry_with_two_versions(tmp_path)
    run_id = registry.resolve("mroz/1").run_id
    skops = next((registry.path / "artifacts").rglob(f"{run_id}/**/pipeline.skops"))
    skops.write_bytes(b"tampered")
    server = Server([ModelRef.parse("mroz@champion")], registry, ServingConfig(poll_seconds=0))
    with pytest.raises(RegistryError, match=r"cannot serve: mroz@champion: TamperedArtifactError"):
        asyncio.run(server.start())


def test_a_store_replaced_or_deleted_under_the_server_is_noticed_and_reopened(
    tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    import os
    import shutil

    registry = _registry_with_two_versions(tmp_path)
    database = registry.path / "mlflow.db"
    token = {"Authorization": "Bearer t"}

    def reload() -> httpx.Response:
        return httpx.post(f"{base}/admin/reload", headers=token, timeout=60)

    def failures() -> str:
        found = [
            line for line in httpx.get(f"{base}/metrics").text.splitlines()
            if line.startswith('mlfactory_reload_failures_total{model="mroz"}')
        ]  # fmt: skip
        return found[0].split()[-1]

    with serve(["mroz@champion"], registry, poll_seconds=0, api_token="t") as base:
        # a new store put in place of the old one (a restore, a copy from elsewhere)
        (tmp_path / "other").mkdir()
        shutil.copyfile(database, tmp_path / "other" / "mlflow.db")
        Registry(path=tmp_path / "other").promote("mroz", "2", reason="in the new store")
        os.replace(tmp_path / "other" / "mlflow.db", database)
        first = reload()
        assert first.status_code == 503 and "was replaced" in first.json()["models"][0]["error"]
        assert failures() == "1.0"
        second = reload()
        assert second.status_code == 200, second.text
        assert (
            second.json()["models"][0] | {"status": "swapped", "version": "2"}
            == (second.json()["models"][0])
        )
        answer = httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows}, headers=token)
        assert answer.json()["model_version"] == "2"

        # deleted: every reload says so, and the loaded version keeps serving
        kept = tmp_path / "kept.db"
        os.replace(database, kept)
        for _ in range(2):
            gone = reload()
            assert gone.status_code == 503 and "was deleted" in gone.json()["models"][0]["error"]
        assert failures() == "3.0"
        answer = httpx.post(f"{base}/v1/models/mroz/predict", json={"records": rows}, headers=token)
        assert answer.status_code == 200 and answer.json()["model_version"] == "2"
        os.replace(kept, database)  # back: the same file, so nothing to reopen
        assert reload().json()["models"][0]["status"] == "unchanged"
