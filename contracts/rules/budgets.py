"""Budgets: a reset is recorded and audited, event lists honour `limit`, alerts come and go, `soft_cap_pct` defaults
to 80, a threshold the spend has passed is announced by webhook."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from modelux_spec import read_timestamp
from ..target import dumps
from .common import audit, channel_hook, project_with_logs
from .context import RuleContext, id_set
from .core import rule


def _costs_something(amount: Any) -> bool:
    """Whether a log's `cost_usd` (a decimal string or a number) is above zero; an unreadable one is not."""
    try:
        return float(amount) > 0
    except (TypeError, ValueError):
        return False


@rule("MX-BUDGET-RESET", source="spec", title="Resetting a budget records a `reset` event (and is audited)",
      ref="Budgets: Events: `soft_cap_reached`, `hard_cap_triggered`, `reset` (spec examples). `reset` zeroes the "
          "spend and records a `reset` event.")
def budget_reset_recorded(ctx: RuleContext) -> None:
    """DOMAIN.md, Budgets: "Events: `soft_cap_reached`, `hard_cap_triggered`, `reset` (spec examples). `reset`
    zeroes the spend and records a `reset` event." Spec, listBudgetEvents: "(soft cap warnings, hard cap triggers,
    resets)"."""
    project = ctx.project()
    budget = ctx.project_budget(project["id"], "monthly", "25.00", what="POST /budgets")
    ctx.expect(ctx.t.post(f"/budgets/{budget['id']}/reset"), 200, what="POST /budgets/{id}/reset")
    events = ctx.data_list(ctx.t.get(f"/budgets/{budget['id']}/events"), 200, what="GET …/events")
    ctx.check(any(e.get("event_type") == "reset" for e in events),
              f"no `reset` event after a reset: {[e.get('event_type') for e in events]}")
    entries, _ = audit(ctx, resourceId=budget["id"])
    ctx.check(any(e.get("action") == "reset" for e in entries),
              f"the reset is not audited (actions: {[e.get('action') for e in entries]})")


@rule("MX-BUDGET-EVENTS-LIMIT", source="spec", title="`limit` bounds a budget's event list to its first events",
      ref="Budgets: Events: `soft_cap_reached`, `hard_cap_triggered`, `reset`. (Spec, listBudgetEvents: `limit` "
          "\"Number of events to return\", default 50.)")
def budget_events_limit(ctx: RuleContext) -> None:
    """Spec, listBudgetEvents: `limit` — "Number of events to return" (default 50); DOMAIN.md, Budgets: "`reset`
    zeroes the spend and records a `reset` event." Three resets make three events; `limit` 1 and 2 return that many,
    the first of the whole list."""
    project = ctx.project()
    budget = ctx.project_budget(project["id"], "monthly", "25.00", what="POST /budgets")
    for _ in range(3):
        ctx.expect(ctx.t.post(f"/budgets/{budget['id']}/reset"), 200, what="POST /budgets/{id}/reset")
    whole = ctx.data_list(ctx.t.get(f"/budgets/{budget['id']}/events"), 200, what="GET …/events")
    ids = [e.get("id") for e in whole]
    ctx.check(len(ids) >= 3, f"three resets left {len(ids)} events")
    for limit in (1, 2):
        page = ctx.data_list(ctx.t.get(f"/budgets/{budget['id']}/events", params={"limit": limit}), 200,
                             what=f"GET …/events?limit={limit}")
        ctx.check([e.get("id") for e in page] == ids[:limit],
                  f"GET …/events?limit={limit} returned {[e.get('id') for e in page]}, not the first {limit} of "
                  f"{ids}")


@rule("MX-BUDGET-ALERTS", source="spec", title="Budget alerts are listed once created and gone once deleted by body id",
      ref="Budgets: Alerts: thresholds with email/webhook channel. (Spec: `DELETE /budgets/{id}/alerts` names the "
          "alert by `alertId` in its body.)")
