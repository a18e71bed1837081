"""The request journal: the last N API requests of each organization (or sandbox) and their answers.

`JournalMiddleware` wraps the API's WSGI layer: it keeps the request body it reads (the API reads it
again from a copy), times the answer and files it under the organization that authenticated (requests
that named no organization — a missing or unknown key — are not filed). Secrets never leave it: the
`Authorization` and `Cookie` headers are left out, and every string field whose name says secret, key,
token, password or plaintext is shown `[redacted]`, in request and answer bodies alike. Bodies are kept up to
`MAX_BODY_CHARS` characters; a body is read and redacted when the journal is asked for it, so filing costs
a request next to nothing.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from modelux_spec import BASE_PATH

from ..clock import iso
from ..domain.world import World
from ..errors import Invalid

DEFAULT_SIZE = 500
MAX_SIZE = 100_000
MAX_BODY_CHARS = 16 * 1024
MAX_KEPT_BYTES = 64 * 1024
MAX_READ = 1024 * 1024  # the API's own body limit: a larger body is not read here either
ORG_KEY = "modelux.org_id"  # set by the API's authentication
RAW_BODY_KEY = "modelux.raw_body"  # the body read here, for the API
SECRET_NAME = re.compile(r"secret|password|passwd|token|plaintext|authorization|cookie|(^|_)key$|apikey|api_key",
                         re.IGNORECASE)
HIDDEN_HEADERS = {"authorization", "cookie", "set-cookie"}
FILTERS = ("path", "method", "status", "limit")


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("[redacted]" if isinstance(v, str) and SECRET_NAME.search(str(k)) else redact(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def body_view(raw: bytes) -> Any:
    """A body as the journal shows it: JSON redacted, other text cut short, nothing for no body."""
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        shown = json.dumps(redact(json.loads(text)), ensure_ascii=False)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python's parser goes (the API said 400)
        shown = "[a body that is not JSON]" if SECRET_NAME.search(text) else text
    else:
        if len(shown) <= MAX_BODY_CHARS:
            return json.loads(shown)
    if len(shown) <= MAX_BODY_CHARS:
        return shown
    return shown[:MAX_BODY_CHARS] + f"... [{len(shown) - MAX_BODY_CHARS} more characters]"


def kept(raw: bytes) -> bytes | Any:
    """What an entry keeps of a body: the bytes (read and redacted only when asked for), or at once its view
    when they are large (a view is at most `MAX_BODY_CHARS` characters)."""
    return raw if len(raw) <= MAX_KEPT_BYTES else body_view(raw)


@dataclass(slots=True)
class Entry:
    """One request and its answer, as filed: raw parts, made readable (and redacted) only when asked for."""

    at: float
    method: str
    path: str
    query: str
    status: int
    seconds: float
    request_headers: list[tuple[str, Any]]
    request_body: Any
    response_headers: list[tuple[str, str]]
    response_body: Any
    id: str = ""

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "at": iso(datetime.fromtimestamp(self.at, timezone.utc)), "method": self.method,
                "path": self.path, "query": self.query, "status": self.status,
                "duration_ms": round(self.seconds * 1000, 3),
                "request": {"headers": _request_headers(self.request_headers), "body": _body(self.request_body)},
                "response": {"headers": {k: v for k, v in self.response_headers if k.lower() not in HIDDEN_HEADERS},
                             "body": _body(self.response_body)}}


def _body(kept_body: Any) -> Any:
    return body_view(kept_body) if isinstance(kept_body, bytes) else kept_body


class Journal:
    def __init__(self, size: int = DEFAULT_SIZE):
        self.size = size
        self._entries: dict[str, deque[tuple]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def file(self, org_id: str, fields: tuple) -> None:
        """Keep one request: `Entry`'s fields but its id, as a plain tuple of strings, numbers, bytes and tuples
        of those, which the garbage collector stops tracking, so a full journal does not make every
        collection slower (it is turned into an `Entry` when read)."""
        with self._lock:
            self._entries.setdefault(org_id, deque(maxlen=self.size)).append((next(self._ids),) + fields)

    def forget(self, org_id: str) -> None:
        with self._lock:
            self._entries.pop(org_id, None)

    def clear(self, org_id: str) -> int:
        with self._lock:
            found = self._entries.pop(org_id, None)
        return len(found or ())

    def query(self, org_id: str, args: Any) -> list[dict[str, Any]]:
        """Newest first; `path` (a prefix of the path under the base path, or any part of it), `method`,
        `status` (`404` or `4xx`), `limit`."""
        unknown = sorted(set(args) - set(FILTERS))
        if unknown:
            raise Invalid(f"unknown filter(s) {', '.join(unknown)}; known: {', '.join(FILTERS)}",
                          code="validation_failed")
        path, method, status = args.get("path"), args.get("method"), args.get("status")
        limit_text = args.get("limit", str(self.size))
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_SIZE:
            raise Invalid(f"'limit' must be a whole number from 1 to {MAX_SIZE}; got {limit_text!r}",
                          code="validation_failed")
        if method is not None and not re.fullmatch(r"[A-Za-z]{1,10}", method):
            raise Invalid(f"'method' must be an HTTP method such as GET or POST; got {method!r}",
                          code="validation_failed")
        if status is not None and not re.fullmatch(r"[1-5](\d\d|xx|XX)", status):
            raise Invalid(f"'status' must be a status code (404) or a class (4xx); got {status!r}",
                          code="validation_failed")
        with self._lock:
            filed = list(self._entries.get(org_id, ()))
        entries = [Entry(*fields[1:7], list(fields[7]), fields[8], list(fields[9]), fields[10], id=f"req_{fields[0]}")
                   for fields in filed]
        found = []
        for entry in reversed(entries):
            if method is not None and entry.method != method.upper():
                continue
            if status is not None and not (str(entry.status) == status or
                                           (status[1:].lower() == "xx" and str(entry.status)[0] == status[0])):
                continue
            if path is not None and path not in entry.path and path not in entry.path[len(BASE_PATH):]:
                continue
            found.append(entry)
            if len(found) >= int(limit_text):
                break
        return [entry.view() for entry in found]


class JournalMiddleware:
    """WSGI: files every API request with its answer in the journal; resets the request's acting organization;
    calls `before_change` before and `changed` after every request that may change the world (not GET, HEAD or
    OPTIONS)."""

    def __init__(self, app: Callable, journal: Journal, world: World, before_change: Callable[[], None],
                 changed: Callable[[], None]):
        self.app = app
        self.journal = journal
        self.world = world
        self.before_change = before_change
        self.changed = changed

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        self.world.act_for(None)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method in ("GET", "HEAD", "OPTIONS"):
            return self._answer(environ, start_response, method)
        self.before_change()
        try:
            return self._answer(environ, start_response, method)
        finally:
            self.changed()

    def _answer(self, environ: dict[str, Any], start_response: Callable, method: str) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not (path == BASE_PATH or path.startswith(BASE_PATH + "/")):
            return self.app(environ, start_response)
        at, started = time.time(), time.perf_counter()
        raw = b""
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit() and 0 < int(length) <= MAX_READ:
            raw = environ["wsgi.input"].read(int(length))
            environ["wsgi.input"] = io.BytesIO(raw)
            environ[RAW_BODY_KEY] = raw  # the API reads it from here
        answer: list[Any] = ["500 INTERNAL SERVER ERROR", []]

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = status, headers
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        chunks = list(self.app(environ, capture))
        org_id = environ.get(ORG_KEY)
        if org_id is not None:
            headers = tuple([(name, value) for name, value in environ.items()
                             if name[:5] == "HTTP_" or name == "CONTENT_TYPE"])
            self.journal.file(org_id, (at, method, path, environ.get("QUERY_STRING", ""), int(answer[0][:3]),
                                       time.perf_counter() - started, headers, kept(raw), tuple(answer[1]),
                                       kept(b"".join(chunks))))
        return chunks


def _request_headers(items: list[tuple[str, Any]]) -> dict[str, str]:
    found = {}
    for name, value in items:
        header = "Content-Type" if name == "CONTENT_TYPE" else name[5:].replace("_", "-").title()
        if value and header.lower() not in HIDDEN_HEADERS:
            found[header] = value
    return found
