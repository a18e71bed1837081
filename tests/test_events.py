"""Webhook events: every one the mock emits, seeded or live, has its type's documented shape
(`modelux_spec.event_schema`), and the seeded world's are made by the same code as the live ones.

Shapes are judged by the Python `jsonschema` package, not by the jsonschema-rs validator the
engine itself uses (`engines.webhooks.check_event`), so the two check each other.
"""

from __future__ import annotations

import ast
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from fixtures import export_world, generate, load_world
from fixtures.content import PROFILES
from fixtures.plans import INCIDENTS
from mockserver.app import create_app
from mockserver.clock import ManualClock, iso, parse_iso
from mockserver.domain.logs import ingest_logs, routed_log
from mockserver.engines.logindex import LogTable
from mockserver.engines.analytics import HEALTH_RULE, error_rate_anomalies, provider_health_transitions, window_counts
from mockserver.engines.routing import RouteRequest
from mockserver.engines.webhooks import new_event
from mockserver.ids import IdFactory
from mockserver.services import MockConfig, Services
from modelux_spec import EVENT_TYPES, event_schema

from .conftest import Api, TOKEN

ROOT = Path(__file__).resolve().parent.parent
ANCHOR = "2026-11-02T12:00:00.000Z"
# (seed, scale): a few default worlds and a heavier one.
WORLDS = ((3, None), (7, None), (21, None), (5, 8000))


def problems(event: dict) -> list[str]:
    validator = Draft202012Validator(event_schema(event["type"]), format_checker=FormatChecker())
    return [f"{event['type']} {'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(event)]


def shape(event: dict) -> tuple:
    """What a consumer of the event sees: its type, which variant of it, and the keys of `data`."""
    data = event["data"]
    variant = data.get("reason") or data.get("event_type") or next(
        (key for key in ("restored_from_version", "promoted_from_simulation", "changed") if key in data), None)
    return event["type"], variant, tuple(sorted(data))


def ok(response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:400])
    return response.json["data"]


@pytest.fixture(scope="module")
def seeded() -> list[dict]:
    """The exported documents of a few seeded worlds."""
    return [export_world(MockConfig(world_seed=seed, anchor=ANCHOR, scale=scale)) for seed, scale in WORLDS]


@pytest.fixture(scope="module")
def seeded_events(seeded) -> list[dict]:
    events = []
    for document in seeded:
        for delivery in document["webhook_deliveries"]:
            assert json.loads(delivery["_body"]) == delivery["payload"]
            events.append(delivery["payload"])
    return events


