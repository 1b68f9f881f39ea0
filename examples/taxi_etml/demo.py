"""The ETML demo that `make demo-etml` runs.

Runs the taxi job (job.yaml) for two days, then reruns the second day, and shows
that the rerun wrote the same rows and made no LLM call: the answers come from
the cache. The LLM is a local stand-in server (standin_llm.py) unless
MLFACTORY_LLM_BASE_URL points at a real one. Outputs go to examples/taxi_etml/out/,
each day's MLflow run to ./.mlfactory/.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
JOB = HERE / "job.yaml"
OUT = HERE / "out"
DAYS = ("2026-11-27", "2026-11-28")

sys.path.insert(0, str(HERE))
from standin_llm import standin_llm  # noqa: E402


def etml(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    shown = " ".join(["mlfactory", "etml", str(JOB.relative_to(Path.cwd())), *args])
    print(f"\n$ {shown}", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "mlfactory", "etml", str(JOB), *args, "--json", "-"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(done.returncode)
    return list(json.loads(done.stdout)["days"])


def digest(day: str) -> str:
    rows = (OUT / f"date={day}" / "rows.jsonl").read_bytes()
    return hashlib.sha256(rows).hexdigest()[:16]


def main() -> int:
    print("mlfactory ETML demo: a day's taxi rides -> DBSCAN outliers -> LLM summaries -> out/")
    env = dict(os.environ)
    real = bool(env.get("MLFACTORY_LLM_BASE_URL"))
    with nullcontext(None) if real else standin_llm() as standin:
        if standin is not None:
            env["MLFACTORY_LLM_BASE_URL"] = standin.url
            print(f"(LLM: a local stand-in server at {standin.url}; set MLFACTORY_LLM_BASE_URL "
                  "to use a real one)")  # fmt: skip
        first = etml(env, "--from", DAYS[0], "--to", DAYS[1])
        before = digest(DAYS[1])
        print(f"\n=== rerun of {DAYS[1]}: same output, no LLM call ===", flush=True)
        rerun = etml(env, "--date", DAYS[1])[0]
        after = digest(DAYS[1])
    calls = [d["llm"]["calls"] for d in first]
    print("\n=== what happened ===")
    for day, n in zip(first, calls, strict=True):
        print(f"{day['date']}: {day['rows']:,} rides, {day['flagged']} flagged, {n} LLM calls")
    print(f"rerun of {DAYS[1]}: {rerun['llm']['calls']} LLM calls, "
          f"{rerun['llm']['cached']} answers from the cache")  # fmt: skip
    same = "the same" if before == after else "DIFFERENT"
    print(f"rows of {DAYS[1]} before and after the rerun: {same} (sha256 {before}, {after})")
    day = OUT / f"date={DAYS[1]}"
    print("\n=== where to look ===")
    print(f"the day's report:      {day / 'report.html'}")
    print(f"every ride, scored:    {day / 'rows.parquet'} (and rows.jsonl)")
    print(f"the day in numbers:    {day / 'summary.json'}")
    print(f"MLflow runs:           {Path('.mlfactory').resolve() / 'mlflow.db'}")
    summary = rerun["day_summary"]
    if summary:
        print(f"\nsummary of {DAYS[1]} ({summary['source']}): {summary['text']}")
    ok = before == after and rerun["llm"]["calls"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
