"""Unit tests of the contract suite's parts: pacing, polling, the staging guard, the receiver, the spec-gap table,
the rule registry, the option table and the CLI's argument mapping, and how a rule's run ends (a violation by the
target, or a suite error). Fast; no suite runs (see test_contracts_proof.py)."""

from __future__ import annotations

import argparse
import ast
import json
import os
import threading
import time
from dataclasses import fields as dataclass_fields
from pathlib import Path
from types import SimpleNamespace
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jsonschema_rs
import pytest
from hypothesis import given, settings, strategies as st
from schemathesis.specs.openapi.coverage import _schema as coverage_schema

import contracts.rules
import contracts.runner
from contracts.cli import exit_code, pytest_args, run
from contracts.options import OPTIONS, UsageError, settings_fields_covered, settings_from
from contracts.plugin import pytest_addoption
from contracts.pacing import DEFAULT_RETRY_AFTER, Pacer, parse_retry_after
from contracts.polling import poll
from contracts.receiver import Receiver
from contracts.rules.core import Rule, SuiteError
from contracts.ruleset import RULES
from contracts.runner import judge_rule
from contracts.settings import PHASES, SOURCES, RunSettings
from contracts.conformance import NEVER_FUZZED, conformance_schema
from contracts.hooks import URI_PROBES
from contracts.shard import shard_of
from contracts.specs import api_label_map, gap_table, operation_index
from contracts.observations import Observations
from contracts.oracles import JUDGED, SIMULATION_LIFECYCLE, Exchange, OracleRun, differences
from contracts.target import Created, Guard, Registry, StagingRefusal, Target, api_root, record_exchange
from contracts.transport import TargetFault, _Courier, within
from modelux_spec.errata import URL_PATTERN


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
    assert [exit_code(s) for s in (0, 1, 2, 3, 4, 5, 124)] == [0, 1, 2, 3, 2, 2, 124]


def test_the_repository_schemathesis_toml_configures_schemathesis_as_the_suite_does():
    import tomllib

    from contracts.conformance import FALSE_POSITIVE_OPERATIONS, GLOBAL_CHECKS, STATEFUL_GENERATION
    from contracts.specs import api_label_map

    toml = tomllib.loads((Path(__file__).parent.parent / "schemathesis.toml").read_text())
    assert toml["hooks"] == "contracts.hooks"
    assert toml["operations"] == FALSE_POSITIVE_OPERATIONS
    assert toml["checks"] == GLOBAL_CHECKS
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


# ── polling, the receiver, the 429 loop ─────────────────────────────────────


def test_poll_returns_the_first_answer_or_none_at_the_deadline():
    clock = FakeClock()
    answers = iter([None, 0, "", "ready"])
    assert poll(lambda: next(answers), timeout=10, interval=1, pause=clock.sleep, clock=clock) == "ready"
    assert clock.slept == [1, 1, 1]
    clock = FakeClock()
    assert poll(lambda: None, timeout=2.5, interval=1, pause=clock.sleep, clock=clock) is None
    assert clock.slept == [1, 1, 0.5]  # never past the deadline, and asked once more at it


def test_receiver_waits_end_on_arrival_and_answers_as_programmed():
    with Receiver() as receiver:
        slow = receiver.channel("slow").respond(503, b"later", delay=0.3)
        plain = receiver.channel("plain")
        threading.Timer(0.2, lambda: httpx.post(plain.url, content=b"one")).start()
        started = time.monotonic()
        got = plain.wait_count(1, timeout=30)
        assert got and got[0].body == b"one" and time.monotonic() - started < 5  # woken by the arrival
        answered = httpx.post(slow.url, content=b"x")
        assert (answered.status_code, answered.content) == (503, b"later")
        with pytest.raises(httpx.ReadTimeout):  # the sender gives up before the slow answer; the receiver copes
            httpx.post(slow.url, content=b"y", timeout=httpx.Timeout(10, read=0.1))
        slow.accept_all()
        assert httpx.post(slow.url, content=b"z").status_code == 200
        assert [r.status for r in slow.wait_count(3, timeout=5)] == [503, 503, 200]


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


# ── the option table ────────────────────────────────────────────────────────


