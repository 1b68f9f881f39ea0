"""``train``: the steps of a training, in order, each a function with typed inputs and outputs.

::

    prepare   read, fingerprint and validate the data; the task encodes the target
    split     time-ordered, by whole groups, or stratified at random (training.split)
    encode    the datetime step and one preprocessor per input style; matrices stored
    search    a seeded study per candidate; trials are picklable (training.trial)
    threshold a binary model's decision threshold, on the validation rows (optional)
    family    ``group_by``: each group's model, kept where it beats the global one on
              the group's validation rows (training.family)
    refit     the best candidate refitted on train + validation (``refit: true``)
    evaluate  the best candidate and the dummy baseline on the test rows; a family,
              each row by its group's model, beside the global model alone
    package   the whole model, its manifest, profile and reference rows
    register  gates, the champion comparison, the MLflow run, version and alias
    report    the HTML report, logged to the run

Everything that can fail slowly happens before ``register`` touches the
registry, so a failed or killed training registers nothing; a kill inside it
leaves a state the registry's ledger recovers. Progress is a stream of events
(``training.events``); the CLI renders them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from mlfactory.models import CATALOG
from mlfactory.registry import Registry
from mlfactory.registry.signing import check_training_keys
from mlfactory.spec import FactorySpec, load_spec
from mlfactory.tasks import task_named
from mlfactory.training import matrices
from mlfactory.training.evaluate import evaluate_step
from mlfactory.training.events import ConsoleProgress, OnEvent, Step, shown
from mlfactory.training.explanations import explain_test_rows
from mlfactory.training.family import evaluate_family, fit_family
from mlfactory.training.leakage import data_warnings
from mlfactory.training.packaging import package_step
from mlfactory.training.prepare import encode, prepare, split_prepared
from mlfactory.training.refit import refit_step
from mlfactory.training.registration import register_step
from mlfactory.training.report import ReportInputs, write_report
from mlfactory.training.result import TrainResult
from mlfactory.training.result import report_path as report_location
from mlfactory.training.search import search_models
from mlfactory.training.threshold import flag_threshold_step, threshold_step

__all__ = ["TrainResult", "train"]


def train(
    spec: FactorySpec | str | Path,
    *,
    registry: Registry | None = None,
    progress: bool = True,
    on_event: OnEvent | None = None,
    tags: dict[str, str] | None = None,
) -> TrainResult:
    """Train, evaluate, gate and register the model a spec describes.

    ``on_event`` receives the progress events; without it, ``progress`` renders them
    on stderr. ``tags`` are added to the registered version (``retrain`` records its
    trigger there).
    """
    spec_folder = Path(spec).parent if isinstance(spec, str | Path) else Path.cwd()
    spec = load_spec(spec) if isinstance(spec, str | Path) else spec
    registry = registry or Registry(
        tracking_uri=spec.registry.tracking_uri, path=spec.registry.path
    )
    registry.ensure_writable(spec.name)
    check_training_keys()  # a bad key, or one the loaders here refuse: fail before training
    view = None
    if on_event is None:
        view = on_event = ConsoleProgress(_console(progress))
    if task_named(spec.task).series:  # series over time, not rows: its own steps
        from mlfactory.training.forecast import train_series

        try:
            return train_series(spec, registry, on_event, spec_folder, tags)
        finally:
            if view is not None:
                view.close()
    folder = Path(tempfile.mkdtemp(prefix="mlfactory-matrices-"))
    try:
        return _steps(spec, registry, on_event, folder, spec_folder, tags)
    finally:
        if view is not None:
            view.close()
        shutil.rmtree(folder, ignore_errors=True)


def _steps(
    spec: FactorySpec,
    registry: Registry,
    on_event: OnEvent,
    folder: Path,
    spec_folder: Path,
    tags: dict[str, str] | None,
) -> TrainResult:
    on_event(Step("prepare", f"reading data for [bold]{spec.name}[/]"))
    prepared = prepare(spec)
    data = prepared.data
    for note in data.notes:
        on_event(Step("prepare", shown(note)))
    split = split_prepared(spec, prepared)
    on_event(
        Step(
            "split",
            f"{data.rows_read:,} rows read, {data.dropped_missing_target:,} dropped (missing "
            f"target); {split.method} split: {len(split.train):,} train, "
            f"{len(split.validation):,} validation, {len(split.test):,} test"
            + (
                f" (whole groups of {spec.split.group_column}: "
                + ", ".join(f"{n:,}" for n in split.groups)
                + ")"
                if split.groups
                else ""
            ),
        )
    )
    warnings = data_warnings(spec, prepared, split)
    for said in warnings:
        on_event(Step("split", f"[yellow]warning[/]: {shown(said)}"))
    styles = {CATALOG[m.name].style for m in spec.models} | {CATALOG["dummy"].style}
    encoded = encode(prepared, split, styles, folder)
    try:
        searched = search_models(spec, prepared, encoded, on_event)
        from mlfactory.detectors import fit_warning  # scikit-learn

        if (warning := fit_warning(searched.best.estimator)) is not None:  # DBSCAN's eps
            on_event(Step("search", f"[yellow]warning[/]: {shown(warning)}"))
            warnings.append(warning)
        threshold = threshold_step(spec, prepared, encoded, searched)
        if threshold is not None:
            on_event(
                Step("threshold", f"decision threshold {threshold.value:.4g}: {threshold.rule}")
            )
        family = None
        if spec.group_by is not None:  # decided on validation rows, so before any refit
            family = fit_family(spec, prepared, split, encoded, searched, threshold, on_event)
        if spec.refit:
            on_event(Step("refit", f"refitting {searched.best.name} on train + validation rows"))
            searched = refit_step(spec, prepared, encoded, searched)
        if (flagged := flag_threshold_step(spec, prepared, encoded, searched)) is not None:
            on_event(Step("threshold", shown(flagged)))
        best = searched.best
        on_event(Step("evaluate", f"evaluating {best.name} on {len(split.test):,} test rows"))
        evaluated = evaluate_step(spec, prepared, encoded, searched, threshold)
        if family is not None:  # the family's metrics are the ones the gates see
            family, evaluated = evaluate_family(
                spec, prepared, encoded, searched, family, evaluated
            )
        packaged = package_step(
            spec,
            prepared,
            split,
            encoded,
            searched,
            evaluated,
            spec_folder=spec_folder,
            family=family,
        )
    finally:
        for ref in encoded.matrices.values():
            matrices.forget(ref)
    on_event(Step("register", "registering"))
    registered = register_step(spec, registry, packaged, evaluated, tags=tags)
    version = registered.version
    on_event(Step("report", "writing the report"))
    report_path = report_location(registry, spec.name, version)
    lineage = packaged.lineage
    write_report(
        ReportInputs(
            name=spec.name,
            task=prepared.task,
            metric=prepared.metric,
            model=best.name,
            params=best.params,
            evaluation=evaluated.evaluation,
            baseline=evaluated.baseline,
            decision=registered.decision,
            candidates=packaged.candidates,
            importance=packaged.importance,
            profile=packaged.package.manifest.profile,
            data_summary={**lineage["rows"], "split": lineage["split"]},
            lineage=lineage,
            classes=prepared.schema.classes,
            version=version,
            notes=data.notes,
            warnings=warnings,
            threshold=evaluated.threshold,
            explanations=explain_test_rows(
                packaged.package, packaged.test_rows, seed=spec.search.seed
            ),
            family=packaged.package.family,
            test_rows=packaged.test_rows,
        ),
        report_path,
    )
    registry.log_report(registered.run_id, report_path)
    return TrainResult(
        name=spec.name,
        version=version,
        model=best.name,
        metric=prepared.metric,
        decision=registered.decision,
        evaluation=evaluated.evaluation,
        baseline=evaluated.baseline,
        report_path=report_path,
        run_id=registered.run_id,
        candidates=packaged.candidates,
        threshold=evaluated.threshold,
        family=packaged.package.family,
        warnings=warnings,
    )


def _console(progress: bool) -> Any:
    from rich.console import Console

    return Console(stderr=True, quiet=not progress, log_path=False)
