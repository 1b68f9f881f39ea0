"""``train``: spec → data → split → search → evaluate → gate → register.

Everything that can fail slowly (data, search, evaluation) happens before the
registry is touched; the run is logged, the version registered and the alias
moved in one short step at the end, under a per-model lock, so a failed or
killed training registers nothing and two trainings of one name on one host
decide in turn. A kill inside that step leaves a state the registry's ledger
recovers; trainings on other hosts are caught when the alias moves (the
champion is read again, and the decision is made again if it changed).
"""

from __future__ import annotations

import platform
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.data import load_frame, prepare_training
from mlfactory.data.profile import profile_frame, profile_values
from mlfactory.errors import BadInputError, MlfactoryError, RegistryError
from mlfactory.features import build_preprocessor, categorical_indices, expand_datetimes
from mlfactory.metrics import METRICS, PairedComparison, paired_bootstrap
from mlfactory.models import CATALOG
from mlfactory.registry import ModelPackage, Registry, VersionInfo
from mlfactory.registry.ledger import StaleChampion
from mlfactory.registry.package import FORMAT
from mlfactory.registry.signing import check_training_keys
from mlfactory.spec import FactorySpec, load_spec
from mlfactory.tasks import task_named
from mlfactory.training.evaluate import Evaluation, evaluate
from mlfactory.training.gates import Check, Decision, decide
from mlfactory.training.report import ReportInputs, write_report
from mlfactory.training.search import Candidate, search_candidate
from mlfactory.training.split import split_rows
from mlfactory.versions import installed_versions

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

__all__ = ["TrainResult", "train"]

IMPORTANCE_ROWS = 5000
_REDECIDE = 10  # decisions against a champion that another host keeps moving
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


@dataclass
class TrainResult:
    """What one training produced and decided."""

    name: str
    version: str
    model: str
    metric: str
    decision: Decision
    evaluation: Evaluation
    baseline: Evaluation
    report_path: Path
    run_id: str
    candidates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def promoted(self) -> bool:
        return self.decision.promoted

    @property
    def exit_code(self) -> int:
        """0 when promoted to champion, 3 when a gate held it back (the CLI's exit code)."""
        return 0 if self.promoted else 3


def _versions() -> dict[str, str]:
    return {"python": platform.python_version(), **installed_versions(_LIBRARIES)}


