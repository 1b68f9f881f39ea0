"""Training data is validated with every problem listed; prediction input is checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlfactory.data import ColumnRoles, prepare_training
from mlfactory.errors import DataError
from mlfactory.tasks import TASKS


def roles(**kw: object) -> ColumnRoles:
    return ColumnRoles(**{"target": "y", **kw})  # type: ignore[arg-type]


def frame(n: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "cat": rng.choice(["a", "b", "c"], n),
            "when": pd.date_range("2024-01-01", periods=n, freq="h"),
            "y": rng.choice(["no", "yes"], n),
        }
    )


def problems(data: pd.DataFrame, task: str = "classification", **kw: object) -> list[str]:
    with pytest.raises(DataError) as info:
        prepare_training(data, roles(**kw), TASKS[task])
    return info.value.problems


def test_valid_frame_gives_schema_and_encoded_target() -> None:
    data = frame()
    data.loc[:4, "y"] = None
    td = prepare_training(data, roles(positive_class="yes"), TASKS["classification"])
    assert td.dropped_missing_target == 5 and len(td.X) == 95
    assert td.schema.classes == ["no", "yes"]
    assert [(c.name, c.kind) for c in td.schema.columns] == [
        ("num", "numeric"),
        ("cat", "categorical"),
        ("when", "datetime"),
    ]
    assert set(np.unique(td.y)) == {0, 1}


def test_time_column_must_be_readable_in_every_row() -> None:
    data = frame().assign(when=lambda f: f["when"].astype(str))
    data.loc[[3, 7], "when"] = ["soon", None]
    with pytest.raises(DataError, match=r"'when' has 2 row\(s\) with no readable date .*'soon'"):
        prepare_training(data, roles(time_column="when"), TASKS["classification"])
    data["when"] = "never"
    with pytest.raises(DataError, match="holds no readable dates"):
        prepare_training(data, roles(time_column="when"), TASKS["classification"])
    ordered = prepare_training(frame(), roles(time_column="when"), TASKS["classification"]).time
    assert ordered.dtype.kind == "M" and (np.diff(ordered) > np.timedelta64(0)).all()


def test_missing_target_and_features_suggest_names() -> None:
    found = problems(frame(), target="Y", features=("nmu", "cat"))
    assert "data.target 'Y' is not a column (did you mean 'y'?)" in found
    assert "feature 'nmu' is not a column (did you mean 'num'?)" in found


def test_an_excluded_column_that_does_not_exist_is_an_error_with_a_suggestion() -> None:
    found = problems(frame(), exclude=("nmu", "whatever"), target="Y")
    assert "data.exclude 'nmu' is not a column (did you mean 'num'?)" in found
    assert "data.exclude 'whatever' is not a column" in found
    assert any(p.startswith("data.target 'Y'") for p in found)  # listed with the rest
    data = prepare_training(frame(), roles(exclude=("num",)), TASKS["classification"])
    assert "num" not in data.schema.names


def test_a_group_column_must_be_a_feature_of_the_data() -> None:
    found = problems(frame(), group_by=("kat", "when", "num"), exclude=("num",))
    assert found == [
        "group_by: 'kat' is not a column (did you mean 'cat'?)",
        "group_by: 'num' is not a feature (the target, time, id, split group or an excluded "
        "column, or left out of data.features); group by a feature column",
        "group_by: 'when' is a date/time, which would make a group of every instant; group by a "
        "part of it made in data.sql (e.g. EXTRACT(month FROM ...))",
    ]
    data = prepare_training(frame(), roles(group_by=("cat",)), TASKS["classification"])
    assert "cat" in data.schema.names


def test_one_class_target() -> None:
    data = frame().assign(y="yes")
    assert problems(data) == [
        "target 'y' has one class ('yes') in every row; a classifier needs at least two"
    ]


def test_a_constant_regression_target_is_refused() -> None:
    """Trained, it held back a model whose rmse 0 "does not beat the dummy's 0"."""
    data = frame().assign(y=5.0)
    data.loc[0, "y"] = np.nan  # a missing target is dropped, not a second value
    assert problems(data, task="regression") == [
        "target 'y' is 5 in every row: there is nothing to predict (check data.source and data.sql)"
    ]


def test_all_nan_target_and_feature_reported_together() -> None:
    data = frame().assign(y=np.nan, num=np.nan)
    found = problems(data)
    assert "target 'y' is missing in every row" in found
    assert "feature 'num' is empty (all values missing); exclude it" in found


def test_inf_values() -> None:
    data = frame()
    data.loc[3, "num"] = np.inf
    data.loc[7, "num"] = -np.inf
    (found,) = problems(data)
    assert found.startswith("feature 'num' has 2 inf value(s)")


def test_empty_data() -> None:
    with pytest.raises(DataError, match="0 rows"):
        prepare_training(frame().iloc[:0], roles(), TASKS["classification"])


def test_regression_target_must_be_numeric() -> None:
    (found,) = problems(frame(), task="regression")
    assert "must be numeric for regression" in found and "classification" in found


def test_a_million_distinct_ids_is_called_an_identifier() -> None:
    n = 1_000_000
    data = pd.DataFrame(
        {
            "order_id": [f"id-{i}" for i in range(n)],
            "x": np.arange(n, dtype=float),
            "y": np.arange(n) % 2,
        }
    )
    (found,) = problems(data)
    assert "feature 'order_id' has 1,000,000 distinct values" in found
    assert "data.id_column" in found
    td = prepare_training(data.iloc[:1000], roles(id_column="order_id"), TASKS["classification"])
    assert td.schema.names == ["x"]


def test_conform_checks_prediction_input() -> None:
    td = prepare_training(frame(), roles(), TASKS["classification"])
    schema = td.schema
    ok = schema.conform(
        pd.DataFrame({"num": [1.5], "cat": ["zzz"], "when": ["2024-05-01"], "x": [1]})
    )
    assert ok.num.iloc[0] == 1.5 and ok.cat.iloc[0] == "zzz" and list(ok.columns) == schema.names
    with pytest.raises(DataError) as info:
        schema.conform(pd.DataFrame({"num": ["abc"], "cta": ["a"], "when": ["2024-05-01"]}))
    assert info.value.problems == [
        "column 'cat' is missing (did you mean 'cta'?)",
        "column 'num' must be numeric; got 'abc' (text) in 1 row(s)",
    ]
    with pytest.raises(DataError, match="inf"):
        schema.conform(pd.DataFrame({"num": [np.inf], "cat": ["a"], "when": ["2024-05-01"]}))
    # epoch milliseconds (JavaScript's Date.now()) would be read as nanoseconds: a day of 1970
    with pytest.raises(DataError, match=r"'when' must be a date/time; got 1714521600000, a num"):
        schema.conform(pd.DataFrame({"num": [1.0], "cat": ["a"], "when": [1714521600000]}))
    # a quarter or an ISO week, as R's tsibble writes a forecast's dates: its first day
    periods = schema.conform(
        pd.DataFrame({"num": [1.0] * 3, "cat": ["a"] * 3, "when": ["2016 Q3", "1991 W06", None]})
    )
    assert periods["when"].iloc[:2].tolist() == [
        pd.Timestamp("2016-07-01"),
        pd.Timestamp("1991-02-04"),
    ]
    with pytest.raises(DataError, match=r"'when' must be a date/time; got '2016 Q5'"):
        schema.conform(pd.DataFrame({"num": [1.0], "cat": ["a"], "when": ["2016 Q5"]}))


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        (["1400", 3.0], "'1400' (text) in 1 row(s)"),
        ([" 1400 ", "7", None], "' 1400 ' (text) in 2 row(s)"),
        (["32", "abc", "30"], "'abc' (text) in 1 row(s)"),
        (["nan"], "'nan' (text) in 1 row(s)"),
        ([""], "'' (text) in 1 row(s)"),
        ([True, False], "True (true/false) in 2 row(s)"),
        ([True, None, 2.5], "True (true/false) in 1 row(s)"),
        (pd.Series([False, None], dtype="boolean"), "False (true/false) in 1 row(s)"),
    ],
    ids=[
        "number as text",
        "padded",
        "a CSV's bad cell",
        "nan as text",
        "empty text",
        "booleans",
        "mixed",
        "boolean",
    ],
)
def test_a_numeric_column_takes_numbers_not_text_or_booleans(sent: object, shown: str) -> None:
    """What the README promises: a string where a number belongs is refused, even "1400"."""
    schema = prepare_training(frame(), roles(), TASKS["classification"]).schema
    rows = pd.DataFrame({"num": sent, "cat": "a", "when": "2024-05-01"})
    with pytest.raises(DataError) as info:
        schema.conform(rows)
    assert info.value.problems == [f"column 'num' must be numeric; got {shown}"]


def test_numbers_of_any_numeric_dtype_and_nulls_are_accepted() -> None:
    schema = prepare_training(frame(), roles(), TASKS["classification"]).schema
    for sent in ([1400, 2], [1400.5, None], pd.Series([1, None], dtype="Int64"), [None, None]):
        rows = pd.DataFrame({"num": sent, "cat": "a", "when": "2024-05-01"})
        conformed = schema.conform(rows)
        assert conformed.num.dtype == float
        assert conformed.num.isna().tolist() == pd.Series(sent).isna().tolist()


def test_a_boolean_training_column_takes_true_and_false() -> None:
    data = frame().assign(member=lambda f: np.arange(len(f)) % 3 == 0)
    schema = prepare_training(data, roles(), TASKS["classification"]).schema
    assert schema.column("member").dtype == "bool" and schema.column("member").kind == "numeric"
    sent = [([True, False], [1, 0]), ([True, None], [1, np.nan]), ([1, 0], [1, 0])]
    sent.append(([0.0, True], [0, 1]))  # a number and a boolean in one column
    for member, expected in sent:
        rows = pd.DataFrame({"num": 1.0, "cat": "a", "when": "2024-05-01", "member": member})
        np.testing.assert_array_equal(schema.conform(rows).member.to_numpy(), expected)
    text = pd.DataFrame({"num": 1.0, "cat": "a", "when": "2024-05-01", "member": ["true"]})
    with pytest.raises(DataError) as info:
        schema.conform(text)
    assert info.value.problems == ["column 'member' must be numeric; got 'true' (text) in 1 row(s)"]


SIZES = ("S", "M", "L", "XL")


def sized(n: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return frame(n).assign(
        size=rng.choice(list(SIZES), n), stars=rng.integers(1, 4, n).astype(float)
    )


def test_data_ordinal_declares_an_order_compared_as_text() -> None:
    data = sized()
    data.loc[0, "stars"] = np.nan  # a CSV column of integers with a gap reads as 1.0, 2.0
    td = prepare_training(
        data, roles(ordinal={"size": SIZES, "stars": (1, 2, 3)}), TASKS["classification"]
    )
    size, stars = td.schema.column("size"), td.schema.column("stars")
    assert (size.kind, size.categories) == ("ordinal", ["S", "M", "L", "XL"])
    assert (stars.kind, stars.categories, stars.allows_missing) == (
        "ordinal",
        ["1", "2", "3"],
        True,
    )
    assert set(td.X["stars"].dropna()) == {"1", "2", "3"} and td.X["stars"].isna().sum() == 1
    assert td.schema.column("cat").kind == "categorical"  # undeclared text stays a category
    sent = pd.DataFrame(
        {"num": 0.0, "cat": "a", "when": "2024-05-01", "size": "L", "stars": [1, "2", 3.0, None]}
    )
    assert td.schema.conform(sent)["stars"].tolist()[:3] == ["1", "2", "3"]  # JSON 1 or "1"


def test_values_outside_the_declared_order_are_a_training_error_with_counts() -> None:
    data = sized()
    data.loc[:2, "size"] = "XXL"
    data.loc[3, "size"] = "s"
    found = problems(data, ordinal={"size": SIZES})
    assert found == [
        "feature 'size' has value(s) outside its order in data.ordinal ('S', 'M', 'L', 'XL'): "
        "'XXL' (3 rows), 's' (1 row); add them to the list in their place, or fix the data"
    ]


def test_data_ordinal_must_name_a_feature() -> None:
    found = problems(
        sized(),
        ordinal={"sise": SIZES, "y": ("no", "yes"), "when": ("a",), "cat": ("a", "b", "c")},
        time_column="when",
        exclude=("cat",),
    )
    assert found == [
        "data.ordinal names 'sise', which is not a column (did you mean 'size'?)",
        "data.ordinal names 'y', which is data.target; it declares the order of a feature's values",
        "data.ordinal names 'when', which is data.time_column; it declares the order of a "
        "feature's values",
        "data.ordinal names 'cat', which is not a feature (data.exclude or data.features leaves "
        "it out); remove it from data.ordinal",
    ]


def test_an_ordered_categorical_is_ordinal_by_itself() -> None:
    data = sized().assign(
        size=lambda f: pd.Categorical(f["size"], categories=list(SIZES), ordered=True),
        cat=lambda f: pd.Categorical(f["cat"]),  # unordered: a category as before
    )
    td = prepare_training(data, roles(), TASKS["classification"])
    assert td.schema.column("size").kind == "ordinal"
    assert td.schema.column("size").categories == list(SIZES)
    assert td.schema.column("cat").kind == "categorical"
    assert "feature 'size' is an ordered Categorical, encoded as its rank (S < M < L < XL)" in (
        " ".join(td.notes)
    )
    declared = prepare_training(data, roles(ordinal={"size": SIZES[::-1]}), TASKS["classification"])
    assert declared.schema.column("size").categories == ["XL", "L", "M", "S"]  # the spec wins


def test_conform_refuses_values_outside_the_order_and_names_them() -> None:
    schema = prepare_training(
        sized(), roles(ordinal={"size": SIZES}), TASKS["classification"]
    ).schema
    rows = pd.DataFrame(
        {"num": 0.0, "cat": "a", "when": "2024-05-01", "stars": 1.0,
         "size": ["XXL", "M", "xs", "XXL", None]}
    )  # fmt: skip
    with pytest.raises(DataError) as info:
        schema.conform(rows)
    assert info.value.problems == [
        "column 'size' has value(s) outside its order: 'XXL' (2 rows), 'xs' (1 row); "
        "allowed, lowest first: 'S', 'M', 'L', 'XL'"
    ]
    outside, said = schema.outside_order(rows)  # what a caller that skips rows drops
    assert outside.tolist() == [True, False, True, True, False] and len(said) == 1
    kept = schema.conform(rows[~outside])
    assert kept["size"].tolist()[0] == "M" and pd.isna(kept["size"].iloc[1])
