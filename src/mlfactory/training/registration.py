"""The register step: gate, face the champion, and register, all in one short step at the end.

Under the per-model lock: ``recover`` what killed processes left, compare the
new model with the champion on the same test rows (paired bootstrap), decide
(gates), log the MLflow run, register the version (its registration pending)
and move ``champion`` or ``challenger`` through the registry's ledger. The
ledger reads the champion again as the alias moves: when another host moved
it meanwhile, the model is compared again with the new champion and the
version's decision is rewritten before its alias moves.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfactory.errors import BadInputError, MlfactoryError, RegistryError
from mlfactory.metrics import METRICS, PairedComparison, paired_bootstrap
from mlfactory.registry import tags as tag
from mlfactory.registry.ledger import StaleChampion
from mlfactory.training.gates import Check, Decision, decide

if TYPE_CHECKING:
    from mlfactory.registry import Registry, VersionInfo
    from mlfactory.spec import FactorySpec
    from mlfactory.training.evaluate import Evaluated
    from mlfactory.training.packaging import Packaged

__all__ = ["Compare", "Registered", "register_step"]

Compare = Callable[
    ["FactorySpec", "Registry", "VersionInfo | None", "Packaged"],
    "tuple[PairedComparison | None, Check | None]",
]

_REDECIDE = 10  # decisions against a champion that another host keeps moving


@dataclass(frozen=True)
class Registered:
    version: str
    run_id: str
    decision: Decision


def register_step(
    spec: FactorySpec,
    registry: Registry,
    packaged: Packaged,
    evaluated: Evaluated,
    *,
    tags: dict[str, str] | None = None,
    compare: Compare | None = None,
) -> Registered:
    """Decide against the champion of the moment and register the version.

    ``compare`` compares the new model with a champion (default: a paired bootstrap
    on the same test rows; forecasting pairs series).
    """
    package, evaluation, baseline = packaged.package, evaluated.evaluation, evaluated.baseline
    metric, model = package.manifest.metric, package.manifest.model

    def decide_against(champion: VersionInfo | None) -> Decision:
        if compare is not None:
            comparison, note = compare(spec, registry, champion, packaged)
        else:
            comparison, note = _compare_with_champion(registry, champion, spec, packaged)
        decision = decide(
            spec.gates,
            metric=metric,
            evaluation=evaluation,
            baseline=baseline,
            comparison=comparison,
            champion_version=champion.version if champion else None,
            baseline_name=evaluated.baseline_name,
        )
        if note is not None:
            decision.checks.append(note)
        return decision

    with tempfile.TemporaryDirectory(prefix="mlfactory-train-") as tmp, registry.lock(spec.name):
        registry.recover(spec.name)
        champion = registry.champion(spec.name)
        decision = decide_against(champion)
        model_dir = registry.write_mlflow_model(package, Path(tmp) / "model")
        params: dict[str, Any] = {f"{model}.{k}": v for k, v in package.manifest.params.items()}
        params.update({"model": model, "metric": metric, "seed": spec.search.seed})
        run_metrics = {f"test_{k}": v for k, v in evaluation.metrics.items()}
        run_metrics.update({f"train_{k}": v for k, v in evaluation.train_metrics.items()})
        run_metrics.update({f"baseline_{k}": v for k, v in baseline.metrics.items()})
        run_id = registry.log_run(
            spec.name,
            params=params,
            metrics=run_metrics,
            tags={
                tag.SPEC_SHA256: packaged.lineage["spec_sha256"],
                tag.DECISION: decision.alias,
            },
            artifacts={"model": model_dir},
        )
        version = registry.register(
            spec.name,
            run_id=run_id,
            model_dir=model_dir,
            tags={**_version_tags(decision, evaluated, metric, model, packaged), **(tags or {})},
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
                registry.set_run_tags(run_id, {tag.DECISION: decision.alias})
        else:
            raise RegistryError(
                f"{spec.name}@champion kept moving while version {version} was being decided "
                f"({_REDECIDE} times); the version is registered without an alias: promote it "
                f"by hand after `mlfactory models show {spec.name}`."
            )
    return Registered(version, run_id, decision)


def _compare_with_champion(
    registry: Registry, champion: VersionInfo | None, spec: FactorySpec, packaged: Packaged
) -> tuple[PairedComparison | None, Check | None]:
    """Paired bootstrap of the new model against ``champion`` on the same test rows."""
    if champion is None:
        return None, Check("first model", True, "no champion yet")
    package = packaged.package
    metric = METRICS[package.manifest.metric]
    if metric.refits:  # its refits are the training's, not the package's
        return None, Check(
            "champion comparable",
            True,
            f"{metric.name} compares refits made in training, which a registered version does "
            f"not keep, so champion v{champion.version} is not compared; decided on the gates",
        )
    try:
        old_package, _ = registry.load(champion)
        if old_package.classes != package.classes:
            raise BadInputError(f"its classes {old_package.classes} differ from {package.classes}")
        old = old_package.predict_encoded(packaged.test_rows)
    except MlfactoryError as exc:
        note = Check(
            "champion comparable",
            True,
            f"champion v{champion.version} cannot score the new test rows ({exc}); "
            "decided on the gates alone",
        )
        return None, note
    new = package.predict_encoded(packaged.test_rows)
    comparison = paired_bootstrap(
        metric,
        packaged.y_test,
        new,
        old,
        rounds=spec.evaluation.bootstrap,
        seed=spec.search.seed,
    )
    return comparison, None


def _version_tags(
    decision: Decision, evaluated: Evaluated, metric: str, model: str, packaged: Packaged
) -> dict[str, str]:
    lineage = packaged.lineage
    scores = evaluated.evaluation.metrics
    family, series = packaged.package.family, packaged.package.manifest.forecast
    shape = (
        {}
        if family is None
        else {
            tag.FAMILY: json.dumps(
                {"columns": family.columns, "groups": len(family.members), "own": len(family.own)}
            )
        }
    )
    if series is not None:
        shape[tag.FAMILY] = json.dumps(
            {"columns": series.ids, "series": series.series, "models": series.chosen}
        )
    return {
        **shape,
        **_decision_tags(decision),
        tag.MODEL: model,
        tag.METRIC: metric,
        tag.METRICS: json.dumps({k: round(v, 6) for k, v in scores.items()}),
        tag.DATA_FINGERPRINT: lineage["data_fingerprint"],
        tag.SPEC_SHA256: lineage["spec_sha256"],
        tag.GIT_COMMIT: lineage["git_commit"],
        tag.SEED: str(lineage["seed"]),
        tag.PACKAGES: json.dumps(lineage["packages"]),
    }


def _decision_tags(decision: Decision) -> dict[str, str]:
    return {tag.DECISION: decision.alias, tag.REASON: decision.reason[:4900]}
