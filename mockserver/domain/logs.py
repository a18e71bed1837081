"""Request logs, decision traces, replay through the current config, analytics.

Logs enter the world only through `ingest_logs` (the seeded world, fixtures, tests): it stores
them, re-evaluates budgets, and turns traffic signals into webhook events. `routed_log` builds
a log the way the proxy would have written it, by routing the request with the routing engine,
so its trace, model, provider and cost agree by construction.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable

from ..clock import UTC, as_utc, iso, parse_iso
from ..engines import catalogue
from ..engines.analytics import (
    ANOMALY_RULE,
    HEALTH_RULE,
    MICRO,
    SignalRule,
    anomalies_in,
    decisions_summary,
    status_in,
    transitions_in,
)
from ..engines.logindex import stored
from ..engines.routing import RouteRequest, estimate_tokens, route
from ..errors import ProxyUnavailable
from .budgets import evaluate_all
from .context import Context
from .routing_configs import dry_run_payload, resolver, run_route
from .world import OrgState, Resource, World, public


# ── how logs get into the world ──────────────────────────────────────────────


def routed_log(world: World, org: OrgState, project_id: str, request: RouteRequest, timestamp: datetime | str, *,
               config: Resource | None = None, status: str = "success", output_tokens: int = 256,
               latency_ms: float | None = None, error_message: str | None = None,
               log_id: str | None = None) -> Resource:
    """A log as the proxy writes it: `request` routed by `config` (a stored routing config), or
    sent straight to `request.model` when there is none. Not stored: pass it to `ingest_logs`.
    """
    if config is not None:
        decision = route(config["policy"], config["config"], request, resolve=resolver(org, project_id),
                         config_name=config["name"])
        model, provider, trace = decision.selected_model, decision.selected_provider, decision.trace()
        config_name = config["name"]
    else:
        if not request.model or request.model.startswith("@"):
            raise ValueError("a request without a routing config must name a model")
        model, provider, trace, config_name = request.model, catalogue.provider_for(request.model), None, None
    input_tokens = request.input_tokens if request.input_tokens is not None else estimate_tokens(request.messages)
    out = 0 if status == "error" else output_tokens
    moment = as_utc(timestamp) if isinstance(timestamp, datetime) else parse_iso(timestamp)
    entry: Resource = {
        "id": log_id or world.new_id("log"),
        "project_id": project_id,
        "timestamp": iso(moment),
        "status": status,
        "provider": provider,
        "model_requested": request.model,
        "model_used": model,
        "routing_config_name": config_name,
        "latency_ms": latency_ms if latency_ms is not None else catalogue.latency_ms(model),
        "input_tokens": input_tokens,
        "output_tokens": out,
        "total_tokens": input_tokens + out,
        "cost_usd": str(catalogue.cost_usd(model, input_tokens, out).quantize(MICRO)),
        "end_user_id": request.end_user_id,
        "trace_id": request.trace_id,
        "tags": dict(request.tags or {}),
        "error_message": error_message if status == "error" else None,
        "request_messages": request.messages,
        "_request": {"budget_used_pct": request.budget_used_pct},
    }
    if trace is not None:
        entry["_trace"] = trace
    return entry


# Costs already in their stored form (a six-decimal `quantize`) are kept as they are; so are timestamps.
_STORED_COST = re.compile(r"-?(0|[1-9]\d*)\.\d{6}")


def _valid_moment(stamp: str) -> bool:
    """Whether a timestamp of the stored form (`engines.logindex.stored`) names a real moment, as `iso` writes it."""
    try:
        datetime.fromisoformat(stamp[:23])
    except ValueError:
        return False
    return stamp[:4].isdigit() and stamp[20:23].isdigit()


def _normalized(world: World, org: OrgState, raw: Resource, given: bool = False) -> Resource:
    entry = raw if given else dict(raw)
    if entry.get("id") is None:
        entry["id"] = world.new_id("log")
    if entry.get("project_id") not in org.projects:
        raise ValueError(f"log {entry['id']}: project {entry.get('project_id')!r} does not exist in {org.id}")
    stamp = entry["timestamp"]
    if not (stored(stamp) and _valid_moment(stamp)):
        entry["timestamp"] = iso(parse_iso(stamp) if isinstance(stamp, str) else as_utc(stamp))
    entry.setdefault("status", "success")
    cost = entry.get("cost_usd")
    if cost is not None and not (isinstance(cost, str) and _STORED_COST.fullmatch(cost)):
        entry["cost_usd"] = str(Decimal(str(cost)).quantize(MICRO))
    if entry.get("total_tokens") is None and entry.get("input_tokens") is not None \
            and entry.get("output_tokens") is not None:
        entry["total_tokens"] = entry["input_tokens"] + entry["output_tokens"]
    trace = entry.get("_trace")
    if trace and trace.get("selected_model") != entry.get("model_used"):
        raise ValueError(f"log {entry['id']}: its trace selected {trace.get('selected_model')!r} but the log says "
                         f"model_used {entry.get('model_used')!r}; a trace must agree with its log")
    return entry


def _signals(org: OrgState, projects: set[str], providers: set[str], anomaly_rule: SignalRule,
             health_rule: SignalRule, since: datetime, health: dict[str, str]):
    """Anomalies of `projects` and health flips of `providers` in the windows from `since` on
    (`health`: each provider's health after the windows before).

    Only these can change when a batch of their logs from `since` on arrives: an anomaly is one
    window's, and a flip depends on the windows before it only through the health they leave,
    which the batch does not change. The counts come from the log index.
    """
    project_counts = org.logs.window_counts(anomaly_rule, "project_id", projects, since)
    provider_counts = org.logs.window_counts(health_rule, "provider", providers, since)
    anomalies = {(a["project_id"], a["window_start"]): a for a in anomalies_in(project_counts, anomaly_rule)}
    flips = {(t["provider"], t["window_start"], t["status"]): t
             for t in transitions_in(provider_counts, health_rule, health)}
    return anomalies, flips


def ingest_logs(world: World, org: OrgState, logs: Iterable[Resource], *, anomaly_rule: SignalRule = ANOMALY_RULE,
                health_rule: SignalRule = HEALTH_RULE, emit: bool = True, given: bool = False) -> list[Resource]:
    """Store logs (wire shape; private `_trace`/`_request` allowed) and react as the product would.

    * the budgets the logs count toward are re-evaluated (`domain.budgets.evaluate_all`): crossings
      record budget events and emit `budget.threshold_reached` / `budget.exceeded`;
    * `request.anomaly_detected` (project-scoped) for each project and UTC window (hourly) whose
      error rate reaches `anomaly_rule.error_rate` over at least `anomaly_rule.min_requests`
      requests, the first time the window qualifies;
    * `provider.health_changed` (org-wide) each time a provider's hourly error rate flips it
      between healthy and unhealthy (`health_rule`; see `provider_health_transitions`).

    Signals are compared before and after the batch, so re-ingesting nothing new emits nothing.
    Call it with batches rather than log by log: each call recounts the affected windows (from
    the log index for hourly rules, by reading the affected logs otherwise).
    `emit=False` stores and evaluates budgets silently (e.g. restoring an exported world).
    `given=True` stores the dicts themselves, completed in place, rather than copies: for a caller
    that holds them nowhere else (the seeded world's traffic).
    Raises ValueError for a log of an unknown project or whose trace disagrees with it.
    Takes the world lock; returns the stored logs.
    """
    with world.lock:
        batch = [_normalized(world, org, raw, given) for raw in logs]
        if not batch:
            return []
        projects = {e["project_id"] for e in batch}
        providers = {e.get("provider") for e in batch if e.get("provider")}
        since = parse_iso(min(e["timestamp"] for e in batch))
        health = {provider: org.logs.health_before(health_rule, provider, since) for provider in providers}
        before = _signals(org, projects, providers, anomaly_rule, health_rule, since, health)
        org.logs.store(batch)
        after = _signals(org, projects, providers, anomaly_rule, health_rule, since, health)
        if emit:
            for key, anomaly in after[0].items():
                if key not in before[0]:
                    errors = [e["id"] for e in batch if e["project_id"] == anomaly["project_id"]
                              and e.get("status") == "error"
                              and anomaly["window_start"] <= e["timestamp"] < anomaly["window_end"]]
                    world.emit(org, "request.anomaly_detected",
                               {"kind": "error_rate_spike", **anomaly, "sample_log_ids": errors[:5]},
                               project_id=anomaly["project_id"])
            for key, flip in after[1].items():
                if key not in before[1]:
                    credentials = [p["id"] for p in org.providers.values() if p["provider"] == flip["provider"]]
                    world.emit(org, "provider.health_changed",
                               {**flip, "reason": "error_rate", "provider_credential_ids": credentials})
        evaluate_all(world, org, batch)
        return batch


def credential_reverified(world: World, org: OrgState, credential: Resource) -> None:
    """Emit `provider.health_changed` for a credential whose key was replaced and re-verified.

    Meant for `PATCH /providers/{id}` with a new `apiKey` (domain/providers.py): the credential
    is verified again, so its health is `healthy`; `previous_status` is what traffic said.
    """
    world.emit(org, "provider.health_changed", {
        "provider": credential["provider"],
        "provider_credential_id": credential["id"],
        "name": credential["name"],
        "previous_status": status_in(org.logs.window_counts(HEALTH_RULE, "provider", {credential["provider"]}),
                                     credential["provider"]),
        "status": "healthy",
        "reason": "credential_reverified",
        "verified_at": credential.get("last_verified_at") or world.now_iso(),
    })


def newest_first(org: OrgState) -> list[Resource]:
    return org.logs.newest_first()


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
    """The config the log was routed by (its `routing_config_name`, else the `@slug` it requested),
    as it is now; else the project's first active config."""
    configs = [c for c in org.routing_configs.values() if c["project_id"] == log["project_id"]]
    requested = log.get("model_requested") or ""
    names = [log.get("routing_config_name"), requested[1:] if requested.startswith("@") else None]
    for name in filter(None, names):
        for config in configs:
            if config["name"] == name:
                return config
    active = [c for c in configs if c["is_active"]]
    return active[0] if active else None


# The instants a filter or window can hold: the calendar's first and last weeks are left out, so the day and hour
# arithmetic of windows and buckets stays inside Python's years 1 to 9999 ("0001-01-01T00:00:00Z" is valid input).
EARLIEST = datetime(1, 1, 8, tzinfo=UTC)
LATEST = datetime(9999, 12, 24, tzinfo=UTC)


def moment(value: datetime | str | None) -> datetime | None:
    """A query's or a window's instant, held within [EARLIEST, LATEST]: openapi-core hands over a datetime, or the
    text when its parser declines it."""
    if value is None:
        return None
    instant = as_utc(value) if isinstance(value, datetime) else parse_iso(value)
    return min(max(instant, EARLIEST), LATEST)


def list_logs(ctx: Context, project_id: str | None = None, end_user_id: str | None = None, status: str | None = None,
              offset: int = 0, limit: int = 50) -> list[Resource]:
    return [public(log) for log in ctx.org.logs.newest_first(project_id, end_user_id, status, offset, limit)]


def get_log(ctx: Context, log_id: str) -> Resource:
    return public(ctx.org.get("logs", log_id))


def get_trace(ctx: Context, log_id: str) -> dict[str, Any]:
    return log_trace(ctx.org.get("logs", log_id))


def replay_log(ctx: Context, log_id: str) -> dict[str, Any]:
    """The logged request routed through the project's current config (a dry run: nothing is stored)."""
    log = ctx.org.get("logs", log_id)
    if ctx.runtime.proxy_unreachable:
        raise ProxyUnavailable("the routing proxy is unreachable (mock started with --proxy-unreachable)")
    request = route_request_of(log)
    config = current_config_for(ctx.org, log)
    if config is None:
        fallback = log.get("model_requested") or log.get("model_used") or "gpt-4o-mini"
        policy, settings, name = "single", {"model": fallback}, None
    else:
        policy, settings, name = config["policy"], config["config"], config["name"]
    decision = run_route(ctx.org, log["project_id"], policy, settings, request, config_name=name)
    payload = dry_run_payload(log["project_id"], decision, request)
    payload.update(log_id=log["id"], routing_config_id=config["id"] if config else None,
                   routing_config_version=config["version"] if config else None,
                   original={"model_used": log.get("model_used"), "provider": log.get("provider")},
                   changed=decision.selected_model != log.get("model_used"))
    return payload


def analytics(ctx: Context, project_id: str | None, start: datetime | str | None, end: datetime | str | None,
              bucket: str = "day") -> dict[str, Any]:
    data = ctx.org.logs.report(project_id, moment(start), moment(end), bucket)
    data["project_id"] = project_id
    return data


def decisions_summary_of(ctx: Context, project_id: str, start: datetime | str | None,
                         end: datetime | str | None) -> dict[str, Any]:
    project = ctx.org.project(project_id)
    start, end = moment(start), moment(end)
    logs = ctx.org.logs.between(project["id"], start, end)
    return {"project_id": project["id"], **decisions_summary(logs, start, end)}
