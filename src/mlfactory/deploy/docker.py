"""``mlfactory export docker``: a Dockerfile and build context for one model version's server.

The context holds the version's model folder, verified against its registered
digest as it is read (``model/``), what the registry recorded of it
(``model.json``), the packages to install (``requirements.txt``: the model's own
exact pins, mlfactory's among them, or a wheel given with ``--wheel``) and the
Dockerfile: a build stage that installs them into a virtualenv and bakes the version
into an embedded registry (``deploy/bake.py``), and a slim runtime stage that
runs ``mlfactory serve`` on it as a non-root user, with a ``HEALTHCHECK`` on
``/health/ready``. The server verifies every file of the model against the digest
when it starts and refuses to start on a mismatch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mlfactory.deploy.bake import MODEL_FOLDER, RECORD, record_of
from mlfactory.deploy.written import MARKER, write_files
from mlfactory.errors import BadInputError
from mlfactory.registry import ModelRef, Registry
from mlfactory.versions import __version__

__all__ = [
    "BASE_IMAGE",
    "PORT",
    "REGISTRY_IN_IMAGE",
    "UID",
    "DockerExport",
    "export_docker",
    "image_tag",
    "resource_name",
]

BASE_IMAGE = "python:3.11-slim"
PORT = 8000
UID = 10001  # numeric, so Kubernetes' runAsNonRoot can check it
REGISTRY_IN_IMAGE = "/app/registry"
_PIN = re.compile(r"^mlfactory\s*(==|@|\[|$)", re.IGNORECASE)


def resource_name(model: str) -> str:
    """A model's name as an image repository and a Kubernetes name (a DNS-1123 label),
    which a registered name (dots, underscores, capitals) need not be:
    ``Flight_Delays`` -> ``flight-delays``."""
    name = re.sub(r"[^a-z0-9-]+", "-", model.lower()).strip("-")[:50].strip("-")
    if not name:
        raise BadInputError(f"cannot make a Kubernetes name of {model!r}; rename the model.")
    return name


def image_tag(model: str, version: str) -> str:
    """The tag ``export docker`` suggests and ``export k8s|kserve`` run by default."""
    return f"{resource_name(model)}:{version}"


@dataclass(frozen=True)
class DockerExport:
    """What ``export_docker`` wrote: the folder, the files, and the version inside."""

    folder: Path
    ref: str  # what the image serves: NAME@ALIAS, or NAME/VERSION
    version: str
    package_sha256: str
    files: list[Path]

    @property
    def image(self) -> str:
        """A tag to build it as: ``NAME:VERSION``, the name as ``resource_name`` makes it."""
        return image_tag(self.ref.split("@")[0].split("/")[0], self.version)


def export_docker(
    registry: Registry,
    ref: str,
    output: Path,
    *,
    force: bool = False,
    wheel: Path | None = None,
    base_image: str = BASE_IMAGE,
) -> DockerExport:
    """Write the build context of a server for ``ref`` (``NAME@ALIAS`` or ``NAME/VERSION``)."""
    parsed = ModelRef.parse(ref)
    info = registry.resolve(parsed)  # exits 2 naming the models that exist
    model_files: dict[str, bytes] = {}
    registry.load(info, files=model_files)  # verified against the registered digest
    record = record_of(parsed, info.version, info.tags)
    requirements = model_files.get("requirements.txt", b"").decode()
    files = {f"{MODEL_FOLDER}/{name}": data for name, data in model_files.items()}
    wheel_name = None
    if wheel is not None:
        wheel_name = _check_wheel(wheel)
        files[f"wheels/{wheel_name}"] = wheel.read_bytes()
    files[RECORD] = (json.dumps(record, indent=1) + "\n").encode()
    files["requirements.txt"] = _requirements(requirements, wheel_name).encode()
    files["Dockerfile"] = dockerfile(
        str(parsed), info.version, record["package_sha256"], wheel=wheel_name, base=base_image
    ).encode()
    files[".dockerignore"] = f"# the export's record of the files it wrote\n{MARKER}\n".encode()
    written = write_files(output, files, force=force, command=f"mlfactory export docker {parsed}")
    return DockerExport(output, str(parsed), info.version, record["package_sha256"], written)


def _check_wheel(wheel: Path) -> str:
    if not wheel.is_file() or wheel.suffix != ".whl" or not wheel.name.startswith("mlfactory-"):
        raise BadInputError(
            f"--wheel {str(wheel)!r} is not a wheel of mlfactory (mlfactory-VERSION-...whl); "
            "build one with `python -m build --wheel` (or `uv build`) in a checkout."
        )
    return wheel.name


def _requirements(model_pins: str, wheel: str | None) -> str:
    """The model's exact pins, with mlfactory's replaced by the wheel when one is given."""
    lines = [line.strip() for line in model_pins.splitlines() if line.strip()]
    others = [line for line in lines if not _PIN.match(line)]
    pinned = next((line for line in lines if _PIN.match(line)), f"mlfactory=={__version__}")
    mlfactory = f"/build/wheels/{wheel}" if wheel else pinned
    header = (
        "# The packages the model was registered with (its requirements.txt), pinned exactly,\n"
        "# so the server loads it with the libraries that fitted it.\n"
    )
    return header + "\n".join([mlfactory, *others]) + "\n"


def dockerfile(ref: str, version: str, digest: str, *, wheel: str | None, base: str) -> str:
    """The Dockerfile's text (linted by hadolint in tests/deploy)."""
    name = ModelRef.parse(ref).name
    wheels = "COPY wheels/ /build/wheels/\n" if wheel else ""
    probe = (
        "import sys, urllib.request; "
        f"sys.exit(urllib.request.urlopen('http://127.0.0.1:{PORT}/health/ready', "
        "timeout=4).status != 200)"
    )
    entry = json.dumps(
        [
            "mlfactory",
            "serve",
            ref,
            "--host",
            "0.0.0.0",  # inside the container: every interface of its own
            "--port",
            str(PORT),
            "--registry",
            REGISTRY_IN_IMAGE,
            "--poll-seconds",
            "0",
        ]
    )
    return f"""\
# Generated by mlfactory {__version__}: `mlfactory export docker {ref}`.
# The model server for {name}/{version} (package digest sha256:{digest}).
#   docker build -t {image_tag(name, version)} .
#   docker run -p {PORT}:{PORT} -e MLFACTORY_API_TOKEN {image_tag(name, version)} [--workers 2 ...]
# Options after the image name are added to `mlfactory serve`.

# -- base: Python and the OpenMP runtime LightGBM and scikit-learn load -------------------
FROM {base} AS base
# libgomp1 unpinned on purpose: the base image's Debian release fixes its version, and a
# pinned version leaves the archive at the next point release, breaking the build
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install --yes --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*

# -- build: the packages in a virtualenv, the version in an embedded registry --------------
FROM base AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
COPY requirements.txt /build/requirements.txt
{wheels}RUN /opt/venv/bin/pip install --no-cache-dir --requirement /build/requirements.txt
COPY {RECORD} /build/{RECORD}
COPY {MODEL_FOLDER}/ /build/{MODEL_FOLDER}/
# fails unless the folder is the one registered (digest sha256:{digest[:12]}…)
RUN /opt/venv/bin/python -m mlfactory.deploy.bake /build {REGISTRY_IN_IMAGE}

# -- runtime: the virtualenv and the registry, run by a user that cannot write them --------
FROM base
LABEL org.opencontainers.image.title="{name} model server" \\
      org.opencontainers.image.description="mlfactory serve {ref} ({name}/{version})" \\
      io.mlfactory.model="{name}" \\
      io.mlfactory.version="{version}" \\
      io.mlfactory.package-sha256="{digest}" \\
      io.mlfactory.mlfactory-version="{__version__}"
RUN useradd --system --uid {UID} --no-create-home --shell /usr/sbin/nologin mlfactory
COPY --from=build /opt/venv /opt/venv
COPY --from=build {REGISTRY_IN_IMAGE} {REGISTRY_IN_IMAGE}
ENV PATH="/opt/venv/bin:$PATH" PYTHONUNBUFFERED=1 HOME=/tmp
WORKDIR /app
USER {UID}
EXPOSE {PORT}
# /health/ready answers 200 once every model is loaded and verified; --start-period covers that
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \\
  CMD ["python", "-c", "{probe}"]
# every start verifies each model file against the registered digest, and refuses on a mismatch
ENTRYPOINT {entry}
"""
