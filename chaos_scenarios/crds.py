"""Check manifests against ChaosMesh's own CRD schemas (``openAPIV3Schema``) with jsonschema.

The CRD files are ChaosMesh's ``config/crd/bases/chaos-mesh.org_<plural>.yaml``. ``strict=True``
treats every object schema that lists ``properties`` as closed (no other keys), which is what
``kubectl apply --validate=strict`` does with unknown fields: a misspelt field is an error, not
silently pruned.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from chaos_scenarios.errors import ScenarioError


def load_crd_schemas(crd_dir: str | Path, *, strict: bool = True) -> dict[str, dict[str, Any]]:
    """``{kind: openAPIV3Schema}`` for every CRD file in ``crd_dir`` (version v1alpha1)."""
    crd_dir = Path(crd_dir)
    schemas: dict[str, dict[str, Any]] = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            kind = doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                if version["name"] == "v1alpha1":
                    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                    schemas[kind] = _close_objects(schema) if strict else schema
    if not schemas:
        raise ScenarioError(f"{crd_dir}: no ChaosMesh CRD files found")
    return schemas


def _close_objects(schema: Any) -> Any:
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for value in schema.values():
            _close_objects(value)
    elif isinstance(schema, list):
        for value in schema:
            _close_objects(value)
    return schema


def validation_errors(manifest: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> list[str]:
    """Every schema violation of ``manifest`` as ``path: message`` (empty when valid)."""
    kind = manifest.get("kind")
    if kind not in schemas:
        return [f"kind: no CRD schema for {kind!r} (have {sorted(schemas)})"]
    validator = jsonschema.Draft7Validator(schemas[kind])
    return [
        f"{'.'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))
    ]


def validate_manifest(manifest: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> None:
    errors = validation_errors(manifest, schemas)
    if errors:
        name = manifest.get("metadata", {}).get("name")
        raise ScenarioError(f"manifest {manifest.get('kind')}/{name} violates the CRD schema: " + "; ".join(errors))