def _git_commit(folder: Path) -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def data_fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 over the rows and column names: the same data always gives the same value."""
    import hashlib

    import pandas as pd

    sha = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    sha.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return sha.hexdigest()


def _permutation_importance(
    package: ModelPackage, X: pd.DataFrame, y: Any, metric: str, seed: int
) -> dict[str, float]:
    """Drop in the primary metric when one input column is shuffled (on test rows)."""
    m = METRICS[metric]
    rng = np.random.default_rng(seed)
    if len(X) > IMPORTANCE_ROWS:
        keep = rng.choice(len(X), IMPORTANCE_ROWS, replace=False)
        X, y = X.iloc[keep], y[keep]
    base = m.score(y, *package.predict_encoded(X))
    out: dict[str, float] = {}
    for column in X.columns:
        shuffled = X.copy()
        shuffled[column] = rng.permutation(shuffled[column].to_numpy())
        out[column] = m.improvement(base, m.score(y, *package.predict_encoded(shuffled)))
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _console(progress: bool) -> Console:
    from rich.console import Console

    return Console(stderr=True, quiet=not progress, log_path=False)


def train(
    spec: FactorySpec | str | Path,
    *,
    registry: Registry | None = None,
    progress: bool = True,
    tags: dict[str, str] | None = None,
) -> TrainResult:
    """Train, evaluate, gate and register the model a spec describes.

    ``tags`` are added to the registered version (``retrain`` records its trigger).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    spec_folder = Path(spec).parent if isinstance(spec, str | Path) else Path.cwd()
    spec = load_spec(spec) if isinstance(spec, str | Path) else spec
    registry = registry or Registry(
        tracking_uri=spec.registry.tracking_uri, path=spec.registry.path
    )
    registry.ensure_writable(spec.name)
    check_training_keys()  # a bad key, or one the loaders here refuse: fail before training
    console = _console(progress)
    seed = spec.search.seed
    metric = spec.metric

    console.log(f"reading data for [bold]{spec.name}[/]")
    frame = load_frame(spec.data.source, spec.data.sql)
    fingerprint = data_fingerprint(frame)
    task = task_named(spec.task)
    data = prepare_training(frame, spec.data.columns, task)
    del frame
    schema = data.schema
    n_classes = len(schema.classes) if schema.classes is not None else None
    split = split_rows(
        data.y,
        task=task,
        test_size=spec.split.test_size,
        validation_size=spec.split.validation_size,
        seed=seed,
        time=data.time,
    )
    X = expand_datetimes(data.X, schema)
    y = data.y
    console.log(
        f"{data.rows_read:,} rows read, {data.dropped_missing_target:,} dropped (missing target); "
        f"{split.method} split: {len(split.train):,} train, {len(split.validation):,} validation, "
        f"{len(split.test):,} test"
    )

    styles = {CATALOG[m.name].style for m in spec.models} | {CATALOG["dummy"].style}
    encoded: dict[str, tuple[Any, Any, Any, Any]] = {}
    for style in sorted(styles):
        pre = build_preprocessor(schema, style)
        train_matrix = pre.fit_transform(X.iloc[split.train])
        encoded[style] = (
            pre,
            train_matrix,
            pre.transform(X.iloc[split.validation]),
            pre.transform(X.iloc[split.test]),
        )
    categorical = categorical_indices(schema)

    def fit_data(style: str) -> tuple[Any, Any, Any, Any]:
        _, tr, va, _ = encoded[style]
        return (tr, y[split.train], va, y[split.validation])

    candidates: list[Candidate] = []
    total = sum(
        spec.search.trials if (m.search is None and CATALOG[m.name].space(task)) or m.search else 1
        for m in spec.models
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task_id = bar.add_task("search", total=total)
        for index, model_spec in enumerate(spec.models):
            entry = CATALOG[model_spec.name]

            def on_trial(c: Candidate, name: str = entry.name) -> None:
                bar.update(
                    task_id,
                    advance=1,
                    description=f"{name}: best validation {metric} {c.validation_score:.4f}",
                )

            candidates.append(
                search_candidate(
                    entry,
                    task=task,
                    params=model_spec.params,
                    space=model_spec.search,
                    data=fit_data(entry.style),
                    categorical=categorical,
                    metric=metric,
                    n_classes=n_classes,
                    trials=spec.search.trials,
                    timeout=spec.search.timeout_seconds,
                    seed=seed,
                    where=f"models[{index}]",
                    on_trial=on_trial,
                )
            )
        bar.update(task_id, completed=total)

    m = METRICS[metric]
    ranked = sorted(
        candidates,
        key=lambda c: (np.isnan(c.validation_score), -m.improvement(c.validation_score, 0.0)),
    )
    best = ranked[0]
    dummy_entry = CATALOG["dummy"]
    dummy = dummy_entry.build(task, {}, seed, categorical)
    dummy.fit(encoded[dummy_entry.style][1], y[split.train])

    console.log(f"evaluating {best.name} on {len(split.test):,} test rows")
    style = CATALOG[best.name].style

    def evaluation_of(estimator: Any, est_style: str, intervals: bool = True) -> Evaluation:
        _, tr, _, te = encoded[est_style]
        return evaluate(
            estimator,
            task=task,
            n_classes=n_classes,
            test=(te, y[split.test]),
            train=(tr, y[split.train]),
            rounds=spec.evaluation.bootstrap,
            seed=seed,
            intervals=intervals,
        )

    evaluation = evaluation_of(best.estimator, style)
    baseline = evaluation_of(dummy, dummy_entry.style, intervals=False)  # shown as a point

    from sklearn.pipeline import Pipeline

    pipeline = Pipeline([("preprocess", encoded[style][0]), ("model", best.estimator)])
    candidate_rows = [
        {
            "name": c.name,
            "validation_score": c.validation_score,
            "trials": c.trials,
            "pruned": c.pruned,
            "failed": c.failed,
            "params": c.params,
        }
        for c in candidates
    ]
    lineage: dict[str, Any] = {
        "data_fingerprint": fingerprint,
        "spec_sha256": spec.digest(),
        "git_commit": _git_commit(spec_folder),
        "seed": seed,
        "packages": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": {
            "read": data.rows_read,
            "dropped_missing_target": data.dropped_missing_target,
            "train": len(split.train),
            "validation": len(split.validation),
            "test": len(split.test),
        },
        "split": {"method": split.method, "boundaries": split.boundaries},
    }
    raw_test = data.X.iloc[split.test]
    train_rows = data.X.iloc[split.train]
    train_profile = profile_frame(train_rows, schema)
    # what monitoring compares later: the value, the positive probability or the class name
    values, kind = task.prediction_values(evaluation.pred, evaluation.proba, schema.classes)
    train_profile["prediction"] = profile_values(values, kind)
    manifest = {
        "format": FORMAT,
        "name": spec.name,
        "task": spec.task,
        "model": best.name,
        "params": best.params,
        "metric": metric,
        "schema": schema.to_dict(),
        "metrics": evaluation.to_dict(),
        "baseline_metrics": baseline.metrics,
        "profile": train_profile,
        "id_column": spec.data.id_column,
        "lineage": lineage,
    }
    keep = min(spec.monitoring.reference_rows, len(train_rows))
    reference = train_rows.sample(n=keep, random_state=seed) if keep else None
    package = ModelPackage(manifest=manifest, pipeline=pipeline, reference=reference)
    importance = _permutation_importance(package, raw_test, y[split.test], metric, seed)

    console.log("registering")
    y_test = y[split.test]

    def decide_against(champion: VersionInfo | None) -> Decision:
        comparison, note = _compare_with_champion(
            registry, champion, spec, package, raw_test, y_test, metric
        )
        decision = decide(
            spec.gates,
            metric=metric,
            evaluation=evaluation,
            baseline=baseline,
            comparison=comparison,
            champion_version=champion.version if champion else None,
        )
        if note is not None:
            decision.checks.append(note)
        return decision

    with tempfile.TemporaryDirectory(prefix="mlfactory-train-") as tmp, registry.lock(spec.name):
        registry.recover(spec.name)
        champion = registry.champion(spec.name)
        decision = decide_against(champion)
        model_dir = registry.write_mlflow_model(package, Path(tmp) / "model")
        params = {f"{best.name}.{k}": v for k, v in best.params.items()}
        params.update({"model": best.name, "metric": metric, "seed": seed})
        run_metrics = {f"test_{k}": v for k, v in evaluation.metrics.items()}
        run_metrics.update({f"train_{k}": v for k, v in evaluation.train_metrics.items()})
        run_metrics.update({f"baseline_{k}": v for k, v in baseline.metrics.items()})
        run_id = registry.log_run(
            spec.name,
            params=params,
            metrics=run_metrics,
            tags={
                "mlfactory.spec_sha256": lineage["spec_sha256"],
                "mlfactory.decision": decision.alias,
            },
            artifacts={"model": model_dir},
        )
        version = registry.register(
            spec.name,
            run_id=run_id,
            model_dir=model_dir,
            tags={
                **_version_tags(decision, evaluation, metric, best.name, lineage),
                **(tags or {}),
            },
        )
        # The champion is read again as the alias moves (another host may have moved it
        # since, unseen by this host's lock); when it changed, decide again against it.
        for _ in range(_REDECIDE):
            try:
                registry.set_alias(
                    spec.name,
                    decision.alias,
                    version,
                    reason=decision.reason,
                    champion_was=champion.version if champion else None,
                    check_champion=True,
                    registration=True,
                )
                break
            except StaleChampion as moved:
                now = moved.current
                champion = registry.resolve(f"{spec.name}/{now}") if now is not None else None
                decision = decide_against(champion)
                registry.set_version_tags(spec.name, version, _decision_tags(decision))
                registry.set_run_tags(run_id, {"mlfactory.decision": decision.alias})
        else:
            raise RegistryError(
                f"{spec.name}@champion kept moving while version {version} was being decided "
                f"({_REDECIDE} times); the version is registered without an alias: promote it "
                f"by hand after `mlfactory models show {spec.name}`."
            )

    report_path = registry.path / "reports" / f"{spec.name}-v{version}.html"
    if not registry.embedded:
        report_path = Path(tempfile.gettempdir()) / "mlfactory-reports" / report_path.name
    write_report(
        ReportInputs(
            name=spec.name,
            task=task,
            metric=metric,
            model=best.name,
            params=best.params,
            evaluation=evaluation,
            baseline=baseline,
            decision=decision,
            candidates=candidate_rows,
            importance=importance,
            profile=train_profile,
            data_summary={**lineage["rows"], "split": lineage["split"]},
            lineage=lineage,
            classes=schema.classes,
            version=version,
        ),
        report_path,
    )
    registry.log_report(run_id, report_path)
    return TrainResult(
        name=spec.name,
        version=version,
        model=best.name,
        metric=metric,
        decision=decision,
        evaluation=evaluation,
        baseline=baseline,
        report_path=report_path,
        run_id=run_id,
        candidates=candidate_rows,
    )