@pytest.fixture(scope="module")
def live_events() -> list[dict]:
    """The payloads of every delivery a live mock made while each emitting path was driven."""
    clock = ManualClock(datetime(2026, 11, 2, 9, tzinfo=timezone.utc))
    config = MockConfig(token=TOKEN, seed=11, clock=clock, start_workers=False)
    services = Services.build(config)
    api, world, org = Api(create_app(config, services)), services.world, services.org
    project = ok(api.post("/projects", json={"name": "Support"}), 201)["id"]
    for scope in (None, project):  # org-wide and project-scoped receivers of everything
        body = {"name": "all", "url": "http://127.0.0.1:9/all", "event_types": list(EVENT_TYPES)}
        hub = ok(api.post("/webhooks/endpoints", json={**body, **({"project_id": scope} if scope else {})}), 201)
    ok(api.post(f"/webhooks/endpoints/{hub['endpoint']['id']}/test"), 202)

    # Routing configs: created, updated (config alone, name), restored, deleted.
    config_id = ok(api.post("/routing-configs", json={"projectId": project, "name": "production", "policy": "single",
                                                      "config": {"model": "gpt-4o"}}), 201)["id"]
    ok(api.patch(f"/routing-configs/{config_id}", json={"config": {"model": "gpt-4o-mini"}}))
    ok(api.patch(f"/routing-configs/{config_id}", json={"name": "production-v2"}))
    ok(api.patch(f"/routing-configs/{config_id}", json={"name": "production"}))
    ok(api.post(f"/routing-configs/{config_id}/restore", json={"version": 1}))
    scratch = ok(api.post("/routing-configs", json={"projectId": project, "name": "scratch", "policy": "single",
                                                    "config": {"model": "gpt-4o"}}), 201)["id"]
    ok(api.delete(f"/routing-configs/{scratch}"))

    # A proxy key revoked; a provider credential whose key is replaced (and verified again).
    key = ok(api.post("/keys", json={"projectId": project, "name": "backend"}), 201)["id"]
    ok(api.delete(f"/keys/{key}"))
    credential = ok(api.post("/providers", json={"provider": "anthropic", "name": "main", "apiKey": "sk-ant-1"}), 201)
    ok(api.patch(f"/providers/{credential['id']}", json={"apiKey": "sk-ant-2"}))

    # A budget whose soft cap, alert and amount are crossed by traffic.
    budget = ok(api.post("/budgets", json={"name": "org", "scope_type": "org", "scope_id": None, "period": "monthly",
                                           "amount_usd": "1.00", "soft_cap_pct": 50}), 201)["id"]
    ok(api.post(f"/budgets/{budget}/alerts", json={"threshold_pct": 75, "channel": "webhook",
                                                   "destination": "http://127.0.0.1:9/all"}), 201)

    def log(minute: int, status: str = "success", cost: str = "0.000000", provider: str = "anthropic") -> dict:
        return {"project_id": project, "timestamp": iso(clock.now() - timedelta(hours=3) + timedelta(minutes=minute)),
                "status": status, "provider": provider, "model_used": "claude-sonnet-4", "cost_usd": cost}

    for cost in ("0.60", "0.20", "0.30"):
        ingest_logs(world, org, [log(0, cost=cost)])
    # An error spike: an anomaly and an unhealthy provider; then a healthy hour.
    ingest_logs(world, org, [log(60 + i, "error" if i < 10 else "success") for i in range(12)])
    ingest_logs(world, org, [log(120 + i) for i in range(6)])

    # A simulation promoted into the config.
    request = RouteRequest(model="@production", messages=[{"role": "user", "content": "hello"}], trace_id="t-1")
    routed = routed_log(world, org, project, request, clock.now() - timedelta(minutes=30),
                        config=org.routing_configs[config_id])
    ingest_logs(world, org, [routed])
    simulation = ok(api.post("/simulations", json={
        "name": "mini", "project_id": project, "baseline_config_id": config_id, "candidate_policy": "single",
        "candidate_config": {"model": "gpt-4o-mini"}, "window_start": iso(clock.now() - timedelta(hours=1)),
        "window_end": iso(clock.now())}), 201)["id"]
    services.simulations.run_all()
    ok(api.post(f"/simulations/{simulation}/promote"))

    yield [delivery["payload"] for delivery in org.webhook_deliveries.values()]
    services.stop()


# ── every event has its documented shape ────────────────────────────────────


def test_every_seeded_event_has_its_documented_shape(seeded_events):
    assert {event["type"] for event in seeded_events} == set(EVENT_TYPES) - {"routing_config.deleted"}
    found = [problem for event in seeded_events for problem in problems(event)]
    assert found == [], found[:5]


def test_every_live_event_has_its_documented_shape(live_events):
    assert {event["type"] for event in live_events} == set(EVENT_TYPES)
    found = [problem for event in live_events for problem in problems(event)]
    assert found == [], found[:5]


def test_seeded_and_live_events_of_a_type_have_the_same_keys(seeded_events, live_events):
    """One shape per event type (and variant) on the deliveries page, whether the world was seeded."""
    live = {shape(event) for event in live_events}
    assert {shape(event) for event in seeded_events} - live == set()
    seeded_variants = {shape(event)[:2] for event in seeded_events}
    assert {("provider.health_changed", "error_rate"), ("provider.health_changed", "credential_reverified"),
            ("request.anomaly_detected", None), ("budget.exceeded", "hard_cap_triggered")} <= seeded_variants


def test_the_engine_refuses_an_event_without_its_documented_shape():
    now = datetime(2026, 11, 2, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="mock bug: a budget.exceeded event"):
        new_event(IdFactory(1), "budget.exceeded", {"budget_id": "bud_1"}, now)
    with pytest.raises(ValueError, match="mock bug: unknown webhook event type"):
        new_event(IdFactory(1), "budget.spent", {}, now)
    with pytest.raises(ValueError, match="window_start"):
        new_event(IdFactory(1), "request.anomaly_detected",
                  {"kind": "error_rate_spike", "project_id": "p", "window_start": "yesterday",
                   "window_end": iso(now), "request_count": 10, "error_count": 5, "error_rate": 0.5,
                   "threshold": 0.25, "min_requests": 10, "sample_log_ids": []}, now)
    assert new_event(IdFactory(1), "webhook.test", {"synthetic": True}, now)["data"] == {"synthetic": True}


