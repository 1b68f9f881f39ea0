"""Loading a skops file constructs only the exact allow-listed types; nothing else runs."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio

from mlfactory.errors import TamperedArtifactError
from mlfactory.registry.safeload import load_pipeline, stored_types
from mlfactory.training.allowlist import _pipelines
from tampering import ATTACKS, NAMES, read_schema, tamper, write_schema


def _fitted(model: str) -> Any:
    """A real fitted pipeline of the catalog: binary target, every column kind."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return next(p for name, p in _pipelines() if name.startswith(f"{model}, binary"))


@pytest.fixture(scope="module")
def fitted() -> Any:
    return _fitted("lightgbm")


@pytest.fixture
def skops_file(fitted: Any, tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.skops"
    path.write_bytes(sio.dumps(fitted))
    return path


def _rows(pipeline: Any) -> Any:
    import pandas as pd

    columns = pipeline.named_steps["datetimes"].feature_names_in_  # the raw columns
    text = {"few": ["a", "b"], "many": ["c1", "c2"], "label": ["x", "y"], "grade": ["low", "high"]}
    dates = {"when": pd.to_datetime(["2024-01-01 00:00", "2024-06-30 12:00"])}
    return pd.DataFrame({c: dates.get(c, text.get(c, [1.0, 2.0])) for c in columns})


def test_a_pipeline_mlfactory_made_loads_and_predicts_the_same(
    fitted: Any, skops_file: Path
) -> None:
    loaded = load_pipeline(skops_file, shown_as="store/pipeline.skops")
    assert np.array_equal(loaded.predict_proba(_rows(fitted)), fitted.predict_proba(_rows(fitted)))
    # the deepest names: a partial's function and a random generator's bit generator
    hgb = sio.dumps(_fitted("hist_gradient_boosting"))
    assert {"sklearn.utils.validation.check_array", "numpy.random.PCG64"} <= stored_types(hgb)


@pytest.mark.parametrize("attack", ATTACKS)
def test_every_attack_is_refused_before_anything_runs(
    attack: str, skops_file: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    tamper(skops_file, attack, marker)
    shown = "file:///store/model/data/package/pipeline.skops"
    with pytest.raises(TamperedArtifactError, match=NAMES[attack]) as refused:
        load_pipeline(skops_file, shown_as=shown)
    assert str(refused.value).startswith(shown)
    assert not marker.exists()
    # the attack is real: trusting what skops reports runs the payload
    pipeline = sio.load(skops_file, trusted=sio.get_untrusted_types(file=skops_file))
    if attack == "partial-exec":  # this payload waits for the model to predict
        assert not marker.exists()
        with pytest.raises(ValueError):  # after running, exec returns None, not columns
            pipeline.predict(_rows(pipeline))
    assert marker.exists()


def test_what_skops_trusts_by_default_is_refused_too(tmp_path: Path) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.svm import SVC

    X, y = np.arange(20.0).reshape(10, 2), np.arange(10) % 2
    pipeline = make_pipeline(FunctionTransformer(np.log1p), SVC()).fit(X, y)
    path = tmp_path / "pipeline.skops"
    path.write_bytes(sio.dumps(pipeline))
    assert sio.get_untrusted_types(file=path) == []  # skops would load it as it is
    with pytest.raises(TamperedArtifactError, match=r"holds numpy\.log1p, sklearn\.svm\._classes"):
        load_pipeline(path, shown_as=str(path))


def test_files_of_an_older_skops_protocol_are_refused(skops_file: Path, tmp_path: Path) -> None:
    """Protocol 0 reads functions with an older, laxer node; such files are refused."""
    schema = read_schema(skops_file)
    schema["protocol"] = 0
    schema["content"]["content"]["cache_"] = {
        "__class__": "function",
        "__module__": "builtins",
        "__loader__": "FunctionNode",
        "content": {"module_path": "builtins", "function": "exec"},
    }
    schema["content"]["key_types"]["content"].append(
        {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
    )
    write_schema(skops_file, schema)
    with pytest.raises(TamperedArtifactError, match=r"node kind FunctionNode of skops protocol 0"):
        load_pipeline(skops_file, shown_as="pipeline.skops")


@pytest.mark.parametrize(
    "content",
    [b"not a zip", b"", "schema.json with a loader skops does not know"],
)
def test_unreadable_files_are_refused(content: bytes | str, tmp_path: Path) -> None:
    path = tmp_path / "pipeline.skops"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            node = {"__class__": "x", "__module__": "os", "__loader__": "EvilNode", "protocol": 2}
            archive.writestr("schema.json", json.dumps(node))
    with pytest.raises(TamperedArtifactError, match=r"^pipeline\.skops is not a model file"):
        load_pipeline(path, shown_as="pipeline.skops")
