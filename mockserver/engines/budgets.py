"""Budget spend and thresholds, computed from logs. No Flask, no clock of its own."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterable

from ..clock import UTC, iso, parse_iso
from .logindex import LogTable

Resource = dict[str, Any]
CENT = Decimal("0.01")


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """Start and end of the UTC period (daily / weekly from Monday / monthly) containing `now`."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day, day + timedelta(days=1)
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def in_scope(budget: Resource, log: Resource) -> bool:
    scope = budget["scope_type"]
    if scope == "org":
        return True
    if scope == "project":
        return log["project_id"] == budget["scope_id"]
    return log.get("end_user_id") == budget["scope_id"]


def spend_since(budget: Resource, now: datetime) -> datetime:
    """Spend counts from the later of the period start and the last reset."""
    start, _ = period_bounds(budget["period"], now)
    reset = budget.get("_reset_at")
    if reset:
        start = max(start, parse_iso(reset))
    return start


def counts_toward(budget: Resource, log: Resource, now: datetime) -> bool:
    """In scope and inside [period start, now]; after a reset, strictly later than the reset.

    Strictly: a reset zeroes the spend, so a request logged in the very millisecond of the reset
    (timestamps have millisecond precision) belongs to the spend that was reset.
    """
    if not log.get("cost_usd") or not in_scope(budget, log):
        return False
    moment = parse_iso(log["timestamp"])
    if moment > now:
        return False
    period_start, _ = period_bounds(budget["period"], now)
    reset = budget.get("_reset_at")
    if reset and parse_iso(reset) >= period_start:
        return moment > parse_iso(reset)
    return moment >= period_start


def spend_window(budget: Resource, now: datetime) -> tuple[datetime, bool, datetime]:
    """(since, after, until): the logs that count have since <= timestamp <= until, or
    since < timestamp when `after` (since is then the reset); `counts_toward` in one piece."""
    period_start, _ = period_bounds(budget["period"], now)
    reset = budget.get("_reset_at")
    if reset and parse_iso(reset) >= period_start:
        return parse_iso(reset), True, now
    return period_start, False, now


def current_spend(budget: Resource, logs: Iterable[Resource], now: datetime) -> Decimal:
    """Cost of the logs in scope since the later of the period start and the last reset.

    `logs` is any iterable of logs (every one is checked by `counts_toward`), or an org's
    `LogTable`, whose index gives the same sum without reading every log.
    """
    if isinstance(logs, LogTable):
        return logs.cost_since(budget["scope_type"], budget["scope_id"], *spend_window(budget, now))
    total = Decimal(0)
    for log in logs:
        if counts_toward(budget, log, now):
            total += Decimal(log["cost_usd"])
    return total


def money(value: Decimal, places: Decimal = CENT) -> str:
    return str(value.quantize(places))


def budget_view(budget: Resource, logs: Iterable[Resource], now: datetime) -> Resource:
    """The stored budget plus what a GET shows: spend, period start, next reset."""
    spend = current_spend(budget, logs, now)
    start, end = period_bounds(budget["period"], now)
    amount = Decimal(budget["amount_usd"])
    used = float(spend / amount * 100) if amount > 0 else (100.0 if spend > 0 else 0.0)
    view = {k: v for k, v in budget.items() if not k.startswith("_")}
    view.update(
        current_spend_usd=money(spend, Decimal("0.000001")),
        used_pct=round(used, 2),
        period_start=iso(spend_since(budget, now)),
        period_resets_at=iso(end),
    )
    return view


def crossed_thresholds(budget: Resource, alerts: list[Resource], spend: Decimal) -> list[tuple[str, dict[str, Any]]]:
    """(event_type, details) for every threshold the spend has reached, in rising order.

    Nothing is reached without spend: a 0 % threshold means "on the first cent", not "at once".
    """
    if spend <= 0:
        return []
    amount = Decimal(budget["amount_usd"])
    used = (spend / amount * 100) if amount > 0 else Decimal(100 if spend > 0 else 0)
    found: list[tuple[Decimal, str, dict[str, Any]]] = []
    soft = Decimal(str(budget["soft_cap_pct"]))
    if used >= soft:
        found.append((soft, "soft_cap_reached", {"threshold_pct": float(soft)}))
    for alert in alerts:
        pct = Decimal(str(alert["threshold_pct"]))
        if used >= pct:
            found.append((pct, "alert_triggered", {"threshold_pct": float(pct), "alert_id": alert["id"],
                                                   "channel": alert["channel"], "destination": alert.get("destination")}))
    if amount > 0 and spend >= amount or amount == 0 and spend > 0:
        found.append((Decimal(100), "hard_cap_triggered", {"action": budget["hard_cap_action"],
                                                          "downgrade_to": budget.get("downgrade_to")}))
    found.sort(key=lambda item: item[0])
    details_common = {"spend_usd": money(spend, Decimal("0.000001")), "amount_usd": budget["amount_usd"],
                      "used_pct": round(float(used), 2)}
    return [(kind, {**details, **details_common}) for _, kind, details in found]


def evaluate(budget: Resource, alerts: list[Resource], logs: Iterable[Resource], now: datetime,
             record: Callable[[str, dict[str, Any]], None]) -> None:
    """Record each threshold event once per period (and per reset); `record(event_type, details)`."""
    if not budget.get("active", True):
        return
    since = iso(spend_since(budget, now))
    fired = budget.setdefault("_fired", {})
    if fired.get("since") != since:
        fired.clear()
        fired["since"] = since
        fired["keys"] = []
    thresholds = {_key("soft_cap_reached", {"threshold_pct": float(Decimal(str(budget["soft_cap_pct"])))}),
                  _key("hard_cap_triggered", {}), *(_key("alert_triggered", {"alert_id": a["id"]}) for a in alerts)}
    if thresholds.issubset(fired["keys"]):  # all recorded this period: nothing left to cross
        return
    spend = current_spend(budget, logs, now)
    for kind, details in crossed_thresholds(budget, alerts, spend):
        key = _key(kind, details)
        if key in fired["keys"]:
            continue
        fired["keys"].append(key)
        record(kind, details)


def _key(kind: str, details: dict[str, Any]) -> str:
    """How `evaluate` remembers a threshold it recorded: an alert by its id, the soft cap by its percentage."""
    return f"{kind}:{details.get('alert_id') or details.get('threshold_pct')}"
