"""The virtual clock: each organization (or sandbox) reads its own, real time until it is moved.

`GET /__mock/clock` shows it; `advance` moves it forward by an ISO 8601 duration (`PT1H`, `P1D`,
`PT90S`) or a number of seconds; `set` moves it to an instant. Once moved, the organization's clock is
a `VirtualClock` of its own, frozen between moves, and every time-driven behaviour (webhook retries,
budget periods, simulation progress, `last_used_at`, new records' timestamps) reads it. It never goes
backwards from the control surface; a reset or a snapshot's restore brings back the clock it had then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from ..clock import UTC, VirtualClock, iso, parse_iso
from ..domain.world import OrgState, World
from ..errors import Invalid

MAX_ADVANCE = timedelta(days=3660)  # ten years and a bit in one move
_DURATION = re.compile(r"^P(?!$)(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
                       r"(?:T(?=\d)(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
                       r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$")


class ClockBackwards(Invalid):
    code = "clock_backwards"


def parse_duration(value: Any) -> timedelta:
    """A forward step: an ISO 8601 duration of weeks, days, hours, minutes and seconds, or seconds as a
    number. Years and months are refused (their length depends on the date: say `P30D`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("'by' must be an ISO 8601 duration such as \"PT1H\" or \"P1D\", or a number of seconds")
    if isinstance(value, str):
        text = value.strip().upper()
        match = _DURATION.match(text)
        if match is None:
            hint = " (years and months vary in length: use days, e.g. P30D)" if re.match(r"^P\d*\.?\d*[YM]", text) \
                else ""
            raise ValueError(f"'by': {value!r} is not an ISO 8601 duration such as PT1H, PT90S, P1D or P1DT12H{hint}")
        step = timedelta(**{name: float(part) for name, part in match.groupdict().items() if part})
    else:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("'by' must be a finite number of seconds")
        if value < 0:
            raise ValueError("'by' must not be negative: the clock only moves forward (reset or restore a "
                             "snapshot to go back)")
        step = timedelta(seconds=value) if value < MAX_ADVANCE.total_seconds() else MAX_ADVANCE * 2
    if step > MAX_ADVANCE:
        raise ValueError(f"'by': at most {MAX_ADVANCE.days} days in one move")
    return step


@dataclass(frozen=True)
class ClockState:
    """What a reset or a snapshot brings back: real time (`at` None) or a virtual clock at `at`."""

    at: datetime | None

    def view(self) -> dict[str, Any]:
        return {"mode": "virtual" if self.at else "real", "now": iso(self.at) if self.at else None}


class Clocks:
    """The virtual clocks of the organizations of one world; `moved()` runs after every move (wake the
    engines: a retry or a simulation due at the new time happens at once)."""

    def __init__(self, world: World, moved: Callable[[], None]):
        self.world = world
        self.moved = moved

    def state(self, org: OrgState) -> ClockState:
        clock = self.world.clock_of(org)
        return ClockState(clock.now() if isinstance(clock, VirtualClock) else None)

    def put(self, org: OrgState, state: ClockState) -> None:
        """Give `org` the clock `state` describes (under the world lock)."""
        if state.at is None and not isinstance(self.world.clock, VirtualClock):
            self.world.clocks.pop(org.id, None)
        else:
            self.world.clocks[org.id] = VirtualClock(state.at or self.world.clock.now())
        self.moved()

    def view(self, org: OrgState) -> dict[str, Any]:
        clock = self.world.clock_of(org)
        return {"org_id": org.id, "now": iso(clock.now()),
                "mode": "virtual" if isinstance(clock, VirtualClock) else "real"}

    def _own(self, org: OrgState) -> VirtualClock:
        clock = self.world.clocks.get(org.id)
        if not isinstance(clock, VirtualClock):
            clock = self.world.clocks[org.id] = VirtualClock(self.world.clock_of(org).now())
        return clock

    def advance(self, org: OrgState, body: Any) -> dict[str, Any]:
        body = _only(body, "by", "{\"by\": \"PT1H\"} (or a number of seconds)")
        try:
            step = parse_duration(body["by"])
        except ValueError as exc:
            raise Invalid(f"body: {exc}", code="validation_failed")
        with self.world.lock:
            self._own(org).advance(step.total_seconds())
            view = self.view(org)
        self.moved()
        return view

    def set(self, org: OrgState, body: Any) -> dict[str, Any]:
        body = _only(body, "now", "{\"now\": \"2026-01-31T23:59:00Z\"}")
        value = body["now"]
        try:
            if not isinstance(value, str):
                raise ValueError("not a string")
            when = parse_iso(value).astimezone(UTC)
        except (ValueError, TypeError, OverflowError):
            raise Invalid(f"body: 'now' must be an ISO 8601 timestamp with a time zone, such as "
                          f"\"2026-01-31T23:59:00Z\"; got {value!r}", code="validation_failed")
        with self.world.lock:
            current = self.world.clock_of(org).now()
            if when < current:
                raise ClockBackwards(
                    f"the clock cannot go backwards: it reads {iso(current)}, before which records, deliveries "
                    f"and budget periods already happened; reset the organization or restore a snapshot to go back")
            if when - current > MAX_ADVANCE:
                raise Invalid(f"body: 'now' is more than {MAX_ADVANCE.days} days ahead of the clock",
                              code="validation_failed")
            self._own(org).set(when)
            view = self.view(org)
        self.moved()
        return view


def _only(body: Any, name: str, example: str) -> dict[str, Any]:
    if not isinstance(body, dict) or set(body) != {name}:
        raise Invalid(f"body must be a JSON object with exactly one field, '{name}', such as {example}",
                      code="validation_failed")
    return body
