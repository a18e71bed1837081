"""Request logs, decision traces, replay through the current config, analytics."""

from __future__ import annotations

from typing import Any

from ..clock import as_utc
from ..engines.analytics import decisions_summary, report
from ..engines.routing import RouteRequest
from ..errors import ProxyUnavailable
from ..registry import Call, Reply, ok, operation
from ..store import OrgState, Resource, public
from .routing import dry_run_payload, run_route


def newest_first(org: OrgState) -> list[Resource]:
    return sorted(org.logs.values(), key=lambda log: (log["timestamp"], log["id"]), reverse=True)


def log_trace(log: Resource) -> dict[str, Any]:
    trace = log.get("_trace")
    if trace:
        return dict(trace)
    return {
        "policy": "direct",
        "selected_model": log.get("model_used"),
        "selected_provider": log.get("provider"),
        "steps": [{"rule": "direct", "result": "selected", "reason": "request named a model directly"}],
    }


def route_request_of(log: Resource) -> RouteRequest:
    original = log.get("_request") or {}
    return RouteRequest(
        model=log.get("model_requested"),
        messages=log.get("request_messages"),
        tags=dict(log.get("tags") or {}),
        end_user_id=log.get("end_user_id"),
        trace_id=log.get("trace_id"),
        input_tokens=log.get("input_tokens"),
        budget_used_pct=original.get("budget_used_pct"),
    )


def current_config_for(org: OrgState, log: Resource) -> Resource | None:
    """The config the log was routed by, as it is now; else the project's first active config."""
    configs = [c for c in org.routing_configs.values() if c["project_id"] == log["project_id"]]
    for config in configs:
        if config["name"] == log.get("routing_config_name"):
            return config
    active = [c for c in configs if c["is_active"]]
    return active[0] if active else None


@operation("listLogs")
def list_logs(call: Call) -> Reply:
    q = call.query
    found = [
        log for log in newest_first(call.org)
        if (q.get("projectId") is None or log["project_id"] == q["projectId"])
        and (q.get("endUserId") is None or log.get("end_user_id") == q["endUserId"])
        and (q.get("status") is None or log.get("status") == q["status"])
    ]
    offset, limit = q.get("offset", 0), q.get("limit", 50)
    return ok([public(log) for log in found[offset:offset + limit]])


@operation("getLog")
def get_log(call: Call) -> Reply:
    return ok(public(call.org.get("logs", call.path["id"])))


@operation("getDecisionTrace")
def get_trace(call: Call) -> Reply:
    return ok(log_trace(call.org.get("logs", call.path["id"])))


@operation("replayLog")
def replay_log(call: Call) -> Reply:
    log = call.org.get("logs", call.path["id"])
    if call.services.config.proxy_unreachable:
        raise ProxyUnavailable("the routing proxy is unreachable (mock started with --proxy-unreachable)")
    request = route_request_of(log)
    config = current_config_for(call.org, log)
    if config is None:
        policy, settings, name = "single", {"model": log.get("model_requested") or log.get("model_used") or "gpt-4o-mini"}, None
    else:
        policy, settings, name = config["policy"], config["config"], config["name"]
    decision = run_route(call.org, log["project_id"], policy, settings, request, config_name=name)
    payload = dry_run_payload(log["project_id"], decision, request)
    payload.update(log_id=log["id"], routing_config_id=config["id"] if config else None,
                   routing_config_version=config["version"] if config else None,
                   original={"model_used": log.get("model_used"), "provider": log.get("provider")},
                   changed=decision.selected_model != log.get("model_used"))
    return ok(payload)


def _window(call: Call, start_key: str, end_key: str):
    start, end = call.query.get(start_key), call.query.get(end_key)
    return (as_utc(start) if start else None), (as_utc(end) if end else None)


@operation("getAnalytics")
def get_analytics(call: Call) -> Reply:
    start, end = _window(call, "startTime", "endTime")
    project_id = call.query.get("projectId")
    logs = [log for log in call.org.logs.values() if project_id is None or log["project_id"] == project_id]
    data = report(logs, start, end, call.query.get("bucket", "day"))
    data["project_id"] = project_id
    return ok(data)


@operation("getDecisionsSummary")
def get_decisions_summary(call: Call) -> Reply:
    project = call.org.project(call.path["id"])
    start, end = _window(call, "from", "to")
    logs = [log for log in call.org.logs.values() if log["project_id"] == project["id"]]
    return ok({"project_id": project["id"], **decisions_summary(logs, start, end)})
