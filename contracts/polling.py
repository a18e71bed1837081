"""Waiting for something asynchronous: one bounded-deadline poll, used by the suite and the project's tests.

Everything the suite waits for (a delivery at the receiver, a delivery record turning `delivered`, a simulation
finishing) is a `poll`: ask, and until the answer is there or the deadline passes, pause. The pause is a sleep, or
— where something can announce the change, as the webhook receiver does on each arrival — a wait that ends at once
when it is announced. No wait in the suite is a fixed sleep, and none is unbounded.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def poll(probe: Callable[[], T | None], *, timeout: float, interval: float = 0.1,
         pause: Callable[[float], object] = time.sleep, clock: Callable[[], float] = time.monotonic) -> T | None:
    """Call `probe()` until it returns something truthy (returned) or `timeout` seconds pass (None).

    The probe is always asked at least once, and once more at the deadline. Between two asks, `pause(seconds)`
    waits at most `interval` (and never past the deadline); a pause may return early (a wake-up on an event).
    """
    deadline = clock() + timeout
    while True:
        value = probe()
        if value:
            return value
        remaining = deadline - clock()
        if remaining <= 0:
            return None
        pause(min(interval, remaining))
