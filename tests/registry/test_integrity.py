"""The digest manifest covers every file of the model folder, MLmodel included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlfactory.errors import TamperedArtifactError
from mlfactory.registry import ModelPackage, Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train
from tampering import reseal

from conftest import mroz_spec


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    reg = Registry(path=tmp_path_factory.mktemp("integrity") / ".mlfactory")
    train(parse_spec(mroz_spec(search={"trials": 1})), registry=reg, progress=False)
    return reg


@pytest.fixture(scope="module")
def package(registry: Registry) -> ModelPackage:
    return registry.load("mroz@champion")[0]


@pytest.fixture
def model(package: ModelPackage, tmp_path: Path) -> Path:
    """A model folder exactly as training writes it."""
    return Registry.write_mlflow_model(package, tmp_path / "model")


def _load_both_ways(folder: Path) -> list[str]:
    """The refusal of mlfactory's loader and of plain mlflow.pyfunc (they must agree)."""
    import mlflow.pyfunc

    messages = []
    for load in (ModelPackage.load, mlflow.pyfunc.load_model):
        with pytest.raises(TamperedArtifactError) as refused:
            load(str(folder) if load is not ModelPackage.load else folder)
        messages.append(str(refused.value))
    return messages


def test_every_file_is_listed_and_the_folder_loads(model: Path) -> None:
    import mlflow.pyfunc

    listed = json.loads((model / "digests.json").read_text())
    assert sorted(listed) == [
        "MLmodel",
        "conda.yaml",
        "data/package/manifest.json",
        "data/package/pipeline.skops",
        "data/package/reference.parquet",
        "data/package/split.parquet",
        "input_example.json",
        "python_env.yaml",
        "requirements.txt",
        "serving_input_example.json",
    ]
    package = ModelPackage.load(model)
    loaded = mlflow.pyfunc.load_model(str(model))
    assert len(loaded.predict(loaded.input_example)) == len(package.reference.head(5)) == 5


def test_a_changed_mlmodel_is_refused(model: Path) -> None:
    mlmodel = yaml.safe_load((model / "MLmodel").read_text())
    mlmodel["flavors"]["python_function"]["data"] = "."  # point MLflow's loader elsewhere
    (model / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    for message in _load_both_ways(model):
        assert message.startswith(f"{model}/MLmodel has SHA-256"), message


def test_an_added_code_folder_is_refused(model: Path) -> None:
    (model / "code").mkdir()
    (model / "code" / "helpers.py").write_text("print('hello')")
    for message in _load_both_ways(model):
        assert f"{model}/code/ is not part of the registered package" in message
    (model / "code" / "helpers.py").unlink()  # an empty folder is refused too
    for message in _load_both_ways(model):
        assert f"{model}/code/ is not part of the registered package" in message


@pytest.mark.parametrize("where", ["notes.txt", "data/package/extra.npy", "data/extra.py"])
def test_an_added_file_anywhere_is_refused(model: Path, where: str) -> None:
    (model / where).write_text("x")
    for message in _load_both_ways(model):
        assert message.startswith(f"{model}/{where} is not part of the registered package")


def test_a_missing_file_is_refused(model: Path) -> None:
    (model / "data" / "package" / "reference.parquet").unlink()
    for message in _load_both_ways(model):
        assert message == f"{model}/data/package/reference.parquet is missing from the model."


def test_a_link_is_refused(model: Path, tmp_path: Path) -> None:
    requirements = model / "requirements.txt"
    shutil.move(requirements, tmp_path / "requirements.txt")
    requirements.symlink_to(tmp_path / "requirements.txt")  # same bytes, elsewhere
    for message in _load_both_ways(model):
        assert "requirements.txt is a link or a special file" in message


@pytest.mark.parametrize(
    "entry", ["../outside", "/etc/passwd", "a//b", "./MLmodel", "digests.json"]
)
def test_a_manifest_naming_paths_outside_the_folder_is_refused(model: Path, entry: str) -> None:
    listed: dict[str, Any] = json.loads((model / "digests.json").read_text())
    listed[entry] = "0" * 64
    (model / "digests.json").write_text(json.dumps(listed))
    with pytest.raises(TamperedArtifactError, match=r"is not a digest manifest mlfactory wrote"):
        ModelPackage.load(model)


def test_mlflow_download_metadata_is_the_one_file_allowed_in_addition(model: Path) -> None:
    (model / "registered_model_meta").write_text("model_name: mroz\nmodel_version: '1'\n")
    assert ModelPackage.load(model).task.name == "classification"
    (model / "data" / "registered_model_meta").write_text("x")  # only beside MLmodel
    with pytest.raises(TamperedArtifactError, match="data/registered_model_meta is not part"):
        ModelPackage.load(model)


def test_a_model_of_the_older_format_is_refused_with_what_to_do(model: Path) -> None:
    """Format 1 listed only data/package's files, in data/package/digests.json."""
    (model / "digests.json").rename(model / "data" / "package" / "digests.json")
    for message in _load_both_ways(model):
        assert "made by an older mlfactory" in message and "Retrain the model" in message


def test_a_resealed_model_is_refused_by_the_registry_record(registry: Registry) -> None:
    """Rewriting digests.json to match a change does not get past the registry's tag."""
    info = registry.resolve("mroz@champion")
    folder = Path(info.source.removeprefix("file://"))
    manifest = folder / "data" / "package" / "manifest.json"
    original, digests = manifest.read_bytes(), (folder / "digests.json").read_bytes()
    try:
        changed = json.loads(original)
        changed["schema"]["classes"].reverse()  # every prediction inverted
        manifest.write_text(json.dumps(changed))
        reseal(folder)
        with pytest.raises(TamperedArtifactError) as refused:
            registry.load("mroz@champion")
        assert str(refused.value).startswith(
            f"{info.source}/digests.json differs from the digest the registry recorded"
        )
    finally:
        manifest.write_bytes(original)
        (folder / "digests.json").write_bytes(digests)
    assert registry.load("mroz@champion")[0].classes == ["no", "yes"]
