"""A webhook receiver: a real HTTP server that records what it gets, for the suite and the project's own tests.

Each user asks for its own path (`receiver.channel()`), so concurrent scenarios never see each other's
deliveries. A channel answers `200 {"ok":true}` by default; `respond(...)` changes its standing answer (status,
body, a delay before answering, to play a slow receiver) and `fail_next(n, status)` makes it answer an error n times
first (to drive retries). Waiting is bounded: every wait has a deadline and wakes on arrival
(`contracts.polling.poll`), never on a fixed sleep.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from .polling import poll

DEFAULT_BODY = b'{"ok":true}'
FAILURE_BODY = b'{"error":"programmed failure"}'


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    at: float = field(default_factory=time.monotonic)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass(frozen=True)
class Response:
    """What a channel answers a delivery."""

    status: int = 200
    body: bytes = DEFAULT_BODY
    delay: float = 0.0  # seconds to wait before answering (a slow receiver)


class Channel:
    """One receiving path: its deliveries and its programmed answers."""

    def __init__(self, receiver: "Receiver", path: str):
        self.receiver = receiver
        self.path = path
        self.received: list[Received] = []
        self._standing = Response()
        self._programmed: list[Response] = []

    @property
    def url(self) -> str:
        return self.receiver.public_base + self.path

    def respond(self, status: int = 200, body: bytes | None = None, delay: float = 0.0) -> "Channel":
        """Answer every delivery (after any programmed failures) with this."""
        default = DEFAULT_BODY if status < 400 else FAILURE_BODY
        with self.receiver.cond:
            self._standing = Response(status, default if body is None else body, delay)
        return self

    def fail_next(self, times: int, status: int = 500, body: bytes = FAILURE_BODY) -> None:
        with self.receiver.cond:
            self._programmed.extend([Response(status, body)] * times)

    def accept_all(self) -> None:
        """Forget programmed failures and any standing error: from now on every delivery is answered 200."""
        with self.receiver.cond:
            self._programmed.clear()
            self._standing = Response()

    def _next_response(self) -> Response:
        return self._programmed.pop(0) if self._programmed else self._standing

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float) -> list[Received] | None:
        """Wait until `predicate(received)` holds; the deliveries then, or None at the deadline."""
        seen = [0]

        def probe() -> tuple[list[Received]] | None:
            with self.receiver.cond:
                seen[0] = self.receiver.arrivals
                return (list(self.received),) if predicate(self.received) else None

        found = poll(probe, timeout=timeout, interval=timeout,
                     pause=lambda seconds: self.receiver.next_arrival(seen[0], seconds))
        return found[0] if found else None

    def wait_count(self, count: int, timeout: float) -> list[Received] | None:
        return self.wait_for(lambda got: len(got) >= count, timeout)

    def snapshot(self) -> list[Received]:
        with self.receiver.cond:
            return list(self.received)


class Receiver:
    """A threaded HTTP server on `bind_host:port`; targets reach it at `public_host:port`. Also a context manager
    (started on entry, stopped on exit)."""

    def __init__(self, bind_host: str = "127.0.0.1", port: int = 0, public_host: str | None = None):
        self.cond = threading.Condition()
        self.channels: dict[str, Channel] = {}
        self.unmatched: list[Received] = []
        self.arrivals = 0  # deliveries recorded so far, on any path (waits wake when it moves)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                response = receiver._record(self.path, dict(self.headers.items()), body)
                if response.delay:
                    time.sleep(response.delay)  # a programmed slow receiver (this server thread only)
                try:
                    self.send_response(response.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting (a timeout)

            do_PUT = do_POST

            def log_message(self, *args) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer((bind_host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.public_base = f"http://{public_host or bind_host}:{self.port}"
        self.unreachable: str | None = None  # set once a remote target is found unable to reach us
        self._thread: threading.Thread | None = None

    def start(self) -> "Receiver":
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def channel(self, label: str = "hook") -> Channel:
        path = f"/{label}/{uuid.uuid4().hex}"
        with self.cond:
            channel = self.channels[path] = Channel(self, path)
        return channel

    def next_arrival(self, after: int, timeout: float) -> bool:
        """Wait (at most `timeout`) until more than `after` deliveries have arrived; whether they have."""
        with self.cond:
            return self.cond.wait_for(lambda: self.arrivals > after, timeout)

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> Response:
        with self.cond:
            channel = self.channels.get(path.split("?", 1)[0])
            response = channel._next_response() if channel else Response(404, b'{"error":"no such channel"}')
            entry = Received(path, headers, body, response.status)
            (channel.received if channel else self.unmatched).append(entry)
            self.arrivals += 1
            self.cond.notify_all()
            return response
