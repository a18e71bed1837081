"""Small helpers shared by handlers."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from ..clock import as_utc, iso
from ..errors import Conflict, not_found
from ..registry import Call
from ..store import Resource, diff


def own_org(call: Call, org_id: str) -> None:
    """Another organization's id is indistinguishable from a missing one."""
    if org_id != call.org.id:
        raise not_found("organization", org_id)


def patch(resource: Resource, body: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    """Apply body fields (wire name -> stored name) and return before/after of what changed."""
    before = dict(resource)
    for wire, stored in fields.items():
        if wire in body:
            resource[stored] = body[wire]
    return diff(before, resource, fields.values())


def unique_slug(base: str, taken: Container[str]) -> str:
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def require_unique(name: str, others: list[Resource], what: str, scope: str) -> None:
    if any(other["name"] == name for other in others):
        raise Conflict(f"a {what} named '{name}' already exists in {scope}", code="name_taken")


def jsonable(value: Any) -> Any:
    """Unmarshalled bodies carry datetimes; stored resources hold ISO strings."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat") and hasattr(value, "tzinfo"):
        return iso(as_utc(value))
    return value
