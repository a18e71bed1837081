"""The implementation under test, as the suite's own scenarios talk to it.

`Target` is an httpx client with the bearer token, pacing (token bucket, `Retry-After` on
429), per-request limits of time and size and no redirects (`contracts.transport`), a registry of everything the suite created (so it can clean up, and in staging mode
refuse to touch anything else), and a guard that never deletes the organization or revokes
the management key the run itself uses.
"""

from __future__ import annotations

import json as jsonlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlsplit

import httpx

from .exchanges import RECORDER
from .observations import OBSERVED, Observations
from .pacing import DeadlineReached, Pacer
from .specs import BASE_PATH, operation_index
from .transport import (DEFAULT_REQUEST_TIMEOUT, Answered, TargetFault, TargetUnavailable, read_body,
                        refuse_redirect, transport_error, within)


def api_root(base_url: str, at_root: bool = False) -> str:
    """The API root a run talks to.

    A URL with a path is the API root as given (`https://gw.example.com/modelux/v1`, `…/api/manage/v1`); a bare
    origin gets the spec's server path (`/api/manage/v1`), unless `at_root` says the API sits at the origin's
    root (as Prism serves a spec).
    """
    base = base_url.rstrip("/")
    return base if at_root or urlsplit(base).path else base + BASE_PATH


def api_path(api_url: str) -> str:
    """The path part of an API root (`/api/manage/v1`, `/v1`, or `` at an origin's root)."""
    return urlsplit(api_url).path.rstrip("/")


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


class StagingRefusal(RuntimeError):
    """The suite refused to send a request that could harm what it did not create."""


class Answer:
    """What every answer the suite reads offers: `data` from the success envelope, and whether it is a 2xx."""

    json: Any
    status: int

    @property
    def data(self) -> Any:
        return self.json.get("data") if isinstance(self.json, dict) else None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Reply(Answer):
    method: str
    path: str
    status: int
    headers: httpx.Headers
    text: str
    json: Any
    operation: str | None = None

    @property
    def json_problem(self) -> str | None:
        """What is wrong with a body that is not JSON, in words (None for JSON or an empty body)."""
        if self.json is not None or not self.text.strip():
            return None
        kind = self.headers.get("Content-Type") or "missing"
        return f"not valid JSON (Content-Type {kind})" if "json" in kind else f"not JSON (Content-Type {kind})"

    def describe(self, limit: int = 400) -> str:
        body = self.text if len(self.text) <= limit else self.text[:limit] + "…"
        problem = self.json_problem
        return f"{self.method} {self.path} → {self.status}{f' ({problem})' if problem else ''} {body}"


# How to delete what a creation made: kind -> (method, path template, body template).
DELETERS: dict[str, tuple[str, str, dict[str, str] | None]] = {
    "project": ("DELETE", "/projects/{id}", None),
    "provider": ("DELETE", "/providers/{id}", None),
    "api_key": ("DELETE", "/keys/{id}", None),
    "management_key": ("DELETE", "/management-keys/{id}", None),
    "routing_config": ("DELETE", "/routing-configs/{id}", None),
    "budget": ("DELETE", "/budgets/{id}", None),
    "budget_alert": ("DELETE", "/budgets/{parent}/alerts", {"alertId": "{id}"}),
    "webhook_endpoint": ("DELETE", "/webhooks/endpoints/{id}", None),
    "member": ("DELETE", "/orgs/{parent}/members/{id}", None),
}
# Kinds the API cannot delete: they are checked after cleanup and reported if still there.
UNDELETABLE: dict[str, str] = {"simulation": "/simulations/{id}"}

