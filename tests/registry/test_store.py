"""The registry on a real SQLite MLflow store: references, aliases, history, verified loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlfactory.errors import ModelReferenceError, TamperedArtifactError
from mlfactory.registry import ModelRef, Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train

from conftest import mroz_spec


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """Two versions of `mroz`: v1 champion, v2 challenger."""
    reg = Registry(path=tmp_path_factory.mktemp("reg") / ".mlfactory")
    spec = parse_spec(mroz_spec())
    train(spec, registry=reg, progress=False)
    train(spec, registry=reg, progress=False)
    return reg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("flight-delays@champion", ModelRef("flight-delays", alias="champion")),
        ("flight-delays/3", ModelRef("flight-delays", version="3")),
        ("flight-delays", ModelRef("flight-delays", alias="champion")),
    ],
)
def test_model_references(text: str, expected: ModelRef) -> None:
    assert ModelRef.parse(text) == expected


@pytest.mark.parametrize("text", ["", "a@", "a/b", "../etc/passwd", "a b", "a@b@c"])
def test_bad_model_references(text: str) -> None:
    with pytest.raises(ModelReferenceError, match="NAME@ALIAS"):
        ModelRef.parse(text)


def test_unknown_names_versions_and_aliases_say_what_exists(registry: Registry) -> None:
    with pytest.raises(ModelReferenceError, match=r"no model named 'mrz'.*Registered models: mroz"):
        registry.resolve("mrz@champion")
    with pytest.raises(ModelReferenceError, match="mroz/9 does not exist; mroz has versions 1, 2"):
        registry.resolve("mroz/9")
    with pytest.raises(ModelReferenceError, match="mroz@staging does not exist"):
        registry.resolve("mroz@staging")


def test_empty_registry_says_how_to_fill_it(tmp_path: Path) -> None:
    with pytest.raises(ModelReferenceError, match=r"registry is empty.*mlfactory train"):
        Registry(path=tmp_path / "empty").resolve("x@champion")


def test_promote_and_rollback_walk_the_history(registry: Registry) -> None:
    assert registry.resolve("mroz@champion").version == "1"
    registry.promote("mroz", "2", reason="canary went well")
    assert registry.resolve("mroz@champion").version == "2"
    assert registry.rollback("mroz") == "1"
    assert registry.resolve("mroz@champion").version == "1"
    events = [(e["alias"], e["version"], e["previous"]) for e in registry.alias_history("mroz")]
    assert events[-2:] == [("champion", "2", "1"), ("champion", "1", "2")]
    with pytest.raises(ModelReferenceError, match="no earlier champion"):
        registry.rollback("mroz")  # v1 became champion first; nothing before it
    with pytest.raises(ModelReferenceError, match="mroz/7 does not exist"):
        registry.promote("mroz", "7")


def test_versions_list_aliases_and_decisions(registry: Registry) -> None:
    versions = registry.versions("mroz")
    assert [(v.version, v.decision) for v in versions] == [("1", "champion"), ("2", "challenger")]
    assert "challenger" in versions[1].aliases


def test_a_file_added_to_the_package_is_refused(registry: Registry, tmp_path: Path) -> None:
    _, info = registry.load("mroz/2")
    folder = next(registry.path.joinpath("artifacts").rglob(f"*{info.run_id}*/**/data/package"))
    (folder / "extra.py").write_text("import os")
    try:
        with pytest.raises(TamperedArtifactError, match="not part of the registered package"):
            registry.load("mroz/2")
    finally:
        (folder / "extra.py").unlink()
    assert registry.load("mroz/2")[1].version == "2"


def test_a_versions_manifest_is_read_alone_and_verified(registry: Registry) -> None:
    package, info = registry.load("mroz/2")
    manifest, _ = registry.manifest(info)
    assert manifest == package.manifest and manifest.metrics.test_ci95["roc_auc"]
    stored = next(registry.path.joinpath("artifacts").rglob(f"*{info.run_id}*/**/manifest.json"))
    original = stored.read_text()
    stored.write_text(original.replace('"roc_auc": 0.', '"roc_auc": 0.9', 1))
    try:
        with pytest.raises(TamperedArtifactError, match=r"manifest.json has SHA-256"):
            registry.manifest("mroz/2")
    finally:
        stored.write_text(original)
    assert registry.manifest("mroz/2")[0] == manifest


def test_model_folders_match_what_mlflow_save_model_writes(
    registry: Registry, tmp_path: Path
) -> None:
    """Our writer skips save_model's slow pin check; the files must stay MLflow's own."""
    import mlflow.pyfunc
    import yaml

    from mlfactory.registry.signature import input_example, signature

    package, _ = registry.load("mroz@champion")
    ours = Registry.write_mlflow_model(package, tmp_path / "ours")
    package.save(tmp_path / "package")
    pins = (ours / "requirements.txt").read_text().splitlines()
    typed = signature(package)
    mlflow.pyfunc.save_model(
        path=str(tmp_path / "theirs"),
        loader_module="mlfactory.registry.pyfunc",
        data_path=str(tmp_path / "package"),
        pip_requirements=pins,
        signature=typed,
        input_example=input_example(package, typed),
    )
    theirs = tmp_path / "theirs"
    assert pins[0].startswith("mlflow==") and any(p.startswith("mlfactory==") for p in pins)
    files = ("requirements.txt", "python_env.yaml", "conda.yaml", "input_example.json",
             "serving_input_example.json")  # fmt: skip
    for name in files:
        assert (ours / name).read_text().strip() == (theirs / name).read_text().strip(), name
    mlmodel, reference = (yaml.safe_load((d / "MLmodel").read_text()) for d in (ours, theirs))
    assert mlmodel["flavors"] == reference["flavors"]
    assert mlmodel.keys() == reference.keys()
    assert mlmodel["signature"] == reference["signature"]
    assert mlmodel["saved_input_example_info"] == reference["saved_input_example_info"]
    assert mlmodel["model_size_bytes"] == reference["model_size_bytes"]
    loaded = mlflow.pyfunc.load_model(str(ours))
    assert mlflow.pyfunc.get_model_dependencies(str(ours)).endswith("requirements.txt")
    assert len(loaded.predict(loaded.input_example)) == len(loaded.input_example) == 5


def test_mlflow_tracking_uri_points_the_registry_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'team-server.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    result = train(parse_spec(mroz_spec(search={"trials": 1})), progress=False)
    assert result.promoted
    registry = Registry()
    assert registry.tracking_uri == uri and not registry.embedded
    assert registry.load("mroz@champion")[1].version == "1"
    assert not (tmp_path / ".mlfactory" / "mlflow.db").exists()


def test_new_stores_start_from_a_cached_empty_store_and_never_clobber_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = Registry(path=tmp_path / "one")
    assert first.list_models() == []
    assert list((tmp_path / "cache" / "mlfactory").glob("mlflow-*-empty.db"))

    # two processes' worth of registries opening one new folder at once: one store, both work
    registries = [Registry(path=tmp_path / "two") for _ in range(4)]
    listed: list[object] = []
    threads = [
        threading.Thread(target=lambda r=r: listed.append(r.list_models())) for r in registries
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert listed == [[]] * len(registries)  # every one opened the store, none failed
    train(parse_spec(mroz_spec(search={"trials": 1})), registry=registries[0], progress=False)
    assert [m["name"] for m in registries[3].list_models()] == ["mroz"]
    assert not [p for p in (tmp_path / "two").iterdir() if p.name.startswith(".mlflow.db")]

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "one" / "mlflow.db"))  # not a folder
    assert Registry(path=tmp_path / "three").list_models() == []
