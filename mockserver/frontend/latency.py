"""Latency: every API answer takes a while (`--latency 200` or `--latency 100-600`), or one answer
does (`Prefer: delay=MS`). The delay is slept before the request touches the world, so a slow answer
never holds the world lock: other requests go on meanwhile."""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass

from .prefer import MAX_DELAY_MS

_SPEC = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")


@dataclass(frozen=True)
class Latency:
    low_ms: int
    high_ms: int

    @classmethod
    def parse(cls, text: str) -> "Latency":
        """`"250"` (fixed) or `"100-600"` (uniform between the two), in milliseconds, at most MAX_DELAY_MS."""
        match = _SPEC.fullmatch(text or "")
        if not match:
            raise ValueError(f"latency {text!r} is not MS or MIN-MAX in milliseconds (e.g. 250 or 100-600)")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise ValueError(f"latency {text!r}: the maximum {high} is below the minimum {low}")
        if high > MAX_DELAY_MS:
            raise ValueError(f"latency {text!r} exceeds the maximum of {MAX_DELAY_MS} ms")
        return cls(low, high)

    def __str__(self) -> str:
        return str(self.low_ms) if self.low_ms == self.high_ms else f"{self.low_ms}-{self.high_ms}"


class Delays:
    """Draws each request's delay (a seeded stream, so a run is reproducible) and sleeps it."""

    def __init__(self, seed: int | None = None):
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.sleeping = 0  # requests sleeping now (the control surface and tests read it)

    def draw(self, latency: Latency | None, requested_ms: int | None) -> int:
        if requested_ms is not None:
            return requested_ms
        if latency is None:
            return 0
        if latency.low_ms == latency.high_ms:
            return latency.low_ms
        with self._lock:
            return self._random.randint(latency.low_ms, latency.high_ms)

    def sleep(self, ms: int) -> None:
        if ms <= 0:
            return
        with self._lock:
            self.sleeping += 1
        try:
            time.sleep(ms / 1000)
        finally:
            with self._lock:
                self.sleeping -= 1
