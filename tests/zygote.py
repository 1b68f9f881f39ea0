"""Real `mlfactory` processes without paying its imports each time.

A test that must run mlfactory as a process of its own (to SIGKILL it at a write, to
interrupt it, to limit the size of the files it writes) starts it with ``spawn``: a
child forked from a zygote. The zygote is one clean Python process per test worker
that has imported mlfactory, MLflow, LightGBM and scikit-learn and done nothing else
(no OpenMP pool, no store opened). Its only threads are the ones those imports start,
which are made to survive a fork: numpy's and scipy's OpenBLAS pools (shut down and
restarted around it by their ``pthread_atfork`` handlers) and Arrow's jemalloc
background thread; it checks before every fork that no other has started. Each child
is a real process with its own pid, folder, environment, signals and exit status; it
runs ``main(args)`` as ``python -m mlfactory ARGS`` does, with stdin empty and stdout
and stderr in files, and leaves through the interpreter's own exit (``atexit``
handlers run). On this project's slow cores the imports cost 5-8 s a process, more
than most of the commands the tests kill.

The zygote reads one JSON request per line on stdin (``spawn``, ``poll``) and
answers one line on stdout; it stops when its stdin closes, with the test worker.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# what every spawned command imports anyway (the zygote pays it once)
IMPORTS = (
    "mlflow",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "lightgbm",
    "sklearn.ensemble",
    "mlfactory.cli",
    "mlfactory.training",
    "mlfactory.registry",
    "mlfactory.batch",
)


class Child:
    """A spawned command, as much like ``subprocess.Popen`` as the tests need."""

    def __init__(self, zygote: _Zygote, pid: int, out: Path, err: Path) -> None:
        self._zygote, self.pid, self._out, self._err = zygote, pid, out, err
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._zygote.ask({"op": "poll", "pid": self.pid})["code"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"mlfactory (pid {self.pid})", timeout or 0)
            time.sleep(0.05)
        return code

    def send_signal(self, number: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, number)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    @property
    def stdout(self) -> str:
        return self._out.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self._err.read_text(errors="replace")


@dataclass(frozen=True)
class Done:
    """A finished command: its exit code (negative: the signal that killed it) and output."""

    returncode: int
    stdout: str
    stderr: str


def spawn(
    args: list[str],
    *,
    env: dict[str, str],
    cwd: Path | None = None,
    prelude: str | None = None,
    file_size: int | None = None,
    new_session: bool = False,
) -> Child:
    """``mlfactory ARGS`` as a child of the zygote, in ``cwd`` (default: this folder) with
    exactly ``env``; ``prelude`` is Python run in the child first (a test's wrapper
    around MLflow's writes), ``file_size`` the largest file it may write (a full disk),
    ``new_session`` makes it the leader of a process group of its own (``os.killpg``
    stops it with the processes it started)."""
    zygote = _Zygote.get()
    folder = Path(tempfile.mkdtemp(prefix="spawned-", dir=zygote.logs))
    out, err = folder / "stdout", folder / "stderr"
    out.touch(), err.touch()  # read before the child has opened them: empty
    request = {
        "op": "spawn",
        "args": [str(a) for a in args],
        "env": env,
        "cwd": str(cwd or Path.cwd()),
        "stdout": str(out),
        "stderr": str(err),
        "prelude": prelude,
        "file_size": file_size,
        "new_session": new_session,
    }
    return Child(zygote, zygote.ask(request)["pid"], out, err)


def run(args: list[str], *, timeout: float = 300, **options: Any) -> Done:
    """``spawn`` and wait for it (killed after ``timeout`` s, then TimeoutExpired)."""
    child = spawn(args, **options)
    try:
        code = child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        raise
    return Done(code, child.stdout, child.stderr)


class _Zygote:
    _running: _Zygote | None = None

    def __init__(self) -> None:
        self.logs = tempfile.mkdtemp(prefix="mlfactory-zygote-")  # the children's output
        atexit.register(shutil.rmtree, self.logs, True)
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        env["COLUMNS"] = "200"  # rich's consoles are made at import with the width they read
        self.process = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=self.logs,
        )
        self.ask({"op": "ready"})

    @classmethod
    def get(cls) -> _Zygote:
        if cls._running is None or cls._running.process.poll() is not None:
            cls._running = cls()
        return cls._running

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the zygote stopped (exit {self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"the zygote refused {request['op']}: {answer['error']}")
        return answer


# -- the zygote process ------------------------------------------------------------------


def _serve() -> None:
    import importlib

    for name in IMPORTS:
        importlib.import_module(name)
    imported = _threads()
    requests, answers = os.fdopen(0, "rb", buffering=0), 1
    exited: dict[int, int] = {}
    while line := _readline(requests):
        request = json.loads(line)
        answer: dict[str, Any] = {}
        if request["op"] == "spawn":
            if extra := _threads() - imported:  # a fork keeps the calling thread only
                answer = {"error": f"threads started since the imports: {sorted(extra)}"}
            else:
                pid = os.fork()
                if pid == 0:
                    _child(request)  # never returns
                answer = {"pid": pid}
        elif request["op"] == "poll":
            pid = request["pid"]
            if pid not in exited:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    exited[pid] = os.waitstatus_to_exitcode(status)
            answer = {"code": exited.get(pid)}
        os.write(answers, json.dumps(answer).encode() + b"\n")


def _threads() -> Counter[str]:
    """This process's threads by name (OpenBLAS's are named ``python``; a fork stops
    them until they are used again)."""
    tasks = Path("/proc/self/task")
    return Counter((tasks / t / "comm").read_text().strip() for t in os.listdir(tasks))


def _readline(stream: Any) -> bytes:
    """One line of ``stream`` read a byte at a time: nothing of the next request is
    buffered where a forked child would inherit it."""
    line = bytearray()
    while (byte := stream.read(1)) and byte != b"\n":
        line += byte
    return bytes(line)


def _child(request: dict[str, Any]) -> None:
    import resource

    if request["new_session"]:
        os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # read again from this environment's TMPDIR, as at a start
    import numpy as np

    np.random.seed()  # numpy's global generator drawn afresh, as at a start (Python's
    # own `random` is reseeded after a fork by the interpreter)
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(request["stdout"], os.O_WRONLY | os.O_APPEND)
    err = os.open(request["stderr"], os.O_WRONLY | os.O_APPEND)
    for source, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(source, target)
        os.close(source)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the process's stdin until it exits
    if request["file_size"] is not None:  # a write past it fails (EFBIG) as on a full disk,
        size = request["file_size"]  # instead of SIGXFSZ killing the process
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    # as a process a shell starts: Ctrl-C raises KeyboardInterrupt (a test worker, and so
    # the zygote, ignores SIGINT; Python then installs no handler of its own)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv = ["mlfactory", *request["args"]]
    if request["prelude"]:
        exec(request["prelude"], {"__name__": "prelude"})  # the test's own code
    from mlfactory.cli import main

    sys.exit(main(request["args"]))  # the interpreter's own exit: atexit handlers run


if __name__ == "__main__":
    _serve()
