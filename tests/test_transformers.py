"""mlfactory's own transformers: scikit-learn estimators in every respect."""

from __future__ import annotations

import pandas as pd
from sklearn.utils.estimator_checks import check_estimator

from mlfactory.transformers import DatetimeParts


def test_datetime_parts_passes_scikit_learn_estimator_checks() -> None:
    check_estimator(DatetimeParts())


def test_datetime_parts_expands_the_named_columns_and_names_its_outputs() -> None:
    frame = pd.DataFrame(
        {
            "when": pd.to_datetime(["2024-02-29 13:05", None, "1999-12-31 23:59"]),
            "x": [1.0, 2.0, 3.0],
        }
    )
    step = DatetimeParts(columns=["when"], parts=["year", "hour"]).fit(frame)
    out = step.transform(frame)
    assert list(out.columns) == ["x", "when__year", "when__hour"]
    assert out["when__year"].tolist()[::2] == [2024.0, 1999.0] and out["when__hour"].isna()[1]
    assert list(step.get_feature_names_out()) == list(out.columns)
    found = DatetimeParts().fit(frame)  # no columns given: those of a datetime dtype
    assert found.columns_ == ["when"]
