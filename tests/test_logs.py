"""Logs: filters and paging, traces that agree with their logs, replay through the current
config, the unreachable-proxy mode, and log ingestion (budgets, anomalies, provider health)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mockserver.app import create_app
from mockserver.clock import iso
from mockserver.engines.analytics import SignalRule, error_rate_anomalies, provider_health_transitions, provider_status
from mockserver.engines.routing import RouteRequest
from mockserver.domain.logs import credential_reverified, ingest_logs, routed_log
from mockserver.services import MockConfig, Services

from .conftest import Api, TOKEN

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def ok(response, status: int = 200):
    assert response.status_code == status, response.json
    return response.json["data"]


def make_config(api, pid, name, policy, body) -> dict:
    return ok(api.post("/routing-configs", json={"projectId": pid, "name": name, "policy": policy, "config": body}), 201)


@pytest.fixture
def seeded(api, services, clock):
    """Two projects; 60 logs over 5 hours with mixed users, statuses and configs."""
    a = ok(api.post("/projects", json={"name": "A"}), 201)
    b = ok(api.post("/projects", json={"name": "B"}), 201)
    bot = make_config(api, a["id"], "bot", "single", {"model": "gpt-4o"})
    org = services.org
    start = clock.now() - timedelta(hours=5)
    logs = []
    for i in range(60):
        pid = a["id"] if i % 3 else b["id"]
        request = RouteRequest(model="@bot" if pid == a["id"] else "gpt-4o-mini",
                               messages=[{"role": "user", "content": f"question {i}"}],
                               end_user_id=f"user-{i % 4}", trace_id=f"trace-{i}", tags={"n": str(i)})
        logs.append(routed_log(services.world, org, pid, request, start + timedelta(minutes=5 * i),
                               config=org.routing_configs[bot["id"]] if pid == a["id"] else None,
                               status="error" if i % 7 == 0 else "success",
                               error_message="upstream 500" if i % 7 == 0 else None))
    ingest_logs(services.world, org, logs)
    return {"a": a, "b": b, "bot": bot, "logs": logs}


def newest_first(logs):
    return sorted(logs, key=lambda log: (log["timestamp"], log["id"]), reverse=True)


def test_logs_newest_first_and_filters_combine(api, seeded):
    everything = ok(api.get("/logs", query_string={"limit": 200}))
    assert [log["id"] for log in everything] == [log["id"] for log in newest_first(seeded["logs"])]
    assert all(not key.startswith("_") for log in everything for key in log)

    pid = seeded["a"]["id"]
    combined = ok(api.get("/logs", query_string={"projectId": pid, "status": "error", "endUserId": "user-1",
                                                  "limit": 200}))
    expected = [log for log in newest_first(seeded["logs"])
                if log["project_id"] == pid and log["status"] == "error" and log["end_user_id"] == "user-1"]
    assert [log["id"] for log in combined] == [log["id"] for log in expected] and expected
    assert ok(api.get("/logs", query_string={"projectId": "proj_other"})) == []


def test_paging(api, seeded):
    assert len(ok(api.get("/logs"))) == 50, "default limit"
    pages = [ok(api.get("/logs", query_string={"limit": 7, "offset": offset})) for offset in range(0, 63, 7)]
    flat = [log["id"] for page in pages for log in page]
    assert flat == [log["id"] for log in newest_first(seeded["logs"])]
    assert [len(p) for p in pages][-1] == 4
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"status": "AAA"}):
        response = api.get("/logs", query_string=bad)
        assert response.status_code == 400 and set(response.json) == {"error", "code"}, bad


def test_traces_agree_with_logs(api, seeded):
    for log in seeded["logs"][:20]:
        trace = ok(api.get(f"/logs/{log['id']}/trace"))
        assert trace["selected_model"] == log["model_used"]
        assert trace["selected_provider"] == log["provider"]
        assert ok(api.get(f"/logs/{log['id']}"))["model_used"] == trace["selected_model"]
        if log["routing_config_name"]:
            assert trace["policy"] == "single" and trace["steps"][0]["result"] == "selected"
        else:
            assert trace["policy"] == "direct"
    assert api.get("/logs/log_missing/trace").status_code == 404


def test_replay_follows_the_current_config(api, seeded):
    log = next(entry for entry in seeded["logs"] if entry["routing_config_name"] == "bot")
    first = ok(api.post(f"/logs/{log['id']}/replay"))
    assert first["selected_model"] == "gpt-4o" and first["changed"] is False
    assert first["routing_config_id"] == seeded["bot"]["id"] and first["routing_config_version"] == 1
    assert first["trace"]["selected_model"] == first["selected_model"]

    ok(api.patch(f"/routing-configs/{seeded['bot']['id']}", json={"policy": "single",
                                                                   "config": {"model": "claude-sonnet-4"}}))
    second = ok(api.post(f"/logs/{log['id']}/replay"))
    assert second["selected_model"] == "claude-sonnet-4" and second["selected_provider"] == "anthropic"
    assert second["changed"] is True and second["routing_config_version"] == 2
    assert second["original"] == {"model_used": "gpt-4o", "provider": "openai"}
    # Same request, same config: same decision.
    assert ok(api.post(f"/logs/{log['id']}/replay")) == second
    # The log itself is history: unchanged.
    assert ok(api.get(f"/logs/{log['id']}"))["model_used"] == "gpt-4o"


def test_replay_through_a_config_named_by_slug(api, services, seeded, clock):
    pid = seeded["a"]["id"]
    make_config(api, pid, "cheap", "single", {"model": "gpt-4o-mini"})
    make_config(api, pid, "router", "custom_rules", {"rules": [{"if": "tags.tier == 'gold'", "then": "@bot"},
                                                              {"else": "@cheap"}]})
    org = services.org
    router = next(c for c in org.routing_configs.values() if c["name"] == "router")
    gold = routed_log(services.world, org, pid, RouteRequest(model="@router", tags={"tier": "gold"}, trace_id="g"),
                      clock.now() - timedelta(minutes=1), config=router)
    gold["routing_config_name"] = None  # only the requested slug names the config
    ingest_logs(services.world, org, [gold])
    assert ok(api.post(f"/logs/{gold['id']}/replay"))["selected_model"] == "gpt-4o"
    ok(api.patch(f"/routing-configs/{router['id']}", json={"policy": "custom_rules", "config": {
        "rules": [{"if": "tags.tier == 'gold'", "then": "@cheap"}, {"else": "@bot"}]}}))
    assert ok(api.post(f"/logs/{gold['id']}/replay"))["selected_model"] == "gpt-4o-mini"


@pytest.fixture
def unreachable(clock):
    config = MockConfig(token=TOKEN, seed=3, clock=clock, start_workers=False, proxy_unreachable=True)
    services = Services.build(config)
    yield Api(create_app(config, services)), services
    services.stop()


def test_unreachable_proxy_answers_502(unreachable, clock):
    api, services = unreachable
    project = ok(api.post("/projects", json={"name": "P"}), 201)
    log = routed_log(services.world, services.org, project["id"], RouteRequest(model="gpt-4o"),
                     clock.now() - timedelta(minutes=1))
    ingest_logs(services.world, services.org, [log])

    replay = api.post(f"/logs/{log['id']}/replay")
    assert replay.status_code == 502 and replay.json["code"] == "proxy_unreachable" and replay.json["error"]
    dry = api.post("/routing-configs/dry-run", json={"project_id": project["id"], "policy": "single",
                                                     "config": {"model": "gpt-4o"}})
    assert dry.status_code == 502 and set(dry.json) == {"error", "code"}
    # Local validation and lookups come first.
    invalid = api.post("/routing-configs/dry-run", json={"project_id": project["id"], "policy": "single", "config": {}})
    assert invalid.status_code == 400
    assert api.post("/logs/log_missing/replay").status_code == 404


def test_reachable_proxy_dry_run_and_replay_answer_200(api, seeded):
    dry = api.post("/routing-configs/dry-run", json={"project_id": seeded["a"]["id"], "policy": "single",
                                                     "config": {"model": "gpt-4o"}})
    assert dry.status_code == 200
    assert api.post(f"/logs/{seeded['logs'][0]['id']}/replay").status_code == 200


# ── ingestion: validation, anomalies, provider health ───────────────────────


def raw_log(pid: str, when: datetime, status: str = "success", provider: str = "openai", **extra) -> dict:
    return {"project_id": pid, "timestamp": iso(when), "status": status, "provider": provider,
            "model_used": "gpt-4o", "cost_usd": "0.01", **extra}


def test_ingest_rejects_inconsistent_logs(api, services):
    pid = ok(api.post("/projects", json={"name": "P"}), 201)["id"]
    with pytest.raises(ValueError, match="does not exist"):
        ingest_logs(services.world, services.org, [raw_log("proj_missing", T0)])
    disagreeing = raw_log(pid, T0, _trace={"policy": "single", "selected_model": "gpt-4o-mini", "steps": []})
    with pytest.raises(ValueError, match="agree"):
        ingest_logs(services.world, services.org, [disagreeing])
    assert services.org.logs == {}
    stored = ingest_logs(services.world, services.org, [raw_log(pid, T0, cost_usd="0.123456789",
                                                                input_tokens=3, output_tokens=4)])[0]
    assert stored["cost_usd"] == "0.123457" and stored["total_tokens"] == 7 and stored["id"].startswith("log_")


def deliveries(api, endpoint_id):
    return ok(api.get(f"/webhooks/endpoints/{endpoint_id}/deliveries"))


def hook(api, types, project_id=None) -> dict:
    body = {"name": "h", "url": "http://127.0.0.1:9/h", "event_types": types}
    if project_id:
        body["project_id"] = project_id
    return ok(api.post("/webhooks/endpoints", json=body), 201)["endpoint"]


def test_error_spike_emits_one_anomaly_per_window(api, services, clock):
    pid = ok(api.post("/projects", json={"name": "P"}), 201)["id"]
    quiet = ok(api.post("/projects", json={"name": "Q"}), 201)["id"]
    mine, other = hook(api, ["request.anomaly_detected"], pid), hook(api, ["request.anomaly_detected"], quiet)
    hour = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)

    # 9 requests, all errors: too few to call it a spike.
    ingest_logs(services.world, services.org, [raw_log(pid, hour + timedelta(minutes=i), "error") for i in range(9)])
    assert deliveries(api, mine["id"]) == []
    # 3 more successes: 12 requests, 75 % errors -> one anomaly.
    ingest_logs(services.world, services.org, [raw_log(pid, hour + timedelta(minutes=20 + i)) for i in range(3)])
    (event,) = deliveries(api, mine["id"])
    data = event["payload"]["data"]
    assert event["event_type"] == "request.anomaly_detected"
    assert (data["project_id"], data["request_count"], data["error_count"]) == (pid, 12, 9)
    assert data["window_start"] == "2026-11-02T09:00:00.000Z" and data["window_end"] == "2026-11-02T10:00:00.000Z"
    assert data["error_rate"] == 0.75
    # More errors in the same window: still one event. Another project's endpoint hears nothing.
    ingest_logs(services.world, services.org, [raw_log(pid, hour + timedelta(minutes=40), "error")])
    assert len(deliveries(api, mine["id"])) == 1
    assert deliveries(api, other["id"]) == []
    # A healthy window (10 % errors) raises nothing.
    later = hour + timedelta(hours=1)
    ingest_logs(services.world, services.org,
                [raw_log(pid, later + timedelta(minutes=i), "error" if i == 0 else "success") for i in range(10)])
    assert len(deliveries(api, mine["id"])) == 1


def test_provider_health_flips_are_emitted_org_wide(api, services):
    pid = ok(api.post("/projects", json={"name": "P"}), 201)["id"]
    ok(api.post("/providers", json={"provider": "anthropic", "name": "main", "apiKey": "sk-ant-1"}), 201)
    org_wide = hook(api, ["provider.health_changed"])
    scoped = hook(api, ["provider.health_changed"], pid)
    h = datetime(2026, 11, 2, 6, tzinfo=timezone.utc)
    batch = []
    for hour, errors in ((0, 0), (1, 4), (2, 1)):  # healthy, unhealthy (4/5), healthy again
        batch += [raw_log(pid, h + timedelta(hours=hour, minutes=i), "error" if i < errors else "success",
                          "anthropic") for i in range(5)]
    ingest_logs(services.world, services.org, batch)
    flips = [d["payload"]["data"] for d in reversed(deliveries(api, org_wide["id"]))]
    assert [(f["previous_status"], f["status"], f["window_start"]) for f in flips] == [
        ("healthy", "unhealthy", "2026-11-02T07:00:00.000Z"), ("unhealthy", "healthy", "2026-11-02T08:00:00.000Z")]
    assert flips[0]["provider"] == "anthropic" and len(flips[0]["provider_credential_ids"]) == 1
    assert deliveries(api, scoped["id"]) == [], "org-wide events skip project-scoped endpoints"
    ingest_logs(services.world, services.org, [raw_log(pid, h + timedelta(hours=2, minutes=30), provider="anthropic")])
    assert len(deliveries(api, org_wide["id"])) == 2, "nothing new, nothing sent"


def test_credential_reverified_emits_health_changed(api, services):
    hub = hook(api, ["provider.health_changed"])
    provider = ok(api.post("/providers", json={"provider": "openai", "name": "main", "apiKey": "sk-1"}), 201)
    credential_reverified(services.world, services.org, services.org.providers[provider["id"]])
    (event,) = deliveries(api, hub["id"])
    data = event["payload"]["data"]
    assert data["provider_credential_id"] == provider["id"] and data["status"] == "healthy"
    assert data["reason"] == "credential_reverified" and data["previous_status"] == "healthy"
    assert "sk-1" not in str(event)


def test_signal_engines_on_plain_logs():
    rule = SignalRule(window_seconds=600, min_requests=4, error_rate=0.5)
    logs = [{"project_id": "p", "provider": "x", "timestamp": iso(T0 + timedelta(minutes=m)), "status": s}
            for m, s in ((0, "error"), (1, "error"), (2, "success"), (3, "success"),   # 10:00 window 50 %
                         (12, "error"), (13, "success"), (14, "success"), (15, "success"),  # 25 %
                         (25, "error"))]                                               # too few
    anomalies = error_rate_anomalies(logs, rule)
    assert [(a["window_start"], a["request_count"], a["error_count"]) for a in anomalies] == [(iso(T0), 4, 2)]
    flips = provider_health_transitions(logs, rule)
    assert [(f["window_start"], f["status"]) for f in flips] == [
        (iso(T0), "unhealthy"), (iso(T0 + timedelta(minutes=10)), "healthy")]
    assert provider_status(logs, "x", rule) == "healthy"
    assert provider_status(logs[:4], "x", rule) == "unhealthy"
    assert provider_status([], "x", rule) == "healthy"
