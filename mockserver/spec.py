"""The contract: the pristine OpenAPI file and the one effective spec built from it.

`spec/openapi.yaml` stays byte-identical to the upstream document. Every correction is an
erratum applied in code (see `errata.py`), so the effective spec is reproducible and each
change carries its reason. The mock, the contract suite and the tests all read
`effective_spec()`; `pristine_spec()` exists for `--strict-spec` runs.
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


def spec_path() -> Path:
    """Where the pristine document lives (overridable for a curated copy)."""
    override = os.environ.get("MODELUX_SPEC")
    if override:
        return Path(override)
    beside = Path(__file__).resolve().parent.parent / "spec" / "openapi.yaml"
    if beside.exists():  # a checkout or an editable install
        return beside
    from importlib.resources import files

    return Path(str(files("modelux_spec") / "openapi.yaml"))  # an installed wheel


@functools.lru_cache(maxsize=None)
def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: ten times faster


def pristine_spec() -> dict[str, Any]:
    """A fresh copy of the upstream document, untouched."""
    return copy.deepcopy(_load(str(spec_path())))


@functools.lru_cache(maxsize=1)
def _effective() -> dict[str, Any]:
    from .errata import apply_errata

    return apply_errata(pristine_spec())


def effective_spec() -> dict[str, Any]:
    """A fresh copy of the pristine document with every erratum applied."""
    return copy.deepcopy(_effective())


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
