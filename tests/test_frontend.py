"""The frontend kit over real HTTP: forced answers, latency, faults, rate limits, sessions, CORS with
credentials, the control surface and the docs — each against a mock on a loopback port."""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import httpx
import pytest

from mockserver.domain.world import public
from mockserver.frontend.forced import documented_statuses
from mockserver.frontend.latency import Delays, Latency
from mockserver.frontend.prefer import read_preferences, split_prefer
from mockserver.frontend.sessions import COOKIE_NAME
from mockserver.testing import build_app, serve_in_thread

TOKEN = "mlx_mgmt_frontend_test_0123456789"
API = "/api/manage/v1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Mock:
    def __init__(self, url: str, app: Any, services: Any):
        self.url, self.app, self.services = url, app, services
        self.frontend = app.extensions["modelux.frontend"]
        self.client = httpx.Client(base_url=url, timeout=30)

    def api(self, method: str, path: str, headers: dict[str, str] | None = None, auth: bool = True, **kw):
        sent = {**(AUTH if auth else {}), **(headers or {})}
        return self.client.request(method, API + path, headers=sent, **kw)

    def project_ids(self) -> list[str]:
        return [p["id"] for p in self.api("GET", "/projects").json()["data"]]

    def world_view(self) -> Any:
        """Everything the organization holds, as the wire shows it (keys' last use aside)."""
        with self.services.world.lock:
            org = self.services.org
            return {name: {k: public(v) for k, v in getattr(org, name).items()} for name in
                    ("members", "projects", "providers", "api_keys", "routing_configs", "budgets",
                     "webhook_endpoints", "webhook_deliveries", "simulations", "audit_logs")}


@contextmanager
def mock(**config: Any) -> Iterator[Mock]:
    app, services = build_app(TOKEN, seed_logs=20, **config)
    try:
        with serve_in_thread(app) as url:
            m = Mock(url, app, services)
            try:
                yield m
            finally:
                m.client.close()
    finally:
        services.stop()


@pytest.fixture(scope="module")
def shared():
    """One mock for the tests that change nothing but what they undo."""
    with mock() as m:
        yield m


def envelope(response: httpx.Response, status: int, code: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "code"}, body
    if code:
        assert body["code"] == code, body
    return body["error"]


# ── forced answers ──────────────────────────────────────────────────────────────────────────────


def test_forced_404_names_the_resource_and_changes_nothing(shared):
    project = shared.project_ids()[0]
    before = shared.world_view()
    response = shared.api("GET", f"/projects/{project}", headers={"Prefer": "code=404"})
    assert envelope(response, 404, "not_found") == f"project '{project}' not found"
    assert response.headers["Preference-Applied"] == "code=404"
    deleted = shared.api("DELETE", f"/projects/{project}", headers={"Prefer": "code=404"})
    envelope(deleted, 404, "not_found")
    assert shared.world_view() == before
    assert shared.api("GET", f"/projects/{project}").status_code == 200


def test_forced_success_of_a_write_echoes_the_request_and_writes_nothing(shared):
    before = shared.world_view()
    created = shared.api("POST", "/projects", json={"name": "Forced Beta"}, headers={"Prefer": "code=201"})
    assert created.status_code == 201, created.text
    assert created.json()["data"]["name"] == "Forced Beta"
    assert created.json()["data"]["id"].startswith("proj_")
    project = shared.project_ids()[0]
    removed = shared.api("DELETE", f"/projects/{project}", headers={"Prefer": "code=200"})
    assert removed.json() == {"data": {"id": project, "deleted": True}}
    conflict = shared.api("POST", f"/orgs/{shared.services.org.id}/members", headers={"Prefer": "code=409"},
                          json={"email": "new@example.com", "role": "member"})
    assert envelope(conflict, 409, "already_member") == "'new@example.com' is already a member or invited"
    assert shared.world_view() == before


def test_forced_success_of_a_read_comes_from_the_live_world(shared):
    project = shared.project_ids()[0]
    live = shared.api("GET", f"/projects/{project}").json()
    assert shared.api("GET", f"/projects/{project}", headers={"Prefer": "code=200"}).json() == live
    missing = shared.api("GET", "/projects/proj_nothere", headers={"Prefer": "code=200"})
    assert missing.status_code == 200 and missing.json()["data"]["id"] == "proj_nothere"


