"""The ETML extract: one day's rows from a file, glob, folder or s3:// URL, then DuckDB SQL.

S3 is a real S3-compatible endpoint: moto's server on 127.0.0.1, a bucket made with boto3,
read through s3fs with the endpoint in storage_options and only dummy credentials around.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlfactory.errors import BadInputError, DataError
from mlfactory.etml.extract import check_source, extract, render, transform

DAY = date(2026, 11, 28)


def rides(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ride_id": [f"r{i:04d}" for i in range(start, start + n)],
            "ride_dist": [1.5 + i for i in range(start, start + n)],
            "ride_time": [4.0 + 2 * i for i in range(start, start + n)],
            "traffic": ["light"] * n,
        }
    )


# -- render -----------------------------------------------------------------------------


def test_render_puts_the_day_in_iso_and_strftime_forms() -> None:
    assert render("rides/date={date}/*.parquet", DAY) == "rides/date=2026-11-28/*.parquet"
    assert render("s3://b/{date:%Y/%m/%d}/rides.csv", DAY) == "s3://b/2026/11/28/rides.csv"
    assert render("r_{date:%Y%m%d}_{date}.jsonl", DAY) == "r_20261128_2026-11-28.jsonl"
    assert render("SELECT {{'a': 1}} AS s FROM rows", DAY) == "SELECT {'a': 1} AS s FROM rows"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("rides/{day}.csv", r"has the field \{day\}; the only field is \{date\}"),
        ("rides/{}.csv", r"has the field \{\}"),
        ("rides/{date!r}.csv", "takes no conversion"),
        ("rides/{date:YYYY}.csv", r"\{date:YYYY\} is not a strftime format"),
        ("rides/{date.csv", "is not a valid template"),
    ],
)
def test_render_refuses_other_fields_naming_them(template: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message) as caught:
        render(template, DAY)
    assert repr(template) in str(caught.value)


def test_check_source_reports_a_source_that_reads_the_same_rows_every_day() -> None:
    assert check_source("rides/date={date}/*.parquet") == []
    assert check_source("rides.parquet", "SELECT * FROM rows WHERE day = '{date}'") == []
    problems = check_source("rides.parquet")
    assert len(problems) == 1 and "every day would read the same rows" in problems[0]
    problems = check_source("rides.parquet", "SELECT * FROM rows")
    assert "and neither does its sql" in problems[0]
    problems = check_source("rides/{day}.csv")
    assert any("{day}" in p for p in problems)


def test_check_source_refuses_secrets_written_in_the_spec() -> None:
    problems = check_source(
        "s3://b/{date}.csv", storage_options={"secret": "hunter2", "key_env": "TAXI_KEY"}
    )
    assert problems == [
        "extract.storage_options.secret is written in the spec; name the environment "
        "variable that holds it instead: secret_env: VARIABLE."
    ]


# -- local files ------------------------------------------------------------------------


def test_a_day_from_a_file_a_glob_and_a_folder(tmp_path: Path) -> None:
    (tmp_path / "flat").mkdir()
    rides(3).to_csv(tmp_path / "flat" / "2026-11-28.csv", index=False)
    rides(9).to_csv(tmp_path / "flat" / "2026-11-27.csv", index=False)
    got = extract(str(tmp_path / "flat" / "{date}.csv"), DAY)
    pd.testing.assert_frame_equal(got.frame, rides(3))
    assert got.files == [str(tmp_path / "flat" / "2026-11-28.csv")] and got.notes == []

    day = tmp_path / "hive" / "date=2026-11-28"
    day.mkdir(parents=True)
    rides(2).to_parquet(day / "part-0.parquet", index=False)
    rides(3, start=2).to_parquet(day / "part-1.parquet", index=False)
    rides(1, start=90).to_json(day / "late.jsonl", orient="records", lines=True)
    (day / "_SUCCESS").write_text("")
    (day / ".part-2.parquet.tmp").write_bytes(b"half written")
    (day / "notes.txt").write_text("not data")
    (day / "_part-9.parquet").write_bytes(b"a writer's leftover")
    glob = extract(str(tmp_path / "hive" / "date={date}" / "*.parquet"), DAY)
    assert list(glob.frame.ride_id) == ["r0000", "r0001", "r0002", "r0003", "r0004"]
    assert [Path(f).name for f in glob.files] == ["part-0.parquet", "part-1.parquet"]
    folder = extract(str(tmp_path / "hive" / "date={date}"), DAY)
    assert [Path(f).name for f in folder.files] == [
        "late.jsonl",
        "part-0.parquet",
        "part-1.parquet",
    ]
    assert list(folder.frame.ride_id) == ["r0090", "r0000", "r0001", "r0002", "r0003", "r0004"]
    assert folder.frame.ride_dist.dtype == "float64"


def test_no_file_or_no_row_for_the_date_is_an_empty_frame_with_a_note(tmp_path: Path) -> None:
    got = extract(str(tmp_path / "date={date}" / "*.parquet"), DAY)
    assert got.frame.empty and got.files == []
    assert got.notes == [
        f"no file matches '{tmp_path}/date=2026-11-28/*.parquet' for 2026-11-28: "
        "no rows for the date"
    ]
    rides(0).to_parquet(tmp_path / "2026-11-28.parquet", index=False)
    got = extract(str(tmp_path / "{date}.parquet"), DAY)
    assert len(got.frame) == 0 and list(got.frame.columns) == list(rides(0).columns)
    assert got.notes == [
        f"the 1 file of '{tmp_path}/2026-11-28.parquet' for 2026-11-28 holds no rows: "
        "no rows for the date"
    ]
    (tmp_path / "2026-11-28-empty.csv").write_bytes(b"")  # an empty export, not a broken one
    got = extract(str(tmp_path / "{date}*"), DAY)
    assert len(got.frame) == 0 and list(got.frame.columns) == list(rides(0).columns)
    assert got.notes[0].startswith("the 2 files of") and "hold no rows" in got.notes[0]
    rides(2).to_csv(tmp_path / "2026-11-28-more.csv", index=False)
    assert len(extract(str(tmp_path / "{date}*"), DAY).frame) == 2
    rides(4).to_parquet(tmp_path / "all.parquet", index=False)
    got = extract(str(tmp_path / "all.parquet"), DAY, sql="SELECT * FROM rows WHERE false")
    assert len(got.frame) == 0 and "after extract.sql" in got.notes[0]


def test_files_of_one_day_with_different_columns_are_refused_naming_them(tmp_path: Path) -> None:
    rides(2).to_csv(tmp_path / "a-2026-11-28.csv", index=False)
    rides(2).drop(columns=["traffic"]).assign(weather="rain").to_csv(
        tmp_path / "b-2026-11-28.csv", index=False
    )
    with pytest.raises(DataError, match="do not have the same columns") as caught:
        extract(str(tmp_path / "*-{date}.csv"), DAY)
    assert caught.value.problems == [
        f"'{tmp_path}/b-2026-11-28.csv' lacks 'traffic'; adds 'weather'"
    ]


def test_a_corrupt_or_unknown_file_is_an_error_naming_it(tmp_path: Path) -> None:
    rides(2).to_parquet(tmp_path / "a.parquet", index=False)
    whole = (tmp_path / "a.parquet").read_bytes()
    (tmp_path / "2026-11-28.parquet").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"cannot read '.*/2026-11-28\.parquet'.*Parquet file"):
        extract(str(tmp_path / "{date}.parquet"), DAY)
    (tmp_path / "2026-11-28.csv").write_text("ride_id,ride_dist,ride_id\nr1,1.5,r2\n")
    with pytest.raises(DataError, match=r"2026-11-28\.csv'.*header names 'ride_id' more than"):
        extract(str(tmp_path / "{date}.csv"), DAY)
    (tmp_path / "2026-11-28.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"unsupported file type '\.xlsx'"):
        extract(str(tmp_path / "{date}.xlsx"), DAY)


# -- transform --------------------------------------------------------------------------


def test_transform_runs_duckdb_over_the_rows_with_the_date() -> None:
    got = transform(
        rides(5),
        "SELECT ride_id, ride_dist / (ride_time / 60) AS speed, '{date}' AS day "
        "FROM rows WHERE ride_dist > 2 ORDER BY ride_id",
        DAY,
    )
    assert list(got.columns) == ["ride_id", "speed", "day"]
    assert list(got.ride_id) == ["r0001", "r0002", "r0003", "r0004"]
    assert got.day.unique().tolist() == ["2026-11-28"]
    assert got.speed.iloc[0] == pytest.approx(2.5 / (6 / 60))


def test_a_failing_transform_says_duckdbs_message_and_the_columns() -> None:
    with pytest.raises(BadInputError, match=r"transform\.sql failed for 2026-11-28") as caught:
        transform(rides(2), "SELECT ride_distance FROM rows", DAY)
    message = str(caught.value)
    assert 'Referenced column "ride_distance" not found' in message
    assert "(columns: ride_id, ride_dist, ride_time, traffic)" in message
    with pytest.raises(BadInputError, match=r"\{day\}"):
        transform(rides(2), "SELECT * FROM rows WHERE d = '{day}'", DAY)


# -- s3:// through a real S3-compatible endpoint ----------------------------------------


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """moto's S3 server on 127.0.0.1 with the bucket `rides`; only dummy credentials set."""
    import boto3
    from moto.server import ThreadedMotoServer

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket="rides")
        yield {"endpoint_url": endpoint, "client": client}
    finally:
        server.stop()


