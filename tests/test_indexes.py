"""The log index (`mockserver.engines.logindex`): every read it answers equals the brute-force
definition recomputed over all logs — analytics (`analytics.report`), budget spend
(`budgets.current_spend` over a plain list), `GET /logs` paging, windows, signal counts — before
and after logs arrive, are replaced or go away, across resets and period boundaries.

Time is a ManualClock; the logs are seeded random traffic, so failures reproduce.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from mockserver.clock import iso, parse_iso
from mockserver.engines.analytics import ANOMALY_RULE, HEALTH_RULE, SignalRule, decisions_summary, report, window_counts
from mockserver.engines.budgets import current_spend
from mockserver.engines.logindex import LogTable
from mockserver.engines.routing import RouteRequest
from mockserver.engines.simulations import select_logs
from mockserver.domain.logs import ingest_logs, routed_log

UTC = timezone.utc
T0 = datetime(2026, 10, 27, 22, 0, tzinfo=UTC)  # a Tuesday evening: days, a week and a month end ahead
PROJECTS = ["proj_a", "proj_b", "proj_c"]
USERS = ["u1", "u2", "u3", None]
PROVIDERS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4"),
             ("google", "gemini-2.0-flash"), (None, None), ("unknown", "unknown")]


def ok(response, status: int = 200):
    assert response.status_code == status, response.json
    return response.json["data"]


def random_log(rng: random.Random, n: int, start: datetime = T0, span_hours: int = 24 * 9) -> dict:
    provider, model = rng.choice(PROVIDERS)
    moment = start + timedelta(milliseconds=rng.randrange(span_hours * 3_600_000))
    if rng.random() < 0.05:  # exactly on an hour boundary
        moment = moment.replace(minute=0, second=0, microsecond=0)
    return {
        "id": f"log_{n:05d}_{rng.getrandbits(20):05x}",
        "project_id": rng.choice(PROJECTS),
        "timestamp": iso(moment),
        "status": "error" if rng.random() < 0.2 else "success",
        "provider": provider,
        "model_used": model,
        "latency_ms": rng.choice([None, rng.randint(50, 5000)]),
        "total_tokens": rng.choice([None, rng.randint(0, 9000)]),
        "cost_usd": rng.choice([None, f"{rng.randint(0, 3_000_000) / 1_000_000:.6f}", "0.000000"]),
        "end_user_id": rng.choice(USERS),
    }


def brute_report(logs: list[dict], project, start, end, bucket) -> dict:
    return report([log for log in logs if project is None or log["project_id"] == project], start, end, bucket)


def brute_page(logs: list[dict], project=None, user=None, status=None, offset=0, limit=50) -> list[dict]:
    found = [log for log in sorted(logs, key=lambda log: (log["timestamp"], log["id"]), reverse=True)
             if (project is None or log["project_id"] == project) and (user is None or log.get("end_user_id") == user)
             and (status is None or log.get("status") == status)]
    return found[offset:offset + limit]


def random_moment(rng: random.Random, around: datetime = T0, days: int = 10) -> datetime:
    return around + timedelta(microseconds=rng.randrange(-86400 * 10**6, days * 86400 * 10**6))


def budget(scope_type: str, scope_id, period: str, reset: datetime | None = None) -> dict:
    found = {"id": "bud_x", "name": "x", "scope_type": scope_type, "scope_id": scope_id, "period": period,
             "amount_usd": "10.00", "soft_cap_pct": 80, "hard_cap_action": "block", "downgrade_to": None,
             "active": True}
    if reset is not None:
        found["_reset_at"] = iso(reset)
    return found


BUDGET_SCOPES = [("org", None), ("project", "proj_a"), ("project", "proj_zzz"), ("end_user", "u1"),
                 ("end_user", "nobody"), ("end_user", None), ("project", None)]


def assert_index_agrees(table: LogTable, rng: random.Random, rounds: int = 12) -> None:
    """Every indexed read equals its brute-force definition over the table's logs."""
    logs = list(table.values())
    for _ in range(rounds):
        project = rng.choice(PROJECTS + [None, "proj_zzz"])
        start = None if rng.random() < 0.2 else random_moment(rng)
        end = None if rng.random() < 0.2 else (start or T0) + timedelta(microseconds=rng.randrange(9 * 86400 * 10**6))
        if rng.random() < 0.2 and start is not None:  # boundaries exactly on a log's timestamp
            pick = rng.choice(logs) if logs else None
            start = parse_iso(pick["timestamp"]) if pick else start
        bucket = rng.choice(["hour", "day"])
        assert table.report(project, start, end, bucket) == brute_report(logs, project, start, end, bucket), \
            (project, start, end, bucket)
        assert table.between(project, start, end) == [
            log for log in logs if (project is None or log["project_id"] == project)
            and (start is None or parse_iso(log["timestamp"]) >= start)
            and (end is None or parse_iso(log["timestamp"]) <= end)]
        now = random_moment(rng)
        scope_type, scope_id = rng.choice(BUDGET_SCOPES)
        reset = random_moment(rng, now, 0) if rng.random() < 0.5 else None
        for period in ("daily", "weekly", "monthly"):
            spec = budget(scope_type, scope_id, period, reset)
            assert current_spend(spec, table, now) == current_spend(spec, logs, now), (spec, now)
        user = rng.choice(USERS[:3] + [None, None])
        status = rng.choice(["success", "error", None])
        offset, limit = rng.choice([0, 0, 3, 40]), rng.choice([1, 7, 50, 200])
        page_project = rng.choice(PROJECTS + [None])
        assert table.newest_first(page_project, user, status, offset, limit) == \
            brute_page(logs, page_project, user, status, offset, limit)
    for rule in (ANOMALY_RULE, HEALTH_RULE, SignalRule(window_seconds=600, min_requests=2, error_rate=0.3)):
        for key, wanted in (("project_id", None), ("project_id", {"proj_b"}), ("provider", {"openai", "google"})):
            expected = {k: v for k, v in window_counts(logs, rule, key).items() if wanted is None or k[0] in wanted}
            assert dict(table.window_counts(rule, key, wanted)) == expected