def test_the_query_parameter_works_and_the_header_wins_as_in_prism(shared):
    project = shared.project_ids()[0]
    by_query = shared.api("GET", f"/projects/{project}", params={"__code": "404"})
    envelope(by_query, 404, "not_found")
    both = shared.api("GET", f"/projects/{project}", params={"__code": "404"}, headers={"Prefer": "code=200"})
    assert both.status_code == 200
    encoded = shared.api("GET", f"/projects/{project}?%5F%5Fcode=404")  # the same parameter, percent-encoded
    envelope(encoded, 404, "not_found")


def test_an_undocumented_or_malformed_code_is_a_400_listing_the_documented_ones(shared):
    message = envelope(shared.api("GET", "/projects", headers={"Prefer": "code=404"}), 400, "undocumented_status")
    assert message == "Prefer code=404 is not documented for listProjects (GET /projects); documented: 200, 401, 429"
    envelope(shared.api("GET", "/projects", headers={"Prefer": "code=abc"}), 400, "invalid_preference")
    envelope(shared.api("GET", "/projects", params={"__code": "4044"}), 400, "invalid_preference")
    envelope(shared.api("GET", "/projects", headers={"Prefer": "dynamic=yes"}), 400, "invalid_preference")
    assert "Preference-Applied" not in shared.api("GET", "/projects", headers={"Prefer": "code=404"}).headers


def test_authentication_and_validation_come_before_a_forced_answer(shared):
    envelope(shared.api("GET", "/projects", auth=False, headers={"Prefer": "code=200"}), 401)
    envelope(shared.api("GET", "/logs", params={"limit": "0"}, headers={"Prefer": "code=200"}), 400,
             "validation_failed")
    forced_401 = shared.api("GET", "/projects", headers={"Prefer": "code=401"})
    envelope(forced_401, 401, "invalid_credentials")


def test_dynamic_bodies_are_valid_and_seedable(shared):
    one = shared.api("GET", "/projects", headers={"Prefer": "dynamic=true, seed=3"})
    two = shared.api("GET", "/projects", headers={"Prefer": "dynamic=true; seed=3"})
    other = shared.api("GET", "/projects", headers={"Prefer": "dynamic=true, seed=4"})
    assert one.status_code == two.status_code == other.status_code == 200

    def undated(response: httpx.Response) -> list[dict[str, Any]]:  # timestamps follow the clock
        return [{k: v for k, v in p.items() if k != "created_at"} for p in response.json()["data"]]

    assert undated(one) == undated(two) != undated(other)
    assert one.headers["Preference-Applied"] == "dynamic=true"
    assert all(p["id"].startswith("proj_") for p in one.json()["data"])


def test_an_unknown_example_is_a_400_listing_the_examples(shared):
    message = envelope(shared.api("GET", "/projects", headers={"Prefer": "example=empty"}), 400, "unknown_example")
    assert message == "no example named 'empty' for the 200 answer of listProjects (GET /projects); its examples: none"


def test_every_documented_status_of_every_operation_can_be_forced_validly():
    """In process: each operation, each status it documents, static and dynamic — valid for the effective spec."""
    from werkzeug.test import EnvironBuilder

    from mockserver.app import served_spec
    from mockserver.frontend.forced import ForcedAnswers
    from mockserver.handlers import load_handlers
    from mockserver.frontend.prefer import Preferences
    from mockserver.registry import Call
    from mockserver.services import MockConfig, Services

    compiled, oracle, _ = served_spec()
    services = Services.build(MockConfig(token=TOKEN, start_workers=False))
    forced = ForcedAnswers(compiled.spec, oracle)
    request = EnvironBuilder(path="/").get_request()
    checked, handlers, now = 0, load_handlers(), services.world.now()
    for op in compiled.by_id.values():
        def value(param: Any) -> Any:
            return 1 if param.kind == "integer" else now if param.fmt == "date-time" else "x_1"

        path = {p.name: value(p) for p in op.parameters if p.location == "path"}
        query = {p.name: value(p) for p in op.parameters if p.location == "query" and p.required}
        call = Call(world=services.world, org=services.org, actor=None, path=path, query=query, body={})
        for status in documented_statuses(op):
            for dynamic in (False, True):
                got, payload = forced.answer(op, Preferences(code=status, dynamic=dynamic, seed="1"), call, request,
                                             handlers, {})
                assert got == status and op.response_accepted(status, payload), (op.operation_id, status, payload)
                checked += 1
    assert checked > 300


# ── latency ─────────────────────────────────────────────────────────────────────────────────────


