"""The model package: the one object training hands to serving, batch and monitoring.

On disk it is the ``data/package`` folder of an MLflow model folder::

    manifest.json    task, schema, metrics, profile, lineage (plain JSON)
    pipeline.skops   the fitted scikit-learn pipeline, stored with skops (no pickle)
    reference.parquet  optional: a seeded sample of training rows (feature columns only)
                     for the multivariate drift check (``monitoring.reference_rows``)
    split.parquet    which rows went to train, validation and test: ``row`` (position
                     in the data as read), the id column if the spec has one, ``part``
    family/N.skops   a model family (``manifest.family``): the pipeline of each group
                     with a model of its own; ``pipeline.skops`` is then the global
                     model, which scores every other row (``registry.family``)

A forecasting version (``manifest.forecast``) has no ``pipeline.skops``: its
``pipeline`` is the ``SeriesForecasts`` of ``series.parquet``, ``forecasts.parquet``
and ``calibration.parquet`` (``registry.forecasts``), read one series at a time.

The model folder's ``digests.json`` covers these files and every other file of
the model (``integrity``). ``ModelPackage.load`` refuses a model folder whose
files do not match it, and a pipeline holding any type or function outside the
exact list mlfactory's own pipelines hold (``safeload``); nothing in a refused
file runs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfactory.data.schema import Schema
from mlfactory.errors import MlfactoryError, TamperedArtifactError
from mlfactory.registry.family import GLOBAL, assign, combine
from mlfactory.registry.forecasts import SeriesForecasts
from mlfactory.registry.integrity import PACKAGE_PATH, model_root, verify_folder
from mlfactory.registry.manifest import FORMAT, Family, Manifest
from mlfactory.registry.safeload import load_pipeline, refused_types

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.tasks import OutputColumn, Task

__all__ = ["FORMAT", "Manifest", "ModelPackage", "load_member"]

MANIFEST, PIPELINE = "manifest.json", "pipeline.skops"
REFERENCE, SPLIT = "reference.parquet", "split.parquet"


@dataclass
class ModelPackage:
    manifest: Manifest
    pipeline: Any  # sklearn Pipeline: datetimes (DatetimeParts), preprocess, model
    reference: pd.DataFrame | None = None  # sample of training rows; None in older packages
    split: pd.DataFrame | None = None  # each row's part (``Split.table``); None in older ones
    members: dict[str, Any] = field(default_factory=dict)  # a family's pipelines, by file
    _views: dict[str | None, ModelPackage] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def schema(self) -> Schema:
        return self.manifest.input_schema

    @property
    def family(self) -> Family | None:
        """One model per group (``group_by``), or None for a single model."""
        return self.manifest.family

    def member(self, file: str | None) -> ModelPackage:
        """A family member's model (None: the global model) as a package of its own, with
        the family's schema, task and threshold; a single model's package is itself."""
        if self.family is None:
            return self
        found = self._views.get(file)
        if found is None:
            pipeline = self.pipeline if file is None else self.members[file]
            manifest = self.manifest.model_copy(update={"family": None})
            found = self._views[file] = ModelPackage(manifest=manifest, pipeline=pipeline)
        return found

    @functools.cached_property
    def task(self) -> Task:
        from mlfactory.tasks import task_named

        return task_named(self.manifest.task)

    @property
    def classes(self) -> list[Any] | None:
        return self.manifest.input_schema.classes

    @property
    def threshold(self) -> float | None:
        """The decision threshold on the positive class's probability (None: most probable)."""
        chosen = self.manifest.threshold
        return None if chosen is None else chosen.value

    @functools.cached_property
    def output_columns(self) -> list[OutputColumn]:
        """The columns of this model's answers, typed."""
        return self.task.output_columns(self.classes)

    def predict_encoded(self, frame: pd.DataFrame) -> tuple[Any, Any | None]:
        """Encoded predictions and class probabilities, after checking the input."""
        return self.predict_conformed(self.schema.conform(frame))

    def predict_conformed(self, conformed: pd.DataFrame) -> tuple[Any, Any | None]:
        """Like ``predict_encoded`` for rows that ``schema.conform`` already checked."""
        family = self.family
        if family is None:
            n_classes = len(self.classes) if self.classes is not None else None
            return self.task.predict(self.pipeline, conformed, n_classes, self.threshold)
        files = [m.file for m in family.members]

        def predict(member: int, rows: Any) -> tuple[Any, Any | None]:
            part = conformed if len(rows) == len(conformed) else conformed.iloc[rows]
            return self.member(None if member == GLOBAL else files[member]).predict_conformed(part)

        return combine(assign(family, conformed), predict)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The answer as a frame: one column per ``output_columns``, rows as in ``frame``."""
        return self.outputs(*self.predict_encoded(frame), index=frame.index)

    def outputs(self, pred: Any, proba: Any | None, *, index: Any = None) -> pd.DataFrame:
        """Encoded predictions as the output frame ``predict`` returns."""
        import pandas as pd

        return pd.DataFrame(self.answer(pred, proba), index=index)

    def answer(self, pred: Any, proba: Any | None) -> dict[str, Any]:
        """Encoded predictions as the answer's columns (numpy arrays)."""
        return self.task.outputs(pred, proba, self.classes)

    def save(self, directory: Path) -> Path:
        """Write the package folder (``integrity.seal`` then covers the whole model)."""
        if isinstance(self.pipeline, SeriesForecasts):
            self.pipeline.save(directory)
            (directory / MANIFEST).write_text(self.manifest.to_json())
            return directory
        stored = {PIPELINE: _dumps(self.pipeline)}
        listed = [m.file for m in self.family.members if m.file] if self.family else []
        if sorted(listed) != sorted(self.members):
            raise MlfactoryError(
                f"the family lists the files {sorted(listed)} but holds the pipelines "
                f"{sorted(self.members)}; they must be the same"
            )
        stored.update((file, _dumps(self.members[file])) for file in listed)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MANIFEST).write_text(self.manifest.to_json())
        for file, data in stored.items():
            (directory / file).parent.mkdir(parents=True, exist_ok=True)
            (directory / file).write_bytes(data)
        if self.reference is not None:
            self.reference.to_parquet(directory / REFERENCE, index=False)
        if self.split is not None:
            self.split.to_parquet(directory / SPLIT, index=False)
        return directory

    @classmethod
    def load(
        cls, directory: Path, *, expected_digest: str | None = None, shown_as: str | None = None
    ) -> ModelPackage:
        """Verify every file of the model folder, then load the package.

        ``directory`` is the MLflow model folder or its ``data/package`` folder;
        ``expected_digest`` is the registry's record of the folder's digest manifest;
        ``shown_as`` names the model folder in messages (its place in the artifact
        store, when ``directory`` is a temporary download).
        """
        root = model_root(Path(directory))
        shown = shown_as or str(root)
        verify_folder(root, expected_digest=expected_digest, shown_as=shown)
        directory, shown = root / PACKAGE_PATH, f"{shown}/{PACKAGE_PATH}"
        if not (directory / MANIFEST).is_file():
            raise TamperedArtifactError(f"{shown}/{MANIFEST} is missing: not a model package.")
        text = (directory / MANIFEST).read_text()
        manifest = Manifest.from_json(text, shown_as=f"{shown}/{MANIFEST}")
        if manifest.forecast is not None:
            forecasts = SeriesForecasts.load(directory, manifest.forecast, shown_as=shown)
            return cls(manifest=manifest, pipeline=forecasts)
        if not (directory / PIPELINE).is_file():
            raise TamperedArtifactError(f"{shown}/{PIPELINE} is missing: not a model package.")
        pipeline = load_pipeline(directory / PIPELINE, shown_as=f"{shown}/{PIPELINE}")
        members = {}
        for member in manifest.family.own if manifest.family is not None else []:
            assert member.file is not None
            members[member.file] = load_member(directory, member.file, shown_as=shown)
        import pandas as pd

        reference = split = None
        if (directory / REFERENCE).exists():
            reference = pd.read_parquet(directory / REFERENCE)
        if (directory / SPLIT).exists():
            split = pd.read_parquet(directory / SPLIT)
        return cls(
            manifest=manifest, pipeline=pipeline, reference=reference, split=split, members=members
        )


def load_member(directory: Path, file: str, *, shown_as: str) -> Any:
    """One family member's pipeline from a verified package folder (the others unread)."""
    path, shown = directory / file, f"{shown_as}/{file}"
    if not path.is_file():
        raise TamperedArtifactError(f"{shown} is missing: the family lists it.")
    return load_pipeline(path, shown_as=shown)


def _dumps(pipeline: Any) -> bytes:
    """The pipeline as skops bytes, refused when no mlfactory loader would load it."""
    import skops.io as sio

    stored: bytes = sio.dumps(pipeline)
    if refused := refused_types(stored):  # no loader would accept it: fail before registering
        raise MlfactoryError(
            f"the fitted pipeline holds {', '.join(refused)}, which mlfactory's loaders "
            "refuse: the installed libraries differ from those its allow-list was made "
            "with. Install the versions in constraints.txt, or review these names and "
            "run `python -m mlfactory.training.allowlist --write`."
        )
    return stored
