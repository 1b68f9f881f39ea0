"""The Evidently peer of ``drift.py`` and ``drift_quality.py``: ``Report([DataDriftPreset()])``.

Runs in the benchmarks' own venv (``benchmarks/.venv-evidently``, Evidently 0.7.23),
started by the benchmark with that venv's python. Both datasets are built with
``Dataset.from_pandas`` and an explicit ``DataDefinition`` giving the same numeric and
categorical columns as mlfactory's schema (Evidently's own inference picks the same
kinds on these columns; being explicit rules that out as a difference).

- ``report``: reads ``--reference`` and ``--current`` Parquet files, runs the report,
  saves its HTML (``Snapshot.save_html``) and prints one JSON object: seconds (run,
  HTML, total; reading the Parquet files is reported apart), peak RSS of this process
  (``ru_maxrss``) and its RSS once the frames are loaded, the HTML size, the dataset
  verdict and every column's method, score, threshold and verdict.
- ``splits``: reads the flights frame and a list of jobs (n, split index, shift),
  rebuilds each split with ``splits.py`` exactly as mlfactory's side gets it, runs
  the report (no HTML) and prints one JSON line per job.

Evidently 0.7's defaults, which decide the verdicts: with more than 1,000 reference
rows a numeric column is tested with the normed Wasserstein distance and a
categorical one with the Jensen-Shannon distance, both drifting at >= 0.1; at most
1,000 rows, K-S (numeric) or chi-square (categorical) p-values below 0.05. The
dataset drifts when at least half of the columns do (``drift_share=0.5``). A
``Report`` made without ``include_tests=True`` has no test results, so each column's
verdict is taken from its score as the stattest decides it (p-values: K-S
``p <= threshold``, the others ``p < threshold``; distances: ``>= threshold``) and
checked against the ``DriftedColumnsCount`` metric.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report, __version__
from evidently.presets import DataDriftPreset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from splits import make_split, month_rows, shift


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_report(reference: pd.DataFrame, current: pd.DataFrame, kinds: dict[str, list[str]]) -> Any:
    definition = DataDefinition(
        numerical_columns=kinds["numerical"], categorical_columns=kinds["categorical"]
    )
    return Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )


def verdicts(snapshot: Any) -> dict[str, Any]:
    """Dataset verdict and per-column method, score, threshold and verdict."""
    columns: dict[str, Any] = {}
    count = share = None
    for metric in snapshot.dict()["metrics"]:
        config, value = metric["config"], metric["value"]
        if config["type"].endswith("DriftedColumnsCount"):
            count, share, drift_share = value["count"], value["share"], config["drift_share"]
        elif config["type"].endswith("ValueDrift"):
            method, threshold = config["method"], config["threshold"]
            if "p_value" in method:
                drifted = value <= threshold if method.startswith("K-S") else value < threshold
            else:
                drifted = value >= threshold
            columns[config["column"]] = {
                "method": method,
                "score": value,
                "threshold": threshold,
                "drifted": bool(drifted),
            }
    flagged = [c for c, v in columns.items() if v["drifted"]]
    if count is None or share is None or int(count) != len(flagged):
        raise SystemExit(f"column verdicts {flagged} disagree with DriftedColumnsCount {count}")
    return {
        "dataset_drift": bool(share >= drift_share),
        "share": share,
        "drifted": flagged,
        "columns": columns,
    }


def report(args: argparse.Namespace) -> None:
    kinds = json.loads(Path(args.definition).read_text())
    start = time.perf_counter()
    reference, current = pd.read_parquet(args.reference), pd.read_parquet(args.current)
    loaded, rss_loaded = time.perf_counter(), rss_mb()
    snapshot = run_report(reference, current, kinds)
    ran = time.perf_counter()
    snapshot.save_html(args.html)
    done = time.perf_counter()
    out = {
        "tool": "evidently",
        "version": __version__,
        "rows": [len(reference), len(current)],
        "load_seconds": loaded - start,
        "run_seconds": ran - loaded,
        "html_seconds": done - ran,
        "seconds": done - loaded,
        "rss_loaded_mb": rss_loaded,
        "peak_rss_mb": peak_rss_mb(),
        "report_bytes": os.path.getsize(args.html),
        **verdicts(snapshot),
    }
    print(json.dumps(out))


def splits(args: argparse.Namespace) -> None:
    kinds = json.loads(Path(args.definition).read_text())
    frame = pd.read_parquet(args.frame)
    rows = month_rows(frame)
    jobs = json.loads(Path(args.jobs).read_text())
    for job in jobs:
        start = time.perf_counter()
        n, index, seed = job["n"], job["index"], job["seed"]
        reference, current = make_split(frame, rows, n, index, seed)
        if job["shift"]:
            current = shift(reference, current, job["shift"], [seed, n, index])
        found = verdicts(run_report(reference, current, kinds))
        del found["columns"]
        print(json.dumps({**job, **found, "seconds": time.perf_counter() - start}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    one = sub.add_parser("report")
    one.add_argument("--reference", required=True)
    one.add_argument("--current", required=True)
    one.add_argument("--html", required=True)
    one.add_argument("--definition", required=True)
    many = sub.add_parser("splits")
    many.add_argument("--frame", required=True)
    many.add_argument("--jobs", required=True)
    many.add_argument("--definition", required=True)
    args = parser.parse_args()
    if args.mode == "report":
        report(args)
    else:
        splits(args)


if __name__ == "__main__":
    main()