def _upload(client: Any, key: str, frame: pd.DataFrame, tmp_path: Path) -> None:
    local = tmp_path / "upload"
    if key.endswith(".parquet"):
        frame.to_parquet(local, index=False)
    else:
        frame.to_csv(local, index=False)
    client.upload_file(str(local), "rides", key)


def test_s3_glob_and_prefix_through_a_real_endpoint(s3: dict[str, Any], tmp_path: Path) -> None:
    _upload(s3["client"], "taxi/date=2026-11-28/part-0.parquet", rides(3), tmp_path)
    _upload(s3["client"], "taxi/date=2026-11-28/part-1.parquet", rides(2, start=3), tmp_path)
    s3["client"].put_object(Bucket="rides", Key="taxi/date=2026-11-28/_x.parquet", Body=b"?")
    _upload(s3["client"], "taxi/date=2026-11-27/part-0.parquet", rides(7), tmp_path)
    options = {"endpoint_url": s3["endpoint_url"]}
    got = extract("s3://rides/taxi/date={date}/*.parquet", DAY, storage_options=options)
    pd.testing.assert_frame_equal(got.frame, rides(5))
    assert got.files == [
        "s3://rides/taxi/date=2026-11-28/part-0.parquet",
        "s3://rides/taxi/date=2026-11-28/part-1.parquet",
    ]
    prefix = extract(
        "s3://rides/taxi/date={date}",
        DAY,
        sql="SELECT * FROM rows WHERE ride_dist < 3",
        storage_options=options,
    )
    assert prefix.files == got.files and list(prefix.frame.ride_id) == ["r0000", "r0001"]
    empty = extract(
        "s3://rides/taxi/date={date}/*.parquet", date(2026, 11, 29), storage_options=options
    )
    assert empty.frame.empty and "no rows for the date" in empty.notes[0]
    # a file uploaded after the first read is seen by the next: no stale listing
    _upload(s3["client"], "taxi/date=2026-11-29/part-0.parquet", rides(1), tmp_path)
    again = extract(
        "s3://rides/taxi/date={date}/*.parquet", date(2026, 11, 29), storage_options=options
    )
    assert len(again.frame) == 1


