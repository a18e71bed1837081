"""The served validation path judges exactly as openapi-core does, for every operation.

The mock validates with validators compiled once at boot (`mockserver/compiled.py`) and keeps
openapi-core as the oracle (`mockserver/validation.py`). Over requests and responses generated
for all operations of the effective spec — valid and invalid ones, from schemathesis' strategies,
plus the errata's edge cases (nulls, empty query values, policy-shaped configs, decimal strings) —
these tests show:

* the served path (the real Flask app, handlers replaced by a recorder) accepts a request exactly
  when openapi-core does, and hands the handler the values openapi-core unmarshals;
* the compiled validators alone agree with openapi-core on every request and response, so the
  fast path does the work and a loosened one (a dropped `required`, say) fails here.

`MODELUX_DIFFERENTIAL_EXAMPLES` raises the number of examples per operation and mode.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from mockserver.app import create_app, served_spec
from mockserver.compiled import MISSING, Rejected, oracle_misreads
from mockserver.services import MockConfig, Services
from mockserver.validation import quick_json_node_checks
from modelux_spec import BASE_PATH, resolve

TOKEN = "mlx_mgmt_differential_0123456789"
EXAMPLES = int(os.environ.get("MODELUX_DIFFERENTIAL_EXAMPLES", "12"))
COMPILED, ORACLE, _ = served_spec()
SCHEMA = schemathesis.openapi.from_dict(COMPILED.spec)
OPERATIONS = sorted(COMPILED.by_id)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


class Recorder:
    """Stands in for every handler: remembers what it was called with."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, call: Any) -> tuple[int, Any]:
        self.calls.append(call)
        return 200, {"data": None}


@pytest.fixture(scope="module")
def served():
    config = MockConfig(token=TOKEN, seed=3, start_workers=False, validate_responses=False)
    services = Services.build(config)
    recorder = Recorder()
    app = create_app(config, services, handlers={op: recorder for op in COMPILED.by_id})
    yield app.test_client(), recorder
    services.stop()


# ── requests ────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Wire:
    """One request as a client puts it on the wire; `builder()` is a fresh one each time."""

    method: str
    path: str
    query: str
    body: bytes
    headers: tuple[tuple[str, str], ...]

    def builder(self) -> EnvironBuilder:
        return EnvironBuilder(method=self.method, base_url="http://localhost", path=self.path,
                              query_string=self.query, data=self.body, headers=list(self.headers))

    def request(self) -> Request:
        return Request(self.builder().get_environ())

    def __str__(self) -> str:
        return f"{self.method} {self.path}?{self.query} body={self.body[:300]!r}"


