"""In-memory state of the mock: a world of organizations, each holding its resources.

Resources are kept as plain dicts in their wire shape; keys starting with `_` are private
(hashes, secrets, bookkeeping) and never leave the server (`public`). One re-entrant lock
guards the whole world: requests and background workers take it for every read-modify-write.
"""

from __future__ import annotations

import hmac
import threading
from contextvars import ContextVar
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from ..clock import Clock, SystemClock, iso
from ..engines.logindex import LogTable
from ..tables import Journal, Table, active, touch
from ..errors import not_found
from ..ids import IdFactory, sha256_hex

Resource = dict[str, Any]

KEY_PREFIX_LENGTH = 12
# Retention (spec/DECISIONS.md, "Memory"): audit entries kept per organization, the oldest dropped first.
MAX_AUDIT_ENTRIES = 20_000

# The organization the current request acts for: its clock is the one `World.now()` reads.
_acting_org: ContextVar[str | None] = ContextVar("modelux_acting_org", default=None)

# Collections every organization holds, by attribute name → human name for 404 messages.
COLLECTIONS = {
    "members": "member",
    "projects": "project",
    "providers": "provider",
    "api_keys": "API key",
    "management_keys": "management key",
    "routing_configs": "routing config",
    "budgets": "budget",
    "budget_alerts": "budget alert",
    "budget_events": "budget event",
    "webhook_endpoints": "webhook endpoint",
    "webhook_deliveries": "webhook delivery",
    "simulations": "simulation",
    "logs": "log",
    "audit_logs": "audit log entry",
}


def public(resource: Resource) -> Resource:
    """The wire view of a stored resource: private `_` fields removed (recursively)."""
    return {k: _public_value(v) for k, v in resource.items() if not k.startswith("_")}


def _public_value(value: Any) -> Any:
    if isinstance(value, dict):
        return public(value)
    if isinstance(value, list):
        return [_public_value(v) for v in value]
    return value


class Slugs(Counter):
    """The slugs taken in an organization (with how many projects hold each) and the first free one for a name.

    `free("acme")` is `acme`, else the first of `acme-2`, `acme-3`, … not taken. It remembers, per name, up to
    which suffix all are taken, so a thousand projects of one name do not make the next one count through a
    thousand; a slug let go lowers that mark again."""

    def __init__(self) -> None:
        super().__init__()
        self._taken_below: dict[str, int] = {}  # name -> n such that name-2 … name-(n-1) are all taken

    def free(self, base: str) -> str:
        if base not in self:
            return base
        n = self._taken_below.get(base, 2)
        while f"{base}-{n}" in self:
            n += 1
        self._taken_below[base] = n
        return f"{base}-{n}"

    def let_go(self, slug: str) -> None:
        base, _, suffix = slug.rpartition("-")
        if suffix.isdigit() and base in self._taken_below:
            self._taken_below[base] = min(self._taken_below[base], int(suffix))