# ── the seeded world is made by the live code ───────────────────────────────


def test_the_generator_builds_the_world_through_the_domain_only():
    """fixtures/ imports no HTTP layer; the generator only the domain, the engines and foundations."""
    allowed = ("mockserver.domain", "mockserver.engines", "mockserver.clock", "mockserver.ids", "mockserver.tables",
               "modelux_spec")
    for path in sorted((ROOT / "fixtures").glob("*.py")):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module)
        mine = {name for name in imported if name.split(".")[0] in ("mockserver", "modelux_spec", "contracts")}
        assert not {n for n in mine if n.startswith(("mockserver.handlers", "mockserver.registry", "mockserver.api",
                                                     "contracts"))}, path.name
        if path.name != "loader.py":  # the loader boots a world for the CLI (MockConfig)
            assert all(name.startswith(allowed) for name in mine), (path.name, sorted(mine))


def test_a_seeded_world_leaves_no_engine_behind():
    generated = generate(3, parse_iso(ANCHOR), 200)
    assert generated.world.event_listeners == []
    config = MockConfig(world_seed=3, anchor=ANCHOR, scale=200, start_workers=False)
    world, org, token = load_world(config)
    services = Services.build(config, world=world, org=org, token=token)
    assert world.event_listeners == [services.webhooks.on_event]


def test_every_incident_shows_in_the_live_signals(seeded):
    """Each incident's hours are anomalous for the project whose clients retry and make its provider
    unhealthy; once the first is over, the provider is seen to recover."""
    anchor = parse_iso(ANCHOR)
    stormed = 0
    for document in seeded:
        projects = {p["name"]: p["id"] for p in document["projects"]}
        events = [d["payload"] for d in document["webhook_deliveries"]]
        for incident in INCIDENTS:
            present = [projects[PROFILES[key].name] for key, _, _ in incident.retriers if PROFILES[key].name in projects]
            if not present:
                continue  # nobody to retry: the incident shows only in its provider's own traffic
            stormed += 1
            anomalies = {e["data"]["window_start"] for e in events
                         if e["type"] == "request.anomaly_detected" and e["data"]["project_id"] == present[0]}
            flips = sorted({(e["data"]["window_start"], e["data"]["status"]) for e in events
                            if e["type"] == "provider.health_changed" and e["data"]["reason"] == "error_rate"
                            and e["data"]["provider"] == incident.provider})
            begin = anchor - timedelta(days=incident.start_day)
            end = min(begin + timedelta(hours=incident.hours), anchor)
            first = begin.replace(minute=0, second=0, microsecond=0)
            hours = {iso(first + timedelta(hours=h)) for h in range(4) if first + timedelta(hours=h) < end}
            assert hours <= anomalies, (document["seed"], incident.provider, sorted(hours - anomalies))
            assert (iso(first), "unhealthy") in flips, (document["seed"], incident.provider, flips)
            if end < anchor - timedelta(hours=2):
                after = [flip for flip in flips if flip[0] > max(hours)]
                assert after and after[0][1] == "healthy", (document["seed"], incident.provider, flips)
    assert stormed >= len(WORLDS) + 1


def test_seeded_budget_history_is_the_domains(seeded):
    """Every threshold a seeded budget crossed was announced by the domain, at that moment, to the
    org-wide alerts receiver (subscribed to both budget events since it was created)."""
    for document in seeded:
        alerts = next(e for e in document["webhook_endpoints"] if e["name"] == "Platform alerts")
        sent = {(d["payload"]["data"]["budget_id"], d["payload"]["data"]["event_type"], d["payload"]["created_at"])
                for d in document["webhook_deliveries"]
                if d["endpoint_id"] == alerts["id"] and d["event_type"].startswith("budget.")}
        crossed = [e for e in document["budget_events"]
                   if e["event_type"] != "reset" and e["occurred_at"] > alerts["created_at"]]
        assert crossed
        for event in crossed:
            assert (event["budget_id"], event["event_type"], event["occurred_at"]) in sent, event


