"""The model package: the one object training hands to serving, batch and monitoring.

On disk it is the ``data/package`` folder of an MLflow model folder::

    manifest.json    task, schema, metrics, profile, lineage (plain JSON)
    pipeline.skops   the fitted scikit-learn pipeline, stored with skops (no pickle)
    reference.parquet  optional: a seeded sample of training rows (feature columns only)
                     for the multivariate drift check (``monitoring.reference_rows``)
    split.parquet    which rows went to train, validation and test: ``row`` (position
                     in the data as read), the id column if the spec has one, ``part``

The model folder's ``digests.json`` covers these files and every other file of
the model (``integrity``). ``ModelPackage.load`` refuses a model folder whose
files do not match it, and a pipeline holding any type or function outside the
exact list mlfactory's own pipelines hold (``safeload``); nothing in a refused
file runs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfactory.data.schema import Schema
from mlfactory.errors import MlfactoryError, TamperedArtifactError
from mlfactory.registry.integrity import PACKAGE_PATH, model_root, verify_folder
from mlfactory.registry.manifest import FORMAT, Manifest
from mlfactory.registry.safeload import load_pipeline, refused_types

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.tasks import OutputColumn, Task

__all__ = ["FORMAT", "Manifest", "ModelPackage"]

MANIFEST, PIPELINE = "manifest.json", "pipeline.skops"
REFERENCE, SPLIT = "reference.parquet", "split.parquet"


@dataclass
class ModelPackage:
    manifest: Manifest
    pipeline: Any  # sklearn Pipeline: datetimes (DatetimeParts), preprocess, model
    reference: pd.DataFrame | None = None  # sample of training rows; None in older packages
    split: pd.DataFrame | None = None  # each row's part (``Split.table``); None in older ones

    @property
    def schema(self) -> Schema:
        return self.manifest.input_schema

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
        n_classes = len(self.classes) if self.classes is not None else None
        return self.task.predict(self.pipeline, conformed, n_classes, self.threshold)

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
        import skops.io as sio

        stored = sio.dumps(self.pipeline)
        if refused := refused_types(stored):  # no loader would accept it: fail before registering
            raise MlfactoryError(
                f"the fitted pipeline holds {', '.join(refused)}, which mlfactory's loaders "
                "refuse: the installed libraries differ from those its allow-list was made "
                "with. Install the versions in constraints.txt, or review these names and "
                "run `python -m mlfactory.training.allowlist --write`."
            )
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MANIFEST).write_text(self.manifest.to_json())
        (directory / PIPELINE).write_bytes(stored)
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
        for name in (MANIFEST, PIPELINE):
            if not (directory / name).is_file():
                raise TamperedArtifactError(f"{shown}/{name} is missing: not a model package.")
        text = (directory / MANIFEST).read_text()
        manifest = Manifest.from_json(text, shown_as=f"{shown}/{MANIFEST}")
        pipeline = load_pipeline(directory / PIPELINE, shown_as=f"{shown}/{PIPELINE}")
        import pandas as pd

        reference = split = None
        if (directory / REFERENCE).exists():
            reference = pd.read_parquet(directory / REFERENCE)
        if (directory / SPLIT).exists():
            split = pd.read_parquet(directory / SPLIT)
        return cls(manifest=manifest, pipeline=pipeline, reference=reference, split=split)
