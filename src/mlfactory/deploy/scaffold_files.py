"""The files of a project ``mlfactory init`` writes, besides factory.yaml.

Plain text with ``@NAME@`` placeholders (the Makefile and the Python files are full of
braces and dollars); ``project_files`` fills them in. What each file does:

- ``Makefile``: ``make train`` and ``make test`` (trains when there is no champion, writes
  the golden rows when there are none, runs pytest); ``SAMPLE=N TRIALS=T`` train on a
  seeded sample with fewer trials (CI); ``PIP_INSTALL`` says how mlfactory is installed
  (default: the pinned version from the package index).
- ``scripts/model.py``: the chores the Makefile runs (champion?, the sampled spec, golden).
- ``tests/test_model.py``: the champion's gates, golden rows and one prediction's latency.
- ``.github/workflows/ci.yml``: installs, trains on a sample, runs the tests.
"""

from __future__ import annotations

from mlfactory.versions import __version__

__all__ = ["CI_SAMPLE", "CI_TRIALS", "project_files"]

CI_SAMPLE = 5000  # rows CI trains on
CI_TRIALS = 2  # trials per candidate in CI

_README = """\
# @NAME@

```sh
make train   # creates .venv, installs mlfactory @VERSION@, trains and registers the model
make test    # trains if there is no champion yet, then tests it: gates, golden rows, latency
```

Both need only Python 3.11 and make. `make train` prints the test metrics, the
gate decision and where the HTML report is; the model is registered in
`.mlfactory/` (an MLflow store: `.venv/bin/mlfactory ui` shows it). A version
becomes `@NAME@@champion` only if it passes the gates in `factory.yaml`.

## What is checked

`tests/test_model.py` runs on the version `factory.yaml` would promote (the
champion of `@NAME@`):

- **gates**: the test metrics registered with the version against `gates.min`
  and `gates.max` in `factory.yaml`;
- **golden rows**: `tests/golden.csv` holds a few rows and the answers agreed
  on. `make golden` writes them from the current champion (rows it is sure
  about; a numeric answer gets a tolerance of twice the test MAE); read them,
  edit them if an answer is wrong, and commit the file. A new champion that
  answers them differently fails the test;
- **latency**: one prediction in under `MODEL_MAX_LATENCY_MS` milliseconds
  (default @LATENCY@; the median of 20 calls).

## CI

`.github/workflows/ci.yml` installs the project, trains on a seeded sample
(`make test SAMPLE=@SAMPLE@ TRIALS=@TRIALS@`: a sample of the rows, fewer trials)
and runs the same tests. Commit `tests/golden.csv` first: CI fails without it.

## Files

- `factory.yaml`: what to learn (every guess `mlfactory init` made is commented)
- `data/`: the data, when it was small enough to copy
- `Makefile`, `scripts/model.py`: train, test, golden, sample
- `tests/`: the model's tests and golden rows
- `.mlfactory-init.json`: what `mlfactory init` wrote, so `mlfactory init --force`
  can update those files and never overwrite one you edited
"""

_MAKEFILE = """\
# Two commands that work on a fresh machine with Python 3.11 and make:
#   make train   trains factory.yaml and registers the model (exit 3: held back by a gate)
#   make test    trains if there is no champion yet, then tests it (tests/test_model.py)
# CI trains on a seeded sample with fewer trials: make test SAMPLE=@SAMPLE@ TRIALS=@TRIALS@
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# How mlfactory is installed: the version pinned in pyproject.toml, from the package index.
PIP_INSTALL ?= $(BIN)/python -m pip install --quiet -e '.[test]'
SAMPLE ?=
TRIALS ?=
SPEC   := factory.yaml
SAMPLING := --rows '$(SAMPLE)' --trials '$(TRIALS)'
TRAIN_SPEC := $(if $(SAMPLE)$(TRIALS),.mlfactory/sampled/factory.yaml,$(SPEC))

.PHONY: install validate train test golden clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL)
	touch $@

install: $(VENV)/.installed

validate: install
	$(BIN)/python -m mlfactory validate $(SPEC)

train: install
ifneq ($(SAMPLE)$(TRIALS),)
	$(BIN)/python scripts/model.py sample $(SAMPLING) --output $(TRAIN_SPEC)
endif
	$(BIN)/python -m mlfactory train $(TRAIN_SPEC)

golden: install
	$(BIN)/python scripts/model.py golden

test: install
	$(BIN)/python scripts/model.py champion || $(MAKE) train
	test -f tests/golden.csv || $(MAKE) golden
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .mlfactory .pytest_cache
"""

