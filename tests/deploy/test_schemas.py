"""Both overlays render with the pinned kustomize, and every object they render validates strictly: the
built-in kinds against the Kubernetes schemas kubernetes-validate ships (an unknown or misspelled field is
an error), Strimzi's KafkaTopic against deploy/k8s/schemas/kafkatopic-v1beta2.json."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.deploy.conftest import INSTALL_TIMEOUT, K8S, LINES, Document, of_kind, run_in_tools_venv

pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT)

# The oldest Kubernetes the manifests support (gRPC probes are GA since 1.27, matchLabelKeys in topology
# spread is on by default since 1.27) and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30", "1.37")
SCHEMAS = K8S / "schemas"


def validate(tools_bin: Path, documents: list[Document], version: str) -> list[dict[str, str | None]]:
    results: list[dict[str, str | None]] = run_in_tools_venv(
        tools_bin, ["validate", version, str(SCHEMAS)], json.dumps(documents)
    )
    return results


@pytest.mark.parametrize("line", LINES)
def test_each_overlay_renders_the_whole_line(rendered: dict[str, list[Document]], line: str) -> None:
    kinds = {document["kind"] for document in rendered[line]}
    assert {
        "Namespace",
        "ConfigMap",
        "ServiceAccount",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "Job",
        "KafkaTopic",
    } <= kinds
    assert [namespace["metadata"]["name"] for namespace in of_kind(rendered[line], "Namespace")] == [line]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("line", LINES)
def test_every_object_validates_strictly(
    rendered: dict[str, list[Document]], tools_bin: Path, line: str, version: str
) -> None:
    results = validate(tools_bin, rendered[line], version)
    assert len(results) == len(rendered[line])
    errors = [f"{result['kind']} {result['name']}: {result['error']}" for result in results if result["error"]]
    assert errors == []
    own_schema = {result["kind"] for result in results if result["checked_by"] != "kubernetes"}
    assert own_schema == {"KafkaTopic"}, "only the custom resources are checked against a schema of our own"


def test_the_checks_refuse_what_the_cluster_would(rendered: dict[str, list[Document]], tools_bin: Path) -> None:
    """The validation is strict, not a formality: a misspelled field, a wrong type and a topic setting the
    topic schema does not know are each reported."""
    deployment = copy.deepcopy(of_kind(rendered["pingou"], "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    service = copy.deepcopy(of_kind(rendered["pingou"], "Service")[0])
    service["spec"]["ports"][0]["port"] = "twenty"
    topic = copy.deepcopy(of_kind(rendered["pingou"], "KafkaTopic")[0])
    topic["spec"]["config"]["min.insync.replica"] = 2
    results = validate(tools_bin, [deployment, service, topic], KUBERNETES_VERSIONS[0])
    assert all(result["error"] for result in results), results
    assert "livenessProbes" in str(results[0]["error"])
    assert "min.insync.replica" in str(results[2]["error"])
