"""The audit trail."""

from __future__ import annotations

from ..domain import audit
from ..registry import Call, Reply, ok, operation

FILTERS = {"resourceType": "resource_type", "resourceId": "resource_id", "action": "action", "actorId": "actor_id"}


@operation("listAuditLogs")
def list_audit_logs(call: Call) -> Reply:
    q = call.query
    page, total = audit.list_audit_logs(call.ctx, {field: q.get(param) for param, field in FILTERS.items()},
                                        q.get("since"), q.get("until"), q.get("offset", 0), q.get("limit", 50))
    return 200, {"data": page, "total": total}


@operation("getAuditLog")
def get_audit_log(call: Call) -> Reply:
    return ok(audit.get_audit_log(call.ctx, call.path["id"]))
