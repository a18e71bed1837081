"""Pacing for rate-limited targets: a token bucket and `Retry-After` on 429.

One `Pacer` per process is shared by everything that talks to the target (the suite's own
client, schemathesis' requests session and the oracles' re-reads), so the budget is global, not
per component; `Pacer.send` is the one place a request waits for its turn and a 429 is honoured.

The bucket is written here rather than taken from pyrate-limiter (which schemathesis installs):
the suite needs a fractional per-minute rate, a clock and a sleep tests can replace, and a 429
that drains the bucket for every sender of the process, none of which pyrate-limiter's Limiter
offers as such.
"""

from __future__ import annotations

import email.utils
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Protocol, TypeVar

MAX_RETRY_AFTER = 300.0  # never sleep longer than this on one 429
DEFAULT_RETRY_AFTER = 5.0  # a 429 without a usable Retry-After
MAX_429_RETRIES = 5


class HttpResponse(Protocol):
    """What `Pacer.send` reads of an answer: httpx' and requests' responses both have it."""

    status_code: int
    headers: Any


R = TypeVar("R", bound=HttpResponse)


class Pacer:
    """Token bucket: `rate_per_min` requests a minute, bursts of at most `burst`.

    `rate_per_min=None` means unpaced (only 429s slow us down).
    """

    def __init__(self, rate_per_min: float | None = None, burst: int = 1, clock=time.monotonic, sleep=time.sleep):
        self.rate_per_min = rate_per_min
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
        """Send a request in its turn; on 429 wait as `Retry-After` says (capped) and send it again, at most
        `retries` times. The last answer is returned, a 429 included."""
        attempts = 0
        while True:
            self.acquire()
            response = request()
            if response.status_code != 429 or attempts >= retries:
                return response
            attempts += 1
            self.backoff(parse_retry_after(response.headers.get("Retry-After")))

    def backoff(self, retry_after: float) -> None:
        """A 429 told us to wait: sleep, and drain the bucket so others wait too."""
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