class _Recorder:
    """Stands for pytest's parser: records what the plugin declares, into an argparse parser."""

    def __init__(self) -> None:
        self.parser = argparse.ArgumentParser()

    def getgroup(self, *args, **kwargs):
        return self

    def addoption(self, *names, **kwargs):
        self.parser.add_argument(*names, **kwargs)


def test_each_option_is_declared_once_for_the_command_pytest_and_the_settings():
    assert settings_fields_covered() == {f.name for f in dataclass_fields(RunSettings)}
    command = {param.name: param for param in run.params}
    for option in OPTIONS:
        param = command[option.dest]
        assert option.flag in param.opts and param.default == option.default and param.envvar == option.envvar
    recorder = _Recorder()
    pytest_addoption(recorder)
    declared = vars(recorder.parser.parse_args([]))  # every option the plugin declares, at its default
    for option in OPTIONS:
        assert (option.pytest_dest in declared) == (option.command_only is None), option.flag
    # The command's values, through the pytest command line it builds, give the settings they say.
    values = {"base_url": "http://h:1", "token": "t", "other_token": "o", "api_at_root": True, "max_examples": 7,
              "seed": 11, "webhook_host": "h", "webhook_port": 8099, "webhook_wait": 30.0, "strict_spec": True,
              "staging": True, "rate": 30.0, "profile": "strict", "rules": "mx-version-bump", "phases": "coverage",
              "report": "r.json", "request_timeout": 2.5, "max_time": 600.0, "operations": "^GET /logs"}
    args = pytest_args(**values)
    suite_args = args[args.index("--tb=short"):]
    parsed, _ = recorder.parser.parse_known_args([a for a in suite_args if a not in ("-q", "-v")])
    parsed_values = {option.dest: getattr(parsed, option.pytest_dest) for option in OPTIONS
                     if option.command_only is None}
    settings = settings_from(parsed_values)
    assert (settings.base_url, settings.token, settings.other_token, settings.api_at_root) == ("http://h:1", "t", "o",
                                                                                              True)
    assert (settings.max_examples, settings.seed, settings.rate_per_min, settings.profile) == (7, 11, 30.0, "strict")
    assert (settings.webhook_host, settings.webhook_port, settings.webhook_wait) == ("h", 8099, 30.0)
    assert settings.strict_spec and settings.staging and settings.rules == ("MX-VERSION-BUMP",)
    assert settings.phases == ("coverage",) and parsed.mx_report == "r.json"
    assert (settings.request_timeout, settings.max_time, settings.operations) == (2.5, 600.0, "^GET /logs")
    with pytest.raises(SystemExit):  # the table's bounds hold for pytest's options too
        recorder.parser.parse_args(["--webhook-port", "70000"])


def test_settings_defaults_and_staging_defaults():
    plain = settings_from({})
    assert (plain.max_examples, plain.rate_per_min, plain.phases, plain.webhook_wait) == (100, None, PHASES, 120.0)
    assert (plain.request_timeout, plain.max_time) == (10.0, None)
    assert isinstance(plain.seed, int) and plain.profile == "default" and plain.base_url == ""
    staging = settings_from({"staging": True})
    assert (staging.max_examples, staging.rate_per_min, staging.phases) == (5, 60.0, ("examples", "fuzzing"))
    with pytest.raises(UsageError):
        settings_from({"phases": "examples,everything"})
    with pytest.raises(UsageError):
        settings_from({"rules": "MX-NOPE"}, known_rules=lambda code: code in RULES)


def test_operations_narrow_the_phases_before_schemathesis_builds_their_tests():
    labels = api_label_map()
    with pytest.raises(UsageError, match="is not a regular expression"):
        settings_from({"operations": "(projects"}, operations=labels)
    with pytest.raises(UsageError, match="finds no operation"):
        settings_from({"operations": "^PUT "}, operations=labels)
    settings = settings_from({"base_url": "http://127.0.0.1:9", "token": "t", "operations": "^GET /logs|getProject$"},
                             operations=labels)
    kept = {r.ok().label for r in conformance_schema(settings).get_all_operations()}
    assert kept == {"GET /logs", "GET /logs/{id}", "GET /logs/{id}/trace", "GET /projects/{id}"}
    assert settings.wants_operation("GET /projects/{id}", "getProject") and not settings.wants_operation(
        "GET /projects", "listProjects")
    everything = settings_from({"base_url": "http://127.0.0.1:9", "token": "t"}, operations=labels)
    all_labels = [r.ok().label for r in conformance_schema(everything).get_all_operations()]
    assert len(all_labels) == len(labels) - len(NEVER_FUZZED)
    # --shard K/N: each shard builds only the operations whose items it keeps, and together they build each once
    shards = [[r.ok().label for r in conformance_schema(everything, in_shard=(k, 3)).get_all_operations()]
              for k in (1, 2, 3)]
    assert sorted(sum(shards, [])) == sorted(all_labels) and all(shards)
    assert all(shard_of(f"conformance:{label}", 3) == k for k, part in enumerate(shards, 1) for label in part)


