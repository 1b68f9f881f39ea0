"""`mlfactory batch` on every engine: the same parts as in this process, resumable.

The cluster engines are real local clusters (tests/conftest.py ``cluster``): the
model goes to their workers as verified files, each worker reads its own chunks
and writes its own parts, and this process commits the manifest.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import zygote
from batchfiles import read_parts, write_parquet
from mlfactory.batch import run_batch
from mlfactory.cli import main
from mlfactory.engines import Engine, SparkEngine, engine_named
from mlfactory.registry import Registry

from conftest import CLUSTER_ENGINES

pytestmark = pytest.mark.slow


def _parts(folder: Path) -> pd.DataFrame:
    """The scored rows without the scoring time, in input order."""
    frame = read_parts(folder / "model=mroz").drop(columns="_time")
    return frame.sort_values(["_source", "_row"], ignore_index=True)


@pytest.fixture(scope="module")
def rows(mroz_rows: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Mroz rows in two files of several row groups (two refused rows among them)."""
    folder = tmp_path_factory.mktemp("engine-input")
    write_parquet(mroz_rows.iloc[:500], folder / "a.parquet", row_group_size=90)
    write_parquet(mroz_rows.iloc[500:], folder / "b.parquet", row_group_size=90)
    return folder


@pytest.fixture(scope="module")
def here(registry: Path, rows: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The job run in this process: what every engine must reproduce."""
    output = tmp_path_factory.mktemp("here") / "out"
    result = run_batch(Registry(path=registry), "mroz@champion", str(rows), output)
    assert result.scored == 751 and result.rejected == 2 and result.parts == 9
    return output


@pytest.mark.parametrize("name", ["local", *CLUSTER_ENGINES])
def test_every_engine_writes_the_parts_this_process_writes(
    name: str,
    registry: Path,
    rows: Path,
    here: Path,
    cluster: Callable[[str], Engine],
    tmp_path: Path,
) -> None:
    engine = engine_named("local", workers=2) if name == "local" else cluster(name)
    result = run_batch(
        Registry(path=registry), "mroz@champion", str(rows), tmp_path / "out", engine=engine
    )
    if name == "local":
        engine.close()
    assert (result.scored, result.rejected, result.parts) == (751, 2, 9)
    pd.testing.assert_frame_equal(_parts(tmp_path / "out"), _parts(here))
    rejects = read_parts(tmp_path / "out" / "rejects").sort_values("_row", ignore_index=True)
    assert rejects["_row"].tolist() == [3, 400]
    manifest = json.loads((tmp_path / "out" / "_batch.json").read_text())
    expected = json.loads((here / "_batch.json").read_text())
    assert manifest["parts"] == expected["parts"]


def test_a_job_on_a_cluster_finishes_what_another_run_left(
    registry: Path, rows: Path, here: Path, cluster: Callable[[str], Engine], tmp_path: Path
) -> None:
    """Resuming is the manifest's: chunks committed by an earlier run are not scored again."""
    output = tmp_path / "out"
    run_batch(Registry(path=registry), "mroz@champion", str(rows), output)
    manifest = json.loads((output / "_batch.json").read_text())
    dropped = sorted(manifest["parts"])[::2]  # as if the first run died before these
    for key in dropped:
        del manifest["parts"][key]
        for part in output.rglob(f"part-{key}.parquet"):
            part.unlink()
    (output / "_batch.json").write_text(json.dumps(manifest))
    result = run_batch(
        Registry(path=registry), "mroz@champion", str(rows), output, engine=cluster("dask")
    )
    assert result.resumed == 9 - len(dropped) and result.parts == 9
    pd.testing.assert_frame_equal(_parts(output), _parts(here))


def test_the_command_runs_on_the_engine_it_names(
    registry: Path,
    rows: Path,
    here: Path,
    cluster: Callable[[str], Engine],
    capfd: pytest.CaptureFixture[str],
) -> None:
    cluster("ray")  # the session's cluster: the command connects to it and leaves it running
    code = main(
        [
            "batch", "mroz@champion", "--registry", str(registry), "--input", str(rows),
            "--output", "out", "--engine", "ray", "--json", "summary.json",
        ]
    )  # fmt: skip
    assert code == 0
    assert json.loads(Path("summary.json").read_text())["scored"] == 751
    pd.testing.assert_frame_equal(_parts(Path("out")), _parts(here))
    err = capfd.readouterr().err  # Ray Data's own progress bars and log lines stay quiet
    assert "Dataset" not in err and "Progress bars" not in err, err


def test_spark_udf_of_the_registered_version_gives_the_scores_batch_gives(
    registry: Path, mroz_rows: pd.DataFrame, here: Path, cluster: Callable[[str], Engine]
) -> None:
    """MLflow's own Spark UDF on the same version agrees with ``batch --engine spark``."""
    import mlflow.pyfunc

    engine = cluster("spark")
    assert isinstance(engine, SparkEngine)
    spark = engine.session
    reg = Registry(path=registry)
    version = reg.resolve("mroz@champion").version
    mlflow.set_tracking_uri(reg.tracking_uri)
    mlflow.set_registry_uri(reg.tracking_uri)
    udf = mlflow.pyfunc.spark_udf(
        spark, f"models:/mroz/{version}", result_type="string", env_manager="local"
    )
    good = mroz_rows.drop(index=[3, 400]).reset_index(drop=True)
    good["age"] = good["age"].astype("int64")  # as in training (the fixture's gaps made it float)
    frame = spark.createDataFrame(good)
    features = [c for c in good.columns if c != "person"]
    scored = frame.withColumn("prediction", udf(*features)).select("person", "prediction")
    by_udf = scored.toPandas().sort_values("person", ignore_index=True)
    by_batch = _parts(here)[["person", "prediction"]].sort_values("person", ignore_index=True)
    assert by_udf["prediction"].tolist() == by_batch["prediction"].astype(str).tolist()


def test_an_address_that_accepts_and_never_answers_stops_the_command_after_the_timeout(
    registry: Path, rows: Path, tmp_path: Path
) -> None:
    """A port that takes the connection and says nothing: exit 2 after the timeout.

    The three engines' commands run at once (each mostly waits on its silent port)."""
    addresses = {
        "ray": "127.0.0.1:{port}",
        "spark": "spark://127.0.0.1:{port}",
        "dask": "tcp://127.0.0.1:{port}",
    }
    started = time.monotonic()
    running: dict[str, tuple[str, zygote.Child]] = {}
    finished = {}
    with contextlib.ExitStack() as listeners:
        try:
            for name, address in addresses.items():
                listener = listeners.enter_context(socket.socket())
                listener.bind(("127.0.0.1", 0))
                listener.listen(8)  # never accepted, never answered
                given = address.format(port=listener.getsockname()[1])
                command = [
                    "batch", "mroz@champion",
                    "--registry", str(registry), "--input", str(rows),
                    "--output", str(tmp_path / name), "--engine", name,
                    "--engine-address", given, "--engine-timeout", "3",
                ]  # fmt: skip
                running[name] = (given, zygote.spawn(command, env=dict(os.environ)))
            for name, (given, process) in running.items():
                process.wait(timeout=120)
                finished[name] = (given, process.returncode, process.stderr)
        finally:
            for _, process in running.values():
                if process.poll() is None:
                    process.kill()
                    process.wait()
    assert time.monotonic() - started < 90  # a hang guard, not a timing goal
    for name, (given, returncode, stderr) in finished.items():
        assert returncode == 2, (name, stderr[-2000:])
        assert "within 3 s" in stderr and given in stderr, stderr[-2000:]
        assert "Traceback" not in stderr
        assert not list((tmp_path / name).rglob("part-*.parquet"))  # nothing scored
