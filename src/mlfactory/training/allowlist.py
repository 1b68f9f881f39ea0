"""Generate the exact list of types a model file may hold (``registry/trusted_types.py``).

Every catalog model is fitted, the way ``train`` fits it, for every task (binary
and multiclass classification, regression; a detector, which takes no target,
once per column layout) on small frames with numeric,
integer, boolean, categorical (few categories with missing values; more than the
ordinal encoder's cap), ordinal (an ordered Categorical with missing values) and
datetime columns, alone and together; each pipeline
is dumped with skops and every name it holds is collected. A library upgrade
that changes what a fitted pipeline holds fails ``tests/training/test_allowlist.py``;
review the new names, then::

    python -m mlfactory.training.allowlist --write
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["generate", "render"]

ROWS = 600
VALIDATION = 150
# (columns, tasks): every column kind together for every task, and each kind alone
_LAYOUTS: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (
        ("number", "count", "flag", "few", "many", "label", "grade", "when"),
        ("binary", "multi", "reg"),
    ),
    (("number",), ("binary", "multi", "reg")),
    (("few",), ("binary", "reg")),
    (("many",), ("binary",)),
    (("when",), ("reg",)),
]
# what each target column is modelled with (the task whose estimator is of that kind)
_ESTIMATOR = {"binary": "classifier", "multi": "classifier", "reg": "regressor"}
# the kind of estimator that needs no target (``task: anomaly``): fitted on each layout
_DETECTOR = "detector"
# the fewest trees and iterations: what a pipeline holds does not depend on how many
_SMALL: dict[str, dict[str, Any]] = {
    "lightgbm": {"n_estimators": 3, "n_jobs": 1},
    "hist_gradient_boosting": {"max_iter": 3},
    "random_forest": {"n_estimators": 2, "n_jobs": 1},
    "isolation_forest": {"n_estimators": 2},
}


def _frame() -> Any:
    import pandas as pd

    rng = np.random.default_rng(0)
    n = ROWS
    many = [f"c{i % 300}" for i in range(n)]  # 300 categories: over the ordinal encoder's cap
    return pd.DataFrame(
        {
            "number": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "count": rng.integers(0, 9, n),
            "flag": rng.random(n) < 0.5,
            "few": pd.Series(rng.choice(np.array(["a", "b", "c", None], dtype=object), n)),
            "many": many,
            "label": pd.Categorical(rng.choice(["x", "y"], n)),
            "grade": pd.Categorical(
                rng.choice(np.array(["low", "mid", "high", None], dtype=object), n),
                categories=["low", "mid", "high"],
                ordered=True,
            ),
            "when": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 10**6, n), unit="min"),
            "binary": rng.choice(["no", "yes"], n),
            "multi": rng.choice(["a", "b", "c"], n),
            "reg": rng.normal(size=n),
        }
    )


def _pipelines() -> Iterator[tuple[str, Any]]:
    """(description, fitted pipeline) for every model, task and column layout.

    The pipelines are made by training's own steps (``encode``, ``run_trial``) and
    assembled as ``package_step`` assembles them.
    """
    import tempfile

    from sklearn.pipeline import Pipeline

    from mlfactory.data.schema import ColumnRoles, prepare_training
    from mlfactory.models import CATALOG
    from mlfactory.tasks import TASKS
    from mlfactory.training.prepare import Prepared, encode
    from mlfactory.training.split import Split
    from mlfactory.training.trial import Trial, run_trial

    frame = _frame()
    train, validation = np.arange(ROWS - VALIDATION), np.arange(ROWS - VALIDATION, ROWS)
    split = Split(train, validation, validation, "random")  # the test rows only get encoded
    styles = {entry.style for entry in CATALOG.values()}
    for columns, targets in _LAYOUTS:
        for target in targets:
            task = next(t for t in TASKS.values() if t.estimator == _ESTIMATOR[target])
            data = prepare_training(frame[[*columns, target]], ColumnRoles(target=target), task)
            prepared = Prepared(task, data, fingerprint="")
            with tempfile.TemporaryDirectory(prefix="mlfactory-allowlist-") as folder:
                encoded = encode(prepared, split, styles, Path(folder))
                for entry in CATALOG.values():
                    if task.estimator not in entry.builders:  # a detector: below
                        continue
                    trial = Trial(
                        model=entry.name,
                        task=task.name,
                        params=_SMALL.get(entry.name, {}),
                        seed=0,
                        metric=task.default_metric,
                        n_classes=prepared.n_classes,
                        categorical=tuple(encoded.categorical),
                        data=encoded.matrices[entry.style],
                    )
                    pipeline = Pipeline(
                        [
                            ("datetimes", encoded.dates),
                            ("preprocess", encoded.preprocessors[entry.style]),
                            ("model", run_trial(trial).estimator),
                        ]
                    )
                    yield f"{entry.name}, {target}, {'+'.join(columns)}", pipeline
                if target == targets[0]:  # detectors ignore the target: once per layout
                    for entry in CATALOG.values():
                        if _DETECTOR in entry.builders:
                            yield (
                                f"{entry.name}, {'+'.join(columns)}",
                                _detector_pipeline(entry, encoded),
                            )


def _detector_pipeline(entry: Any, encoded: Any) -> Any:
    """A catalog detector fitted on the training rows, assembled as a task's pipeline."""
    from sklearn.pipeline import Pipeline

    params = _SMALL.get(entry.name, {})
    detector = entry.builders[_DETECTOR](dict(params), 0, list(encoded.categorical))
    detector.fit(encoded.matrices[entry.style].load().X_train)
    return Pipeline(
        [
            ("datetimes", encoded.dates),
            ("preprocess", encoded.preprocessors[entry.style]),
            ("model", detector),
        ]
    )


