"""Training as steps: picklable trials, progress as events, the skops file as the whole model."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.training import train
from mlfactory.training.events import SearchFinished, SearchStarted, Step, TrialFinished
from mlfactory.training.prepare import encode, prepare
from mlfactory.training.split import split_rows
from mlfactory.training.trial import Trial, run_trial

from conftest import mroz_spec


@pytest.fixture
def trial(tmp_path: Path) -> Trial:
    spec = parse_spec(mroz_spec())
    prepared = prepare(spec)
    split = split_rows(
        prepared.data.y, task=prepared.task, test_size=0.2, validation_size=0.2, seed=7
    )
    encoded = encode(prepared, split, {"native"}, tmp_path / "matrices")
    return Trial(
        model="lightgbm",
        task=prepared.task.name,
        params={"n_estimators": 60, "num_leaves": 15, "n_jobs": 1},
        seed=7,
        metric="roc_auc",
        n_classes=prepared.n_classes,
        categorical=tuple(encoded.categorical),
        data=encoded.matrices["native"],
    )


def test_a_trial_is_picklable_and_scores_the_same_in_another_process(trial: Trial) -> None:
    here = run_trial(trial)
    assert pickle.loads(pickle.dumps(trial)) == trial
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing shared
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        there = pool.submit(run_trial, trial).result(timeout=120)
    assert 0.5 < here.score <= 1 and there.score == here.score
    X = trial.data.load().X_test
    assert np.array_equal(there.estimator.predict_proba(X), here.estimator.predict_proba(X))


def test_progress_is_a_stream_of_events(tmp_path: Path) -> None:
    events: list[Any] = []
    spec = parse_spec(mroz_spec(search={"trials": 3}))
    result = train(spec, registry=Registry(path=tmp_path / ".mlfactory"), on_event=events.append)
    steps = [e.name for e in events if isinstance(e, Step)]
    assert steps == ["prepare", "prepare", "split", "evaluate", "register", "report"]
    assert events[1].message == "positive class: 'yes' (data.positive_class; 56.8% of rows)"
    (started,) = [e for e in events if isinstance(e, SearchStarted)]
    trials = [e for e in events if isinstance(e, TrialFinished)]
    assert started.trials == len(trials) == 3 and {t.model for t in trials} == {"lightgbm"}
    assert isinstance(events[events.index(started) + len(trials) + 1], SearchFinished)
    assert trials[-1].best == pytest.approx(result.candidates[0]["validation_score"])


def test_the_skops_file_alone_is_the_whole_model(tmp_path: Path) -> None:
    """A pipeline loaded from pipeline.skops alone takes the rows, datetime columns and all."""
    import skops.io as sio

    from mlfactory.registry.safeload import stored_types

    dates = pd.date_range("2021-01-01", periods=753, freq="7h")
    frame = pd.read_csv(Path(__file__).parent / "mroz_rows.csv").sample(753, replace=True)
    frame = frame.assign(lfp=np.where(np.arange(753) % 3, "yes", "no"), when=dates)
    frame.to_parquet(tmp_path / "dated.parquet", index=False)
    spec = mroz_spec(data={"source": str(tmp_path / "dated.parquet"), "target": "lfp"})
    spec["gates"] = {"min": {}, "beat_baseline": False}
    registry = Registry(path=tmp_path / ".mlfactory")
    train(parse_spec(spec), registry=registry, progress=False)
    package, info = registry.load("mroz@champion")
    assert [name for name, _ in package.pipeline.steps] == ["datetimes", "preprocess", "model"]
    skops_file = next(registry.path.rglob(f"{info.run_id}/**/pipeline.skops"))
    data = skops_file.read_bytes()
    pipeline = sio.loads(data, trusted=sorted(stored_types(data)))
    rows = package.schema.conform(frame.head(20))
    assert np.array_equal(pipeline.predict_proba(rows), package.predict_encoded(rows)[1])
