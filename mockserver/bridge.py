"""granian's RSGI interface in front of the mock's WSGI app: requests are answered on one thread.

Under granian's WSGI interface every request is answered on one thread of a pool. The mock's requests are short
and CPU-bound, so those threads have nothing to overlap: they take turns holding the GIL, and on two cores the
turns cost more than the answers (measured with 16 threads: about 11 context switches per request, a fifth of the
CPU in the kernel's task switching, half the requests per second of the same server with one thread). This
bridge answers each request inline, on granian's event-loop thread, one after the other: the WSGI app is called
as it is under any server, with a WSGI environ built from the RSGI scope, and nothing changes hands between
threads.

Two things may wait, and neither holds up the others:
- the request body is read asynchronously, up to the API's limit (a slow client holds no thread);
- a request that may be delayed (the frontend kit's `--latency`, `Prefer: delay=`, `__delay=`) is answered on
  a small thread pool instead, where it sleeps as it would under any threaded WSGI server.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from .api import MAX_BODY_BYTES

log = logging.getLogger("modelux.mock")

BASE_ENVIRON = {"GATEWAY_INTERFACE": "CGI/1.1", "SCRIPT_NAME": "", "SERVER_SOFTWARE": "modelux-mock",
                "wsgi.version": (1, 0), "wsgi.errors": sys.stderr, "wsgi.multithread": True,
                "wsgi.multiprocess": False, "wsgi.run_once": False,
                # The whole body (or its first MAX_BODY_BYTES + 1 bytes) is in wsgi.input: reading to its end is safe.
                "wsgi.input_terminated": True}
Answer = tuple[int, list[tuple[str, str]], bytes]


class RsgiBridge:
    """An RSGI app that answers with `app` (WSGI). `may_wait(environ)` says whether a request may sleep; those
    run on a pool of `threads` threads, the others inline."""

    def __init__(self, app: Callable, may_wait: Callable[[dict[str, Any]], bool], threads: int):
        self.app = app
        self.may_wait = may_wait
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None

    async def __call__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":  # granian serves no websockets here; nothing else reaches an RSGI app
            return
        environ = wsgi_environ(scope, await read_body(scope, proto))
        if self.may_wait(environ):
            status, headers, data = await asyncio.get_running_loop().run_in_executor(self.pool(), self.call, environ)
        else:
            status, headers, data = self.call(environ)
        try:
            proto.response_bytes(status, headers, data)
        except Exception:  # the client is gone: nobody to answer
            log.debug("%s %s: the client left before its answer", scope.method, scope.path)

    def call(self, environ: dict[str, Any]) -> Answer:
        """One WSGI call, its body joined (the app's bodies are short; none is streamed)."""
        answer: list[Any] = [500, []]

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            answer[:] = int(status[:3]), headers
            return _no_write

        chunks = self.app(environ, start_response)
        try:
            data = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return answer[0], answer[1], data

    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="mock-delayed")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _no_write(data: bytes) -> None:
    raise RuntimeError("the mock's WSGI app returns its body; write() is not supported")


async def read_body(scope: Any, proto: Any) -> bytes:
    """The body, or its first MAX_BODY_BYTES + 1 bytes (enough for the app to answer 413); nothing when the
    declared length is already over the limit. A body that ends early (the client stopped sending) is returned
    as far as it came: the app answers that it is shorter than its Content-Length said."""
    declared = scope.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) == 0 or int(declared) > MAX_BODY_BYTES):
        return b""  # nothing to read, or too much to: the app answers from the header alone
    if declared is None and "transfer-encoding" not in scope.headers:
        return b""
    parts, size = [], 0
    try:
        async for chunk in proto:
            parts.append(chunk)
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                break
    except Exception:  # the connection ended mid-body
        pass
    return b"".join(parts)[:MAX_BODY_BYTES + 1]


def wsgi_environ(scope: Any, body: bytes) -> dict[str, Any]:
    """The PEP 3333 environ of an RSGI request, as granian's own WSGI interface builds it: `PATH_INFO` decoded
    from percent-escapes and carried as latin-1, repeated headers joined (`Cookie` with ";"), a chunked body
    given with its length."""
    environ = dict(BASE_ENVIRON)
    host, _, port = scope.server.rpartition(":")
    environ.update({
        "REQUEST_METHOD": scope.method,
        "PATH_INFO": scope.path.encode("utf-8", "surrogateescape").decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": host,
        "SERVER_PORT": port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": scope.client.rpartition(":")[0],
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
    })
    for name, value in scope.headers.items():
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name == "content-length":
            environ["CONTENT_LENGTH"] = value
        elif name == "transfer-encoding":
            continue  # the body is read whole: the app sees it with its length (below), as a buffering server shows it
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in environ:
                value = environ[key] + (";" if key == "HTTP_COOKIE" else ",") + value
            environ[key] = value
    if "HTTP_HOST" not in environ and scope.authority:  # HTTP/2 names the host in :authority
        environ["HTTP_HOST"] = scope.authority
    if "CONTENT_LENGTH" not in environ and body:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ
