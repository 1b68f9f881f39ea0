"""Cold start of the Lambda handler against ``mlfactory serve``'s start-up, in one run.

A Lambda cold start is a new process: import the handler's module, build the app and
load, verify and warm the model (Lambda's init phase, where ``handler`` is first looked
up), then answer the first event. Each run here is a fresh Python process, timed from
the parent's spawn to each step; the medians of ``--runs`` runs are printed:

- **lambda (baked)**: the folder ``mlfactory export lambda`` writes, served as the image
  serves it (``MLFACTORY_MODEL_DIR``); no MLflow store is opened.
- **lambda (registry)**: the same handler with ``mlfactory serve``'s settings
  (``MLFACTORY_SERVE_CONFIG``), loading from the MLflow registry.
- **mlfactory serve**: the peer, ``python -m mlfactory serve NAME@ALIAS --workers 1``,
  from spawn to ``/health/ready`` answering 200, then its first prediction.

Each handler answers a function URL event (tests/deploy/events/function_url.json)
with a 5-row prediction. Lambda's own runtime start (the container, the bootstrap)
is not included: it is the same for any Python function.

Usage::

    python benchmarks/lambda_cold_start.py [--runs 5] [--registry DIR --model NAME@ALIAS]

Without ``--registry`` the Mroz classifier (tests/conftest.py's spec) is trained first
into a temporary registry.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENT = ROOT / "tests" / "deploy" / "events" / "function_url.json"
ROWS = ROOT / "tests" / "training" / "mroz_rows.csv"

CHILD = """
import json, sys, time
t0 = float(sys.argv[1])
stamps = {"interpreter": time.time() - t0}
import mlfactory.serving.lambda_handler as module
stamps["import"] = time.time() - t0
handler = module.handler
stamps["init"] = time.time() - t0
event = json.loads(sys.argv[2])
answer = handler(event, None)
stamps["first request"] = time.time() - t0
assert answer["statusCode"] == 200, answer
again = time.perf_counter()
handler(event, None)
stamps["warm request ms"] = (time.perf_counter() - again) * 1000
stamps["mlflow imported"] = "mlflow" in sys.modules
print(json.dumps(stamps))
"""


def _event(model: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(EVENT.read_text())
    path = f"/v1/models/{model}/predict"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = "POST"
    event["headers"]["content-type"] = "application/json"
    event["body"] = json.dumps({"records": rows})
    return event


def run_handler(env: dict[str, str], event: dict[str, Any]) -> dict[str, Any]:
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, repr(started), json.dumps(event)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the handler failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_serve(registry: Path, ref: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    import httpx

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.time()
    command = [sys.executable, "-m", "mlfactory", "serve", ref, "--registry", str(registry)]
    command += ["--port", str(port), "--workers", "1", "--poll-seconds", "0", "--no-access-log"]
    server = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        while True:
            if server.poll() is not None:
                raise SystemExit(f"mlfactory serve stopped: {server.stderr.read()!r}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        ready = time.time() - started
        name = ref.split("@")[0].split("/")[0]
        answer = httpx.post(f"{url}/v1/models/{name}/predict", json={"records": rows}, timeout=30)
        assert answer.status_code == 200, answer.text
        first = time.time() - started
        again = time.perf_counter()
        httpx.post(f"{url}/v1/models/{name}/predict", json={"records": rows}, timeout=30)
        warm = (time.perf_counter() - again) * 1000
        return {"init": ready, "first request": first, "warm request ms": warm}
    finally:
        server.terminate()
        server.wait(timeout=30)


def _train(folder: Path) -> tuple[Path, str]:
    sys.path.insert(0, str(ROOT / "tests"))
    from mlfactory.registry import Registry
    from mlfactory.spec import parse_spec
    from mlfactory.training import train

    from conftest import mroz_spec  # type: ignore[import-not-found]

    registry = Registry(path=folder / ".mlfactory")
    train(parse_spec(mroz_spec()), registry=registry, progress=False)
    return registry.path, "mroz@champion"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--registry", type=Path)
    parser.add_argument("--model", default="mroz@champion")
    args = parser.parse_args(argv)

    import pandas as pd

    from mlfactory.deploy.aws_lambda import export_lambda
    from mlfactory.registry import ModelRef, Registry
    from mlfactory.serving.server import CONFIG_ENV

    work = Path(tempfile.mkdtemp(prefix="lambda-cold-"))
    if args.registry is None:
        registry_path, ref = _train(work)
    else:
        registry_path, ref = args.registry.resolve(), args.model
    registry = Registry(path=registry_path)
    exported = export_lambda(ref, work / "function", registry=registry)
    name = ModelRef.parse(ref).name
    rows = pd.read_csv(ROWS).to_dict(orient="records") if name == "mroz" else []
    if not rows:  # another model: a few rows of its own reference
        package, _ = registry.load(ref)
        columns = [c.name for c in package.schema.columns]
        assert package.reference is not None
        rows = package.reference[columns].head(5).to_dict(orient="records")
    event = _event(name, rows)

    base = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI",)}
    baked = {
        **base,
        "MLFACTORY_MODEL_DIR": str(exported.output),
        "MLFACTORY_MODEL": exported.ref,
        "MLFACTORY_MODEL_DIGEST": exported.digest,
    }
    settings = {
        "models": [ref],
        "registry_path": str(registry_path),
        "batching": {"enabled": False, "max_batch_rows": 256, "max_wait_ms": 1.0},
        "poll_seconds": 0,
        "prediction_log": None,
        "protocols": ["mlfactory", "mlflow", "v2"],
    }
    from_registry = {**base, CONFIG_ENV: json.dumps(settings)}

    results: dict[str, list[dict[str, Any]]] = {
        "lambda (baked)": [],
        "lambda (registry)": [],
        "mlfactory serve": [],
    }
    for _ in range(args.runs):  # interleaved, so a busy moment hits every row alike
        results["lambda (baked)"].append(run_handler(baked, event))
        results["lambda (registry)"].append(run_handler(from_registry, event))
        results["mlfactory serve"].append(run_serve(registry_path, ref, rows))

    print(
        f"\n{ref}, {len(rows)} rows per request, median of {args.runs} fresh processes; "
        f"Python {platform.python_version()}, {os.cpu_count()} cores\n"
    )
    print("| start | import s | init (import + load) s | first answer s | warm ms | mlflow |")
    print("|---|---|---|---|---|---|")
    for label, runs in results.items():

        def median(key: str, runs: list[dict[str, Any]] = runs) -> str:
            values = [r[key] for r in runs if key in r]
            return f"{statistics.median(values):.2f}" if values else "-"

        mlflow = {r.get("mlflow imported") for r in runs} - {None}
        shown = "-" if not mlflow else ("yes" if True in mlflow else "no")
        print(
            f"| {label} | {median('import')} | {median('init')} | "
            f"{median('first request')} | {median('warm request ms')} | {shown} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
