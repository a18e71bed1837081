"""The seeded world: deterministic, coherent, realistic, valid on the wire, exportable.

Coherence is checked through the HTTP API (Flask test client, responses validated against
the effective spec, so any seeded object that violates the spec answers 500), and against
the engines the API itself uses.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from tests.conftest import Api
from fixtures import DEFAULT_REQUESTS, derive_token, export_world, load_world
from fixtures.generator import RETRY_TAG, default_anchor
from mockserver.app import create_app
from mockserver.cli import main as cli
from mockserver.clock import ManualClock, iso, parse_iso
from mockserver.engines import catalogue
from mockserver.engines.routing import RouteRequest, route
from mockserver.engines.simulations import select_logs
from mockserver.engines.webhooks import is_due
from modelux_spec import EVENT_TYPES
from mockserver.services import MockConfig, Services

ANCHOR = "2026-11-02T12:00:00.000Z"
SEED = 3


def boot(seed: int = SEED, scale: int | None = None, anchor: str = ANCHOR, **extra) -> SimpleNamespace:
    clock = ManualClock(parse_iso(anchor))
    config = MockConfig(world_seed=seed, seed=seed, scale=scale, anchor=anchor, clock=clock, start_workers=False,
                        **extra)
    world, org, token = load_world(config)
    services = Services.build(config, world=world, org=org, token=token)
    app = create_app(config, services)
    return SimpleNamespace(config=config, clock=clock, world=world, org=org, token=token, services=services,
                           api=Api(app, token))


@pytest.fixture(scope="module")
def seeded():
    """The default world (seed 3, fixed anchor), booted once for the read-only tests."""
    booted = boot()
    yield booted
    booted.services.stop()


@pytest.fixture(scope="module")
def small():
    booted = boot(seed=8, scale=300, anchor="2026-03-18T09:00:00.000Z")
    yield booted
    booted.services.stop()


def regular(logs) -> list[dict]:
    """The logs of the month's traffic, without the incidents' retry storms (`plans.Incident`)."""
    return [log for log in logs if log["tags"].get("source") != RETRY_TAG["source"]]


def data(response):
    assert response.status_code == 200, (response.status_code, response.get_data(as_text=True)[:500])
    return response.json["data"]


def all_logs(api: Api, **query) -> list[dict]:
    found, offset = [], 0
    while True:
        params = "&".join(f"{k}={v}" for k, v in {**query, "limit": 200, "offset": offset}.items())
        page = data(api.get(f"/logs?{params}"))
        found.extend(page)
        if len(page) < 200:
            return found
        offset += 200


def all_audit(api: Api) -> list[dict]:
    found, offset = [], 0
    while True:
        response = api.get(f"/audit-logs?limit=200&offset={offset}")
        page = data(response)
        found.extend(page)
        if len(page) < 200:
            assert response.json["total"] == len(found)
            return found
        offset += 200


# ── determinism ────────────────────────────────────────────────────────────


def test_same_seed_and_anchor_give_the_identical_world():
    config = MockConfig(world_seed=SEED, anchor=ANCHOR)
    first, second = export_world(config), export_world(config)
    assert first == second
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert first["token"] == derive_token(SEED)


def test_another_seed_gives_another_world(seeded):
    mine = export_world(MockConfig(world_seed=SEED, anchor=ANCHOR, scale=300))
    other = export_world(MockConfig(world_seed=SEED + 1, anchor=ANCHOR, scale=300))
    assert mine["token"] != other["token"]
    assert mine["org"]["id"] != other["org"]["id"]
    assert [m["user"]["email"] for m in mine["members"]] != [m["user"]["email"] for m in other["members"]]
    assert {log["id"] for log in mine["logs"]}.isdisjoint({log["id"] for log in other["logs"]})


def test_another_anchor_moves_the_world_in_time():
    early = export_world(MockConfig(world_seed=SEED, anchor="2026-03-01T00:00:00Z", scale=200))
    late = export_world(MockConfig(world_seed=SEED, anchor="2026-05-01T00:00:00Z", scale=200))
    assert max(log["timestamp"] for log in early["logs"]) < "2026-03-01T00:00:00.000Z"
    assert min(log["timestamp"] for log in late["logs"]) >= "2026-04-01T00:00:00.000Z"


def test_default_anchor_is_the_current_utc_hour():
    anchor = default_anchor()
    assert (anchor.minute, anchor.second, anchor.microsecond) == (0, 0, 0)
    assert timedelta(0) <= default_anchor() - anchor <= timedelta(hours=1)


# ── size and variety ───────────────────────────────────────────────────────


def test_the_default_world_has_a_month_of_everything(seeded):
    org = seeded.org
    assert len(regular(org.logs.values())) == DEFAULT_REQUESTS >= 2000
    assert 2 * 12 * 2 <= len(org.logs) - DEFAULT_REQUESTS <= 200  # the incidents' retry storms
    assert 3 <= len(org.projects) <= 6
    assert {m["role"] for m in org.members.values()} == {"owner", "admin", "member"}
    assert any(m.get("status") == "invited" for m in org.members.values())
    assert len({p["provider"] for p in org.providers.values()}) >= 4
    assert any(k["revoked_at"] for k in org.api_keys.values())
    assert sum(1 for k in org.api_keys.values() if k["last_used_at"]) >= len(org.projects)
    assert len(org.management_keys) >= 3 and any(k["revoked_at"] for k in org.management_keys.values())
    assert len({c["policy"] for c in org.routing_configs.values()}) >= 4
    assert sum(1 for versions in org.config_versions.values() if len(versions) >= 2) >= 3
    assert {b["scope_type"] for b in org.budgets.values()} == {"org", "project", "end_user"}
    assert {e["event_type"] for e in org.budget_events.values()} >= {"soft_cap_reached", "hard_cap_triggered"}
    assert {d["status"] for d in org.webhook_deliveries.values()} == {"delivered", "failed", "dead", "pending"}
    assert {s["status"] for s in org.simulations.values()} == {"pending", "running", "completed", "cancelled", "failed"}
    stamps = sorted(log["timestamp"] for log in org.logs.values())
    assert stamps[-1] < ANCHOR and stamps[0] >= iso(parse_iso(ANCHOR) - timedelta(days=30))
    statuses = Counter(log["status"] for log in org.logs.values())
    assert 0.003 < statuses["error"] / len(org.logs) < 0.08
    assert len({log["model_used"] for log in org.logs.values()}) >= 5
    assert len({log["end_user_id"] for log in org.logs.values()}) >= 50


def test_scale_sets_the_number_of_requests():
    assert len(boot(scale=0).org.logs) == 0  # no traffic, nothing to retry either
    assert len(regular(boot(scale=120).org.logs.values())) == 120


# ── coherence through the API ──────────────────────────────────────────────


def test_analytics_totals_equal_log_counts(seeded):
    api = seeded.api
    logs = all_logs(api)
    assert len(logs) == len(seeded.org.logs)
    report = data(api.get("/analytics"))
    assert report["total_requests"] == len(logs)
    for part in ("by_provider", "by_model", "time_series"):
        assert sum(row["request_count"] for row in report[part]) == len(logs)
    errors = sum(1 for log in logs if log["status"] == "error")
    assert report["error_rate"] == pytest.approx(errors / len(logs), abs=1e-6)
    total = sum(Decimal(log["cost_usd"]) for log in logs)
    assert Decimal(report["total_cost_usd"]) == total.quantize(Decimal("0.000001"))
    by_model = Counter(log["model_used"] for log in logs)
    assert {row["model"]: row["request_count"] for row in report["by_model"]} == by_model
    for project in data(api.get("/projects")):
        mine = [log for log in logs if log["project_id"] == project["id"]]
        assert data(api.get(f"/analytics?projectId={project['id']}"))["total_requests"] == len(mine)
        summary = data(api.get(f"/projects/{project['id']}/decisions/summary"))
        assert summary["total_requests"] == len(mine)
        assert Counter({row["model"]: row["count"] for row in summary["model_distribution"]}) == \
            Counter(log["model_used"] for log in mine)


def test_every_trace_names_the_model_its_log_used(seeded):
    for log in seeded.org.logs.values():
        trace = log["_trace"]
        assert (trace["selected_model"], trace["selected_provider"]) == (log["model_used"], log["provider"])
        assert log["routing_config_name"] and log["model_requested"] == "@" + log["routing_config_name"]
        assert trace["steps"] and any(step["result"] in ("selected", "fallback") for step in trace["steps"])
    api = seeded.api
    for log in all_logs(api)[::25]:
        trace = data(api.get(f"/logs/{log['id']}/trace"))
        assert trace["selected_model"] == log["model_used"]
        assert trace["selected_provider"] == log["provider"]


def test_each_log_is_what_the_config_version_of_its_day_decides(seeded):
    """Routing the logged request again with the versions current at its timestamp gives its trace."""
    org, api = seeded.org, seeded.api
    history: dict[tuple[str, str], list[dict]] = {}
    for config in data(api.get("/routing-configs")):
        history[(config["project_id"], config["name"])] = data(api.get(f"/routing-configs/{config['id']}/versions"))

    def version_at(project_id: str, name: str, timestamp: str):
        current = [v for v in history.get((project_id, name), []) if v["created_at"] <= timestamp]
        return (current[-1]["policy"], current[-1]["config"]) if current else None

    for log in list(org.logs.values())[::7]:
        policy, config = version_at(log["project_id"], log["routing_config_name"], log["timestamp"])
        request = RouteRequest(model=log["model_requested"], messages=log["request_messages"], tags=dict(log["tags"]),
                               end_user_id=log["end_user_id"], trace_id=log["trace_id"], input_tokens=log["input_tokens"],
                               budget_used_pct=(log.get("_request") or {}).get("budget_used_pct"))
        if log["input_tokens"] is None:  # rate limited before the provider counted tokens
            continue
        decision = route(policy, config, request, config_name=log["routing_config_name"],
                         resolve=lambda slug, log=log: version_at(log["project_id"], slug[1:], log["timestamp"]))
        assert decision.trace() == data(api.get(f"/logs/{log['id']}/trace"))


def test_costs_and_tokens_follow_the_catalogue(seeded):
    for log in seeded.org.logs.values():
        if log["status"] == "error":
            assert log["error_message"] and Decimal(log["cost_usd"]) == 0
            continue
        assert log["error_message"] is None
        assert log["total_tokens"] == log["input_tokens"] + log["output_tokens"]
        if log["_trace"]["policy"] == "ensemble":
            continue  # every member answers: the cost is theirs together
        expected = catalogue.cost_usd(log["model_used"], log["input_tokens"], log["output_tokens"])
        assert Decimal(log["cost_usd"]) == expected.quantize(Decimal("0.000001"))


def test_request_messages_only_where_the_project_logs_them_in_full(seeded):
    org = seeded.org
    audits = [a for a in org.audit_logs.values() if a["resource_type"] == "project" and a["action"] == "updated"]
    for log in org.logs.values():
        project = org.projects[log["project_id"]]
        mode = project["settings"]["logging_mode"]
        for change in sorted(audits, key=lambda a: a["occurred_at"], reverse=True):
            if change["resource_id"] == project["id"] and change["occurred_at"] > log["timestamp"]:
                mode = change["changes"]["logging_mode"]["before"]
        if mode == "full":
            assert log["request_messages"] and log["request_messages"][-1]["role"] == "user"
        else:
            assert log["request_messages"] is None


def test_budget_spend_is_the_cost_of_the_logs_in_scope(seeded):
    api = seeded.api
    logs = all_logs(api)
    now = iso(seeded.clock.now())
    budgets = data(api.get("/budgets"))
    assert budgets
    for budget in budgets:
        assert data(api.get(f"/budgets/{budget['id']}")) == budget

        def in_scope(log):
            if budget["scope_type"] == "project":
                return log["project_id"] == budget["scope_id"]
            if budget["scope_type"] == "end_user":
                return log["end_user_id"] == budget["scope_id"]
            return True

        spend = sum((Decimal(log["cost_usd"]) for log in logs
                     if in_scope(log) and budget["period_start"] <= log["timestamp"] <= now), Decimal(0))
        assert Decimal(budget["current_spend_usd"]) == spend, budget["name"]


def test_budgets_past_their_caps_have_the_matching_events(seeded):
    api = seeded.api
    budgets = [b for b in data(api.get("/budgets")) if b["active"]]
    past_soft = [b for b in budgets if b["used_pct"] >= b["soft_cap_pct"]]
    past_hard = [b for b in budgets if b["used_pct"] >= 100]
    assert past_soft and past_hard
    for budget in budgets:
        events = data(api.get(f"/budgets/{budget['id']}/events?limit=200"))
        current = {e["event_type"] for e in events if e["occurred_at"] >= budget["period_start"]}
        assert ("soft_cap_reached" in current) == (budget["used_pct"] >= budget["soft_cap_pct"]), budget["name"]
        assert ("hard_cap_triggered" in current) == (budget["used_pct"] >= 100), budget["name"]
        for event in events:
            details = event["details"]
            if event["event_type"] == "soft_cap_reached":
                assert details["used_pct"] >= details["threshold_pct"] == budget["soft_cap_pct"]
            if event["event_type"] == "hard_cap_triggered":
                assert Decimal(details["spend_usd"]) >= Decimal(details["amount_usd"])
    # Evaluating again now changes nothing: the seeded history is what the engine would have recorded.
    before = len(seeded.org.budget_events)
    from mockserver.domain.budgets import evaluate_all
    evaluate_all(seeded.world, seeded.org)
    assert len(seeded.org.budget_events) == before


def test_simulation_counts_match_the_estimate_for_their_window(seeded):
    api, org = seeded.api, seeded.org
    for simulation in data(api.get("/simulations")):
        if simulation["filter"] is None:
            estimate = data(api.get(f"/simulations/estimate?projectId={simulation['project_id']}"
                                    f"&from={simulation['window_start']}&to={simulation['window_end']}"))
            assert estimate["request_count"] == simulation["request_count"], simulation["name"]
        selected = select_logs(org.logs.values(), simulation["project_id"], parse_iso(simulation["window_start"]),
                               parse_iso(simulation["window_end"]), simulation["filter"])
        assert len(selected) == simulation["request_count"]
        assert simulation["window_end"] <= simulation["created_at"]
        results = data(api.get(f"/simulations/{simulation['id']}/results"))
        assert len(results) == simulation["processed_count"] <= simulation["request_count"]
        if simulation["status"] == "completed":
            assert simulation["processed_count"] == simulation["request_count"]
            assert simulation["baseline_summary"]["request_count"] == simulation["request_count"]
            assert simulation["candidate_summary"]["request_count"] == simulation["request_count"]
        if simulation["status"] == "failed":
            assert simulation["error_message"]
        if simulation["status"] == "cancelled":
            assert simulation["cancelled_at"]


def test_every_reference_points_at_something_that_exists(seeded):
    org = seeded.org
    projects, providers = set(org.projects), set(org.providers)
    actors = set(org.members) | set(org.management_keys)
    end_users = {log["end_user_id"] for log in org.logs.values()}
    for key in org.api_keys.values():
        assert key["_project_id"] in projects
        assert key["last_used_at"] is None or key["created_at"] <= key["last_used_at"] < ANCHOR
        assert key["revoked_at"] is None or key["last_used_at"] is None or key["last_used_at"] <= key["revoked_at"]
    names = {(c["project_id"], c["name"]) for c in org.routing_configs.values()}
    for config in org.routing_configs.values():
        assert config["project_id"] in projects
        versions = org.config_versions[config["id"]]
        assert [v["version"] for v in versions] == list(range(1, config["version"] + 1))
        assert (versions[-1]["policy"], versions[-1]["config"]) == (config["policy"], config["config"])
        for version in versions:
            assert version["created_by"] in actors
            text = json.dumps(version["config"])
            for slug in re.findall(r'"@([a-z0-9-]+)"', text):
                assert (config["project_id"], slug) in names
            for credential in re.findall(r'"provider_credential_id": "([^"]+)"', text):
                assert credential in providers
    for log in org.logs.values():
        assert log["project_id"] in projects
        assert (log["project_id"], log["routing_config_name"]) in names
    for budget in org.budgets.values():
        if budget["scope_type"] == "project":
            assert budget["scope_id"] in projects
        elif budget["scope_type"] == "end_user":
            assert budget["scope_id"] in end_users
    for table in (org.budget_events, org.budget_alerts):
        assert all(item["budget_id"] in org.budgets for item in table.values())
    for endpoint in org.webhook_endpoints.values():
        assert endpoint["project_id"] is None or endpoint["project_id"] in projects
        assert "127.0.0.1" not in endpoint["url"] and "localhost" not in endpoint["url"]
    for delivery in org.webhook_deliveries.values():
        assert delivery["endpoint_id"] in org.webhook_endpoints
        assert delivery["event_type"] in EVENT_TYPES
        assert json.loads(delivery["_body"]) == delivery["payload"]
    for simulation in org.simulations.values():
        assert simulation["project_id"] in projects
        assert simulation["baseline_config_id"] is None or simulation["baseline_config_id"] in org.routing_configs
        assert all(result["request_id"] in org.logs for result in org.simulation_results[simulation["id"]])
        promoted = simulation.get("promoted_to")
        if promoted:
            version = org.config_versions[promoted["routing_config_id"]][promoted["version"] - 1]
            assert (version["policy"], version["config"]) == (simulation["candidate_policy"], simulation["candidate_config"])
    collections = {"project": org.projects, "provider": org.providers, "api_key": org.api_keys,
                   "management_key": org.management_keys, "routing_config": org.routing_configs,
                   "budget": org.budgets, "budget_alert": org.budget_alerts, "webhook_endpoint": org.webhook_endpoints,
                   "simulation": org.simulations, "member": org.members, "organization": {org.id: org.org}}
    for entry in org.audit_logs.values():
        assert entry["org_id"] == org.id and entry["actor_id"] in actors
        assert entry["resource_id"] in collections[entry["resource_type"]], entry
        assert entry["occurred_at"] < ANCHOR


def test_the_audit_log_tells_the_story_of_every_seeded_object(seeded):
    api, org = seeded.api, seeded.org
    entries = all_audit(api)
    created = {(e["resource_type"], e["resource_id"]) for e in entries if e["action"] == "created"}
    for kind, table in (("project", org.projects), ("provider", org.providers), ("api_key", org.api_keys),
                        ("management_key", org.management_keys), ("routing_config", org.routing_configs),
                        ("budget", org.budgets), ("webhook_endpoint", org.webhook_endpoints),
                        ("simulation", org.simulations)):
        for ident, item in table.items():
            assert (kind, ident) in created, (kind, item.get("name"))
            entry = next(e for e in entries if e["action"] == "created" and e["resource_id"] == ident)
            assert entry["occurred_at"] == item["created_at"]
    revoked = {e["resource_id"]: e["occurred_at"] for e in entries if e["action"] == "revoked"}
    for key in list(org.api_keys.values()) + list(org.management_keys.values()):
        assert (key["revoked_at"] is not None) == (key["id"] in revoked)
        if key["revoked_at"]:
            assert revoked[key["id"]] == key["revoked_at"]
    for config in org.routing_configs.values():
        changes = [e for e in entries if e["resource_id"] == config["id"] and e["action"] in ("updated", "restored")]
        assert len(changes) == config["version"] - 1
    assert [e["occurred_at"] for e in entries] == sorted((e["occurred_at"] for e in entries), reverse=True)


def test_webhook_history_is_never_due_at_boot(seeded):
    """Booting sends nothing: no seeded delivery is due within the hour after the anchor."""
    org, services = seeded.org, seeded.services
    within_the_hour = parse_iso(ANCHOR) + timedelta(minutes=59, seconds=59)
    assert not [d for d in org.webhook_deliveries.values() if is_due(d, within_the_hour)]
    for delivery in org.webhook_deliveries.values():
        if delivery["status"] in ("failed", "pending"):
            assert delivery["next_attempt_at"] > iso(within_the_hour)
        if delivery["status"] == "delivered":
            assert delivery["delivered_at"] < ANCHOR and delivery["next_attempt_at"] is None
        if delivery["status"] == "dead":
            assert delivery["attempt_count"] >= 5 and delivery["next_attempt_at"] is None
    sent = []
    services.webhooks.sender = lambda *args: sent.append(args) or (200, "")
    before = dict(org.webhook_deliveries)
    seeded.clock.set(within_the_hour)
    try:
        assert services.webhooks.deliver_due() == 0
    finally:
        seeded.clock.set(parse_iso(ANCHOR))
    assert sent == [] and org.webhook_deliveries == before


# ── wire validity ──────────────────────────────────────────────────────────


def test_every_seeded_object_passes_response_validation(small):
    """Every list and every get of every seeded id answers 200 (the app validates each response)."""
    api, org = small.api, small.org
    paths = ["/projects", "/providers", "/keys", "/management-keys", "/routing-configs", "/budgets",
             "/webhooks/event-types", "/webhooks/endpoints", "/webhooks/endpoints?projectId=null", "/simulations",
             "/analytics", "/analytics?bucket=hour", f"/orgs/{org.id}/members"]
    for pid in org.projects:
        paths += [f"/projects/{pid}", f"/projects/{pid}/decisions/summary", f"/keys?projectId={pid}",
                  f"/routing-configs?projectId={pid}", f"/analytics?projectId={pid}", f"/simulations?projectId={pid}",
                  f"/budgets?projectId={pid}", f"/webhooks/endpoints?projectId={pid}", f"/logs?projectId={pid}"]
    paths += [f"/providers/{i}" for i in org.providers]
    for cid, config in org.routing_configs.items():
        paths += [f"/routing-configs/{cid}", f"/routing-configs/{cid}/versions"]
        paths += [f"/routing-configs/{cid}/versions/{n}" for n in range(1, config["version"] + 1)]
    for bid in org.budgets:
        paths += [f"/budgets/{bid}", f"/budgets/{bid}/events", f"/budgets/{bid}/alerts"]
    for eid in org.webhook_endpoints:
        paths += [f"/webhooks/endpoints/{eid}", f"/webhooks/endpoints/{eid}/deliveries"]
    paths += [f"/webhooks/deliveries/{i}" for i in org.webhook_deliveries]
    for sid in org.simulations:
        paths += [f"/simulations/{sid}", f"/simulations/{sid}/results"]
    for lid in org.logs:
        paths += [f"/logs/{lid}", f"/logs/{lid}/trace"]
    paths += [f"/audit-logs/{i}" for i in org.audit_logs]
    for path in paths:
        response = api.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:400])
    assert len(all_logs(api)) == len(org.logs) and len(regular(org.logs.values())) == 300
    assert len(all_audit(api)) == len(org.audit_logs)
    for lid in list(org.logs)[::30]:  # seeded logs replay through today's configs
        assert api.post(f"/logs/{lid}/replay").status_code == 200


def test_the_default_world_lists_validly(seeded):
    api = seeded.api
    assert len(all_logs(api)) == len(seeded.org.logs)
    for status in ("success", "error"):
        assert all(log["status"] == status for log in all_logs(api, status=status))
    for path in ("/projects", "/keys", "/routing-configs", "/budgets", "/webhooks/endpoints", "/simulations",
                 "/analytics?bucket=hour", "/management-keys", "/providers"):
        assert api.get(path).status_code == 200, path
    for delivery in list(seeded.org.webhook_deliveries)[:40]:
        assert api.get(f"/webhooks/deliveries/{delivery}").status_code == 200


# ── realism ────────────────────────────────────────────────────────────────

PLACEHOLDER = re.compile(r"\b(lorem|ipsum|foo|foobar|baz|string|test|tests|dummy|placeholder|example|todo|fixme|"
                         r"asdf|changeme|xxx|sample text)\b", re.IGNORECASE)
# Spec vocabulary and the mock's own wording for test deliveries (seeded ones read exactly like those).
ALLOWED = {"webhook.test", "Test event from Modelux"}


def strings(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            if key != "_body":  # the serialized payload, scanned as `payload`
                yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def test_no_placeholder_text_anywhere():
    for seed in (SEED, 21, 404):
        document = export_world(MockConfig(world_seed=seed, anchor=ANCHOR, scale=800 if seed != SEED else None))
        found = sorted({text for text in strings(document) if text not in ALLOWED and PLACEHOLDER.search(text)})
        assert found == [], found[:5]
        names = [p["name"] for p in document["projects"]] + [m["user"]["name"] for m in document["members"]
                                                              if m.get("status") != "invited"]
        assert all(name.strip() and name != "string" for name in names)


def test_people_and_traffic_look_real(seeded):
    org = seeded.org
    domain = org.org["billing_email"].split("@")[1]
    for member in org.members.values():
        email = member["user"]["email"]
        assert re.fullmatch(r"[a-z]+\.[a-z]+@" + re.escape(domain), email), email
        if member.get("status") != "invited":
            first, last = member["user"]["name"].split(" ", 1)
            assert email.startswith(re.sub(r"[^a-z]", "", first.lower()) + ".")
    for endpoint in org.webhook_endpoints.values():
        assert endpoint["url"].startswith(f"https://hooks.{domain}/modelux")
    prompts = [log["request_messages"][-1]["content"] for log in org.logs.values() if log["request_messages"]]
    assert len(prompts) > 100 and len(set(prompts)) > len(prompts) // 3
    assert all("{" not in p.split("```")[0] for p in prompts), "unfilled prompt slot"
    tags = Counter(key for log in org.logs.values() for key in log["tags"])
    assert {"feature", "env"} <= set(tags)
    latencies = sorted(log["latency_ms"] for log in org.logs.values() if log["status"] == "success")
    assert 200 < latencies[len(latencies) // 2] < 20000
    errors = [log["error_message"] for log in org.logs.values() if log["status"] == "error"]
    assert all(re.search(r"\b(429|500|502|503|529|timeout)\b", text) for text in errors)


# ── files, tokens, boot ────────────────────────────────────────────────────


def test_export_then_serve_fixtures_round_trips(tmp_path):
    path = tmp_path / "world.json"
    result = CliRunner().invoke(cli, ["export", "--seed", "5", "--anchor", ANCHOR, "--scale", "250", "-o", str(path)])
    assert result.exit_code == 0, result.output
    document = json.loads(path.read_text())
    assert document["format"] == "modelux-mock-world" and len(regular(document["logs"])) == 250
    assert export_world(MockConfig(fixtures=str(path))) == document
    clock = ManualClock(parse_iso(ANCHOR))
    config = MockConfig(fixtures=str(path), clock=clock, start_workers=False)
    world, org, token = load_world(config)
    assert token == document["token"] and world.clock is clock
    api = Api(create_app(config, Services.build(config, world=world, org=org, token=token)), token)
    assert {p["id"] for p in data(api.get("/projects"))} == {p["id"] for p in document["projects"]}
    assert data(api.get("/analytics"))["total_requests"] == len(document["logs"])
    assert api.get("/projects", token=derive_token(6)).status_code == 401


def test_a_given_token_is_the_accepted_management_key(tmp_path):
    token = "mlx_mgmt_frontend_team_key_0001"
    booted = boot(scale=100, token=token)
    assert booted.token == token
    assert booted.api.get("/projects").status_code == 200
    assert booted.api.get("/projects", token=derive_token(SEED)).status_code == 401
    path = tmp_path / "world.json"
    path.write_text(json.dumps(export_world(MockConfig(world_seed=SEED, anchor=ANCHOR, scale=100))))
    world, org, accepted = load_world(MockConfig(fixtures=str(path), token=token))
    assert accepted == token and world.authenticate(token) is not None
    assert world.authenticate(derive_token(SEED)) is None


def test_after_boot_the_world_is_live():
    booted = boot(scale=50)
    api, org = booted.api, booted.org
    seeded_ids = {i for table in ("projects", "logs", "audit_logs", "webhook_deliveries") for i in getattr(org, table)}
    created = api.post("/projects", json={"name": "Onboarding Copilot"})
    assert created.status_code == 201
    project = created.json["data"]
    assert project["created_at"] == ANCHOR  # the configured clock, not the seeding clock
    assert project["id"] not in seeded_ids
    entry = data(api.get(f"/audit-logs?resourceId={project['id']}"))[0]
    assert entry["occurred_at"] == ANCHOR
    booted.clock.advance(90)
    assert data(api.get(f"/projects/{project['id']}"))["created_at"] == ANCHOR
    assert api.post("/projects", json={"name": "Churn Predictor"}).json["data"]["created_at"] > ANCHOR
    # New ids after boot are as reproducible as the seeded ones.
    assert boot(scale=50).world.ids.new("proj") == boot(scale=50).world.ids.new("proj")


def test_empty_boots_only_the_organization_and_its_key():
    from mockserver.cli import build_services

    services = build_services(MockConfig(token="mlx_mgmt_empty_world_key_01", start_workers=False), empty=True)
    org = services.org
    assert len(org.management_keys) == 1 and not org.logs and not org.projects


def _made_here(monkeypatch) -> list[tuple[str, int]]:
    """The days of traffic this process makes (a forked copy's are its own), as they are made."""
    from fixtures import generator

    made, unit_traffic = [], generator._Builder._unit_traffic

    def spy(self, unit, *args, **kwargs):
        made.append(unit.key)
        return unit_traffic(self, unit, *args, **kwargs)

    monkeypatch.setattr(generator._Builder, "_unit_traffic", spy)
    return made


def test_a_world_made_by_two_processes_is_the_world_made_by_one(monkeypatch):
    """At scale a forked copy makes part of the traffic (days of it, each from a stream of its own, the support
    budget's days in order here): the world is the same, log for log, id for id."""
    from fixtures.generator import generate
    from fixtures.loader import dump_world

    anchor = parse_iso("2026-11-02T12:34:56.789Z")  # days of the window cut across UTC days
    made = _made_here(monkeypatch)
    alone = dump_world(generate(SEED, anchor, 4000, split=False))
    days = len(made)
    made.clear()
    shared = dump_world(generate(SEED, anchor, 4000, split=True))
    assert 0 < len(made) < days, "the other process made some of the days"
    assert shared == alone
    # The support budget's spend before each support log (the days that route by it included) is in the log.
    support = next(p["id"] for p in alone["projects"] if p["name"] == "Support Assistant")
    used = [(log["timestamp"][:7], log["_request"]["budget_used_pct"]) for log in alone["logs"]
            if log["project_id"] == support and "_request" in log]
    assert len(used) > 1000 and max(pct for _, pct in used) > 0
    assert all(pct <= later for (month, pct), (then, later) in zip(used, used[1:]) if month == then), \
        "within a month the spend before each log only grows"


def test_when_the_other_process_fails_this_one_makes_its_days(monkeypatch, caplog):
    import os

    from fixtures import generator
    from fixtures.loader import dump_world

    anchor = parse_iso(ANCHOR)
    alone = dump_world(generator.generate(SEED, anchor, 3000, split=False))
    here, unit_traffic = os.getpid(), generator._Builder._unit_traffic

    def fails_elsewhere(self, unit, *args, **kwargs):
        if os.getpid() != here:
            raise RuntimeError("the copy broke")
        return unit_traffic(self, unit, *args, **kwargs)

    monkeypatch.setattr(generator._Builder, "_unit_traffic", fails_elsewhere)
    with caplog.at_level("WARNING", logger="fixtures.generator"):
        assert dump_world(generator.generate(SEED, anchor, 3000, split=True)) == alone
    assert "the second process failed" in caplog.text


def test_ids_are_the_characters_random_choice_would_draw():
    """Ids are drawn hundreds of characters at a time, yet a seed gives the ids it always gave: each character
    is the one `random.choice` of the alphabet would draw on the same generator, in the same order."""
    import random

    from mockserver.ids import _ALPHABET, IdFactory

    for seed in (0, 1, 2**40 + 3):
        ids, reference = IdFactory(seed), random.Random(seed)
        drawn = [ids.new("proj") for _ in range(300)] + [ids.secret("mlx_", 40) for _ in range(3)]
        expected = [f"proj_{''.join(reference.choice(_ALPHABET) for _ in range(16))}" for _ in range(300)]
        assert drawn[:300] == expected
        assert all(len(key) == 44 and key.startswith("mlx_") for key in drawn[300:])
        assert IdFactory(seed).new_many("log", 300) == [f"log_{key[5:]}" for key in drawn[:300]]
    seeded = IdFactory(7, seeded_secrets=True)
    reference = random.Random(7)
    assert seeded.secret("whsec_", 32) == "whsec_" + "".join(reference.choice(_ALPHABET) for _ in range(32))
    assert seeded.new("aud") == "aud_" + "".join(reference.choice(_ALPHABET) for _ in range(16))
