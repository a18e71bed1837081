"""Request logs, decision traces, replay, analytics and the decision summary."""

from __future__ import annotations

from ..domain import logs
from ..registry import Call, Reply, ok, operation


@operation("listLogs")
def list_logs(call: Call) -> Reply:
    q = call.query
    return ok(logs.list_logs(call.ctx, q.get("projectId"), q.get("endUserId"), q.get("status"), q.get("offset", 0),
                             q.get("limit", 50)))


@operation("getLog")
def get_log(call: Call) -> Reply:
    return ok(logs.get_log(call.ctx, call.path["id"]))


@operation("getDecisionTrace")
def get_trace(call: Call) -> Reply:
    return ok(logs.get_trace(call.ctx, call.path["id"]))


@operation("replayLog")
def replay_log(call: Call) -> Reply:
    return ok(logs.replay_log(call.ctx, call.path["id"]))


@operation("getAnalytics")
def get_analytics(call: Call) -> Reply:
    q = call.query
    return ok(logs.analytics(call.ctx, q.get("projectId"), q.get("startTime"), q.get("endTime"), q.get("bucket", "day")))


@operation("getDecisionsSummary")
def get_decisions_summary(call: Call) -> Reply:
    return ok(logs.decisions_summary_of(call.ctx, call.path["id"], call.query.get("from"), call.query.get("to")))