# ── the table against brute force ───────────────────────────────────────────


def test_reads_equal_brute_force_as_logs_come_and_go():
    rng = random.Random(9)
    table = LogTable()
    assert_index_agrees(table, rng, rounds=2)  # empty
    n = 0
    for _ in range(300):
        table[f"pending_{n}"] = log = random_log(rng, n)
        del table[f"pending_{n}"]
        table[log["id"]] = log
        n += 1
    assert_index_agrees(table, rng)  # built from a bulk of logs
    for step in range(6):
        for _ in range(40):  # more logs, at any time (older ones too)
            log = random_log(rng, n, T0 - timedelta(days=2), 24 * 12)
            table[log["id"]] = log
            n += 1
        for key in rng.sample(list(table), 15):  # some go away
            del table[key]
        victim = rng.choice(list(table))  # one is replaced: same id, other facts
        table[victim] = {**random_log(rng, n), "id": victim}
        table.pop(rng.choice(list(table)))
        table.setdefault("log_new_%d" % step, {**random_log(rng, n), "id": "log_new_%d" % step})
        table.update({f"log_upd_{step}": {**random_log(rng, n), "id": f"log_upd_{step}"}})
        assert_index_agrees(table, rng)
        # A batch as ingestion stores it: mostly one hour (the cells read since then are all stale), a few any time.
        hour = random_moment(rng).replace(minute=0, second=0, microsecond=0)
        table.store([random_log(rng, n + i, hour, 1) for i in range(30)] +
                    [random_log(rng, n + 30 + i) for i in range(5)])
        n += 35
        assert_index_agrees(table, rng)
    table.remove_many([key for key, log in table.items() if log["project_id"] == "proj_b"])
    assert all(log["project_id"] != "proj_b" for log in table.values())
    assert_index_agrees(table, rng)
    table.clear()
    assert_index_agrees(table, rng, rounds=2)


def test_a_replaced_log_keeps_its_place_in_insertion_order():
    """Ties in `by_provider` follow the dict's order, which a replacement keeps (as a dict does)."""
    table = LogTable()
    one = {"id": "l1", "project_id": "p", "timestamp": "2026-11-01T10:00:00.000Z", "provider": "zeta", "status": "success"}
    two = {"id": "l2", "project_id": "p", "timestamp": "2026-11-01T11:00:00.000Z", "provider": "alpha", "status": "success"}
    table["l1"], table["l2"] = one, two
    assert [p["provider"] for p in table.report(None, None, None, "day")["by_provider"]] == ["zeta", "alpha"]
    table["l1"] = {**one, "timestamp": "2026-11-01T12:00:00.000Z"}
    rows = table.report(None, None, None, "day")["by_provider"]
    assert [p["provider"] for p in rows] == ["zeta", "alpha"]
    assert rows == brute_report(list(table.values()), None, None, None, "day")["by_provider"]
    del table["l1"]
    table["l1"] = one
    assert [p["provider"] for p in table.report(None, None, None, "day")["by_provider"]] == ["alpha", "zeta"]


