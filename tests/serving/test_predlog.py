"""The prediction log: rows written from a background thread come back exactly, and
nothing the writer meets (a full queue, a slow or unwritable disk) reaches a request."""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlfactory.errors import BadInputError
from mlfactory.serving import predlog
from mlfactory.serving.predlog import PredictionLog, read_log

T0 = 1_764_257_412.25  # 2025-11-27T15:30:12.25Z, exact as a float
FAST = 0.05  # seconds: a submit that takes this long has waited on something


@pytest.fixture
def open_log(tmp_path: Path) -> Iterator[Callable[..., PredictionLog]]:
    """Make a started PredictionLog (in tmp_path/log by default); all are closed at the end."""
    logs: list[PredictionLog] = []

    def make(folder: Path | None = None, *, start: bool = True, **options: Any) -> PredictionLog:
        log = PredictionLog(folder or tmp_path / "log", **options)
        logs.append(log)
        return log.start() if start else log

    yield make
    for log in logs:
        log.close(timeout=5)


def scored(n: int, start: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """n rows of a churn model's inputs and outputs."""
    rows = range(start, start + n)
    inputs = pd.DataFrame(
        {
            "age": [20 + i for i in rows],
            "income": [1000.5 * i for i in rows],
            "city": [f"city-{i % 3}" for i in rows],
            "member": [i % 2 == 0 for i in rows],
        }
    )
    outputs = pd.DataFrame(
        {"proba_yes": [i / 100 for i in rows], "prediction": [i % 2 for i in rows]}
    )
    return inputs, outputs


def submit(log: PredictionLog, n: int, *, start: int = 0, model: str = "churn", **kw: Any) -> bool:
    inputs, outputs = scored(n, start)
    kw.setdefault("version", "3")
    kw.setdefault("request_id", f"req-{start}")
    return log.submit(model=model, inputs=inputs, outputs=outputs, **kw)


def files(folder: Path, model: str = "churn") -> list[Path]:
    return sorted((folder / f"model={model}").glob("*.parquet"))


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the writer did not get there in time"
        time.sleep(0.01)


def timed_submit(log: PredictionLog, n: int, start: int) -> bool:
    began = time.perf_counter()
    accepted = submit(log, n, start=start, request_id=f"r{start}")
    assert time.perf_counter() - began < FAST
    return accepted


def test_rows_are_read_back_exactly(tmp_path: Path, open_log: Callable[..., PredictionLog]) -> None:
    log = open_log()
    assert submit(log, 3, start=0, request_id="a", version="3", time=T0)
    assert submit(log, 2, start=3, request_id="b", version="4", time=T0 + 0.5)
    log.close()

    rows, problems = read_log(tmp_path / "log", "churn")

    inputs, outputs = scored(5)
    expected = pd.concat([inputs, outputs[["prediction", "proba_yes"]]], axis=1)
    expected["_model_version"] = ["3", "3", "3", "4", "4"]
    expected["_request_id"] = ["a", "a", "a", "b", "b"]
    expected["_time"] = pd.to_datetime([T0] * 3 + [T0 + 0.5] * 2, unit="s", utc=True).as_unit("us")
    pd.testing.assert_frame_equal(rows, expected)
    assert problems == []
    assert (log.written_rows, log.dropped_rows, log.write_errors) == (5, 0, 0)


def test_file_name_is_utc_time_pid_and_sequence_and_no_temporary_is_left(
    tmp_path: Path, open_log: Callable[..., PredictionLog]
) -> None:
    log = open_log()
    submit(log, 1)
    log.close()

    [path] = files(tmp_path / "log")
    stamp, pid, seq = path.stem.split("-")
    assert len(stamp) == len("20261127T153012Z") and stamp[8] == "T" and stamp.endswith("Z")
    assert pd.Timestamp(stamp).timestamp() == pytest.approx(time.time(), abs=60)
    assert int(pid) == os.getpid() and seq.isdigit()
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_rotation_by_rows_writes_several_files(
    tmp_path: Path, open_log: Callable[..., PredictionLog]
) -> None:
    log = open_log(rotate_rows=5)
    for i in range(10):
        assert submit(log, 2, start=2 * i, request_id=f"r{i}")
    # a file as soon as 5 rows are buffered; a request's 2 rows stay together: 6, 6, 6
    wait_for(lambda: len(files(tmp_path / "log")) == 3)
    log.close()

    paths = files(tmp_path / "log")
    assert [len(pd.read_parquet(p)) for p in paths] == [6, 6, 6, 2]
    rows, _ = read_log(tmp_path / "log", "churn")
    assert rows["age"].tolist() == list(range(20, 40))
    assert log.written_rows == 20


def test_rotation_by_time_writes_while_the_log_is_open(
    tmp_path: Path, open_log: Callable[..., PredictionLog]
) -> None:
    log = open_log(rotate_seconds=0.2, flush_seconds=0.05)
    began = time.monotonic()
    submit(log, 3)
    wait_for(lambda: len(files(tmp_path / "log")) == 1)
    assert time.monotonic() - began >= 0.15  # not before the oldest row is rotate_seconds old
    submit(log, 2, start=3)
    wait_for(lambda: len(files(tmp_path / "log")) == 2)
    # the writer counts a file's rows just after the file appears: wait for the count too
    wait_for(lambda: log.written_rows == 5)

    assert log.written_rows == 5


def test_close_writes_the_buffered_rows(
    tmp_path: Path, open_log: Callable[..., PredictionLog]
) -> None:
    log = open_log()  # 100_000 rows or 300 s before a rotation
    submit(log, 4)
    time.sleep(0.1)
    assert files(tmp_path / "log") == []
    log.close()

    assert len(files(tmp_path / "log")) == 1
    assert len(read_log(tmp_path / "log", "churn")[0]) == 4
    assert not submit(log, 1)  # closed: dropped, counted, no error
    assert log.dropped_rows == 1


def test_full_queue_drops_and_counts_without_blocking(
    tmp_path: Path, open_log: Callable[..., PredictionLog]
) -> None:
    drops: list[int] = []  # the server's metrics counter listens like this
    log = open_log(max_queue=2, start=False, on_drop=drops.append)  # nobody takes submissions

    accepted = [timed_submit(log, 3, start=10 * i) for i in range(5)]

    assert accepted == [True, True, False, False, False]
    assert log.dropped_rows == 9 and drops == [3, 3, 3]
    log.close()  # the two queued submissions are still written
    assert log.written_rows == 6
    assert read_log(tmp_path / "log", "churn")[0]["_request_id"].unique().tolist() == ["r0", "r10"]


def test_a_stuck_disk_never_slows_submit(
    tmp_path: Path, open_log: Callable[..., PredictionLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    writing, release = threading.Event(), threading.Event()
    write = predlog._write_parquet

    def stuck_write(table: Any, path: Path) -> None:
        writing.set()
        release.wait(10)
        write(table, path)

    monkeypatch.setattr(predlog, "_write_parquet", stuck_write)
    log = open_log(max_queue=2, rotate_rows=1)
    try:
        assert timed_submit(log, 2, start=0)
        assert writing.wait(5)  # the writer is stuck on the disk with the first request
        accepted = [timed_submit(log, 2, start=10 * i) for i in range(1, 6)]
    finally:
        release.set()
    log.close()

    assert accepted == [True, True, False, False, False]
    assert (log.written_rows, log.dropped_rows, log.write_errors) == (6, 6, 0)


def test_unwritable_folder_counts_errors_and_writing_resumes_when_it_is_fixed(
    tmp_path: Path, open_log: Callable[..., PredictionLog], caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file where the log folder's parent should be")
    log = open_log(blocker / "log", rotate_rows=1)

    with caplog.at_level(logging.ERROR, logger=predlog.__name__):
        assert submit(log, 3, request_id="lost")
        wait_for(lambda: log.write_errors == 1)
    assert log.dropped_rows == 3
    assert "could not write 3 prediction log rows of model 'churn'" in caplog.text

    blocker.unlink()  # the problem goes away; the same writer thread carries on
    assert submit(log, 2, start=3, request_id="kept")
    log.close()

    rows, problems = read_log(blocker / "log", "churn")
    assert rows["_request_id"].tolist() == ["kept", "kept"] and problems == []
    assert (log.written_rows, log.dropped_rows, log.write_errors) == (2, 3, 1)


def test_close_on_an_unwritable_folder_does_not_raise(
    tmp_path: Path, open_log: Callable[..., PredictionLog]
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    log = open_log(blocker / "log")

    assert submit(log, 2)
    log.close()

    assert (log.written_rows, log.dropped_rows, log.write_errors) == (0, 2, 1)


def test_concurrent_submits_lose_nothing(
    tmp_path: Path, open_log: Callable[..., PredictionLog]
) -> None:
    log = open_log(max_queue=1000, rotate_rows=37)
    threads, per_thread = 8, 50
    barrier = threading.Barrier(threads)
    results: list[bool] = []

    def client(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            start = 1000 * t + 2 * i
            results.append(submit(log, 2, start=start, request_id=f"t{t}-{i}"))

    workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    log.close()

    rows, problems = read_log(tmp_path / "log", "churn")
    assert all(results) and len(results) == threads * per_thread
    assert len(rows) == 2 * threads * per_thread == log.written_rows
    assert rows["_request_id"].nunique() == threads * per_thread
    assert sorted(rows["age"]) == sorted(
        20 + 1000 * t + i for t in range(threads) for i in range(2 * per_thread)
    )
    assert log.dropped_rows == 0 and problems == []


def test_two_logs_in_one_folder_do_not_overwrite_each_other(
    tmp_path: Path, open_log: Callable[..., PredictionLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(predlog, "wall_time", lambda: T0)  # every file in the same second
    first, second = open_log(rotate_rows=1), open_log(rotate_rows=1)
    for i in range(20):
        submit(first, 1, start=i, request_id=f"first-{i}")
        submit(second, 1, start=100 + i, request_id=f"second-{i}")
    first.close()
    second.close()

    assert len(files(tmp_path / "log")) == 40
    rows, _ = read_log(tmp_path / "log", "churn")
    assert rows["_request_id"].nunique() == 40


def test_two_worker_processes_in_one_folder_do_not_overwrite_each_other(
    tmp_path: Path, open_log: Callable[..., PredictionLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same second and the same sequence numbers in both: only the pid keeps names apart.
    worker = (
        "import sys, pandas as pd\n"
        "from pathlib import Path\n"
        "from mlfactory.serving import predlog\n"
        f"predlog.wall_time = lambda: {T0!r}\n"
        "log = predlog.PredictionLog(Path(sys.argv[1]), rotate_rows=1).start()\n"
        "for i in range(5):\n"
        "    inputs, outputs = pd.DataFrame({'age': [i]}), pd.DataFrame({'prediction': [0]})\n"
        "    log.submit(model='churn', version='3', request_id=f'child-{i}',\n"
        "               inputs=inputs, outputs=outputs)\n"
        "log.close()\n"
        "assert log.written_rows == 5, log.written_rows\n"
    )
    child = subprocess.Popen([sys.executable, "-c", worker, str(tmp_path / "log")])
    monkeypatch.setattr(predlog, "wall_time", lambda: T0)
    monkeypatch.setattr(predlog, "_SEQ", itertools.count())  # as in a fresh worker process
    log = open_log(rotate_rows=1)
    for i in range(5):
        submit(log, 1, start=i, request_id=f"parent-{i}")
    log.close()
    assert child.wait(60) == 0

    assert len(files(tmp_path / "log")) == 10
    rows, problems = read_log(tmp_path / "log", "churn")
    assert rows["_request_id"].nunique() == 10 and problems == []


def test_each_model_gets_its_own_partition(
    tmp_path: Path, open_log: Callable[..., PredictionLog]
) -> None:
    log = open_log()
    submit(log, 2, model="churn")
    submit(log, 3, model="fraud.v2")
    log.close()

    assert len(read_log(tmp_path / "log", "churn")[0]) == 2
    assert len(read_log(tmp_path / "log", "fraud.v2")[0]) == 3
    assert sorted(p.name for p in (tmp_path / "log").iterdir()) == ["model=churn", "model=fraud.v2"]


def test_requests_with_different_columns_share_a_file(
    tmp_path: Path, open_log: Callable[..., PredictionLog]
) -> None:
    log = open_log()
    log.submit(
        model="churn",
        version="3",
        request_id="old-client",
        inputs=pd.DataFrame({"age": [30], "code": [7]}),
        outputs=pd.DataFrame({"prediction": [1]}),
    )
    log.submit(
        model="churn",
        version="3",
        request_id="new-client",
        inputs=pd.DataFrame({"age": [40], "code": ["B7"], "city": ["Oslo"]}),
        outputs=pd.DataFrame({"prediction": [0], "proba_yes": [0.2]}),
    )
    log.close()

    rows, _ = read_log(tmp_path / "log", "churn")
    assert list(rows.columns) == [
        "age",
        "code",
        "city",
        "prediction",
        "proba_yes",
        "_model_version",
        "_request_id",
        "_time",
    ]
    assert rows["age"].tolist() == [30, 40]
    assert rows["code"].tolist() == ["7", "B7"]  # int in one request, str in the other: text
    assert rows["city"].isna().tolist() == [True, False]
    assert rows["proba_yes"].isna().tolist() == [True, False]
    assert (log.written_rows, log.write_errors) == (2, 0)


def test_invalid_submissions_are_refused_never_raised(
    tmp_path: Path, open_log: Callable[..., PredictionLog], caplog: pytest.LogCaptureFixture
) -> None:
    log = open_log()
    inputs, outputs = scored(3)
    bad: list[dict[str, Any]] = [
        {"outputs": outputs.head(2)},  # 3 inputs, 2 outputs
        {"model": "../../escape"},
        {"model": ""},
        {"inputs": inputs.assign(prediction=1)},  # collides with an output column
        {"inputs": inputs.assign(_time=0.0)},  # collides with a log column
        {"time": "yesterday"},
        {"outputs": outputs.to_dict()},  # not a DataFrame
    ]
    for change in bad:
        args: dict[str, Any] = {
            "model": "churn",
            "version": "3",
            "request_id": "r",
            "inputs": inputs,
            "outputs": outputs,
            **change,
        }
        assert log.submit(**args) is False, change
    with caplog.at_level(logging.WARNING, logger=predlog.__name__):
        log.close()  # the writer, not submit, logs the refusals

    assert log.dropped_rows == 3 * len(bad)
    assert log.written_rows == 0
    assert not (tmp_path / "log").exists() and not (tmp_path / "escape").exists()
    assert "invalid submissions" in caplog.text


def test_read_log_skips_and_reports_unreadable_files(
    tmp_path: Path, open_log: Callable[..., PredictionLog]
) -> None:
    log = open_log()
    submit(log, 3)
    log.close()
    partition = tmp_path / "log" / "model=churn"
    corrupt = partition / "20250101T000000Z-1-000000.parquet"
    corrupt.write_bytes(b"PAR1 cut off by a crash")
    foreign = partition / "20250101T000000Z-1-000001.parquet"
    pd.DataFrame({"x": [1]}).to_parquet(foreign)  # valid Parquet, not a log file
    (partition / ".20250101T000000Z-1-000002.parquet.tmp").write_bytes(b"half written")

    rows, problems = read_log(tmp_path / "log", "churn")

    assert len(rows) == 3
    assert len(problems) == 2
    assert str(corrupt) in problems[0] and str(foreign) in problems[1]
    assert "no _time column" in problems[1]


def test_read_log_filters_by_time(tmp_path: Path, open_log: Callable[..., PredictionLog]) -> None:
    log = open_log()
    for i in range(3):
        submit(log, 1, start=i, request_id=f"r{i}", time=T0 + 10 * i)
    log.close()

    def ids(**window: float) -> list[str]:
        rows, problems = read_log(tmp_path / "log", "churn", **window)
        assert problems == []
        return list(rows["_request_id"])

    assert ids() == ["r0", "r1", "r2"]
    assert ids(since=T0 + 10) == ["r1", "r2"]
    assert ids(until=T0 + 10) == ["r0"]  # until is exclusive
    assert ids(since=T0 + 5, until=T0 + 15) == ["r1"]
    assert ids(since=T0 + 100) == []


def test_read_log_of_a_missing_or_empty_folder_is_empty_with_a_problem(tmp_path: Path) -> None:
    rows, problems = read_log(tmp_path / "nowhere", "churn")
    assert rows.empty and "_time" in rows.columns
    assert problems == [
        f"no prediction log for model 'churn': folder {tmp_path / 'nowhere' / 'model=churn'} "
        "does not exist"
    ]

    (tmp_path / "log" / "model=churn").mkdir(parents=True)
    rows, problems = read_log(tmp_path / "log", "churn")
    assert rows.empty and len(problems) == 1 and "has no Parquet files" in problems[0]

    rows, problems = read_log(tmp_path / "log", "../log")
    assert rows.empty and "cannot be in the prediction log" in problems[0]


def test_bad_settings_are_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="max_queue must be greater than 0, got 0"):
        PredictionLog(tmp_path, max_queue=0)
    with pytest.raises(BadInputError, match="rotate_seconds"):
        PredictionLog(tmp_path, rotate_seconds=float("nan"))

    log = PredictionLog(tmp_path)
    log.close()
    with pytest.raises(BadInputError, match="is closed; create a new PredictionLog"):
        log.start()


def test_check_folder_creates_the_folder_and_lists_every_problem(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "log"
    predlog.check_folder(folder, ["churn", "fraud"])
    assert folder.is_dir() and list(folder.iterdir()) == []  # created; no probe file left
    (folder / "model=churn").mkdir()
    predlog.check_folder(folder, ["churn"])  # an existing, writable partition is fine

    for model in ("fraud", "spam"):
        (folder / f"model={model}").write_text("not a folder")
    with pytest.raises(BadInputError) as refused:
        predlog.check_folder(folder, ["churn", "fraud", "spam"])
    message = str(refused.value)
    assert message.startswith("the prediction log cannot be written, so every row would be dropped")
    assert f"'{folder / 'model=fraud'}', where model 'fraud' logs, is a file" in message
    assert f"'{folder / 'model=spam'}', where model 'spam' logs, is a file" in message
