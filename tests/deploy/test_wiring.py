"""The manifests against the services' own code: the configuration uses the settings' real names and makes a
valid configuration for each service (loaded with its settings class, secrets stood in by local keys), the
migration Jobs run each service's own `migrate` step with the service's settings, the topics are every topic
the services use and are declared for durability, and the secrets each line must hold are documented."""

from __future__ import annotations

import inspect
import re
import secrets
from pathlib import Path

import pytest

from deploy.local.services import identities
from libs.auth.local import LocalKeys
from libs.core import BusinessLine
from libs.core.paging import make_page_token_key
from libs.events import IdempotentConsumer, dead_letter_topic
from libs.settings import load_settings
from services.catalog.bootstrap import CatalogSettings
from services.order.bootstrap import OrderSettings
from tests.deploy.conftest import (
    INSTALL_TIMEOUT,
    K8S,
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
from tests.deploy.platform_settings import SETTINGS, consumed, published
from tests.deploy.tools import REPO

pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT)

CAPACITY = REPO / "deploy" / "CAPACITY.md"
COMPONENT = "app.kubernetes.io/component"
POSTGRES = 5432


def service_of(workload: Document) -> str:
    name: str = pod_spec(workload)["containers"][0]["name"]
    return name


def config_maps(documents: list[Document]) -> dict[str, dict[str, str]]:
    return {item["metadata"]["name"]: item.get("data", {}) for item in of_kind(documents, "ConfigMap")}


@pytest.mark.parametrize("line", LINES)
def test_every_setting_given_is_one_the_services_read(rendered: dict[str, list[Document]], line: str) -> None:
    documents = rendered[line]
    known = {field.upper() for settings in SETTINGS.values() for field in settings.model_fields}
    for name, data in config_maps(documents).items():
        assert set(data) <= known, f"ConfigMap {name}: {sorted(set(data) - known)} are read by no service"
    for workload in workloads(documents):
        service = service_of(workload)
        own = {field.upper() for field in SETTINGS[service].model_fields}
        given = {variable["name"] for variable in pod_spec(workload)["containers"][0]["env"]}
        assert given <= own, f"{workload['metadata']['name']}: {sorted(given - own)} are not {service}'s settings"


def environment_of(workload: Document, documents: list[Document], line: str, folder: Path) -> dict[str, str]:
    """What the workload's container would see, with its secrets stood in: each mounted secret's files made
    from local keys under `folder` (the mount paths rewritten to there), each secret variable a made-up
    value."""
    service = service_of(workload)
    spec = pod_spec(workload)
    (container,) = spec["containers"]
    keys = LocalKeys.make(folder / "local-keys", identities())
    maps = config_maps(documents)
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment.update(maps[source["configMapRef"]["name"]])
    for variable in container["env"]:
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
            continue
        reference = variable["valueFrom"]["secretKeyRef"]
        made_up = {
            f"{service}-database": f"postgresql://{service}_{line}@db.invalid:5432/{service}",
            "identity-link-salt": secrets.token_hex(16),
        }
        environment[variable["name"]] = made_up[reference["name"]]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "secret" not in volume:
            continue
        local = folder / mount["name"]
        local.mkdir(parents=True, exist_ok=True)
        for item in volume["secret"]["items"]:
            made = {
                "trusted-keys.json": lambda path: path.write_text(keys.key_set_file.read_text()),
                "signing.key": lambda path: path.write_bytes(keys.service_key_file(service).read_bytes()),
                "page-token.key": make_page_token_key,
            }
            made[item["key"]](local / item["path"])
        for name, value in environment.items():
            if value.startswith(mount["mountPath"] + "/"):
                environment[name] = str(local) + value.removeprefix(mount["mountPath"])
    return environment


