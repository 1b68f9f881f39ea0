"""One served model: the loaded version, its batcher, and the swap to a newer one.

A ``ModelHost`` follows one reference (``NAME@ALIAS`` or ``NAME/VERSION``).
``refresh`` (run off the event loop) asks the registry which version the alias
names (the reference's, or for canary and shadow traffic ``NAME@challenger``);
a new version is loaded, verified and warmed on the side and then put in place
with one assignment. A batch takes the version it runs on when it starts,
so requests in flight finish on the old version and every answer names the
version that produced it. A version that fails to load leaves the old one
serving.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mlfactory.errors import BadInputError, DataError, ModelReferenceError
from mlfactory.registry import ModelRef, Registry
from mlfactory.scoring import Explanation, FarValues, Scorer, Validated
from mlfactory.serving.batching import BatchConfig, MicroBatcher
from mlfactory.serving.frames import Rows

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.serving.metrics import ServingMetrics
    from mlfactory.serving.predlog import PredictionLog
    from mlfactory.tasks import OutputColumn

__all__ = ["ModelHost", "Request", "Scored"]

log = logging.getLogger("mlfactory.serving")


@dataclass(frozen=True)
class Scored:
    """One request's answer and the version that produced it.

    ``outputs`` maps each output column to a numpy array with one value per row
    of the request; ``columns`` says what each column is (``OutputColumn``).
    ``out_of_range`` holds the request's numbers far outside the training range,
    per column (row positions in the request): scored, but flagged in the answer.
    ``explanation`` is there when the request asked for one.
    """

    outputs: dict[str, Any]
    version: str
    role: str = "champion"  # champion | canary | shadow
    columns: Sequence[OutputColumn] = ()
    out_of_range: Sequence[FarValues] = ()
    explanation: Explanation | None = None

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.outputs)


@dataclass(frozen=True)
class Request:
    rows: pd.DataFrame | Rows
    role: str  # which version should answer: champion | canary | shadow
    request_id: str = ""
    explain: bool = False  # answer each row's contributions too


class ModelHost:
    """Serves one model reference with micro-batching and hot swap."""

    def __init__(
        self,
        registry: Registry,
        ref: ModelRef,
        *,
        batching: BatchConfig,
        metrics: ServingMetrics,
        predlog: PredictionLog | None = None,
        canary_percent: float = 0.0,
        shadow: bool = False,
    ) -> None:
        self.registry = registry
        self.ref = ref
        self.name = ref.name
        self.metrics = metrics
        self.predlog = predlog
        self.canary_percent = canary_percent
        self.shadow = shadow
        self.current: Scorer | None = None
        self.challenger: Scorer | None = None  # loaded only for canary or shadow
        self.last_error: str | None = None
        self._swap_lock = threading.Lock()
        self._random = random.Random()
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        observe = metrics.batch_rows.labels(ref.name).observe
        self.batcher: MicroBatcher[Request, Scored] = MicroBatcher(
            self._run_batch,
            config=batching,
            name=ref.name,
            on_batch=lambda rows, requests: observe(rows),
        )

    # -- loading and swapping (blocking: call from a thread) ---------------------------

    def refresh(self, role: Literal["champion", "challenger"] = "champion") -> dict[str, Any]:
        """Serve the version the reference names now; report what happened.

        ``role`` "champion" follows the served reference; "challenger" follows
        ``NAME@challenger`` for canary or shadow traffic, and its absence is fine
        (no challenger is served). Either way a new version is loaded, verified and
        warmed on the side, then put in place with one assignment; one that fails to
        load leaves the old one serving.
        """
        champion = role == "champion"
        ref = self.ref if champion else ModelRef(self.name, alias="challenger")
        with self._swap_lock:
            old = self.current if champion else self.challenger
            try:
                info = self.registry.resolve(ref)
                if old is not None and info.version == old.version:
                    if champion:
                        self.metrics.set_drift(self.name, info.version, info.drift)
                    return self._status(ref, old, "unchanged")
                package, info = self.registry.load(info)
                served = Scorer.of(package, name=self.name, version=info.version, threads=1)
            except Exception as exc:  # a broken package must not take the server down
                if not champion and isinstance(exc, ModelReferenceError):
                    self.challenger = None
                    return self._status(ref, None, "absent")
                return self._failed(ref, old, exc, champion=champion)
            if champion:
                self.current = served
                self.last_error = None
                self.metrics.set_version(self.name, served.version, old.version if old else None)
                self.metrics.set_drift(self.name, served.version, info.drift)
            else:
                self.challenger = served
            log.info("%s: serving version %s", ref, served.version)
            previous = old.version if old else None
            return self._status(ref, served, "swapped" if old else "loaded", previous=previous)

    def _failed(
        self, ref: ModelRef, old: Scorer | None, exc: Exception, *, champion: bool
    ) -> dict[str, Any]:
        error = f"{type(exc).__name__}: {exc}"
        self.metrics.reload_failures.labels(self.name).inc()
        if champion:
            self.last_error = error
        if old is not None:  # at start-up the server stops with the champion's error itself
            log.error(
                "%s: could not load a new version (%s); still serving %s", ref, error, old.version
            )
        return self._status(ref, old, "error", error=error)

    def _status(
        self, ref: ModelRef, served: Scorer | None, status: str, **extra: Any
    ) -> dict[str, Any]:
        return {
            "model": self.name,
            "ref": str(ref),
            "status": status,
            "version": served.version if served else None,
            **extra,
        }

    @property
    def ready(self) -> bool:
        return self.current is not None

    # -- predicting --------------------------------------------------------------------

    def validate(self, frame: pd.DataFrame, served: Scorer) -> Validated:
        """The scorer's policy on rows; unseen categories and far-out numbers are counted."""
        validated = served.validate(frame)
        for column, count in validated.unknown.items():
            self.metrics.unknown_categories.labels(self.name, column).inc(count)
        for far in validated.far:
            self.metrics.far_values.labels(self.name, far.column).inc(len(far.rows))
        return validated

    async def predict(
        self, rows: pd.DataFrame | Rows, request_id: str = "", *, explain: bool = False
    ) -> Scored:
        """Validate and score one request's rows (batched with concurrent requests).

        With a canary, that share of requests goes to the challenger; with shadow, the
        challenger also scores every request after the answer is sent, for the log only.
        ``explain`` adds each row's contributions (``Scorer.explain``) to the answer.
        """
        canary = self.challenger is not None and self.canary_percent > 0
        role = (
            "canary"
            if canary and self._random.random() * 100 < self.canary_percent
            else ("champion")
        )
        scored = await self.batcher.submit(Request(rows, role, request_id, explain), len(rows))
        if self.shadow and self.challenger is not None and role == "champion":
            task = asyncio.create_task(self._shadow(rows, request_id))
            self._shadow_tasks.add(task)
            task.add_done_callback(self._shadow_tasks.discard)
        return scored

    async def _shadow(self, rows: pd.DataFrame | Rows, request_id: str) -> None:
        try:
            await self.batcher.submit(Request(rows, "shadow", request_id), len(rows))
        except Exception:  # a failing shadow never affects anyone
            self.metrics.errors.labels(self.name, "shadow").inc()

    def _run_batch(self, requests: Sequence[Request]) -> list[Scored | Exception]:
        """Runs on the model's thread: validate each request, predict each version's at once."""
        results: list[Scored | Exception] = [DataError("not scored")] * len(requests)
        champion, challenger = self.current, self.challenger  # one version per role per batch
        assert champion is not None
        groups: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault(request.role, []).append(i)
        for role, indexes in groups.items():
            served = challenger if role != "champion" and challenger is not None else champion
            self._score(served, role, [requests[i] for i in indexes], indexes, results)
        return results

    def _score(
        self,
        served: Scorer,
        role: str,
        requests: list[Request],
        indexes: list[int],
        results: list[Scored | Exception],
    ) -> None:
        import numpy as np
        import pandas as pd

        # Validate the whole batch at once; only if that fails, request by request, so that
        # each bad request gets its own error and the good ones are still scored.
        sizes = [len(r.rows) for r in requests]
        valid: list[int] = []  # positions in `requests`
        # The spec's id column is not a feature; the log keeps it when a request sends it,
        # so that labels arriving later can be joined to what was predicted.
        id_column = served.package.manifest.id_column if self.predlog else None
        try:
            raw = _one_frame([r.rows for r in requests])
            validated = self.validate(raw, served)
            combined = validated.frame
            valid = list(range(len(requests)))
            id_values = _ids(raw, id_column)
            far: list[Sequence[FarValues]] = [()] * len(valid)
            if validated.far:  # rare: each request is told of its own
                bounds = np.cumsum([0, *sizes]).tolist()
                far = [validated.out_of_range(bounds[k], bounds[k + 1]) for k in valid]
        except (DataError, ValueError, TypeError):
            parts = []
            ids: list[Any] = []
            far = []
            for k, request in enumerate(requests):
                rows = request.rows
                try:
                    frame = rows.frame() if isinstance(rows, Rows) else rows
                    checked = self.validate(frame, served)
                    parts.append(checked.frame)
                    far.append(checked.far)
                    ids.append(_ids(frame, id_column))
                    valid.append(k)
                except DataError as exc:
                    results[indexes[k]] = exc
                except (ValueError, TypeError) as exc:  # rows pandas cannot even build
                    problem = f"the rows cannot be read: {exc}"
                    results[indexes[k]] = DataError(problem, problems=[problem])
            if not valid:
                return
            combined = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
            id_values = None
            if any(i is not None for i in ids):
                id_values = np.concatenate(
                    [
                        np.full(len(p), None) if i is None else i
                        for i, p in zip(ids, parts, strict=True)
                    ]
                )
        outputs = served.answer(*served.predict(combined))
        columns = served.output_columns
        self.metrics.predictions.labels(self.name, served.version, role).inc(len(combined))
        start = 0
        for k, flagged in zip(valid, far, strict=True):
            end = start + sizes[k]
            explanation = None
            if requests[k].explain:  # only for the requests that ask: the others pay nothing
                try:
                    explanation = served.explain(combined.iloc[start:end])
                except BadInputError as exc:  # a model that cannot explain: this request's 400
                    results[indexes[k]] = exc
                    start = end
                    continue
            chunk = {name: values[start:end] for name, values in outputs.items()}
            scored = Scored(chunk, served.version, role, columns, flagged, explanation)
            results[indexes[k]] = scored
            if self.predlog is not None:  # submit never blocks; a full queue drops and counts
                inputs = combined.iloc[start:end].reset_index(drop=True)
                if id_values is not None:
                    inputs.insert(0, str(id_column), id_values[start:end])
                self.log_predictions(requests[k].request_id, inputs, scored)
            start = end

    def log_predictions(self, request_id: str, inputs: pd.DataFrame, scored: Scored) -> None:
        if self.predlog is not None:
            self.predlog.submit(
                model=self.name,
                version=scored.version,
                request_id=request_id,
                inputs=inputs,
                outputs=scored.frame(),
            )


def _ids(frame: pd.DataFrame, id_column: str | None) -> Any:
    """The id column's values as an object array, or None when it was not sent."""
    if not id_column or id_column not in frame.columns:
        return None
    return frame[id_column].to_numpy(dtype=object)


def _one_frame(batch: list[pd.DataFrame | Rows]) -> pd.DataFrame:
    """One frame for requests of the same columns; ValueError when they differ."""
    import pandas as pd

    rows = [r for r in batch if isinstance(r, Rows)]
    if len(rows) == len(batch):
        columns = rows[0].columns
        if any(r.columns != columns for r in rows):
            raise ValueError("requests with different columns are checked one by one")
        if len(rows) == 1:
            return rows[0].frame()
        return pd.DataFrame([row for r in rows for row in r.data], columns=columns)
    frames = [r.frame() if isinstance(r, Rows) else r for r in batch]
    if not all(f.columns.equals(frames[0].columns) for f in frames):
        raise ValueError("requests with different columns are checked one by one")
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
