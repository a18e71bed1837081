"""HTTP shell: routing errors, bad input, body limits, CORS, validation of our own answers."""

from __future__ import annotations

import json

import pytest

from mockserver.app import MAX_BODY_BYTES, create_app
from modelux_spec import effective_spec, operations, resolve
from mockserver.handlers import load_handlers
from mockserver.testing import seed_world


def assert_envelope(response, status, code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.json
    assert set(body) == {"error", "code"}, body
    assert isinstance(body["error"], str) and body["error"]
    if code:
        assert body["code"] == code
    return body


def test_unknown_route_is_a_404_envelope(api):
    assert_envelope(api.get("/no-such-thing"), 404, "route_not_found")
    assert_envelope(api.client.get("/api/manage/v2/projects"), 404, "route_not_found")


def test_wrong_method_is_a_405_with_allow(api):
    response = api.request("PUT", "/projects")
    assert_envelope(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) == {"GET", "POST", "HEAD", "OPTIONS"}


def test_literal_path_segment_wins_over_a_template(api):
    response = api.get("/routing-configs/dry-run")
    assert_envelope(response, 405)
    assert response.headers["Allow"] == "POST, OPTIONS"


def test_options_lists_the_methods_of_the_path(api):
    response = api.request("OPTIONS", "/routing-configs/rc_123")
    assert response.status_code == 204
    assert set(response.headers["Allow"].split(", ")) == {"GET", "PATCH", "DELETE", "HEAD", "OPTIONS"}


def test_cors_preflight_allows_authorization_from_another_origin(api):
    response = api.client.options(
        "/api/manage/v1/projects",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"},
    )
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "http://localhost:5173")
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_cors_headers_on_actual_requests(api):
    response = api.get("/projects", headers={"Origin": "http://localhost:5173"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "http://localhost:5173")


def test_malformed_json_is_a_400_naming_the_problem(api):
    body = assert_envelope(api.post("/projects", data="{bad", content_type="application/json"), 400, "malformed_json")
    assert "JSON" in body["error"]


def test_wrong_content_type_is_a_400(api):
    body = assert_envelope(api.post("/projects", data="name=x", content_type="text/plain"), 400)
    assert "Content-Type" in body["error"]


def test_missing_required_body_is_a_400(api):
    assert_envelope(api.post("/projects", content_type="application/json"), 400, "missing_body")


def test_body_over_one_mebibyte_is_a_413(api):
    big = json.dumps({"name": "x" * (MAX_BODY_BYTES + 10)})
    assert_envelope(api.post("/projects", data=big, content_type="application/json"), 413, "payload_too_large")
    assert api.get("/projects").json["data"] == []


@pytest.mark.parametrize(
    "path, params, field",
    [
        ("/logs", {"status": "AAA"}, "status"),
        ("/logs", {"limit": "abc"}, "limit"),
        ("/logs", {"limit": "500"}, "limit"),
        ("/audit-logs", {"since": "yesterday"}, "since"),
        ("/budgets", {"scopeType": "galaxy"}, "scopeType"),
        ("/analytics", {"bucket": "minute"}, "bucket"),
        ("/simulations/estimate", {"projectId": "p"}, "from"),
    ],
)
def test_invalid_query_parameters_are_400s_naming_the_parameter(api, path, params, field):
    body = assert_envelope(api.get(path, query_string=params), 400, "validation_failed")
    assert f"'{field}'" in body["error"]


@pytest.mark.parametrize(
    "path, payload, field",
    [
        ("/projects", {}, "name"),
        ("/projects", {"name": 7}, "name"),
        ("/budgets", {"name": "b", "scope_type": "org", "period": "daily", "amount_usd": "1.234"}, "amount_usd"),
        ("/budgets", {"name": "b", "scope_type": "org", "period": "daily", "amount_usd": "10",
                      "hard_cap_action": "downgrade"}, "downgrade_to"),
        ("/webhooks/endpoints", {"name": "w", "url": "http://127.0.0.1:9/x", "event_types": ["nope.event"]},
         "event_types"),
    ],
)
def test_invalid_bodies_are_400s_naming_the_field(api, path, payload, field):
    body = assert_envelope(api.post(path, json=payload), 400, "validation_failed")
    assert field in body["error"]


def test_invalid_policy_config_is_a_400_naming_the_field(api):
    project = api.post("/projects", json={"name": "P"}).json["data"]
    body = assert_envelope(api.post("/routing-configs", json={
        "projectId": project["id"], "name": "fb", "policy": "fallback",
        "config": {"attempts": [{"model": "gpt-4o", "timeout_ms": -5}]}}), 400)
    assert "timeout_ms" in body["error"]
    assert api.get("/routing-configs").json["data"] == []


def test_a_handler_error_is_a_500_envelope_not_a_traceback(config, services):
    def broken(call):
        raise RuntimeError("boom")

    app = create_app(config, services, handlers={**load_handlers(), "listProjects": broken})
    response = app.test_client().get("/api/manage/v1/projects", headers={"Authorization": f"Bearer {config.token}"})
    assert_envelope(response, 500, "internal_error")


def test_a_response_violating_the_spec_fails_loudly(config, services):
    def wrong_shape(call):
        return 200, {"data": [{"id": 1}]}

    app = create_app(config, services, handlers={**load_handlers(), "listProjects": wrong_shape})
    response = app.test_client().get("/api/manage/v1/projects", headers={"Authorization": f"Bearer {config.token}"})
    body = assert_envelope(response, 500, "mock_response_invalid")
    assert "listProjects" in body["error"]


def test_head_is_answered_like_get_without_a_body(api):
    response = api.request("HEAD", "/projects")
    assert response.status_code == 200
    assert response.data == b""


def test_real_server_answers_over_http(live_url):
    import httpx

    from tests.conftest import TOKEN

    response = httpx.get(f"{live_url}/api/manage/v1/projects", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response.json() == {"data": []}
    assert httpx.get(f"{live_url}/openapi.json").json()["openapi"] == "3.1.0"


# Valid RFC 3339 instants that fall outside the years 1 to 9999 once moved to UTC.
EDGE_INSTANTS = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z",
                 "9999-12-31T23:59:59.999Z"]


def date_time_query_parameters():
    spec = effective_spec()
    return [(method, path, param["name"]) for path, method, op in operations(spec)
            for param in (resolve(spec, p) for p in op.get("parameters", []))
            if param["in"] == "query" and resolve(spec, param.get("schema", {})).get("format") == "date-time"]


@pytest.mark.parametrize("value", EDGE_INSTANTS)
def test_instants_at_the_edge_of_the_calendar_are_read_not_crashed_on(api, services, value):
    seed_world(services, logs=60)
    parameters = date_time_query_parameters()
    assert len(parameters) >= 8
    project = api.get("/projects").json["data"][0]["id"]
    for method, path, name in parameters:
        response = api.request(method, path.replace("{id}", project), query_string={name: value})
        assert response.status_code < 500, (method, path, name, response.get_data(as_text=True))
    config = api.get("/routing-configs").json["data"][0]
    for window in ({"window_start": value, "window_end": "2026-11-01T00:00:00Z"},
                   {"window_start": "2026-10-01T00:00:00Z", "window_end": value}):
        response = api.post("/simulations", json={
            "name": "edge", "routing_config_id": config["id"], "candidate_policy": "single",
            "candidate_config": {"model": "gpt-4o"}, **window})
        assert response.status_code in (201, 202, 400), response.get_data(as_text=True)


def test_a_message_names_each_problem_once(api):
    response = api.post("/simulations", json={"routing_config_id": "rc_x", "window_start": "2026-10-01T00:00:00Z",
                                               "window_end": "2026-10-02T00:00:00Z"})
    body = assert_envelope(response, 400)
    problems = body["error"].removeprefix("invalid request: ").split("; ")
    assert "body: 'candidate_policy' is a required property" in problems
    assert len(problems) == len(set(problems)), body["error"]
