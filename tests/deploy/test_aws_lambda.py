"""`mlfactory export lambda`: files that cfn-lint and hadolint accept, and its refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mlfactory.deploy.aws_lambda import LambdaExport, export_lambda
from mlfactory.errors import BadInputError
from mlfactory.registry import Registry

from conftest import Ran

BIN = Path(sys.executable).parent


def _tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args], capture_output=True, text=True, timeout=300, check=False
    )


def _cfn_template(text: str) -> dict[str, object]:
    return yaml.safe_load(text)  # type: ignore[no-any-return]


def test_cfn_lint_accepts_the_sam_template(exported: LambdaExport, tmp_path: Path) -> None:
    linted = _tool("cfn-lint", str(exported.output / "template.yaml"))
    assert linted.returncode == 0, linted.stdout + linted.stderr
    # the same check rejects a template SAM would not transform
    text = (exported.output / "template.yaml").read_text()
    broken = tmp_path / "template.yaml"
    broken.write_text(text.replace("PackageType: Image", "PackageType: Container"))
    refused = _tool("cfn-lint", str(broken))
    assert refused.returncode != 0 and "'Container' is not one of" in refused.stdout


def test_hadolint_accepts_the_dockerfile(exported: LambdaExport, tmp_path: Path) -> None:
    linted = _tool("hadolint", str(exported.output / "Dockerfile"))
    assert linted.returncode == 0, linted.stdout + linted.stderr
    text = (exported.output / "Dockerfile").read_text()
    broken = tmp_path / "Dockerfile"
    broken.write_text(text.replace("pip install --no-cache-dir", "pip install"))
    refused = _tool("hadolint", str(broken))
    assert refused.returncode != 0 and "DL3042" in refused.stdout


def test_the_files_name_one_model_and_its_digest_and_hold_no_secret(
    exported: LambdaExport, trained: Registry
) -> None:
    out = exported.output
    info = trained.resolve("mroz@champion")
    about = json.loads((out / "model.json").read_text())
    assert about["name"] == "mroz" and about["version"] == info.version == exported.version
    assert "champion" in about["aliases"] and about["digest"] == exported.digest
    template = _cfn_template((out / "template.yaml").read_text())
    function = template["Resources"]["ModelFunction"]  # type: ignore[index]
    props = function["Properties"]
    assert props["PackageType"] == "Image" and props["FunctionUrlConfig"]["AuthType"] == "NONE"
    assert props["Events"]["HttpApi"]["Type"] == "HttpApi"
    assert props["MemorySize"] == 1024 and props["Timeout"] == 30
    variables = props["Environment"]["Variables"]
    assert variables["MLFACTORY_MODEL"] == "mroz@champion"
    assert variables["MLFACTORY_MODEL_DIGEST"] == exported.digest
    assert variables["MLFACTORY_API_TOKEN"] == {"Ref": "ApiToken"}  # given at deploy time
    assert template["Parameters"]["ApiToken"]["NoEcho"] is True  # type: ignore[index]
    dockerfile = (out / "Dockerfile").read_text()
    assert dockerfile.startswith("# AWS Lambda") and "FROM public.ecr.aws/lambda/python:3.11" in (
        dockerfile
    )
    assert f"MLFACTORY_MODEL_DIGEST={exported.digest}" in dockerfile
    assert dockerfile.rstrip().endswith('CMD ["mlfactory.serving.lambda_handler.handler"]')
    for line in dockerfile.splitlines():  # everything the image copies is in the context
        if line.startswith("COPY "):
            assert (out / line.split()[1]).exists(), line
    from mlfactory.versions import __version__

    assert f"mlfactory[lambda]=={__version__}" in (out / "requirements.txt").read_text()


def test_cli_exports_and_says_how_to_deploy(
    trained: Registry, tmp_path: Path, cli: Callable[..., Ran]
) -> None:
    folder = tmp_path / "fn"
    done = cli(
        "export",
        "lambda",
        "mroz/1",
        "--output",
        str(folder),
        "--registry",
        str(trained.path),
        "--memory",
        "2048",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"cd {folder} && sam build && sam deploy --guided"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["Dockerfile", "template.yaml", "requirements.txt", "model.json", "model",
         ".mlfactory-export.json"]  # what it wrote, so a re-export knows its own files
    )  # fmt: skip
    template = _cfn_template((folder / "template.yaml").read_text())
    props = template["Resources"]["ModelFunction"]["Properties"]  # type: ignore[index]
    assert props["MemorySize"] == 2048
    assert props["Environment"]["Variables"]["MLFACTORY_MODEL"] == "mroz/1"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("flights@champion", "no model named 'flights'"),
        ("mroz@staging", "mroz@staging does not exist; mroz has versions 1, 2"),
    ],
)
def test_a_reference_to_nothing_exits_2_naming_what_exists(
    trained: Registry, tmp_path: Path, cli: Callable[..., Ran], ref: str, message: str
) -> None:
    done = cli("export", "lambda", ref, "--output", "fn", "--registry", str(trained.path))
    assert done.returncode == 2
    assert message in done.stderr.replace("\n", " ")
    if "flights" in ref:
        assert "Registered models: mroz" in done.stderr
    assert not (tmp_path / "fn").exists()


def test_a_folder_with_other_files_is_refused_unless_force_which_keeps_them(
    trained: Registry, tmp_path: Path, cli: Callable[..., Ran]
) -> None:
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "notes.md").write_text("mine")
    args = ["export", "lambda", "mroz@champion", "--output", str(folder)]
    args += ["--registry", str(trained.path)]
    refused = cli(*args)
    assert refused.returncode == 2
    assert "holds files this export did not write (notes.md)" in refused.stderr.replace("\n", " ")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.md"]
    forced = cli(*args, "--force")
    assert forced.returncode == 0, forced.stderr
    assert (folder / "notes.md").read_text() == "mine"
    assert (folder / "template.yaml").is_file() and (folder / "model" / "MLmodel").is_file()


def test_memory_or_timeout_outside_lambdas_range_is_refused(
    trained: Registry, tmp_path: Path
) -> None:
    with pytest.raises(BadInputError, match="memory must be 128-10240 MB"):
        export_lambda("mroz@champion", tmp_path / "fn", registry=trained, memory_mb=64)
    with pytest.raises(BadInputError, match="timeout must be 1-900 seconds"):
        export_lambda("mroz@champion", tmp_path / "fn", registry=trained, timeout_s=901)
    assert not (tmp_path / "fn").exists()
