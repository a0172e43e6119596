"""The container build file (deploy/docker/Dockerfile): hadolint finds nothing, the stages are what the
manifests run (one final stage per service, its module, its ports, the non-root user), the base is pinned,
and the image installs exactly the runtime packages, every one pinned by requirements.lock.

No Docker engine exists on this machine, so the image is not built here; these checks are what can be
known without building it."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from deploy.local.services import SERVICES
from tests.deploy.conftest import INSTALL_TIMEOUT, LINES, Document, of_kind, pod_spec
from tests.deploy.tools import REPO

pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT)

DOCKER = REPO / "deploy" / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
LOCK = REPO / "requirements.lock"
# What the image must not carry: tests, lint, benchmark, demo and CLI tools, and the code generator.
NOT_AT_RUN_TIME = {"pytest", "hypothesis", "ruff", "mypy", "matplotlib", "typer", "grpcio-tools", "mypy-protobuf"}


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [argument for name, argument in self.instructions if name == instruction]


def stages() -> dict[str, Stage]:
    """The Dockerfile's stages by name, each with its instructions (continuation lines joined)."""
    logical, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#") and not pending:
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        logical.append(pending + raw)
        pending = ""
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for line in filter(str.strip, logical):
        instruction, _, argument = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            base, _, name = argument.partition(" AS ")
            current = found.setdefault(name.strip(), Stage(base.strip(), name.strip()))
        elif current is not None:
            current.instructions.append((instruction.upper(), argument.strip()))
    return found


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[normalised(name)] = version.strip()
    return pins


def requirements(path: Path) -> list[Requirement]:
    return [
        Requirement(line.strip())
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def closure(roots: list[Requirement]) -> set[str]:
    """Every distribution the roots pull in, as the platform's installed metadata says (the same versions)."""
    seen: set[str] = set()
    pending = [(root.name, frozenset(root.extras)) for root in roots]
    while pending:
        name, extras = pending.pop()
        key = normalised(name)
        if key in seen and not extras:
            continue
        seen.add(key)
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in (extras or {""})):
                pending.append((requirement.name, frozenset(requirement.extras)))
    return seen


def test_hadolint_finds_nothing(tools_bin: Path) -> None:
    result = subprocess.run(
        [str(tools_bin / "hadolint"), "--config", str(DOCKER / ".hadolint.yaml"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_base_image_is_pinned_to_the_python_the_platform_runs() -> None:
    external = {stage.base for stage in stages().values() if stage.base not in stages()}
    assert external == {"python:3.11.7-slim-bookworm"}
    assert sys.version_info[:2] == (3, 11)  # pyproject: requires-python >=3.11,<3.12


def test_one_final_stage_per_service_runs_its_module_as_a_non_root_user(
    rendered: dict[str, list[Document]],
) -> None:
    found = stages()
    runtime = found["runtime"]
    (user,) = runtime.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert int(uid) >= 10000
    assert gid.isdigit()
    assert int(gid) != 0
    assert "/opt/venv" in " ".join(runtime.all("COPY"))
    assert "PYTHONPATH=/app:/app/libs/generated" in " ".join(runtime.all("ENV"))
    services = {spec.name: spec for spec in SERVICES}
    finals = {name: stage for name, stage in found.items() if stage.base == "runtime"}
    assert set(finals) == set(services)
    for name, stage in finals.items():
        assert stage.all("ENTRYPOINT") == [f'["python", "-m", "services.{name}"]']
        assert stage.all("COPY") == [f"--from=build /src/services/{name} /app/services/{name}"], "only its own package"
        assert stage.all("EXPOSE") == [f"{services[name].port} {services[name].metrics_port}"]
    # The manifests run the images as that user, with the same module and ports.
    for line in LINES:
        for workload in of_kind(rendered[line], "Deployment") + of_kind(rendered[line], "Job"):
            container = pod_spec(workload)["containers"][0]
            assert pod_spec(workload)["securityContext"]["runAsUser"] == int(uid)
            name = container["name"]
            assert container["command"] == ["python", "-m", f"services.{name}"]
            assert container["image"].rpartition(":")[0].endswith(f"pingou/{name}")


def test_the_image_installs_the_runtime_packages_only_all_pinned_by_the_lock() -> None:
    pins = locked()
    runtime = closure(requirements(DOCKER / "runtime-requirements.in"))
    assert runtime - set(pins) == set(), "pulled in but not pinned by requirements.lock"
    assert runtime & NOT_AT_RUN_TIME == set()
    assert {normalised(requirement.name) for requirement in requirements(DOCKER / "build-requirements.in")} == {
        "grpcio-tools"
    }


def test_every_package_the_services_import_is_in_the_image() -> None:
    """A module libs/ or services/ imports from outside the standard library comes with a runtime package."""
    runtime = closure(requirements(DOCKER / "runtime-requirements.in"))
    providers = importlib.metadata.packages_distributions()
    missing = set()
    for source in [*(REPO / "libs").rglob("*.py"), *(REPO / "services").rglob("*.py")]:
        if "generated" in source.parts:
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top in sys.stdlib_module_names or top in {"libs", "services", "pingou"}:
                    continue
                if not {normalised(name) for name in providers.get(top, [])} & runtime:
                    missing.add(f"{top} ({source.relative_to(REPO)})")
    assert missing == set()
