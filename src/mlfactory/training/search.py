"""Hyperparameter search: one seeded Optuna TPE study per candidate model.

The study is driven by ask and tell: it proposes parameters, ``run_trial``
(a pure function of a picklable ``Trial``) fits and scores them, and the study
is told the result. By default the trials run one after another in this
process, where LightGBM reports its validation metric every few rounds so the
median pruner can stop hopeless trials; with ``engine: {workers: N}`` the same
loop hands batches of N trials to the engine (``mlfactory.engines``).
The fitted estimator of the best trial is kept; nothing is refit.

Trial 0 of every candidate is its library defaults: the estimator as the catalog
builds it with the spec's fixed ``params`` and nothing sampled, so a search keeps
a tuned model only when it beats the defaults on validation (a tie keeps the
defaults). The study hears of it as a trial whose parameters are the searched
ones whose default lies inside their range (LightGBM's ``reg_lambda`` of 0 lies
outside its log range and is left out: the study is never told a point that was
not tried). The sampler is multivariate TPE with ``group``, so parameters are
sampled jointly, and a trial 0 with fewer parameters splits the space into
groups instead of sending the rest back to independent sampling.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.errors import SpecError
from mlfactory.metrics import METRICS
from mlfactory.models import CatalogEntry, SearchRange
from mlfactory.training.events import OnEvent, SearchFinished, SearchStarted, TrialFinished
from mlfactory.training.matrices import Matrices, adopt
from mlfactory.training.trial import Pruned, Report, Trial, TrialResult, run_trial

if TYPE_CHECKING:
    from mlfactory.engines import Engine, Shared
    from mlfactory.spec import FactorySpec
    from mlfactory.tasks import Task
    from mlfactory.training.matrices import MatrixRef
    from mlfactory.training.prepare import Encoded, Prepared

__all__ = [
    "DEFAULTS_TRIAL",
    "Candidate",
    "Searched",
    "interruptible",
    "new_study",
    "search_candidate",
    "search_models",
]

DEFAULTS_TRIAL = 0  # the number of every candidate's library-defaults trial


@dataclass
class Candidate:
    """The best estimator found for one catalog entry."""

    name: str
    estimator: Any
    params: dict[str, Any]
    validation_score: float
    trials: int = 0  # completed
    pruned: int = 0
    failed: int = 0
    best_trial: int | None = None  # the kept trial's number; DEFAULTS_TRIAL: the library defaults


def _kind(r: SearchRange, default: SearchRange | None) -> str:
    """``choices``, ``int`` or ``float``: a spec range without a type takes the catalog's."""
    if r.choices is not None:
        return "choices"
    return r.type or (default.type if default is not None and default.type else None) or "float"


def _suggest(trial: Any, name: str, r: SearchRange, kind: str) -> Any:
    if kind == "choices":
        return trial.suggest_categorical(name, r.choices)
    if kind == "int":
        return trial.suggest_int(name, int(r.low or 0), int(r.high or 0), log=r.log)
    return trial.suggest_float(name, float(r.low or 0), float(r.high or 0), log=r.log)


def _inside(value: Any, r: SearchRange, kind: str) -> Any | None:
    """``value`` as the study would hold it when it lies in the range, else None."""
    if kind == "choices":
        found = [c for c in r.choices or () if type(c) is type(value) and c == value]
        return found[0] if found else None
    if isinstance(value, bool) or not isinstance(value, Real):
        return None
    number = float(value)
    if not (math.isfinite(number) and r.low is not None and r.high is not None):
        return None
    if not r.low <= number <= r.high:
        return None
    if kind == "int":
        return int(value) if isinstance(value, Integral) else None
    return number


def _library_defaults(
    estimator: Any, ranges: dict[str, SearchRange], kinds: dict[str, str]
) -> dict[str, Any]:
    """The searched parameters whose default (in the unfitted estimator) lies in their range."""
    current = estimator.get_params() if hasattr(estimator, "get_params") else {}
    inside = {k: _inside(current[k], r, kinds[k]) for k, r in ranges.items() if k in current}
    return {k: v for k, v in inside.items() if v is not None}


