"""The audit trail: filters combine; `total` counts every match, not just the page."""

from __future__ import annotations

from ..clock import as_utc, parse_iso
from ..registry import Call, Reply, ok, operation
from ..store import public

FILTERS = {"resourceType": "resource_type", "resourceId": "resource_id", "action": "action", "actorId": "actor_id"}


@operation("listAuditLogs")
def list_audit_logs(call: Call) -> Reply:
    q = call.query
    since = as_utc(q["since"]) if q.get("since") else None
    until = as_utc(q["until"]) if q.get("until") else None
    found = []
    for entry in call.org.audit_logs.values():
        if any(q.get(param) is not None and entry[field] != q[param] for param, field in FILTERS.items()):
            continue
        moment = parse_iso(entry["occurred_at"])
        if (since and moment < since) or (until and moment > until):
            continue
        found.append(entry)
    found.sort(key=lambda e: (e["occurred_at"], e["_seq"]), reverse=True)
    offset, limit = q.get("offset", 0), q.get("limit", 50)
    return 200, {"data": [public(e) for e in found[offset:offset + limit]], "total": len(found)}


@operation("getAuditLog")
def get_audit_log(call: Call) -> Reply:
    return ok(public(call.org.get("audit_logs", call.path["id"])))
