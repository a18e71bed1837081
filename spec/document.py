"""The pristine OpenAPI document, and how to walk it.

`openapi.yaml` beside this module stays byte-identical to the upstream document; every
correction is an erratum (`errata.py`).
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import yaml

BASE_PATH = "/api/manage/v1"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


Spec = dict[str, Any]


def spec_path() -> Path:
    """Where the pristine document lives (overridable for a curated copy)."""
    override = os.environ.get("MODELUX_SPEC")
    return Path(override) if override else Path(__file__).resolve().parent / "openapi.yaml"


@functools.lru_cache(maxsize=None)
def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: ten times faster


def pristine_spec() -> dict[str, Any]:
    """A fresh copy of the upstream document, untouched."""
    return copy.deepcopy(_load(str(spec_path())))


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) for every operation of a spec, in document order."""
    found = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                found.append((path, method, op))
    return found


def operation_ids(spec: dict[str, Any]) -> list[str]:
    return [op["operationId"] for _, _, op in operations(spec)]


def resolve(spec: dict[str, Any], node: Any) -> Any:
    """Follow a local `$ref` (one level at a time) to the node it names."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node
