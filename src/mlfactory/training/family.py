"""Per-group training (``group_by``): one model per group, registered as one model family.

The search gives the global model, which is also the fallback. Then, in order:

    groups    each group of rows (its values in the group columns), with its rows
              in each part; every group in the data is listed, most rows first
    eligible  at least ``min_rows`` rows in the training part and in the
              validation part, and for a classifier two classes in each; the
              others use the global model, each with the reason
    fit       the winning candidate's configuration (model and best parameters)
              on the group's training rows, LightGBM stopping early on the group's
              validation rows as the search does; a picklable ``MemberJob`` per
              group, mapped over ``spec.engine`` (``fit_member``)
    keep      a group keeps its own model only where it beats the global model
              (the search's, before any refit) on the group's validation rows;
              else the global model scores it, and the reason says so
    refit     with ``refit: true`` a kept model is refitted on the group's train +
              validation rows, keeping its rounds, as the global model is

``evaluate_family`` then scores the family on the test rows (each row by its
group's model) beside the global model alone on the same rows, with the paired
bootstrap, and fills in each group's test metric. The family's metrics are the
ones the gates and the champion comparison use. The decision threshold of a
binary model is the global model's, applied by every member.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.metrics import METRICS, Metric, paired_bootstrap
from mlfactory.registry.family import GLOBAL, combine, group_keys
from mlfactory.registry.manifest import Family, FamilyComparison, Member
from mlfactory.tasks import task_named
from mlfactory.training.evaluate import Evaluated, evaluate_with
from mlfactory.training.events import Step
from mlfactory.training.matrices import Matrices, RowsRef, adopt
from mlfactory.training.refit import refit
from mlfactory.training.trial import Trial, run_trial

if TYPE_CHECKING:
    from mlfactory.registry.manifest import DecisionThreshold
    from mlfactory.spec import FactorySpec
    from mlfactory.training.events import OnEvent
    from mlfactory.training.prepare import Encoded, Prepared
    from mlfactory.training.search import Searched
    from mlfactory.training.split import Split

__all__ = ["FamilyFit", "MemberFit", "MemberJob", "evaluate_family", "fit_family", "fit_member"]

PARTS = ("train", "validation", "test")
Positions = np.ndarray[Any, np.dtype[np.intp]]
_NONE: Positions = np.empty(0, dtype=np.intp)  # a fit reads no test row


@dataclass(frozen=True)
class MemberJob:
    """One group's fit, picklable: the winner's configuration on the group's rows."""

    trial: Trial  # its data is a RowsRef: the group's rows of the winner's style
    refit: bool  # refit on train + validation after scoring the validation rows
    threshold: float | None  # the family's decision threshold


@dataclass(frozen=True)
class MemberFit:
    """A group's model and its validation predictions (made before any refit)."""

    estimator: Any
    pred: Any
    proba: Any | None


def fit_member(job: MemberJob, data: Matrices | None = None) -> MemberFit | str:
    """Fit one group's model (an engine's worker runs this); the reason it failed otherwise.

    ``data`` is the style's whole matrices as the engine shipped them.
    """
    trial = job.trial
    if data is not None:
        adopt(trial.data, data)
    try:
        task = task_named(trial.task)
        fitted = run_trial(trial).estimator
        data = trial.data.load()
        pred, proba = task.predict(fitted, data.X_val, trial.n_classes, job.threshold)
        estimator = fitted
        if job.refit:
            estimator, _ = refit(
                trial.model,
                fitted,
                trial.params,
                task=task,
                seed=trial.seed,
                categorical=trial.categorical,
                X=np.concatenate([data.X_train, data.X_val]),
                y=np.concatenate([data.y_train, data.y_val]),
            )
        return MemberFit(estimator, pred, proba)
    except Exception as exc:  # the group uses the global model, with this reason
        return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class FamilyFit:
    """The family as trained: the record (test metrics filled in by ``evaluate_family``),
    each own model by its file, and each member's rows in each part."""

    family: Family
    estimators: dict[str, Any]  # file -> fitted estimator
    rows: list[dict[str, Positions]]  # per member: part -> its positions in that part

    def assignment(self, part: str, size: int) -> Positions:
        """Which member scores each row of ``part`` (``GLOBAL``: the global model)."""
        routed = np.full(size, GLOBAL, dtype=np.intp)
        for index, (member, rows) in enumerate(zip(self.family.members, self.rows, strict=True)):
            if member.file is not None:
                routed[rows[part]] = index
        return routed


