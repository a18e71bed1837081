"""The request journal: the last N API requests of each organization (or sandbox) and their answers.

`JournalMiddleware` wraps the API's WSGI layer: it keeps the request body it reads (the API reads it
again from a copy), times the answer and files it under the organization that authenticated (requests
that named no organization — a missing or unknown key — are not filed). Secrets never enter it: the
`Authorization` and `Cookie` headers are left out, and every string field whose name says secret, key,
token, password or plaintext is `[redacted]`, in request and answer bodies alike. Bodies are kept up to
`MAX_BODY_CHARS` characters.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from modelux_spec import BASE_PATH

from ..clock import iso
from ..domain.world import World
from ..errors import Invalid

DEFAULT_SIZE = 500
MAX_SIZE = 100_000
MAX_BODY_CHARS = 64 * 1024
MAX_READ = 1024 * 1024  # the API's own body limit: a larger body is not read here either
ORG_KEY = "modelux.org_id"  # set by the API's authentication
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
    except ValueError:
        shown = "[a body that is not JSON]" if SECRET_NAME.search(text) else text
    else:
        if len(shown) <= MAX_BODY_CHARS:
            return json.loads(shown)
    return shown[:MAX_BODY_CHARS] + f"... [{len(shown) - MAX_BODY_CHARS} more characters]" \
        if len(shown) > MAX_BODY_CHARS else shown


class Journal:
    def __init__(self, size: int = DEFAULT_SIZE):
        self.size = size
        self._entries: dict[str, deque[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, org_id: str, entry: dict[str, Any]) -> None:
        with self._lock:
            entry["id"] = f"req_{next(self._ids)}"
            self._entries.setdefault(org_id, deque(maxlen=self.size)).append(entry)

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
            entries = list(self._entries.get(org_id, ()))
        found = []
        for entry in reversed(entries):
            if method is not None and entry["method"] != method.upper():
                continue
            if status is not None and not (str(entry["status"]) == status or
                                           (status[1:].lower() == "xx" and str(entry["status"])[0] == status[0])):
                continue
            if path is not None and path not in entry["path"] and path not in entry["path"][len(BASE_PATH):]:
                continue
            found.append(entry)
            if len(found) >= int(limit_text):
                break
        return found


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
        started, at = time.perf_counter(), iso(datetime.now(timezone.utc))
        raw = b""
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit() and 0 < int(length) <= MAX_READ:
            raw = environ["wsgi.input"].read(int(length))
            environ["wsgi.input"] = io.BytesIO(raw)
        answer: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer["status"], answer["headers"] = status, headers
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        chunks = list(self.app(environ, capture))
        org_id = environ.get(ORG_KEY)
        if org_id is not None:
            self.journal.record(org_id, {
                "at": at, "method": method, "path": path, "query": environ.get("QUERY_STRING", ""),
                "status": int(answer.get("status", "500").split()[0]),
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "request": {"headers": _headers(environ), "body": body_view(raw)},
                "response": {"headers": {k: v for k, v in answer.get("headers", ()) if k.lower() not in HIDDEN_HEADERS},
                             "body": body_view(b"".join(chunks))},
            })
        return chunks


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    found = {}
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            header = name[5:].replace("_", "-").title()
            if header.lower() not in HIDDEN_HEADERS:
                found[header] = value
        elif name == "CONTENT_TYPE" and value:
            found["Content-Type"] = value
    return found