def _compare_with_champion(
    registry: Registry,
    champion: VersionInfo | None,
    spec: FactorySpec,
    package: ModelPackage,
    raw_test: pd.DataFrame,
    y_test: Any,
    metric: str,
) -> tuple[PairedComparison | None, Check | None]:
    """Paired bootstrap of the new model against ``champion`` on the same rows."""
    if champion is None:
        return None, Check("first model", True, "no champion yet")
    try:
        old_package, _ = registry.load(champion)
        if old_package.classes != package.classes:
            raise BadInputError(f"its classes {old_package.classes} differ from {package.classes}")
        old = old_package.predict_encoded(raw_test)
    except MlfactoryError as exc:
        note = Check(
            "champion comparable",
            True,
            f"champion v{champion.version} cannot score the new test rows ({exc}); "
            "decided on the gates alone",
        )
        return None, note
    new = package.predict_encoded(raw_test)
    comparison = paired_bootstrap(
        METRICS[metric],
        y_test,
        new,
        old,
        rounds=spec.evaluation.bootstrap,
        seed=spec.search.seed,
    )
    return comparison, None


def _version_tags(
    decision: Decision,
    evaluation: Evaluation,
    metric: str,
    model: str,
    lineage: dict[str, Any],
) -> dict[str, str]:
    import json

    return {
        **_decision_tags(decision),
        "mlfactory.model": model,
        "mlfactory.metric": metric,
        "mlfactory.metrics": json.dumps({k: round(v, 6) for k, v in evaluation.metrics.items()}),
        "mlfactory.data_fingerprint": lineage["data_fingerprint"],
        "mlfactory.spec_sha256": lineage["spec_sha256"],
        "mlfactory.git_commit": lineage["git_commit"],
        "mlfactory.seed": str(lineage["seed"]),
        "mlfactory.packages": json.dumps(lineage["packages"]),
    }


def _decision_tags(decision: Decision) -> dict[str, str]:
    return {"mlfactory.decision": decision.alias, "mlfactory.reason": decision.reason[:4900]}
