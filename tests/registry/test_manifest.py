"""The manifest is a typed record: what training writes is what every loader reads."""

from __future__ import annotations

import json
import math

import pytest

from mlfactory.errors import TamperedArtifactError
from mlfactory.registry import Registry
from mlfactory.registry.manifest import FORMAT, Manifest


@pytest.fixture
def written(challenger: Registry) -> dict[str, object]:
    package, _ = challenger.load("mroz@champion")
    return json.loads(package.manifest.to_json())


def test_a_manifest_reads_back_as_it_was_written(written: dict[str, object]) -> None:
    manifest = Manifest.from_json(json.dumps(written), shown_as="m.json")
    assert manifest.format == FORMAT and manifest.task == "classification"
    assert manifest.input_schema.classes == ["no", "yes"]
    assert manifest.input_schema.columns[0].kind in ("numeric", "categorical")
    assert json.loads(manifest.to_json()) == written
    written["metrics"]["test"]["roc_auc"] = math.nan  # type: ignore[index]
    again = Manifest.from_json(json.dumps(written), shown_as="m.json")
    assert math.isnan(again.metrics.test["roc_auc"])  # a NaN metric survives the round trip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("lineage"), r"lineage: Field required"),
        (lambda m: m.update(metric=["roc_auc"]), r"metric: Input should be a valid string"),
        (lambda m: m.update(surprise=1), r"surprise: Extra inputs are not permitted"),
        (lambda m: m.update(format="mlfactory.package/2"), r"'mlfactory.package/2' package"),
        (lambda m: m["schema"]["columns"][0].update(kind="image"), r"schema.columns.0.kind"),
    ],
)
def test_a_manifest_that_does_not_describe_a_model_is_refused_where_it_is_wrong(
    written: dict[str, object], change: object, message: str
) -> None:
    change(written)  # type: ignore[operator]
    with pytest.raises(TamperedArtifactError, match=message):
        Manifest.from_json(json.dumps(written), shown_as="store/manifest.json")


def test_a_single_models_manifest_has_no_family_and_a_family_names_only_its_own_files(
    written: dict[str, object],
) -> None:
    assert "family" not in written  # as before families: older mlfactory reads it
    member = {"values": ["AA"], "file": "../../MLmodel", "reason": "own model", "rows": {}}
    written["family"] = {"columns": ["carrier"], "min_rows": 1, "members": [member]}
    written["family"]["global_metrics"] = {}  # type: ignore[index]
    with pytest.raises(TamperedArtifactError, match=r"family.members.0.file: String should match"):
        Manifest.from_json(json.dumps(written), shown_as="store/manifest.json")
    member["file"] = "family/0.skops"
    manifest = Manifest.from_json(json.dumps(written), shown_as="store/manifest.json")
    assert manifest.family is not None and manifest.family.own[0].values == ["AA"]
    assert json.loads(manifest.to_json())["family"]["members"][0]["file"] == "family/0.skops"