def budget_alert_lifecycle(ctx: RuleContext) -> None:
    """DOMAIN.md, Budgets: "Alerts: thresholds with email/webhook channel". Spec: `POST /budgets/{id}/alerts`
    creates one; `DELETE /budgets/{id}/alerts {alertId}` deletes it (the alert id is in the body)."""
    project = ctx.project()
    budget = ctx.project_budget(project["id"], "monthly", "30.00", what="POST /budgets")
    bid = budget["id"]
    alerts = [ctx.data_object(ctx.t.post(f"/budgets/{bid}/alerts", json={"threshold_pct": pct, "channel": "webhook",
                                                                         "destination": ctx.webhook_url()}),
                              201, what="POST /budgets/{id}/alerts") for pct in (50, 90)]
    for alert in alerts:
        ctx.ident(alert, "POST /budgets/{id}/alerts")
    listed = ctx.data_list(ctx.t.get(f"/budgets/{bid}/alerts"), 200, what="GET /budgets/{id}/alerts")
    ids = id_set(listed)
    ctx.check({a["id"] for a in alerts} <= ids, f"created alerts {[a['id'] for a in alerts]} are not all listed: "
                                                f"{sorted(map(str, ids))}")
    answer = ctx.data_object(ctx.t.delete(f"/budgets/{bid}/alerts", json={"alertId": alerts[0]["id"]}), 200,
                             what="DELETE /budgets/{id}/alerts {alertId}")
    ctx.check(answer.get("id") == alerts[0]["id"] and answer.get("deleted") is True,
              f"deleting alert {alerts[0]['id']} answered {dumps(answer)}")
    ids = id_set(ctx.data_list(ctx.t.get(f"/budgets/{bid}/alerts"), 200))
    ctx.check(alerts[0]["id"] not in ids and alerts[1]["id"] in ids,
              f"after deleting {alerts[0]['id']} the alerts listed are {sorted(map(str, ids))}")
    ctx.expect_error(ctx.t.delete(f"/budgets/{bid}/alerts", json={"alertId": alerts[0]["id"]}), 404,
                     what="deleting the same alert again")


@rule("MX-BUDGET-SOFT-CAP-DEFAULT", source="docs", title="`soft_cap_pct` defaults to 80",
      ref="Budgets: `soft_cap_pct` default 80 (docs).")
def budget_soft_cap_default(ctx: RuleContext) -> None:
    """DOMAIN.md, Budgets: "`soft_cap_pct` default 80 (docs).\""""
    project = ctx.project()
    budget = ctx.project_budget(project["id"], "weekly", "40.00", what="POST /budgets")
    ctx.check(budget.get("soft_cap_pct") == 80, f"a budget created without soft_cap_pct has {budget.get('soft_cap_pct')!r}")


@rule("MX-BUDGET-THRESHOLD-WEBHOOK", source="ours",
      title="A budget alert the spend has already passed is announced by `budget.threshold_reached`",
      ref="Budgets: Alerts: thresholds with email/webhook channel; crossing one emits `budget.threshold_reached` to "
          "webhooks. Ours: thresholds are evaluated when a budget or alert is created, not only on new traffic.",
      needs=("receiver", "logs"),
      not_in_staging="a budget on a project the run did not create could act on that project's traffic")
def passed_threshold_announced(ctx: RuleContext) -> None:
    """DOMAIN.md, Budgets: "Alerts: thresholds with email/webhook channel; crossing one emits
    `budget.threshold_reached` to webhooks." spec/DECISIONS.md: thresholds are evaluated whenever a budget or an
    alert is created or changed, so a threshold the period's spend has already passed is announced at once.

    The management API cannot create spend, so the rule uses a project whose logs cost something this month: a
    monthly budget of 1,000,000 USD (no cap is near) gets a 0 % webhook alert, which its spend has passed. The
    announcement may come through an endpoint subscribed to the event or the alert's own destination; both point at
    the same receiver channel. Not run in staging mode: a budget on a live project could act on its traffic.
    """
    if ctx.receiver is None or getattr(ctx.receiver, "unreachable", None):
        ctx.skip(getattr(ctx.receiver, "unreachable", None) or "no webhook receiver in this run")
    project_id = project_with_logs(ctx)
    month = datetime.now(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    spent = [log for log in ctx.logs(projectId=project_id)
             if (read_timestamp(log.get("timestamp")) or month) > month and _costs_something(log.get("cost_usd"))]
    if not spent:
        ctx.skip(f"project {project_id} has no spend this month, so no threshold can have been passed")
    _, _, channel = channel_hook(ctx, project_id, "budget", "budget.threshold_reached")
    budget = ctx.project_budget(project_id, "monthly", "1000000.00")
    ctx.expect_data(ctx.t.post(f"/budgets/{budget['id']}/alerts", json={"threshold_pct": 0, "channel": "webhook",
                                                                          "destination": channel.url}),
                    201, what="POST /budgets/{id}/alerts")

    def announced(received: list) -> bool:
        for got in received:
            try:
                event = json.loads(got.body)
            except ValueError:
                continue
            if (isinstance(event, dict) and event.get("type") == "budget.threshold_reached"
                    and isinstance(event.get("data"), dict) and event["data"].get("budget_id") == budget["id"]):
                return True
        return False

    found = channel.wait_for(announced, ctx.timeout(10))
    ctx.check(found, f"budget {budget['id']} (monthly, {len(spent)} logs with cost this month in project "
                     f"{project_id}) got a 0 % webhook alert, but no `budget.threshold_reached` naming it arrived "
                     f"within {ctx.timeout(10):.0f}s ({len(channel.snapshot())} other deliveries)")
