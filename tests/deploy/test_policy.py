"""The policy scan: checkov's Kubernetes checks over each overlay as kustomize renders it pass, but for the
exceptions the manifests declare, each explained in the file that makes it."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import INSTALL_TIMEOUT, K8S, LINES, Document, of_kind

pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT)

# The only checks a manifest may skip (the reasons are beside each skip, base/<service>.yaml).
ALLOWED_SKIPS = {
    "CKV_K8S_43",  # image by digest: set by the release, no image is built in the repository
    "CKV_K8S_35",  # secrets as files: the settings read DATABASE_URL (and the link salt) from the environment
}
# Checks that must have run and passed on every Deployment (probes, resources, the security context, the
# service account token, network policy coverage), so a scan that silently checked nothing cannot pass.
REQUIRED_PASSES = {
    "CKV_K8S_8",  # liveness probe
    "CKV_K8S_9",  # readiness probe
    "CKV_K8S_10",  # CPU requests
    "CKV_K8S_11",  # CPU limits
    "CKV_K8S_12",  # memory requests
    "CKV_K8S_13",  # memory limits
    "CKV_K8S_20",  # no privilege escalation
    "CKV_K8S_22",  # read-only root filesystem
    "CKV_K8S_17",  # not in the host's process namespace
    "CKV_K8S_19",  # not in the host's network namespace
    "CKV_K8S_23",  # not root
    "CKV_K8S_28",  # NET_RAW dropped
    "CKV_K8S_31",  # seccomp RuntimeDefault
    "CKV_K8S_37",  # capabilities dropped
    "CKV_K8S_38",  # no service account token mounted
    "CKV_K8S_40",  # a high user id
}
NETWORK_POLICY_COVERAGE = "CKV2_K8S_6"  # a NetworkPolicy selects the pods (reported per pod template)


def checkov(tools_bin: Path, kustomize: Path, line: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "PATH": f"{kustomize.parent}:{tools_bin}:{os.environ.get('PATH', '')}",  # checkov runs `kustomize build`
        "BC_SKIP_MAPPING": "TRUE",  # or it asks the network for its policy metadata first
    }
    result = subprocess.run(
        [str(tools_bin / "checkov"), "--framework", "kustomize", "-d", str(K8S / "overlays" / line),
         "--compact", "--skip-download", "--output", "json"],
        capture_output=True, text=True, check=False, env=env, timeout=300,
    )  # fmt: skip
    assert result.stdout.strip(), f"checkov printed nothing: {result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    (kustomize_report,) = [item for item in reports if item["check_type"] == "kustomize"]
    return dict(kustomize_report)


@pytest.mark.parametrize("line", LINES)
def test_checkov_finds_nothing_but_the_declared_exceptions(
    tools_bin: Path, kustomize: Path, rendered: dict[str, list[Document]], line: str
) -> None:
    report = checkov(tools_bin, kustomize, line)
    results = report["results"]
    failed = [f"{check['check_id']} {check['check_name']}: {check['resource']}" for check in results["failed_checks"]]
    assert failed == []
    assert results["parsing_errors"] == []
    skipped = {check["check_id"] for check in results["skipped_checks"]}
    assert skipped <= ALLOWED_SKIPS
    for deployment in of_kind(rendered[line], "Deployment"):
        resource = f"Deployment.{line}.{deployment['metadata']['name']}"
        passed = {check["check_id"] for check in results["passed_checks"] if check["resource"].endswith(resource)}
        assert passed >= REQUIRED_PASSES, f"{resource}: {sorted(REQUIRED_PASSES - passed)} did not pass"
        pods = f":Pod.{line}.{deployment['metadata']['name']}."
        covered = [check for check in results["passed_checks"] if check["check_id"] == NETWORK_POLICY_COVERAGE]
        assert any(pods in check["resource"] for check in covered), f"{resource}: no NetworkPolicy selects its pods"


def test_every_exception_is_explained_where_it_is_made() -> None:
    """A `checkov.io/skipN` annotation names an allowed check, and the file that makes it says why in a
    comment that names the same check."""
    skips_seen = 0
    for manifest in sorted(K8S.rglob("*.yaml")):
        text = manifest.read_text()
        comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
        for check, reason in re.findall(r"checkov\.io/skip\d+:\s*(CKV2?_[A-Z0-9_]+)=(.+)", text):
            skips_seen += 1
            assert check in ALLOWED_SKIPS, f"{manifest}: {check} is not an allowed exception"
            assert reason.strip(), f"{manifest}: {check} skipped without a reason"
            assert check in comments, f"{manifest}: {check} skipped without a comment explaining it"
    assert skips_seen > 0
