"""Rate limiting as the product documents it (60 requests a minute per management key), opt-in.

`--rate-limit 60/min` counts each management key's requests (and each session's) in a moving
window with the `limits` library; past the limit an answer is `429 rate_limited` with
`Retry-After` (seconds), and every answer to a counted caller carries `X-RateLimit-Limit`,
`X-RateLimit-Remaining` and `X-RateLimit-Reset` (Unix time, seconds, when a request is next free).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

UNITS = {"s": "second", "sec": "second", "second": "second", "m": "minute", "min": "minute", "minute": "minute",
         "h": "hour", "hr": "hour", "hour": "hour", "d": "day", "day": "day"}
_SPEC = re.compile(r"\s*(\d+)\s*(?:/|\s+per\s+)\s*(\d+\s*)?([a-z]+?)s?\s*", re.IGNORECASE)


def parse_rate(text: str) -> RateLimitItem:
    """`60/min`, `60/minute`, `10/s`, `100 per hour`, `5/10s` → a `limits` rate item."""
    match = _SPEC.fullmatch(text or "")
    unit = UNITS.get(match.group(3).lower()) if match else None
    if not match or unit is None:
        raise ValueError(f"rate limit {text!r} is not COUNT/UNIT (e.g. 60/min, 10/s, 1000/hour)")
    count = int(match.group(1))
    if count < 1:
        raise ValueError(f"rate limit {text!r} allows no request at all")
    multiple = (match.group(2) or "").strip()
    return parse(f"{count}/{multiple + ' ' if multiple else ''}{unit}")


def describe_rate(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return f"{item.amount}/{item.multiples} {unit}s" if item.multiples != 1 else f"{item.amount}/{unit}"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # Unix time, seconds
    retry_after: int  # seconds (0 when allowed)

    def headers(self) -> dict[str, str]:
        found = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                 "X-RateLimit-Reset": str(self.reset)}
        if not self.allowed:
            found["Retry-After"] = str(self.retry_after)
        return found


class RateLimiter:
    """One moving window per caller (a management key id or a session)."""

    def __init__(self, item: RateLimitItem):
        self.item = item
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, caller: str) -> Verdict:
        allowed = self._limiter.hit(self.item, caller)
        stats = self._limiter.get_window_stats(self.item, caller)
        now = time.time()
        retry_after = 0 if allowed else max(1, math.ceil(stats.reset_time - now))
        return Verdict(allowed, self.item.amount, max(0, stats.remaining), math.ceil(stats.reset_time), retry_after)