def test_odd_values_are_exact_too():
    """Non-integer latencies (float sums depend on order), costs with more than six decimals,
    timestamps with offsets or without milliseconds: the same numbers as brute force."""
    rng = random.Random(4)
    table = LogTable()
    for n in range(120):
        log = random_log(rng, n, span_hours=72)
        if n % 3 == 0:
            log["latency_ms"] = rng.uniform(0.1, 3000.0)
        if n % 5 == 0:
            log["cost_usd"] = f"{rng.randint(0, 10**9) / 10**9:.9f}"
        if n % 7 == 0:
            moment = parse_iso(log["timestamp"]).astimezone(timezone(timedelta(hours=-5)))
            log["timestamp"] = moment.isoformat()
        if n % 11 == 0:
            log["timestamp"] = log["timestamp"][:19] + "Z" if log["timestamp"].endswith("Z") else log["timestamp"]
        if n % 13 == 0:
            log["total_tokens"] = float(rng.randint(0, 900))
            log["latency_ms"] = float(rng.randint(1, 900))
        table[log["id"]] = log
    logs = list(table.values())
    for start, end in [(None, None), (T0 + timedelta(hours=5, microseconds=1), T0 + timedelta(hours=50)),
                       (T0 + timedelta(minutes=30), T0 + timedelta(minutes=90))]:
        for bucket in ("hour", "day"):
            for project in (None, "proj_a"):
                assert table.report(project, start, end, bucket) == brute_report(logs, project, start, end, bucket)
    for scope_type, scope_id in BUDGET_SCOPES:
        spec = budget(scope_type, scope_id, "weekly")
        for now in (T0 + timedelta(hours=30), T0 + timedelta(days=2, microseconds=7)):
            assert current_spend(spec, table, now) == current_spend(spec, logs, now)
    assert table.newest_first(limit=500) == brute_page(logs, limit=500)

    # Whole numbers as floats: a float token count makes the reported total a float.
    plain = LogTable()
    for n in range(40):
        log = random_log(rng, n, span_hours=30)
        log.update(latency_ms=float(rng.randint(1, 900)), total_tokens=float(rng.randint(0, 900)) if n == 7 else 5)
        plain[log["id"]] = log
    for bucket in ("hour", "day"):
        found = plain.report(None, None, None, bucket)
        assert found == brute_report(list(plain.values()), None, None, None, bucket)
        assert type(found["total_tokens"]) is float


def test_whole_hours_and_days_respect_open_and_closed_bounds():
    """A reset exactly on the hour (or midnight) leaves out the log of that very millisecond;
    a window starting there keeps it."""
    table = LogTable()
    midnight = datetime(2026, 11, 2, tzinfo=UTC)
    for n, moment in enumerate([midnight, midnight + timedelta(hours=1), midnight + timedelta(hours=1, minutes=5),
                                midnight + timedelta(days=1), midnight + timedelta(days=1, hours=2)]):
        table[f"l{n}"] = {"id": f"l{n}", "project_id": "p", "timestamp": iso(moment), "status": "success",
                          "provider": "openai", "model_used": "gpt-4o", "cost_usd": f"{n + 1}.000000",
                          "latency_ms": 100, "end_user_id": "u1"}
    logs = list(table.values())
    now = midnight + timedelta(days=2)
    for reset in (midnight, midnight + timedelta(hours=1)):
        for scope_type, scope_id in (("org", None), ("project", "p"), ("end_user", "u1")):
            spec = budget(scope_type, scope_id, "monthly", reset)
            assert current_spend(spec, table, now) == current_spend(spec, logs, now) == \
                sum(Decimal(log["cost_usd"]) for log in logs if parse_iso(log["timestamp"]) > reset)
    for start in (midnight, midnight + timedelta(hours=1)):
        assert table.report(None, start, now, "day") == brute_report(logs, None, start, now, "day")
        assert table.report(None, start, now, "day")["total_requests"] == sum(
            1 for log in logs if parse_iso(log["timestamp"]) >= start)


def test_copies_carry_the_logs_and_index_them_afresh():
    import copy
    import pickle

    rng = random.Random(6)
    table = LogTable()
    for n in range(50):
        log = random_log(rng, n)
        table[log["id"]] = log
    table.report(None, None, None, "day")
    for twin in (copy.deepcopy(table), pickle.loads(pickle.dumps(table)), copy.copy(table)):
        assert type(twin) is LogTable and twin == table and list(twin) == list(table)
        log = random_log(rng, 99)
        twin[log["id"]] = log
        assert twin.report(None, None, None, "hour") == brute_report(list(twin.values()), None, None, None, "hour")
        assert log["id"] not in table


