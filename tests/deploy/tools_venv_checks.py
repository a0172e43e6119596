"""Run by the deploy checks' own interpreter (tests/deploy/tools.py), never imported by the tests: what needs
its packages (PyYAML, kubernetes-validate, jsonschema), which the platform's `.venv` does not hold.

    python tools_venv_checks.py to-json < rendered.yaml        every document, as one JSON list
    python tools_venv_checks.py validate VERSION SCHEMA_DIR < docs.json

`validate` checks each document strictly against the Kubernetes schemas of VERSION (kubernetes-validate;
an unknown field is an error), and a kind those schemas do not know against `<SCHEMA_DIR>/<kind>-<version>.json`
when there is one; it prints one JSON object per document: kind, name, how it was checked, the error or null.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

# Imported by name: the modules exist only in the tools' environment, where this file runs.
yaml = importlib.import_module("yaml")
kubernetes_validate = importlib.import_module("kubernetes_validate")
jsonschema = importlib.import_module("jsonschema")


def to_json() -> None:
    documents = [document for document in yaml.safe_load_all(sys.stdin) if document]
    json.dump(documents, sys.stdout)


def _own_schema(document: dict[str, Any], schemas: Path) -> Path | None:
    version = str(document.get("apiVersion", "")).rpartition("/")[2]
    path = schemas / f"{str(document.get('kind', '')).lower()}-{version}.json"
    return path if path.is_file() else None


def validate(version: str, schemas: Path) -> None:
    results = []
    for document in json.load(sys.stdin):
        outcome: dict[str, Any] = {
            "kind": document.get("kind"),
            "name": document.get("metadata", {}).get("name"),
            "checked_by": "kubernetes",
            "error": None,
        }
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            schema = _own_schema(document, schemas)
            outcome["checked_by"] = str(schema) if schema else None
            if schema is None:
                outcome["error"] = f"no schema for {document.get('apiVersion')} {document.get('kind')}"
            else:
                validator = jsonschema.Draft202012Validator(json.loads(schema.read_text()))
                errors = sorted(validator.iter_errors(document), key=lambda error: list(error.absolute_path))
                if errors:
                    outcome["error"] = "; ".join(
                        f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in errors
                    )
        except kubernetes_validate.ValidationError as error:
            outcome["error"] = f"{'.'.join(map(str, error.path)) or '<root>'}: {error.message}"
        results.append(outcome)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    command = sys.argv[1:]
    if command == ["to-json"]:
        to_json()
    elif len(command) == 3 and command[0] == "validate":
        validate(command[1], Path(command[2]))
    else:
        raise SystemExit(__doc__)
