"""`mlfactory export docker`: the Dockerfile passes hadolint, and what its build stage and
entry point run (the bake into an embedded registry, `mlfactory serve` on it) works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import zygote
from mlfactory.cli import main
from mlfactory.registry import Registry
from serving.test_cli_serve import free_port, serving

HADOLINT = Path(sys.executable).parent / "hadolint"


def _export(trained: Registry, output: Path, *extra: str) -> int:
    return main(
        ["export", "docker", *extra, "--output", str(output), "--registry", str(trained.path)]
    )


def _hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HADOLINT), "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_dockerfile_passes_hadolint_and_runs_the_server_as_a_user(
    trained: Registry, tmp_path: Path
) -> None:
    assert _export(trained, tmp_path / "image", "mroz@challenger") == 0
    dockerfile = tmp_path / "image" / "Dockerfile"
    linted = _hadolint(dockerfile)
    assert linted.returncode == 0 and linted.stdout == "", linted.stdout
    text = dockerfile.read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert stages == ["FROM python:3.11-slim AS base", "FROM base AS build", "FROM base"]
    assert "USER 10001" in text and "/health/ready" in text.split("HEALTHCHECK", 1)[1]
    entry = json.loads(text.split("ENTRYPOINT ", 1)[1].splitlines()[0])
    assert entry[:3] == ["mlfactory", "serve", "mroz@challenger"]
    assert entry[entry.index("--registry") + 1] == "/app/registry"
    # mlfactory and the model's libraries pinned as the model recorded them
    pins = (tmp_path / "image" / "requirements.txt").read_text().splitlines()
    assert "mlfactory==0.1.0" in pins and any(p.startswith("scikit-learn==") for p in pins)
    record = json.loads((tmp_path / "image" / "model.json").read_text())
    assert (record["name"], record["version"], record["alias"]) == ("mroz", "2", "challenger")
    assert f'io.mlfactory.package-sha256="{record["package_sha256"]}"' in text


def test_a_wheel_replaces_the_index_pin_and_still_lints(trained: Registry, tmp_path: Path) -> None:
    wheel = tmp_path / "mlfactory-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: only its name is read
    assert _export(trained, tmp_path / "image", "mroz/1", "--wheel", str(wheel)) == 0
    folder = tmp_path / "image"
    pins = (folder / "requirements.txt").read_text().splitlines()
    assert "/build/wheels/mlfactory-0.1.0-py3-none-any.whl" in pins
    assert not any(p.startswith("mlfactory==") for p in pins)
    assert (folder / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
    assert "COPY wheels/ /build/wheels/" in (folder / "Dockerfile").read_text()
    assert _hadolint(folder / "Dockerfile").returncode == 0


def test_something_else_as_the_wheel_exits_2(
    trained: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "numpy-2.0-py3-none-any.whl"
    other.write_bytes(b"")
    assert _export(trained, tmp_path / "image", "mroz@champion", "--wheel", str(other)) == 2
    assert "is not a wheel of mlfactory" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "image").exists()


def test_an_unknown_model_exits_2_naming_the_models_that_exist(
    trained: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _export(trained, tmp_path / "image", "flights@champion") == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "no model named 'flights'" in said and "Registered models: mroz" in said
    assert _export(trained, tmp_path / "image", "mroz@staging") == 2
    assert "mroz has versions 1, 2" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "image").exists()


def test_a_folder_with_other_files_is_refused_unless_force_which_keeps_them(
    trained: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "image"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert _export(trained, folder, "mroz@champion") == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "holds files this export did not write (notes.txt)" in said and "--force" in said
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    assert _export(trained, folder, "mroz@champion", "--force") == 0
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "Dockerfile").is_file()
    # only the export's own files, unedited: a new export replaces them without --force
    (folder / "notes.txt").unlink()
    assert _export(trained, folder, "mroz@challenger") == 0
    assert "mroz@challenger" in (folder / "Dockerfile").read_text()
    # one of them edited: the user's now, so refused again
    with (folder / "Dockerfile").open("a") as edited:
        edited.write("# my change\n")
    assert _export(trained, folder, "mroz@champion") == 2
    assert "(Dockerfile)" in capsys.readouterr().err


def _bake(context: Path, registry: Path) -> subprocess.CompletedProcess[str]:
    """The build stage's step, as the Dockerfile runs it."""
    line = next(
        line for line in (context / "Dockerfile").read_text().splitlines() if "deploy.bake" in line
    )
    assert line == "RUN /opt/venv/bin/python -m mlfactory.deploy.bake /build /app/registry"
    command = [sys.executable, "-m", "mlfactory.deploy.bake", str(context), str(registry)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _entrypoint(context: Path, registry: Path, port: int) -> list[str]:
    """The image's entry point's mlfactory arguments, with this machine's registry folder
    and a free port."""
    text = (context / "Dockerfile").read_text()
    entry = json.loads(text.split("ENTRYPOINT ", 1)[1].splitlines()[0])
    entry[entry.index("--registry") + 1] = str(registry)
    entry[entry.index("--port") + 1] = str(port)
    entry[entry.index("--host") + 1] = "127.0.0.1"
    return list(entry[1:])


@pytest.mark.slow
def test_the_baked_registry_serves_the_version_under_its_number_and_refuses_a_changed_one(
    trained: Registry, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    context = tmp_path / "image"
    assert _export(trained, context, "mroz@challenger") == 0
    baked = tmp_path / "app" / "registry"
    done = _bake(context, baked)
    assert done.returncode == 0, done.stderr
    port = free_port()
    with serving(_entrypoint(context, baked, port), cli_env, port) as base:
        ready = httpx.get(f"{base}/health/ready").json()
        assert ready["models"] == [
            {"name": "mroz", "ref": "mroz@challenger", "ready": True, "version": "2"}
        ]
        row = json.loads((context / "model" / "input_example.json").read_text())
        answer = httpx.post(f"{base}/invocations", json={"dataframe_split": row})
        assert answer.status_code == 200, answer.text
    # a model file changed in the image: the server does not start
    skops = next(baked.rglob("pipeline.skops"))
    skops.write_bytes(skops.read_bytes() + b"\0")
    started = zygote.run(_entrypoint(context, baked, free_port()), env=cli_env, timeout=120)
    assert started.returncode == 1
    said = " ".join(started.stderr.split())
    assert "TamperedArtifactError" in said and "pipeline.skops has SHA-256" in said


def test_the_build_fails_when_the_context_holds_another_model_folder(
    trained: Registry, tmp_path: Path
) -> None:
    context = tmp_path / "image"
    assert _export(trained, context, "mroz@champion") == 0
    skops = context / "model" / "data" / "package" / "pipeline.skops"
    skops.write_bytes(skops.read_bytes() + b"\0")
    done = _bake(context, tmp_path / "registry")
    assert done.returncode != 0
    assert "pipeline.skops has SHA-256" in " ".join(done.stderr.split())