# ── the rules: registry, layering, and how a run ends ───────────────────────


RULE_ORDER = [  # `modelux-contracts rules` lists them in this order (MX-PATCH-PARTIAL is the newest)
    "MX-AUTH-REQUIRED", "MX-AUTH-PUBLIC", "MX-KEY-REVOKE-STOPS", "MX-KEY-LAST-USED", "MX-SECRET-APIKEY-ONCE",
    "MX-APIKEY-REVOKE", "MX-SECRET-MGMTKEY-ONCE", "MX-SECRET-WEBHOOK-ONCE", "MX-PROVIDER-APIKEY-WRITE-ONLY",
    "MX-VERSION-HISTORY", "MX-VERSION-BUMP", "MX-VERSION-NOOP", "MX-RESTORE-NEW-VERSION", "MX-RESTORE-UNKNOWN-404",
    "MX-CONFIG-NAME-UNIQUE", "MX-POLICY-INVALID-400", "MX-PATCH-PARTIAL", "MX-DRYRUN-DECISION", "MX-DRYRUN-POLICIES",
    "MX-DRYRUN-POLICIES-OURS", "MX-DELETE-THEN-404", "MX-UNKNOWN-ID-404", "MX-PATCH-PERSISTS", "MX-MEMBERS",
    "MX-ERROR-ENVELOPE", "MX-SUCCESS-ENVELOPE", "MX-TIMESTAMPS-Z", "MX-LOGS-FILTERS", "MX-LOGS-PAGING",
    "MX-LOGS-ORDER", "MX-SCOPE-PROJECT-FILTER", "MX-ORG-ISOLATION", "MX-WEBHOOK-PROJECT-NULL",
    "MX-AUDIT-PER-MUTATION", "MX-AUDIT-TOTAL", "MX-AUDIT-FILTERS", "MX-AUDIT-PAGING", "MX-ANALYTICS-SUMS",
    "MX-TRACE-MATCHES-LOG", "MX-REPLAY-CURRENT-CONFIG", "MX-ESTIMATE-MATCHES-SIM", "MX-SIM-WINDOW-400",
    "MX-SIM-LIFECYCLE", "MX-SIM-PROMOTE", "MX-BUDGET-RESET", "MX-BUDGET-EVENTS-LIMIT", "MX-BUDGET-ALERTS",
    "MX-BUDGET-SOFT-CAP-DEFAULT", "MX-BUDGET-THRESHOLD-WEBHOOK", "MX-WEBHOOK-TEST-EVENT", "MX-WEBHOOK-SIGNATURE",
    "MX-WEBHOOK-ROTATE", "MX-WEBHOOK-RETRY", "MX-WEBHOOK-REPLAY", "MX-WEBHOOK-DELETE-STOPS", "MX-BY-ID",
    "MX-IMMUTABLE-FIELDS", "MX-REJECTED-NO-EFFECT", "MX-ERROR-NO-LEAK", "MX-FOREIGN-LIKE-UNKNOWN",
    "MX-MUTATION-PERSISTS",
]


def test_the_registry_keeps_its_codes_and_order():
    assert list(RULES) == RULE_ORDER


def test_rule_modules_stand_on_core_context_and_common_only():
    """Areas never import each other (their import order is the registry's order), nor import inside functions."""
    package = Path(contracts.rules.__file__).parent
    foundations = {"core", "context", "common"}
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text())
        nested = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                  and node not in tree.body]
        assert not nested, f"{path.name} imports inside a function (line {nested[0].lineno})"
        siblings = {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 1}
        allowed = {"core"} if path.stem == "core" else {"core", "context"} if path.stem == "context" else foundations
        assert siblings <= allowed - {path.stem} | ({None} if path.stem == "__init__" else set()), (path.name,
                                                                                                     siblings)


