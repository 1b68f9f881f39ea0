"""``run_days``: the ETML job for each date, in order: extract -> transform -> detect ->
summarise -> load, one dated output and one MLflow run per date.

The date is always the one asked for (``--date``, or each date of ``--from``/``--to``),
never the clock, so a rerun or a backfill computes the same day. A day is written as a
whole (``output.write_day``): a rerun replaces that date's folder, never adds to it. The
LLM's answers are cached by prompt hash under ``OUTPUT/_llm-cache``, so a rerun of a day
whose rows did not change makes no call. A day with no rows writes an empty day and
says so, or is an error (exit 2) with ``extract.on_empty: fail``. The LLM never fails a
day: an unreachable endpoint, a wrong key, a rate limit or the token budget leave the
rows it did not answer with an extractive summary marked as such.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.errors import DataError
from mlfactory.etml.detect import Detected, detect
from mlfactory.etml.extract import extract, transform
from mlfactory.etml.llm import Answer, LLMClient, Usage
from mlfactory.etml.output import open_output, write_day
from mlfactory.etml.report import day_report
from mlfactory.etml.result import DayResult, origin
from mlfactory.etml.summarise import summarise_day, summarise_rows

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.engines import Engine
    from mlfactory.etml.spec import Job
    from mlfactory.registry import Registry

__all__ = ["DayResult", "run_day", "run_days"]  # DayResult lives in result.py

CACHE = "_llm-cache"  # under the output folder: answers by prompt hash
FILES = ("rows.parquet", "rows.jsonl", "summary.json", "report.html")


def run_days(
    job: Job,
    days: Sequence[date],
    *,
    registry: Registry | None = None,
    engine: Engine | None = None,
    on_day: Callable[[DayResult], None] = lambda result: None,
) -> list[DayResult]:
    """Run ``job`` for each of ``days`` in order; ``on_day`` hears of each as it ends."""
    from mlfactory.registry import Registry

    spec = job.spec
    registry = registry or Registry(
        tracking_uri=spec.registry.tracking_uri, path=spec.registry.path
    )
    root = open_output(job.output, job=spec.name, spec_path=job.path)
    engine = engine or spec.engine.start()
    results = []
    with engine:
        for day in days:
            result = run_day(job, day, root=root, registry=registry, engine=engine)
            on_day(result)
            results.append(result)
    return results


def run_day(job: Job, day: date, *, root: Path, registry: Registry, engine: Engine) -> DayResult:
    """One date: its rows read, scored, flagged rows summarised, the day written whole."""
    import pandas as pd

    started = time.perf_counter()
    spec = job.spec
    extracted = extract(
        job.source, day, sql=spec.extract.sql, storage_options=spec.extract.storage_options
    )
    frame, notes = extracted.frame, list(extracted.notes)
    if spec.transform is not None:
        frame = transform(frame, spec.transform.sql, day)
    frame = frame.reset_index(drop=True)
    notes += _repeated_ids(frame, spec.detect.id_column)
    if len(frame) == 0:
        if spec.extract.on_empty == "fail":
            raise DataError(
                f"no rows for {day.isoformat()} in {extracted.source!r}"
                + (f" ({'; '.join(notes)})" if notes else "")
                + "; nothing was written (extract.on_empty: fail)"
            )
        notes.append(f"no rows for {day.isoformat()}: an empty day was written")
        frame = pd.DataFrame(frame)
    try:
        detected = detect(spec.detect, frame, registry=registry, engine=engine)
    except DataError as exc:  # which day of a backfill, and that nothing of it was written
        raise DataError(
            f"{day.isoformat()}: {exc}\nnothing was written for {day.isoformat()}",
            problems=exc.problems,
        ) from None
    notes += detected.notes
    answers, day_answer, usage = _summaries(job, frame, detected, root)
    rows = _rows(frame, detected, answers)
    result = DayResult(
        day=day,
        rows=len(frame),
        flagged=int(detected.flags.sum()),
        refused=len(detected.reasons),
        summarised=sum(a is not None for a in answers),
        usage=usage,
        seconds=0.0,
        output=root / f"date={day.isoformat()}",
        by=detected.by,
        day_summary=day_answer,
        notes=notes,
    )
    result.seconds = time.perf_counter() - started
    summary = {"job": spec.name, **result.to_dict()}
    report = day_report(spec.name, result, rows, id_column=spec.detect.id_column)
    write_day(
        root,
        day,
        {
            "rows.parquet": lambda out: rows.to_parquet(out, index=False),
            "rows.jsonl": _json_lines(rows),
            "summary.json": (json.dumps(summary, indent=1, default=str) + "\n").encode(),
            "report.html": report.encode(),
        },
    )
    result.run_id = _record(registry, job, result)
    return result


def _repeated_ids(frame: pd.DataFrame, id_column: str | None) -> list[str]:
    """A note when rows share an id (a file read twice, say): each is still scored."""
    if id_column is None or id_column not in frame.columns:
        return []
    repeated = frame[id_column].duplicated(keep=False) & frame[id_column].notna()
    if not repeated.any():
        return []
    example = frame.loc[repeated, id_column].iloc[0]
    return [
        f"{int(repeated.sum()):,} rows share their {id_column} with another row (e.g. "
        f"{example!r}); each is scored and written: check the day's files for duplicates"
    ]


def _summaries(
    job: Job, frame: pd.DataFrame, detected: Detected, root: Path
) -> tuple[list[Answer | None], Answer | None, Usage]:
    """An answer per flagged row (the top ``max_rows`` by score), the day's, the usage."""
    spec = job.spec.summarise
    answers: list[Answer | None] = [None] * len(frame)
    if spec is None or len(frame.columns) == 0:  # no summaries, or no file that day
        return answers, None, Usage()
    client = LLMClient(job.llm(root / CACHE))
    flagged = np.flatnonzero(detected.flags)
    flagged = flagged[np.argsort(-detected.scores[flagged], kind="stable")][: spec.max_rows]
    row_answers, usage = summarise_rows(frame.iloc[flagged], spec.columns, spec.template, client)
    for position, answer in zip(flagged, row_answers, strict=True):
        answers[int(position)] = answer
    day, day_usage = summarise_day(
        row_answers, int(detected.flags.sum()), len(frame), spec.day_template, client
    )
    return answers, day, usage + day_usage


