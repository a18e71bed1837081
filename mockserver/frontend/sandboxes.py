"""Sandboxes: isolated organizations minted at run time, one per developer or test worker.

A sandbox is an organization of the same world with its own management key (its plaintext is shown
once, in the answer that mints it), its own members to sign in as, its own clock, snapshots and request
journal. It starts as a copy of the caller's boot organization, as the world of another seed, or empty.
Copies are thawed from a frozen state (milliseconds); another seed's world is generated once and kept
(a few of them) for the next sandbox of that seed. Inherited management keys get fresh random hashes:
only the sandbox's new key opens it. At most `max_count` sandboxes live at once.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from fixtures import default_anchor, generate

from ..clock import UTC, VirtualClock, iso, parse_iso
from ..domain.orgs import bootstrap_org
from ..domain.world import OrgState, World
from ..errors import ApiError, Conflict, Invalid, not_found
from ..ids import sha256_hex
from ..services import MockConfig
from .clock import Clocks
from .snapshots import States, freeze, thaw

DEFAULT_MAX_SANDBOXES = 32
MAX_SEEDS_KEPT = 4
FIELDS = ("name", "seed", "empty", "clock")


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


@dataclass
class Sandbox:
    id: str
    parent_id: str
    name: str
    origin: str  # "copy", "seed:<n>" or "empty"
    created_at: str
    owner_email: str | None

    def view(self, world: World) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "parent_org_id": self.parent_id, "origin": self.origin,
                "created_at": self.created_at, "owner_email": self.owner_email,
                "clock": "virtual" if isinstance(world.clock_of(self.id), VirtualClock) else "real"}


class Sandboxes:
    def __init__(self, world: World, config: MockConfig, states: States, clocks: Clocks,
                 forget: Callable[[str], None], max_count: int = DEFAULT_MAX_SANDBOXES):
        self.world = world
        self.config = config
        self.states = states
        self.clocks = clocks
        self.forget = forget  # drop what else the kit keeps for an organization (its journal)
        self.max_count = max_count
        self._sandboxes: dict[str, Sandbox] = {}
        self._seeds: OrderedDict[tuple[int, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def is_sandbox(self, org_id: str) -> bool:
        with self._lock:
            return org_id in self._sandboxes

    def hidden(self) -> set[str]:
        """Sandboxes: a sign-in by email alone never lands in one (name its `org_id`)."""
        with self._lock:
            return set(self._sandboxes)

    # ── mint ────────────────────────────────────────────────────────────

    def create(self, parent: OrgState, body: Any) -> dict[str, Any]:
        if self.is_sandbox(parent.id):
            raise Forbidden("a sandbox cannot mint sandboxes; use the key of the organization that minted it",
                            code="sandbox_in_sandbox")
        name, seed, empty, clock = self._read(body)
        with self._lock:
            if len(self._sandboxes) >= self.max_count:
                raise Conflict(f"{self.max_count} sandboxes already exist (the most this mock keeps; --max-sandboxes "
                               f"sets it); delete one with DELETE /__mock/sandboxes/{{id}}", code="too_many_sandboxes")
        if empty:
            org, origin = None, "empty"
        elif seed is not None:
            org, origin = thaw(self._seeded(seed)), f"seed:{seed}"
        else:
            org, origin = self.states.boot_copy(parent), "copy"
        token = "mlx_mgmt_" + secrets.token_hex(20)
        if org is not None:  # made its own outside the lock: a walk through every record
            rename(org, org.id, self.world.new_id("org"))
            for inherited in org.management_keys.values():
                inherited["_hash"] = sha256_hex(secrets.token_hex(32))  # nobody holds their plaintext
        with self.world.lock:
            with self._lock:  # checked again: others may have minted meanwhile
                if len(self._sandboxes) >= self.max_count:
                    raise Conflict(f"{self.max_count} sandboxes already exist; delete one first",
                                   code="too_many_sandboxes")
            if org is None:
                org, token = bootstrap_org(self.world, name or "Sandbox", token)
                key = next(iter(org.management_keys.values()))
            else:
                self.world.orgs[org.id] = org
            org_id = org.id
            if name:
                org.org["name"] = name
            if clock is not None:
                self.world.clocks[org_id] = VirtualClock(clock)
            elif isinstance(self.world.clock, VirtualClock):
                self.world.clocks[org_id] = VirtualClock(self.world.clock.now())
            if not empty:  # made on the sandbox's own clock
                key, _ = self.world.add_management_key(org, "Sandbox key", plaintext=token,
                                                       created_at=self.world.now_iso(org))
            owner = next((m["user"]["email"] for m in org.members.values()
                          if m.get("role") == "owner" and m.get("status") != "invited"), None)
            sandbox = Sandbox(org_id, parent.id, org.org["name"], origin, iso(datetime.now(UTC)), owner)
            with self._lock:
                self._sandboxes[org_id] = sandbox
            self.states.keep_boot(org)
            view = sandbox.view(self.world)
        return {**view, "token": token, "key_id": key["id"],
                "sign_in": {"email": owner, "org_id": org_id} if owner else None}

    def _read(self, body: Any) -> tuple[str | None, int | None, bool, datetime | None]:
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise Invalid("body must be a JSON object such as {\"name\": \"worker-1\", \"seed\": 7}",
                          code="validation_failed")
        unknown = sorted(set(body) - set(FIELDS))
        if unknown:
            raise Invalid(f"body: unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}",
                          code="validation_failed")
        name, seed, empty, clock = body.get("name"), body.get("seed"), body.get("empty", False), body.get("clock")
        if name is not None and (not isinstance(name, str) or not 1 <= len(name.strip()) <= 100):
            raise Invalid("body: 'name' must be a string of 1 to 100 characters", code="validation_failed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63):
            raise Invalid("body: 'seed' must be a non-negative integer", code="validation_failed")
        if not isinstance(empty, bool):
            raise Invalid("body: 'empty' must be true or false", code="validation_failed")
        if empty and seed is not None:
            raise Invalid("body: 'empty' and 'seed' exclude each other", code="validation_failed")
        at = None
        if clock is not None and clock != "real":
            try:
                if not isinstance(clock, str):
                    raise ValueError
                at = datetime.now(UTC) if clock == "virtual" else parse_iso(clock).astimezone(UTC)
            except (ValueError, TypeError, OverflowError):
                raise Invalid(f"body: 'clock' must be \"real\", \"virtual\" (frozen now) or an ISO 8601 timestamp "
                              f"to freeze it at; got {clock!r}", code="validation_failed")
        return (name.strip() if name else None), seed, empty, at

    def _seeded(self, seed: int) -> bytes:
        anchor = self.config.anchor or iso(default_anchor())
        key = (seed, anchor)
        with self._lock:
            frozen = self._seeds.get(key)
            if frozen is not None:
                self._seeds.move_to_end(key)
                return frozen
        generated = generate(seed, parse_iso(anchor), self.config.scale)  # outside every lock: about a second
        frozen = freeze(generated.org)
        with self._lock:
            self._seeds[key] = frozen
            while len(self._seeds) > MAX_SEEDS_KEPT:
                self._seeds.popitem(last=False)
        return frozen

    # ── list, delete ────────────────────────────────────────────────────

    def list(self, caller: OrgState) -> list[dict[str, Any]]:
        with self._lock:
            mine = [s for s in self._sandboxes.values() if s is not None and caller.id in (s.parent_id, s.id)]
        return [s.view(self.world) for s in mine]

    def delete(self, caller: OrgState, sandbox_id: str) -> dict[str, Any]:
        with self._lock:
            sandbox = self._sandboxes.get(sandbox_id)
            if sandbox is None or caller.id not in (sandbox.parent_id, sandbox.id):
                raise not_found("sandbox", sandbox_id)
            del self._sandboxes[sandbox_id]
        with self.world.lock:
            self.world.remove_org(sandbox_id)
        self.states.forget(sandbox_id)
        self.forget(sandbox_id)
        return {"id": sandbox_id, "deleted": True}


def rename(org: OrgState, old: str, new: str) -> None:
    """Make `new` the organization's id wherever its records name `old`."""
    org.org["id"] = new
    for name in org.__dataclass_fields__:
        if name != "org":
            _replace(getattr(org, name), old, new)


def _replace(value: Any, old: str, new: str) -> None:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, item in node.items():
                if item == old:
                    dict.__setitem__(node, key, new)
                elif isinstance(item, (dict, list)):
                    stack.append(item)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if item == old:
                    node[i] = new
                elif isinstance(item, (dict, list)):
                    stack.append(item)