def test_a_delayed_answer_does_not_hold_the_world():
    with mock() as m:
        done: dict[str, Any] = {}
        slow = threading.Thread(target=lambda: done.setdefault(
            "slow", m.api("GET", "/projects", headers={"Prefer": "delay=3000"})))
        slow.start()
        deadline = time.monotonic() + 10
        while m.frontend.delays.sleeping == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert m.frontend.delays.sleeping == 1
        created = m.api("POST", "/projects", json={"name": "While another waits"})
        assert created.status_code == 201 and slow.is_alive()
        slow.join(timeout=30)
        assert done["slow"].status_code == 200
        assert done["slow"].headers["Preference-Applied"] == "delay=3000"


def test_bad_delays_are_400s(shared):
    envelope(shared.api("GET", "/projects", headers={"Prefer": "delay=60001"}), 400, "invalid_preference")
    envelope(shared.api("GET", "/projects", headers={"Prefer": "delay=-5"}), 400, "invalid_preference")
    envelope(shared.api("GET", "/projects", headers={"Prefer": "delay=soon"}), 400, "invalid_preference")


def test_latency_ranges_parse_and_draw_reproducibly():
    assert Latency.parse("250") == Latency(250, 250) and Latency.parse("100-600") == Latency(100, 600)
    for bad in ("", "fast", "600-100", "70000", "-5"):
        with pytest.raises(ValueError):
            Latency.parse(bad)
    first, second = Delays(seed=5), Delays(seed=5)
    draws = [first.draw(Latency(100, 600), None) for _ in range(20)]
    assert draws == [second.draw(Latency(100, 600), None) for _ in range(20)]
    assert all(100 <= d <= 600 for d in draws) and len(set(draws)) > 1
    assert first.draw(Latency(100, 600), 7) == 7  # Prefer: delay wins


# ── faults ──────────────────────────────────────────────────────────────────────────────────────


def fault_run(seed: int) -> list[tuple[int, str | None]]:
    with mock(seed=seed, fault_rate=0.5) as m:
        project = next(iter(m.services.org.projects))
        seen = []
        for _ in range(24):
            response = m.api("GET", f"/projects/{project}")
            seen.append((response.status_code, response.headers.get("X-Mock-Fault")))
        return seen


def test_random_faults_are_documented_answers_reproducible_by_seed():
    first, again, other = fault_run(11), fault_run(11), fault_run(12)
    assert first == again != other
    statuses = {status for status, _ in first}
    assert 200 in statuses and statuses - {200}
    assert statuses <= {200, 401, 404, 429}  # what GET /projects/{id} documents (400 is never drawn)
    assert all((fault is None) == (status == 200) for status, fault in first)


