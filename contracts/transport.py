"""How every request of the suite is sent and read: bounded in time and size, never redirected, faults named.

Each client the suite uses — its own httpx client (`contracts.target.Target`), the requests session schemathesis sends
the phases and the stateful walk through, and the oracles' re-reads (`contracts.conformance`) — sends through here:

* **Time**: `timeout` seconds to connect and as many for the whole answer, headers and body. A target that sends
  nothing, or drips its body, is cut off there: `TargetFault("GET /projects did not answer within 10 s")`. Neither
  HTTP library bounds the time headers take in total (a target dripping them a byte a second never trips a read
  timeout), so each request runs on a thread of its own (a reused one, `_Courier`), given up after twice its time
  (`within`).
* **Size**: at most `MAX_ANSWER_BYTES` of a body are read (streamed, never held whole); more is a fault.
* **Redirects** are never followed: a 3xx is the answer. The spec documents none, so it is a fault naming where it
  pointed — its origin only, never the rest of the `Location` (which may carry a query, or a key).
* **Faults**: a reset or broken-off answer is a `TargetFault` naming it; a target that cannot be reached at all
  (refused, DNS, connect timeout) is `TargetUnavailable`. Both are the target's doing, never a crash of the suite.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from typing import Any, Callable, Iterable, Mapping, TypeVar
from urllib.parse import urljoin, urlsplit

DEFAULT_REQUEST_TIMEOUT = 10.0  # seconds to connect, and as many for the whole answer
MAX_ANSWER_BYTES = 2 * 1024 * 1024
CHUNK_BYTES = 64 * 1024


class TargetUnavailable(RuntimeError):
    """The target could not be reached at all (connection refused, DNS, TLS, no connection in time)."""


class TargetFault(TargetUnavailable):
    """The target was reached but gave no usable answer: none in time, a reset, too large a body, a redirect."""


class Answered:
    """An answer read in full within the limits (what `Pacer.send` and the Target read of it)."""

    def __init__(self, status_code: int, headers: Any, content: bytes, charset: str | None = None):
        self.status_code = status_code
        self.headers = headers
        self.content = content
        self.text = content.decode(charset or "utf-8", errors="replace")


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


def read_body(chunks: Iterable[bytes], label: str, started: float, timeout: float, limit: int = MAX_ANSWER_BYTES,
              clock: Callable[[], float] = time.monotonic) -> bytes:
    """The body from its chunks, or a `TargetFault` once it passes `limit` bytes or `timeout` seconds since
    `started` (each chunk's own wait is bounded by the client's read timeout)."""
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise TargetFault(f"{label} answered more than {megabytes(limit)}: the suite reads at most "
                              f"{megabytes(limit)} of an answer")
        if clock() - started > timeout:
            raise TargetFault(too_slow(label, timeout))
    return bytes(body)


def too_slow(label: str, timeout: float) -> str:
    return f"{label} did not answer within {timeout:g} s"


T = TypeVar("T")


class _Courier:
    """A daemon thread that sends one exchange at a time and then waits for the next: a run sends thousands of
    requests, and starting a thread for each costs more than many of them take. A courier is reused once it is
    idle again; one held up by a target that does not answer is simply not reused until the target lets it go."""

    _idle: list[_Courier] = []
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="mx-request", daemon=True).start()

    @classmethod
    def take(cls) -> _Courier:
        with cls._lock:
            if cls._idle:
                return cls._idle.pop()
        return cls()

    def send(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def _serve(self) -> None:
        while True:
            self._jobs.get()()
            with self._lock:
                self._idle.append(self)


def _forget_couriers() -> None:
    """In a forked child: none of the parent's threads exist there, and the lock may have been held by one."""
    _Courier._idle = []
    _Courier._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_couriers)


def within(seconds: float, label: str, exchange: Callable[[], T]) -> T:
    """`exchange()` (sending a request and reading its answer), on a courier thread, given up after twice
    `seconds`: a `TargetFault` then, while the courier ends the exchange whenever the target lets it (it is a
    daemon)."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        threading.current_thread().name = f"mx-request {label}"
        try:
            outcome["value"] = exchange()
        except BaseException as exc:  # noqa: BLE001 — handed over to the caller's thread
            outcome["error"] = exc
        finally:
            done.set()

    _Courier.take().send(run)
    if not done.wait(2 * seconds + 0.5):
        raise TargetFault(too_slow(label, seconds))
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def refuse_redirect(label: str, status: int, headers: Mapping[str, str], url: str) -> None:
    """A 3xx answer is judged, never followed: the spec documents none, and following one could carry the key."""
    if not 300 <= status < 400:
        return
    location = headers.get("Location") or headers.get("location")
    if not location:
        where = "without a Location"
    else:
        there = origin(urljoin(url, location))
        where = (f"to another origin ({there})" if there != origin(url) else "within the target's origin")
    raise TargetFault(f"{label} answered {status}, a redirect {where}: the spec documents no redirect, and the suite "
                      "follows none (it would carry the management key)")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it wraps (causes, contexts, and exceptions among its arguments, as requests does)."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
        todo += [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    return seen


def _named(chain: list[BaseException], *names: str) -> bool:
    return any(type(e).__name__ in names or any(base.__name__ in names for base in type(e).__mro__) for e in chain)


def transport_error(label: str, exc: BaseException, timeout: float) -> TargetUnavailable:
    """What a client's exception says the target did: not reachable (`TargetUnavailable`), or a `TargetFault`."""
    chain = _chain(exc)
    if _named(chain, "ConnectTimeout", "ConnectTimeoutError"):
        return TargetUnavailable(f"{label}: no connection within {timeout:g} s")
    if _named(chain, "ConnectionRefusedError", "NewConnectionError", "NameResolutionError", "gaierror",
              "SSLError") or (_named(chain, "ConnectError") and not _named(chain, "ConnectionResetError")):
        return TargetUnavailable(f"{label}: {type(exc).__name__}: {exc}")
    if any(isinstance(e, (TimeoutError, socket.timeout)) for e in chain) or _named(
            chain, "TimeoutException", "Timeout", "ReadTimeoutError", "ReadTimeout", "WriteTimeout", "PoolTimeout"):
        return TargetFault(too_slow(label, timeout))
    if any(isinstance(e, ConnectionResetError) for e in chain) or "reset" in str(exc).lower():
        return TargetFault(f"{label}: connection reset by the target mid-answer")
    return TargetFault(f"{label}: the target broke off its answer ({type(exc).__name__}: {str(exc)[:160]})")


__all__ = ["Answered", "DEFAULT_REQUEST_TIMEOUT", "MAX_ANSWER_BYTES", "TargetFault", "TargetUnavailable", "read_body",
           "refuse_redirect", "transport_error", "within"]
