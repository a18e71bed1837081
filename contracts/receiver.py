"""A webhook receiver the suite controls: a real HTTP server that records what it gets.

Each scenario asks for its own path (`receiver.channel()`), so concurrent scenarios never see
each other's deliveries. A channel answers 200 by default; `fail_next(n, status)` makes it
answer an error n times first (to drive retries). Waiting is bounded: every wait has a
deadline and wakes on arrival, never on a fixed sleep.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


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


class Channel:
    """One receiving path: its deliveries and its programmed answers."""

    def __init__(self, receiver: "Receiver", path: str):
        self.receiver = receiver
        self.path = path
        self.received: list[Received] = []
        self._answers: list[int] = []

    @property
    def url(self) -> str:
        return self.receiver.public_base + self.path

    def fail_next(self, times: int, status: int = 500) -> None:
        with self.receiver.cond:
            self._answers.extend([status] * times)

    def accept_all(self) -> None:
        """Forget programmed failures: from now on every delivery is answered 200."""
        with self.receiver.cond:
            self._answers.clear()

    def _answer(self) -> int:
        return self._answers.pop(0) if self._answers else 200

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float) -> list[Received] | None:
        """Wait until `predicate(received)` holds; the deliveries then, or None at the deadline."""
        deadline = time.monotonic() + timeout
        with self.receiver.cond:
            while not predicate(self.received):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.receiver.cond.wait(remaining)
            return list(self.received)

    def wait_count(self, count: int, timeout: float) -> list[Received] | None:
        return self.wait_for(lambda got: len(got) >= count, timeout)

    def snapshot(self) -> list[Received]:
        with self.receiver.cond:
            return list(self.received)


class Receiver:
    """A threaded HTTP server on `bind_host:port`; targets reach it at `public_host:port`."""

    def __init__(self, bind_host: str = "127.0.0.1", port: int = 0, public_host: str | None = None):
        self.cond = threading.Condition()
        self.channels: dict[str, Channel] = {}
        self.unmatched: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status = receiver._record(self.path, dict(self.headers.items()), body)
                payload = b'{"ok":true}' if status < 400 else b'{"error":"programmed failure"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

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
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def channel(self, label: str = "hook") -> Channel:
        path = f"/{label}/{uuid.uuid4().hex}"
        with self.cond:
            channel = self.channels[path] = Channel(self, path)
        return channel

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self.cond:
            channel = self.channels.get(path.split("?", 1)[0])
            status = channel._answer() if channel else 404
            entry = Received(path, headers, body, status)
            (channel.received if channel else self.unmatched).append(entry)
            self.cond.notify_all()
            return status