# Creations: operationId -> (kind, where the new id is in `data`, path parameter naming the parent).
CREATIONS: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "createProject": ("project", ("id",), None),
    "createProvider": ("provider", ("id",), None),
    "createApiKey": ("api_key", ("id",), None),
    "createManagementKey": ("management_key", ("id",), None),
    "createRoutingConfig": ("routing_config", ("id",), None),
    "createBudget": ("budget", ("id",), None),
    "createBudgetAlert": ("budget_alert", ("id",), "id"),
    "createWebhookEndpoint": ("webhook_endpoint", ("endpoint", "id"), None),
    "inviteMember": ("member", ("user_id",), "id"),
    "createSimulation": ("simulation", ("id",), None),
}
# Deletions: operationId -> kind, and where the deleted id is (path parameter, or body field).
DELETIONS: dict[str, tuple[str, str, str]] = {
    "deleteProject": ("project", "path", "id"),
    "deleteProvider": ("provider", "path", "id"),
    "revokeApiKey": ("api_key", "path", "id"),
    "revokeManagementKey": ("management_key", "path", "id"),
    "deleteRoutingConfig": ("routing_config", "path", "id"),
    "deleteBudget": ("budget", "path", "id"),
    "deleteBudgetAlert": ("budget_alert", "body", "alertId"),
    "deleteWebhookEndpoint": ("webhook_endpoint", "path", "id"),
    "removeMember": ("member", "path", "userId"),
}
# Org-level operations that act on the caller's own organization and its people.
ORG_MUTATIONS = {"updateOrg", "deleteOrg", "inviteMember", "updateMemberRole", "removeMember"}


@dataclass
class Created:
    kind: str
    id: str
    parent: str | None = None
    operation: str = ""
    gone: bool = False


@dataclass
class CleanupReport:
    deleted: list[Created] = field(default_factory=list)
    left: list[tuple[Created, str]] = field(default_factory=list)


