"""The local engine, and the search handing it batches of trials."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlfactory.cli import main
from mlfactory.engines import ENGINES, LocalEngine, engine_named
from mlfactory.errors import SpecError
from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train
from workers import pid, threads

from conftest import mroz_spec


def test_two_workers_are_other_processes_and_results_keep_their_order() -> None:
    with engine_named("local", workers=2) as engine:
        assert isinstance(engine, LocalEngine) and engine.workers == 2
        assert engine.map(pid, []) == []  # no items: no pool started
        squares = engine.map(abs, [-3, 2, -1, 0, -5])
        assert squares == [3, 2, 1, 0, 5]
        assert os.getpid() not in set(engine.map(pid, range(4)))
        share = str(max(1, (os.cpu_count() or 1) // 2))
        assert set(engine.map(threads, range(2))) == {share}  # two workers split the cores
    with engine_named("local", workers=1) as engine:
        assert set(engine.map(pid, range(3))) == {os.getpid()}  # one worker: this process


def test_an_error_in_a_worker_is_raised_by_map() -> None:
    with engine_named("local", workers=2) as engine, pytest.raises(ValueError, match="'x'"):
        engine.map(int, ["1", "x", "3"])


def test_unknown_engines_are_spec_errors_with_a_suggestion() -> None:
    assert "local" in ENGINES
    with pytest.raises(SpecError, match="unknown engine 'lcal'"):
        engine_named("lcal")
    with pytest.raises(SpecError, match=r"engine.name: unknown engine \(did you mean 'local'\?\)"):
        parse_spec(mroz_spec(engine={"name": "lcal"}))
    with pytest.raises(SpecError, match=r"engine\.workers: Input should be greater than or equal"):
        parse_spec(mroz_spec(engine={"workers": 0}))


def _train(tmp_path: Path, **overrides: object):  # type: ignore[no-untyped-def]
    registry = Registry(path=tmp_path / ".mlfactory")
    return train(parse_spec(mroz_spec(**overrides)), registry=registry, progress=False)


def test_a_search_on_two_workers_runs_every_trial_and_repeats_itself(tmp_path: Path) -> None:
    spec = {"engine": {"workers": 2}, "search": {"trials": 5, "seed": 7}}
    first = _train(tmp_path / "a", **spec)
    again = _train(tmp_path / "b", **spec)
    (row,) = first.candidates
    assert row["trials"] == 5 and row["pruned"] == 0 and row["failed"] == 0
    assert first.evaluation.metrics == again.evaluation.metrics  # seeded batches: same study
    assert first.evaluation.metrics["roc_auc"] > first.baseline.metrics["roc_auc"]


def test_trials_that_fail_in_a_worker_are_counted_and_the_rest_kept(tmp_path: Path) -> None:
    models = [
        {
            "name": "lightgbm",
            "params": {"n_estimators": 40},
            "search": {"boosting_type": {"choices": ["gbdt", "nonsense"]}},
        }
    ]
    result = _train(tmp_path, models=models, engine={"workers": 2}, search={"trials": 6, "seed": 3})
    (row,) = result.candidates
    assert row["failed"] > 0 and row["trials"] + row["failed"] == 6
    assert result.model == "lightgbm"


def test_an_address_for_the_local_engine_is_refused_naming_the_cluster_engines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SpecError, match=r"takes no address .*choose ray, spark or dask"):
        engine_named("local", address="tcp://127.0.0.1:8786")
    with pytest.raises(SpecError, match=r"engine: .*address is for a ray, spark or dask cluster"):
        parse_spec(mroz_spec(engine={"address": "tcp://127.0.0.1:8786"}))
    args = ["batch", "m@champion", "--input", "in.csv", "--output", "out"]
    assert main([*args, "--engine-address", "tcp://127.0.0.1:8786"]) == 2
    said = capsys.readouterr().err
    assert "takes no address" in said and "Traceback" not in said


def test_a_process_given_one_core_runs_one_worker_of_one_thread() -> None:
    import subprocess
    import sys

    probe = (  # pinned to one core, as a container or `taskset -c 0` would do
        "import os; os.sched_setaffinity(0, {0});"
        "from mlfactory.engines import engine_named, ENGINES;"
        "e = ENGINES['local'].create(); print(e.workers, e.task_threads());"
        "print(engine_named('local', workers=1).task_threads())"
    )
    said = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert said.returncode == 0, said.stderr
    assert said.stdout.split() == ["1", "1", "1"]  # not os.cpu_count()'s whole machine
    if (os.cpu_count() or 1) > 1:  # unpinned, the same process takes every core
        assert engine_named("local", workers=1).task_threads() == os.cpu_count()
