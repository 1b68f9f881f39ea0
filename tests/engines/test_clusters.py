"""The ray, spark and dask engines: real local clusters, the same protocol as local.

Each engine maps in order, raises a worker's exception as it was raised, ships a
shared value once, runs the search's trials to the same study as the local
engine, and says clearly when its extra is missing or its address is silent.
"""

from __future__ import annotations

import operator
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlfactory.engines import ENGINES, Engine, engine_named
from mlfactory.errors import EngineError
from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train

from conftest import CLUSTER_ENGINES, mroz_spec

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", CLUSTER_ENGINES)
def test_a_cluster_engine_maps_in_order_and_raises_a_workers_error(
    name: str, cluster: Callable[[str], Engine]
) -> None:
    engine = cluster(name)
    assert type(engine) is ENGINES[name] and engine.workers == 2
    assert engine.map(abs, []) == []
    assert engine.map(abs, list(range(0, -23, -1))) == list(range(23))  # more than a wave
    offset = engine.share(100)
    assert engine.map(operator.add, [1, 2, 3], offset) == [101, 102, 103]
    with pytest.raises(ValueError, match="invalid literal for int"):
        engine.map(int, ["1", "x", "3"])


@pytest.mark.parametrize("name", CLUSTER_ENGINES)
def test_a_cluster_engine_maps_a_datasets_partitions_with_its_data_parallel_api(
    name: str, cluster: Callable[[str], Engine]
) -> None:
    engine = cluster(name)
    assert list(engine.map_partitions(abs, [])) == []
    many = list(range(0, -23, -1))  # more than Spark's first job
    assert list(engine.map_partitions(abs, many)) == list(range(23))
    offset = engine.share(100)
    assert list(engine.map_partitions(operator.add, [1, 2, 3], offset)) == [101, 102, 103]
    with pytest.raises(ValueError, match="invalid literal for int"):
        list(engine.map_partitions(int, ["1", "x", "3"]))
    # batch scoring's path is the engine's data-parallel API; independent tasks are not

    def api(_: object) -> str:  # nested: shipped by value (workers cannot import tests)
        """Which of its engine's APIs runs this call, seen from inside the worker."""
        if name == "spark":  # a DataFrame query's tasks carry its execution id
            from pyspark import TaskContext

            context = TaskContext.get()
            assert context is not None
            return (
                "rdd" if context.getLocalProperty("spark.sql.execution.id") is None else "dataframe"
            )
        if name == "ray":
            import ray

            return str(ray.get_runtime_context().get_task_name())
        import distributed

        return str(distributed.get_worker().get_current_task())

    apis = set(engine.map_partitions(api, [1, 2]))
    tasks = set(engine.map(api, [1, 2]))
    expected = {
        "spark": ({"dataframe"}, {"rdd"}),  # mapInPandas; an RDD job
        "ray": ({"MapBatches(run_frame)"}, {"run_task"}),  # Ray Data; ray tasks
    }
    if name in expected:
        assert (apis, tasks) == expected[name]
    else:  # dask: a bag partition's key (name, index); client.map's futures are single keys
        assert all("_run_partition" in api and api.startswith("(") for api in apis), apis
        assert all(api.startswith("_run-") for api in tasks), tasks


@pytest.mark.parametrize("name", CLUSTER_ENGINES)
def test_a_search_on_a_cluster_is_the_study_the_local_engine_runs(
    name: str, cluster: Callable[[str], Engine], tmp_path: Path
) -> None:
    cluster(name)  # the session's cluster: a training uses it and leaves it running

    def trained(engine: dict[str, object]) -> dict[str, float]:
        spec = mroz_spec(engine=engine, search={"trials": 4, "seed": 5})
        registry = Registry(path=tmp_path / str(engine["name"]) / ".mlfactory")
        result = train(parse_spec(spec), registry=registry, progress=False)
        (row,) = result.candidates
        assert row["trials"] == 4 and row["failed"] == 0
        return result.evaluation.metrics

    assert trained({"name": name, "workers": 2}) == trained({"name": "local", "workers": 2})


@pytest.mark.parametrize(
    ("name", "module"), [("ray", "ray"), ("spark", "pyspark"), ("dask", "distributed")]
)
def test_a_missing_extra_is_named_with_the_command_that_installs_it(
    name: str, module: str, write_spec: Callable[..., Path]
) -> None:
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"  # as if the extra were not installed
        "from mlfactory.cli import main\n"
        f"sys.exit(main(['train', {str(write_spec(mroz_spec()))!r}, '--engine', {name!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert f"pip install 'mlfactory[{name}]'" in done.stderr
    assert "Traceback" not in done.stderr


def _silent_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("ray", "127.0.0.1:{port}"),
        ("spark", "spark://127.0.0.1:{port}"),
        ("dask", "tcp://127.0.0.1:{port}"),
    ],
)
def test_an_address_that_refuses_the_connection_is_an_error_naming_it(
    name: str, address: str
) -> None:
    given = address.format(port=_silent_port())
    engine = engine_named(name, workers=2, address=given, timeout=2)
    with pytest.raises(EngineError, match=f"address '{given}' did not answer within 2 s"):
        engine.map(abs, [1, 2])
    engine.close()


def test_the_address_comes_from_the_environment_when_the_spec_has_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = f"tcp://127.0.0.1:{_silent_port()}"
    monkeypatch.setenv("MLFACTORY_DASK_ADDRESS", given)
    with pytest.raises(EngineError, match=f"dask engine's address '{given}'"):
        engine_named("dask", timeout=1).map(abs, [1])
