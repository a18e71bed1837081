"""HTTP shell: routing errors, bad input, body limits, CORS, validation of our own answers."""

from __future__ import annotations

import json

import pytest

from mockserver.app import MAX_BODY_BYTES, create_app
from mockserver.handlers import load_handlers


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
