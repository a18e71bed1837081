"""The dashboard's session: a member of an organization signs in and the browser then calls the API
with a cookie instead of a management key (the spec's security scheme allows both).

A session id is 32 bytes from `secrets`; the store keeps only its SHA-256. A session is checked on
every request against the world as it is then: a member who was removed (or whose organization was
deleted) is signed out at their next request. Sessions live in memory, expire after a day of
disuse, and are bounded in number (the oldest goes first).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..domain.world import Actor, OrgState, Resource, World
from ..errors import Conflict, Invalid, NotFound
from ..ids import sha256_hex

COOKIE_NAME = "modelux_session"
IDLE_SECONDS = 24 * 3600
MAX_SESSIONS = 10_000


@dataclass
class Session:
    digest: str
    org_id: str
    user_id: str
    email: str
    created_at: str
    last_seen: float


def cookie_attributes(secure: bool) -> dict[str, Any]:
    """What a browser needs: HttpOnly always (scripts never read it); over TLS `SameSite=None; Secure`,
    so an app on another site can send it with `credentials: "include"`; over plain http (loopback)
    `SameSite=Lax` without `Secure` (browsers drop a `SameSite=None` cookie that is not `Secure`, and
    most ignore `Secure` cookies over http), which any page on the same host — another port — sends."""
    if secure:
        return {"httponly": True, "secure": True, "samesite": "None", "path": "/"}
    return {"httponly": True, "secure": False, "samesite": "Lax", "path": "/"}


def active_member(org: OrgState, user_id: str) -> Resource | None:
    """The member who may act: still in the organization, and no longer only invited."""
    member = org.members.get(user_id)
    if member is None or member.get("status") == "invited":
        return None
    return member


class SessionStore:
    def __init__(self, idle_seconds: float = IDLE_SECONDS, max_sessions: int = MAX_SESSIONS):
        self.idle_seconds = idle_seconds
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def sign_in(self, world: World, email: Any, org_id: Any = None,
                hidden: frozenset[str] | set[str] = frozenset()) -> tuple[str, Session, OrgState, Resource]:
        """A new session for the member with this email; (cookie value, session, org, member). Organizations in
        `hidden` (sandboxes) are only found when `org_id` names them."""
        if not isinstance(email, str) or "@" not in email:
            raise Invalid("body: 'email' must be the email address of a member of an organization",
                          code="validation_failed")
        if org_id is not None and not isinstance(org_id, str):
            raise Invalid("body: 'org_id' must be a string", code="validation_failed")
        with world.lock:
            found = [(org, member) for org in world.orgs.values()
                     if (org.id not in hidden if org_id is None else org.id == org_id)
                     for member in org.members.values()
                     if (member.get("user") or {}).get("email", "").lower() == email.lower()]
            if not found:
                where = f"organization '{org_id}'" if org_id else "any organization"
                raise NotFound(f"no member with email '{email}' in {where}", code="member_not_found")
            if len(found) > 1:
                orgs = ", ".join(org.id for org, _ in found)
                raise Conflict(f"'{email}' is a member of several organizations ({orgs}); name one in 'org_id'",
                               code="ambiguous_member")
            org, member = found[0]
            if member.get("status") == "invited":
                raise Conflict(f"'{email}' is invited but has not joined the organization yet",
                               code="member_invited")
            created = world.now_iso()
        token = secrets.token_urlsafe(32)
        session = Session(sha256_hex(token), org.id, member["user_id"], email, created, time.monotonic())
        with self._lock:
            self._sessions[session.digest] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return token, session, org, member

    def find(self, token: str) -> Session | None:
        digest = sha256_hex(token)
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(digest)
            if session is None or not hmac.compare_digest(session.digest, digest):
                return None
            if now - session.last_seen > self.idle_seconds:
                del self._sessions[digest]
                return None
            session.last_seen = now
            self._sessions.move_to_end(digest)
            return session

    def resolve(self, world: World, token: str) -> tuple[OrgState, Actor, Session] | None:
        """The organization and actor of a live session whose member may still act; None otherwise (and a
        session whose member left is ended)."""
        session = self.find(token)
        if session is None:
            return None
        with world.lock:
            org = world.orgs.get(session.org_id)
            member = active_member(org, session.user_id) if org is not None else None
            if org is None or member is None:
                self.sign_out(token)
                return None
            email = (member.get("user") or {}).get("email")
        return org, Actor(id=session.user_id, email=email), session

    def sign_out(self, token: str) -> bool:
        with self._lock:
            return self._sessions.pop(sha256_hex(token), None) is not None

    def count(self) -> int:
        with self._lock:
            return len(self._sessions)
