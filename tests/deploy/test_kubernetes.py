"""`mlfactory export k8s|kserve`: manifests checked by kubernetes-validate against Kubernetes
1.33 (strict: unknown fields fail), the InferenceService against a schema of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from mlfactory.cli import main
from mlfactory.registry import Registry

KUBERNETES = "1.33.0"
VALIDATE = Path(sys.executable).parent / "kubernetes-validate"


def _export(trained: Registry, target: str, output: Path, *extra: str) -> int:
    return main(["export", target, *extra, "-o", str(output), "--registry", str(trained.path)])


def _validate(*files: Path) -> subprocess.CompletedProcess[str]:
    command = [str(VALIDATE), "--strict", "-k", KUBERNETES, *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_every_manifest_passes_kubernetes_validate(trained: Registry, tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    assert _export(trained, "k8s", out, "mroz@champion", "--canary", "--schedule", "0 * * * *") == 0
    files = sorted(out.glob("*.yaml"))
    names = [
        "cronjob.yaml",
        "deployment-canary.yaml",
        "deployment.yaml",
        "hpa.yaml",
        "service.yaml",
    ]
    assert [f.name for f in files] == names
    checked = _validate(*files)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("passed") == 5
    # the check is real: an unknown field fails it
    broken = tmp_path / "broken.yaml"
    broken.write_text((out / "deployment.yaml").read_text().replace("replicas:", "replicaz:", 1))
    assert _validate(broken).returncode != 0


def test_the_deployment_probes_scrapes_and_takes_the_token_from_a_secret(
    trained: Registry, tmp_path: Path
) -> None:
    assert _export(trained, "k8s", tmp_path / "k8s", "mroz@champion") == 0
    [deployment] = _documents(tmp_path / "k8s" / "deployment.yaml")
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]
    assert container["image"] == "mroz:1"  # the tag `export docker` suggests
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    [token] = container["env"]
    assert token == {
        "name": "MLFACTORY_API_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "mroz-api-token", "key": "token"}},
    }
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001
    [service] = _documents(tmp_path / "k8s" / "service.yaml")
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    [hpa] = _documents(tmp_path / "k8s" / "hpa.yaml")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert not (tmp_path / "k8s" / "cronjob.yaml").exists()


def test_the_canary_runs_the_challengers_image_behind_the_same_service(
    trained: Registry, tmp_path: Path
) -> None:
    assert _export(trained, "k8s", tmp_path / "k8s", "mroz@champion", "--canary") == 0
    [stable] = _documents(tmp_path / "k8s" / "deployment.yaml")
    [canary] = _documents(tmp_path / "k8s" / "deployment-canary.yaml")
    [service] = _documents(tmp_path / "k8s" / "service.yaml")
    assert (stable["spec"]["replicas"], canary["spec"]["replicas"]) == (2, 1)
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "mroz:2"
    for deployment in (stable, canary):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
    # each Deployment selects its own pods only
    assert stable["spec"]["selector"] != canary["spec"]["selector"]


def test_the_cronjob_retrains_on_drift_and_a_bad_schedule_exits_2(
    trained: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _export(trained, "k8s", tmp_path / "k8s", "mroz@champion", "--schedule", "@daily") == 0
    [job] = _documents(tmp_path / "k8s" / "cronjob.yaml")
    [container] = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert "mlfactory retrain /spec/factory.yaml --when drift" in container["command"][2]
    [deployment] = _documents(tmp_path / "k8s" / "deployment.yaml")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["--prediction-log", "/predictions"]  # what the CronJob reads
    assert _export(trained, "k8s", tmp_path / "other", "mroz@champion", "--schedule", "hourly") == 2
    assert "is not a cron schedule" in capsys.readouterr().err


def test_an_unknown_model_or_a_full_folder_exits_2(
    trained: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _export(trained, "k8s", tmp_path / "k8s", "flights@champion") == 2
    assert "Registered models: mroz" in " ".join(capsys.readouterr().err.split())
    image = ["--image", "example.org/mroz:1"]
    assert _export(trained, "kserve", tmp_path / "ks", "nope", *image) == 2
    assert "no model named 'nope'" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "values.yaml").write_text("keep: me\n")
    assert _export(trained, "kserve", tmp_path / "mine", "mroz@champion", *image) == 2
    assert "values.yaml" in capsys.readouterr().err
    assert _export(trained, "kserve", tmp_path / "mine", "mroz@champion", *image, "--force") == 0
    assert (tmp_path / "mine" / "values.yaml").read_text() == "keep: me\n"


def _inference_service_schema() -> dict[str, Any]:
    """KServe's InferenceService v1beta1 as far as the export writes it (from KServe's API
    reference: a custom predictor is a pod spec's containers, the one named kserve-container
    serving; PROTOCOL=v2 in its env selects the Open Inference Protocol), with every pod part
    checked against Kubernetes 1.33's own strict schemas from kubernetes-validate."""
    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    raw = (folder / f"v{KUBERNETES}-local-strict" / "_definitions.json").read_text()
    definitions = json.loads(raw.replace("/api/_definitions.json#", "#"))["$defs"]
    core = "#/$defs/io.k8s.api.core.v1."
    return {
        "$defs": definitions,
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "serving.kserve.io/v1beta1"},
            "kind": {"const": "InferenceService"},
            "metadata": {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["predictor"],
                "properties": {
                    "predictor": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["containers"],
                        "properties": {
                            "minReplicas": {"type": "integer", "minimum": 0},
                            "maxReplicas": {"type": "integer", "minimum": 1},
                            "securityContext": {"$ref": f"{core}PodSecurityContext"},
                            "containers": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"$ref": f"{core}Container"},
                            },
                            "volumes": {"type": "array", "items": {"$ref": f"{core}Volume"}},
                        },
                    }
                },
            },
        },
    }


def test_the_inference_service_is_a_v2_custom_predictor(trained: Registry, tmp_path: Path) -> None:
    image = "registry.example.org/mroz:2"
    assert _export(trained, "kserve", tmp_path / "ks", "mroz@challenger", "--image", image) == 0
    [service] = _documents(tmp_path / "ks" / "inferenceservice.yaml")
    validator = jsonschema.Draft202012Validator(_inference_service_schema())
    problems = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(service)]
    assert not problems, problems
    [container] = service["spec"]["predictor"]["containers"]
    assert container["name"] == "kserve-container" and container["image"] == image
    assert {"name": "PROTOCOL", "value": "v2"} in container["env"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["ports"] == [{"containerPort": 8000, "protocol": "TCP"}]
    # the schema is real: a misspelt container field fails it
    container["imagePullPolice"] = "Always"
    assert not validator.is_valid(service)


def test_a_name_with_dots_and_capitals_gets_one_image_tag_that_docker_and_k8s_share(
    tmp_path: Path,
) -> None:
    from mlfactory.spec import parse_spec
    from mlfactory.training import train

    from conftest import mroz_spec

    registry = Registry(path=tmp_path / ".mlfactory")
    train(parse_spec(mroz_spec(name="Mroz.Labour_V2")), registry=registry, progress=False)
    assert _export(registry, "docker", tmp_path / "image", "Mroz.Labour_V2@champion") == 0
    dockerfile = (tmp_path / "image" / "Dockerfile").read_text()
    assert "docker build -t mroz-labour-v2:1 ." in dockerfile  # a valid repository name
    assert _export(registry, "k8s", tmp_path / "k8s", "Mroz.Labour_V2@champion") == 0
    [deployment] = _documents(tmp_path / "k8s" / "deployment.yaml")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "mroz-labour-v2:1"  # the image export docker said to build
