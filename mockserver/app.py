"""The Flask app: the API (spec-routed and validated, `api.py`) in front, Flask for everything else.

Routes and validators are compiled once per process (`compiled.py`); openapi-core judges whatever
they would reject and writes the messages (`validation.Oracle`). Handlers and engines know nothing
of HTTP.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Flask, Response, request
from flask_cors import CORS
from flask_cors.core import get_cors_options
from werkzeug.exceptions import HTTPException

from .api import MAX_BODY_BYTES, Api, encode, error_response, internal_error, json_response, log
from .compiled import CompiledSpec
from .control import CONTROL_PREFIX, control_blueprint, docs_blueprint
from .errors import MethodNotAllowed, NotFound, PayloadTooLarge
from .frontend.kit import Frontend
from .handlers import load_handlers
from .services import MockConfig, Services
from modelux_spec import BASE_PATH, effective_spec
from .validation import Oracle

CORS_OPTIONS = dict(allow_headers=["Authorization", "Content-Type", "Prefer"],
                    expose_headers=["Allow", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                                    "X-RateLimit-Reset", "Preference-Applied", "X-Mock-Fault"],
                    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"], max_age=600)


def cors_options(origins: Any) -> dict[str, Any]:
    """CORS for the API and the control surface: any origin without credentials by default; with an
    explicit origin list (`--cors-origin`), those origins with credentials (the session cookie). Never
    `*` with credentials."""
    explicit = origins != "*" and bool(origins)
    return dict(origins=origins, supports_credentials=explicit, **CORS_OPTIONS)


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
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["modelux"] = services
    frontend = Frontend(config, compiled.spec, oracle)
    app.extensions["modelux.frontend"] = frontend
    cors = cors_options(config.cors_origins)
    CORS(app, resources={r"/openapi.json": {}, rf"{CONTROL_PREFIX}/*": {}}, **cors)
    api_cors = get_cors_options(app, cors)
    frontend.attach(services)
    api = Api(app.wsgi_app, compiled, oracle, services, config, handlers, api_cors, frontend)
    app.extensions["modelux.api"] = api  # the API's WSGI layer, whatever wraps it (the journal)
    app.wsgi_app = frontend.journaled(api, services)  # type: ignore[method-assign]
    app.register_blueprint(control_blueprint())
    app.register_blueprint(docs_blueprint())

    @app.get("/openapi.json")
    def openapi_json() -> Response:
        return Response(spec_json, status=200, mimetype="application/json")

    @app.get("/")
    def index() -> Response:
        return json_response(200, {"data": {"name": "Modelux Management API mock", "base_path": BASE_PATH,
                                            "spec": "/openapi.json"}})

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        if error.code == 413:
            return error_response(PayloadTooLarge(f"request body exceeds {MAX_BODY_BYTES} bytes"))
        if error.code == 405:
            allowed = ", ".join(sorted(error.valid_methods or []))  # type: ignore[attr-defined]
            return error_response(MethodNotAllowed(f"method {request.method} is not allowed here",
                                                   headers={"Allow": allowed}))
        if error.code == 404:
            return error_response(NotFound(f"no such endpoint: {request.path}", code="route_not_found"))
        code = (error.name or "error").lower().replace(" ", "_")
        return json_response(error.code or 500, {"error": error.description or error.name, "code": code})

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return internal_error()

    return app