class Registry:
    """Everything the suite created, in creation order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[Created] = []
        self.seen_ids: set[str] = set()
        self.adopted: set[str] = set()

    def add(self, item: Created) -> None:
        with self._lock:
            self.items.append(item)

    def owns(self, ident: Any) -> bool:
        if not isinstance(ident, str):  # an id of any other shape was not made by this run
            return False
        with self._lock:
            return ident in self.adopted or any(item.id == ident for item in self.items)

    def mark_gone(self, kind: str, ident: str) -> int:
        """Mark an item deleted; returns how many items this newly marked."""
        marked = 0
        with self._lock:
            for item in self.items:
                if item.id == ident and (item.kind == kind or kind == "*") and not item.gone:
                    item.gone = True
                    marked += 1
        return marked

    def pending(self) -> list[Created]:
        with self._lock:
            return [item for item in reversed(self.items) if not item.gone]

    def see(self, ids: Iterable[str]) -> None:
        with self._lock:
            self.seen_ids.update(ids)

    def adopt(self, ids: Iterable[str]) -> None:
        """Ids the run owns through a parent it created (its endpoints' deliveries): they go with the parent,
        so cleanup never deletes them itself."""
        with self._lock:
            self.adopted.update(ids)


def ids_in(value: Any) -> set[str]:
    """String ids in a JSON document: values of `id` and `*_id` fields."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                if isinstance(item, str) and (key == "id" or key.endswith("_id")):
                    found.add(item)
                else:
                    walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(value)
    return found


class Guard:
    """Decides whether a request may be sent. Shared by the suite's client and schemathesis' session."""

    def __init__(self, registry: Registry, staging: bool):
        self.registry = registry
        self.staging = staging
        self.protected_keys: set[str] = set()  # the management key the run uses
        self.org_ids: set[str] = set()

    def check(self, method: str, path: str, body: Any = None) -> None:
        found = operation_index().find(method, path)
        if found is None:
            return
        op_id, label, params = found
        if op_id == "deleteOrg" and (self.staging or params.get("id") in self.org_ids):
            raise StagingRefusal(f"refused {label}: the suite never deletes the organization it runs in")
        if op_id == "revokeManagementKey" and params.get("id") in self.protected_keys:
            raise StagingRefusal(f"refused {label}: {params['id']} is the management key this run uses")
        if not self.staging or method.upper() in ("GET", "HEAD", "OPTIONS"):
            return
        if op_id in ORG_MUTATIONS and op_id != "removeMember":
            raise StagingRefusal(f"refused {label} in staging mode: it changes the organization itself")
        if op_id in DELETIONS:
            _, where, name = DELETIONS[op_id]
            ident = params.get(name) if where == "path" else (body or {}).get(name) if isinstance(body, dict) else None
            if not (isinstance(ident, str) and self.registry.owns(ident)):
                raise StagingRefusal(f"refused {label} in staging mode: {ident!r} was not created by this run")
            return
        for ident in params.values():
            if ident in self.registry.seen_ids and not self.registry.owns(ident):
                raise StagingRefusal(f"refused {label} in staging mode: {ident!r} exists and was not created by "
                                     "this run")


def record_exchange(registry: Registry, observed: Observations, method: str, path: str, body: Any,
                    status: int, payload: Any, track_ids: bool, count_status: bool = True) -> str | None:
    """Book-keeping after any request: statuses, creations, deletions, ids seen."""
    found = operation_index().find(method, path)
    if found is None:
        return None
    op_id, label, params = found
    if count_status:
        observed.status(label, status)
    if track_ids and payload is not None:
        registry.see(ids_in(payload))
    if 200 <= status < 300 and isinstance(payload, dict):
        data = payload.get("data")
        if op_id in CREATIONS and isinstance(data, dict):
            kind, where, parent_param = CREATIONS[op_id]
            ident: Any = data
            for part in where:
                ident = ident.get(part) if isinstance(ident, dict) else None
            if isinstance(ident, str):
                registry.add(Created(kind, ident, params.get(parent_param) if parent_param else None, op_id))
                observed.created += 1
        elif op_id in DELETIONS:
            kind, where, name = DELETIONS[op_id]
            ident = params.get(name) if where == "path" else (body or {}).get(name) if isinstance(body, dict) else None
            if isinstance(ident, str):
                observed.cleaned += registry.mark_gone(kind, ident)
    if 200 <= status < 300 and isinstance(payload, dict):
        _adopt_deliveries(registry, op_id, params, payload.get("data"))
    return label


def _adopt_deliveries(registry: Registry, op_id: str, params: dict[str, str], data: Any) -> None:
    """A delivery belongs to the run when its endpoint does (a test event the run sent, say)."""
    if op_id == "testWebhookEndpoint" and isinstance(data, dict) and registry.owns(params.get("id")):
        found = [data.get("delivery_id")]
    elif op_id == "listWebhookDeliveries" and isinstance(data, list) and registry.owns(params.get("id")):
        found = [item.get("id") for item in data if isinstance(item, dict)]
    elif op_id == "getWebhookDelivery" and isinstance(data, dict) and registry.owns(data.get("endpoint_id")):
        found = [data.get("id")]
    else:
        return
    registry.adopt(ident for ident in found if isinstance(ident, str))


class Target:
    """The suite's client for the implementation under test."""

    def __init__(self, base_url: str, token: str, *, api_at_root: bool = False, staging: bool = False,
                 pacer: Pacer | None = None, timeout: float = DEFAULT_REQUEST_TIMEOUT, registry: Registry | None = None,
                 guard: Guard | None = None, observed: Observations = OBSERVED):
        self.base_url = base_url
        self.api = api_root(base_url, api_at_root)
        self.token = token
        self.staging = staging
        self.pacer = pacer or Pacer(None)
        self.registry = registry or Registry()
        self.guard = guard or Guard(self.registry, staging)
        self.observed = observed
        self.timeout = timeout
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)
        self._org_id: str | None = None

    def close(self) -> None:
        self.client.close()

    # ── requests ────────────────────────────────────────────────────────

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                token: str | None | bool = True, headers: dict[str, str] | None = None,
                content: bytes | None = None, guard: bool = True) -> Reply:
        """Send one request. `token=True` uses the run's token, a string another key, None/False none."""
        if guard:
            self.guard.check(method, path, json)
        send_headers = dict(headers or {})
        use = self.token if token is True else token
        if use:
            send_headers.setdefault("Authorization", f"Bearer {use}")
        url = self.api + path
        said = f"{method.upper()} {path}"

        def exchange(seconds: float) -> Answered:
            started = time.monotonic()
            try:
                with self.client.stream(method, url, json=json if content is None else None, params=params,
                                        headers=send_headers, content=content, timeout=seconds) as response:
                    body = read_body(response.iter_bytes(), said, started, seconds)  # chunks as they arrive
                    return Answered(response.status_code, response.headers, body, response.charset_encoding)
            except httpx.HTTPError as exc:
                raise transport_error(said, exc, seconds) from None

        def send() -> Answered:
            seconds = self.pacer.deadline.bound(self.timeout)
            return within(seconds, said, lambda: exchange(seconds))

        response = self.pacer.send(send)
        refuse_redirect(said, response.status_code, response.headers, url)
        payload = json_or_none(response.content)
        label = record_exchange(self.registry, self.observed, method, path, json, response.status_code, payload,
                                track_ids=self.staging)
        RECORDER.record(method, path, query=params, body=json, content=content, headers=headers, token=use or None,
                        status=response.status_code, payload=payload, text=response.text)
        return Reply(method.upper(), path, response.status_code, response.headers, response.text, payload, label)

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Reply:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Reply:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.request("DELETE", path, **kw)

    # ── identity of the run ─────────────────────────────────────────────

    def discover_identity(self) -> None:
        """Learn which management key this run uses (never revoked) and, when visible, the org id."""
        listed = self.get("/management-keys", guard=False)
        if listed.ok and isinstance(listed.data, list):
            matches = [k for k in listed.data if isinstance(k, dict) and isinstance(k.get("key_prefix"), str)
                       and k["key_prefix"] and self.token.startswith(k["key_prefix"]) and not k.get("revoked_at")]
            self.guard.protected_keys.update(k["id"] for k in matches if isinstance(k.get("id"), str))
        audit = self.get("/audit-logs", params={"limit": 1}, guard=False)
        if audit.ok and isinstance(audit.data, list) and audit.data:
            org = audit.data[0].get("org_id") if isinstance(audit.data[0], dict) else None
            if isinstance(org, str):
                self._org_id = org
                self.guard.org_ids.add(org)

    def org_id(self) -> str | None:
        if self._org_id is None:
            self.discover_identity()
        return self._org_id

    def learn_org_id(self, org_id: str) -> None:
        self._org_id = org_id
        self.guard.org_ids.add(org_id)

    # ── cleanup ─────────────────────────────────────────────────────────

    def cleanup(self, items: list[Created] | None = None) -> CleanupReport:
        """Delete what the suite created (newest first); report what could not be removed. Past the run's deadline
        it still runs, for the deadline's grace time."""
        with self.pacer.deadline.cleaning():
            return self._cleanup(items)

    def _cleanup(self, items: list[Created] | None) -> CleanupReport:
        report = CleanupReport()
        pending = items if items is not None else self.registry.pending()
        for item in pending:
            if item.gone:
                continue
            if item.kind in UNDELETABLE:
                continue
            method, template, body_template = DELETERS[item.kind]
            path = template.format(id=item.id, parent=item.parent or "")
            body = {k: v.format(id=item.id) for k, v in body_template.items()} if body_template else None
            try:
                reply = self.request(method, path, json=body)
            except (StagingRefusal, TargetUnavailable, DeadlineReached) as exc:
                report.left.append((item, str(exc)))
                continue
            if reply.ok or reply.status == 404:  # 404: already gone (e.g. with its project)
                if not item.gone:  # a 2xx already marked it through the deletion bookkeeping
                    item.gone = True
                    self.observed.cleaned += 1
                report.deleted.append(item)
            elif item.kind == "member" and reply.status == 409:
                report.left.append((item, f"{reply.describe(200)}"))
            else:
                report.left.append((item, reply.describe(200)))
        # What the API cannot delete: cancel it if it still runs, and say whether it is still there.
        for item in pending:
            if item.kind not in UNDELETABLE or item.gone:
                continue
            path = UNDELETABLE[item.kind].format(id=item.id)
            try:
                reply = self.get(path)
                if reply.ok and isinstance(reply.data, dict) and reply.data.get("status") in ("pending", "running"):
                    self.post(path + "/cancel")
                    reply = self.get(path)
            except (StagingRefusal, TargetUnavailable, DeadlineReached) as exc:
                report.left.append((item, str(exc)))
                continue
            if reply.status == 404:
                item.gone = True
                self.observed.cleaned += 1
                report.deleted.append(item)
            else:
                report.left.append((item, f"the API has no delete operation for a {item.kind}"))
        return report


def json_or_none(content: bytes) -> Any:
    """A body read as JSON, or None (empty, not JSON, or nested too deep to read)."""
    try:
        return jsonlib.loads(content) if content else None
    except (ValueError, RecursionError):
        return None


def dumps(value: Any, limit: int = 300) -> str:
    text = jsonlib.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def replace_strings(value: Any, mapping: dict[str, str]) -> Any:
    """A JSON document with every occurrence of each key of `mapping` in its strings replaced by its value."""
    if isinstance(value, str):
        for old, new in mapping.items():
            if old:
                value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: replace_strings(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_strings(v, mapping) for v in value]
    return value