_PYPROJECT = """\
[project]
name = "@NAME@"
version = "0.1.0"
description = "The @NAME@ model: factory.yaml, trained and tested with mlfactory."
requires-python = ">=3.11"
dependencies = ["mlfactory==@VERSION@"]

[project.optional-dependencies]
test = ["pytest"]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
bypass-selection = true  # a project, not a library: nothing to package

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-ra"
"""

_GITIGNORE = """\
.venv/
.mlfactory/
outputs/
__pycache__/
.pytest_cache/
*.new
"""

_CI = """\
# Written by `mlfactory init`: trains on a seeded sample and runs the model's tests.
name: model
on:
  push:
  pull_request:
jobs:
  test:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: golden rows are committed
        run: test -f tests/golden.csv || { echo "commit make golden's file"; exit 1; }
      - name: train on a sample and test
        run: make test SAMPLE=@SAMPLE@ TRIALS=@TRIALS@
"""

_SCRIPT = '''\
"""The project's model chores, run by the Makefile (written by `mlfactory init`).

    python scripts/model.py champion     exit 0 when factory.yaml's model has a champion
    python scripts/model.py sample --rows N --trials T --output PATH
                                         factory.yaml on N seeded rows, with T trials
    python scripts/model.py golden       tests/golden.csv from the current champion
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "factory.yaml"
GOLDEN = ROOT / "tests" / "golden.csv"
GOLDEN_ROWS = 8
SEED = 42


def registry(spec: Any) -> Any:
    from mlfactory import Registry

    path = Path(spec.registry.path)
    return Registry(
        tracking_uri=spec.registry.tracking_uri, path=path if path.is_absolute() else ROOT / path
    )


def champion() -> int:
    from mlfactory import load_spec

    spec = load_spec(SPEC)
    info = registry(spec).champion(spec.name)
    found = f"version {info.version} is champion" if info else "no champion yet"
    print(f"{spec.name}: {found}")
    return 0 if info else 1


def sample(rows: str, trials: str, output: str) -> int:
    """factory.yaml trained on a seeded sample (whole series for forecasting), fewer trials."""
    import yaml

    from mlfactory import load_spec
    from mlfactory.data import load_frame
    from mlfactory.spec import load_yaml

    spec = load_spec(SPEC)
    raw = load_yaml(SPEC.read_text())  # as load_spec reads it (1e-3 a number, not text)
    target = Path(output).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    if spec.data.source is not None:  # load_spec made it absolute: the copy lives elsewhere
        raw["data"]["source"] = spec.data.source
    if rows:
        frame = load_frame(spec.data.source, spec.data.sql)
        ids = spec.data.id_columns
        if spec.task == "forecasting" and ids:
            keys = frame[ids].drop_duplicates()
            wanted = max(1, round(len(keys) * min(1.0, int(rows) / max(len(frame), 1))))
            frame = frame.merge(keys.sample(wanted, random_state=SEED), on=ids)
        elif len(frame) > int(rows):
            frame = frame.sample(int(rows), random_state=SEED).sort_index()
        data = target.with_suffix(".parquet")
        frame.to_parquet(data, index=False)
        raw["data"]["source"] = str(data)
        raw["data"].pop("sql", None)  # applied above
        print(f"training on {len(frame):,} sampled rows ({data})")
    if trials and spec.task != "forecasting":  # whose models are backtested, not searched
        raw["search"] = {**(raw.get("search") or {}), "trials": int(trials)}
    target.write_text(yaml.safe_dump(raw, sort_keys=False))
    return 0


def golden() -> int:
    """A few rows the champion is sure about, with its answers: review and commit them."""
    import pandas as pd

    from mlfactory import load_spec
    from mlfactory.data import load_frame
    from mlfactory.scoring import Scorer

    spec = load_spec(SPEC)
    reg = registry(spec)
    info = reg.champion(spec.name)
    if info is None:
        print(f"{spec.name} has no champion: run make train first", file=sys.stderr)
        return 1
    scorer = Scorer.load(reg, info)
    inputs = [c.name for c in scorer.package.schema.columns]
    frame = load_frame(spec.data.source, spec.data.sql)
    if scorer.package.manifest.task == "forecasting":  # the history is not scored: each
        first = scorer.example()  # series' first forecast date (and typical exogenous values)
        keys = [c for c in inputs if c in spec.data.id_columns]
        frame = frame[keys].drop_duplicates().head(200)
        frame = frame.assign(**{c: first[c].iloc[0] for c in inputs if c not in keys})
    frame = frame.sample(min(len(frame), 2000), random_state=SEED)[inputs]
    scores = scorer.score(frame, skip_invalid=True)
    kept = range(len(frame)) if scores.validated.kept is None else scores.validated.kept
    rows = frame.iloc[list(kept)].reset_index(drop=True)
    out = pd.DataFrame(scores.outputs)
    task = scorer.package.manifest.task
    tolerance: Any = None
    if task == "classification":  # the rows it is surest of, taking each class in turn
        sure = out.filter(like="proba_").max(axis=1)
        ranked = sure.sort_values(ascending=False, kind="stable").index
        classes = out["prediction"].unique()
        by_class = [[i for i in ranked if out["prediction"][i] == c] for c in classes]
        picked = [i for group in zip(*by_class, strict=False) for i in group]
        picked += [i for i in ranked if i not in picked]
    elif task == "anomaly":  # clearly usual rows, and the most unusual ones
        order = out["score"].sort_values(kind="stable").index
        picked = [*order[: GOLDEN_ROWS - 2], *order[-2:]]
    else:  # numbers: rows across the range of answers, each within a tolerance
        order = out["prediction"].sort_values(kind="stable").index
        step = max(1, len(order) // GOLDEN_ROWS)
        picked = list(order[step // 2 :: step])
        error = info.metrics.get("mae") or info.metrics.get("rmse")
        tolerance = 2 * error if error else None
    picked = picked[:GOLDEN_ROWS]
    if not picked:
        why = scores.validated.problems[:3]
        print(f"no row of the data could be scored: {why}", file=sys.stderr)
        return 1
    written = rows.loc[picked].copy()
    written["expected"] = out["prediction"][picked].to_numpy()
    written["tolerance"] = (
        tolerance if tolerance is not None or task in ("classification", "anomaly")
        else (0.1 * written["expected"].abs()).clip(lower=1e-6)
    )
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    written.to_csv(GOLDEN, index=False)
    print(
        f"wrote {len(written)} golden rows from {spec.name} version {info.version} to "
        f"{GOLDEN.relative_to(ROOT)}: check the expected answers and commit the file"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("champion")
    commands.add_parser("golden")
    sampled = commands.add_parser("sample")
    sampled.add_argument("--rows", default="")
    sampled.add_argument("--trials", default="")
    sampled.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    if args.command == "champion":
        return champion()
    if args.command == "golden":
        return golden()
    return sample(args.rows, args.trials, args.output)


if __name__ == "__main__":
    sys.exit(main())
'''

