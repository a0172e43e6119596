"""Every service has one shape (README, "The shape of a service"), so a reader knows the map of each
folder from any other and a new service is written by copying one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

SERVICES = sorted(path.parent for path in (REPO / "services").glob("*/bootstrap.py"))
ENTRYPOINTS = {"grpc_api.py", "validation.py", "mapping.py", "access.py"}  # every service has these
MAY_HAVE = {"consumers.py", "jobs.py", "__init__.py"}


def test_there_are_services_to_check() -> None:
    assert {path.name for path in SERVICES} >= {"catalog", "groupbuy", "segmentation", "membership", "order"}


@pytest.mark.parametrize("service", SERVICES, ids=lambda path: path.name)
def test_a_service_has_the_folders_and_files_of_the_shape(service: Path) -> None:
    for name in ("__main__.py", "bootstrap.py", "README.md"):
        assert (service / name).is_file(), name
    for folder in ("domain", "service_layer", "adapters", "entrypoints", "migrations"):
        assert (service / folder).is_dir(), folder
    entrypoints = {path.name for path in (service / "entrypoints").glob("*.py")}
    assert entrypoints >= ENTRYPOINTS
    assert entrypoints <= ENTRYPOINTS | MAY_HAVE, "an entrypoint module outside the shape"


@pytest.mark.parametrize("service", SERVICES, ids=lambda path: path.name)
def test_event_handlers_live_in_consumers_and_jobs_in_jobs(service: Path) -> None:
    wiring = (service / "bootstrap.py").read_text()
    consumes = "IdempotentConsumer(" in wiring
    assert (service / "entrypoints" / "consumers.py").is_file() == consumes
    # No use case or handler is written in the wiring: it only builds and connects parts.
    tree = ast.parse(wiring)
    written_here = [node.name for node in tree.body if isinstance(node, ast.AsyncFunctionDef)]
    assert written_here == ["build_app"], written_here


@pytest.mark.parametrize("service", SERVICES, ids=lambda path: path.name)
def test_the_grpc_module_holds_the_servicer_only(service: Path) -> None:
    tree = ast.parse((service / "entrypoints" / "grpc_api.py").read_text())
    defined = [
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    assert len(defined) == 1, defined  # the mapping is in mapping.py
    assert defined[0].endswith("Servicer")


@pytest.mark.parametrize("service", SERVICES, ids=lambda path: path.name)
def test_migrations_are_in_a_folder_per_schema_kind(service: Path) -> None:
    migrations = service / "migrations"
    kinds = {path.name for path in migrations.iterdir() if not path.name.startswith((".", "__"))}
    assert "line" in kinds
    assert kinds <= {"line", "shared"}, kinds
    for kind in kinds:
        assert (migrations / kind).is_dir()
        assert list((migrations / kind).glob("*.sql")), kind
