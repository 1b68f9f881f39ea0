"""Reference profiles: what a drift check gets to compare against, without the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlfactory.data.profile import FEW_VALUES, REFERENCE_BINS, profile_values


def test_a_column_of_few_values_keeps_each_value_count() -> None:
    flags = pd.Series([0] * 84 + [1] * 16)
    profile = profile_values(flags, "numeric")
    assert profile["values"] == {"values": [0.0, 1.0], "counts": [84, 16]}
    booleans = profile_values(pd.Series([True, False, None, True]), "numeric")
    assert booleans["values"] == {"values": [0.0, 1.0], "counts": [1, 2]}
    assert booleans["missing"] == 1


def test_more_values_than_few_are_binned_only() -> None:
    rng = np.random.default_rng(0)
    at_limit = profile_values(pd.Series(rng.integers(0, FEW_VALUES, 5_000)), "numeric")
    assert len(at_limit["values"]["values"]) == FEW_VALUES
    assert sum(at_limit["values"]["counts"]) == 5_000
    over = profile_values(pd.Series(rng.integers(0, FEW_VALUES + 1, 5_000)), "numeric")
    assert "values" not in over
    continuous = profile_values(pd.Series(rng.normal(size=5_000)), "numeric")
    assert "values" not in continuous
    assert len(continuous["bins"]["counts"]) == REFERENCE_BINS
