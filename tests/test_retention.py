"""Every collection that grows with traffic keeps at most its cap, the oldest dropped first (spec/DECISIONS.md,
"Memory"). The caps are module constants; the tests lower them to a handful."""

from __future__ import annotations

from mockserver.domain import budgets as budget_domain
from mockserver.domain import routing_configs as config_domain
from mockserver.domain import simulations as simulation_domain
from mockserver.domain import world as world_domain
from mockserver.engines import webhooks as webhook_engine
from mockserver.frontend.sessions import SessionStore


def created(api, path, body, status=201):
    response = api.post(path, json=body)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.json["data"]


def test_audit_entries_keep_the_newest(api, services, monkeypatch):
    monkeypatch.setattr(world_domain, "MAX_AUDIT_ENTRIES", 5)
    projects = [created(api, "/projects", {"name": f"P{i}"})["id"] for i in range(8)]
    listed = api.get("/audit-logs").json
    assert listed["total"] == 5 == len(services.org.audit_logs)
    assert [e["resource_id"] for e in listed["data"]] == projects[:2:-1]  # newest first, the oldest three gone
    seqs = [e["_seq"] for e in services.org.audit_logs.values()]
    assert seqs == sorted(set(seqs)) and seqs[-1] == 7


def test_webhook_deliveries_keep_the_newest(api, services, monkeypatch):
    monkeypatch.setattr(webhook_engine, "MAX_DELIVERIES", 3)
    endpoint = created(api, "/webhooks/endpoints", {"name": "e", "url": "http://127.0.0.1:9/h",
                                                    "event_types": ["webhook.test"]})["endpoint"]
    sent = [created(api, f"/webhooks/endpoints/{endpoint['id']}/test", None, status=202)["delivery_id"]
            for _ in range(5)]
    assert list(services.org.webhook_deliveries) == sent[2:]
    assert api.get(f"/webhooks/deliveries/{sent[0]}").status_code == 404


def test_budget_events_keep_the_newest(api, services, monkeypatch):
    monkeypatch.setattr(budget_domain, "MAX_BUDGET_EVENTS", 2)
    budget = created(api, "/budgets", {"name": "b", "scope_type": "org", "period": "monthly", "amount_usd": "100"})
    resets = [api.post(f"/budgets/{budget['id']}/reset").json["data"]["event_id"] for _ in range(4)]
    assert list(services.org.budget_events) == resets[2:]
    assert [e["id"] for e in api.get(f"/budgets/{budget['id']}/events").json["data"]] == resets[:1:-1]


def test_routing_config_versions_keep_the_newest(api, monkeypatch):
    monkeypatch.setattr(config_domain, "MAX_CONFIG_VERSIONS", 3)
    project = created(api, "/projects", {"name": "P"})
    config = created(api, "/routing-configs", {"projectId": project["id"], "name": "c", "policy": "single",
                                               "config": {"model": "gpt-4o"}})
    for model in ("gpt-4o-mini", "gpt-4o", "gpt-4o-mini", "gpt-4o"):
        assert api.patch(f"/routing-configs/{config['id']}", json={"config": {"model": model}}).status_code == 200
    versions = api.get(f"/routing-configs/{config['id']}/versions").json["data"]
    assert [v["version"] for v in versions] == [3, 4, 5]
    assert api.post(f"/routing-configs/{config['id']}/restore", json={"version": 1}).status_code == 404
    assert api.post(f"/routing-configs/{config['id']}/restore", json={"version": 3}).json["data"]["version"] == 6


def test_simulations_keep_the_newest_dropping_finished_ones_first(api, services, monkeypatch):
    monkeypatch.setattr(simulation_domain, "MAX_SIMULATIONS", 2)
    body = {"name": "s", "candidate_policy": "single", "candidate_config": {"model": "gpt-4o"},
            "window_start": "2026-11-01T00:00:00Z", "window_end": "2026-11-02T00:00:00Z"}
    first, second = (created(api, "/simulations", body)["id"] for _ in range(2))
    services.simulations.run_all()
    assert api.post(f"/simulations/{second}/cancel").status_code == 409  # completed, as is the first
    third = created(api, "/simulations", body)["id"]
    assert list(services.org.simulations) == [second, third]
    assert list(services.org.simulation_results) == [second, third]
    fourth = created(api, "/simulations", body)["id"]  # the second is the only finished one left
    assert list(services.org.simulations) == [third, fourth]
    assert api.get(f"/simulations/{first}").status_code == 404


def test_sessions_keep_the_most_recently_used(services):
    store = SessionStore(max_sessions=2)
    tokens = [store.sign_in(services.world, "owner@example.com")[0] for _ in range(3)]
    assert store.count() == 2
    assert store.find(tokens[0]) is None and store.find(tokens[2]) is not None
