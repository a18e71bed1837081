"""Generic oracles: what every exchange with any implementation must satisfy, whatever the operation.

Schemathesis judges one answer against its schema. These judge answers against each other and against what
the target shows when asked again, as EvoMaster's and RESTler's oracles do: an answer about the id asked for,
fields that never change, rejected requests that leave no trace, errors that leak nothing, foreign ids that
look like unknown ones, and mutations whose answers are what the next read shows.

Each oracle is a small named function with a stable code (`MX-…`) and a source (spec / docs / ours, as the
domain rules); it returns a message when the exchange breaks it, `JUDGED` when it judged the exchange and found
nothing wrong, and None when the exchange is not one it is about (so a run can say how much each oracle saw). `OracleRun` applies them to
the exchanges of a run: every request of the schemathesis phases and of the stateful walk (through
`contracts.conformance.GuardedSession`, reported by the checks in `contracts.checks`), and the probe rule of
each code (`contracts.probes`), which drives the target through the cases the oracle is about. Oracles that
must look again (re-read what a request targeted) do it through `run.read`, with the run's key or another
organization's.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from modelux_spec import read_timestamp
from .settings import SOURCES
from .specs import operation_index
from .target import DELETIONS, Answer


# ── one exchange ────────────────────────────────────────────────────────────


@dataclass
class Exchange(Answer):
    """One request and its answer, as the oracles see it (path under the API root, no query string)."""

    method: str
    path: str
    status: int
    json: Any
    text: str
    body: Any = None
    query: Mapping[str, Any] = field(default_factory=dict)
    foreign: bool = False  # sent with another organization's key
    before: Any = None  # what the target showed of the request's target before it was sent (see OracleRun.before)
    op_id: str | None = None
    label: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if self.op_id is None:
            found = operation_index().find(self.method, self.path)
            if found is not None:
                self.op_id, self.label, self.params = found

    @property
    def template(self) -> str:
        return (self.label or f"{self.method} {self.path}").split(" ", 1)[1]

    def describe(self) -> str:
        code = self.json.get("code") if isinstance(self.json, dict) else None
        return f"{self.method} {self.path} → {self.status}{f' {code}' if code else ''}"


# ── the registry ────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Oracle:
    code: str
    name: str
    title: str
    source: str
    ref: str
    fn: Callable[[Exchange, "OracleRun"], str | None]

    @property
    def strict_only(self) -> bool:
        return self.source == "ours"


ORACLES: dict[str, Oracle] = {}


def oracle(code: str, *, title: str, source: str, ref: str):
    assert source in SOURCES, source

    def register(fn: Callable[[Exchange, "OracleRun"], str | None]):
        if code in ORACLES:
            raise RuntimeError(f"two oracles with code {code}")
        ORACLES[code] = Oracle(code, fn.__name__, title, source, ref, fn)
        return fn

    return register


# ── what the operations are about ───────────────────────────────────────────

# The kind of resource a path's first `{id}` names, by the path's leading segments (longest first).
PATH_KINDS = (
    ("/webhooks/endpoints", "webhook_endpoint"), ("/webhooks/deliveries", "webhook_delivery"),
    ("/routing-configs", "routing_config"), ("/management-keys", "management_key"), ("/audit-logs", "audit_log"),
    ("/projects", "project"), ("/providers", "provider"), ("/keys", "api_key"), ("/logs", "log"),
    ("/budgets", "budget"), ("/simulations", "simulation"), ("/orgs", "org"),
)

# What an answer's `data` shows: operationId -> kind (a list of that kind for list operations).
ANSWER_KINDS = {
    **dict.fromkeys(("listProjects", "createProject", "getProject", "updateProject"), "project"),
    **dict.fromkeys(("listProviders", "createProvider", "getProvider", "updateProvider"), "provider"),
    **dict.fromkeys(("listApiKeys", "createApiKey"), "api_key"),
    **dict.fromkeys(("listManagementKeys", "createManagementKey"), "management_key"),
    **dict.fromkeys(("listRoutingConfigs", "createRoutingConfig", "getRoutingConfig", "updateRoutingConfig",
                     "restoreRoutingConfigVersion"), "routing_config"),
    **dict.fromkeys(("listRoutingConfigVersions", "getRoutingConfigVersion"), "routing_config_version"),
    **dict.fromkeys(("listLogs", "getLog"), "log"),
    **dict.fromkeys(("listBudgets", "createBudget", "getBudget", "updateBudget"), "budget"),
    "listBudgetEvents": "budget_event",
    **dict.fromkeys(("listBudgetAlerts", "createBudgetAlert"), "budget_alert"),
    **dict.fromkeys(("listWebhookEndpoints", "createWebhookEndpoint", "getWebhookEndpoint",
                     "updateWebhookEndpoint"), "webhook_endpoint"),
    **dict.fromkeys(("listWebhookDeliveries", "getWebhookDelivery", "replayWebhookDelivery"), "webhook_delivery"),
    **dict.fromkeys(("listSimulations", "createSimulation", "getSimulation", "cancelSimulation"), "simulation"),
    **dict.fromkeys(("listAuditLogs", "getAuditLog"), "audit_log"),
    **dict.fromkeys(("listMembers", "updateMemberRole"), "member"),
    "updateOrg": "org",
}

# Fields no operation of the spec can change once a resource exists: creation stamps and creators, key
# prefixes, parent links the update bodies do not offer, and records that are immutable as a whole (a
# version, a delivery's payload, an audit entry, a request log).
IMMUTABLE = {
    "project": ("created_at",),
    "provider": ("created_at", "provider"),
    "api_key": ("created_at", "key_prefix"),
    "management_key": ("created_at", "key_prefix"),
    "routing_config": ("created_at", "project_id"),
    "routing_config_version": ("created_at", "created_by", "policy", "config"),
    "budget": ("created_at", "scope_type", "scope_id", "period"),
    "budget_alert": ("created_at", "budget_id"),
    "budget_event": ("occurred_at", "budget_id", "event_type"),
    "webhook_endpoint": ("created_at", "project_id"),
    "webhook_delivery": ("created_at", "endpoint_id", "event_type", "payload"),
    "simulation": ("created_at", "project_id", "window_start", "window_end", "candidate_policy",
                   "candidate_config", "baseline_config_id"),
    "log": ("timestamp", "project_id", "model_used", "model_requested", "cost_usd"),
    "audit_log": ("occurred_at", "action", "resource_type", "resource_id", "actor_id", "changes"),
    "member": ("created_at",),
    "org": ("created_at",),
}
TIMESTAMPS = {"created_at", "occurred_at", "timestamp", "window_start", "window_end"}

# By-id answers: operationId -> (field of `data` — `[]` for every item of a list —, what it must equal:
# a path parameter, or `body.<field>`). A field the answer does not carry is not judged.
ABOUT = {
    **dict.fromkeys(("getProject", "updateProject", "deleteProject", "getProvider", "updateProvider",
                     "deleteProvider", "revokeApiKey", "getRoutingConfig", "updateRoutingConfig", "deleteRoutingConfig",
                     "restoreRoutingConfigVersion", "getLog", "getBudget", "updateBudget", "deleteBudget",
                     "getWebhookEndpoint", "updateWebhookEndpoint", "deleteWebhookEndpoint", "getWebhookDelivery",
                     "replayWebhookDelivery", "getSimulation", "cancelSimulation", "getAuditLog",
                     "revokeManagementKey", "updateOrg"), ("id", "id")),
    "getRoutingConfigVersion": ("version", "version"),
    "getDecisionsSummary": ("project_id", "id"),
    "resetBudgetSpend": ("budget_id", "id"),
    "listBudgetEvents": ("[].budget_id", "id"),
    "listBudgetAlerts": ("[].budget_id", "id"),
    "createBudgetAlert": ("budget_id", "id"),
    "deleteBudgetAlert": ("id", "body.alertId"),
    "listWebhookDeliveries": ("[].endpoint_id", "id"),
    "promoteSimulation": ("simulation_id", "id"),
    "inviteMember": ("org_id", "id"),
    "updateMemberRole": ("user_id", "userId"),
}


@dataclass(frozen=True)
class Read:
    """How to look again at what a mutation targeted: a GET (path template: `{name}` from the path parameters,
    `{data.x}` from the answer, `{body.x}` from the request body) and, for a list, the field naming the item."""

    path: str
    item: tuple[str, str] | None = None  # (field of the listed items, template of its value)


READS: dict[str, Read] = {
    **dict.fromkeys(("updateProject", "deleteProject"), Read("/projects/{id}")),
    "createProject": Read("/projects/{data.id}"),
    **dict.fromkeys(("updateProvider", "deleteProvider"), Read("/providers/{id}")),
    "createProvider": Read("/providers/{data.id}"),
    "createApiKey": Read("/keys", ("id", "{data.id}")),
    "revokeApiKey": Read("/keys", ("id", "{id}")),
    "createManagementKey": Read("/management-keys", ("id", "{data.id}")),
    "revokeManagementKey": Read("/management-keys", ("id", "{id}")),
    **dict.fromkeys(("updateRoutingConfig", "deleteRoutingConfig", "restoreRoutingConfigVersion"),
                    Read("/routing-configs/{id}")),
    "createRoutingConfig": Read("/routing-configs/{data.id}"),
    **dict.fromkeys(("updateBudget", "deleteBudget"), Read("/budgets/{id}")),
    "resetBudgetSpend": Read("/budgets/{id}/events", ("id", "{data.event_id}")),
    "createBudget": Read("/budgets/{data.id}"),
    "createBudgetAlert": Read("/budgets/{id}/alerts", ("id", "{data.id}")),
    "deleteBudgetAlert": Read("/budgets/{id}/alerts", ("id", "{body.alertId}")),
    **dict.fromkeys(("updateWebhookEndpoint", "deleteWebhookEndpoint", "rotateWebhookSecret"),
                    Read("/webhooks/endpoints/{id}")),
    "createWebhookEndpoint": Read("/webhooks/endpoints/{data.endpoint.id}"),
    "testWebhookEndpoint": Read("/webhooks/deliveries/{data.delivery_id}"),
    "replayWebhookDelivery": Read("/webhooks/deliveries/{id}"),
    "createSimulation": Read("/simulations/{data.id}"),
    "cancelSimulation": Read("/simulations/{id}"),
    "promoteSimulation": Read("/routing-configs/{data.routing_config_id}"),
    "inviteMember": Read("/orgs/{id}/members", ("user_id", "{data.user_id}")),
    **dict.fromkeys(("updateMemberRole", "removeMember"), Read("/orgs/{id}/members", ("user_id", "{userId}"))),
}
# Mutations that revoke rather than delete: the item stays listed, with `revoked_at` set.
REVOCATIONS = {"revokeApiKey", "revokeManagementKey"}
REMOVALS = set(DELETIONS) - REVOCATIONS

# Fields that move on their own between two reads (spend, progress, delivery attempts, key use): not compared.
_SPEND = {"current_spend_usd", "used_pct", "period_start", "period_resets_at"}
_PROGRESS = {"processed_count", "started_at", "completed_at", "baseline_summary", "candidate_summary",
             "error_message", "updated_at"}
_ATTEMPTS = {"status", "attempt_count", "next_attempt_at", "response_status", "response_body", "delivered_at",
             "last_attempt_at", "updated_at"}
MOVING = {
    "/budgets/{id}": _SPEND, "/budgets/{data.id}": _SPEND,
    "/simulations/{id}": _PROGRESS, "/simulations/{data.id}": _PROGRESS,
    "/webhooks/deliveries/{id}": _ATTEMPTS, "/webhooks/deliveries/{data.delivery_id}": _ATTEMPTS,
    "/management-keys": {"last_used_at"}, "/keys": {"last_used_at"},
}
# A simulation's status moves only forwards on its own (pending → running → completed or failed); any other
# status is at rest and stays.
SIMULATION_LIFECYCLE = {"pending": {"pending", "running", "completed", "failed"},
                        "running": {"running", "completed", "failed"}}
LIFECYCLES = {"/simulations/{id}": SIMULATION_LIFECYCLE, "/simulations/{data.id}": SIMULATION_LIFECYCLE}
# Where a rejected request is looked at when its answer would name the thing (a promotion, a reset, a test event).
REJECTED_READS = {
    "promoteSimulation": Read("/simulations/{id}"),
    "resetBudgetSpend": Read("/budgets/{id}"),
    "testWebhookEndpoint": Read("/webhooks/endpoints/{id}"),
}
# Answer fields that are not part of the resource (once-only secrets).
NOT_STORED = {"key", "signingSecret", "signing_secret"}
# Answers that are another record than the one read back: only these fields are the read's (an invitation is
# `pending` while the member it makes is `invited`).
ANSWER_FIELDS = {"inviteMember": ("user_id", "role")}

class _Absent:
    def __repr__(self) -> str:
        return "(not there)"


ABSENT = _Absent()  # what a read shows of a resource that is gone
JUDGED = ""  # an oracle's verdict on an exchange it judged and found conformant
PLAIN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def path_kind(template: str) -> str | None:
    for prefix, kind in PATH_KINDS:
        if template.startswith(prefix + "/{"):
            return kind
    return None


def _lookup(node: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def fill(template: str, ex: Exchange, answer: Any = None) -> str | None:
    """A Read template with the exchange's values; None when one is missing (nothing to read)."""
    missing = False

    def value(match: re.Match) -> str:
        nonlocal missing
        name = match.group(1)
        if name.startswith("data."):
            found = _lookup(answer, name[5:])
        elif name.startswith("body."):
            found = _lookup(ex.body, name[5:])
        else:
            found = ex.params.get(name)
        if not isinstance(found, (str, int)) or isinstance(found, bool) or found == "":
            missing = True
            return ""
        return str(found)

    text = re.sub(r"\{([^}]+)\}", value, template)
    return None if missing else text


