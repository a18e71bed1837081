"""`/__mock/...`: sign in and out like the dashboard, and the kit's knobs at run time.

    POST   /__mock/session    {"email": ..., "org_id"?: ...}  sign a member in; sets the session cookie
    GET    /__mock/session    who the session cookie names
    DELETE /__mock/session    sign out (the cookie stops working at once)
    GET    /__mock/settings   latency, fault rate, rate limit in force
    PATCH  /__mock/settings   change them (all or nothing)
    POST   /__mock/reset                       the caller's organization (or sandbox) back to its boot state
    GET    /__mock/snapshots                   its snapshots
    POST   /__mock/snapshots   {"name": ...}    save one (the same name again replaces it)
    POST   /__mock/snapshots/{name}/restore    bring it back (atomically)
    DELETE /__mock/snapshots/{name}
    GET    /__mock/clock                       its clock
    POST   /__mock/clock/advance {"by": "PT1H" | seconds}
    POST   /__mock/clock/set     {"now": "<ISO 8601>"}   (never backwards)
    GET    /__mock/sandboxes                   the sandboxes it minted
    POST   /__mock/sandboxes   {"name"?, "seed"?, "empty"?, "clock"?}   mint one (its key is in the answer)
    DELETE /__mock/sandboxes/{id}
    GET    /__mock/requests    ?path=&method=&status=&limit=   its request journal, newest first
    DELETE /__mock/requests                    clear it
    GET    /__mock            what is here

Every route but the sign-in is behind the `caller()` guard (the key or the session) and acts on the
caller's organization only: a sandbox's key sees its sandbox.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

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


def for_caller(view: Callable[..., Any]) -> Callable[..., Response]:
    """A route acting on the caller's organization (`caller()`): `view(org, **path)` is answered as `{"data": ...}`."""

    def route(**path: Any) -> Response:
        org, _ = caller()
        return json_response(200, {"data": view(org, **path)})

    return route


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
        return json_response(200, {"data": {"routes": ROUTES, "docs": "/docs"}})

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
        token, session, org, member = frontend().sessions.sign_in(world, body.get("email"), body.get("org_id"),
                                                                  frontend().sandboxes.hidden())
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

    # ── reset, snapshots, the clock, sandboxes, the journal: each acts on the caller's organization ──

    acting: list[tuple[str, str, str, Callable[..., Any]]] = [
        ("POST", "/reset", "reset", lambda org: frontend().states.reset(org)),
        ("GET", "/snapshots", "snapshots", lambda org: frontend().states.list(org)),
        ("POST", "/snapshots/<name>/restore", "restore_snapshot",
         lambda org, name: frontend().states.restore(org, name)),
        ("DELETE", "/snapshots/<name>", "delete_snapshot", lambda org, name: frontend().states.delete(org, name)),
        ("GET", "/clock", "clock", lambda org: frontend().clocks.view(org)),
        ("POST", "/clock/advance", "advance_clock", lambda org: frontend().clocks.advance(org, json_body())),
        ("POST", "/clock/set", "set_clock", lambda org: frontend().clocks.set(org, json_body())),
        ("GET", "/sandboxes", "sandboxes", lambda org: frontend().sandboxes.list(org)),
        ("DELETE", "/sandboxes/<sandbox_id>", "delete_sandbox",
         lambda org, sandbox_id: frontend().sandboxes.delete(org, sandbox_id)),
        ("GET", "/requests", "requests", lambda org: frontend().journal.query(org.id, request.args)),
        ("DELETE", "/requests", "clear_requests", lambda org: {"cleared": frontend().journal.clear(org.id)}),
    ]
    for method, rule, endpoint, act in acting:
        bp.add_url_rule(rule, endpoint, for_caller(act), methods=[method])

    @bp.post("/snapshots")
    def save_snapshot() -> Response:
        org, _ = caller()
        replaced, view = frontend().states.save(org, json_body())
        return json_response(200 if replaced else 201, {"data": view})

    @bp.post("/sandboxes")
    def create_sandbox() -> Response:
        org, _ = caller()
        body = json_body() if request.get_data(cache=True) else {}
        response = json_response(201, {"data": frontend().sandboxes.create(org, body)})
        response.headers["Cache-Control"] = "no-store"  # the answer holds the sandbox's key
        return response

    return bp


# What `GET /__mock` lists: the routes of this module's docstring.
ROUTES = [" ".join(found) for found in re.findall(r"^ +(GET|POST|PATCH|DELETE) +(/__mock\S*)", __doc__ or "", re.M)]


def session_only() -> tuple[OrgState, Actor]:
    """The caller of a session route: the session cookie, not a key."""
    if COOKIE_NAME not in request.cookies:
        raise Unauthorized("no session cookie; sign in with POST /__mock/session", code="missing_session")
    found = frontend().session_caller(services(), request)
    assert found is not None
    return found
