"""The API under `/api/manage/v1`: a WSGI app that the spec routes, that authenticates, validates,
calls one handler per operation and validates the answer.

It runs in front of the Flask app (which serves everything else: the spec document, the index and
its own error pages) as WSGI middleware. Flask's per-request machinery — request and application
contexts, URL map, session, hooks — costs about 70 µs a request, more than routing, validation and
a typical handler together; the API needs none of it, so its requests go through werkzeug's
`Request`/`Response` directly. CORS for it comes from flask-cors' own header logic.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from typing import Any, Callable

import orjson
from flask_cors.core import get_cors_headers
from werkzeug.datastructures import Headers
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request, Response

from .compiled import MISSING, CompiledSpec, Operation, Rejected, oracle_misreads, unmarshal_formats
from .errors import ApiError, Invalid, MethodNotAllowed, MockBug, NotFound, PayloadTooLarge, Unauthorized
from .frontend.journal import ORG_KEY, RAW_BODY_KEY
from .frontend.kit import Frontend
from .registry import Call
from .services import MockConfig, Services
from modelux_spec import BASE_PATH
from .domain.world import Actor, OrgState
from .validation import Oracle

log = logging.getLogger("modelux.mock")

MAX_BODY_BYTES = 1024 * 1024
# Input limits (each a 400 naming it): no operation needs more, and each bounds what a request costs.
MAX_DEPTH = 32  # nesting of arrays and objects in a JSON body
MAX_MEMBERS = 1000  # keys of one object, items of one array
MAX_QUERY_BYTES = 8192  # the query string
LONG_NUMBER = re.compile(rb"\d{19}")  # digits orjson may not read as the standard library does


class ApiRequest(Request):
    max_content_length = MAX_BODY_BYTES


def encode(payload: Any) -> bytes:
    """JSON bytes of an answer: orjson, or the standard library for what orjson refuses (ints beyond 64 bits)."""
    try:
        return orjson.dumps(payload, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    response = Response(encode(payload), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class JsonAnswer:
    """A handler's answer as werkzeug's `Response(body, status, mimetype="application/json")` sends it (the same
    status line and headers; no body for HEAD, 204 and 304), without the machinery a JSON body needs none of."""

    __slots__ = ("status_code", "body", "headers")

    def __init__(self, status: int, body: bytes):
        self.status_code = status
        self.body = body
        self.headers = Headers()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        status = self.status_code
        headers = [("Content-Type", "application/json")]
        bodiless = status in (204, 304) or status < 200
        if not bodiless:
            headers.append(("Content-Length", str(len(self.body))))
        headers.extend(self.headers.items())
        start_response(_status_line(status), headers)
        return [] if bodiless or environ.get("REQUEST_METHOD") == "HEAD" else [self.body]


@functools.lru_cache(maxsize=None)
def _status_line(status: int) -> str:
    return f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}"


def error_response(error: ApiError) -> Response:
    return json_response(error.status, error.envelope(), error.headers)


def internal_error() -> Response:
    # No exception name or trace in the answer: they are in the mock's log.
    return json_response(500, {"error": "internal error in the mock (details are in its log)",
                               "code": "internal_error"})


class Api:
    """WSGI middleware: requests under the base path are answered here, the rest by `fallback`."""

    def __init__(self, fallback: Callable, compiled: CompiledSpec, oracle: Oracle, services: Services,
                 config: MockConfig, handlers: dict[str, Callable[[Call], tuple[int, Any]]], cors_options: Any,
                 frontend: Frontend):
        self.fallback = fallback
        self.compiled = compiled
        self.oracle = oracle
        self.services = services
        self.config = config
        self.handlers = handlers
        self.cors_options = cors_options
        self.frontend = frontend

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if not (path == BASE_PATH or path.startswith(BASE_PATH + "/")):
            return self.fallback(environ, start_response)
        request = ApiRequest(environ)
        try:
            response = self.dispatch(request)
        except ApiError as error:
            response = error_response(error)
        except RequestEntityTooLarge:
            response = error_response(PayloadTooLarge(f"request body exceeds {MAX_BODY_BYTES} bytes"))
        except ClientDisconnected:  # fewer bytes than Content-Length said, then the end of the stream
            response = error_response(Invalid("the request body ended before its Content-Length said",
                                              code="incomplete_body"))
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            response = internal_error()
        self.frontend.decorate(request, response)
        if "HTTP_ORIGIN" in environ:
            for name, value in get_cors_headers(self.cors_options, request.headers, request.method).items():
                response.headers[name] = value
        return response(environ, start_response)

    # ── one request ─────────────────────────────────────────────────────

    def dispatch(self, request: Request) -> "Response | JsonAnswer":
        method = request.method.lower()
        query = request.environ.get("QUERY_STRING", "")
        if len(query) > MAX_QUERY_BYTES:
            raise Invalid(f"query string of {len(query)} bytes exceeds {MAX_QUERY_BYTES}", code="query_too_long")
        found = self.compiled.resource(request.path)
        if found is None:
            raise NotFound(f"no such endpoint: {request.path}", code="route_not_found")
        template, path_vars = found
        if method == "options":
            return Response(status=204, headers={"Allow": ", ".join(self.compiled.allowed_methods(template))})
        op = self.compiled.operations.get((template, "get" if method == "head" else method))
        if op is None:
            allowed = ", ".join(self.compiled.allowed_methods(template))
            raise MethodNotAllowed(f"method {method.upper()} is not allowed on {template}; allowed: {allowed}",
                                   headers={"Allow": allowed})
        org, actor = (None, None) if op.public else authenticate(self.services, request, self.frontend)
        preferences = self.frontend.admit(op, request, actor)  # rate limit, Prefer, delay, fault
        body = parse_body(op, request)
        path, query, value = self.read(op, request, path_vars, body)
        call = Call(world=self.services.world, org=org, actor=actor,  # type: ignore[arg-type]
                    path={**path_vars, **path}, query=query, body=value, runtime=self.services)
        forced = self.frontend.answer(op, request, call, preferences, self.handlers)
        if forced is not None:  # Prefer: code=... — answered without touching the world
            return json_response(*forced)
        # The answer is built while the lock is held: what it shows is one consistent state of the world.
        # A request that may write runs in a transaction: its changes stay only once its answer is built
        # and valid; an error, an unencodable or invalid answer rolls them back (reads need no journal).
        world = self.services.world
        with world.lock:
            if method in ("get", "head"):
                return self.answer(op, request, call, method)
            with world.transaction():
                return self.answer(op, request, call, method)

    def answer(self, op: Operation, request: Request, call: Call, method: str) -> "JsonAnswer":
        status, payload = self.handlers[op.operation_id](call)
        body = encode(payload)
        if self.config.validate_responses and not op.response_accepted(status, payload):
            problems = self.oracle.response_problems(request, Response(body, status=status, mimetype="application/json"),
                                                     as_get=method == "head")
            if problems:
                log.error("response of %s violates the spec: %s", op.operation_id, problems)
                raise MockBug(f"mock bug: {op.operation_id} answered {status} violating the spec: {problems}")
        return JsonAnswer(status, body)

    def read(self, op: Operation, request: Request, path_vars: dict[str, str], body: Any) -> tuple[dict, dict, Any]:
        """Path values, query values and body as the handler sees them; a 400 naming the field otherwise."""
        try:
            return op.read_request(path_vars, request.args, body, self.config.validate_requests)
        except Rejected:
            if oracle_misreads(request.path):
                raise Invalid(op.explain(path_vars, request.args, body), code="validation_failed")
            message, path, query, _ = self.oracle.unmarshal_request(request, as_get=request.method == "HEAD")
            if message:
                raise Invalid(message, code="validation_failed")
            log.debug("%s: the oracle accepts a request the compiled validators reject", op.operation_id)
            return path, query, None if body is MISSING else unmarshal_formats(op.body_schema, body)


def authenticate(services: Services, request: Request, frontend: Frontend | None = None) -> tuple[OrgState, Actor]:
    """The caller: a management key (`Authorization: Bearer`), else the dashboard's session cookie. From
    here on the request reads time from the caller's organization's clock."""
    org, actor = _caller(services, request, frontend)
    services.world.act_for(org)
    request.environ[ORG_KEY] = org.id
    return org, actor


def _caller(services: Services, request: Request, frontend: Frontend | None) -> tuple[OrgState, Actor]:
    header = request.headers.get("Authorization")
    if not header and frontend is not None:
        session = frontend.session_caller(services, request)
        if session is not None:
            return session
    if not header:
        raise Unauthorized("missing Authorization header; send 'Authorization: Bearer <management key>'",
                           code="missing_credentials")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("malformed Authorization header; expected 'Bearer <management key>'",
                           code="invalid_credentials")
    found = services.world.authenticate(token)
    if found is None:
        raise Unauthorized("unknown or revoked management key", code="invalid_credentials")
    org, key = found
    return org, Actor(id=key["id"], email=key.get("_email"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_json(value: Any) -> None:
    """A 400 naming the place and the limit for what JSON text allows but no answer could carry: nesting
    deeper than MAX_DEPTH, more than MAX_MEMBERS keys or items, numbers that are not finite, and text that
    is not Unicode (a lone surrogate escape such as "\\ud800" cannot be stored and encoded again)."""
    stack: list[tuple[Any, str, int]] = [(value, "body", 1)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, str):
            _check_text(node, where)
        elif isinstance(node, float) and not math.isfinite(node):
            raise Invalid(f"{where}: {node} is not a finite number", code="invalid_number")
        elif isinstance(node, (dict, list)):
            if depth > MAX_DEPTH:
                raise Invalid(f"{where}: nested deeper than {MAX_DEPTH} levels", code="body_too_deep")
            if len(node) > MAX_MEMBERS:
                kind = "keys" if isinstance(node, dict) else "items"
                raise Invalid(f"{where}: more than {MAX_MEMBERS} {kind} ({len(node)})", code="body_too_large")
            if isinstance(node, dict):
                for key, item in node.items():
                    _check_text(key, f"{where} key")
                    stack.append((item, f"{where}.{key}", depth + 1))
            else:
                stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(node))


def _check_text(text: str, where: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise Invalid(f"{where}: text with an unpaired surrogate (\\u{ord(text[exc.start]):04x}) is not Unicode",
                          code="invalid_text")


def parse_body(op: Operation, request: Request) -> Any:
    """The JSON body (MISSING when none was sent); wrong media types, broken JSON and the input limits are
    400s here."""
    if op.body is None:
        return MISSING
    raw = request.environ.get(RAW_BODY_KEY)
    if raw is None:
        raw = request.get_data(cache=True)
    if request.content_length is not None and len(raw) < request.content_length:  # the client hung up mid-body
        raise Invalid(f"the request body ended after {len(raw)} of its {request.content_length} bytes "
                      "(Content-Length)", code="incomplete_body")
    if not raw:
        if op.body_required:
            raise Invalid("request body is required (a JSON object)", code="missing_body")
        return MISSING
    if request.mimetype != "application/json":
        raise Invalid(f"unsupported Content-Type '{request.content_type or ''}'; send application/json",
                      code="unsupported_media_type")
    if not LONG_NUMBER.search(raw):
        try:  # orjson reads what the standard library reads alike, but integers beyond 64 bits (read as floats)
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the standard library's reading below says what is wrong, as it always has
        else:
            check_json(value)
            return value
    try:  # JSON between systems is UTF-8 (RFC 8259 §8.1): no UTF-16 or UTF-32, no byte order mark
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"body is not UTF-8 (invalid byte at offset {exc.start}); send JSON encoded as UTF-8",
                      code="malformed_json")
    if text.startswith("\ufeff"):
        raise Invalid("body starts with a byte order mark; send JSON encoded as UTF-8 without one",
                      code="malformed_json")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise Invalid(f"body: nested deeper than {MAX_DEPTH} levels", code="body_too_deep")
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"malformed JSON body: {exc}", code="malformed_json")
    check_json(value)
    return value
