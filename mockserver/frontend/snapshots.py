"""Reset and snapshots: an organization's whole state, frozen and brought back in milliseconds.

A frozen state is the organization pickled (every collection, indexes rebuilt on thaw: a few ms for the
seeded world's 2,500 logs) plus its clock. The boot state of every organization is frozen when the app
is built (a sandbox's when it is minted); `reset` thaws it and swaps it in under the world lock, so a
request sees the old world or the new one, never a mix. Snapshots are named frozen states, at most
`max_count` per organization.
"""

from __future__ import annotations

import pickle
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from ..clock import iso
from ..domain.world import OrgState, World
from ..errors import Conflict, Invalid, not_found
from .clock import Clocks, ClockState

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_MAX_SNAPSHOTS = 10
EAGER_LOGS = 20_000  # freezing 100,000 logs takes about 2 s: not at boot


def freeze(org: OrgState) -> bytes:
    return pickle.dumps(org, protocol=pickle.HIGHEST_PROTOCOL)


def thaw(frozen: bytes) -> OrgState:
    """A detached organization; a delivery whose attempt was in flight when it froze is due again (the
    attempt's outcome goes to the record it was made for)."""
    org: OrgState = pickle.loads(frozen)
    for delivery in org.webhook_deliveries.values():
        delivery.pop("_inflight", None)
    return org


@dataclass(frozen=True)
class Frozen:
    state: bytes
    clock: ClockState
    saved_at: str  # real time, when it was taken
    counts: dict[str, int]

    def view(self, name: str | None = None) -> dict[str, Any]:
        shown = {"name": name} if name is not None else {}
        return {**shown, "saved_at": self.saved_at, "clock": self.clock.view(), "size_bytes": len(self.state),
                "counts": self.counts}


def counts(org: OrgState) -> dict[str, int]:
    return {name: len(getattr(org, name)) for name in ("projects", "routing_configs", "budgets", "webhook_endpoints",
                                                       "webhook_deliveries", "simulations", "logs")}


class States:
    """The boot state and the named snapshots of each organization of one world."""

    def __init__(self, world: World, clocks: Clocks, changed: Callable[[OrgState], None],
                 max_count: int = DEFAULT_MAX_SNAPSHOTS):
        self.world = world
        self.clocks = clocks
        self.changed = changed  # after a reset or a restore (the state file is written again)
        self.max_count = max_count
        self._boot: dict[str, Frozen] = {}
        self._pending: set[str] = set()  # large organizations whose boot state is frozen before the first change
        self._capture_lock = threading.Lock()
        self._snapshots: dict[str, OrderedDict[str, Frozen]] = {}
        self._lock = threading.Lock()

    def take(self, org: OrgState) -> Frozen:
        """`org` frozen as it is now (call it holding the world lock)."""
        return Frozen(freeze(org), self.clocks.state(org), iso(datetime.now(timezone.utc)), counts(org))

    def keep_boot(self, org: OrgState, eager: bool = True) -> None:
        """Freeze `org` as its boot state; a large one (`eager` False, more than `EAGER_LOGS` logs) only before
        the first request that may change the world, so that booting it does not wait for the copy."""
        if not eager and len(org.logs) > EAGER_LOGS:
            with self._lock:
                self._pending.add(org.id)
            return
        with self.world.lock:
            frozen = self.take(org)
        with self._lock:
            self._boot[org.id] = frozen

    def before_change(self) -> None:
        """Freeze the boot states still pending (concurrent first changes wait for it)."""
        if not self._pending:
            return
        with self._capture_lock:
            for org_id in list(self._pending):
                org = self.world.orgs.get(org_id)
                if org is not None:
                    self.keep_boot(org)
                with self._lock:
                    self._pending.discard(org_id)

    def boot_copy(self, org: OrgState) -> OrgState:
        """A detached copy of `org` as it booted."""
        with self._lock:
            frozen = self._boot.get(org.id)
        if frozen is None:
            raise Conflict(f"organization '{org.id}' has no boot state", code="no_boot_state")
        return thaw(frozen.state)

    def forget(self, org_id: str) -> None:
        with self._lock:
            self._boot.pop(org_id, None)
            self._snapshots.pop(org_id, None)

    def _bring_back(self, org: OrgState, frozen: Frozen) -> None:
        state = thaw(frozen.state)  # outside the lock: requests go on meanwhile
        with self.world.lock:
            self.world.swap_state(org, state)
            self.clocks.put(org, frozen.clock)
        self.changed(org)

    # ── reset ───────────────────────────────────────────────────────────

    def reset(self, org: OrgState) -> dict[str, Any]:
        with self._lock:
            frozen = self._boot.get(org.id)
        if frozen is None:
            raise Conflict(f"organization '{org.id}' has no boot state to reset to", code="no_boot_state")
        self._bring_back(org, frozen)
        return {"org_id": org.id, "reset": True, "clock": self.clocks.view(org), "counts": counts(org)}

    # ── snapshots ───────────────────────────────────────────────────────

    def save(self, org: OrgState, body: Any) -> tuple[bool, dict[str, Any]]:
        """(replaced an older one of that name, its view)."""
        if not isinstance(body, dict) or set(body) != {"name"}:
            raise Invalid("body must be a JSON object with exactly one field, 'name', such as {\"name\": \"seeded\"}",
                          code="validation_failed")
        name = check_name(body["name"])
        with self.world.lock:
            frozen = self.take(org)
        with self._lock:
            saved = self._snapshots.setdefault(org.id, OrderedDict())
            replaced = name in saved
            if not replaced and len(saved) >= self.max_count:
                raise Conflict(f"this organization already keeps {self.max_count} snapshots (the most it may); "
                               f"delete one with DELETE /__mock/snapshots/{{name}} or save under an existing name",
                               code="too_many_snapshots")
            saved[name] = frozen
        return replaced, frozen.view(name)

    def list(self, org: OrgState) -> list[dict[str, Any]]:
        with self._lock:
            return [frozen.view(name) for name, frozen in self._snapshots.get(org.id, {}).items()]

    def _get(self, org: OrgState, name: str) -> Frozen:
        check_name(name)
        with self._lock:
            frozen = self._snapshots.get(org.id, {}).get(name)
        if frozen is None:
            raise not_found("snapshot", name)
        return frozen

    def restore(self, org: OrgState, name: str) -> dict[str, Any]:
        frozen = self._get(org, name)
        self._bring_back(org, frozen)
        return {**frozen.view(name), "restored": True}

    def delete(self, org: OrgState, name: str) -> dict[str, Any]:
        self._get(org, name)
        with self._lock:
            self._snapshots.get(org.id, {}).pop(name, None)
        return {"name": name, "deleted": True}


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise Invalid(f"snapshot name {name!r} is not allowed: 1 to 64 letters, digits, '.', '_' or '-', starting "
                      f"with a letter or digit", code="invalid_snapshot_name")
    return name