class ProjectTable(Table):
    """`org.projects`, knowing which slugs are taken (a new project's slug is unique in its org)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.slugs = Slugs()
        super().__init__(*args, **kwargs)

    def _added(self, project: Resource) -> None:
        if "slug" in project:
            self.slugs[project["slug"]] += 1

    def _removed(self, projects: list[Resource], replaced: bool) -> None:
        for project in projects:
            slug = project.get("slug")
            if slug in self.slugs:
                self.slugs[slug] -= 1
                if self.slugs[slug] <= 0:
                    del self.slugs[slug]
                    self.slugs.let_go(slug)


@dataclass
class Actor:
    """Who is calling: the management key used, and the user it stands for."""

    id: str
    email: str | None = None


@dataclass
class OrgState:
    org: Resource
    members: Table = field(default_factory=Table)
    projects: ProjectTable = field(default_factory=ProjectTable)
    providers: Table = field(default_factory=Table)
    api_keys: Table = field(default_factory=Table)
    management_keys: Table = field(default_factory=Table)
    routing_configs: Table = field(default_factory=Table)
    budgets: Table = field(default_factory=Table)
    budget_alerts: Table = field(default_factory=Table)
    budget_events: Table = field(default_factory=Table)
    webhook_endpoints: Table = field(default_factory=Table)
    webhook_deliveries: Table = field(default_factory=Table)
    simulations: Table = field(default_factory=Table)
    logs: LogTable = field(default_factory=LogTable)  # a dict that keeps indexes for reads
    audit_logs: Table = field(default_factory=Table)
    # routing config id -> versions, ascending
    config_versions: Table = field(default_factory=Table)
    # simulation id -> per-request results
    simulation_results: Table = field(default_factory=Table)

    @property
    def id(self) -> str:
        return self.org["id"]

    def get(self, collection: str, ident: str) -> Resource:
        """The record, kept for rollback when a transaction is open (workflows change what they fetch)."""
        found = getattr(self, collection).get(ident)
        if found is None:
            raise not_found(COLLECTIONS[collection], ident)
        return touch(found)

    def project(self, ident: str) -> Resource:
        return self.get("projects", ident)


class World:
    """Every organization the mock serves, plus the services they share."""

    def __init__(self, clock: Clock | None = None, ids: IdFactory | None = None):
        self.clock: Clock = clock or SystemClock()
        self.ids = ids or IdFactory()
        self.lock = threading.RLock()
        self.orgs: Table = Table()  # org id -> OrgState
        # sha256(management key) -> (org id, key id)
        self._key_index: Table = Table()
        # Called after a domain event is recorded: (org, event_type, data, project_id).
        self.event_listeners: list[Callable[[OrgState, str, dict[str, Any], str | None], None]] = []
        # Called after a successful mutation, with the org (budget re-evaluation etc.).
        self.mutation_listeners: list[Callable[[OrgState], None]] = []
        # An organization's own clock (the frontend kit's virtual clocks); the others read `clock`.
        self.clocks: dict[str, Clock] = {}

    # ── transactions ──────────────────────────────────────────────────────

    @contextmanager
    def transaction(self) -> Iterator[Journal]:
        """All or nothing: what the block changes stays only if it ends without an exception.

        Hold `lock` around it. Tables (and records fetched with `OrgState.get`, or passed to
        `tables.touch` before an in-place change) are journaled; on an exception they are put back
        and what was deferred with `tables.after_commit` (waking the webhook dispatcher, the
        simulation runner) is dropped. Inside an open transaction this joins it.
        """
        if active() is not None:
            yield active()  # type: ignore[misc]
            return
        journal = Journal().open()
        try:
            yield journal
        except BaseException:
            journal.rollback()
            raise
        journal.commit()

    # ── time and ids ──────────────────────────────────────────────────────

    def clock_of(self, org: "OrgState | str | None" = None) -> Clock:
        """The clock of `org` (by default the organization the current request acts for)."""
        org_id = _acting_org.get() if org is None else org if isinstance(org, str) else org.id
        return self.clocks.get(org_id, self.clock) if org_id is not None else self.clock

    def now(self, org: "OrgState | str | None" = None) -> datetime:
        return self.clock_of(org).now()

    def now_iso(self, org: "OrgState | str | None" = None) -> str:
        return iso(self.now(org))  # type: ignore[return-value]

    @staticmethod
    def act_for(org: "OrgState | None") -> None:
        """From here on in this thread (or context), time is read from `org`'s clock."""
        _acting_org.set(org.id if org is not None else None)

    def new_id(self, prefix: str) -> str:
        return self.ids.new(prefix)

    # ── organizations and management keys ───────────────────────────────────

    def add_org(self, org: Resource) -> OrgState:
        state = OrgState(org=org)
        self.orgs[org["id"]] = state
        return state

    def remove_org(self, org_id: str) -> None:
        state = self.orgs.pop(org_id)
        self.clocks.pop(org_id, None)
        for key in state.management_keys.values():
            self._key_index.pop(key["_hash"], None)

    def swap_state(self, org: OrgState, state: OrgState) -> None:
        """Give `org` everything `state` holds (same organization id), in place: references to `org` stay
        valid, and the management keys that work are `state`'s. Call it holding the lock."""
        for key in org.management_keys.values():
            if self._key_index.get(key["_hash"], (None,))[0] == org.id:
                del self._key_index[key["_hash"]]
        for name in org.__dataclass_fields__:
            setattr(org, name, getattr(state, name))
        for key in org.management_keys.values():
            self.index_management_key(org, key)

    def add_management_key(self, org: OrgState, name: str, plaintext: str | None = None,
                           created_at: str | None = None, key_id: str | None = None) -> tuple[Resource, str]:
        """Store a management key (hash only) and return it with its plaintext."""
        plaintext = plaintext or self.ids.secret("mlx_mgmt_")
        digest = sha256_hex(plaintext)
        key = {
            "id": key_id or self.new_id("mk"),
            "name": name,
            "key_prefix": plaintext[:KEY_PREFIX_LENGTH],
            "created_at": created_at or self.now_iso(),
            "last_used_at": None,
            "revoked_at": None,
            "_hash": digest,
        }
        org.management_keys[key["id"]] = key
        self._key_index[digest] = (org.id, key["id"])
        return key, plaintext

    def index_management_key(self, org: OrgState, key: Resource) -> None:
        self._key_index[key["_hash"]] = (org.id, key["id"])

    def authenticate(self, token: str) -> tuple[OrgState, Resource] | None:
        """The org and key a bearer token belongs to, or None. Compares hashes in constant time."""
        digest = sha256_hex(token)
        with self.lock:
            hit = self._key_index.get(digest)
            if hit is None:
                return None
            org = self.orgs.get(hit[0])
            if org is None:
                return None
            key = org.management_keys.get(hit[1])
            if key is None or key["revoked_at"] is not None:
                return None
            if not hmac.compare_digest(key["_hash"], digest):
                return None
            key["last_used_at"] = self.now_iso(org)
            return org, key

    # ── audit and events ─────────────────────────────────────────────────────

    def audit(self, org: OrgState, actor: Actor, resource_type: str, resource_id: str, action: str,
              changes: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None,
              occurred_at: str | None = None) -> Resource:
        entry = {
            "id": self.new_id("aud"),
            "org_id": org.id,
            "actor_id": actor.id,
            "actor_email": actor.email,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "action": action,
            "changes": redact(changes) if changes is not None else None,
            "metadata": metadata,
            "occurred_at": occurred_at or self.now_iso(),
            "_seq": next(reversed(org.audit_logs.values()))["_seq"] + 1 if org.audit_logs else 0,
        }
        org.audit_logs[entry["id"]] = entry
        org.audit_logs.keep_latest(MAX_AUDIT_ENTRIES)
        return entry

    def emit(self, org: OrgState, event_type: str, data: dict[str, Any], project_id: str | None = None) -> None:
        for listener in self.event_listeners:
            listener(org, event_type, data, project_id)

    def mutated(self, org: OrgState) -> None:
        for listener in self.mutation_listeners:
            listener(org)


SECRET_FIELDS = {"apiKey", "api_key", "key", "signing_secret", "signingSecret", "secret", "_hash", "_secret"}


def redact(changes: Any) -> Any:
    """Secrets never reach the audit log, not even their old or new values."""
    if isinstance(changes, dict):
        return {k: ("[redacted]" if k in SECRET_FIELDS else redact(v)) for k, v in changes.items()}
    if isinstance(changes, list):
        return [redact(v) for v in changes]
    return changes


def diff(before: Resource, after: Resource, fields: Iterable[str]) -> dict[str, Any]:
    """Before/after of the fields that changed."""
    changed = {}
    for name in fields:
        if before.get(name) != after.get(name):
            changed[name] = {"before": before.get(name), "after": after.get(name)}
    return changed
