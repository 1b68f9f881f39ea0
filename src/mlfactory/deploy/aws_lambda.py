"""``mlfactory export lambda``: a container-image Lambda function serving one registered version.

The output folder holds everything ``sam build && sam deploy --guided`` needs:

- ``model/`` and ``model.json``: the version's verified MLflow model folder, and which
  version it is (name, version, the aliases it had);
- ``Dockerfile``: the AWS Lambda Python 3.11 base, mlfactory with its ``[lambda]`` extra
  from ``requirements.txt``, the model copied in, ``CMD`` the handler
  (``mlfactory.serving.lambda_handler.handler``), which refuses to start unless the
  folder hashes to ``MLFACTORY_MODEL_DIGEST``;
- ``template.yaml``: a SAM template with the function (an image), its function URL
  and an HTTP API in front, memory and timeout, and the environment naming the model
  and its digest; the API token is a ``NoEcho`` parameter given at deploy time, never
  a value in the file;
- ``requirements.txt``: mlfactory pinned to the version that exported the model.

Nothing here runs the function; ``tests/deploy`` checks the files with cfn-lint and
hadolint and invokes the handler with real event shapes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlfactory.deploy.written import write_files
from mlfactory.errors import BadInputError
from mlfactory.registry import ModelRef, Registry
from mlfactory.registry import tags as tag
from mlfactory.registry.integrity import verify_folder

__all__ = ["FILES", "LambdaExport", "export_lambda"]

MODEL_HOME = "/var/task/mlfactory-model"  # in the image: model.json and model/
HANDLER = "mlfactory.serving.lambda_handler.handler"
BASE_IMAGE = "public.ecr.aws/lambda/python:3.11"
FILES = ("Dockerfile", "template.yaml", "requirements.txt", "model.json", "model")


@dataclass(frozen=True)
class LambdaExport:
    """What ``export_lambda`` wrote: the folder, the version and its digest."""

    output: Path
    ref: str
    version: str
    digest: str
    files: tuple[str, ...] = FILES


def export_lambda(
    ref: str,
    output: Path,
    *,
    registry: Registry,
    force: bool = False,
    memory_mb: int = 1024,
    timeout_s: int = 30,
) -> LambdaExport:
    """Write the Lambda deployment of ``ref`` (``NAME@ALIAS`` or ``NAME/VERSION``) to ``output``.

    ``output`` holds the export's own files or nothing (``deploy/written.py``); with
    ``force`` they are written over and any other file is left as it is.
    """
    parsed = ModelRef.parse(ref)
    if not 128 <= memory_mb <= 10240:
        raise BadInputError(f"memory must be 128-10240 MB (Lambda's range); got {memory_mb}")
    if not 1 <= timeout_s <= 900:
        raise BadInputError(f"timeout must be 1-900 seconds (Lambda's range); got {timeout_s}")
    info = registry.resolve(parsed)  # a reference to nothing: the error names what exists
    files: dict[str, bytes] = {}
    _, info = registry.load(info, files=files)  # every file verified against the registry
    digest = info.tags[tag.PACKAGE_DIGEST]
    about = {
        "name": info.name,
        "version": info.version,
        "aliases": info.aliases,
        "digest": digest,
        "created": info.created,
        "exported_as": str(parsed),
    }
    template = _template(str(parsed), info.version, digest, memory_mb, timeout_s)
    write_files(
        output,
        {
            **{f"model/{relative}": data for relative, data in files.items()},
            "model.json": (json.dumps(about, indent=2) + "\n").encode(),
            "requirements.txt": _requirements().encode(),
            "Dockerfile": _dockerfile(str(parsed), digest).encode(),
            "template.yaml": template.encode(),
        },
        force=force,
        command=f"mlfactory export lambda {parsed}",
    )
    verify_folder(output / "model", expected_digest=digest, shown_as=str(output / "model"))
    return LambdaExport(output=output, ref=str(parsed), version=info.version, digest=digest)


def _requirements() -> str:
    from mlfactory.versions import __version__

    return (
        "# the mlfactory that exported the model; its [lambda] extra brings Mangum\n"
        f"mlfactory[lambda]=={__version__}\n"
    )


def _dockerfile(ref: str, digest: str) -> str:
    return f"""\
# AWS Lambda container image serving {ref} (written by `mlfactory export lambda`).
# Build and deploy with the SAM CLI: sam build && sam deploy --guided
FROM {BASE_IMAGE}

# LightGBM needs the GNU OpenMP runtime, which the Lambda base image leaves out
# hadolint ignore=DL3033
RUN yum install -y libgomp && yum clean all && rm -rf /var/cache/yum

COPY requirements.txt ${{LAMBDA_TASK_ROOT}}/
RUN pip install --no-cache-dir -r "${{LAMBDA_TASK_ROOT}}/requirements.txt"

# the model, checked against its digest when the function starts
COPY model.json {MODEL_HOME}/model.json
COPY model {MODEL_HOME}/model
ENV MLFACTORY_MODEL_DIR={MODEL_HOME} \\
    MLFACTORY_MODEL={ref} \\
    MLFACTORY_MODEL_DIGEST={digest}

CMD ["{HANDLER}"]
"""


def _template(ref: str, version: str, digest: str, memory_mb: int, timeout_s: int) -> str:
    import yaml

    name = ModelRef.parse(ref).name
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"mlfactory: {ref} (version {version}) served on AWS Lambda",
        "Parameters": {
            "ApiToken": {
                "Type": "String",
                "NoEcho": True,
                "MinLength": 16,
                "Description": "Bearer token every prediction request must send "
                "(MLFACTORY_API_TOKEN); the health routes stay open",
            },
        },
        "Resources": {
            "ModelFunction": {
                "Type": "AWS::Serverless::Function",
                "Metadata": {
                    "Dockerfile": "Dockerfile",
                    "DockerContext": ".",
                    "DockerTag": f"{_tag(name)}-{version}",
                },
                "Properties": {
                    "PackageType": "Image",
                    "Architectures": ["x86_64"],
                    "MemorySize": memory_mb,
                    "Timeout": timeout_s,
                    "Environment": {
                        "Variables": {
                            "MLFACTORY_MODEL": ref,
                            "MLFACTORY_MODEL_DIGEST": digest,
                            "MLFACTORY_API_TOKEN": {"Ref": "ApiToken"},
                        }
                    },
                    "FunctionUrlConfig": {"AuthType": "NONE"},
                    "Events": {
                        "HttpApi": {
                            "Type": "HttpApi",
                            "Properties": {"Path": "/{proxy+}", "Method": "ANY"},
                        }
                    },
                },
            }
        },
        "Outputs": {
            "FunctionUrl": {
                "Description": "The function URL (payload format 2.0)",
                "Value": {"Fn::GetAtt": ["ModelFunctionUrl", "FunctionUrl"]},
            },
            "HttpApiUrl": {
                "Description": "The HTTP API's default stage",
                "Value": {
                    "Fn::Sub": "https://${ServerlessHttpApi}.execute-api.${AWS::Region}."
                    "${AWS::URLSuffix}/"
                },
            },
        },
    }
    header = f"# SAM template for {ref} (written by `mlfactory export lambda`); no secrets\n"
    return header + yaml.safe_dump(template, sort_keys=False, width=100)


def _tag(name: str) -> str:
    """A Docker tag from a model name (letters, digits, . _ -)."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in name.lower())
    return cleaned.strip(".-") or "model"
