"""The two business lines apart (deploy/k8s/README.md), and what every workload must have, asserted on what the
overlays render: no workload of one line in the other's namespace, no groupbuy in the mall, every Deployment with
gRPC probes, resources, the restricted security context, its own service account, a disruption budget, an
autoscaler and topology spread, and every Service behind a NetworkPolicy that lets in only its callers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.deploy.conftest import (
    INSTALL_TIMEOUT,
    LINES,
    Document,
    named,
    of_kind,
    pod_labels,
    pod_spec,
    policies_of,
    selects,
    workloads,
)
from tests.deploy.platform_settings import SETTINGS

pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT)

LINE_LABEL = "pingou.io/line"
# The services whose data spans both lines by design (their READMEs' known limits): they, and only they,
# reach the company PostgreSQL.
CROSS_LINE_SERVICES = {"segmentation", "membership", "analytics"}
LINE_SERVICES = {"mall": {"catalog", "order"}, "pingou": {"catalog", "order", "groupbuy"}}
POSTGRES, KAFKA = 5432, 9092


def other(line: str) -> str:
    return "pingou" if line == "mall" else "mall"


def service_of(workload: Document) -> str:
    name: str = pod_labels(workload)["app.kubernetes.io/name"]
    return name.removesuffix("-migrate")


def platform_config(documents: list[Document]) -> dict[str, str]:
    (config,) = [item for item in of_kind(documents, "ConfigMap") if item["metadata"]["name"].startswith("platform")]
    data: dict[str, str] = config["data"]
    return data


@pytest.mark.parametrize("line", LINES)
def test_every_object_belongs_to_its_line_namespace(rendered: dict[str, list[Document]], line: str) -> None:
    for document in rendered[line]:
        metadata = document["metadata"]
        where = f"{document['kind']} {metadata['name']}"
        assert metadata["labels"].get(LINE_LABEL) == line, where
        if document["kind"] != "Namespace":
            assert metadata["namespace"] == line, where
    for workload in workloads(rendered[line]):
        assert pod_labels(workload)[LINE_LABEL] == line
    assert platform_config(rendered[line])["SERVED_LINES"] == line


@pytest.mark.parametrize("line", LINES)
def test_no_workload_of_the_other_line(rendered: dict[str, list[Document]], line: str) -> None:
    documents = rendered[line]
    theirs = other(line)
    for document in documents:
        assert document["metadata"].get("namespace", line) != theirs
        assert document["metadata"]["labels"].get(LINE_LABEL) != theirs
    topics = [topic["spec"]["topicName"] for topic in of_kind(documents, "KafkaTopic")]
    assert topics
    assert all(topic.startswith(f"{line}.") for topic in topics)
    assert {topic["metadata"]["labels"]["strimzi.io/cluster"] for topic in of_kind(documents, "KafkaTopic")} == {
        f"{line}-events"
    }
    config = platform_config(documents)
    for key, value in config.items():
        if key.endswith("_ADDRESS"):
            assert value.partition(":")[0].endswith(f".{line}.svc.cluster.local"), key
    brokers = config["KAFKA_BOOTSTRAP_SERVERS"].split(",")
    assert brokers
    assert all(f".{line}-events." in broker and theirs not in broker for broker in brokers)
    # No policy lets in or out the other line's namespace or its edge.
    for policy in of_kind(documents, "NetworkPolicy"):
        for rule in [*policy["spec"].get("ingress", []), *policy["spec"].get("egress", [])]:
            for peer in [*rule.get("from", []), *rule.get("to", [])]:
                if "namespaceSelector" in peer:
                    assert theirs not in peer["namespaceSelector"]["matchLabels"].values(), policy["metadata"]["name"]


def test_groupbuy_runs_in_pingou_only(rendered: dict[str, list[Document]]) -> None:
    assert "groupbuy" not in json.dumps(rendered["mall"])
    assert named(rendered["pingou"], "Deployment", "groupbuy")
    assert named(rendered["pingou"], "Job", "groupbuy-migrate")
    assert {topic["spec"]["topicName"] for topic in of_kind(rendered["pingou"], "KafkaTopic")} >= {
        "pingou.groupbuy.v1",
        "pingou.groupbuy.v1.dlq",
    }


def test_the_lines_use_their_own_databases_and_kafka(rendered: dict[str, list[Document]]) -> None:
    """Each line's PostgreSQL and Kafka ranges are its own; only the company PostgreSQL is common, and only
    the cross-line services reach it."""
    reach: dict[str, dict[int, set[str]]] = {}
    for line in LINES:
        reach[line] = {POSTGRES: set(), KAFKA: set()}
        company = set()
        for workload in workloads(rendered[line]):
            for cidr, port in ip_egress(rendered[line], pod_labels(workload)):
                reach[line][port].add(cidr)
        for policy in of_kind(rendered[line], "NetworkPolicy"):
            if policy["metadata"]["name"] == "allow-company-postgres":
                company = {cidr for cidr, _ in egress_blocks(policy)}
        assert len(company) == 1
        for workload in workloads(rendered[line]):
            blocks = {cidr for cidr, port in ip_egress(rendered[line], pod_labels(workload)) if port == POSTGRES}
            expected = company if service_of(workload) in CROSS_LINE_SERVICES else blocks - company
            assert blocks == expected, workload["metadata"]["name"]
            assert len(blocks) == 1, workload["metadata"]["name"]
            assert service_of(workload) in CROSS_LINE_SERVICES | LINE_SERVICES[line]
        reach[line][POSTGRES] -= company
    assert reach["mall"][POSTGRES].isdisjoint(reach["pingou"][POSTGRES])
    assert reach["mall"][KAFKA].isdisjoint(reach["pingou"][KAFKA])


def egress_blocks(policy: Document) -> list[tuple[str, int]]:
    blocks = []
    for rule in policy["spec"].get("egress", []):
        for peer in rule.get("to", []):
            if "ipBlock" in peer:
                blocks += [(peer["ipBlock"]["cidr"], port["port"]) for port in rule["ports"]]
    return blocks


def ip_egress(documents: list[Document], labels: dict[str, str]) -> set[tuple[str, int]]:
    return {block for policy in policies_of(documents, labels) for block in egress_blocks(policy)}


@pytest.mark.parametrize("line", LINES)
def test_every_deployment_has_probes_resources_and_the_security_context(
    rendered: dict[str, list[Document]], line: str
) -> None:
    deployments = of_kind(rendered[line], "Deployment")
    assert {deployment["metadata"]["name"] for deployment in deployments} == CROSS_LINE_SERVICES | LINE_SERVICES[line]
    for deployment in deployments:
        spec = pod_spec(deployment)
        (container,) = spec["containers"]
        grpc_port = next(port["containerPort"] for port in container["ports"] if port["name"] == "grpc")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": grpc_port}, f"{deployment['metadata']['name']} {probe}"
        assert_resources(container)
        assert_restricted(spec, container)
        assert spec["terminationGracePeriodSeconds"] >= 15 + 5  # drain + grace of the graceful stop, and more
        assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"


@pytest.mark.parametrize("line", LINES)
def test_every_migration_job_is_as_locked_down(rendered: dict[str, list[Document]], line: str) -> None:
    for job in of_kind(rendered[line], "Job"):
        spec = pod_spec(job)
        (container,) = spec["containers"]
        assert_resources(container)
        assert_restricted(spec, container)


def assert_resources(container: Document) -> None:
    resources = container["resources"]
    for kind in ("requests", "limits"):
        assert set(resources[kind]) == {"cpu", "memory"}, f"{container['name']} {kind}"


def assert_restricted(spec: Document, container: Document) -> None:
    pod, own = spec["securityContext"], container["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert own["runAsNonRoot"] is True
    assert pod["runAsUser"] >= 10000
    assert own["readOnlyRootFilesystem"] is True
    assert own["allowPrivilegeEscalation"] is False
    assert own["privileged"] is False
    assert own["capabilities"] == {"drop": ["ALL"]}
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"} == own["seccompProfile"]
    assert spec["automountServiceAccountToken"] is False
    assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec)


@pytest.mark.parametrize("line", LINES)
def test_every_deployment_has_its_account_budget_autoscaler_and_spread(
    rendered: dict[str, list[Document]], line: str
) -> None:
    documents = rendered[line]
    for deployment in of_kind(documents, "Deployment"):
        name, labels, spec = deployment["metadata"]["name"], pod_labels(deployment), pod_spec(deployment)
        account = named(documents, "ServiceAccount", spec["serviceAccountName"])
        assert account["automountServiceAccountToken"] is False
        assert spec["serviceAccountName"] == name, "a service account of its own"
        budgets = [pdb for pdb in of_kind(documents, "PodDisruptionBudget") if selects(pdb["spec"]["selector"], labels)]
        assert len(budgets) == 1, name
        (autoscaler,) = [
            hpa
            for hpa in of_kind(documents, "HorizontalPodAutoscaler")
            if hpa["spec"]["scaleTargetRef"]["name"] == name
        ]
        assert autoscaler["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert 2 <= autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]
        assert [metric["resource"]["name"] for metric in autoscaler["spec"]["metrics"]] == ["cpu"]
        keys = {constraint["topologyKey"] for constraint in spec["topologySpreadConstraints"]}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        for constraint in spec["topologySpreadConstraints"]:
            assert selects(constraint["labelSelector"], labels)
        assert selects(deployment["spec"]["selector"], labels)


@pytest.mark.parametrize("line", LINES)
def test_the_namespace_denies_by_default(rendered: dict[str, list[Document]], line: str) -> None:
    deny = named(rendered[line], "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    (namespace,) = of_kind(rendered[line], "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def allowed_in(documents: list[Document], target: dict[str, str], port: int, port_name: str) -> list[Document]:
    """The peers (`from` entries) the policies selecting `target` let in on that port."""
    peers = []
    for policy in policies_of(documents, target):
        if "Ingress" not in policy["spec"]["policyTypes"]:
            continue
        for rule in policy["spec"].get("ingress", []):
            if any(entry.get("port") in (port, port_name) for entry in rule.get("ports", [])):
                peers += rule.get("from", [])
    return peers


def allowed_out(documents: list[Document], source: dict[str, str], port: int) -> list[Document]:
    peers = []
    for policy in policies_of(documents, source):
        for rule in policy["spec"].get("egress", []):
            if any(entry.get("port") == port for entry in rule.get("ports", [])):
                peers += rule.get("to", [])
    return peers


@pytest.mark.parametrize("line", LINES)
def test_every_service_has_a_network_policy_letting_in_only_its_callers(
    rendered: dict[str, list[Document]], line: str
) -> None:
    documents = rendered[line]
    deployments = {service_of(deployment): deployment for deployment in of_kind(documents, "Deployment")}
    for service in of_kind(documents, "Service"):
        selector = service["spec"]["selector"]
        target = next(
            pod_labels(item) for item in deployments.values() if selects({"matchLabels": selector}, pod_labels(item))
        )
        ingress = [policy for policy in policies_of(documents, target) if "Ingress" in policy["spec"]["policyTypes"]]
        own = [policy for policy in ingress if policy["spec"]["podSelector"] != {}]
        assert own, f"Service {service['metadata']['name']}: no NetworkPolicy of its own"
        (grpc,) = [port for port in service["spec"]["ports"] if port["name"] == "grpc"]
        for peer in allowed_in(documents, target, grpc["port"], "grpc"):
            if "namespaceSelector" in peer:
                assert peer["namespaceSelector"] == {"matchLabels": {"pingou.io/edge": line}}, "the line's own edge"
            else:
                (caller,) = [
                    name for name, item in deployments.items() if selects(peer["podSelector"], pod_labels(item))
                ]
                assert caller != service["metadata"]["name"]
        (metrics,) = [port for port in service["spec"]["ports"] if port["name"] == "metrics"]
        scrapers = allowed_in(documents, target, metrics["port"], "metrics")
        assert scrapers == [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
            }
        ]


def callees(settings: Any) -> dict[str, str]:
    """The services a service calls, from its settings' `<name>_address` fields."""
    return {name.removesuffix("_address"): name.upper() for name in settings.model_fields if name.endswith("_address")}


