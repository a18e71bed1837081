"""Small helpers the workflows share."""

from __future__ import annotations

import re
from typing import Any

from ..clock import as_utc, iso
from ..errors import Conflict
from .world import Resource, diff


_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    slug = _NOT_SLUG.sub("-", text.lower()).strip("-")
    return slug or "untitled"


def patch(resource: Resource, body: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    """Apply body fields (wire name -> stored name) and return before/after of what changed."""
    before = dict(resource)
    for wire, stored in fields.items():
        if wire in body:
            resource[stored] = body[wire]
    return diff(before, resource, fields.values())


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