@pytest.mark.parametrize("line", LINES)
def test_every_workload_starts_with_the_configuration_it_is_given(
    rendered: dict[str, list[Document]], line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each Deployment's and Job's environment, read by the service's own settings class as at start: no
    missing or malformed variable, and the line's wiring as intended."""
    documents = rendered[line]
    for workload in workloads(documents):
        service = service_of(workload)
        settings_type = SETTINGS[service]
        environment = environment_of(workload, documents, line, tmp_path / workload["metadata"]["name"])
        for field in settings_type.model_fields:
            monkeypatch.delenv(field.upper(), raising=False)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        settings = load_settings(settings_type)
        assert settings.served_lines == {BusinessLine.parse(line)}
        assert settings.grpc_host == "0.0.0.0"  # noqa: S104  -- a pod listens on its own address
        assert settings.kafka_replication_factor == 3
        assert settings.service_name == service
        assert settings.tls_cert_file is None, "kubelet's gRPC probes speak plaintext (deploy/k8s/README.md)"
        groupbuy_callers = {"groupbuy"} if line == "pingou" else set()
        if isinstance(settings, CatalogSettings):
            assert settings.lease_callers == groupbuy_callers
        if isinstance(settings, OrderSettings):
            assert settings.group_order_callers == groupbuy_callers


@pytest.mark.parametrize("line", LINES)
def test_migrations_run_before_the_rollout_with_the_services_own_step(
    rendered: dict[str, list[Document]], line: str
) -> None:
    documents = rendered[line]
    deployments = of_kind(documents, "Deployment")
    assert {job["metadata"]["name"] for job in of_kind(documents, "Job")} == {
        f"{deployment['metadata']['name']}-migrate" for deployment in deployments
    }
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        job = named(documents, "Job", f"{name}-migrate")
        assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migrations"
        served, migrating = pod_spec(deployment), pod_spec(job)
        (server,), (migrator,) = served["containers"], migrating["containers"]
        assert migrator["command"] == server["command"] == ["python", "-m", f"services.{name}"]
        assert migrator["args"] == ["migrate"]
        assert '"migrate"' in (REPO / "services" / name / "__main__.py").read_text(), "the service's own step"
        for key in ("image", "env", "envFrom", "volumeMounts"):
            assert migrator[key] == server[key], f"{name}: the Job's {key} differs from the service's"
        assert migrating["volumes"] == served["volumes"]
        assert migrating["serviceAccountName"] == served["serviceAccountName"]
        assert migrating["restartPolicy"] == "Never"


@pytest.mark.parametrize("line", LINES)
def test_the_topics_are_every_topic_the_services_use_declared_for_durability(
    rendered: dict[str, list[Document]], line: str
) -> None:
    business_line = BusinessLine.parse(line)
    readers, writers = consumed(business_line), published(business_line)
    used = set().union(*readers.values(), *writers.values())
    topics = {topic["spec"]["topicName"]: topic["spec"] for topic in of_kind(rendered[line], "KafkaTopic")}
    assert set(topics) == used | {dead_letter_topic(topic) for topic in used}
    inbox_kept = inspect.signature(IdempotentConsumer).parameters["inbox_retention"].default
    most = {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa["spec"]["maxReplicas"]
        for hpa in of_kind(rendered[line], "HorizontalPodAutoscaler")
    }
    for name, spec in topics.items():
        assert spec["replicas"] == 3, name
        assert spec["config"]["min.insync.replicas"] == 2, name
        assert spec["config"]["unclean.leader.election.enable"] is False, name
        # A redelivered event must still find its inbox row: nothing outlives the inbox's memory.
        assert 0 < spec["config"]["retention.ms"] < inbox_kept.total_seconds() * 1000, name
        for service, read in readers.items():
            if name in read:
                assert spec["partitions"] >= most[service], f"{name}: fewer partitions than {service}'s replicas"


@pytest.mark.parametrize("line", LINES)
def test_every_secret_the_line_needs_is_documented(rendered: dict[str, list[Document]], line: str) -> None:
    """The secrets are referenced, never in the repository; the operator creates them (deploy/k8s/README.md),
    each with the keys the workloads read."""
    documented = (K8S / "README.md").read_text()
    needed: dict[str, set[str]] = {}
    for workload in workloads(rendered[line]):
        spec = pod_spec(workload)
        for volume in spec["volumes"]:
            if "secret" in volume:
                needed.setdefault(volume["secret"]["secretName"], set()).update(
                    item["key"] for item in volume["secret"]["items"]
                )
        for variable in spec["containers"][0]["env"]:
            if "valueFrom" in variable:
                reference = variable["valueFrom"]["secretKeyRef"]
                needed.setdefault(reference["name"], set()).add(reference["key"])
    assert not of_kind(rendered[line], "Secret"), "no secret value in the repository"
    for name, keys in needed.items():
        row = re.search(rf"^\| `{re.escape(name)}` \|(.+)$", documented, re.MULTILINE)
        assert row, f"deploy/k8s/README.md does not list the secret {name}"
        assert all(f"`{key}`" in row.group(1) for key in keys), f"{name}: keys {sorted(keys)}"


def capacity_table() -> dict[tuple[str, str], tuple[int, int]]:
    """The replica table of deploy/CAPACITY.md: (line, service) -> (minimum, maximum)."""
    rows = {}
    for match in re.finditer(r"^\| (mall|pingou) \| (\w+) \| (\d+) \| (\d+) \|", CAPACITY.read_text(), re.MULTILINE):
        rows[(match[1], match[2])] = (int(match[3]), int(match[4]))
    return rows


def test_the_capacity_model_is_what_the_overlays_deploy(rendered: dict[str, list[Document]]) -> None:
    deployed = {
        (line, hpa["spec"]["scaleTargetRef"]["name"]): (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"])
        for line in LINES
        for hpa in of_kind(rendered[line], "HorizontalPodAutoscaler")
    }
    assert capacity_table() == deployed


# The rollout's steps (the top README, "Rollout"): `kubectl apply -l <selector>` over one render.
PREPARE = {
    "matchExpressions": [{"key": COMPONENT, "operator": "NotIn", "values": ["server", "consumer", "migrations"]}]
}
MIGRATE = {"matchLabels": {COMPONENT: "migrations"}}


@pytest.mark.parametrize("line", LINES)
def test_the_rollout_steps_apply_what_each_step_needs(rendered: dict[str, list[Document]], line: str) -> None:
    """Step one (configuration, accounts, policies, topics) holds everything the migration Jobs of step two
    use, and neither holds a Deployment; step three applies the rest."""
    documents = rendered[line]
    prepared = [item for item in documents if selects(PREPARE, item["metadata"].get("labels", {}))]
    migrations = [item for item in documents if selects(MIGRATE, item["metadata"].get("labels", {}))]
    kinds = {item["kind"] for item in prepared}
    assert kinds == {"Namespace", "ConfigMap", "ServiceAccount", "NetworkPolicy", "KafkaTopic"}
    assert {item["kind"] for item in migrations} == {"Job"}
    ready = {(item["kind"], item["metadata"]["name"]) for item in prepared}
    for job in migrations:
        spec = pod_spec(job)
        assert ("ServiceAccount", spec["serviceAccountName"]) in ready
        for source in spec["containers"][0]["envFrom"]:
            assert ("ConfigMap", source["configMapRef"]["name"]) in ready
        reach = [policy for policy in policies_of(prepared, pod_labels(job)) if policy["spec"].get("egress")]
        assert any(
            port["port"] == POSTGRES for policy in reach for rule in policy["spec"]["egress"] for port in rule["ports"]
        ), f"{job['metadata']['name']} cannot reach its database in step one's policies"
