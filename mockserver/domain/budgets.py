"""Budgets with spend from logs, alerts, events and reset; crossing a threshold is announced by webhook."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable

from ..engines.budgets import budget_view, current_spend, evaluate, money
from ..errors import Conflict, not_found
from .context import Context
from .world import OrgState, Resource, World, public

# Retention (spec/DECISIONS.md, "Memory"): budget events kept per organization, the oldest dropped first.
MAX_BUDGET_EVENTS = 10_000
WEBHOOK_EVENT = {"soft_cap_reached": "budget.threshold_reached", "alert_triggered": "budget.threshold_reached",
                 "hard_cap_triggered": "budget.exceeded"}


def view(ctx: Context, budget: Resource) -> Resource:
    return budget_view(budget, ctx.org.logs, ctx.world.now())


def record_event(world: World, org: OrgState, budget: Resource, event_type: str, details: dict[str, Any] | None,
                 occurred_at: str | None = None) -> Resource:
    event = {"id": world.new_id("bevt"), "budget_id": budget["id"], "event_type": event_type, "details": details,
             "occurred_at": occurred_at or world.now_iso()}
    org.budget_events[event["id"]] = event
    org.budget_events.keep_latest(MAX_BUDGET_EVENTS)
    return event


def evaluate_budget(world: World, org: OrgState, budget: Resource) -> None:
    """Record threshold events the current spend has crossed and tell the webhooks."""
    alerts = [a for a in org.budget_alerts.values() if a["budget_id"] == budget["id"]]

    def record(kind: str, details: dict[str, Any]) -> None:
        record_event(world, org, budget, kind, details)
        project_id = budget["scope_id"] if budget["scope_type"] == "project" else None
        world.emit(org, WEBHOOK_EVENT[kind], {"budget_id": budget["id"], "budget_name": budget["name"],
                                              "event_type": kind, "scope_type": budget["scope_type"],
                                              "scope_id": budget["scope_id"], **details}, project_id=project_id)

    evaluate(budget, alerts, org.logs, world.now(), record)


def evaluate_all(world: World, org: OrgState, logs: Iterable[Resource] | None = None) -> None:
    """Evaluate every budget, or only those `logs` count toward: new traffic changes no other's spend."""
    budgets = list(org.budgets.values())
    if logs is not None:
        projects = {log["project_id"] for log in logs}
        users = {log.get("end_user_id") for log in logs}
        budgets = [b for b in budgets if b["scope_type"] == "org"
                   or (b["scope_id"] in projects if b["scope_type"] == "project" else b["scope_id"] in users)]
    for budget in budgets:
        evaluate_budget(world, org, budget)


def _amount(text: str) -> str:
    return money(Decimal(text))


def new_budget(org: OrgState, world: World, body: dict[str, Any], created_at: str | None = None) -> Resource:
    budget = {
        "id": world.new_id("bud"),
        "name": body["name"],
        "scope_type": body["scope_type"],
        "scope_id": body.get("scope_id") if body["scope_type"] != "org" else None,
        "period": body["period"],
        "amount_usd": _amount(body["amount_usd"]),
        "soft_cap_pct": body.get("soft_cap_pct", 80),
        "hard_cap_action": body.get("hard_cap_action", "block"),
        "downgrade_to": body.get("downgrade_to"),
        "active": True,
        "created_at": created_at or world.now_iso(),
    }
    org.budgets[budget["id"]] = budget
    return budget


def list_budgets(ctx: Context, project_id: str | None = None, scope: str | None = None) -> list[Resource]:
    found = [b for b in ctx.org.budgets.values()
             if (scope is None or b["scope_type"] == scope)
             and (project_id is None or (b["scope_type"] == "project" and b["scope_id"] == project_id))]
    return [view(ctx, b) for b in found]


def get_budget(ctx: Context, budget_id: str) -> Resource:
    return view(ctx, ctx.org.get("budgets", budget_id))


def create_budget(ctx: Context, body: dict[str, Any]) -> Resource:
    if body["scope_type"] == "project":
        ctx.org.project(body["scope_id"])
    budget = new_budget(ctx.org, ctx.world, body)
    ctx.audit("budget", budget["id"], "created",
              {"name": {"before": None, "after": budget["name"]}, "amount_usd": {"before": None, "after": budget["amount_usd"]}},
              metadata={"scope_type": budget["scope_type"], "scope_id": budget["scope_id"]})
    evaluate_budget(ctx.world, ctx.org, budget)
    return view(ctx, budget)