class FakeTarget:
    """A target on loopback answering each `METHOD /path` (under the API root) with a fixed status and JSON."""

    def __init__(self, answers: dict[str, tuple[int, object]]):
        outer = self
        self.answers = answers

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = outer.answers.get(f"{self.command} {self.path.split('?')[0]}",
                                                 (404, {"error": "no", "code": "not_found"}))
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _judge(fn, answers: dict[str, tuple[int, object]]):
    target = FakeTarget(answers)
    client = Target(target.url, "mlx_mgmt_x", observed=Observations())
    try:
        rule = Rule("MX-TEST", fn.__name__, "a rule of this test", "spec", "tests", fn)
        return judge_rule(rule, client, RunSettings(base_url=target.url, token="mlx_mgmt_x", embedded=True))
    finally:
        client.close()
        target.close()


def test_a_rule_that_crashes_is_a_suite_error_not_a_violation():
    def crashes(ctx):
        counted = {"projects": len(ctx.t.get("/projects").json["data"])}
        return counted["missing"]  # the suite's own bug

    outcome = _judge(crashes, {"GET /api/manage/v1/projects": (200, {"data": []})})
    assert outcome.status == "error" and outcome.violation is None and outcome.code is None
    assert outcome.error.code == "MX-TEST" and isinstance(outcome.error.error, KeyError)
    assert "suite error (a bug in modelux-contracts, not in the target)" in outcome.reason
    assert outcome.error.where.startswith("tests/test_contracts_units.py:") and "in crashes" in outcome.error.where
    with pytest.raises(SuiteError):  # what the suite's test item raises, for the plugin to file it apart
        contracts.runner._report(outcome)


def test_an_answer_without_its_documented_shape_is_a_violation():
    def makes_a_project(ctx):
        ctx.project()

    listed = _judge(makes_a_project, {"POST /api/manage/v1/projects": (201, {"data": [{"id": "proj_1"}]})})
    assert listed.status == "failed" and listed.code == "MX-TEST"
    assert "setup: POST /projects: expected an object, got a list" in listed.reason
    nameless = _judge(makes_a_project, {"POST /api/manage/v1/projects": (201, {"data": {"name": "x"}})})
    assert nameless.status == "failed" and "`id` is missing" in nameless.reason

    def reads_fields(ctx):
        ctx.field(ctx.data_object(ctx.t.get("/projects/p"), 200), "id", str)

    numbered = _judge(reads_fields, {"GET /api/manage/v1/projects/p": (200, {"data": {"id": 5}})})
    assert numbered.status == "failed" and "`id` is an integer (5), expected a string" in numbered.reason


def test_a_target_that_stops_answering_fails_the_rule():
    def asks(ctx):
        ctx.t.get("/projects")

    client = Target("http://127.0.0.1:9", "mlx_mgmt_x", observed=Observations())
    rule = Rule("MX-TEST", "asks", "a rule of this test", "spec", "tests", asks)
    outcome = judge_rule(rule, client, RunSettings(base_url="http://127.0.0.1:9", token="x", embedded=True))
    assert outcome.status == "failed" and "the target stopped answering" in outcome.reason


class _Recorded:
    """A scenario's history as schemathesis' recorder shows it to a check: cases with parents, and answers."""

    def __init__(self):
        self.cases, self.parents, self.answers = [], {}, {}

    def add(self, case_id, method, path, status, body=None, parent=None, params=None, json_body=None):
        case = SimpleNamespace(id=case_id, method=method, operation=SimpleNamespace(path=path),
                               path_parameters=params or {}, body=body)
        self.cases.append(case)
        self.parents[case_id] = parent
        self.answers[case_id] = SimpleNamespace(status_code=status, json=lambda: json_body)
        return case

    def find_parent(self, *, case_id):
        parent = self.parents.get(case_id)
        return next(c for c in self.cases if c.id == parent) if parent else None

    def find_response(self, *, case_id):
        return self.answers.get(case_id)

    def find_all_cases(self):
        return iter(self.cases)