def fit_family(
    spec: FactorySpec,
    prepared: Prepared,
    split: Split,
    encoded: Encoded,
    searched: Searched,
    threshold: DecisionThreshold | None,
    on_event: OnEvent,
) -> FamilyFit:
    """The groups, their models fitted through the engine, and which ones are kept."""
    from mlfactory.models import CATALOG

    assert spec.group_by is not None
    columns, min_rows = spec.group_by.columns, spec.group_by.min_rows
    task, best = prepared.task, searched.best
    at = None if threshold is None else threshold.value
    ref = encoded.matrices[CATALOG[best.name].style]
    m = ref.load()
    y = {"train": m.y_train, "validation": m.y_val, "test": m.y_test}
    members, rows = _groups(prepared, split, columns)
    jobs: list[tuple[int, MemberJob]] = []
    for index, member in enumerate(members):
        counts = member.rows
        if counts["train"] < min_rows or counts["validation"] < min_rows:
            reason = (
                f"too few rows: {counts['train']:,} training and {counts['validation']:,} "
                f"validation (min_rows {min_rows:,} in each)"
            )
        elif single := _single_class(prepared, y, rows[index]):
            reason = f"one class: its {single} rows hold a single class"
        else:
            part = rows[index]
            trial = Trial(
                model=best.name,
                task=task.name,
                params=dict(best.params),
                seed=spec.search.seed,
                metric=prepared.metric,
                n_classes=prepared.n_classes,
                categorical=tuple(encoded.categorical),
                data=RowsRef(ref.folder, part["train"], part["validation"], _NONE),
            )
            jobs.append((index, MemberJob(trial, spec.refit, at)))
            continue
        members[index] = member.model_copy(update={"reason": reason})
    on_event(
        Step(
            "family",
            f"fitting {best.name} on {len(jobs):,} of {len(members):,} groups of "
            f"{', '.join(columns)}",
        )
    )
    with spec.engine.start() as engine:  # the matrices go to the workers once
        shared = engine.share(m) if jobs else None
        outcomes = engine.map(fit_member, [job for _, job in jobs], shared)
    versus = task.predict(best.estimator, m.X_val, prepared.n_classes, at)  # before any refit
    estimators: dict[str, Any] = {}
    for (index, _), outcome in zip(jobs, outcomes, strict=True):
        val = rows[index]["validation"]
        kept, update = _keep(METRICS[prepared.metric], y["validation"][val], outcome, versus, val)
        if kept is not None:
            update["file"] = f"family/{index}.skops"
            estimators[update["file"]] = kept
        members[index] = members[index].model_copy(update=update)
    family = Family(columns=list(columns), min_rows=min_rows, members=members, global_metrics={})
    return FamilyFit(family, estimators, rows)


def _single_class(prepared: Prepared, y: dict[str, Any], rows: dict[str, Positions]) -> str | None:
    """For a classifier: the part ("training", "validation") whose rows hold one class."""
    if prepared.n_classes is None:
        return None
    if len(np.unique(y["train"][rows["train"]])) < 2:
        return "training"
    if len(np.unique(y["validation"][rows["validation"]])) < 2:
        return "validation"
    return None


def _groups(
    prepared: Prepared, split: Split, columns: list[str]
) -> tuple[list[Member], list[dict[str, Positions]]]:
    """Every group in the rows, most rows first, and its positions in each part."""
    import pandas as pd

    frame = prepared.data.X
    codes, keys = pd.factorize(group_keys(frame, columns))  # -1: a missing group value
    texts = [group_keys(frame, [c]).to_numpy(dtype=object) for c in columns]
    seen, first = np.unique(codes, return_index=True)
    first = first[seen >= 0]  # each group's first row (code -1: no group)
    by_part = {}
    for part, positions in zip(PARTS, (split.train, split.validation, split.test), strict=True):
        part_codes = codes[positions]
        order = np.argsort(part_codes, kind="stable")  # positions of each code, ascending
        edges = np.searchsorted(part_codes[order], np.arange(len(keys) + 1))
        by_part[part] = [order[edges[k] : edges[k + 1]] for k in range(len(keys))]
    total = np.bincount(codes[codes >= 0], minlength=len(keys))
    members, rows = [], []
    for k in sorted(range(len(keys)), key=lambda k: (-int(total[k]), str(keys[k]))):
        found = {part: by_part[part][k].astype(np.intp) for part in PARTS}
        values = [str(t[first[k]]) for t in texts]
        counted = {part: len(p) for part, p in found.items()}
        members.append(Member(values=values, reason="", rows=counted))
        rows.append(found)
    return members, rows


