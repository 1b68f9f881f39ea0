"""``mlfactory export k8s|kserve``: manifests that run the image ``export docker`` builds.

``k8s`` writes a Deployment (resources, liveness and readiness probes on
``/health/live`` and ``/health/ready``, Prometheus scrape annotations, the API token
from a Secret by name), a Service, a HorizontalPodAutoscaler, with ``canary`` a
second Deployment serving ``NAME@challenger`` behind the same Service, and with a
``schedule`` a CronJob that runs ``mlfactory retrain --when drift`` (what
``mlfactory watch`` does on one machine). ``kserve`` writes an InferenceService
whose custom predictor is the same image, speaking the Open Inference Protocol V2
(``PROTOCOL=v2``). No value of a secret is ever written, only Secrets' names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlfactory.deploy.docker import PORT, UID, image_tag, resource_name
from mlfactory.deploy.written import write_files
from mlfactory.errors import BadInputError
from mlfactory.registry import ModelRef, Registry
from mlfactory.serving.auth import TOKEN_ENV
from mlfactory.versions import __version__

__all__ = ["KubernetesExport", "export_k8s", "export_kserve", "resource_name"]

PREDICTIONS = "/predictions"  # where the server logs and the CronJob reads, with a schedule
SPEC_FOLDER = "/spec"


@dataclass(frozen=True)
class KubernetesExport:
    folder: Path
    ref: str
    version: str
    image: str
    files: list[Path]


def _labels(name: str, track: str | None = None) -> dict[str, str]:
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "mlfactory"}
    return {**labels, "mlfactory/track": track} if track else labels


def _probe(path: str, *, period: int, failures: int, port: int | str = "http") -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _token_env(secret: str) -> dict[str, Any]:
    return {
        "name": TOKEN_ENV,
        "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}},
    }


_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
_POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": UID,
    "runAsGroup": UID,
    "fsGroup": UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _deployment(
    name: str, image: str, *, track: str, replicas: int, secret: str, logs: bool
) -> dict[str, Any]:
    args: list[str] = []  # after the image's own `mlfactory serve NAME@ALIAS ...`
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    if logs:
        args += ["--prediction-log", PREDICTIONS]
        volumes.append(
            {"name": "predictions", "persistentVolumeClaim": {"claimName": f"{name}-predictions"}}
        )
        mounts.append({"name": "predictions", "mountPath": PREDICTIONS})
    container: dict[str, Any] = {
        "name": "server",
        "image": image,
        **({"args": args} if args else {}),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": [_token_env(secret)],
        "resources": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"memory": "2Gi"},
        },
        # a start loads and verifies every model: up to 5 minutes before liveness counts
        "startupProbe": _probe("/health/ready", period=5, failures=60),
        "livenessProbe": _probe("/health/live", period=10, failures=3),
        "readinessProbe": _probe("/health/ready", period=5, failures=2),
        "securityContext": _SECURITY,
        "volumeMounts": mounts,
    }
    full = name if track == "stable" else f"{name}-{track}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": full, "labels": _labels(name, track)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": _labels(name, track)},
            "template": {
                "metadata": {
                    "labels": _labels(name, track),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(PORT),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "securityContext": _POD_SECURITY,
                    "automountServiceAccountToken": False,
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def _service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "selector": _labels(name),  # both tracks: the replica ratio is the canary share
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _autoscaler(name: str, replicas: int, max_replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": replicas,
            "maxReplicas": max(max_replicas, replicas),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def _cronjob(name: str, image: str, schedule: str) -> dict[str, Any]:
    retrain = (
        f"mlfactory retrain {SPEC_FOLDER}/factory.yaml --when drift --prediction-log "
        f"{PREDICTIONS} --quiet; code=$?; "
        # 3: retrained, held back by a gate: the check did its job, not a failure
        'if [ "$code" -eq 3 ]; then exit 0; fi; exit "$code"'
    )
    container = {
        "name": "retrain",
        "image": image,
        "command": ["/bin/sh", "-c", retrain],
        "env": [
            {
                "name": "MLFLOW_TRACKING_URI",
                "valueFrom": {"secretKeyRef": {"name": f"{name}-mlflow", "key": "tracking-uri"}},
            }
        ],
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
        "securityContext": _SECURITY,
        "volumeMounts": [
            {"name": "spec", "mountPath": SPEC_FOLDER, "readOnly": True},
            {"name": "predictions", "mountPath": PREDICTIONS, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": f"{name}-retrain", "labels": _labels(name)},
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 2,
                    # exit 2 is bad input (the spec, the data): retrying cannot help
                    "podFailurePolicy": {
                        "rules": [
                            {
                                "action": "FailJob",
                                "onExitCodes": {
                                    "containerName": "retrain",
                                    "operator": "In",
                                    "values": [2],
                                },
                            }
                        ]
                    },
                    "template": {
                        "metadata": {"labels": _labels(name, "retrain")},
                        "spec": {
                            "restartPolicy": "Never",
                            "securityContext": _POD_SECURITY,
                            "containers": [container],
                            "volumes": [
                                {"name": "spec", "configMap": {"name": f"{name}-spec"}},
                                {
                                    "name": "predictions",
                                    "persistentVolumeClaim": {"claimName": f"{name}-predictions"},
                                },
                                {"name": "tmp", "emptyDir": {}},
                            ],
                        },
                    },
                }
            },
        },
    }


def _dump(*documents: dict[str, Any], about: str) -> bytes:
    header = f"# Generated by mlfactory {__version__}: {about}\n"
    body = "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in documents)
    return (header + body).encode()


_CRON = re.compile(r"^(@(hourly|daily|weekly|monthly|yearly|annually|midnight)|(\S+\s+){4}\S+)$")


def export_k8s(
    registry: Registry,
    ref: str,
    output: Path,
    *,
    image: str | None = None,
    replicas: int = 2,
    max_replicas: int = 10,
    canary: bool = False,
    canary_image: str | None = None,
    schedule: str | None = None,
    token_secret: str | None = None,
    force: bool = False,
) -> KubernetesExport:
    """Write the manifests of a Deployment serving ``ref`` in ``image``."""
    parsed = ModelRef.parse(ref)
    info = registry.resolve(parsed)  # exits 2 naming the models that exist
    name = resource_name(parsed.name)
    image = image or image_tag(parsed.name, info.version)
    if schedule is not None and not _CRON.match(schedule.strip()):
        raise BadInputError(
            f"--schedule {schedule!r} is not a cron schedule; give five fields "
            "('0 * * * *': hourly) or @hourly, @daily, @weekly."
        )
    secret = token_secret or f"{name}-api-token"
    logs = schedule is not None
    command = f"mlfactory export k8s {parsed}"
    files = {
        "deployment.yaml": _dump(
            _deployment(name, image, track="stable", replicas=replicas, secret=secret, logs=logs),
            about=command,
        ),
        "service.yaml": _dump(_service(name), about=command),
        "hpa.yaml": _dump(_autoscaler(name, replicas, max_replicas), about=command),
    }
    if canary:
        challenger = registry.resolve(ModelRef(parsed.name, alias="challenger"))
        canary_ref = str(ModelRef(parsed.name, alias="challenger"))
        files["deployment-canary.yaml"] = _dump(
            _deployment(
                name,
                canary_image or image_tag(parsed.name, challenger.version),
                track="canary",
                replicas=1,
                secret=secret,
                logs=logs,
            ),
            about=f"{command} --canary: {canary_ref} (version {challenger.version}), 1 replica",
        )
    if schedule is not None:
        files["cronjob.yaml"] = _dump(_cronjob(name, image, schedule.strip()), about=command)
    written = write_files(output, files, force=force, command=command)
    return KubernetesExport(output, str(parsed), info.version, image, written)


def export_kserve(
    registry: Registry,
    ref: str,
    output: Path,
    *,
    image: str,
    min_replicas: int = 1,
    max_replicas: int = 3,
    token_secret: str | None = None,
    force: bool = False,
) -> KubernetesExport:
    """Write an InferenceService whose predictor is ``image`` speaking V2."""
    parsed = ModelRef.parse(ref)
    info = registry.resolve(parsed)
    name = resource_name(parsed.name)
    container = {
        "name": "kserve-container",  # the name KServe looks for in a custom predictor
        "image": image,
        "ports": [{"containerPort": PORT, "protocol": "TCP"}],
        "env": [
            {"name": "PROTOCOL", "value": "v2"},
            _token_env(token_secret or f"{name}-api-token"),
        ],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "readinessProbe": _probe("/v2/health/ready", period=5, failures=2, port=PORT),
        "livenessProbe": _probe("/v2/health/live", period=10, failures=3, port=PORT),
        "securityContext": _SECURITY,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    service = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "labels": _labels(name),
            "annotations": {
                "serving.kserve.io/enable-prometheus-scraping": "true",
                "prometheus.kserve.io/port": str(PORT),
                "prometheus.kserve.io/path": "/metrics",
            },
        },
        "spec": {
            "predictor": {
                "minReplicas": min_replicas,
                "maxReplicas": max(max_replicas, min_replicas),
                "securityContext": _POD_SECURITY,
                "containers": [container],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            }
        },
    }
    command = f"mlfactory export kserve {parsed} --image {image}"
    files = {"inferenceservice.yaml": _dump(service, about=command)}
    written = write_files(output, files, force=force, command=command)
    return KubernetesExport(output, str(parsed), info.version, image, written)
