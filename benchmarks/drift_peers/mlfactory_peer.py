"""mlfactory's side of ``drift.py``, in its own process so its peak RSS is its own.

- ``raw``: from raw rows, as Evidently is given them: ``profile_frame`` of the
  reference rows, ``check_drift`` of the current rows against it, ``write_report``.
- ``stored``: what ``mlfactory monitor`` does in production: the reference profile
  was stored at training (here: a JSON file), so only the current rows are read,
  checked and reported.

Every library is imported before the clock starts: ``check_drift`` imports
``scipy.stats`` on first use, so it is imported here first, as importing
Evidently already did for its own libraries. (The report's charts are SVG
written by mlfactory itself; no plotting library is involved.)

Prints one JSON object: seconds per step (reading the Parquet files is reported
apart), peak RSS (``ru_maxrss``) and the RSS once the frames are loaded, the
report's size, the dataset verdict and every column's test, effect, threshold, adjusted
p-value and verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import pandas as pd
import scipy.stats  # noqa: F401  imported on first use by check_drift

from mlfactory.data.profile import profile_frame
from mlfactory.data.schema import Schema
from mlfactory.monitoring import MonitorResult, check_drift, write_report


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["raw", "stored"])
    parser.add_argument("--reference", help="Parquet rows (raw) or a profile JSON (stored)")
    parser.add_argument("--current", required=True)
    parser.add_argument("--schema", help="Schema.to_dict() JSON (raw)")
    parser.add_argument("--html", required=True)
    args = parser.parse_args()

    start = time.perf_counter()
    if args.mode == "raw":
        schema = Schema.from_dict(json.loads(Path(args.schema).read_text()))
        reference = pd.read_parquet(args.reference)
    current = pd.read_parquet(args.current)
    loaded, rss_loaded = time.perf_counter(), rss_mb()
    if args.mode == "raw":
        profile = profile_frame(reference, schema)
    else:  # loading the stored profile is part of the work
        profile = json.loads(Path(args.reference).read_text())
    profiled = time.perf_counter()
    result = check_drift(profile, current)
    checked = time.perf_counter()
    write_report(MonitorResult(model="flights", version="bench", data=result), Path(args.html))
    size = os.path.getsize(args.html)
    done = time.perf_counter()
    out = {
        "tool": f"mlfactory ({args.mode})",
        "rows": [profile["rows"], len(current)],
        "load_seconds": loaded - start,
        "profile_seconds": profiled - loaded,
        "check_seconds": checked - profiled,
        "report_seconds": done - checked,
        "seconds": done - loaded,
        "rss_loaded_mb": rss_loaded,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "report_bytes": size,
        "dataset_drift": result.drifted,
        "share": result.share,
        "drifted": [c.column for c in result.columns if c.drifted],
        "columns": {
            c.column: {
                "method": c.test,
                "score": c.effect,
                "threshold": c.threshold,
                "p_value": c.p_value,
                "drifted": c.drifted,
            }
            for c in result.columns
        },
        "quality": result.quality,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
