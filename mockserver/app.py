"""The Flask shell: find the operation, authenticate, validate, call its handler, validate the answer.

Everything here is HTTP plumbing; handlers and engines know nothing of Flask.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, g, request
from flask_cors import CORS
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, ServerNotFound
from openapi_core.templating.paths.finders import APICallPathFinder
from werkzeug.exceptions import HTTPException

from .errors import ApiError, Invalid, MethodNotAllowed, MockBug, NotFound, PayloadTooLarge, Unauthorized
from .registry import Call, load_handlers
from .services import MockConfig, Services
from .spec import BASE_PATH, HTTP_METHODS, effective_spec, operations
from .store import Actor
from .validation import describe_request_errors, describe_response_errors

log = logging.getLogger("modelux.mock")

MAX_BODY_BYTES = 1024 * 1024
ROUTE_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "QUERY"]


@dataclass
class Router:
    """Finds operations with openapi-core's path finder over the effective spec."""

    spec: dict[str, Any]
    api: OpenAPI = field(init=False)
    finder: APICallPathFinder = field(init=False)
    by_template: dict[tuple[str, str], dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.api = OpenAPI.from_dict(self.spec)
        self.finder = APICallPathFinder(self.api.spec, base_url=None)
        self.by_template = {(path, method): op for path, method, op in operations(self.spec)}
        # Most specific first: `/routing-configs/dry-run` is its own resource, not `{id}`.
        self.templates = sorted(
            ((_template_regex(path), path) for path in self.spec["paths"]),
            key=lambda item: (item[1].count("{"), -len(item[1])),
        )

    def resource(self, path: str) -> str | None:
        """The spec path template a request path names, preferring literal segments."""
        relative = path[len(BASE_PATH):] if path.startswith(BASE_PATH) else None
        if relative is None:
            return None
        for regex, template in self.templates:
            if regex.match(relative):
                return template
        return None

    def find(self, method: str, url: str) -> tuple[dict[str, Any], dict[str, str]]:
        """The operation for a request and its path variables; 404 or 405 otherwise."""
        template = self.resource(request.path)
        if template is None:
            raise NotFound(f"no such endpoint: {request.path}", code="route_not_found")
        if (template, method) not in self.by_template:
            allowed = self.allowed_methods(template)
            raise MethodNotAllowed(
                f"method {method.upper()} is not allowed on {template}; allowed: {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        try:
            found = self.finder.find(method, url)
        except (OperationNotFound, PathNotFound, ServerNotFound):
            raise NotFound(f"no such endpoint: {request.path}", code="route_not_found")
        found_template = found.path.parts[-1]
        return self.by_template[(found_template, method)], dict(found.path_result.variables)

    def allowed_methods(self, template: str) -> list[str]:
        allowed = [m.upper() for m in HTTP_METHODS if (template, m) in self.by_template]
        if "GET" in allowed:
            allowed.append("HEAD")
        allowed.append("OPTIONS")
        return allowed


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


def create_app(config: MockConfig | None = None, services: Services | None = None,
               handlers: dict[str, Any] | None = None) -> Flask:
    """Build a mock: its world, its background services and the HTTP shell around them.

    `handlers` replaces the operation table (tests build deliberately broken variants this way).
    """
    config = config or MockConfig()
    services = services or Services.build(config)
    spec = effective_spec()
    router = Router(spec)
    handlers = dict(handlers if handlers is not None else load_handlers())
    missing = {op["operationId"] for _, _, op in operations(spec)} - set(handlers)
    if missing:
        raise RuntimeError(f"operations without a handler: {sorted(missing)}")

    app = Flask("modelux-mock")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["modelux"] = services
    CORS(
        app,
        resources={r"/api/*": {"origins": config.cors_origins}, r"/openapi.json": {"origins": config.cors_origins}},
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["Allow", "Retry-After"],
        max_age=600,
    )

    def api_view(subpath: str = "") -> Response:
        return _dispatch(router, services, config, handlers)

    app.add_url_rule(BASE_PATH, "api_root", api_view, methods=ROUTE_METHODS, provide_automatic_options=False)
    app.add_url_rule(
        f"{BASE_PATH}/<path:subpath>", "api", api_view, methods=ROUTE_METHODS, provide_automatic_options=False
    )

    @app.get("/openapi.json")
    def openapi_json() -> Response:
        return _json(200, spec)

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


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    response = Response(body, status=status, mimetype="application/json")
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


def _parse_body(op: dict[str, Any]) -> None:
    """Reject what openapi-core would only half-explain: wrong media type, broken JSON."""
    if "requestBody" not in op:
        return
    raw = request.get_data(cache=True)
    required = op["requestBody"].get("required", False)
    if not raw:
        if required:
            raise Invalid("request body is required (a JSON object)", code="missing_body")
        return
    if request.mimetype != "application/json":
        raise Invalid(f"unsupported Content-Type '{request.content_type or ''}'; send application/json",
                      code="unsupported_media_type")
    try:
        json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"malformed JSON body: {exc}", code="malformed_json")


def _dispatch(router: Router, services: Services, config: MockConfig, handlers: dict) -> Response:
    method = request.method.lower()
    url = request.host_url.rstrip("/") + request.path
    if method == "options":
        template = router.resource(request.path)
        if template is None:
            raise NotFound(f"no such endpoint: {request.path}", code="route_not_found")
        return Response(status=204, headers={"Allow": ", ".join(router.allowed_methods(template))})
    lookup = "get" if method == "head" else method
    op, path_vars = router.find(lookup, url)
    operation_id = op["operationId"]
    public = op.get("security", router.spec.get("security")) == []
    actor = None if public else _authenticate(services)
    _parse_body(op)

    openapi_request = WerkzeugOpenAPIRequest(request)
    if method == "head":
        openapi_request = _AsGet(openapi_request)
    result = router.api.unmarshal_request(openapi_request)
    if result.errors:
        raise Invalid(describe_request_errors(result.errors), code="validation_failed")

    call = Call(
        world=services.world,
        org=g.get("org"),  # type: ignore[arg-type]
        actor=actor,  # type: ignore[arg-type]
        path={**path_vars, **dict(result.parameters.path)},
        query=dict(result.parameters.query),
        body=result.body,
        services=services,
    )
    with services.world.lock:
        status, payload = handlers[operation_id](call)
    response = _json(status, payload)
    if config.validate_responses:
        problems = describe_response_errors(router.api, openapi_request, response)
        if problems:
            log.error("response of %s violates the spec: %s", operation_id, problems)
            raise MockBug(f"mock bug: {operation_id} answered {status} violating the spec: {problems}")
    return response


class _AsGet:
    """HEAD is answered as GET (without a body); openapi-core knows only GET."""

    def __init__(self, inner: WerkzeugOpenAPIRequest):
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def method(self) -> str:
        return "get"