# ── ingestion in batches raises what the whole traffic shows ────────────────


def test_signals_of_chronological_batches_are_those_of_the_whole_traffic():
    """Ingested hour by hour (or in bigger batches, or all at once), traffic raises exactly the
    anomalies and health flips the brute-force definitions find in all of it."""
    rng = random.Random(4)
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    logs = []
    for hour in range(72):
        busy, bad = rng.choice((2, 6, 14, 30)), rng.random() < 0.25
        for _ in range(busy):
            moment = start + timedelta(hours=hour, seconds=rng.randrange(3600))
            failed = rng.random() < (0.7 if bad else 0.05)
            logs.append({"project_id": rng.choice(("a", "b")), "timestamp": iso(moment),
                         "status": "error" if failed else "success", "provider": rng.choice(("x", "y", "z")),
                         "model_used": "gpt-4o", "cost_usd": "0.001000"})
    logs.sort(key=lambda log: log["timestamp"])
    expected_anomalies = {(a["project_id"], a["window_start"]) for a in error_rate_anomalies(logs)}
    expected_flips = [(t["provider"], t["window_start"], t["status"]) for t in provider_health_transitions(logs)]
    assert expected_anomalies and len(expected_flips) >= 4
    for size in (1, 7, 40, len(logs)):
        clock = ManualClock(start)
        config = MockConfig(token=TOKEN, seed=3, clock=clock, start_workers=False)
        services = Services.build(config)
        world, org = services.world, services.org
        for project in ("a", "b"):
            org.projects[project] = {"id": project, "name": project, "slug": project, "settings": {},
                                     "created_at": iso(start)}
        seen = []
        world.event_listeners.append(lambda org, kind, data, project_id: seen.append((kind, data)))
        batches = [logs[i:i + size] for i in range(0, len(logs), size)] if size > 1 else \
            [[log for log in logs if log["timestamp"][:13] == hour]
             for hour in sorted({log["timestamp"][:13] for log in logs})]
        for batch in batches:
            ingest_logs(world, org, batch)
        anomalies = {(d["project_id"], d["window_start"]) for kind, d in seen if kind == "request.anomaly_detected"}
        flips = [(d["provider"], d["window_start"], d["status"]) for kind, d in seen
                 if kind == "provider.health_changed"]
        assert anomalies == expected_anomalies, size
        assert sorted(flips) == sorted(expected_flips), size
        assert org.logs.window_counts(HEALTH_RULE, "provider") == dict(window_counts(logs, HEALTH_RULE, "provider"))
        services.stop()


def test_storing_a_batch_indexes_it_as_storing_each_log_does():
    """`LogTable.store` (what ingestion uses) leaves the indexes a table built from scratch would have,
    also when a batch replaces stored logs or names one id twice."""
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)

    def log(ident: str, minutes: int, cost: str, status: str = "success", provider: str = "x") -> dict:
        return {"id": ident, "project_id": "p", "timestamp": iso(start + timedelta(minutes=minutes)),
                "status": status, "provider": provider, "model_used": "m", "cost_usd": cost, "end_user_id": "u"}

    table = LogTable()
    table.store([log(f"a{i}", 7 * i, "0.100000", "error" if i % 3 else "success") for i in range(30)])
    assert table.buckets  # the index exists from here on: later stores keep it up to date
    table.store([log(f"b{i}", 200 + 5 * i, "0.200000", provider="y") for i in range(12)])
    table.store([log("a4", 31, "1.000000", provider="y")])
    table.store([log("c1", 400, "0.300000"), log("c2", 403, "0.300000"), log("c1", 401, "0.400000")])
    fresh = LogTable(dict(table))
    end = start + timedelta(days=1)
    for key in ("project_id", "provider"):
        assert table.window_counts(HEALTH_RULE, key) == fresh.window_counts(HEALTH_RULE, key)
    for since in (start, start + timedelta(minutes=95, milliseconds=1)):
        assert table.cost_since("org", None, since, False, end) == fresh.cost_since("org", None, since, False, end)
        assert table.cost_since("end_user", "u", since, True, end) == fresh.cost_since("end_user", "u", since, True, end)
    assert table.report(None, start, end, "hour") == fresh.report(None, start, end, "hour")
    assert table["c1"]["timestamp"] == iso(start + timedelta(minutes=401)) and len(table) == 44