# ── what the run remembers ──────────────────────────────────────────────────


class Memory:
    """Ids the run has seen per kind, and the immutable fields of every resource it has seen."""

    def __init__(self) -> None:
        self.known: dict[str, dict[str, None]] = defaultdict(dict)  # kind -> ids, in order of first sight
        self.fields: dict[tuple[str, str], dict[str, Any]] = {}  # (kind, key) -> immutable field -> value
        self.seen_in: dict[tuple[str, str], str] = {}  # (kind, key) -> the exchange that first showed it

    def first_known(self, kind: str) -> str | None:
        return next(iter(self.known.get(kind, {})), None)

    def forget(self, kind: str, key: str) -> None:
        self.known.get(kind, {}).pop(key, None)
        self.fields.pop((kind, key), None)
        self.seen_in.pop((kind, key), None)


def shown_resources(ex: Exchange) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, key, item) for every resource an answer shows."""
    kind = ANSWER_KINDS.get(ex.op_id or "")
    data = ex.data
    if kind is None or data is None or not ex.ok or ex.foreign:
        return []
    if ex.op_id == "createWebhookEndpoint" and isinstance(data, dict):
        data = data.get("endpoint")
    items = data if isinstance(data, list) else [data]
    shown = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if kind == "routing_config_version":
            key = f"{ex.params.get('id')}#{item.get('version')}" if item.get("version") is not None else None
        elif kind == "member":
            key = item.get("user_id")
        else:
            key = item.get("id")
        if isinstance(key, str) and key:
            shown.append((kind, key, item))
    return shown


def same_value(name: str, a: Any, b: Any) -> bool:
    if a == b:
        return True
    if name in TIMESTAMPS or name.endswith("_at"):
        ma, mb = read_timestamp(a), read_timestamp(b)
        return ma is not None and mb is not None and ma.tzinfo is not None and mb.tzinfo is not None and ma == mb
    return False


def differences(before: Any, after: Any, moving: Iterable[str] = (),
                lifecycle: Mapping[str, set[str]] | None = None) -> list[str]:
    """How `after` differs from `before` on the fields both show, moving fields aside (and, with a lifecycle, a
    status that moved forwards)."""
    if isinstance(before, list) and isinstance(after, list):
        return _list_differences(before, after, set(moving), lifecycle)
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return [] if before == after else [f"{_short(before)} became {_short(after)}"]
    skip = set(moving) | NOT_STORED
    found = []
    for name in sorted(set(before) & set(after) - skip):
        if name == "status" and lifecycle is not None:
            if after[name] not in lifecycle.get(before[name], {before[name]}):
                found.append(f"status {before[name]!r} became {after[name]!r}")
        elif not same_value(name, before[name], after[name]):
            found.append(f"`{name}` {_short(before[name])} became {_short(after[name])}")
    return found


def _list_differences(before: list, after: list, moving: set[str],
                      lifecycle: Mapping[str, set[str]] | None) -> list[str]:
    def keyed(items: list) -> dict[str, Any]:
        return {str(i.get("id") or i.get("user_id")): i for i in items if isinstance(i, dict)}

    a, b = keyed(before), keyed(after)
    found = [f"{k} appeared" for k in b.keys() - a.keys()] + [f"{k} disappeared" for k in a.keys() - b.keys()]
    for k in sorted(a.keys() & b.keys()):
        found += [f"{k}: {d}" for d in differences(a[k], b[k], moving, lifecycle)]
    return found


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


# ── the oracles ─────────────────────────────────────────────────────────────


@oracle("MX-BY-ID", source="spec", title="An answer about an id is about that id",
        ref="Every `/{id}` operation \"Get[s]/Update[s]/Delete[s] a …\" by its ID (spec); lists under an id "
            "(`/budgets/{id}/events`, `/webhooks/endpoints/{id}/deliveries`) list that resource's items.")
def answer_is_about_the_id_asked(ex: Exchange, run: "OracleRun") -> str | None:
    """Spec: `GET /projects/{id}` "Get a project" (and every by-id operation alike) answers the resource the path
    names; a 2xx whose `id` (or `budget_id`, `endpoint_id`, `version`, …) names another is about another resource."""
    about = ABOUT.get(ex.op_id or "")
    if about is None or not ex.ok or ex.foreign:
        return None
    where, source = about
    expected = _lookup(ex.body, source[5:]) if source.startswith("body.") else ex.params.get(source)
    if expected is None:
        return None
    items = ex.data if where.startswith("[].") and isinstance(ex.data, list) else [ex.data]
    name = where.removeprefix("[].")
    for item in items:
        if isinstance(item, dict) and name in item and item[name] is not None and str(item[name]) != str(expected):
            return (f"{ex.method} {ex.template} asked about {expected!r} and answered `{name}` = {item[name]!r}: "
                    f"{_short(item, 200)}")
    return JUDGED


@oracle("MX-IMMUTABLE-FIELDS", source="spec", title="Fields that never change are the same in every answer",
        ref="No operation of the spec changes an `id`, `created_at`, `created_by`, `key_prefix`, a parent link its "
            "update body does not offer, or a record (version, delivery payload, audit entry, log).")
def immutable_fields_stay(ex: Exchange, run: "OracleRun") -> str | None:
    """Spec: the update bodies offer no `created_at`, `created_by`, `key_prefix`, `project_id`, `scope_*`, and no
    operation edits a version, a delivery's payload, an audit entry or a request log. So every answer that shows a
    resource (create, get, list, update, restore) shows the same values for them."""
    verdict = None
    for kind, key, item in shown_resources(ex):
        remembered = run.memory.fields.get((kind, key))
        if remembered is None:
            continue
        verdict = JUDGED
        for name, value in remembered.items():
            if name in item and not same_value(name, value, item[name]):
                return (f"{kind} {key}: `{name}` was {_short(value)} in {run.memory.seen_in[(kind, key)]} but is "
                        f"{_short(item[name])} in {ex.method} {ex.template}")
    return verdict


LEAKS = (
    (re.compile(r"Traceback \(most recent call last\)"), "a Python traceback"),
    (re.compile(r"File \"[^\"]+\", line \d+"), "a source file and line"),
    (re.compile(r"\bat [\w$.<>]+\([\w$]+\.(?:java|kt|scala|cs|groovy):\d+\)"), "a JVM stack frame"),
    (re.compile(r"\bat (?:[\w$.<>]+ )?\(?(?:/|[A-Za-z]:\\|node:|file:)[^\s)]*:\d+:\d+\)?"), "a JavaScript stack frame"),
    (re.compile(r"(?:/usr/|/home/|/opt/|/var/|/srv/|/app/|site-packages/|node_modules/|[A-Za-z]:\\\\)"
                r"[^\s\"']*\.(?:py|js|mjs|ts|java|rb|go|php|cs)\b"), "a server file path"),
    (re.compile(r"\b(?:KeyError|TypeError|AttributeError|ValueError|IndexError|NameError|ZeroDivisionError|"
                r"RuntimeError|AssertionError|UnboundLocalError|RecursionError|NotImplementedError|IntegrityError|"
                r"OperationalError|ProgrammingError|NullPointerException|IllegalArgumentException|"
                r"IllegalStateException|ClassCastException|IndexOutOfBoundsException|NoMethodError|"
                r"ReferenceError|SyntaxError|UnhandledPromiseRejection)\b"), "an internal exception name"),
    (re.compile(r"\b(?:java|javax|jakarta|org\.springframework|com\.fasterxml|sqlalchemy|django|psycopg2?)\."
                r"[\w.]+"), "an internal class or module"),
    (re.compile(r"\bgoroutine \d+ \[|\bpanic: "), "a Go panic"),
    (re.compile(r"\bSQLSTATE\b|syntax error at or near|\bsqlite3\.|ORA-\d{5}"), "a database error"),
)


@oracle("MX-ERROR-NO-LEAK", source="ours", title="Error answers carry no stack trace, file path or exception name",
        ref="Envelopes: an error is `{error: <human message>, code: <machine code>}` for every error, internal ones "
            "included. Ours: a stack trace, a server path or an exception class is not a human message.")
def error_body_leaks_nothing(ex: Exchange, run: "OracleRun") -> str | None:
    """DOMAIN.md, Envelopes: "Error: `{"error": "<human message>", "code": "<machine_code>"}` — for every error the
    server produces, including … internal errors." Ours (strict profile): neither the spec nor the docs forbid a
    stack trace outright, but one tells a client nothing and an attacker much."""
    if ex.status < 400 or not ex.text:
        return None
    for pattern, what in LEAKS:
        match = pattern.search(ex.text)
        if match:
            return f"{ex.describe()} shows {what}: …{ex.text[max(0, match.start() - 40):match.end() + 40]!r}…"
    return JUDGED


@oracle("MX-FOREIGN-LIKE-UNKNOWN", source="spec", title="Another organization's id is answered like an unknown one",
        ref="Authentication: A key belongs to one organization; every resource is scoped to it. Another org's "
            "resource is indistinguishable from a missing one (404).")
def foreign_and_unknown_ids_alike(ex: Exchange, run: "OracleRun") -> str | None:
    """DOMAIN.md, Authentication: "Another org's resource is indistinguishable from a missing one (404)." Each GET
    the target answered 404 for an unknown id is asked again, with another organization's key, for a real id of
    this one: status, envelope fields and error code must be the same (a few times per operation)."""
    if ex.status != 404 or ex.method != "GET" or ex.foreign or not run.other_token:
        return None
    kind = path_kind(ex.template)
    asked = ex.params.get("id")
    if kind is None or not isinstance(asked, str) or not PLAIN_ID.match(asked) or asked in run.memory.known[kind]:
        return None
    real = run.memory.first_known(kind)
    if real is None or run.mirrored[ex.op_id or ""] >= run.mirror_limit:
        return None
    run.mirrored[ex.op_id or ""] += 1
    path = re.sub(r"\{([^}]+)\}", lambda m: real if m.group(1) == "id" else str(ex.params.get(m.group(1), "")),
                  ex.template)
    foreign = run.read(path, token=run.other_token, query=ex.query)

    def shape(e: Exchange) -> tuple:
        body = e.json if isinstance(e.json, dict) else {}
        return e.status, tuple(sorted(body)) if isinstance(e.json, dict) else type(e.json).__name__, body.get("code")

    if shape(foreign) != shape(ex):
        return (f"GET {ex.template}: an unknown id is answered {shape(ex)} (status, fields, code), another "
                f"organization's {kind} {real} {shape(foreign)} — a caller can tell that it exists: "
                f"{foreign.text[:160]!r}")
    return JUDGED


@oracle("MX-REJECTED-NO-EFFECT", source="spec", title="A rejected request changes nothing",
        ref="A 4xx answer (400 \"Invalid request\", 404 \"Not found\", 409 conflict, 401) says the operation did not "
            "happen (spec responses); re-reading what it targeted shows no change.")
def rejected_request_changes_nothing(ex: Exchange, run: "OracleRun") -> str | None:
    """Spec: every mutation documents its 4xx answers as rejections ("Invalid request", "Not found", a conflict,
    "Unauthorized"). A target that answers one and still applies part of the request (the valid fields of a PATCH,
    a version, a deletion) tells the client the opposite of what happened."""
    if ex.before is None or not 400 <= ex.status < 500 or ex.status == 429:
        return None
    read, path, _ = ex.before
    after = run.observe(ex, read, path)
    changed = differences(ex.before[2], after, MOVING.get(read.path, ()), LIFECYCLES.get(read.path))
    if changed:
        return f"{ex.describe()} was rejected, yet GET {path} changed: {'; '.join(changed[:4])}"
    return JUDGED


@oracle("MX-MUTATION-PERSISTS", source="spec", title="What a mutation answers is what the next read shows",
        ref="Every PATCH \"Update[s] a …\" and every action (cancel, promote, revoke, rotate, restore, reset, role "
            "change, replay) answers the new state (spec); its GET or list shows that state afterwards.")
def mutation_answer_is_what_the_next_read_shows(ex: Exchange, run: "OracleRun") -> str | None:
    """Spec: creations, updates and actions answer the resource as it now is; a deletion answers `{id, deleted:
    true}` and a revocation sets `revoked_at`. The read that follows (the resource's GET, or its list) must show
    the same: an answer that is not stored is a promise the target does not keep."""
    read = READS.get(ex.op_id or "")
    if read is None or not ex.ok or ex.method == "GET" or ex.foreign:
        return None
    path = fill(read.path, ex, ex.data)
    if path is None:
        return None
    after = run.observe(ex, read, path, answer=ex.data)
    if ex.op_id in REMOVALS:
        if after is not ABSENT:
            return f"{ex.describe()} answered {_short(ex.data)}, yet GET {path} still shows it: {_short(after)}"
        return JUDGED
    if ex.op_id in REVOCATIONS:
        if after is not ABSENT and not (isinstance(after, dict) and after.get("revoked_at")):
            return f"{ex.describe()} answered {_short(ex.data)}, yet GET {path} shows it unrevoked: {_short(after)}"
        return JUDGED
    if after is ABSENT:
        return f"{ex.describe()} answered {_short(ex.data)}, yet GET {path} does not show it"
    answer = ex.data.get("endpoint") if ex.op_id == "createWebhookEndpoint" and isinstance(ex.data, dict) else ex.data
    if ex.op_id in ANSWER_FIELDS and isinstance(answer, dict):
        answer = {name: answer[name] for name in ANSWER_FIELDS[ex.op_id] if name in answer}
    changed = differences(answer, after, MOVING.get(read.path, ()), LIFECYCLES.get(read.path))
    if changed:
        return f"{ex.describe()} answered one thing, GET {path} shows another: {'; '.join(changed[:4])}"
    return JUDGED


# ── running them ────────────────────────────────────────────────────────────

Send = Callable[..., Exchange]  # send(path, token=None, query=None) -> the answer to a GET under the API root


@dataclass
class Finding:
    code: str
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} ({self.name}): {self.message}"


class OracleRun:
    """Applies the oracles to the exchanges of one run (or one probe rule), remembering what it has seen."""

    def __init__(self, send: Send, *, strict: bool = False, other_token: str | None = None,
                 only: Iterable[str] | None = None, mirror_limit: int = 2, tally: Counter[str] | None = None):
        self._send = send
        self.tally: Counter[str] = tally if tally is not None else Counter()  # code -> exchanges judged
        self.strict = strict
        self.other_token = other_token
        self.only = set(only) if only is not None else None
        self.mirror_limit = mirror_limit
        self.mirrored: Counter[str] = Counter()
        self.memory = Memory()

    def active(self, code: str) -> bool:
        oracle_ = ORACLES[code]
        return (self.only is None or code in self.only) and (self.strict or not oracle_.strict_only)

    def read(self, path: str, token: str | None = None, query: Mapping[str, Any] | None = None) -> Exchange:
        return self._send(path, token=token, query=query)

    def observe(self, ex: Exchange, read: Read, path: str, answer: Any = None) -> Any:
        """What the target shows of a mutation's target now: the resource, the listed item (or ABSENT), or the
        whole list when the item cannot be named."""
        got = self.read(path)
        if got.status == 404:
            return ABSENT
        data = got.data
        if read.item is None:
            return data if got.ok else f"{got.status} {got.text[:120]}"
        field_name, value_template = read.item
        value = fill(value_template, ex, answer)
        if not isinstance(data, list):
            return f"{got.status} {got.text[:120]}"
        if value is None:
            return data
        return next((i for i in data if isinstance(i, dict) and str(i.get(field_name)) == value), ABSENT)

    def before(self, method: str, path: str, body: Any = None, foreign: bool = False) -> Any:
        """Snapshot what a mutation targets, when it is a resource this run has seen (for MX-REJECTED-NO-EFFECT)."""
        if not self.active("MX-REJECTED-NO-EFFECT") or method.upper() in ("GET", "HEAD", "OPTIONS"):
            return None
        probe = Exchange(method, path, 0, None, "", body=body, foreign=foreign)
        read = REJECTED_READS.get(probe.op_id or "") or READS.get(probe.op_id or "")
        kind = path_kind(probe.template)
        if read is None or kind is None or probe.params.get("id") not in self.memory.known[kind]:
            return None
        if "userId" in probe.params and probe.params["userId"] not in self.memory.known["member"]:
            return None
        path_now = fill(read.path, probe)  # None when only the answer could name it (a creation)
        return None if path_now is None else (read, path_now, self.observe(probe, read, path_now))

    def after(self, ex: Exchange) -> list[Finding]:
        """The findings on one exchange; then remember what it showed."""
        findings = []
        for code, oracle_ in ORACLES.items():
            if not self.active(code):
                continue
            message = oracle_.fn(ex, self)
            if message is not None:
                self.tally[code] += 1
            if message:
                findings.append(Finding(code, oracle_.name, message))
        self.remember(ex)
        return findings

    def remember(self, ex: Exchange) -> None:
        memory = self.memory
        for kind, key, item in shown_resources(ex):
            memory.known[kind].setdefault(key, None)
            if kind == "audit_log" and isinstance(item.get("org_id"), str):
                memory.known["org"].setdefault(item["org_id"], None)
            if (kind, key) not in memory.fields:
                memory.fields[(kind, key)] = {name: item[name] for name in IMMUTABLE.get(kind, ()) if name in item}
                memory.seen_in[(kind, key)] = f"{ex.method} {ex.template}"
            else:
                remembered = memory.fields[(kind, key)]
                for name in IMMUTABLE.get(kind, ()):
                    if name in item and name not in remembered:
                        remembered[name] = item[name]
        if ex.ok and not ex.foreign and ex.op_id in REMOVALS:
            kind, where, name = DELETIONS[ex.op_id]
            ident = ex.params.get(name) if where == "path" else _lookup(ex.body, name)
            if isinstance(ident, str):
                memory.forget(kind, ident)
