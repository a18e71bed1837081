"""Budgets: spend from logs since the later of the period start and the last reset, UTC period
boundaries, threshold events (soft cap, alerts, hard cap) recorded once and sent to webhooks,
and reset. Time is a ManualClock (fixture `clock`: Monday 2026-11-02 12:00 UTC)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from mockserver.clock import iso
from mockserver.engines.budgets import counts_toward, crossed_thresholds, current_spend, evaluate, period_bounds
from mockserver.domain.logs import ingest_logs

UTC = timezone.utc


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ok(response, status: int = 200):
    assert response.status_code == status, response.json
    return response.json["data"]


# ── period boundaries ───────────────────────────────────────────────────────


@pytest.mark.parametrize("period, now, start, end", [
    ("daily", at(2026, 11, 2, 12), at(2026, 11, 2), at(2026, 11, 3)),
    ("daily", at(2026, 11, 2, 0, 0), at(2026, 11, 2), at(2026, 11, 3)),
    ("daily", at(2026, 12, 31, 23, 59, 59), at(2026, 12, 31), at(2027, 1, 1)),
    ("weekly", at(2026, 11, 2, 12), at(2026, 11, 2), at(2026, 11, 9)),        # a Monday
    ("weekly", at(2026, 11, 8, 23, 59), at(2026, 11, 2), at(2026, 11, 9)),    # the Sunday after
    ("weekly", at(2026, 11, 4, 6), at(2026, 11, 2), at(2026, 11, 9)),         # Wednesday
    ("weekly", at(2027, 1, 1), at(2026, 12, 28), at(2027, 1, 4)),             # across a year
    ("monthly", at(2026, 11, 2, 12), at(2026, 11, 1), at(2026, 12, 1)),
    ("monthly", at(2026, 12, 15), at(2026, 12, 1), at(2027, 1, 1)),
    ("monthly", at(2028, 2, 29, 23), at(2028, 2, 1), at(2028, 3, 1)),
])
def test_period_bounds_are_utc(period, now, start, end):
    assert period_bounds(period, now) == (start, end)


def test_period_bounds_convert_other_offsets_to_utc():
    # 01:30 on Nov 3 at +02:00 is still Nov 2 in UTC.
    local = datetime(2026, 11, 3, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert period_bounds("daily", local) == (at(2026, 11, 2), at(2026, 11, 3))


# ── spend ───────────────────────────────────────────────────────────────────


def budget(**kw) -> dict:
    return {"id": "bud_1", "name": "b", "scope_type": "org", "scope_id": None, "period": "daily",
            "amount_usd": "10.00", "soft_cap_pct": 80, "hard_cap_action": "block", "downgrade_to": None,
            "active": True, **kw}


def log(when: datetime, cost: str, project="proj_a", user=None) -> dict:
    return {"id": f"log_{when.isoformat()}_{cost}", "project_id": project, "timestamp": iso(when),
            "cost_usd": cost, "end_user_id": user, "status": "success"}


def test_spend_counts_the_current_period_up_to_now():
    now = at(2026, 11, 2, 12)
    logs = [log(at(2026, 11, 1, 23, 59, 59), "100"),  # yesterday
            log(at(2026, 11, 2), "1.25"),             # exactly the period start: counts
            log(at(2026, 11, 2, 11), "2.50"),
            log(at(2026, 11, 2, 12, 0, 1), "50")]     # in the future
    assert current_spend(budget(), logs, now) == Decimal("3.75")
    assert current_spend(budget(period="monthly"), logs, now) == Decimal("103.75")


def test_spend_by_scope():
    now = at(2026, 11, 2, 12)
    logs = [log(at(2026, 11, 2, 1), "1", "proj_a", "u1"), log(at(2026, 11, 2, 2), "2", "proj_b", "u1"),
            log(at(2026, 11, 2, 3), "4", "proj_a", "u2")]
    assert current_spend(budget(scope_type="project", scope_id="proj_a"), logs, now) == 5
    assert current_spend(budget(scope_type="end_user", scope_id="u1"), logs, now) == 3
    assert current_spend(budget(), logs, now) == 7


def test_reset_counts_strictly_after_and_a_new_period_forgets_it():
    now = at(2026, 11, 2, 12)
    logs = [log(at(2026, 11, 2, 9), "5"), log(at(2026, 11, 2, 10), "3"), log(at(2026, 11, 2, 11), "1")]
    reset = budget(_reset_at="2026-11-02T10:00:00.000Z")
    assert current_spend(reset, logs, now) == 1, "the log in the reset's millisecond belongs to the old spend"
    assert not counts_toward(reset, logs[1], now)
    # A reset from an earlier period does not matter once a new period started.
    old_reset = budget(_reset_at="2026-11-01T20:00:00.000Z")
    assert current_spend(old_reset, logs, now) == 9


def test_thresholds_rise_and_fire_once_per_period():
    spec = budget(soft_cap_pct=50)
    alerts = [{"id": "balert_1", "threshold_pct": 90, "channel": "email", "destination": "a@b.c"}]
    assert crossed_thresholds(spec, alerts, Decimal(0)) == []
    kinds = [k for k, _ in crossed_thresholds(spec, alerts, Decimal("10"))]
    assert kinds == ["soft_cap_reached", "alert_triggered", "hard_cap_triggered"]

    fired: list[tuple[str, dict]] = []
    now = at(2026, 11, 2, 12)
    logs = [log(at(2026, 11, 2, 1), "6")]
    evaluate(spec, alerts, logs, now, lambda k, d: fired.append((k, d)))
    assert [k for k, _ in fired] == ["soft_cap_reached"]
    assert fired[0][1]["used_pct"] == 60.0 and fired[0][1]["spend_usd"] == "6.000000"
    evaluate(spec, alerts, logs, now, lambda k, d: fired.append((k, d)))
    assert len(fired) == 1, "no repeat within the period"
    logs.append(log(at(2026, 11, 2, 2), "4.5"))
    evaluate(spec, alerts, logs, now, lambda k, d: fired.append((k, d)))
    assert [k for k, _ in fired] == ["soft_cap_reached", "alert_triggered", "hard_cap_triggered"]
    # Next day: a fresh period, the thresholds can fire again.
    logs.append(log(at(2026, 11, 3, 1), "7"))
    evaluate(spec, alerts, logs, at(2026, 11, 3, 2), lambda k, d: fired.append((k, d)))
    assert [k for k, _ in fired][3:] == ["soft_cap_reached"]


def test_a_zero_threshold_waits_for_the_first_cent():
    fired = []
    evaluate(budget(soft_cap_pct=0), [], [], at(2026, 11, 2), lambda k, d: fired.append(k))
    assert fired == []
    evaluate(budget(soft_cap_pct=0), [], [log(at(2026, 11, 2), "0.01")], at(2026, 11, 2), lambda k, d: fired.append(k))
    assert fired == ["soft_cap_reached"]


# ── through the API ─────────────────────────────────────────────────────────


@pytest.fixture
def project(api):
    return ok(api.post("/projects", json={"name": "Shop"}), 201)


def spend(services, project_id: str, when: datetime, *costs: str, user: str | None = None):
    ingest_logs(services.world, services.org, [
        {"project_id": project_id, "timestamp": when + timedelta(seconds=i), "status": "success",
         "provider": "openai", "model_used": "gpt-4o", "cost_usd": cost, "end_user_id": user}
        for i, cost in enumerate(costs)])


def events(api, budget_id: str) -> list[str]:
    return [e["event_type"] for e in ok(api.get(f"/budgets/{budget_id}/events"))]


def test_spend_thresholds_webhooks_and_reset(api, services, clock, project):
    other = ok(api.post("/projects", json={"name": "Other"}), 201)
    mine = ok(api.post("/webhooks/endpoints", json={"name": "m", "url": "http://127.0.0.1:9/m", "project_id": project["id"],
                                                    "event_types": ["budget.threshold_reached", "budget.exceeded"]}), 201)["endpoint"]
    theirs = ok(api.post("/webhooks/endpoints", json={"name": "t", "url": "http://127.0.0.1:9/t",
                                                      "project_id": other["id"],
                                                      "event_types": ["budget.threshold_reached", "budget.exceeded"]}),
                201)["endpoint"]
    created = ok(api.post("/budgets", json={"name": "daily", "scope_type": "project", "scope_id": project["id"],
                                            "period": "daily", "amount_usd": "10"}), 201)
    bid = created["id"]
    assert created["amount_usd"] == "10.00" and created["soft_cap_pct"] == 80
    assert created["current_spend_usd"] == "0.000000"
    assert created["period_start"] == "2026-11-02T00:00:00.000Z"
    assert created["period_resets_at"] == "2026-11-03T00:00:00.000Z"

    yesterday = clock.now() - timedelta(days=1)
    spend(services, project["id"], yesterday, "50")          # an earlier period: ignored
    spend(services, other["id"], clock.now() - timedelta(hours=1), "50")  # another project: ignored
    spend(services, project["id"], clock.now() - timedelta(hours=2), "3.00", "4.50")
    assert ok(api.get(f"/budgets/{bid}"))["current_spend_usd"] == "7.500000"
    assert events(api, bid) == []

    spend(services, project["id"], clock.now() - timedelta(hours=1), "1.00")
    view = ok(api.get(f"/budgets/{bid}"))
    assert view["current_spend_usd"] == "8.500000" and view["used_pct"] == 85.0
    assert events(api, bid) == ["soft_cap_reached"]

    spend(services, project["id"], clock.now() - timedelta(minutes=5), "2.00")
    assert events(api, bid) == ["hard_cap_triggered", "soft_cap_reached"]
    hard = ok(api.get(f"/budgets/{bid}/events"))[0]
    assert hard["details"]["action"] == "block" and hard["details"]["spend_usd"] == "10.500000"

    sent = [(d["event_type"], d["payload"]["data"]["event_type"])
            for d in ok(api.get(f"/webhooks/endpoints/{mine['id']}/deliveries"))]
    assert sent == [("budget.exceeded", "hard_cap_triggered"), ("budget.threshold_reached", "soft_cap_reached")]
    assert ok(api.get(f"/webhooks/endpoints/{theirs['id']}/deliveries")) == []

    spend(services, project["id"], clock.now() - timedelta(minutes=1), "0.10")
    assert len(events(api, bid)) == 2, "each threshold once per period"

    clock.advance(60)
    reset = ok(api.post(f"/budgets/{bid}/reset"))
    assert reset["previous_spend_usd"] == "10.600000" and reset["current_spend_usd"] == "0.000000"
    view = ok(api.get(f"/budgets/{bid}"))
    assert view["current_spend_usd"] == "0.000000" and view["period_start"] == reset["reset_at"]
    assert events(api, bid)[0] == "reset"
    audit = ok(api.get("/audit-logs", query_string={"resourceId": bid, "action": "reset"}))
    assert len(audit) == 1

    # A request in the reset's own millisecond was part of the spend that was reset.
    spend(services, project["id"], clock.now(), "9.00")
    assert ok(api.get(f"/budgets/{bid}"))["current_spend_usd"] == "0.000000"
    # After the reset, thresholds can fire again.
    clock.advance(1)
    spend(services, project["id"], clock.now(), "9.00")
    assert events(api, bid)[:2] == ["soft_cap_reached", "reset"]

    # The next day is a new period: spend starts over.
    clock.set(datetime(2026, 11, 3, 0, 0, tzinfo=UTC))
    view = ok(api.get(f"/budgets/{bid}"))
    assert view["current_spend_usd"] == "0.000000"
    assert view["period_start"] == "2026-11-03T00:00:00.000Z" and view["period_resets_at"] == "2026-11-04T00:00:00.000Z"


def test_alert_threshold_emits_threshold_reached(api, services, clock, project):
    hook = ok(api.post("/webhooks/endpoints", json={"name": "h", "url": "http://127.0.0.1:9/h",
                                                    "event_types": ["budget.threshold_reached"]}), 201)["endpoint"]
    bid = ok(api.post("/budgets", json={"name": "org", "scope_type": "org", "scope_id": None, "period": "monthly",
                                        "amount_usd": "100.00", "soft_cap_pct": 95}), 201)["id"]
    alert = ok(api.post(f"/budgets/{bid}/alerts", json={"threshold_pct": 50, "channel": "webhook",
                                                        "destination": "http://127.0.0.1:9/h"}), 201)
    spend(services, project["id"], clock.now() - timedelta(days=1), "30")   # Nov 1: same month
    assert events(api, bid) == []
    spend(services, project["id"], clock.now() - timedelta(hours=1), "25")
    assert events(api, bid) == ["alert_triggered"]
    delivery = ok(api.get(f"/webhooks/endpoints/{hook['id']}/deliveries"))[0]
    assert delivery["event_type"] == "budget.threshold_reached"
    assert delivery["payload"]["data"]["alert_id"] == alert["id"]
    assert delivery["payload"]["data"]["threshold_pct"] == 50


def test_weekly_budget_starts_on_monday(api, services, clock, project):
    clock.set(datetime(2026, 11, 4, 9, 0, tzinfo=UTC))  # Wednesday
    bid = ok(api.post("/budgets", json={"name": "w", "scope_type": "project", "scope_id": project["id"],
                                        "period": "weekly", "amount_usd": "100"}), 201)["id"]
    spend(services, project["id"], datetime(2026, 11, 1, 23, 0, tzinfo=UTC), "7")   # Sunday before
    spend(services, project["id"], datetime(2026, 11, 2, 0, 0, tzinfo=UTC), "2")    # Monday 00:00
    view = ok(api.get(f"/budgets/{bid}"))
    assert view["current_spend_usd"] == "2.000000"
    assert view["period_start"] == "2026-11-02T00:00:00.000Z"
    assert view["period_resets_at"] == "2026-11-09T00:00:00.000Z"


def test_monthly_budget_and_end_user_scope(api, services, clock, project):
    bid = ok(api.post("/budgets", json={"name": "m", "scope_type": "end_user", "scope_id": "user-7",
                                        "period": "monthly", "amount_usd": "5"}), 201)["id"]
    spend(services, project["id"], datetime(2026, 10, 31, 23, 59, tzinfo=UTC), "1", user="user-7")
    spend(services, project["id"], datetime(2026, 11, 1, 0, 0, tzinfo=UTC), "2", user="user-7")
    spend(services, project["id"], datetime(2026, 11, 1, 0, 0, tzinfo=UTC), "4", user="user-8")
    view = ok(api.get(f"/budgets/{bid}"))
    assert view["current_spend_usd"] == "2.000000"
    assert view["period_start"] == "2026-11-01T00:00:00.000Z"
    assert view["period_resets_at"] == "2026-12-01T00:00:00.000Z"


def test_inactive_budget_records_nothing_until_reactivated(api, services, clock, project):
    bid = ok(api.post("/budgets", json={"name": "d", "scope_type": "org", "period": "daily", "amount_usd": "1"}),
             201)["id"]
    ok(api.patch(f"/budgets/{bid}", json={"active": False}))
    spend(services, project["id"], clock.now() - timedelta(minutes=1), "2")
    assert events(api, bid) == []
    ok(api.patch(f"/budgets/{bid}", json={"active": True}))
    assert events(api, bid) == ["hard_cap_triggered", "soft_cap_reached"]


def test_downgrade_needs_a_model(api):
    body = {"name": "d", "scope_type": "org", "period": "daily", "amount_usd": "1", "hard_cap_action": "downgrade"}
    assert api.post("/budgets", json=body).status_code == 400
    bid = ok(api.post("/budgets", json={**body, "downgrade_to": "gpt-4o-mini"}), 201)["id"]
    conflict = api.patch(f"/budgets/{bid}", json={"downgrade_to": None})
    assert conflict.status_code == 409 and conflict.json["code"] == "downgrade_without_model"
    assert ok(api.get(f"/budgets/{bid}"))["downgrade_to"] == "gpt-4o-mini"
