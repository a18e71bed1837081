"""Pacing for rate-limited targets: a token bucket and `Retry-After` on 429.

One `Pacer` per process is shared by everything that talks to the target (the suite's own
client, schemathesis' requests session and the oracles' re-reads), so the budget is global, not
per component; `Pacer.send` is the one place a request waits for its turn and a 429 is honoured.

The bucket is written here rather than taken from pyrate-limiter (which schemathesis installs):
the suite needs a fractional per-minute rate, a clock and a sleep tests can replace, and a 429
that drains the bucket for every sender of the process, none of which pyrate-limiter's Limiter
offers as such.

The run's overall deadline (`--max-time`) is kept here too, for the same reason: every request asks `Pacer.send`
for its turn, so a `Deadline` there stops them all. Once it has passed, only cleanup may still send, for a bounded
grace time (`Deadline.cleaning`).
"""

from __future__ import annotations

import email.utils
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Protocol, TypeVar

from .transport import TargetFault

MAX_RETRY_AFTER = 300.0  # never sleep longer than this on one 429
DEFAULT_RETRY_AFTER = 5.0  # a 429 without a usable Retry-After
MAX_429_RETRIES = 5
CLEANUP_GRACE = 60.0  # seconds cleanup may still send after the run's deadline
DEADLINE_REASONS = ("not run: the run's deadline", "not finished: the run's deadline")


class DeadlineReached(RuntimeError):
    """The run's deadline (`--max-time`) has passed: nothing more is sent, except cleanup within its grace time."""


def is_deadline_reason(text: str) -> bool:
    """Whether a skip reason says the deadline kept a test from being judged (see `Deadline.reason`)."""
    return text.startswith(DEADLINE_REASONS)


class Deadline:
    """When a run stops sending: `seconds` after it started (None: never), plus `grace` seconds for cleanup."""

    def __init__(self, seconds: float | None = None, grace: float = CLEANUP_GRACE, clock=time.monotonic,
                 at: float | None = None):
        self.seconds = seconds
        self.grace = grace
        self._clock = clock
        self.at = at if at is not None else None if seconds is None else clock() + seconds  # a `clock()` time
        self._local = threading.local()

    def reason(self, what: str = "not run") -> str:
        return f"{what}: the run's deadline (--max-time {self.seconds:g} s) was reached"

    def passed(self) -> bool:
        return self.at is not None and self._clock() >= self.at

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline); during cleanup, before the end of its grace."""
        if self.at is None:
            return None
        end = self.at + (self.grace if getattr(self._local, "cleaning", 0) else 0.0)
        return max(0.0, end - self._clock())

    def bound(self, seconds: float) -> float:
        """A request's time limit: `seconds`, or less when the deadline comes first."""
        remaining = self.remaining()
        return seconds if remaining is None else max(0.05, min(seconds, remaining))

    def check(self, slack: float = 0.0) -> None:
        """Raise `DeadlineReached` when nothing more may be sent from this thread (or only for `slack` seconds)."""
        remaining = self.remaining()
        if remaining is not None and remaining <= slack:
            raise DeadlineReached(self.reason("not finished") + (" and the grace time of cleanup ran out"
                                                                if getattr(self._local, "cleaning", 0) else ""))

    @contextmanager
    def cleaning(self) -> Iterator[None]:
        """Requests of this thread within the block are cleanup: they may be sent until the grace time ends."""
        self._local.cleaning = getattr(self._local, "cleaning", 0) + 1
        try:
            yield
        finally:
            self._local.cleaning -= 1


class HttpResponse(Protocol):
    """What `Pacer.send` reads of an answer: httpx' and requests' responses both have it."""

    status_code: int
    headers: Any


R = TypeVar("R", bound=HttpResponse)


class Pacer:
    """Token bucket: `rate_per_min` requests a minute, bursts of at most `burst`.

    `rate_per_min=None` means unpaced (only 429s slow us down).
    """

    def __init__(self, rate_per_min: float | None = None, burst: int = 1, clock=time.monotonic, sleep=time.sleep,
                 deadline: Deadline | None = None):
        self.rate_per_min = rate_per_min
        self.deadline = deadline or Deadline(clock=clock)
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._last = clock()
        self._lock = threading.Lock()
        self.sent = 0
        self.waited = 0.0
        self.throttled = 0  # 429s seen

    @property
    def paced(self) -> bool:
        return bool(self.rate_per_min)

    def acquire(self) -> None:
        """Block until one request may be sent."""
        if not self.rate_per_min:
            with self._lock:
                self.sent += 1
            return
        per_second = self.rate_per_min / 60.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * per_second)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    self.sent += 1
                    return
                wait = (1 - self._tokens) / per_second
            self.waited += wait
            self._sleep(wait)

    def send(self, request: Callable[[], R], retries: int = MAX_429_RETRIES) -> R:
        """Send a request in its turn; on 429 wait as `Retry-After` says (capped, and never past the run's deadline)
        and send it again, at most `retries` times. The last answer is returned, a 429 included. Past the deadline,
        `DeadlineReached` is raised instead of sending, and instead of the fault of a request whose time limit the
        deadline set (`Deadline.bound`) and ran out."""
        attempts = 0
        while True:
            self.deadline.check()
            self.acquire()
            try:
                response = request()
            except TargetFault:
                self.deadline.check(slack=0.25)
                raise
            if response.status_code != 429 or attempts >= retries:
                return response
            attempts += 1
            self.backoff(parse_retry_after(response.headers.get("Retry-After")))

    def backoff(self, retry_after: float) -> None:
        """A 429 told us to wait: sleep (not past the deadline), and drain the bucket so others wait too."""
        remaining = self.deadline.remaining()
        if remaining is not None:
            retry_after = min(retry_after, remaining)
        with self._lock:
            self.throttled += 1
            self._tokens = min(self._tokens, 0.0)
            self._last = self._clock()
        self.waited += retry_after
        self._sleep(retry_after)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return DEFAULT_RETRY_AFTER
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return max(0.0, min(MAX_RETRY_AFTER, seconds))