def wire(method: str, url: str, params: Any = None, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> Wire:
    prepared = requests.Request(method, url, params=params, data=body, headers=headers or {}).prepare()
    parts = urlsplit(prepared.url)
    send = [(k, v) for k, v in prepared.headers.items() if k.lower() not in ("content-length", "authorization")]
    send.append(("Authorization", f"Bearer {TOKEN}"))
    payload = prepared.body or b""
    return Wire(method, parts.path, parts.query, payload if isinstance(payload, bytes) else payload.encode(),
                tuple(send))


def from_case(case: Any) -> Wire:
    kwargs = case.as_transport_kwargs(base_url="http://localhost" + BASE_PATH)
    body = None
    if "json" in kwargs:
        body = json.dumps(kwargs["json"]).encode()
        kwargs.setdefault("headers", {})["Content-Type"] = "application/json"
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        body = data if isinstance(data, bytes) else str(data).encode()
    return wire(kwargs["method"], kwargs["url"], kwargs.get("params"), body, kwargs.get("headers"))


def judge(served, sent: Wire) -> None:
    """The served path and the compiled validators against openapi-core, for one request."""
    client, recorder = served
    recorder.calls.clear()
    response = client.open(sent.builder())
    served_ok = bool(recorder.calls)
    what = str(sent)
    try:
        message, path, query, body = ORACLE.unmarshal_request(sent.request())
    except UnicodeDecodeError as exc:  # openapi-core decodes a JSON body as UTF-8 without catching
        message, path, query, body = f"undecodable body: {exc}", {}, {}, None
    assert served_ok == (message is None), (
        f"{what}\n served: {response.status_code} {response.get_data(as_text=True)[:300]}\n oracle: {message}")
    if served_ok:
        call = recorder.calls[0]
        assert {k: call.path[k] for k in path} == path, what
        assert call.query == query, what
        assert call.body == body, what
    else:
        assert response.status_code in (400, 404, 405), response.get_data(as_text=True)
    alone = compiled_alone(sent)
    if alone is not None:
        assert alone == served_ok, (f"compiled validators {'accept' if alone else 'reject'} what openapi-core "
                                    f"{'accepts' if served_ok else 'rejects'}: {what}")


def compiled_alone(sent: Wire) -> bool | None:
    """The compiled validators' own verdict; None for a request that never reaches them (no such route or
    method, not JSON)."""
    request = sent.request()
    found = COMPILED.resource(request.path)
    op = COMPILED.operations.get((found[0], request.method.lower())) if found else None
    if op is None:
        return None
    raw = request.get_data()
    body: Any = MISSING
    if raw and op.body is not None:
        if request.mimetype != "application/json":
            return None
        try:
            body = json.loads(raw)
        except ValueError:
            return None
    try:
        op.read_request(found[1], request.args, body)
        return True
    except Rejected:
        return False


def _operation(operation_id: str):
    op = COMPILED.by_id[operation_id]
    return SCHEMA[op.template][op.method.upper()]


# Every operation with valid requests, and every one that takes input with invalid ones.
REQUEST_CASES = [pytest.param(op, mode, id=f"{mode.value}-{op}") for op in OPERATIONS for mode in GenerationMode
                 if mode is GenerationMode.POSITIVE or COMPILED.by_id[op].parameters or COMPILED.by_id[op].body]


@pytest.mark.parametrize("operation_id, mode", REQUEST_CASES)
def test_requests_are_judged_as_openapi_core_judges_them(served, operation_id, mode):
    strategy = _operation(operation_id).as_strategy(generation_mode=mode)

    @SETTINGS
    @given(case=strategy)
    def check(case):
        sent = from_case(case)
        # openapi-core re-parses the decoded path as a URL: urllib drops tabs and newlines (`/projects/a%0Ab`
        # names `ab` to it), and a `?` or `#` in a path variable starts its query or fragment. The served path
        # takes path variables verbatim; see the test below.
        hypothesis.assume(not oracle_misreads(sent.request().path))
        judge(served, sent)

    check()


def test_path_variables_are_taken_verbatim_not_as_urllib_reads_them(api):
    project = api.post("/projects", json={"name": "Alpha"}).json["data"]
    head, tail = project["id"][:3], project["id"][3:]
    assert api.get(f"/projects/{project['id']}").status_code == 200
    for alias in (f"{head}%0A{tail}", f"{head}%09{tail}", f"{project['id']}%0D", f"{project['id']}%3Fx=1",
                  f"{project['id']}%23top"):
        response = api.get(f"/projects/{alias}")
        assert response.status_code == 404, (alias, response.json)
    response = api.get("/routing-configs/rc_1/versions/1%092")
    assert response.status_code == 400
    assert response.json["error"] == "invalid request: path parameter 'version': Failed to cast value to integer type: 1\t2"


POLICY_CONFIGS = {
    "single": {"model": "gpt-4o-mini"},
    "round_robin": {"models": ["gpt-4o-mini", "gpt-4o"]},
    "fallback": {"attempts": [{"model": "gpt-4o", "timeout_ms": 5000}], "retry_on": ["timeout"]},
    "cost_optimized": {"quality_tier": "medium", "allowed_models": ["gpt-4o-mini"]},
    "latency_optimized": {"max_latency_ms": 800},
    "ensemble": {"members": [{"model": "gpt-4o", "weight": 2}], "aggregation": "best_of"},
    "ab_test": {"variants": [{"weight": 50, "config": "@a"}, {"weight": 50, "config": "@b"}]},
    "custom_rules": {"rules": [{"if": "tags.tier == 'pro'", "then": "@a"}, {"else": "@b"}]},
}

# (method, path, query, body): the corners the errata write into the effective spec.
EDGE_CASES: list[tuple[str, str, dict[str, str] | None, Any]] = [
    ("GET", "/logs", {"projectId": ""}, None),  # E16: an empty string filter is a value
    ("GET", "/logs", {"status": ""}, None),  # an empty enum value is not
    ("GET", "/logs", {"limit": ""}, None),
    ("GET", "/logs", {"limit": "0"}, None),
    ("GET", "/logs", {"limit": "200", "offset": "0"}, None),
    ("GET", "/logs", {"limit": "201"}, None),
    ("GET", "/logs", {"limit": "+3"}, None),
    ("GET", "/logs", {"offset": "-1"}, None),
    ("GET", "/audit-logs", {"since": "2026-11-01T00:00:00Z", "until": "2026-11-02T00:00:00.5+02:00"}, None),
    ("GET", "/audit-logs", {"since": "2026-11-01"}, None),
    ("GET", "/audit-logs", {"since": "2026-11-01t00:00:00z"}, None),
    ("GET", "/analytics", {"startTime": "", "bucket": "hour"}, None),
    ("GET", "/webhooks/endpoints", {"projectId": "null"}, None),
    ("GET", "/simulations/estimate", {"projectId": "p", "from": "2026-11-01T00:00:00Z"}, None),
    ("GET", "/routing-configs/rc_1/versions/1", None, None),
    ("GET", "/routing-configs/rc_1/versions/0", None, None),
    ("GET", "/routing-configs/rc_1/versions/x", None, None),
    ("POST", "/projects", None, {"name": ""}),
    ("POST", "/projects", None, {"name": None}),
    ("POST", "/projects", None, {"name": "P", "extra": [1, {"a": None}]}),
    ("PATCH", "/projects/p1", None, {"name": "P", "logging_mode": None}),
    ("POST", "/budgets", None, {"name": "b", "scope_type": "org", "period": "daily", "amount_usd": "12.50"}),
    ("POST", "/budgets", None, {"name": "b", "scope_type": "org", "period": "daily", "amount_usd": "1.234"}),
    ("POST", "/budgets", None, {"name": "b", "scope_type": "org", "period": "daily", "amount_usd": 12.5}),
    ("POST", "/budgets", None, {"name": "b", "scope_type": "org", "period": "daily", "amount_usd": "012"}),
    ("POST", "/budgets", None, {"name": "b", "scope_type": "org", "scope_id": None, "period": "daily",
                                "amount_usd": "10", "hard_cap_action": "downgrade"}),
    ("POST", "/budgets", None, {"name": "b", "scope_type": "project", "period": "daily", "amount_usd": "10"}),
    ("POST", "/webhooks/endpoints", None, {"name": "w", "url": "http://127.0.0.1:9/x", "event_types": []}),
    ("POST", "/webhooks/endpoints", None, {"name": "w", "url": "not a url", "event_types": ["webhook.test"]}),
    ("POST", "/webhooks/endpoints", None, {"name": "w", "url": "http://127.0.0.1:9/x", "project_id": None,
                                           "event_types": ["webhook.test", "webhook.test"]}),
    ("POST", "/orgs/o1/members", None, {"email": "no-at-sign", "role": "member"}),
    ("POST", "/orgs/o1/members", None, {"email": "a@b", "role": "member"}),
    ("POST", "/simulations", None, {"project_id": "p", "name": "s", "baseline_config_id": "rc",
                                    "candidate_policy": "single", "candidate_config": {"model": "m"},
                                    "window_start": "2026-11-01T00:00:00Z", "window_end": "2026-11-02T00:00:00Z"}),
    ("POST", "/simulations", None, {"project_id": "p", "name": "s", "baseline_config_id": "rc",
                                    "candidate_policy": "single", "candidate_config": {"model": "m"},
                                    "window_start": "yesterday", "window_end": "2026-11-02T00:00:00Z"}),
    ("PATCH", "/routing-configs/rc_1", None, {"name": "renamed"}),
    ("PATCH", "/routing-configs/rc_1", None, {"config": {"model": "gpt-4o"}}),
    ("PATCH", "/routing-configs/rc_1", None, {"policy": "single"}),
]
for _policy, _config in POLICY_CONFIGS.items():
    for _other in ("single", "fallback", "custom_rules"):
        EDGE_CASES.append(("POST", "/routing-configs", None,
                           {"projectId": "p", "name": "cfg", "policy": _other, "config": _config}))
        EDGE_CASES.append(("POST", "/routing-configs/dry-run", None,
                           {"project_id": "p", "policy": _policy, "config": _config,
                            "request": {"model": "@cfg", "messages": []}}))


@pytest.mark.parametrize("method, path, query, body", EDGE_CASES,
                         ids=[f"{m} {p} {json.dumps(q or b)[:60]}" for m, p, q, b in EDGE_CASES])
def test_errata_edge_cases_are_judged_as_openapi_core_judges_them(served, method, path, query, body):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    judge(served, wire(method, "http://localhost" + BASE_PATH + path, query, data, headers))


# ── responses ───────────────────────────────────────────────────────────────────────────────────


def _documented_json_responses() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for operation_id in OPERATIONS:
        op = COMPILED.by_id[operation_id]
        for status, response in op.raw["responses"].items():
            media = (resolve(COMPILED.spec, response).get("content") or {}).get("application/json")
            if media is not None:
                found.append((operation_id, str(status), media["schema"]))
    return found


RESPONSES = _documented_json_responses()


def _response_probe_schema():
    """A spec whose operations take each documented response body as their request body, so schemathesis'
    strategies generate valid and invalid answers for every operation and status."""
    paths = {}
    for operation_id, status, schema in RESPONSES:
        paths[f"/responses/{operation_id}/{status}"] = {"post": {
            "operationId": f"probe_{operation_id}_{status}",
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {"200": {"description": "ok"}}}}
    document = {"openapi": "3.1.0", "info": {"title": "response probes", "version": "1"}, "paths": paths,
                "components": COMPILED.spec["components"]}
    return schemathesis.openapi.from_dict(document)


PROBES = _response_probe_schema()


def request_for(operation_id: str) -> Request:
    op = COMPILED.by_id[operation_id]
    path = op.template.replace("{version}", "1")
    for name in ("id", "userId"):
        path = path.replace("{" + name + "}", "x1")
    return Request(EnvironBuilder(method=op.method.upper(), path=BASE_PATH + path, base_url="http://localhost",
                                  headers={"Authorization": f"Bearer {TOKEN}"}).get_environ())


def judge_response(operation_id: str, status: str, payload: Any) -> None:
    op = COMPILED.by_id[operation_id]
    fast = op.response_accepted(int(status), payload)
    answer = Response(json.dumps(payload), status=int(status), mimetype="application/json")
    problems = ORACLE.response_problems(request_for(operation_id), answer)
    assert fast == (problems is None), (
        f"{operation_id} {status}: compiled validators {'accept' if fast else 'reject'}, openapi-core says "
        f"{problems or 'valid'}: {json.dumps(payload)[:400]}")


@pytest.mark.parametrize("operation_id, status", [(o, s) for o, s, _ in RESPONSES],
                         ids=[f"{o}-{s}" for o, s, _ in RESPONSES])
@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_responses_are_judged_as_openapi_core_judges_them(operation_id, status, mode):
    probe = PROBES[f"/responses/{operation_id}/{status}"]["POST"]
    # Negative probes may also change the media type; an answer here is always JSON.
    strategy = (probe.as_strategy(generation_mode=mode)
                .filter(lambda case: case.media_type == "application/json" and not isinstance(case.body, bytes))
                .map(lambda case: case.body))

    @settings(SETTINGS, max_examples=max(3, EXAMPLES // 3))
    @given(payload=strategy)
    def check(payload):
        judge_response(operation_id, status, payload)

    check()


@pytest.mark.parametrize("payload", [
    {"data": []},
    {"data": [{"id": "p", "name": "n", "slug": "s", "settings": {}, "created_at": "2026-11-01T00:00:00.000Z"}]},
    {"data": [{"id": "p", "name": "n", "slug": "s", "settings": {}, "created_at": "yesterday"}]},
    {"data": [{"id": "p", "name": None, "slug": "s", "settings": {}, "created_at": "2026-11-01T00:00:00Z"}]},
    {"data": [{"id": 1}]},
    {"data": None},
    {},
    [],
])
def test_a_list_answer_and_its_corners(payload):
    judge_response("listProjects", "200", payload)


def test_an_undocumented_status_is_never_accepted_by_the_compiled_validators():
    assert COMPILED.by_id["listProjects"].response_accepted(418, {"error": "x", "code": "y"}) is False
    assert ORACLE.response_problems(request_for("listProjects"),
                                    Response(b'{"error":"x","code":"y"}', status=418,
                                             mimetype="application/json")) is not None


# ── how openapi-core walks the spec ─────────────────────────────────────────────────────────────


class _Shelf:
    """Subscriptable without being a dict or a list: pathable's protocol check decides for it."""

    def __init__(self, items: dict[Any, Any]):
        self.items = items

    def __contains__(self, key: Any) -> bool:
        return key in self.items

    def __getitem__(self, key: Any) -> Any:
        return self.items[key]

    def __len__(self) -> int:
        return len(self.items)


def test_a_step_through_the_spec_is_pathables_own_for_every_kind_of_node():
    """`quick_json_node_checks` keeps pathable's answer by type: every step answers (or fails) as pathable's own."""
    from pathable.accessors import SubscriptableAccessor

    quick_json_node_checks()
    quick_json_node_checks()  # idempotent: the step it replaces is pathable's, not an earlier replacement
    step = SubscriptableAccessor.__dict__["_get_subnode"].__func__
    original = step.original
    assert step.by_type[dict] and step.by_type[list] and not step.by_type[type(None)]
    assert not hasattr(original, "by_type")

    def outcome(walk, node, part):
        try:
            return "value", walk(SubscriptableAccessor, node, part)
        except Exception as exc:  # noqa: BLE001 - the kind of failure is what is compared
            return "raises", type(exc), exc.args

    nodes = [{"a": 1, 0: "zero"}, {}, [10, 20], [], (1, 2), "abc", "", 0, 7, 1.5, True, False, None, object(),
             _Shelf({"a": 2}), _Shelf({})]
    for node in nodes:
        for part in ("a", "b", 0, 1, 5, -1, "0", None, 1.5):
            assert outcome(step, node, part) == outcome(original, node, part), (node, part)