def test_created_resource_check_forgives_a_404_only_after_the_owning_project_went(monkeypatch):
    from schemathesis.openapi.checks import EnsureResourceAvailability

    from contracts import hooks

    def missing(ctx, response, case):
        raise EnsureResourceAvailability(operation="POST /routing-configs", message="gone",
                                         created_with="POST /routing-configs", not_available_with="GET versions")

    monkeypatch.setattr(hooks, "ensure_resource_availability", missing)
    recorded = _Recorded()
    recorded.add("p", "POST", "/routing-configs", 201, body={"projectId": "proj_1"},
                 json_body={"id": "rc_1", "project_id": "proj_1"})
    read = recorded.add("r", "GET", "/routing-configs/{id}/versions", 404, parent="p", params={"id": "rc_1"})
    ctx = SimpleNamespace(internals=SimpleNamespace(recorder=recorded))
    with pytest.raises(EnsureResourceAvailability):  # nothing deleted: the 404 is a failure
        hooks.created_resource_available(ctx, recorded.answers["r"], read)
    recorded.add("d0", "DELETE", "/projects/{id}", 204, params={"id": "proj_2"})  # another project
    recorded.add("d1", "DELETE", "/projects/{id}", 404, params={"id": "proj_1"})  # a failed delete
    with pytest.raises(EnsureResourceAvailability):
        hooks.created_resource_available(ctx, recorded.answers["r"], read)
    recorded.add("d2", "DELETE", "/projects/{id}", 204, params={"id": "proj_1"})
    assert hooks.created_resource_available(ctx, recorded.answers["r"], read) is None


def test_requests_reuse_an_idle_thread_and_never_wait_behind_one_that_is_held_up():
    threads: list[threading.Thread] = []

    def exchange(value):
        threads.append(threading.current_thread())
        return value

    assert within(1, "GET /a", lambda: exchange(1)) == 1
    assert within(1, "GET /b", lambda: exchange(2)) == 2
    assert threads[0] is threads[1] and threads[0] is not threading.current_thread()
    assert threads[0].daemon

    release = threading.Event()
    with pytest.raises(TargetFault, match="GET /slow did not answer within 0.1 s"):
        within(0.1, "GET /slow", lambda: (exchange(0), release.wait(10)))
    held = threads[-1]
    assert within(1, "GET /c", lambda: exchange(3)) == 3  # not queued behind the held thread
    assert threads[-1] is not held
    with pytest.raises(ValueError, match="raised on the courier"):
        within(1, "GET /d", lambda: (_ for _ in ()).throw(ValueError("raised on the courier")))
    release.set()


def test_a_forked_child_sends_through_couriers_of_its_own():
    within(1, "GET /a", lambda: 1)  # the parent now has an idle courier
    with _Courier._lock:  # held by another thread of the parent at the moment of the fork
        pid = os.fork()
        if pid == 0:  # the child: the parent's courier does not exist here, and the lock is not held
            os._exit(0 if within(1, "GET /b", lambda: 2) == 2 else 1)

    def child_ended():
        ended, status = os.waitpid(pid, os.WNOHANG)
        return (ended, status) if ended else None

    done = poll(child_ended, timeout=10, interval=0.05)
    if done is None:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child never got a courier (it waited on its parent's lock)")
    assert os.waitstatus_to_exitcode(done[1]) == 0


# ── what the coverage phase is told about URIs (contracts.hooks) ─────────────

IS_URI = jsonschema_rs.validator_for({"type": "string", "format": "uri"}, validate_formats=True).is_valid


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.from_regex(URL_PATTERN, fullmatch=True))
def test_every_url_the_webhook_pattern_admits_is_a_uri(url):
    """E13's pattern admits only URIs: no webhook `url` can match it and break `format: uri`."""
    assert IS_URI(url), url


def test_the_coverage_phase_skips_format_negatives_only_where_the_pattern_admits_only_uris():
    valid, near = URI_PROBES
    assert all(IS_URI(value) for value in valid)
    assert not any(IS_URI(value) for value in near)
    # E13's pattern: no negative to search for. Looser patterns admit non-URIs, so theirs are still drawn.
    assert coverage_schema._pattern_implies_format(URL_PATTERN, "uri")
    for loose in (r"^https?://\S+$", r"^https?://", r"^[a-z]+:.*$"):
        assert not coverage_schema._pattern_implies_format(loose, "uri"), loose