def test_s3_credentials_come_from_the_environment_variables_the_spec_names(
    s3: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _upload(s3["client"], "2026-11-28.csv", rides(2), tmp_path)
    monkeypatch.setenv("TAXI_KEY", "taxi-key")
    monkeypatch.setenv("TAXI_SECRET", "taxi-secret")
    options = {
        "endpoint_url": s3["endpoint_url"],
        "key_env": "TAXI_KEY",
        "secret_env": "TAXI_SECRET",
    }
    got = extract("s3://rides/{date}.csv", DAY, storage_options=options)
    assert len(got.frame) == 2
    monkeypatch.delenv("TAXI_SECRET")
    with pytest.raises(BadInputError, match="environment variable 'TAXI_SECRET' is not set"):
        extract("s3://rides/{date}.csv", DAY, storage_options=options)


def test_a_corrupt_s3_object_is_named_with_its_url(s3: dict[str, Any], tmp_path: Path) -> None:
    s3["client"].put_object(Bucket="rides", Key="2026-11-28.parquet", Body=b"PAR1 broken")
    with pytest.raises(DataError, match=r"cannot read 's3://rides/2026-11-28\.parquet'"):
        extract(
            "s3://rides/{date}.parquet", DAY, storage_options={"endpoint_url": s3["endpoint_url"]}
        )


def test_s3_without_the_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs now fails
    with pytest.raises(BadInputError, match=r"pip install 'mlfactory\[s3\]'"):
        extract("s3://rides/{date}.csv", DAY)
    assert any("mlfactory[s3]" in p for p in check_source("s3://rides/{date}.csv"))
