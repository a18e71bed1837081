"""`Frontend`: the kit's state and the few calls the API's WSGI layer makes into it.

In the order a request meets them (`mockserver/api.py`):

1. `session_caller` — no `Authorization` header: the session cookie, if any, names the caller;
2. `admit` — after authentication: the rate limit (429), the preferences (400 for a bad one), the
   delay (slept here, outside the world lock) and the fault, if one is asked for or drawn;
3. `answer` — after request validation: the forced answer, when the preferences force one (no
   handler that writes is called: the world does not change);
4. `decorate` — on every answer under the API: rate-limit headers, `Preference-Applied`.

Knobs start from the command line (`MockConfig`) and can be changed while serving through the
control surface (`settings` / `update_settings`), atomically: a bad value changes nothing.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from limits import RateLimitItem
from werkzeug.wrappers import Request

from ..compiled import Operation
from ..domain.world import Actor, OrgState
from ..errors import ApiError, Invalid, Unauthorized
from ..registry import Call
from ..services import MockConfig, Services
from .faults import FaultDraw, check_rate, named_fault
from .clock import Clocks
from .forced import ForcedAnswers
from .journal import Journal, JournalMiddleware
from .latency import Delays, Latency
from .prefer import NONE, Preferences, read_preferences
from .persistence import StateFile
from .ratelimit import RateLimiter, describe_rate, parse_rate
from .sandboxes import Sandboxes
from .sessions import COOKIE_NAME, SessionStore
from .snapshots import States

HEADERS_KEY = "modelux.frontend.headers"
CALLER_KEY = "modelux.frontend.caller"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"


@dataclass(frozen=True)
class Settings:
    latency: Latency | None = None
    fault_rate: float = 0.0
    rate_limit: RateLimitItem | None = None

    def view(self) -> dict[str, Any]:
        return {"latency_ms": str(self.latency) if self.latency else None, "fault_rate": self.fault_rate,
                "rate_limit": describe_rate(self.rate_limit) if self.rate_limit else None}


def settings_from(config: MockConfig) -> Settings:
    return Settings(latency=Latency.parse(config.latency) if config.latency else None,
                    fault_rate=check_rate(config.fault_rate),
                    rate_limit=parse_rate(config.rate_limit) if config.rate_limit else None)


def carries_preferences(environ: dict[str, Any]) -> bool:
    """Whether a request may state preferences: a Prefer header, or a query parameter that may be `__code`-like."""
    query = environ.get("QUERY_STRING", "")
    return "HTTP_PREFER" in environ or "__" in query or "%5f" in query.lower()


def request_origin(request: Request) -> str:
    return f"{request.scheme}://{request.host}"


class Frontend:
    def __init__(self, config: MockConfig, spec: dict[str, Any], oracle: Any):
        self.config = config
        self._settings = settings_from(config)
        self._limiter = RateLimiter(self._settings.rate_limit) if self._settings.rate_limit else None
        self._lock = threading.Lock()
        seed = config.seed
        self.delays = Delays(seed)
        self.faults = FaultDraw(seed)
        self.sessions = SessionStore()
        self.forced = ForcedAnswers(spec, oracle, validate=config.validate_responses)

    def attach(self, services: Services) -> None:
        """The parts of the kit that act on the world: the clocks, reset and snapshots, sandboxes, the request
        journal and the state file. The boot state of every organization is kept from here on."""
        config, world = self.config, services.world
        self.clocks = Clocks(world, moved=lambda: (services.wake_webhooks(), services.kick_simulations()))
        self.state_file = StateFile(config.state, world, services.org, services.token, config.world_seed,
                                    config.anchor) if config.state else None
        self.states = States(world, self.clocks, lambda org: self.changed(), max_count=config.max_snapshots)
        self.journal = Journal(config.journal_size)
        self.sandboxes = Sandboxes(world, config, self.states, self.clocks, forget=self.journal.forget,
                                   max_count=config.max_sandboxes)
        for org in list(world.orgs.values()):
            self.states.keep_boot(org, eager=False)

    def journaled(self, app: Callable, services: Services) -> JournalMiddleware:
        """`app` (the API's WSGI layer) with every request filed in the journal."""
        return JournalMiddleware(app, self.journal, services.world, self.states.before_change, self.changed)

    def changed(self) -> None:
        """The world may have changed: the state file is written again soon."""
        if self.state_file is not None:
            self.state_file.changed()

    # ── settings (the control surface) ────────────────────────────────

    @property
    def settings(self) -> Settings:
        return self._settings

    def update_settings(self, body: Any) -> Settings:
        """Change knobs at run time: `{"latency_ms": "100-300"|null, "fault_rate": 0.1, "rate_limit":
        "60/min"|null}`. Every value is checked before any is applied."""
        if not isinstance(body, dict):
            raise Invalid("body must be a JSON object such as {\"latency_ms\": \"100-300\"}", code="validation_failed")
        unknown = sorted(set(body) - {"latency_ms", "fault_rate", "rate_limit"})
        if unknown:
            raise Invalid(f"body: unknown setting(s) {', '.join(unknown)}; known: latency_ms, fault_rate, rate_limit",
                          code="validation_failed")
        changes: dict[str, Any] = {}
        try:
            if "latency_ms" in body:
                value = body["latency_ms"]
                if value is not None and not isinstance(value, (str, int)) or isinstance(value, bool):
                    raise ValueError("latency_ms must be MS, \"MIN-MAX\" or null")
                changes["latency"] = None if value is None else Latency.parse(str(value))
            if "fault_rate" in body:
                value = body["fault_rate"]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError("fault_rate must be a number between 0 and 1")
                changes["fault_rate"] = check_rate(float(value))
            if "rate_limit" in body:
                value = body["rate_limit"]
                if value is not None and not isinstance(value, str):
                    raise ValueError("rate_limit must be COUNT/UNIT (e.g. \"60/min\") or null")
                changes["rate_limit"] = parse_rate(value) if value else None
        except ValueError as exc:
            raise Invalid(f"body: {exc}", code="validation_failed")
        with self._lock:
            updated = dataclasses.replace(self._settings, **changes)
            if "rate_limit" in changes:
                self._limiter = RateLimiter(updated.rate_limit) if updated.rate_limit else None
            self._settings = updated
        return updated

    # ── 1. who calls ──────────────────────────────────────────────────

    def session_caller(self, services: Services, request: Request) -> tuple[OrgState, Actor] | None:
        """The caller named by the session cookie; None without one, a 401 for an ended session or a
        request from an origin that may not use it (a page of another site cannot act with the cookie)."""
        token = request.cookies.get(COOKIE_NAME)
        if not token:
            return None
        origin = request.headers.get("Origin")
        if origin and origin != request_origin(request) and origin not in self.credential_origins():
            raise Unauthorized(f"the session cookie is not accepted from origin {origin}; allow it with --cors-origin "
                               f"{origin}", code="origin_not_allowed")
        found = self.sessions.resolve(services.world, token)
        if found is None:
            raise Unauthorized("session ended or expired (or its member left the organization); sign in again",
                               code="invalid_session")
        org, actor, session = found
        request.environ[CALLER_KEY] = f"session:{session.digest}"
        return org, actor

    def credential_origins(self) -> list[str]:
        """Origins that may send credentials: only an explicit list (`--cors-origin`), never `*`."""
        origins = self.config.cors_origins
        return [] if origins == "*" or not origins else [o for o in origins if o != "*"]

    # ── 2. admission ──────────────────────────────────────────────────

    def admit(self, op: Operation, request: Request, actor: Actor | None) -> Preferences:
        settings, limiter = self._settings, self._limiter
        headers: dict[str, str] = request.environ.setdefault(HEADERS_KEY, {})
        if limiter is not None and actor is not None:
            verdict = limiter.hit(request.environ.get(CALLER_KEY) or f"key:{actor.id}")
            headers.update(verdict.headers())
            if not verdict.allowed:
                raise RateLimited(f"rate limit of {describe_rate(limiter.item)} exceeded for this "
                                  f"{'session' if CALLER_KEY in request.environ else 'management key'}; retry after "
                                  f"{verdict.retry_after} s", headers=verdict.headers())
        if carries_preferences(request.environ):
            prefs = read_preferences(request.headers, request.args)
        else:  # neither a Prefer header nor a __code-like parameter: no need to parse the query string
            prefs = NONE
        self.delays.sleep(self.delays.draw(settings.latency, prefs.delay_ms))
        if prefs.fault is not None:
            prefs = dataclasses.replace(prefs, code=named_fault(op, prefs.fault))
        elif not prefs.forces_answer:
            drawn = self.faults.draw(op, settings.fault_rate)
            if drawn is not None:
                prefs = dataclasses.replace(prefs, code=named_fault(op, drawn), fault=drawn, source="fault")
                headers["X-Mock-Fault"] = drawn
        if prefs.delay_ms is not None:
            headers["Preference-Applied"] = f"delay={prefs.delay_ms}"
        return prefs

    def may_delay(self, environ: dict[str, Any]) -> bool:
        """Whether a request may sleep before it is answered: a latency is set, or it may ask for a delay."""
        return self._settings.latency is not None or carries_preferences(environ)

    # ── 3. forced answers ─────────────────────────────────────────────

    def answer(self, op: Operation, request: Request, call: Call, prefs: Preferences,
               handlers: dict[str, Callable[[Call], tuple[int, Any]]]) -> tuple[int, Any] | None:
        """(status, payload) when the preferences force the answer; None to let the handler answer."""
        if not prefs.forces_answer:
            return None
        headers: dict[str, str] = request.environ.setdefault(HEADERS_KEY, {})
        if prefs.code == 429 and "Retry-After" not in headers:
            limit = self._settings.rate_limit.amount if self._settings.rate_limit else 60
            headers.update({"Retry-After": "1", "X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0",
                            "X-RateLimit-Reset": str(math.ceil(time.time()) + 1)})
        status, payload = self.forced.answer(op, prefs, call, request, handlers, headers)
        if prefs.source != "fault":
            headers["Preference-Applied"] = prefs.applied()
        return status, payload

    # ── 4. every answer ───────────────────────────────────────────────

    @staticmethod
    def decorate(request: Request, response: Any) -> None:
        for name, value in request.environ.get(HEADERS_KEY, {}).items():
            response.headers.setdefault(name, value)