def new_study(*, maximize: bool, seed: int) -> Any:
    """A seeded study: multivariate TPE (grouped) and the median pruner."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        # ``group`` is marked experimental (so was ``multivariate`` before Optuna 4):
        # its warning is about Optuna's API, not the user's spec, and must not reach
        # the CLI. Only this construction is silenced.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    return optuna.create_study(
        direction="maximize" if maximize else "minimize",
        sampler=sampler,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=50),
    )


@contextlib.contextmanager
def interruptible() -> Iterator[Callable[[], None]]:
    """A check that raises ``KeyboardInterrupt`` once Ctrl-C (SIGINT) has arrived.

    Python swallows a ``KeyboardInterrupt`` raised inside a finalizer, and a
    search frees a model's native objects in finalizers all the time: an
    interrupt landing there only prints "Exception ignored". The search calls the
    check after every trial, so one Ctrl-C still stops it. Only in the main thread,
    and only when SIGINT has Python's default handler.
    """
    received = threading.Event()

    def check() -> None:
        if received.is_set():
            raise KeyboardInterrupt

    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield check
        return

    def handler(signum: int, frame: Any) -> None:
        received.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)


def search_candidate(
    entry: CatalogEntry,
    *,
    task: Task,
    params: dict[str, Any],
    space: dict[str, Any] | None,
    data: MatrixRef,
    categorical: list[int],
    metric: str,
    n_classes: int | None,
    trials: int,
    timeout: float | None,
    seed: int,
    where: str,
    on_trial: Callable[[Candidate, str], None] = lambda c, state: None,
    engine: Engine | None = None,
) -> Candidate:
    """Run the study for one catalog entry and return its best fitted estimator.

    Trial 0 is the library defaults (see the module's docstring); the other
    ``trials - 1`` are sampled. ``where`` is the spec path of the model entry (for
    error messages); ``on_trial`` hears of every trial: the candidate so far and
    the trial's state. With an ``engine`` of more than one worker, trials are
    asked for in batches of ``workers``, run there to the end (no pruning: the
    pruner lives in this process) and told in order, so the study is the same
    object whatever runs the trials.
    """
    import optuna

    m = METRICS[metric]
    catalog_space = entry.space(task, categorical=bool(categorical))
    searched = catalog_space if space is None else space
    ranges = {k: r for k, r in searched.items() if k not in params}  # fixed params win
    kinds = {k: _kind(r, catalog_space.get(k)) for k, r in ranges.items()}
    best = Candidate(entry.name, None, {}, float("nan"))
    errors: list[str] = []

    def trial_of(merged: dict[str, Any], number: int) -> Trial:
        return Trial(
            model=entry.name,
            task=task.name,
            params=merged,
            seed=seed,
            metric=metric,
            n_classes=n_classes,
            categorical=tuple(categorical),
            data=data,
            number=number,
        )

    def better(value: float) -> bool:
        if np.isnan(best.validation_score):
            return not np.isnan(value)
        return (
            value > best.validation_score
            if m.greater_is_better
            else (value < best.validation_score)
        )

    def keep(merged: dict[str, Any], result: TrialResult, number: int) -> None:
        if better(result.score):  # strictly: a tie keeps the earlier trial, the defaults first
            best.estimator, best.params = result.estimator, merged
            best.validation_score, best.best_trial = result.score, number
        best.trials += 1
        on_trial(best, "complete")

    if not ranges or trials <= 0:  # nothing to search: the library defaults alone
        try:
            result = run_trial(trial_of(dict(params), DEFAULTS_TRIAL))
        except Exception as exc:
            raise SpecError(f"{where}: {entry.name} failed to train: {exc}") from None
        keep(dict(params), result, DEFAULTS_TRIAL)
        return best

    study = new_study(maximize=m.greater_is_better, seed=seed)
    try:
        unfitted = entry.build(task, dict(params), seed, list(categorical))
    except Exception:  # bad fixed params: trial 0 fails below like any trial, and says why
        unfitted = None
    told = _library_defaults(unfitted, ranges, kinds)
    study.enqueue_trial(told, user_attrs={"library_defaults": True})
    deadline = None if timeout is None else time.monotonic() + timeout

    def propose() -> tuple[Any, dict[str, Any]]:
        """The study's next trial and the parameters the estimator gets."""
        asked = study.ask()
        if asked.number == DEFAULTS_TRIAL:
            # the study records the defaults it can place; the estimator gets none of them
            for k in told:
                _suggest(asked, k, ranges[k], kinds[k])
            return asked, dict(params)
        sampled = {k: _suggest(asked, k, r, kinds[k]) for k, r in ranges.items()}
        return asked, {**params, **sampled}

    def failed(asked: Any, exc: BaseException | str) -> None:
        best.failed += 1
        errors.append(exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}")
        study.tell(asked, state=optuna.trial.TrialState.FAIL)
        on_trial(best, "failed")

    shipped: Shared | None = None  # the matrices, sent to the engine's workers once
    with interruptible() as stop_if_interrupted:
        left = trials
        while left > 0 and (deadline is None or time.monotonic() < deadline):
            if engine is not None and engine.workers > 1:  # a batch at once, run to the end
                batch = [propose() for _ in range(min(engine.workers, left))]
                shipped = shipped or engine.share(data.load())
                outcomes = engine.map(_outcome, [trial_of(m, a.number) for a, m in batch], shipped)
                for (asked, merged), outcome in zip(batch, outcomes, strict=True):
                    if isinstance(outcome, str):
                        failed(asked, outcome)
                    else:
                        study.tell(asked, outcome.score)
                        keep(merged, outcome, asked.number)
                left -= len(batch)
                stop_if_interrupted()
                continue
            asked, merged = propose()
            report = _pruner(asked, may_prune=asked.number != DEFAULTS_TRIAL)
            try:
                result = run_trial(trial_of(merged, asked.number), report)
            except Pruned:
                best.pruned += 1
                study.tell(asked, state=optuna.trial.TrialState.PRUNED)
                on_trial(best, "pruned")
            except Exception as exc:
                failed(asked, exc)
            else:
                study.tell(asked, result.score)
                keep(merged, result, asked.number)
            left -= 1
            stop_if_interrupted()
    if best.estimator is None:
        detail = errors[0] if errors else "every trial was pruned"
        raise SpecError(
            f"{where}: no trial of {entry.name} trained ({detail}); check its params and search."
        )
    return best


def _outcome(trial: Trial, data: Matrices) -> TrialResult | str:
    """``run_trial`` for an engine's worker: the result, or why the trial failed.

    ``data`` is the trial's matrices as the engine shipped them (a cluster's
    workers need not see this machine's temporary folder).
    """
    adopt(trial.data, data)
    try:
        return run_trial(trial)
    except Exception as exc:  # the study records it as failed, like a trial run here
        return f"{type(exc).__name__}: {exc}"


def _pruner(trial: Any, *, may_prune: bool) -> Report:
    """``report`` for a trial run here: the study's median pruner decides.

    The library defaults are never pruned; their rounds still inform the pruner.
    """

    def report(step: int, value: float) -> bool:
        trial.report(value, step=step)
        return may_prune and bool(trial.should_prune())

    return report


@dataclass(frozen=True)
class Searched:
    """Every candidate's best trial, the best of them, and the fitted dummy baseline."""

    candidates: list[Candidate]
    best: Candidate
    baseline: Any


def search_models(
    spec: FactorySpec, prepared: Prepared, encoded: Encoded, on_event: OnEvent
) -> Searched:
    """The search step: a study per candidate in the spec, then the dummy baseline."""
    from mlfactory.models import CATALOG

    task, metric = prepared.task, prepared.metric
    total = sum(
        spec.search.trials if (m.search is None and CATALOG[m.name].space(task)) or m.search else 1
        for m in spec.models
    )
    on_event(SearchStarted(total))
    candidates = []
    shared = spec.anomaly.params() if spec.anomaly is not None else {}  # every detector's
    engine = spec.engine.start()
    with engine:
        for index, model_spec in enumerate(spec.models):
            entry = CATALOG[model_spec.name]

            def on_trial(c: Candidate, state: str, name: str = entry.name) -> None:
                on_event(TrialFinished(name, state, metric, c.validation_score))

            candidates.append(
                search_candidate(
                    entry,
                    task=task,
                    params={**shared, **model_spec.params},
                    space=model_spec.search,
                    data=encoded.matrices[entry.style],
                    categorical=encoded.categorical,
                    metric=metric,
                    n_classes=prepared.n_classes,
                    trials=spec.search.trials,
                    timeout=spec.search.timeout_seconds,
                    seed=spec.search.seed,
                    where=f"models[{index}]",
                    on_trial=on_trial,
                    engine=engine,
                )
            )
    on_event(SearchFinished())
    m = METRICS[metric]
    ranked = sorted(
        candidates,
        key=lambda c: (np.isnan(c.validation_score), -m.improvement(c.validation_score, 0.0)),
    )
    dummy_entry = CATALOG["dummy"]
    dummy = dummy_entry.build(task, {}, spec.search.seed, encoded.categorical)
    fit = encoded.matrices[dummy_entry.style].load()
    dummy.fit(fit.X_train, fit.y_train)
    return Searched(candidates, ranked[0], dummy)
