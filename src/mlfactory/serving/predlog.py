"""The prediction log: every scored row, appended to rotating Parquet files.

The model server calls ``PredictionLog.submit`` once per request. ``submit``
only checks the arguments and puts them on a bounded queue: it never touches
the disk, never waits and never raises. A daemon writer thread takes the
submissions off the queue, buffers their rows per model and writes a file

* when ``rotate_rows`` rows of one model are buffered (a request's rows stay
  together, so a file may hold a few more than ``rotate_rows``),
* when the oldest buffered row was submitted ``rotate_seconds`` ago, or
* on ``close``.

Files go to ``folder/model=<name>/<UTC time>-<pid>-<seq>.parquet``, a
hive-style partition per model; the pid keeps several server worker processes
sharing one folder apart. A file is written under a hidden temporary name in
the same folder and moved into place with ``os.replace``, so a reader never
sees a partial file. Columns: the input columns as given, then ``prediction``
and the other output columns, then ``_model_version``, ``_request_id`` and
``_time`` (timestamp, UTC). Submissions with different input columns share a
file, with missing values where a column is absent.

Nothing here fails a request. A full queue drops the submission and counts its
rows (``dropped_rows``); a failed write (disk full, unwritable folder) is
logged, counted (``write_errors``) and its rows are dropped; the writer keeps
going and the next write succeeds once the problem is gone. The three counters
are meant to be exported as Prometheus metrics.

Call ``start()`` in each worker process (after any fork) and ``close()`` on
shutdown: the writer is a daemon thread, so rows still buffered when the
process exits without ``close()`` are lost.

``check_folder`` is the start-up check that the server and ``mlfactory serve``
run before taking a request: a folder or ``model=<name>`` partition that is a
file or cannot be written is refused there, instead of dropping every row.

``read_log`` reads one model's rows back for a time window; files it cannot
read are skipped and reported, never fatal.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import queue
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic
from time import time as wall_time
from typing import Any

import pandas as pd

from mlfactory.errors import BadInputError
from mlfactory.files import write_atomically

__all__ = ["META_COLUMNS", "PredictionLog", "check_folder", "read_log"]

META_COLUMNS = ("_model_version", "_request_id", "_time")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SEQ = itertools.count()  # process-wide, so two logs in one process never pick the same name
_WAKE = object()  # put on the queue by close() to wake an idle writer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Submission:
    model: str
    version: str
    request_id: str
    inputs: pd.DataFrame
    outputs: pd.DataFrame
    time: float
    submitted: float  # monotonic clock, for rotate_seconds


@dataclass
class _Buffer:
    """The rows of one model waiting for the next file."""

    first_submitted: float
    frames: list[pd.DataFrame] = field(default_factory=list)
    rows: int = 0
    inputs: dict[str, None] = field(default_factory=dict)  # ordered sets of column names
    outputs: dict[str, None] = field(default_factory=dict)

    def add(self, frame: pd.DataFrame, inputs: list[str], outputs: list[str]) -> None:
        self.frames.append(frame)
        self.rows += len(frame)
        self.inputs.update(dict.fromkeys(inputs))
        self.outputs.update(dict.fromkeys(outputs))

    def frame(self) -> pd.DataFrame:
        outputs = sorted(self.outputs, key=lambda name: name != "prediction")  # stable
        combined = pd.concat(self.frames, ignore_index=True)
        return combined[[*self.inputs, *outputs, *META_COLUMNS]]


def check_folder(folder: Path, models: Iterable[str] = ()) -> None:
    """Make sure the log can be written in ``folder`` for ``models``; raise ``BadInputError``.

    Creates ``folder`` when it is missing, then writes and removes a probe file
    in it and in each existing ``model=<name>`` partition. Every problem is
    listed at once. Run it at start-up: at run time the writer only counts
    failed writes and drops their rows.
    """
    folder = Path(folder)
    problems: list[str] = []
    if folder.exists() and not folder.is_dir():
        problems.append(
            f"{str(folder)!r} is a file, not a folder; give a folder (it is created "
            "if missing) or move the file away"
        )
    else:
        problems += _probe(folder, create=True)
        for model in dict.fromkeys(models):
            partition = folder / f"model={model}"
            if partition.exists() and not partition.is_dir():
                problems.append(
                    f"{str(partition)!r}, where model {model!r} logs, is a file, not a "
                    "folder; move it away"
                )
            elif partition.is_dir():
                problems += _probe(partition, create=False)
    if problems:
        raise BadInputError.from_problems(
            "the prediction log cannot be written, so every row would be dropped", problems
        )


def _probe(folder: Path, *, create: bool) -> list[str]:
    """``[]`` when a file can be created in ``folder`` (made first if ``create``), else why."""
    import tempfile

    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".mlfactory-write-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        verb = "create or write" if create else "write"
        return [
            f"cannot {verb} the folder {str(folder)!r} ({reason}); give a folder this "
            "process can write"
        ]
    return []


class PredictionLog:
    """Append scored rows to rotating Parquet files from a background thread.

    ``max_queue`` counts submissions (one request's rows each). ``flush_seconds``
    is the longest the idle writer sleeps before it looks at the clock again, so
    it bounds how late a time rotation happens. The constructor only checks and
    stores its arguments; ``start`` starts the writer.
    """

    def __init__(
        self,
        folder: Path,
        *,
        max_queue: int = 1000,
        rotate_rows: int = 100_000,
        rotate_seconds: float = 300.0,
        flush_seconds: float = 1.0,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        """``on_drop(rows)`` is called whenever rows are dropped (from any thread)."""
        for name, value in [
            ("max_queue", max_queue),
            ("rotate_rows", rotate_rows),
            ("rotate_seconds", rotate_seconds),
            ("flush_seconds", flush_seconds),
        ]:
            if not value > 0:  # also refuses NaN
                raise BadInputError(
                    f"PredictionLog {name} must be greater than 0, got {value!r}; "
                    f"a bounded queue and finite files need a positive {name}"
                )
        self.folder = Path(folder)
        self.max_queue = max_queue
        self.rotate_rows = rotate_rows
        self.rotate_seconds = rotate_seconds
        self.flush_seconds = flush_seconds
        self._queue: queue.Queue[_Submission | object] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()  # guards the counters and the closed flag
        self._stop = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._dropped_rows = 0
        self._on_drop = on_drop
        self._written_rows = 0
        self._write_errors = 0
        self._rejected = 0  # invalid submissions; logged by the writer, not by submit

    # -- counters (read by the server's metrics endpoint) ----------------------

    @property
    def dropped_rows(self) -> int:
        """Rows not written: queue full, invalid submission, submitted after close, failed write."""
        return self._dropped_rows

    def _drop(self, rows: int) -> None:
        """Count dropped rows; the caller holds ``_lock``."""
        self._dropped_rows += rows
        if self._on_drop is not None and rows:
            with contextlib.suppress(Exception):  # a metrics hook never breaks the log
                self._on_drop(rows)

    @property
    def written_rows(self) -> int:
        """Rows in Parquet files moved into place."""
        return self._written_rows

    @property
    def write_errors(self) -> int:
        """Files that could not be written (their rows are in ``dropped_rows``)."""
        return self._write_errors

    # -- the request path ------------------------------------------------------

    def start(self) -> PredictionLog:
        """Start the writer thread (once); returns ``self``."""
        with self._lock:
            if self._closed:
                raise BadInputError(
                    f"the prediction log writing to {self.folder} is closed; "
                    "create a new PredictionLog to log again"
                )
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mlfactory-predlog-writer", daemon=True
                )
                self._thread.start()
        return self

    def submit(
        self,
        *,
        model: str,
        version: str,
        request_id: str,
        inputs: pd.DataFrame,
        outputs: pd.DataFrame,
        time: float | None = None,
    ) -> bool:
        """Queue one request's rows; ``False`` when they were dropped. Never blocks or raises.

        ``inputs`` and ``outputs`` are kept by reference until written: do not
        change them in place after submitting. Their index is not logged.
        """
        rows = 0
        try:
            rows = len(inputs)
            valid = (
                isinstance(inputs, pd.DataFrame)
                and isinstance(outputs, pd.DataFrame)
                and len(outputs) == rows
                and isinstance(model, str)
                and _MODEL_NAME.match(model) is not None
                and inputs.columns.is_unique
                and outputs.columns.is_unique
                and not set(inputs.columns) & set(outputs.columns)
                and not (set(inputs.columns) | set(outputs.columns)) & set(META_COLUMNS)
            )
            item = _Submission(
                model=model,
                version=str(version),
                request_id=str(request_id),
                inputs=inputs,
                outputs=outputs,
                time=wall_time() if time is None else float(time),
                submitted=monotonic(),
            )
        except Exception:
            valid = False
        with self._lock:
            if not valid:
                self._rejected += 1
            elif not self._closed:
                try:
                    self._queue.put_nowait(item)
                    return True
                except queue.Full:
                    pass
            self._drop(rows)
            return False

    def close(self, timeout: float = 10.0) -> None:
        """Write everything queued and buffered, then stop the writer. Never raises.

        Waits at most ``timeout`` seconds; a writer still busy after that is
        logged and left to finish in the background.
        """
        try:
            with self._lock:
                self._closed = True
                thread = self._thread
            if thread is None:  # never started: start the writer just to flush the queue
                thread = threading.Thread(target=self._run, name="mlfactory-predlog-writer")
                thread.daemon = True
                self._thread = thread
                thread.start()
            self._stop.set()
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_WAKE)  # a full queue means the writer is awake anyway
            thread.join(timeout)
            if thread.is_alive():
                logger.warning(
                    "prediction log writer for %s did not finish within %.1f s; "
                    "about %d submissions are still queued and are written in the background",
                    self.folder,
                    timeout,
                    self._queue.qsize(),
                )
        except Exception:
            logger.exception("closing the prediction log writing to %s failed", self.folder)

    # -- the writer thread -----------------------------------------------------

    def _run(self) -> None:
        buffers: dict[str, _Buffer] = {}
        reported_rejected = 0
        while True:
            stopping = False
            try:
                try:
                    item = self._queue.get(timeout=self._wait(buffers))
                except queue.Empty:
                    item = None
                if isinstance(item, _Submission):
                    self._buffer(buffers, item)
                stopping = self._stop.is_set()
                if stopping:  # submit refuses new items once closed: drain what is left
                    while True:
                        try:
                            item = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if isinstance(item, _Submission):
                            self._buffer(buffers, item)
                if self._rejected != reported_rejected:
                    logger.warning(
                        "prediction log refused %d invalid submissions: inputs and outputs "
                        "must be DataFrames of equal length with distinct column names, none "
                        "of them %s, and the model name must match %s",
                        self._rejected - reported_rejected,
                        ", ".join(META_COLUMNS),
                        _MODEL_NAME.pattern,
                    )
                    reported_rejected = self._rejected
                self._rotate(buffers, force=stopping)
            except Exception:  # a bug, not a disk problem: keep the writer alive
                logger.exception("prediction log writer hit an unexpected error; continuing")
                with self._lock:
                    self._write_errors += 1
            if stopping:
                return

    def _wait(self, buffers: dict[str, _Buffer]) -> float:
        """Seconds until the writer must look at the clock again."""
        wait = self.flush_seconds
        now = monotonic()
        for buffer in buffers.values():
            wait = min(wait, buffer.first_submitted + self.rotate_seconds - now)
        return max(wait, 0.0)

    def _buffer(self, buffers: dict[str, _Buffer], item: _Submission) -> None:
        try:
            inputs = item.inputs.reset_index(drop=True)
            outputs = item.outputs.reset_index(drop=True)
            output_columns = sorted(outputs.columns, key=lambda name: name != "prediction")
            frame = pd.concat([inputs, outputs[output_columns]], axis=1)
            frame["_model_version"] = item.version
            frame["_request_id"] = item.request_id
            frame["_time"] = pd.Timestamp(item.time, unit="s", tz="UTC").as_unit("us")
        except Exception:
            logger.exception(
                "prediction log could not use request %r of model %r; its %d rows are dropped",
                item.request_id,
                item.model,
                len(item.inputs),
            )
            with self._lock:
                self._drop(len(item.inputs))
            return
        if len(frame) == 0:
            return
        buffer = buffers.setdefault(item.model, _Buffer(first_submitted=item.submitted))
        buffer.add(frame, list(inputs.columns), output_columns)
        if buffer.rows >= self.rotate_rows:
            self._flush(item.model, buffers.pop(item.model))

    def _rotate(self, buffers: dict[str, _Buffer], *, force: bool) -> None:
        now = monotonic()
        for model in list(buffers):
            if force or now - buffers[model].first_submitted >= self.rotate_seconds:
                self._flush(model, buffers.pop(model))

    def _flush(self, model: str, buffer: _Buffer) -> None:
        folder = self.folder / f"model={model}"
        try:
            table = _to_arrow(buffer.frame(), model)
            folder.mkdir(parents=True, exist_ok=True)
            stamp = pd.Timestamp(wall_time(), unit="s", tz="UTC").strftime("%Y%m%dT%H%M%SZ")
            path = folder / f"{stamp}-{os.getpid()}-{next(_SEQ):06d}.parquet"
            _write_parquet(table, path)
        except Exception as exc:
            logger.error(
                "could not write %d prediction log rows of model %r to %s (%s); they are "
                "dropped, and the writer tries again with the next rows",
                buffer.rows,
                model,
                folder,
                exc,
                exc_info=True,
            )
            with self._lock:
                self._write_errors += 1
                self._drop(buffer.rows)
        else:
            with self._lock:
                self._written_rows += buffer.rows


def _to_arrow(frame: pd.DataFrame, model: str) -> Any:
    """The frame as an Arrow table; columns mixing types (e.g. int and str) become strings."""
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    mixed = []
    for name in frame.columns:
        try:
            pa.array(frame[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            mixed.append(name)
    logger.warning(
        "prediction log columns %s of model %r mix value types across requests; "
        "they are written as strings",
        mixed,
        model,
    )
    frame = frame.copy()
    for name in mixed:
        frame[name] = frame[name].map(_as_text).astype(object)
    return pa.Table.from_pandas(frame, preserve_index=False)


def _as_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def _write_parquet(table: Any, path: Path) -> None:
    """Write the part whole or not at all (``files.write_atomically``)."""
    import pyarrow.parquet as pq

    write_atomically(path, lambda handle: pq.write_table(table, handle))


def read_log(
    folder: Path,
    model: str,
    *,
    since: float | None = None,
    until: float | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """One model's logged rows with ``since <= _time < until`` (Unix seconds), oldest first.

    Returns the rows and one problem message per file that was skipped, or a
    single message when there is nothing to read. Never raises for a missing
    folder or a file that is not valid Parquet.
    """
    import pyarrow.parquet as pq

    empty = pd.DataFrame(
        {
            "_model_version": pd.Series(dtype=object),
            "_request_id": pd.Series(dtype=object),
            "_time": pd.Series(dtype="datetime64[us, UTC]"),
        }
    )
    if not isinstance(model, str) or _MODEL_NAME.match(model) is None:
        return empty, [
            f"model name {model!r} cannot be in the prediction log; names match "
            f"{_MODEL_NAME.pattern}"
        ]
    partition = Path(folder) / f"model={model}"
    if not partition.is_dir():
        return empty, [f"no prediction log for model {model!r}: folder {partition} does not exist"]
    paths = sorted(p for p in partition.glob("*.parquet") if not p.name.startswith("."))
    if not paths:
        return empty, [f"no prediction log for model {model!r}: {partition} has no Parquet files"]

    low = None if since is None else pd.Timestamp(since, unit="s", tz="UTC")
    high = None if until is None else pd.Timestamp(until, unit="s", tz="UTC")
    frames: list[pd.DataFrame] = []
    problems: list[str] = []
    for path in paths:
        try:
            frame = pq.read_table(path).to_pandas()
            if "_time" not in frame.columns:
                raise ValueError("it has no _time column")
            times = pd.to_datetime(frame["_time"], utc=True)
        except Exception as exc:
            problems.append(f"skipped {path}: not a readable prediction log file ({exc})")
            continue
        keep = pd.Series(True, index=frame.index)
        if low is not None:
            keep &= times >= low
        if high is not None:
            keep &= times < high
        frames.append(frame[keep])
    if not frames:
        return empty, problems
    rows = pd.concat(frames, ignore_index=True)
    rows = rows.sort_values("_time", kind="stable", ignore_index=True)
    return rows, problems
