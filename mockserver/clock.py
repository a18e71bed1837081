"""Injectable time: every time-based behaviour reads a clock, never `datetime.now()`."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol

from modelux_spec.timestamps import format_timestamp as iso
from modelux_spec.timestamps import parse_timestamp as parse_iso
from modelux_spec.timestamps import to_utc

UTC = timezone.utc
__all__ = ["Clock", "ManualClock", "SystemClock", "UTC", "VirtualClock", "as_utc", "iso", "parse_iso"]


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (tests, seeded worlds)."""

    def __init__(self, start: datetime):
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)


class VirtualClock(ManualClock):
    """The frontend kit's clock of one organization: frozen until the developer moves it. Engines that
    pace work on real time (simulation progress) pace it on this clock instead."""


as_utc = to_utc
