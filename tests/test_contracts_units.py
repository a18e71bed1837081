"""Unit tests of the contract suite's parts: pacing, the staging guard, the receiver, the spec-gap table,
the rule registry and the CLI's argument mapping. Fast; no suite runs (see test_contracts_proof.py)."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from contracts.cli import exit_code, pytest_args
from contracts.pacing import DEFAULT_RETRY_AFTER, Pacer, parse_retry_after
from contracts.receiver import Receiver
from contracts.rules import SOURCES
from contracts.ruleset import RULES
from contracts.specs import gap_table, operation_index
from contracts.observations import Observations
from contracts.oracles import JUDGED, SIMULATION_LIFECYCLE, Exchange, OracleRun, differences
from contracts.target import Created, Guard, Registry, StagingRefusal, Target, api_root, record_exchange


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_pacer_spaces_requests_at_the_rate():
    clock = FakeClock()
    pacer = Pacer(60, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        pacer.acquire()
    assert pacer.sent == 5
    assert clock.now == pytest.approx(4.0)  # one a second after the first


def test_unpaced_pacer_never_sleeps():
    clock = FakeClock()
    pacer = Pacer(None, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        pacer.acquire()
    assert clock.slept == [] and pacer.sent == 100


def test_retry_after_seconds_dates_and_garbage():
    assert parse_retry_after("7") == 7
    assert parse_retry_after(None) == DEFAULT_RETRY_AFTER
    assert parse_retry_after("soon") == DEFAULT_RETRY_AFTER
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == pytest.approx(30)
    assert parse_retry_after("100000") == 300  # capped


def test_target_honours_retry_after_on_429():
    answers = [429, 429, 200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            status = answers.pop(0)
            body = b'{"data": []}' if status == 200 else b'{"error": "slow down", "code": "rate_limited"}'
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        target = Target(f"http://127.0.0.1:{server.server_address[1]}", "mlx_mgmt_x", pacer=Pacer(None))
        reply = target.get("/projects")
        assert reply.status == 200 and target.pacer.throttled == 2
    finally:
        server.shutdown()


def test_pacer_send_honours_retry_after_then_gives_the_last_answer():
    clock = FakeClock()
    pacer = Pacer(None, clock=clock, sleep=clock.sleep)

    class Answer:
        def __init__(self, status: int, retry_after: str | None = None):
            self.status_code, self.headers = status, {"Retry-After": retry_after} if retry_after else {}

    answers = iter([Answer(429, "2"), Answer(429), Answer(200)])
    assert pacer.send(lambda: next(answers)).status_code == 200
    assert clock.slept == [2, DEFAULT_RETRY_AFTER] and pacer.throttled == 2 and pacer.sent == 3
    always = pacer.send(lambda: Answer(429, "0"), retries=2)
    assert always.status_code == 429 and pacer.sent == 6  # the first send and two retries, then it gives up


def test_api_root_is_the_url_given_or_the_spec_path_on_a_bare_origin():
    assert api_root("http://h:1") == "http://h:1/api/manage/v1"
    assert api_root("http://h:1/") == "http://h:1/api/manage/v1"
    assert api_root("http://h:1/api/manage/v1/") == "http://h:1/api/manage/v1"
    assert api_root("https://gw.example.com/modelux/v1") == "https://gw.example.com/modelux/v1"  # verbatim
    assert api_root("http://h:1", at_root=True) == "http://h:1"  # the API at the origin's root (Prism)


def test_guard_never_deletes_the_org_or_revokes_the_key_in_use():
    guard = Guard(Registry(), staging=False)
    guard.org_ids.add("org_1")
    guard.protected_keys.add("mk_1")
    with pytest.raises(StagingRefusal):
        guard.check("DELETE", "/api/manage/v1/orgs/org_1")
    with pytest.raises(StagingRefusal):
        guard.check("DELETE", "/management-keys/mk_1")
    guard.check("DELETE", "/orgs/org_unknown")  # a made-up id: the target answers 404
    guard.check("DELETE", "/projects/proj_anything")  # outside staging, the suite may delete what it finds


def test_staging_guard_touches_only_what_the_run_created():
    registry = Registry()
    guard = Guard(registry, staging=True)
    registry.add(Created("project", "proj_mine"))
    registry.see({"proj_theirs", "proj_mine", "bud_theirs"})
    guard.check("DELETE", "/projects/proj_mine")
    guard.check("PATCH", "/projects/proj_mine", {"name": "x"})
    guard.check("PATCH", "/projects/proj_random", {"name": "x"})  # never seen: a generated id, answers 404
    guard.check("GET", "/projects/proj_theirs")
    for method, path, body in [("DELETE", "/projects/proj_theirs", None), ("DELETE", "/projects/proj_random", None),
                               ("PATCH", "/projects/proj_theirs", {"name": "x"}), ("DELETE", "/orgs/org_x", None),
                               ("DELETE", "/budgets/bud_theirs/alerts", {"alertId": "balert_x"}),
                               ("PATCH", "/orgs/org_x", {"name": "x"})]:
        with pytest.raises(StagingRefusal):
            guard.check(method, path, body)


def test_staging_guard_lets_the_run_replay_deliveries_of_its_own_endpoints():
    registry, observed = Registry(), Observations()
    guard = Guard(registry, staging=True)
    registry.add(Created("webhook_endpoint", "whep_mine"))
    registry.see({"whdel_mine", "whdel_listed", "whdel_fetched", "whdel_theirs"})
    exchanges = [
        ("POST", "/webhooks/endpoints/whep_mine/test", {"data": {"delivery_id": "whdel_mine"}}),
        ("GET", "/webhooks/endpoints/whep_mine/deliveries", {"data": [{"id": "whdel_listed"}]}),
        ("GET", "/webhooks/deliveries/whdel_fetched", {"data": {"id": "whdel_fetched", "endpoint_id": "whep_mine"}}),
        ("GET", "/webhooks/endpoints/whep_theirs/deliveries", {"data": [{"id": "whdel_theirs"}]}),
    ]
    for method, path, payload in exchanges:
        record_exchange(registry, observed, method, path, None, 200, payload, track_ids=True)
    for mine in ("whdel_mine", "whdel_listed", "whdel_fetched"):
        guard.check("POST", f"/webhooks/deliveries/{mine}/replay")
    with pytest.raises(StagingRefusal):
        guard.check("POST", "/webhooks/deliveries/whdel_theirs/replay")
    assert [item.id for item in registry.pending()] == ["whep_mine"]  # cleanup deletes the endpoint only


def test_receiver_records_and_fails_on_demand():
    receiver = Receiver().start()
    try:
        channel = receiver.channel("t")
        channel.fail_next(1, 503)
        first = httpx.post(channel.url, content=b"one")
        second = httpx.post(channel.url, content=b"two")
        got = channel.wait_count(2, timeout=5)
        assert (first.status_code, second.status_code) == (503, 200)
        assert [r.body for r in got] == [b"one", b"two"] and [r.status for r in got] == [503, 200]
        assert channel.wait_count(3, timeout=0.2) is None  # bounded: gives up at the deadline
        assert receiver.channel("other").snapshot() == []
        channel.fail_next(5, 500)
        assert httpx.post(channel.url, content=b"three").status_code == 500
        channel.accept_all()  # the four failures still programmed are dropped
        assert httpx.post(channel.url, content=b"four").status_code == 200
    finally:
        receiver.stop()


def test_gap_table_names_the_errata_that_document_undocumented_answers():
    table = gap_table()
    assert table[("listLogs", "400")].erratum == "E2"
    assert table[("promoteSimulation", "409")].erratum == "E3"
    assert table[("createApiKey", "404")].erratum == "E14"
    assert ("createProject", "400") not in table  # the upstream spec documents it


def test_operation_index_prefers_literal_segments():
    index = operation_index()
    assert index.find("POST", "/routing-configs/dry-run")[0] == "dryRunRoutingConfig"
    assert index.find("POST", "/api/manage/v1/routing-configs/rc_1/restore")[2] == {"id": "rc_1"}
    assert index.find("GET", "/simulations/estimate")[0] == "estimateSimulation"
    assert len(index.labels) == 67


def test_every_rule_is_documented_and_sourced():
    for rule in RULES.values():
        assert rule.code.startswith("MX-") and rule.source in SOURCES
        assert "DOMAIN.md" in rule.doc or "Spec" in rule.doc, rule.code
        assert rule.ref and rule.title


def test_cli_maps_options_to_pytest_and_exit_codes():
    args = pytest_args(base_url="http://x", token="t", junit="r.xml", workers="2", max_examples=5, seed=1,
                       webhook_host=None, webhook_port=None, webhook_wait=None, strict_spec=True, staging=True,
                       rate=30, profile="strict", rules="MX-VERSION-BUMP", phases=None, report=None, verbose=1)
    joined = " ".join(args)
    for part in ("-p contracts.plugin", "--base-url http://x", "--junitxml r.xml", "-n 2 --dist loadgroup",
                 "--max-examples 5", "--contract-seed 1", "--strict-spec", "--staging", "--rate 30",
                 "--profile strict", "--rules MX-VERSION-BUMP"):
        assert part in joined
    assert [exit_code(s) for s in (0, 1, 2, 3, 4, 5)] == [0, 1, 2, 2, 2, 2]


def test_the_repository_schemathesis_toml_configures_schemathesis_as_the_suite_does():
    import tomllib
    from pathlib import Path

    from contracts.conformance import FALSE_POSITIVE_OPERATIONS, STATEFUL_GENERATION
    from contracts.specs import api_label_map

    toml = tomllib.loads((Path(__file__).parent.parent / "schemathesis.toml").read_text())
    assert toml["hooks"] == "contracts.hooks"
    assert toml["operations"] == FALSE_POSITIVE_OPERATIONS
    assert toml["phases"]["stateful"]["generation"] == STATEFUL_GENERATION
    named = {op for override in FALSE_POSITIVE_OPERATIONS for op in override["include-operation-id"]}
    assert named <= set(api_label_map())  # a renamed operation would silently switch nothing off


def _exchange(method: str, path: str, status: int, json_body) -> Exchange:
    return Exchange(method, path, status, json_body, json.dumps(json_body))


def test_leak_oracle_finds_server_insides_and_spares_human_messages():
    run = OracleRun(lambda *a, **k: None, strict=True, only={"MX-ERROR-NO-LEAK"})
    human = _exchange("POST", "/projects", 400, {"error": "name: 5 is not of type 'string'", "code": "invalid_body"})
    assert run.after(human) == [] and run.tally["MX-ERROR-NO-LEAK"] == 1
    for text in ('Traceback (most recent call last):\n  File "/srv/app/x.py", line 3', "internal error: KeyError",
                 "at com.acme.Api.get(Api.java:42)", "boom at handler (/app/dist/server.js:10:5)"):
        found = run.after(_exchange("GET", "/projects", 500, {"error": text, "code": "internal_error"}))
        assert [f.code for f in found] == ["MX-ERROR-NO-LEAK"], text
    assert JUDGED == ""  # an oracle that judged and found nothing returns this (falsy, not None)


def test_by_id_oracle_compares_the_answer_with_the_path():
    run = OracleRun(lambda *a, **k: None, only={"MX-BY-ID"})
    assert run.after(_exchange("GET", "/projects/proj_1", 200, {"data": {"id": "proj_1"}})) == []
    found = run.after(_exchange("GET", "/projects/proj_1", 200, {"data": {"id": "proj_2"}}))
    assert found and "proj_2" in found[0].message
    events = {"data": [{"id": "bevt_1", "budget_id": "bud_1"}, {"id": "bevt_2", "budget_id": "bud_9"}]}
    assert run.after(_exchange("GET", "/budgets/bud_1/events", 200, events))
    assert run.after(_exchange("GET", "/projects/proj_1", 404, {"error": "x", "code": "not_found"})) == []


def test_a_simulation_may_move_forwards_between_reads_and_nothing_else():
    moving = {"processed_count"}
    assert differences({"status": "pending", "processed_count": 0}, {"status": "completed", "processed_count": 9},
                       moving, SIMULATION_LIFECYCLE) == []
    assert differences({"status": "cancelled"}, {"status": "completed"}, moving, SIMULATION_LIFECYCLE)
    assert differences({"status": "running", "name": "a"}, {"status": "running", "name": "b"}, moving,
                       SIMULATION_LIFECYCLE) == ["`name` 'a' became 'b'"]
    assert differences({"created_at": "2026-01-01T00:00:00Z"}, {"created_at": "2026-01-01T00:00:00.000Z"}) == []
