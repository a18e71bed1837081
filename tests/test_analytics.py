"""Analytics and decision summaries: every breakdown is computed from the same logs, so the
numbers agree (a hypothesis property over random logs), and the HTTP layer serves them."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.clock import iso, parse_iso
from mockserver.engines.analytics import decisions_summary, report
from mockserver.engines.routing import RouteRequest
from mockserver.domain.logs import ingest_logs, routed_log

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
PROVIDERS = ["openai", "anthropic", "google", None]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.0-flash", None]

costs = st.one_of(
    st.none(),
    st.decimals(min_value=0, max_value=5, places=8, allow_nan=False, allow_infinity=False).map(str),
)
logs_strategy = st.lists(
    st.fixed_dictionaries({
        "offset": st.integers(min_value=0, max_value=3 * 24 * 3600 - 1),
        "provider": st.sampled_from(PROVIDERS),
        "model_used": st.sampled_from(MODELS),
        "status": st.sampled_from(["success", "error"]),
        "total_tokens": st.one_of(st.none(), st.integers(min_value=0, max_value=100_000)),
        "cost_usd": costs,
        "latency_ms": st.one_of(st.none(), st.floats(min_value=0, max_value=60_000, allow_nan=False)),
    }),
    max_size=60,
)


def materialize(raw: list[dict]) -> list[dict]:
    out = []
    for i, item in enumerate(raw):
        entry = {k: v for k, v in item.items() if k != "offset"}
        entry.update(id=f"log_{i:04d}", project_id="proj_p", timestamp=iso(T0 + timedelta(seconds=item["offset"])))
        out.append(entry)
    return out


def check_agreement(data: dict, logs: list[dict]) -> None:
    total = data["total_requests"]
    assert total == len(logs)
    for part in ("by_provider", "by_model", "time_series"):
        rows = data[part]
        assert sum(r["request_count"] for r in rows) == total, part
        assert sum(r["total_tokens"] for r in rows) == data["total_tokens"], part
        assert sum(Decimal(r["total_cost_usd"]) for r in rows) == Decimal(data["total_cost_usd"]), part
    assert sum(r["error_count"] for r in data["time_series"]) == data["error_count"]
    errors = sum(1 for log in logs if log["status"] == "error")
    assert data["error_count"] == errors
    assert data["error_rate"] == (pytest.approx(errors / total, abs=1e-6) if total else 0.0)
    assert data["total_tokens"] == sum(log["total_tokens"] or 0 for log in logs)
    exact = sum(Decimal(log["cost_usd"]) for log in logs if log["cost_usd"])
    assert abs(Decimal(data["total_cost_usd"]) - exact) <= Decimal("0.000001") * max(1, len(logs))


@settings(max_examples=150, deadline=None)
@given(raw=logs_strategy, bucket=st.sampled_from(["hour", "day"]))
def test_breakdowns_agree_with_totals(raw, bucket):
    logs = materialize(raw)
    data = report(logs, bucket=bucket)
    check_agreement(data, logs)
    # Buckets are aligned, distinct, ascending, and each holds exactly its logs.
    starts = [parse_iso(r["bucket"]) for r in data["time_series"]]
    assert starts == sorted(set(starts))
    for start, row in zip(starts, data["time_series"]):
        width = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
        assert start.minute == start.second == 0 and (bucket == "hour" or start.hour == 0)
        inside = [log for log in logs if start <= parse_iso(log["timestamp"]) < start + width]
        assert row["request_count"] == len(inside) > 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=logs_strategy)
def test_the_api_serves_agreeing_numbers(api, services, raw):
    org = services.org
    org.logs.clear()
    org.projects.setdefault("proj_p", {"id": "proj_p", "name": "P"})
    logs = materialize(raw)
    ingest_logs(services.world, org, logs, emit=False)
    response = api.get("/analytics", query_string={"bucket": "hour"})
    assert response.status_code == 200, response.json
    check_agreement(response.json["data"], logs)


def test_given_logs_are_stored_themselves_completed_and_others_as_copies(services):
    org = services.org
    org.logs.clear()
    org.projects.setdefault("proj_p", {"id": "proj_p", "name": "P"})
    mine = [{"id": f"log_g{i}", "project_id": "proj_p", "timestamp": iso(T0 + timedelta(minutes=i)),
             "cost_usd": 0.5, "input_tokens": 3, "output_tokens": 4} for i in range(2)]
    theirs = [dict(log, id=f"log_c{i}") for i, log in enumerate(mine)]
    ingest_logs(services.world, org, mine, emit=False, given=True)
    ingest_logs(services.world, org, theirs, emit=False)
    assert [org.logs[log["id"]] is log for log in mine] == [True, True]
    assert [org.logs[log["id"]] is log for log in theirs] == [False, False]
    assert {(log["status"], log["cost_usd"], log["total_tokens"]) for log in [*mine, *org.logs.values()]} == \
        {("success", "0.500000", 7)}
    assert "status" not in theirs[0], "the caller's own dicts are left as they were"


def test_window_and_project_filters(api, services):
    org = services.org
    for pid in ("proj_a", "proj_b"):
        org.projects[pid] = {"id": pid, "name": pid}
    logs = [{"id": f"log_{i}", "project_id": "proj_a" if i % 3 else "proj_b", "status": "success",
             "timestamp": iso(T0 + timedelta(hours=i)), "provider": "openai", "model_used": "gpt-4o",
             "cost_usd": "1.00", "total_tokens": 10, "latency_ms": 100 * i} for i in range(10)]
    ingest_logs(services.world, org, logs, emit=False)
    q = {"projectId": "proj_a", "startTime": iso(T0 + timedelta(hours=2)), "endTime": iso(T0 + timedelta(hours=7)),
         "bucket": "hour"}
    data = api.get("/analytics", query_string=q).json["data"]
    expected = [log for log in logs if log["project_id"] == "proj_a" and 2 <= int(log["id"][4:]) <= 7]
    assert data["total_requests"] == len(expected) == 4
    assert data["total_cost_usd"] == "4.000000"
    assert data["avg_latency_ms"] == sum(log["latency_ms"] for log in expected) / 4
    assert [r["bucket"] for r in data["time_series"]] == [log["timestamp"] for log in expected]
    day = api.get("/analytics", query_string={"bucket": "day"}).json["data"]
    assert [r["request_count"] for r in day["time_series"]] == [10]


@pytest.mark.parametrize("query", [{"bucket": "week"}, {"bucket": ""}, {"startTime": "yesterday"}])
def test_invalid_analytics_query_is_a_400_envelope(api, query):
    response = api.get("/analytics", query_string=query)
    assert response.status_code == 400
    assert set(response.json) == {"error", "code"} and response.json["error"]


# ── decisions summary ────────────────────────────────────────────────────────


@pytest.fixture
def traffic(api, services, clock):
    """Logs routed by a custom_rules config (gold → @smart, else @cheap) and a fallback config."""
    project = api.post("/projects", json={"name": "Routing"}).json["data"]
    pid = project["id"]

    def config(name, policy, body):
        response = api.post("/routing-configs", json={"projectId": pid, "name": name, "policy": policy, "config": body})
        assert response.status_code == 201, response.json
        return services.org.routing_configs[response.json["data"]["id"]]

    config("cheap", "single", {"model": "gpt-4o-mini"})
    config("smart", "single", {"model": "claude-sonnet-4"})
    rules = config("router", "custom_rules", {"rules": [{"if": "tags.tier == 'gold'", "then": "@smart"},
                                                         {"else": "@cheap"}]})
    chain = config("chain", "fallback", {"attempts": [{"model": "gpt-4o"}, {"model": "gemini-2.0-flash"}]})
    start = clock.now() - timedelta(hours=6)
    logs = []
    for i in range(40):
        request = RouteRequest(model="@router", messages=[{"role": "user", "content": f"hello {i}"}],
                               tags={"tier": "gold" if i % 4 == 0 else "free"}, trace_id=f"t{i}")
        logs.append(routed_log(services.world, services.org, pid, request, start + timedelta(minutes=5 * i),
                               config=rules if i < 30 else chain))
    direct = RouteRequest(model="mistral-small-latest", messages=[{"role": "user", "content": "hi"}])
    logs.append(routed_log(services.world, services.org, pid, direct, start + timedelta(minutes=1)))
    ingest_logs(services.world, services.org, logs)
    return pid, logs


def test_decisions_summary_counts_from_the_traces(api, traffic):
    pid, logs = traffic
    data = api.get(f"/projects/{pid}/decisions/summary").json["data"]
    assert data["total_requests"] == len(logs) == 41
    models = {row["model"]: row["count"] for row in data["model_distribution"]}
    assert models == dict(Counter(log["model_used"] for log in logs))
    assert models == {"gpt-4o-mini": 22, "claude-sonnet-4": 8, "gpt-4o": 10, "mistral-small-latest": 1}
    policies = {row["policy"]: row["count"] for row in data["policy_counts"]}
    assert policies == {"custom_rules": 30, "fallback": 10, "direct": 1}
    skips = {row["reason"]: row["count"] for row in data["top_skip_reasons"]}
    # Free-tier requests skip nothing before the else; the else rule is "skipped" for gold ones.
    expected = Counter(step["reason"] for log in logs for step in (log.get("_trace") or {}).get("steps", [])
                       if step["result"] == "skipped")
    assert skips == dict(expected.most_common(10)) and sum(skips.values()) > 0
    assert sum(row["share"] for row in data["model_distribution"]) == pytest.approx(1.0, abs=1e-3)


def test_decisions_summary_window_and_missing_project(api, traffic):
    pid, logs = traffic
    times = sorted(parse_iso(log["timestamp"]) for log in logs)
    q = {"from": iso(times[10]), "to": iso(times[19])}
    data = api.get(f"/projects/{pid}/decisions/summary", query_string=q).json["data"]
    assert data["total_requests"] == 10
    assert (data["from"], data["to"]) == (q["from"], q["to"])
    missing = api.get("/projects/proj_missing/decisions/summary")
    assert missing.status_code == 404 and set(missing.json) == {"error", "code"}


def test_decisions_summary_engine_uses_the_trace():
    logs = [{"id": "l1", "timestamp": iso(T0), "model_used": "gpt-4o", "_trace": {
        "policy": "fallback", "selected_model": "gpt-4o",
        "steps": [{"rule": "attempts[0]", "result": "selected", "reason": "first"},
                  {"rule": "attempts[1]", "result": "skipped", "reason": "only used on failure"}]}},
            {"id": "l2", "timestamp": iso(T0 + timedelta(days=2)), "model_used": "gpt-4o-mini"}]
    summary = decisions_summary(logs, T0, T0 + timedelta(days=1))
    assert summary["total_requests"] == 1
    assert summary["top_skip_reasons"] == [{"reason": "only used on failure", "count": 1}]
    assert summary["policy_counts"] == [{"policy": "fallback", "count": 1}]
    everything = decisions_summary(logs, None, None)
    assert {r["policy"] for r in everything["policy_counts"]} == {"fallback", "direct"}
