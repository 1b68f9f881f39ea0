"""Preprocessing from the schema: datetime parts, unseen categories, missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlfactory.data import ColumnRoles, prepare_training
from mlfactory.features import build_preprocessor, categorical_indices, expand_datetimes
from mlfactory.tasks import TASKS


def training() -> tuple[pd.DataFrame, object]:
    frame = pd.DataFrame(
        {
            "amount": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0],
            "shop": ["a", "b", "a", None, "b", "a"],
            "when": pd.to_datetime(["2024-01-01 08:00"] * 3 + ["2024-06-15 17:00"] * 3),
            "y": [0, 1, 0, 1, 0, 1],
        }
    )
    td = prepare_training(frame, ColumnRoles(target="y"), TASKS["classification"])
    return td.X, td.schema


def test_datetimes_become_numeric_parts() -> None:
    X, schema = training()
    expanded = expand_datetimes(X, schema)  # type: ignore[arg-type]
    assert "when" not in expanded
    assert expanded["when__month"].tolist() == [1.0] * 3 + [6.0] * 3
    assert expanded["when__hour"].tolist() == [8.0] * 3 + [17.0] * 3
    assert expanded["when__dayofweek"].iloc[-1] == 5.0  # a Saturday


def test_native_style_maps_unseen_and_missing_categories_to_nan() -> None:
    X, schema = training()
    pre = build_preprocessor(schema, "native").fit(expand_datetimes(X, schema))  # type: ignore[arg-type]
    new = X.iloc[:2].copy()
    new["shop"] = ["zzz", np.nan]
    out = pre.transform(expand_datetimes(new, schema))  # type: ignore[arg-type]
    shop = categorical_indices(schema)[0]  # type: ignore[arg-type]
    assert np.isnan(out[:, shop]).all()
    assert np.isnan(out[1, 0])  # missing numbers stay missing for trees


def test_onehot_style_imputes_and_ignores_unseen_categories() -> None:
    X, schema = training()
    pre = build_preprocessor(schema, "scaled").fit(expand_datetimes(X, schema))  # type: ignore[arg-type]
    new = X.iloc[:1].copy()
    new["shop"] = ["zzz"]
    new["amount"] = [np.nan]
    out = pre.transform(expand_datetimes(new, schema))  # type: ignore[arg-type]
    assert np.isfinite(out).all()


def test_an_ordinal_column_is_its_rank_in_every_style_and_never_a_category() -> None:
    frame = pd.DataFrame(
        {
            "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "size": ["M", "S", None, "L", "M", "S"],  # XL is declared but never seen
            "shop": ["a", "b", "a", "b", "a", "b"],
            "y": [0, 1, 0, 1, 0, 1],
        }
    )
    roles = ColumnRoles(target="y", ordinal={"size": ("S", "M", "L", "XL")})
    td = prepare_training(frame, roles, TASKS["classification"])
    schema = td.schema
    new = td.X.iloc[:5].assign(size=["S", "M", "L", "XL", np.nan])
    native = build_preprocessor(schema, "native").fit(td.X)
    ranks = native.transform(new)[:, 1]  # numbers, then ordinal columns, then categories
    np.testing.assert_array_equal(ranks, [0, 1, 2, 3, np.nan])
    assert categorical_indices(schema) == [2]  # LightGBM splits the rank as a number
    for style in ("onehot", "scaled"):
        pre = build_preprocessor(schema, style).fit(td.X)  # type: ignore[arg-type]
        out, names = pre.transform(new), list(pre.get_feature_names_out())
        rank, missing = out[:, names.index("size")], out[:, names.index("missingindicator_size")]
        assert np.isfinite(out).all() and (np.diff(rank[:4]) > 0).all()  # the order is kept
        assert missing[4] > missing[0]  # missing is imputed and flagged, like a number
        assert not any(n.startswith("size_") for n in names)  # no one-hot column per level
