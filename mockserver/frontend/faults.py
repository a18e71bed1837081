"""Faults: documented error answers injected at random (`--faults 0.1`: one request in ten), or on
request (`Prefer: fault=proxy_unreachable`).

Only answers the operation documents are injected (the effective spec still holds: a UI meets
nothing a real server could not send). Random faults draw from a stream seeded with `--seed`, so the
same requests in the same order meet the same faults. 400 is never injected at random: it says the
request was wrong, which would mislead more than it tests.
"""

from __future__ import annotations

import random
import threading

from ..compiled import Operation
from ..errors import Invalid
from .forced import describe, documented_statuses

# name -> status
FAULTS = {
    "bad_request": 400,
    "unauthorized": 401,
    "not_found": 404,
    "conflict": 409,
    "rate_limited": 429,
    "proxy_unreachable": 502,
}
RANDOM_FAULTS = ("unauthorized", "not_found", "conflict", "rate_limited", "proxy_unreachable")


def faults_of(op: Operation) -> list[str]:
    documented = set(documented_statuses(op))
    return [name for name, status in FAULTS.items() if status in documented]


def named_fault(op: Operation, name: str) -> int:
    """The status of a fault asked for by name; a 400 listing the faults this operation can have."""
    possible = faults_of(op)
    if name not in possible:
        known = "" if name in FAULTS else f" (faults: {', '.join(FAULTS)})"
        raise Invalid(f"Prefer: fault={name} is not an answer {describe(op)} documents{known}; its faults: "
                      f"{', '.join(possible) or 'none'}", code="unknown_fault")
    return FAULTS[name]


def check_rate(rate: float) -> float:
    if not 0 <= rate <= 1:
        raise ValueError(f"fault rate {rate} is not between 0 and 1")
    return rate


class FaultDraw:
    """The seeded stream that decides which requests meet a random fault, and which one."""

    def __init__(self, seed: int | None = None):
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self, op: Operation, rate: float) -> str | None:
        if rate <= 0:
            return None
        with self._lock:
            hit = self._random.random() < rate
            possible = [name for name in faults_of(op) if name in RANDOM_FAULTS]
            if not hit or not possible:
                return None
            return self._random.choice(possible)
