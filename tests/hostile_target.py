"""A hostile target: the real mock behind a small threaded HTTP server that misbehaves in one way, on chosen requests.

Every request but the chosen ones (`when`, by default `GET /projects/{id}`) is answered by the mock (its WSGI app,
called in process); the chosen ones get the behaviour:

| behaviour | what the target does |
|---|---|
| `hang` | reads the request and never answers |
| `drip` | sends a 200's headers, then its body at 1 byte a second |
| `drip-headers` | sends a 200's headers at 1 byte a second, never ending them |
| `reset` | sends a 200's headers and part of its body, then resets the connection (RST) |
| `invalid-json` | 200 `application/json` whose body is not JSON (it quotes the key it was sent) |
| `huge` | 200 `application/json` of 10 MiB |
| `storm` | 500, 502, 503 in turn |
| `redirect` | 307 to the same path on `other_host` (another origin), the key in the `Location`'s query |
| `wrong-type` | 200 `text/html`, a page quoting the key it was sent |

`other_host` is a second loopback server that records every request it gets, and whether it carried an
`Authorization` header. Every thread a hang or a drip holds is released when the target stops.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from werkzeug.test import Client

from mockserver.testing import build_app, new_token

BEHAVIOURS = ("hang", "drip", "drip-headers", "reset", "invalid-json", "huge", "storm", "redirect", "wrong-type")
HUGE_BYTES = 10 * 1024 * 1024
PROJECT_BY_ID = re.compile(r"^/api/manage/v1/projects/[^/?]+$")
STORM = (500, 502, 503)


def project_by_id(method: str, path: str) -> bool:
    return method == "GET" and bool(PROJECT_BY_ID.match(path))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class OtherHost:
    """Another origin: answers every request 200 and records what it got."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(_Quiet):
            def _record(self) -> None:
                outer.requests.append((self.command, self.path, dict(self.headers.items())))
                body = b'{"data": {"id": "elsewhere"}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _record

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def saw_authorization(self) -> bool:
        return any(name.lower() == "authorization" for _, _, headers in self.requests for name in headers)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HostileTarget:
    """`with HostileTarget("hang") as target:` — `target.base_url`, `target.token`, `target.other_host`."""

    def __init__(self, behaviour: str, when: Callable[[str, str], bool] = project_by_id):
        assert behaviour in BEHAVIOURS, behaviour
        self.behaviour = behaviour
        self.when = when
        self.token = new_token()
        self.app, self.services = build_app(self.token, seed_logs=20)
        self.client = Client(self.app)
        self.stopping = threading.Event()
        self.hostile_answers = 0
        self.other_host = OtherHost()
        self._lock = threading.Lock()
        outer = self

        class Handler(_Quiet):
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?", 1)[0]
                if outer.when(self.command, path):
                    with outer._lock:
                        outer.hostile_answers += 1
                        count = outer.hostile_answers
                    try:
                        getattr(outer, "_" + outer.behaviour.replace("-", "_"))(self, count)
                    except OSError:  # the client gave up on us, as it should
                        pass
                    return
                answer = outer.client.open(self.path, method=self.command, data=body,
                                           headers=[(k, v) for k, v in self.headers.items()
                                                    if k.lower() not in ("host", "content-length")])
                self._send(answer.status_code, answer.headers.get("Content-Type", "application/json"), answer.data)

            def _send(self, status: int, content_type: str, data: bytes, **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    # ── the behaviours ───────────────────────────────────────────────────

    def _hang(self, handler, count: int) -> None:
        self.stopping.wait(600)

    @staticmethod
    def _begin(handler, length: int, start: bytes) -> None:
        """A 200 JSON answer announcing `length` bytes, of which only `start` is sent (so far)."""
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(length))
        handler.end_headers()
        handler.wfile.write(start)
        handler.wfile.flush()

    def _drip(self, handler, count: int) -> None:
        self._begin(handler, 100000, b'{"data": {"id": "')
        while not self.stopping.wait(1.0):
            handler.wfile.write(b"x")
            handler.wfile.flush()

    def _drip_headers(self, handler, count: int) -> None:
        handler.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nX-Drip: ")
        handler.wfile.flush()
        while not self.stopping.wait(1.0):
            handler.wfile.write(b"x")
            handler.wfile.flush()

    def _reset(self, handler, count: int) -> None:
        self._begin(handler, 5000, b'{"data": {"id": "proj_')
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()  # with a zero linger: an RST, not a clean close

    def _invalid_json(self, handler, count: int) -> None:
        quoted = handler.headers.get("Authorization", "")
        handler._send(200, "application/json", f'{{"data": {{"id": "proj_1", "note": "{quoted}", '.encode())

    def _huge(self, handler, count: int) -> None:
        head, tail = b'{"data": {"id": "proj_1", "pad": "', b'"}}'
        self._begin(handler, HUGE_BYTES, head)
        left, chunk = HUGE_BYTES - len(head) - len(tail), b"x" * 65536
        while left > 0 and not self.stopping.is_set():
            handler.wfile.write(chunk[:left])
            left -= min(left, len(chunk))
        handler.wfile.write(tail)

    def _storm(self, handler, count: int) -> None:
        status = STORM[count % len(STORM)]
        handler._send(status, "application/json",
                      json.dumps({"error": "the backend is on fire", "code": "internal_error"}).encode())

    def _redirect(self, handler, count: int) -> None:
        key = handler.headers.get("Authorization", "").removeprefix("Bearer ")
        handler._send(307, "application/json", b'{"data": null}',
                      Location=f"{self.other_host.url}{handler.path.split('?', 1)[0]}?key={key}")

    def _wrong_type(self, handler, count: int) -> None:
        quoted = handler.headers.get("Authorization", "")
        handler._send(200, "text/html; charset=utf-8",
                      f"<html><body><h1>Welcome</h1><p>You sent {quoted}</p></body></html>".encode())

    # ── serving ──────────────────────────────────────────────────────────

    def __enter__(self) -> "HostileTarget":
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.other_host.close()
        self.services.stop()