def test_a_named_fault_is_answered_or_a_400_lists_the_possible_ones(shared):
    project = shared.project_ids()[0]
    dry_run = shared.api("POST", "/routing-configs/dry-run", headers={"Prefer": "fault=proxy_unreachable"},
                         json={"project_id": project, "policy": "single", "config": {"model": "gpt-4o-mini"}})
    envelope(dry_run, 502, "proxy_unreachable")
    message = envelope(shared.api("GET", "/projects", headers={"Prefer": "fault=proxy_unreachable"}), 400,
                       "unknown_fault")
    assert message.endswith("its faults: unauthorized, rate_limited")
    envelope(shared.api("GET", "/projects", headers={"Prefer": "fault=gremlins"}), 400, "unknown_fault")
    limited = shared.api("GET", "/projects", headers={"Prefer": "fault=rate_limited"})
    envelope(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1 and limited.headers["X-RateLimit-Remaining"] == "0"


# ── rate limits ─────────────────────────────────────────────────────────────────────────────────


def test_rate_limit_per_key_with_retry_after_and_headers():
    with mock(rate_limit="3/min") as m:
        remaining = []
        for _ in range(3):
            response = m.api("GET", "/projects")
            assert response.status_code == 200
            remaining.append(response.headers["X-RateLimit-Remaining"])
            assert response.headers["X-RateLimit-Limit"] == "3"
        assert remaining == ["2", "1", "0"]
        limited = m.api("GET", "/projects")
        assert "3/minute" in envelope(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert int(limited.headers["X-RateLimit-Reset"]) >= int(time.time())
        other = m.client.get(API + "/projects", headers={"Authorization": f"Bearer {m.services.other_token}"})
        assert other.status_code == 200 and other.headers["X-RateLimit-Remaining"] == "2"
        # a session has its own window
        signed = m.client.post("/__mock/session", json={"email": "owner@example.com"})
        assert signed.status_code == 201
        assert m.client.get(API + "/projects").headers["X-RateLimit-Remaining"] == "2"


def test_no_rate_limit_by_default(shared):
    assert "X-RateLimit-Limit" not in shared.api("GET", "/projects").headers


# ── sessions ────────────────────────────────────────────────────────────────────────────────────


def add_active_member(m: Mock, email: str) -> str:
    world, org = m.services.world, m.services.org
    with world.lock:
        user_id = world.new_id("user")
        org.members[user_id] = {"user_id": user_id, "role": "admin", "created_at": world.now_iso(),
                                "user": {"id": user_id, "name": "Dev", "email": email, "image": None}}
    return user_id


def test_a_signed_in_member_calls_the_api_with_the_cookie_and_is_audited_as_a_user():
    with mock() as m:
        browser = httpx.Client(base_url=m.url)
        signed = browser.post("/__mock/session", json={"email": "OWNER@example.com"})
        assert signed.status_code == 201, signed.text
        cookie = signed.headers["Set-Cookie"]
        assert cookie.startswith(f"{COOKIE_NAME}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # plain http on loopback
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", browser.cookies[COOKIE_NAME])
        me = browser.get("/__mock/session").json()["data"]
        assert me["email"] == "owner@example.com" and me["role"] == "owner" and me["user_id"].startswith("user_")
        created = browser.post(API + "/projects", json={"name": "By session"})
        assert created.status_code == 201
        audit = m.api("GET", "/audit-logs", params={"resource_id": created.json()["data"]["id"]}).json()["data"]
        assert [(a["action"], a["actor_id"], a["actor_email"]) for a in audit] == \
            [("created", me["user_id"], "owner@example.com")]
        # a key still wins when both are sent; a wrong key is not rescued by the cookie
        assert browser.get(API + "/projects", headers={"Authorization": "Bearer mlx_mgmt_wrong"}).status_code == 401
        out = browser.delete("/__mock/session")
        assert out.status_code == 200 and out.json() == {"data": {"signed_out": True}}
        assert COOKIE_NAME not in browser.cookies
        browser.cookies.set(COOKIE_NAME, signed.cookies[COOKIE_NAME])  # a client that kept it
        envelope(browser.get(API + "/projects"), 401, "invalid_session")
        browser.close()


def test_a_removed_members_session_stops_working():
    with mock() as m:
        user_id = add_active_member(m, "dev@example.com")
        browser = httpx.Client(base_url=m.url)
        assert browser.post("/__mock/session", json={"email": "dev@example.com"}).status_code == 201
        assert browser.get(API + "/projects").status_code == 200
        removed = m.api("DELETE", f"/orgs/{m.services.org.id}/members/{user_id}")
        assert removed.status_code == 200, removed.text
        envelope(browser.get(API + "/projects"), 401, "invalid_session")
        envelope(browser.get("/__mock/session"), 401, "invalid_session")
        browser.close()


def test_bad_sign_ins_are_clear_4xx_and_create_no_session():
    with mock() as m:
        m.api("POST", f"/orgs/{m.services.org.id}/members", json={"email": "invited@example.com", "role": "member"})
        c = m.client
        cases = [
            (c.post("/__mock/session", json={"email": "nobody@example.com"}), 404, "member_not_found"),
            (c.post("/__mock/session", json={"email": "invited@example.com"}), 409, "member_invited"),
            (c.post("/__mock/session", json={"email": 5}), 400, "validation_failed"),
            (c.post("/__mock/session", json={"email": "owner@example.com", "password": "x"}), 400, "validation_failed"),
            (c.post("/__mock/session", json=["owner@example.com"]), 400, "validation_failed"),
            (c.post("/__mock/session", content=b"{", headers={"Content-Type": "application/json"}), 400,
             "malformed_json"),
            (c.post("/__mock/session", content=b"email=owner@example.com",
                    headers={"Content-Type": "application/x-www-form-urlencoded"}), 400, "unsupported_media_type"),
            (c.post("/__mock/session"), 400, "missing_body"),
            (c.post("/__mock/session", json={"email": "owner@example.com"}, headers={"Origin": "http://evil.test"}),
             403, "origin_not_allowed"),
            (c.get("/__mock/session"), 401, "missing_session"),
            (c.delete("/__mock/session"), 401, "missing_session"),
            (c.put("/__mock/session"), 405, "method_not_allowed"),
            (c.get("/__mock/nothing"), 404, "route_not_found"),
        ]
        for response, status, code in cases:
            envelope(response, status, code)
            assert "Set-Cookie" not in response.headers
        assert m.frontend.sessions.count() == 0


def test_a_session_cookie_from_a_foreign_origin_is_refused():
    with mock(cors_origins=["http://127.0.0.1:5173"]) as m:
        browser = httpx.Client(base_url=m.url)
        assert browser.post("/__mock/session", json={"email": "owner@example.com"},
                            headers={"Origin": "http://127.0.0.1:5173"}).status_code == 201
        assert browser.get(API + "/projects", headers={"Origin": "http://127.0.0.1:5173"}).status_code == 200
        envelope(browser.get(API + "/projects", headers={"Origin": "http://evil.test"}), 401, "origin_not_allowed")
        browser.close()


def test_over_tls_the_cookie_is_secure_and_samesite_none():
    app, services = build_app(TOKEN, seed_logs=0, start_workers=False)
    signed = app.test_client().post("/__mock/session", json={"email": "owner@example.com"},
                                    base_url="https://mock.test")
    cookie = signed.headers["Set-Cookie"]
    assert signed.status_code == 201 and "Secure" in cookie and "SameSite=None" in cookie and "HttpOnly" in cookie


# ── CORS ────────────────────────────────────────────────────────────────────────────────────────


def test_cors_with_credentials_only_for_explicit_origins():
    origin = "http://127.0.0.1:5173"
    with mock(cors_origins=[origin]) as m:
        preflight = m.client.options(API + "/projects", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, prefer"})
        assert preflight.headers["Access-Control-Allow-Origin"] == origin
        assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
        assert "prefer" in preflight.headers["Access-Control-Allow-Headers"].lower()
        control = m.client.options("/__mock/session", headers={"Origin": origin,
                                                               "Access-Control-Request-Method": "POST"})
        assert control.headers["Access-Control-Allow-Credentials"] == "true"
        answer = m.api("GET", "/projects", headers={"Origin": origin})
        assert "X-RateLimit-Remaining" in answer.headers["Access-Control-Expose-Headers"]
        stranger = m.api("GET", "/projects", headers={"Origin": "http://evil.test"})
        assert "Access-Control-Allow-Origin" not in stranger.headers
    with mock() as m:  # default: any origin, never with credentials
        answer = m.api("GET", "/projects", headers={"Origin": "http://anywhere.test"})
        assert answer.headers["Access-Control-Allow-Origin"] in ("*", "http://anywhere.test")
        assert "Access-Control-Allow-Credentials" not in answer.headers


# ── the control surface's settings ──────────────────────────────────────────────────────────────


def test_settings_change_at_run_time_and_bad_input_changes_nothing():
    with mock(latency="0", rate_limit="100/min") as m:
        c = m.client
        envelope(c.get("/__mock/settings"), 401, "missing_credentials")
        assert c.get("/__mock/settings", headers=AUTH).json()["data"] == \
            {"latency_ms": "0", "fault_rate": 0.0, "rate_limit": "100/minute"}
        for bad in ({"latency_ms": "9-1"}, {"latency_ms": True}, {"fault_rate": 2}, {"fault_rate": "often"},
                    {"rate_limit": "lots"}, {"rate_limit": "0/min"}, {"speed": 1}, [1],
                    {"fault_rate": 0.5, "latency_ms": "fast"}):
            envelope(c.patch("/__mock/settings", json=bad, headers=AUTH), 400, "validation_failed")
        envelope(c.patch("/__mock/settings", content=b"{", headers={**AUTH, "Content-Type": "application/json"}), 400,
                 "malformed_json")
        assert c.get("/__mock/settings", headers=AUTH).json()["data"] == \
            {"latency_ms": "0", "fault_rate": 0.0, "rate_limit": "100/minute"}
        changed = c.patch("/__mock/settings", json={"latency_ms": "5-10", "rate_limit": "2/min"}, headers=AUTH)
        assert changed.json()["data"] == {"latency_ms": "5-10", "fault_rate": 0.0, "rate_limit": "2/minute"}
        statuses = [m.api("GET", "/projects").status_code for _ in range(3)]
        assert statuses[-1] == 429
        off = c.patch("/__mock/settings", json={"latency_ms": None, "rate_limit": None}, headers=AUTH)
        assert off.json()["data"] == {"latency_ms": None, "fault_rate": 0.0, "rate_limit": None}
        assert m.api("GET", "/projects").status_code == 200
        signed = c.post("/__mock/session", json={"email": "owner@example.com"})  # a session may drive it too
        assert signed.status_code == 201 and c.get("/__mock/settings").status_code == 200
        assert c.get("/__mock", headers=AUTH).json()["data"]["docs"] == "/docs"


# ── docs ────────────────────────────────────────────────────────────────────────────────────────


def test_docs_work_offline_and_are_preauthorized_for_loopback_browsers(shared):
    page = shared.client.get("/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert f'const token = "{TOKEN}";' in page.text
    assert 'url: "/openapi.json"' in page.text and "preauthorizeApiKey(\"BearerAuth\"" in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/docs/static/") for a in assets)  # nothing from the network
    for asset in assets:
        assert shared.client.get(asset).status_code == 200, asset
    assert "SwaggerUIBundle" in shared.client.get("/docs/static/swagger-ui-bundle.js").text
    assert shared.client.get("/docs/static/../../api.py").status_code == 404
    assert shared.client.get("/openapi.json").json()["servers"] == [{"url": "/api/manage/v1",
                                                                     "description": "Management API base path"}]


def test_docs_keep_the_key_from_other_machines(shared):
    page = shared.app.test_client().get("/docs", environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert page.status_code == 200 and "const token = null;" in page.text and TOKEN not in page.text


# ── units ───────────────────────────────────────────────────────────────────────────────────────


def test_prefer_parsing_follows_prism():
    assert split_prefer('code=404, example="two words"; dynamic=true, respond-async') == \
        {"code": "404", "example": "two words", "dynamic": "true", "respond-async": ""}
    prefs = read_preferences({"Prefer": "return=minimal, code=201"}, {"__code": "404"})
    assert prefs.code == 201 and prefs.source == "Prefer"
    assert read_preferences({}, {"__code": "404", "__dynamic": "true"}).code == 404
    assert not read_preferences({"Prefer": "return=minimal"}, {}).forces_answer
    assert not read_preferences({}, {"__dynamic": "false"}).forces_answer


# ── the command line ────────────────────────────────────────────────────────────────────────────


def test_serve_flags_reach_the_kit():
    from tests.test_cli import TOKEN as CLI_TOKEN
    from tests.test_cli import start, stop

    process, url = start("--server", "waitress", "--empty", "--rate-limit", "2/min", "--latency", "1-3",
                         "--faults", "0", "--cors-origin", "http://127.0.0.1:5173")
    try:
        headers = {"Authorization": f"Bearer {CLI_TOKEN}"}
        statuses = [httpx.get(url + API + "/projects", headers=headers).status_code for _ in range(3)]
        settings = httpx.get(url + "/__mock/settings", headers=headers).json()["data"]
        docs = httpx.get(url + "/docs")
    finally:
        assert stop(process) == 0
    assert statuses == [200, 200, 429]
    assert settings == {"latency_ms": "1-3", "fault_rate": 0.0, "rate_limit": "2/minute"}
    assert docs.status_code == 200 and CLI_TOKEN in docs.text
    out = process.stdout.read()
    assert "docs:         http://127.0.0.1:" in out and "frontend kit: latency 1-3 ms, rate limit 2/min" in out


def test_a_named_example_of_the_spec_is_answered_as_written():
    """The upstream spec has no named examples; a spec that has one gets it back, as Prism does."""
    from werkzeug.test import EnvironBuilder

    from mockserver.compiled import CompiledSpec
    from mockserver.frontend.forced import ForcedAnswers
    from mockserver.frontend.prefer import Preferences
    from mockserver.registry import Call
    from mockserver.services import MockConfig, Services
    from modelux_spec import effective_spec

    spec = effective_spec()
    media = spec["paths"]["/projects"]["get"]["responses"]["200"]["content"]["application/json"]
    media["examples"] = {"empty": {"value": {"data": []}}}
    compiled = CompiledSpec(spec)
    op = compiled.by_id["listProjects"]
    services = Services.build(MockConfig(token=TOKEN, start_workers=False))
    call = Call(world=services.world, org=services.org, actor=None)
    request = EnvironBuilder(path="/").get_request()
    forced = ForcedAnswers(spec, oracle=None)
    assert forced.answer(op, Preferences(example="empty"), call, request, {}, {}) == (200, {"data": []})
    with pytest.raises(Exception, match="its examples: empty"):
        forced.answer(op, Preferences(example="full"), call, request, {}, {})
