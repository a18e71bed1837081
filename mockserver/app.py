"""The Flask shell: find the operation, authenticate, validate, call its handler, validate the answer.

Everything here is HTTP plumbing; handlers and engines know nothing of Flask. Routes and validators
are compiled once per process (`compiled.py`); openapi-core judges whatever they would reject and
writes the messages (`validation.Oracle`).
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

import orjson
from flask import Flask, Response, g, request
from flask_cors import CORS
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from .compiled import MISSING, CompiledSpec, Operation, Rejected, oracle_misreads, unmarshal_formats
from .errors import ApiError, Invalid, MethodNotAllowed, MockBug, NotFound, PayloadTooLarge, Unauthorized
from .registry import Call, load_handlers
from .services import MockConfig, Services
from .spec import BASE_PATH, effective_spec
from .store import Actor
from .validation import Oracle

log = logging.getLogger("modelux.mock")

MAX_BODY_BYTES = 1024 * 1024
ROUTE_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "QUERY"]


class AnyPath(PathConverter):
    """Every path below the base path reaches the dispatcher, newlines included: the spec routes it."""

    regex = "[^/](?s:.*?)"


@functools.lru_cache(maxsize=1)
def served_spec() -> tuple[CompiledSpec, Oracle, bytes]:
    """The effective spec compiled, its oracle and its JSON: built once per process, shared by every app."""
    spec = effective_spec()
    return CompiledSpec(spec), Oracle(spec), encode(spec)


def create_app(config: MockConfig | None = None, services: Services | None = None,
               handlers: dict[str, Any] | None = None) -> Flask:
    """Build a mock: its world, its background services and the HTTP shell around them.

    `handlers` replaces the operation table (tests build deliberately broken variants this way).
    """
    config = config or MockConfig()
    services = services or Services.build(config)
    compiled, oracle, spec_json = served_spec()
    handlers = dict(handlers if handlers is not None else load_handlers())
    missing = set(compiled.by_id) - set(handlers)
    if missing:
        raise RuntimeError(f"operations without a handler: {sorted(missing)}")

    app = Flask("modelux-mock")
    app.url_map.converters["anything"] = AnyPath
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["modelux"] = services
    CORS(
        app,
        resources={r"/api/*": {"origins": config.cors_origins}, r"/openapi.json": {"origins": config.cors_origins}},
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["Allow", "Retry-After"],
        max_age=600,
    )

    def api_view(subpath: str = "") -> Response:
        return _dispatch(compiled, oracle, services, config, handlers)

    app.add_url_rule(BASE_PATH, "api_root", api_view, methods=ROUTE_METHODS, provide_automatic_options=False)
    app.add_url_rule(
        f"{BASE_PATH}/<anything:subpath>", "api", api_view, methods=ROUTE_METHODS, provide_automatic_options=False
    )

    @app.get("/openapi.json")
    def openapi_json() -> Response:
        return Response(spec_json, status=200, mimetype="application/json")

    @app.get("/")
    def index() -> Response:
        return _json(200, {"data": {"name": "Modelux Management API mock", "base_path": BASE_PATH,
                                    "spec": "/openapi.json"}})

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return _json(error.status, error.envelope(), error.headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        if error.code == 413:
            return api_error(PayloadTooLarge(f"request body exceeds {MAX_BODY_BYTES} bytes"))
        if error.code == 405:
            allowed = sorted(error.valid_methods or [])  # type: ignore[attr-defined]
            return api_error(MethodNotAllowed(f"method {request.method} is not allowed here",
                                              headers={"Allow": ", ".join(allowed)}))
        if error.code == 404:
            return api_error(NotFound(f"no such endpoint: {request.path}", code="route_not_found"))
        code = (error.name or "error").lower().replace(" ", "_")
        return _json(error.code or 500, {"error": error.description or error.name, "code": code})

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _json(500, {"error": f"internal error: {type(error).__name__}", "code": "internal_error"})

    return app


def encode(payload: Any) -> bytes:
    """JSON bytes of an answer: orjson, or the standard library for what orjson refuses (ints beyond 64 bits)."""
    try:
        return orjson.dumps(payload, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    response = Response(encode(payload), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _authenticate(services: Services) -> Actor:
    world = services.world
    header = request.headers.get("Authorization")
    if not header:
        raise Unauthorized("missing Authorization header; send 'Authorization: Bearer <management key>'",
                           code="missing_credentials")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("malformed Authorization header; expected 'Bearer <management key>'",
                           code="invalid_credentials")
    found = world.authenticate(token)
    if found is None:
        raise Unauthorized("unknown or revoked management key", code="invalid_credentials")
    org, key = found
    g.org = org
    return Actor(id=key["id"], email=key.get("_email"))


def _parse_body(op: Operation) -> Any:
    """The JSON body (MISSING when none was sent); wrong media types and broken JSON are 400s here."""
    if op.body is None:
        return MISSING
    raw = request.get_data(cache=True)
    if not raw:
        if op.body_required:
            raise Invalid("request body is required (a JSON object)", code="missing_body")
        return MISSING
    if request.mimetype != "application/json":
        raise Invalid(f"unsupported Content-Type '{request.content_type or ''}'; send application/json",
                      code="unsupported_media_type")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"malformed JSON body: {exc}", code="malformed_json")


def _dispatch(compiled: CompiledSpec, oracle: Oracle, services: Services, config: MockConfig,
              handlers: dict) -> Response:
    method = request.method.lower()
    found = compiled.resource(request.path)
    if found is None:
        raise NotFound(f"no such endpoint: {request.path}", code="route_not_found")
    template, path_vars = found
    if method == "options":
        return Response(status=204, headers={"Allow": ", ".join(compiled.allowed_methods(template))})
    op = compiled.operations.get((template, "get" if method == "head" else method))
    if op is None:
        allowed = compiled.allowed_methods(template)
        raise MethodNotAllowed(f"method {method.upper()} is not allowed on {template}; allowed: {', '.join(allowed)}",
                               headers={"Allow": ", ".join(allowed)})
    actor = None if op.public else _authenticate(services)
    body = _parse_body(op)
    try:
        path, query, value = op.read_request(path_vars, request.args, body, config.validate_requests)
    except Rejected:
        if oracle_misreads(request.path):
            raise Invalid(op.explain(path_vars, request.args, body), code="validation_failed")
        message, path, query, _ = oracle.unmarshal_request(request, as_get=method == "head")
        if message:
            raise Invalid(message, code="validation_failed")
        log.debug("%s: the oracle accepts a request the compiled validators reject", op.operation_id)
        value = None if body is MISSING else unmarshal_formats(op.body_schema, body)

    call = Call(world=services.world, org=g.get("org"), actor=actor,  # type: ignore[arg-type]
                path={**path_vars, **path}, query=query, body=value, services=services)
    # The answer is built while the lock is held: what it shows is one consistent state of the world.
    with services.world.lock:
        status, payload = handlers[op.operation_id](call)
        response = Response(encode(payload), status=status, mimetype="application/json")
        if config.validate_responses and not op.response_accepted(status, payload):
            problems = oracle.response_problems(request, response, as_get=method == "head")
            if problems:
                log.error("response of %s violates the spec: %s", op.operation_id, problems)
                raise MockBug(f"mock bug: {op.operation_id} answered {status} violating the spec: {problems}")
    return response