def _rows(frame: pd.DataFrame, detected: Detected, answers: list[Answer | None]) -> pd.DataFrame:
    """Every row of the day with its score, flag, refusal reason and summary."""
    import pandas as pd

    def column(values: list[Any]) -> pd.Series:
        return pd.Series(values, index=frame.index, dtype=object)

    return frame.assign(
        score=detected.scores,
        flag=detected.flags,
        refused=column([detected.reasons.get(i) for i in range(len(frame))]),
        summary=column([None if a is None else a.text for a in answers]),
        summary_source=column([None if a is None else origin(a) for a in answers]),
    )


def _json_lines(rows: pd.DataFrame) -> Callable[[Any], None]:
    def write(out: Any) -> None:
        text = io.StringIO()
        if len(rows):
            rows.to_json(text, orient="records", lines=True, date_format="iso")
        out.write(text.getvalue().encode())

    return write


def _record(registry: Registry, job: Job, result: DayResult) -> str:
    """The day as a finished MLflow run: counts, flag rate, tokens, seconds, the report."""
    usage = result.usage
    return registry.log_run(
        job.spec.name,
        params={"date": result.day.isoformat(), "detected_by": result.by, "job": str(job.path)},
        metrics={
            "rows": result.rows,
            "flagged": result.flagged,
            "refused": result.refused,
            "flag_rate": result.flag_rate,
            "summarised": result.summarised,
            "llm_calls": usage.calls,
            "llm_cached": usage.cached,
            "llm_fallbacks": usage.fallbacks,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost": usage.cost,
            "seconds": result.seconds,
        },
        tags={"mlfactory.etml.job": job.spec.name, "mlfactory.etml.date": result.day.isoformat()},
        artifacts={"": result.output / "report.html", "summary": result.output / "summary.json"},
    )