def test_reads_do_not_scan_the_logs_once_indexed():
    """After the first read builds the indexes, analytics, spend and paging never iterate the dict."""

    class Guarded(LogTable):
        armed = False

        def values(self):
            assert not self.armed, "a read scanned every log"
            return super().values()

        def items(self):
            assert not self.armed, "a read scanned every log"
            return super().items()

        def __iter__(self):
            assert not self.armed, "a read scanned every log"
            return super().__iter__()

    rng = random.Random(2)
    table = Guarded()
    for n in range(200):
        log = random_log(rng, n)
        table[log["id"]] = log
    table.buckets, table.listing  # noqa: B018  (build both)
    table.armed = True
    table.report("proj_a", T0 + timedelta(hours=3, minutes=7), T0 + timedelta(days=4), "hour")
    table.report(None, None, None, "day")
    current_spend(budget("org", None, "monthly"), table, T0 + timedelta(days=5))
    current_spend(budget("end_user", "u1", "daily"), table, T0 + timedelta(days=2))
    table.newest_first("proj_b", None, "error", 3, 20)
    table.between("proj_c", T0, T0 + timedelta(days=1))
    table.window_counts(HEALTH_RULE, "provider", {"openai"})
    log = random_log(rng, 999)
    table[log["id"]] = log
    del table[log["id"]]


# ── through the API, on a ManualClock ──────────────────────────────────────


@pytest.fixture
def traffic(api, services, clock):
    """Three projects with a config each and 300 routed logs over the last 9 days."""
    org, world = services.org, services.world
    rng = random.Random(5)
    projects = [ok(api.post("/projects", json={"name": f"P{i}"}), 201)["id"] for i in range(3)]
    configs = {pid: ok(api.post("/routing-configs", json={
        "projectId": pid, "name": "prod", "policy": "fallback",
        "config": {"attempts": [{"model": rng.choice(["gpt-4o", "claude-sonnet-4", "gemini-2.0-flash"])},
                                {"model": "gpt-4o-mini"}], "retry_on": ["timeout"]}}), 201) for pid in projects}
    batch = []
    for n in range(300):
        pid = rng.choice(projects)
        request = RouteRequest(model="@prod", messages=[{"role": "user", "content": f"q{n}"}],
                               end_user_id=rng.choice(["u1", "u2", None]), trace_id=f"t{n}")
        moment = clock.now() - timedelta(milliseconds=rng.randrange(9 * 86400 * 1000))
        error = rng.random() < 0.15
        batch.append(routed_log(world, org, pid, request, moment, config=org.routing_configs[configs[pid]["id"]],
                                status="error" if error else "success", error_message="boom" if error else None,
                                latency_ms=rng.randint(100, 4000)))
    ingest_logs(world, org, batch)
    return {"projects": projects, "configs": configs}


def api_matches_brute_force(api, services, clock, projects) -> None:
    logs = list(services.org.logs.values())
    now = clock.now()
    for project in [None, *projects]:
        for start, end, bucket in [(None, None, "day"), (now - timedelta(days=3, minutes=17), now, "hour"),
                                   (now - timedelta(days=8), now - timedelta(days=1, seconds=3), "day")]:
            query = {"bucket": bucket, **({"projectId": project} if project else {}),
                     **({"startTime": iso(start)} if start else {}), **({"endTime": iso(end)} if end else {})}
            expected = brute_report(logs, project, start and parse_iso(iso(start)), end and parse_iso(iso(end)), bucket)
            assert ok(api.get("/analytics", query_string=query)) == {**expected, "project_id": project}
    for found in ok(api.get("/budgets")):
        spec = services.org.budgets[found["id"]]
        assert Decimal(found["current_spend_usd"]) == current_spend(spec, logs, now)
    pages = [ok(api.get("/logs", query_string={"limit": 200, "offset": offset})) for offset in (0, 200)]
    assert [log["id"] for page in pages for log in page] == [log["id"] for log in brute_page(logs, limit=400)]
    only = ok(api.get("/logs", query_string={"projectId": projects[0], "status": "error", "limit": 7, "offset": 2}))
    assert [log["id"] for log in only] == [log["id"] for log in brute_page(logs, projects[0], None, "error", 2, 7)]