def generate() -> list[str]:
    """Every type and function name the catalog's fitted pipelines hold, sorted."""
    import skops.io as sio
    from threadpoolctl import threadpool_limits

    from mlfactory.registry.safeload import stored_types

    names: set[str] = set()
    with threadpool_limits(1):  # tiny fits: threads would cost ten times the work
        for _, pipeline in _pipelines():
            names |= stored_types(sio.dumps(pipeline))
    return sorted(names)


def _versions() -> str:
    from mlfactory.versions import installed_versions

    libraries = ("scikit-learn", "lightgbm", "numpy", "scipy", "skops")
    return ", ".join(f"{name} {version}" for name, version in installed_versions(libraries).items())


def render(names: list[str]) -> str:
    """The source of ``registry/trusted_types.py`` holding ``names``."""
    import textwrap

    lines = "\n".join(f'        "{name}",' for name in names)
    about = textwrap.fill(
        "Generated by ``python -m mlfactory.training.allowlist --write`` from the catalog's "
        f"fitted pipelines (every model, task and input style) with {_versions()}. "
        "``tests/training/test_allowlist.py`` regenerates it and fails when a library "
        "upgrade changes it: review each new name (a class that runs no code from its "
        "state, or a function that is harmless with any arguments), then regenerate.",
        width=88,
    )
    return f'''"""The exact type and function names a model file may hold (generated; do not edit).

{about}
"""

TRUSTED_TYPES = frozenset(
    {{
{lines}
    }}
)
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlfactory.training.allowlist")
    parser.add_argument("--write", action="store_true", help="rewrite registry/trusted_types.py")
    args = parser.parse_args(argv)
    from mlfactory.registry import trusted_types

    names = generate()
    target = Path(trusted_types.__file__)
    if args.write:
        target.write_text(render(names))
        print(f"wrote {len(names)} names to {target}")
        return 0
    old = trusted_types.TRUSTED_TYPES
    for name in sorted(set(names) | old):
        mark = " " if name in old and name in names else ("+" if name in names else "-")
        print(f"{mark} {name}")
    return 0 if set(names) == old else 1


if __name__ == "__main__":
    sys.exit(main())
