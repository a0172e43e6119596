"""Fixtures of the deploy checks: the pinned tools (installed on first use, tests/deploy/tools.py) and both
overlays rendered once per session. No PostgreSQL, Kafka or Kubernetes cluster is needed.

A tool that cannot be installed fails the test in CI (CI=true) and skips it elsewhere, with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import tools

IN_CI = os.environ.get("CI", "").lower() == "true"
K8S = tools.REPO / "deploy" / "k8s"
LINES = ("mall", "pingou")
# A test that may have to install a tool first (go install, pip install) gets this long.
INSTALL_TIMEOUT = 900

Document = dict[str, Any]


def _installed(install: Callable[[], Path], what: str) -> Path:
    try:
        return install()
    except tools.ToolUnavailable as error:
        if IN_CI:
            pytest.fail(f"{what} could not be installed: {error}")
        pytest.skip(f"{what} could not be installed here: {error}")


@pytest.fixture(scope="session")
def kustomize() -> Path:
    return _installed(tools.kustomize, "kustomize")


@pytest.fixture(scope="session")
def tools_bin() -> Path:
    """The `bin` folder of the tools' virtual environment: python (with PyYAML, kubernetes-validate,
    jsonschema), checkov, hadolint."""
    return _installed(tools.python_tools, "the deploy checks' Python tools")


def run_in_tools_venv(tools_bin: Path, arguments: list[str], stdin: str) -> Any:
    """tools_venv_checks.py, run by the tools' interpreter, reading `stdin`; its JSON answer."""
    script = Path(__file__).with_name("tools_venv_checks.py")
    result = subprocess.run(
        [str(tools_bin / "python"), str(script), *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def build(kustomize: Path, line: str) -> str:
    result = subprocess.run(
        [str(kustomize), "build", str(K8S / "overlays" / line)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, f"kustomize build overlays/{line} failed:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def rendered(kustomize: Path, tools_bin: Path) -> dict[str, list[Document]]:
    """Every object each overlay renders to, by line."""
    documents: dict[str, list[Document]] = {}
    for line in LINES:
        documents[line] = run_in_tools_venv(tools_bin, ["to-json"], build(kustomize, line))
    return documents


def of_kind(documents: list[Document], kind: str) -> list[Document]:
    return [document for document in documents if document["kind"] == kind]


def named(documents: list[Document], kind: str, name: str) -> Document:
    found = [document for document in of_kind(documents, kind) if document["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} named {name}"
    return found[0]


def pod_spec(workload: Document) -> Document:
    spec: Document = workload["spec"]["template"]["spec"]
    return spec


def selects(selector: Document, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions) matches these labels; {} matches all."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if (
            (operator == "In" and labels.get(key) not in values)
            or (operator == "NotIn" and present and labels[key] in values)
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


def pod_labels(workload: Document) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def policies_of(documents: list[Document], labels: dict[str, str]) -> list[Document]:
    """The NetworkPolicies that select pods with these labels."""
    return [policy for policy in of_kind(documents, "NetworkPolicy") if selects(policy["spec"]["podSelector"], labels)]


def workloads(documents: list[Document]) -> list[Document]:
    return of_kind(documents, "Deployment") + of_kind(documents, "Job")