@pytest.mark.parametrize("line", LINES)
def test_each_call_a_service_makes_is_let_out_and_in(rendered: dict[str, list[Document]], line: str) -> None:
    """Every `<NAME>_ADDRESS` a service's settings ask for points at that service in the same namespace, and
    the policies of both sides allow exactly that call; no egress rule leaves the namespace but for DNS,
    PostgreSQL and Kafka."""
    documents = rendered[line]
    config = platform_config(documents)
    deployments = {service_of(deployment): deployment for deployment in of_kind(documents, "Deployment")}
    for name, deployment in deployments.items():
        for callee, variable in callees(SETTINGS[name]).items():
            host, _, port = config[variable].rpartition(":")
            assert host == f"{callee}.{line}.svc.cluster.local"
            service = named(documents, "Service", callee)
            assert int(port) in [item["port"] for item in service["spec"]["ports"] if item["name"] == "grpc"]
            out = allowed_out(documents, pod_labels(deployment), int(port))
            assert any(
                "podSelector" in peer and selects(peer["podSelector"], pod_labels(deployments[callee])) for peer in out
            ), f"{name} may not call {callee}"
            into = allowed_in(documents, pod_labels(deployments[callee]), int(port), "grpc")
            assert any(
                "podSelector" in peer
                and "namespaceSelector" not in peer
                and selects(peer["podSelector"], pod_labels(deployment))
                for peer in into
            ), f"{callee} does not let {name} in"
        for policy in policies_of(documents, pod_labels(deployment)):
            for rule in policy["spec"].get("egress", []):
                for peer in rule.get("to", []):
                    if "namespaceSelector" in peer:
                        dns = {"kubernetes.io/metadata.name": "kube-system"}
                        assert peer["namespaceSelector"]["matchLabels"] == dns
                        assert {entry["port"] for entry in rule["ports"]} == {53}
                    elif "ipBlock" in peer:
                        assert {entry["port"] for entry in rule["ports"]} <= {POSTGRES, KAFKA}