def update_budget(ctx: Context, budget_id: str, body: dict[str, Any], metadata: dict[str, Any] | None = None) -> Resource:
    """`metadata` (why, for the audit entry) is kept with the change."""
    budget = ctx.org.get("budgets", budget_id)
    body = dict(body)
    if "amount_usd" in body:
        body["amount_usd"] = _amount(body["amount_usd"])
    action = body.get("hard_cap_action", budget["hard_cap_action"])
    target = body["downgrade_to"] if "downgrade_to" in body else budget["downgrade_to"]
    if action == "downgrade" and not target:
        raise Conflict("hard_cap_action 'downgrade' needs downgrade_to; this budget has none",
                       code="downgrade_without_model")
    changes = {}
    for field in ("name", "amount_usd", "soft_cap_pct", "hard_cap_action", "downgrade_to", "active"):
        if field in body and body[field] != budget[field]:
            changes[field] = {"before": budget[field], "after": body[field]}
            budget[field] = body[field]
    if changes:
        ctx.audit("budget", budget["id"], "updated", changes, metadata)
        evaluate_budget(ctx.world, ctx.org, budget)
    return view(ctx, budget)


def delete_budget(ctx: Context, budget_id: str) -> str:
    org = ctx.org
    budget = org.get("budgets", budget_id)
    del org.budgets[budget["id"]]
    for table in (org.budget_alerts, org.budget_events):
        for ident in [k for k, v in table.items() if v["budget_id"] == budget["id"]]:
            del table[ident]
    ctx.audit("budget", budget["id"], "deleted", metadata={"name": budget["name"]})
    return budget["id"]


def reset_budget(ctx: Context, budget_id: str) -> dict[str, Any]:
    org, world = ctx.org, ctx.world
    budget = org.get("budgets", budget_id)
    previous = money(current_spend(budget, org.logs, world.now()), Decimal("0.000001"))
    budget["_reset_at"] = world.now_iso()
    event = record_event(world, org, budget, "reset", {"previous_spend_usd": previous})
    ctx.audit("budget", budget["id"], "reset", {"current_spend_usd": {"before": previous, "after": "0.000000"}})
    return {"budget_id": budget["id"], "reset_at": budget["_reset_at"], "event_id": event["id"],
            "previous_spend_usd": previous, "current_spend_usd": "0.000000"}


def list_budget_events(ctx: Context, budget_id: str, limit: int = 50) -> list[Resource]:
    budget = ctx.org.get("budgets", budget_id)
    events = [e for e in ctx.org.budget_events.values() if e["budget_id"] == budget["id"]]
    # Newest first; events of one millisecond (soft cap and hard cap together) latest-recorded first.
    events = sorted(reversed(events), key=lambda e: e["occurred_at"], reverse=True)
    return [public(e) for e in events[:limit]]


def list_budget_alerts(ctx: Context, budget_id: str) -> list[Resource]:
    budget = ctx.org.get("budgets", budget_id)
    return [public(a) for a in ctx.org.budget_alerts.values() if a["budget_id"] == budget["id"]]


def create_budget_alert(ctx: Context, budget_id: str, threshold_pct: Any, channel: str,
                        destination: str | None) -> Resource:
    org, world = ctx.org, ctx.world
    budget = org.get("budgets", budget_id)
    alert = {"id": world.new_id("balert"), "budget_id": budget["id"], "threshold_pct": threshold_pct,
             "channel": channel, "destination": destination, "created_at": world.now_iso()}
    org.budget_alerts[alert["id"]] = alert
    ctx.audit("budget_alert", alert["id"], "created", {"threshold_pct": {"before": None, "after": threshold_pct}},
              metadata={"budget_id": budget["id"]})
    evaluate_budget(world, org, budget)
    return public(alert)


def delete_budget_alert(ctx: Context, budget_id: str, alert_id: str) -> str:
    org = ctx.org
    budget = org.get("budgets", budget_id)
    alert = org.budget_alerts.get(alert_id)
    if alert is None or alert["budget_id"] != budget["id"]:
        raise not_found(f"alert of budget '{budget['id']}'", alert_id)
    del org.budget_alerts[alert["id"]]
    ctx.audit("budget_alert", alert["id"], "deleted", metadata={"budget_id": budget["id"]})
    return alert["id"]