_TEST = '''\
"""The model's tests: the version factory.yaml would promote, checked like code.

Written by `mlfactory init`; edit freely (`mlfactory init --force` keeps an edited file).

- the spec's gates, on the test metrics registered with the champion;
- the golden rows (tests/golden.csv, written by `make golden`, reviewed and committed):
  a new champion must give the same answers (numbers within each row's tolerance);
- one prediction's latency, generously bounded (MODEL_MAX_LATENCY_MS).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlfactory import Registry, load_spec
from mlfactory.scoring import Scorer

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden.csv"
MAX_LATENCY_MS = float(os.environ.get("MODEL_MAX_LATENCY_MS", "@LATENCY@"))


@pytest.fixture(scope="module")
def spec() -> Any:
    return load_spec(ROOT / "factory.yaml")


@pytest.fixture(scope="module")
def registry(spec: Any) -> Registry:
    path = Path(spec.registry.path)
    return Registry(
        tracking_uri=spec.registry.tracking_uri, path=path if path.is_absolute() else ROOT / path
    )


@pytest.fixture(scope="module")
def champion(spec: Any, registry: Registry) -> Any:
    info = registry.champion(spec.name)
    if info is None:
        pytest.fail(f"{spec.name} has no champion in {registry.tracking_uri}: run make train")
    return info


@pytest.fixture(scope="module")
def scorer(registry: Registry, champion: Any) -> Scorer:
    return Scorer.load(registry, champion)


def test_the_champion_passes_the_gates(spec: Any, champion: Any) -> None:
    gates = spec.gates
    assert gates.min or gates.max, "factory.yaml has no gates.min or gates.max to check"
    metrics = champion.metrics
    missing = sorted((set(gates.min) | set(gates.max)) - set(metrics))
    assert not missing, f"version {champion.version} has no test metric {missing}"
    failed = [f"{m} = {metrics[m]:.4g} < {low}" for m, low in gates.min.items() if metrics[m] < low]
    failed += [f"{m} = {metrics[m]:.4g} > {hi}" for m, hi in gates.max.items() if metrics[m] > hi]
    assert not failed, f"{spec.name} version {champion.version}: " + "; ".join(failed)


def test_the_golden_rows_get_their_agreed_answers(scorer: Scorer) -> None:
    if not GOLDEN.exists():
        pytest.fail("tests/golden.csv is missing: run make golden, check it, commit it")
    golden = pd.read_csv(GOLDEN)
    expected, tolerance = golden.pop("expected"), golden.pop("tolerance")
    assert len(golden), "tests/golden.csv holds no rows: run make golden"
    got = scorer.score(golden).outputs["prediction"]
    wrong = []
    for row, (want, within, answer) in enumerate(zip(expected, tolerance, got, strict=True)):
        if pd.isna(within):
            same = str(answer) == str(want)
        else:
            same = abs(float(answer) - float(want)) <= float(within)
        if not same:
            wrong.append(f"row {row + 2}: expected {want!r}, got {answer!r}")
    assert not wrong, f"{len(wrong)} of {len(golden)} golden rows changed:\\n" + "\\n".join(wrong)


def test_one_prediction_is_fast(scorer: Scorer) -> None:
    row = scorer.example()
    scorer.score(row)  # the first call may build caches
    seconds = []
    for _ in range(20):
        start = time.perf_counter()
        scorer.score(row)
        seconds.append(time.perf_counter() - start)
    median_ms = sorted(seconds)[len(seconds) // 2] * 1000
    assert median_ms <= MAX_LATENCY_MS, f"one prediction took {median_ms:.1f} ms"
'''

LATENCY_MS = 250


def project_files(*, name: str) -> dict[str, str]:
    """Each file's path in the project -> its text (factory.yaml aside)."""
    values = {
        "@NAME@": name,
        "@VERSION@": __version__,
        "@SAMPLE@": str(CI_SAMPLE),
        "@TRIALS@": str(CI_TRIALS),
        "@LATENCY@": str(LATENCY_MS),
    }

    def filled(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    return {
        "README.md": filled(_README),
        "Makefile": filled(_MAKEFILE),
        "pyproject.toml": filled(_PYPROJECT),
        ".gitignore": _GITIGNORE,
        ".github/workflows/ci.yml": filled(_CI),
        "scripts/model.py": filled(_SCRIPT),
        "tests/test_model.py": filled(_TEST),
    }
