"""The audit trail: filters combine; `total` counts every match, not just the page."""

from __future__ import annotations

from datetime import datetime

from ..clock import parse_iso
from .context import Context
from .logs import moment
from .world import Resource, public

def list_audit_logs(ctx: Context, filters: dict[str, str | None], since: datetime | str | None = None,
                    until: datetime | str | None = None, offset: int = 0, limit: int = 50) -> tuple[list[Resource], int]:
    """A page of matching entries, newest first, and how many match in all (`filters`: field -> wanted value)."""
    since, until = moment(since), moment(until)
    wanted = {field: value for field, value in filters.items() if value is not None}
    found = []
    for entry in ctx.org.audit_logs.values():
        if any(entry[field] != value for field, value in wanted.items()):
            continue
        when = parse_iso(entry["occurred_at"])
        if (since and when < since) or (until and when > until):
            continue
        found.append(entry)
    found.sort(key=lambda e: (e["occurred_at"], e["_seq"]), reverse=True)
    return [public(e) for e in found[offset:offset + limit]], len(found)


def get_audit_log(ctx: Context, entry_id: str) -> Resource:
    return public(ctx.org.get("audit_logs", entry_id))
