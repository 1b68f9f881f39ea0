"""The package step: the chosen model as the one object the rest of mlfactory consumes.

The saved pipeline is the whole model (datetime step, preprocessor, estimator);
the manifest holds the task, schema, metrics with intervals, the reference
profile of the training rows (and of the test predictions) for monitoring, and
the lineage; a seeded sample of training rows goes with it for the multivariate
drift check. Permutation importance on test rows is computed on the package
itself, so it measures what will be served.
"""

from __future__ import annotations

import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.data.profile import profile_frame, profile_values
from mlfactory.metrics import METRICS
from mlfactory.models import CATALOG
from mlfactory.registry import ModelPackage
from mlfactory.registry.manifest import Lineage, Manifest, Scores
from mlfactory.versions import installed_versions

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.spec import FactorySpec
    from mlfactory.training.evaluate import Evaluated
    from mlfactory.training.family import FamilyFit
    from mlfactory.training.prepare import Encoded, Prepared
    from mlfactory.training.search import Searched
    from mlfactory.training.split import Split

__all__ = ["Packaged", "lineage_of", "package_step"]

IMPORTANCE_ROWS = 5000
_LIBRARIES = (
    "mlfactory",
    "scikit-learn",
    "lightgbm",
    "numpy",
    "pandas",
    "optuna",
    "mlflow",
    "skops",
)


@dataclass(frozen=True)
class Packaged:
    """The package, and what the report and the registration need besides it."""

    package: ModelPackage
    lineage: dict[str, Any]
    importance: dict[str, float]
    candidates: list[dict[str, Any]]  # one row per candidate model: its search, for the report
    test_rows: pd.DataFrame  # the raw test rows (the champion is compared on them)
    y_test: Any


def package_step(
    spec: FactorySpec,
    prepared: Prepared,
    split: Split,
    encoded: Encoded,
    searched: Searched,
    evaluated: Evaluated,
    *,
    spec_folder: Path,
    family: FamilyFit | None = None,
) -> Packaged:
    """Build the model package of the best candidate (with ``family``: the global model,
    and each group's own model)."""
    from sklearn.pipeline import Pipeline

    data, schema, task, best = prepared.data, prepared.schema, prepared.task, searched.best
    seed, evaluation = spec.search.seed, evaluated.evaluation
    preprocess = encoded.preprocessors[CATALOG[best.name].style]

    def whole(estimator: Any) -> Pipeline:
        return Pipeline(
            [("datetimes", encoded.dates), ("preprocess", preprocess), ("model", estimator)]
        )

    pipeline = whole(best.estimator)
    members = {f: whole(e) for f, e in family.estimators.items()} if family is not None else {}
    lineage = lineage_of(
        spec,
        prepared.fingerprint,
        spec_folder,
        rows={
            "read": data.rows_read,
            "dropped_missing_target": data.dropped_missing_target,
            "train": len(split.train),
            "validation": len(split.validation),
            "test": len(split.test),
        },
        split={
            "method": split.method,
            "boundaries": split.boundaries,
            "refit": spec.refit,
            **(
                {"group_column": spec.split.group_column, "groups": split.groups}
                if split.groups
                else {}
            ),
        },
    )
    train_rows = data.X.iloc[split.train]
    profile = profile_frame(train_rows, schema)
    # what monitoring compares later: the value, the positive probability or the class name
    values, kind = task.prediction_values(evaluation.pred, evaluation.proba, schema.classes)
    profile["prediction"] = profile_values(values, kind)
    manifest = Manifest(
        name=spec.name,
        task=task.name,
        model=best.name,
        params=best.params,
        metric=prepared.metric,
        input_schema=schema,
        metrics=Scores.model_validate(evaluation.to_dict()),
        baseline_metrics=evaluated.baseline.metrics,
        profile=profile,
        id_column=spec.data.columns.id_column,
        threshold=evaluated.threshold,
        lineage=Lineage.model_validate(lineage),
        family=None if family is None else family.family,
    )
    keep = min(spec.monitoring.reference_rows, len(train_rows))
    reference = train_rows.sample(n=keep, random_state=seed) if keep else None
    named = {
        column: values
        for column, values in (
            (spec.data.columns.id_column, data.ids),
            (spec.split.group_column, data.groups),
        )
        if column is not None and values is not None
    }
    rows = split.table(data.positions, named)
    package = ModelPackage(
        manifest=manifest, pipeline=pipeline, reference=reference, split=rows, members=members
    )
    test_rows, y_test = data.X.iloc[split.test], data.y[split.test]
    candidates = [
        {
            "name": c.name,
            "validation_score": c.validation_score,
            "trials": c.trials,
            "pruned": c.pruned,
            "failed": c.failed,
            "best_trial": c.best_trial,  # 0: the library defaults won
            "params": c.params,
        }
        for c in searched.candidates
    ]
    importance = _permutation_importance(package, test_rows, y_test, prepared.metric, seed)
    return Packaged(package, lineage, importance, candidates, test_rows, y_test)


def lineage_of(
    spec: FactorySpec,
    fingerprint: str,
    spec_folder: Path,
    *,
    rows: dict[str, int],
    split: dict[str, Any],
    libraries: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Where a model came from (``Manifest.lineage``): data, spec, code, seed, libraries
    (``_LIBRARIES`` and ``libraries``), rows and split."""
    return {
        "data_fingerprint": fingerprint,
        "spec_sha256": spec.digest(),
        "git_commit": _git_commit(spec_folder),
        "seed": spec.search.seed,
        "packages": _versions(libraries),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rows,
        "split": split,
    }


def _versions(more: tuple[str, ...] = ()) -> dict[str, str]:
    return {"python": platform.python_version(), **installed_versions((*_LIBRARIES, *more))}


def _git_commit(folder: Path) -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _permutation_importance(
    package: ModelPackage, X: pd.DataFrame, y: Any, metric: str, seed: int
) -> dict[str, float]:
    """Drop in the primary metric when one input column is shuffled (on test rows).

    A metric that compares refits (stability) cannot be recomputed on a package;
    there, a column's importance is how many of the rows the model flags (decides
    1 for) change when it is shuffled: 1 - the Jaccard agreement of the flagged sets.
    """
    m = METRICS[metric]
    rng = np.random.default_rng(seed)
    if len(X) > IMPORTANCE_ROWS:
        keep = rng.choice(len(X), IMPORTANCE_ROWS, replace=False)
        X, y = X.iloc[keep], y[keep]
    base_pred, base_proba = package.predict_encoded(X)
    base = None if m.refits else m.score(y, base_pred, base_proba)
    out: dict[str, float] = {}
    for column in X.columns:
        shuffled = X.copy()
        shuffled[column] = rng.permutation(shuffled[column].to_numpy())
        pred, proba = package.predict_encoded(shuffled)
        if base is None:
            either = int(((base_pred == 1) | (pred == 1)).sum())
            both = int(((base_pred == 1) & (pred == 1)).sum())
            out[column] = 1.0 - both / either if either else 0.0
        else:
            out[column] = m.improvement(base, m.score(y, pred, proba))
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
