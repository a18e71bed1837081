"""Simulations: a window of logged traffic replayed through a candidate config.

Logs are produced the way the proxy would write them (`routed_log`: the routing engine picks
the model, the catalogue prices it) and stored with `ingest_logs`. The runner is driven with
`step()` (synchronous) or in the background with bounded polling.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from mockserver.clock import ManualClock, iso
from mockserver.engines import catalogue
from mockserver.engines.routing import RouteRequest
from mockserver.engines.simulations import CHUNK, SimulationRunner, percentile, select_logs, summarize
from mockserver.domain.logs import ingest_logs, routed_log
from mockserver.domain.simulations import new_simulation
from mockserver.ids import IdFactory
from mockserver.domain.orgs import bootstrap_org
from mockserver.domain.world import World

N = 250  # more than two chunks, so processed_count visibly climbs
ERRORS = 25


def ok(response, status: int = 200):
    assert response.status_code == status, response.json
    return response.json["data"]


@pytest.fixture
def setup(api, services, clock):
    """A project with a `production` config (gpt-4o on openai) and N logs routed by it."""
    project = ok(api.post("/projects", json={"name": "Support"}), 201)
    config = ok(api.post("/routing-configs", json={"projectId": project["id"], "name": "production",
                                                   "policy": "single", "config": {"model": "gpt-4o"}}), 201)
    org = services.org
    start = clock.now() - timedelta(hours=3)
    logs = []
    for i in range(N):
        request = RouteRequest(model="@production", messages=[{"role": "user", "content": "x" * (40 + i)}],
                               tags={"tier": "gold" if i % 5 == 0 else "free"}, trace_id=f"tr-{i}",
                               end_user_id=f"user-{i % 7}")
        logs.append(routed_log(services.world, org, project["id"], request, start + timedelta(seconds=30 * i),
                               config=org.routing_configs[config["id"]],
                               status="error" if i % 10 == 3 else "success", latency_ms=10 * (i + 1),
                               output_tokens=100 + i))
    ingest_logs(services.world, org, logs)
    window = {"window_start": iso(start), "window_end": iso(start + timedelta(seconds=30 * (N - 1)))}
    return {"project": project, "config": config, "logs": logs, "window": window}


def create(api, setup, **overrides) -> dict:
    body = {"name": "haiku?", "project_id": setup["project"]["id"], "baseline_config_id": setup["config"]["id"],
            "candidate_policy": "single", "candidate_config": {"model": "claude-3-5-haiku-20241022"},
            **setup["window"], **overrides}
    return ok(api.post("/simulations", json=body), 201)


def test_lifecycle_summaries_and_results(api, services, setup):
    sim = create(api, setup)
    assert (sim["status"], sim["request_count"], sim["processed_count"]) == ("pending", N, 0)
    assert sim["baseline_summary"] is None and sim["candidate_summary"] is None

    seen = []
    while True:
        services.simulations.step()
        current = ok(api.get(f"/simulations/{sim['id']}"))
        seen.append((current["status"], current["processed_count"]))
        if current["status"] == "completed":
            break
        assert len(seen) < 10
    assert seen == [("running", 0), ("running", CHUNK), ("running", 2 * CHUNK), ("completed", N)]
    assert current["completed_at"] is not None

    logs = setup["logs"]
    base, cand = current["baseline_summary"], current["candidate_summary"]
    assert base["request_count"] == cand["request_count"] == N
    assert base["model_distribution"] == {"gpt-4o": N}
    assert cand["model_distribution"] == {"claude-3-5-haiku-20241022": N}
    assert Decimal(base["total_cost_usd"]) == sum(Decimal(log["cost_usd"]) for log in logs)
    expected = sum(catalogue.cost_usd("claude-3-5-haiku-20241022", log["input_tokens"], log["output_tokens"])
                   .quantize(Decimal("0.000001")) for log in logs)
    assert Decimal(cand["total_cost_usd"]) == expected
    assert base["error_rate"] == pytest.approx(ERRORS / N)
    assert cand["error_rate"] == 0.0, "openai errors do not follow the request to anthropic"
    assert base["latency_p50_ms"] in (1250, 1260) and base["latency_p95_ms"] in (2370, 2380, 2390)
    assert cand["latency_p50_ms"] == cand["latency_p95_ms"] == catalogue.latency_ms("claude-3-5-haiku-20241022")

    results = ok(api.get(f"/simulations/{sim['id']}/results"))
    assert sorted(r["request_id"] for r in results) == sorted(log["id"] for log in logs)
    by_id = {log["id"]: log for log in logs}
    for result in results:
        log = by_id[result["request_id"]]
        assert result["baseline_decision"]["model"] == log["model_used"] == "gpt-4o"
        assert result["candidate_decision"]["model"] == "claude-3-5-haiku-20241022"
        assert result["candidate_decision"]["provider"] == "anthropic"
        diff = result["diff"]
        assert diff["model_changed"] and diff["provider_changed"]
        assert Decimal(diff["cost_delta_usd"]) == (Decimal(result["candidate_decision"]["cost_usd"])
                                                   - Decimal(result["baseline_decision"]["cost_usd"]))
        assert diff["status_changed"] == (log["status"] == "error")


def test_same_candidate_as_baseline_changes_nothing(api, services, setup):
    sim = create(api, setup, candidate_config={"model": "gpt-4o"})
    services.simulations.run_all()
    results = ok(api.get(f"/simulations/{sim['id']}/results"))
    assert not any(r["diff"]["model_changed"] or r["diff"]["status_changed"] for r in results)
    done = ok(api.get(f"/simulations/{sim['id']}"))
    assert done["candidate_summary"]["error_rate"] == done["baseline_summary"]["error_rate"]


def test_estimate_counts_what_a_simulation_would(api, setup):
    project_id = setup["project"]["id"]
    window = setup["window"]
    estimate = ok(api.get("/simulations/estimate", query_string={"projectId": project_id, "from": window["window_start"],
                                                                  "to": window["window_end"]}))
    sim = create(api, setup)
    assert estimate["request_count"] == sim["request_count"] == N

    # A narrower window: both count the same subset (inclusive bounds).
    start = datetime.fromisoformat(window["window_start"].replace("Z", "+00:00"))
    narrow = {"window_start": iso(start + timedelta(seconds=30 * 10)), "window_end": iso(start + timedelta(seconds=30 * 19))}
    partial = create(api, setup, **narrow)
    again = ok(api.get("/simulations/estimate", query_string={"projectId": project_id, "from": narrow["window_start"],
                                                               "to": narrow["window_end"]}))
    assert partial["request_count"] == again["request_count"] == 10
    inverted = ok(api.get("/simulations/estimate", query_string={"projectId": project_id, "from": narrow["window_end"],
                                                                  "to": narrow["window_start"]}))
    assert inverted["request_count"] == 0


def test_filter_selects_traffic(api, services, setup):
    errors = create(api, setup, filter={"status": "error"})
    gold = create(api, setup, filter={"tags": {"tier": "gold"}})
    assert errors["request_count"] == ERRORS
    assert gold["request_count"] == N // 5
    services.simulations.run_all()
    assert ok(api.get(f"/simulations/{errors['id']}"))["baseline_summary"]["error_rate"] == 1.0


def test_promote_writes_a_new_version_of_the_baseline_and_is_audited(api, services, setup):
    config_id = setup["config"]["id"]
    before = ok(api.get(f"/routing-configs/{config_id}/versions"))
    sim = create(api, setup, candidate_policy="fallback",
                 candidate_config={"attempts": [{"model": "claude-3-5-haiku-20241022"}, {"model": "gpt-4o-mini"}]})

    early = api.post(f"/simulations/{sim['id']}/promote")
    assert early.status_code == 409 and early.json["code"] == "not_completed"

    services.simulations.run_all()
    promoted = ok(api.post(f"/simulations/{sim['id']}/promote"))
    assert promoted["routing_config_id"] == config_id and promoted["version"] == len(before) + 1

    versions = ok(api.get(f"/routing-configs/{config_id}/versions"))
    assert [v["version"] for v in versions] == list(range(1, len(before) + 2))
    assert versions[-1]["policy"] == "fallback"
    assert versions[-1]["config"]["attempts"][0]["model"] == "claude-3-5-haiku-20241022"
    current = ok(api.get(f"/routing-configs/{config_id}"))
    assert (current["version"], current["policy"]) == (len(before) + 1, "fallback")

    audit = ok(api.get("/audit-logs", query_string={"resourceId": sim["id"], "action": "promoted"}))
    assert len(audit) == 1 and audit[0]["resource_type"] == "simulation"
    assert audit[0]["metadata"]["routing_config_id"] == config_id

    # Replaying a logged request now follows the promoted candidate.
    replay = ok(api.post(f"/logs/{setup['logs'][0]['id']}/replay"))
    assert replay["selected_model"] == "claude-3-5-haiku-20241022"


def test_promote_without_baseline_goes_to_the_production_config(api, services, setup):
    ok(api.post("/routing-configs", json={"projectId": setup["project"]["id"], "name": "aaa-older-name",
                                          "policy": "single", "config": {"model": "gpt-4o-mini"}}), 201)
    sim = create(api, setup, baseline_config_id=None)
    services.simulations.run_all()
    promoted = ok(api.post(f"/simulations/{sim['id']}/promote"))
    assert promoted["routing_config_id"] == setup["config"]["id"]  # the one named production


def test_promote_with_nothing_to_promote_into(api, services, clock):
    project = ok(api.post("/projects", json={"name": "Empty"}), 201)
    sim = ok(api.post("/simulations", json={
        "name": "x", "project_id": project["id"], "candidate_policy": "single", "candidate_config": {"model": "gpt-4o"},
        "window_start": iso(clock.now() - timedelta(hours=1)), "window_end": iso(clock.now())}), 201)
    assert sim["request_count"] == 0
    services.simulations.run_all()
    done = ok(api.get(f"/simulations/{sim['id']}"))
    assert done["status"] == "completed" and done["baseline_summary"]["request_count"] == 0
    answer = api.post(f"/simulations/{sim['id']}/promote")
    assert answer.status_code == 409 and answer.json["code"] == "no_promotion_target"


def test_cancel(api, services, setup):
    sim = create(api, setup)
    services.simulations.step()
    services.simulations.step()
    cancelled = ok(api.post(f"/simulations/{sim['id']}/cancel"))
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] is not None
    assert cancelled["processed_count"] == CHUNK
    services.simulations.run_all()
    assert ok(api.get(f"/simulations/{sim['id']}"))["processed_count"] == CHUNK, "a cancelled simulation stops"
    audit = ok(api.get("/audit-logs", query_string={"resourceId": sim["id"], "action": "cancelled"}))
    assert audit[0]["changes"]["status"] == {"before": "running", "after": "cancelled"}

    again = api.post(f"/simulations/{sim['id']}/cancel")
    assert again.status_code == 409 and set(again.json) == {"error", "code"}
    assert api.post(f"/simulations/{sim['id']}/promote").status_code == 409

    pending = create(api, setup)
    ok(api.post(f"/simulations/{pending['id']}/cancel"))
    audit = ok(api.get("/audit-logs", query_string={"resourceId": pending["id"], "action": "cancelled"}))
    assert audit[0]["changes"]["status"] == {"before": "pending", "after": "cancelled"}
    services.simulations.run_all()
    assert ok(api.get(f"/simulations/{pending['id']}"))["status"] == "cancelled"

    finished = create(api, setup)
    services.simulations.run_all()
    late = api.post(f"/simulations/{finished['id']}/cancel")
    assert late.status_code == 409 and late.json["code"] == "not_cancellable"


def test_invalid_creations(api, setup):
    window = setup["window"]
    inverted = api.post("/simulations", json={
        "name": "x", "project_id": setup["project"]["id"], "candidate_policy": "single",
        "candidate_config": {"model": "gpt-4o"}, "window_start": window["window_end"],
        "window_end": window["window_start"]})
    assert inverted.status_code == 400 and inverted.json["code"] == "invalid_window"
    bad_config = api.post("/simulations", json={
        "name": "x", "project_id": setup["project"]["id"], "candidate_policy": "fallback",
        "candidate_config": {"attempts": []}, **window})
    assert bad_config.status_code == 400
    missing = api.post("/simulations", json={
        "name": "x", "project_id": "proj_missing", "candidate_policy": "single",
        "candidate_config": {"model": "gpt-4o"}, **window})
    assert missing.status_code == 404


def test_background_runner_completes(app, api, services, setup):
    sim = create(api, setup)
    services.simulations.start(poll_seconds=0.02)
    deadline = time.monotonic() + 10
    while True:
        current = ok(api.get(f"/simulations/{sim['id']}"))
        if current["status"] == "completed":
            break
        assert time.monotonic() < deadline, f"simulation still {current['status']} at {current['processed_count']}"
        time.sleep(0.02)
    assert current["processed_count"] == current["request_count"] == N
    assert current["candidate_summary"]["request_count"] == N
    assert len(ok(api.get(f"/simulations/{sim['id']}/results"))) == N
    services.simulations.stop()


# ── the engine on its own ──────────────────────────────────────────────────


def test_select_logs_window_is_inclusive_and_ordered():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    logs = [{"id": f"l{i}", "project_id": "p" if i != 2 else "q", "timestamp": iso(t0 + timedelta(minutes=i)),
             "status": "success"} for i in (3, 0, 1, 2, 4)]
    chosen = select_logs(logs, "p", t0, t0 + timedelta(minutes=3))
    assert [e["id"] for e in chosen] == ["l0", "l1", "l3"]
    assert [e["id"] for e in select_logs(logs, None, t0, t0)] == ["l0"]


def test_summarize_and_percentiles():
    outcomes = [{"model": "a", "cost_usd": "0.5", "latency_ms": ms, "status": "error" if ms == 40 else "success"}
                for ms in (10, 20, 30, 40)] + [{"model": None, "cost_usd": "1", "latency_ms": None, "status": "success"}]
    summary = summarize(outcomes)
    assert summary["request_count"] == 5 and summary["total_cost_usd"] == "3.000000"
    assert summary["error_rate"] == 0.2
    assert summary["model_distribution"] == {"a": 4, "unknown": 1}
    assert summary["latency_p50_ms"] in (20, 30) and summary["latency_p95_ms"] == 40
    assert percentile([], 50) == 0.0
    assert summarize([])["request_count"] == 0


def test_a_simulation_that_breaks_fails_without_stalling_others():
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    world = World(clock=clock, ids=IdFactory(5))
    org, _ = bootstrap_org(world, "Org")
    org.projects["proj_1"] = {"id": "proj_1", "name": "p"}
    ingest_logs(world, org, [{"id": "log_1", "project_id": "proj_1", "timestamp": "2025-12-31T23:00:00Z",
                              "status": "success", "model_used": "gpt-4o", "provider": "openai", "cost_usd": "0.01"}])

    def resolver_for(org, project_id):
        def resolve(slug):
            if slug == "@boom":
                raise RuntimeError("resolver exploded")
            return ("single", {"model": "gpt-4o-mini"})
        return resolve

    body = {"name": "s", "project_id": "proj_1", "window_start": datetime(2025, 12, 31, tzinfo=timezone.utc),
            "window_end": datetime(2026, 1, 1, tzinfo=timezone.utc)}
    broken = new_simulation(org, world, {**body, "candidate_policy": "ab_test",
                                         "candidate_config": {"variants": [{"weight": 1, "config": "@boom"}]}})
    fine = new_simulation(org, world, {**body, "candidate_policy": "ab_test",
                                       "candidate_config": {"variants": [{"weight": 1, "config": "@cheap"}]}})
    runner = SimulationRunner(world, resolver_for)
    runner.run_all(max_steps=10)
    assert broken["status"] == "failed" and "resolver exploded" in broken["error_message"]
    assert fine["status"] == "completed" and fine["candidate_summary"]["model_distribution"] == {"gpt-4o-mini": 1}
