"""`/__mock/...`: sign in and out like the dashboard, and the kit's knobs at run time.

    POST   /__mock/session    {"email": ..., "org_id"?: ...}  sign a member in; sets the session cookie
    GET    /__mock/session    who the session cookie names
    DELETE /__mock/session    sign out (the cookie stops working at once)
    GET    /__mock/settings   latency, fault rate, rate limit in force
    PATCH  /__mock/settings   change them (all or nothing)
    GET    /__mock            what is here

Later parts of the kit (reset, snapshots, the clock, sandboxes, the request journal) hang their
routes here too, behind the same `caller()` guard, acting on the caller's organization.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, request

from ..api import authenticate, error_response, json_response
from ..domain.world import Actor, OrgState
from ..errors import ApiError, Invalid, Unauthorized
from ..frontend.kit import Frontend, request_origin
from ..frontend.sessions import COOKIE_NAME, cookie_attributes
from ..services import Services

CONTROL_PREFIX = "/__mock"
MAX_CONTROL_BODY = 64 * 1024


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


def services() -> Services:
    return current_app.extensions["modelux"]


def frontend() -> Frontend:
    return current_app.extensions["modelux.frontend"]


def caller() -> tuple[OrgState, Actor]:
    """The organization and actor of the management key or session this request carries (a 401 without)."""
    return authenticate(services(), request, frontend())


def json_body() -> Any:
    raw = request.get_data(cache=True)
    if len(raw) > MAX_CONTROL_BODY:
        raise Invalid(f"body exceeds {MAX_CONTROL_BODY} bytes", code="payload_too_large")
    if not raw:
        raise Invalid("request body is required (a JSON object)", code="missing_body")
    if request.mimetype != "application/json":
        raise Invalid(f"unsupported Content-Type '{request.content_type or ''}'; send application/json",
                      code="unsupported_media_type")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"malformed JSON body: {exc}", code="malformed_json")


def check_origin() -> None:
    """A page of an origin not allowed with credentials cannot sign in (its cookie would not be usable)."""
    origin = request.headers.get("Origin")
    if origin and origin != request_origin(request) and origin not in frontend().credential_origins():
        raise Forbidden(f"origin {origin} may not sign in; allow it with --cors-origin {origin}",
                        code="origin_not_allowed")


def session_view(org: OrgState, actor: Actor, member: dict[str, Any] | None = None) -> dict[str, Any]:
    member = member if member is not None else org.members.get(actor.id, {})
    return {"user_id": actor.id, "email": actor.email, "role": member.get("role"), "org_id": org.id,
            "org_name": org.org.get("name")}


def control_blueprint() -> Blueprint:
    bp = Blueprint("control", __name__, url_prefix=CONTROL_PREFIX)

    @bp.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return error_response(error)

    @bp.get("")
    @bp.get("/")
    def index() -> Response:
        caller()
        return json_response(200, {"data": {"routes": [
            "POST /__mock/session", "GET /__mock/session", "DELETE /__mock/session",
            "GET /__mock/settings", "PATCH /__mock/settings"], "docs": "/docs"}})

    @bp.post("/session")
    def sign_in() -> Response:
        check_origin()
        body = json_body()
        if not isinstance(body, dict):
            raise Invalid("body must be a JSON object such as {\"email\": \"owner@example.com\"}",
                          code="validation_failed")
        unknown = sorted(set(body) - {"email", "org_id"})
        if unknown:
            raise Invalid(f"body: unknown field(s) {', '.join(unknown)}; known: email, org_id", code="validation_failed")
        world = services().world
        token, session, org, member = frontend().sessions.sign_in(world, body.get("email"), body.get("org_id"))
        actor = Actor(id=session.user_id, email=session.email)
        response = json_response(201, {"data": {**session_view(org, actor, member), "created_at": session.created_at}})
        response.set_cookie(COOKIE_NAME, token, **cookie_attributes(request.is_secure))
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/session")
    def who() -> Response:
        org, actor = session_only()
        return json_response(200, {"data": session_view(org, actor)})

    @bp.delete("/session")
    def sign_out() -> Response:
        session_only()
        frontend().sessions.sign_out(request.cookies[COOKIE_NAME])
        response = json_response(200, {"data": {"signed_out": True}})
        attributes = cookie_attributes(request.is_secure)
        response.delete_cookie(COOKIE_NAME, path=attributes["path"], secure=attributes["secure"],
                               httponly=True, samesite=attributes["samesite"])
        return response

    @bp.get("/settings")
    def settings() -> Response:
        caller()
        return json_response(200, {"data": frontend().settings.view()})

    @bp.patch("/settings")
    def update_settings() -> Response:
        caller()
        return json_response(200, {"data": frontend().update_settings(json_body()).view()})

    return bp


def session_only() -> tuple[OrgState, Actor]:
    """The caller of a session route: the session cookie, not a key."""
    if COOKIE_NAME not in request.cookies:
        raise Unauthorized("no session cookie; sign in with POST /__mock/session", code="missing_session")
    found = frontend().session_caller(services(), request)
    assert found is not None
    return found