def _keep(
    metric: Metric,
    y: Any,
    outcome: MemberFit | str,
    versus: tuple[Any, Any | None],
    rows: Positions,
) -> tuple[Any | None, dict[str, Any]]:
    """The group's model if it beats the global one on the group's validation rows, and
    what the member records (its reason, the scores)."""
    if isinstance(outcome, str):
        return None, {"reason": f"fit failed: {outcome}"}
    own = metric.score(y, outcome.pred, outcome.proba)
    other = metric.score(y, versus[0][rows], None if versus[1] is None else versus[1][rows])
    scores = {"own": own, "global": other}
    on = f"on {len(rows):,} validation rows"
    if np.isnan(own) or np.isnan(other):
        return None, {"validation": scores, "reason": f"undefined: {metric.name} {on}"}
    if metric.improvement(own, other) > 0:
        reason = f"own model: {metric.name} {own:.4f} vs {other:.4f} (global) {on}"
        return outcome.estimator, {"validation": scores, "reason": reason}
    reason = f"not better: {metric.name} {own:.4f} (own) vs {other:.4f} (global) {on}"
    return None, {"validation": scores, "reason": reason}


def evaluate_family(
    spec: FactorySpec,
    prepared: Prepared,
    encoded: Encoded,
    searched: Searched,
    fitted: FamilyFit,
    evaluated: Evaluated,
) -> tuple[FamilyFit, Evaluated]:
    """The family on the test rows (each by its group's model) beside the global model
    alone, and each group's test metric; the family's evaluation replaces the global one."""
    from mlfactory.models import CATALOG

    task, n_classes, best = prepared.task, prepared.n_classes, searched.best
    at = None if evaluated.threshold is None else evaluated.threshold.value
    m = encoded.matrices[CATALOG[best.name].style].load()
    matrices = {"test": m.X_test, "train": m.X_train}
    members = fitted.family.members
    routes = {part: fitted.assignment(part, len(X)) for part, X in matrices.items()}

    def predict(part: str, rows: Any | None) -> tuple[Any, Any | None]:
        X, routed = matrices[part], routes[part]
        if rows is not None:
            X, routed = X[rows], routed[rows]

        def by_member(member: int, at_rows: Any) -> tuple[Any, Any | None]:
            file = None if member == GLOBAL else members[member].file
            estimator = best.estimator if file is None else fitted.estimators[file]
            part_X = X if len(at_rows) == len(X) else X[at_rows]
            return task.predict(estimator, part_X, n_classes, at)

        return combine(routed, by_member)

    rounds, seed = spec.evaluation.bootstrap, spec.search.seed
    family = evaluate_with(
        predict,
        task=task,
        n_classes=n_classes,
        y_test=m.y_test,
        y_train=m.y_train,
        rounds=rounds,
        seed=seed,
    )
    alone = evaluated.evaluation
    metric = METRICS[prepared.metric]
    vs = paired_bootstrap(
        metric,
        m.y_test,
        (family.pred, family.proba),
        (alone.pred, alone.proba),
        rounds=rounds,
        seed=seed,
    )
    scored = []
    for member, rows in zip(members, fitted.rows, strict=True):
        test = rows["test"]
        if len(test):
            y = m.y_test[test]
            member = member.model_copy(
                update={
                    "test": {
                        "family": metric.score(y, family.pred[test], _at(family.proba, test)),
                        "global": metric.score(y, alone.pred[test], _at(alone.proba, test)),
                    }
                }
            )
        scored.append(member)
    comparison = FamilyComparison(
        metric=vs.metric,
        family=vs.new,
        global_=vs.old,
        improvement=vs.improvement,
        low=vs.low,
        high=vs.high,
    )
    record = fitted.family.model_copy(
        update={"members": scored, "global_metrics": alone.metrics, "comparison": comparison}
    )
    return (
        dataclasses.replace(fitted, family=record),
        dataclasses.replace(evaluated, evaluation=family),
    )


def _at(proba: Any | None, rows: Positions) -> Any | None:
    return None if proba is None else proba[rows]