def test_api_reads_equal_brute_force_through_additions_resets_deletes_and_periods(api, services, clock, traffic):
    projects = traffic["projects"]
    for scope_type, scope_id, period in [("org", None, "monthly"), ("project", projects[0], "weekly"),
                                         ("project", projects[1], "daily"), ("end_user", "u1", "daily")]:
        body = {"name": f"{scope_type} {period}", "scope_type": scope_type, "period": period, "amount_usd": "3"}
        if scope_id is not None:
            body["scope_id"] = scope_id
        ok(api.post("/budgets", json=body), 201)
    api_matches_brute_force(api, services, clock, projects)

    # Replays and simulations read the indexed logs; new traffic arrives afterwards.
    some = ok(api.get("/logs", query_string={"limit": 3}))
    for log in some:
        ok(api.post(f"/logs/{log['id']}/replay"))
    window = {"window_start": iso(clock.now() - timedelta(days=2)), "window_end": iso(clock.now())}
    simulation = ok(api.post("/simulations", json={
        "name": "s", "project_id": projects[0], "candidate_policy": "single", "candidate_config": {"model": "gpt-4o"},
        **window}), 201)
    logs = list(services.org.logs.values())
    chosen = select_logs(logs, projects[0], parse_iso(window["window_start"]), parse_iso(window["window_end"]))
    assert simulation["request_count"] == len(chosen)
    estimate = ok(api.get("/simulations/estimate", query_string={
        "projectId": projects[0], "from": window["window_start"], "to": window["window_end"]}))
    assert estimate["request_count"] == len(chosen)
    summary = ok(api.get(f"/projects/{projects[1]}/decisions/summary",
                         query_string={"from": window["window_start"], "to": window["window_end"]}))
    assert summary == {"project_id": projects[1], **decisions_summary(
        [log for log in logs if log["project_id"] == projects[1]],
        parse_iso(window["window_start"]), parse_iso(window["window_end"]))}

    org, world = services.org, services.world
    config = org.routing_configs[traffic["configs"][projects[0]]["id"]]
    later = [routed_log(world, org, projects[0], RouteRequest(model="@prod", end_user_id="u1", trace_id=f"late{n}",
                                                                 input_tokens=900), clock.now() - timedelta(minutes=n),
                        config=config) for n in range(20)]
    ingest_logs(world, org, later)
    api_matches_brute_force(api, services, clock, projects)

    # A reset, then more spend in and after the reset's millisecond.
    for found in ok(api.get("/budgets")):
        clock.advance(0.25)
        ok(api.post(f"/budgets/{found['id']}/reset"))
    ingest_logs(world, org, [routed_log(world, org, projects[0], RouteRequest(model="gpt-4o", end_user_id="u1",
                                                                             input_tokens=5000), clock.now())])
    clock.advance(1)
    ingest_logs(world, org, [routed_log(world, org, projects[0], RouteRequest(model="gpt-4o", end_user_id="u1",
                                                                             input_tokens=7000), clock.now())])
    api_matches_brute_force(api, services, clock, projects)

    # Period boundaries: the next day, the next week, the next month.
    for hours in (14, 24 * 6, 24 * 30):
        clock.advance(hours * 3600)
        api_matches_brute_force(api, services, clock, projects)

    # Deleting a project takes its logs out of every read.
    ok(api.delete(f"/projects/{projects[2]}"))
    assert all(log["project_id"] != projects[2] for log in org.logs.values())
    api_matches_brute_force(api, services, clock, projects[:2])


def test_a_seeded_world_reads_the_same_from_its_index():
    from fixtures import generate

    anchor = parse_iso("2026-11-01T00:00:00Z")
    org = generate(3, anchor, 1500).org
    logs = list(org.logs.values())
    rng = random.Random(1)
    for _ in range(25):
        project = rng.choice(list(org.projects) + [None])
        start = anchor - timedelta(seconds=rng.randrange(32 * 86400), microseconds=rng.randrange(10**6))
        end = start + timedelta(seconds=rng.randrange(20 * 86400))
        for bucket in ("hour", "day"):
            assert org.logs.report(project, start, end, bucket) == brute_report(logs, project, start, end, bucket)
    for spec in org.budgets.values():
        for hours in (0, 5, 30, 24 * 8):
            now = anchor - timedelta(hours=hours, milliseconds=rng.randrange(3_600_000))
            assert current_spend(spec, org.logs, now) == current_spend(spec, logs, now), spec["name"]
