"""The domain rules: behaviour the spec and the product docs state but no schema can check.

One small function per rule, named after it, registered with a stable code (`MX-…`), a
`source` ("spec", "docs" or "ours") and the line of `/work/shared/DOMAIN.md` it enforces.
Rules whose source is "ours" are decisions of this project, not of the API: they run only in
the opt-in strict profile. Each rule drives the target through its public API (create →
check → clean up) and raises `RuleViolation(code, name, message)` when the target breaks it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, NoReturn

from modelux_spec import read_timestamp
from .settings import SOURCES, RunSettings
from .specs import operation_index
from .target import Reply, Target, dumps, is_loopback



class RuleViolation(AssertionError):
    """The target broke a domain rule."""

    def __init__(self, code: str, name: str, message: str):
        super().__init__(f"{code} ({name}): {message}")
        self.code = code
        self.name = name
        self.message = message


class RuleSkip(Exception):
    """The rule cannot be judged against this target (say why); never a pass."""


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    title: str
    source: str  # "spec" | "docs" | "ours"
    ref: str  # the DOMAIN.md line (or spec text) the rule enforces
    fn: Callable[["RuleContext"], None]
    needs: frozenset[str] = frozenset()  # "receiver", "logs"
    not_in_staging: str = ""  # why the rule is not run in staging mode ("" = it is safe there)
    also: tuple[str, ...] = ()  # other codes a scenario may report

    @property
    def strict_only(self) -> bool:
        return self.source == "ours"

    @property
    def staging(self) -> bool:
        return not self.not_in_staging

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip()


RULES: dict[str, Rule] = {}


DISCARD_URL = "http://127.0.0.1:9/mx-contracts"  # the discard port: nothing listens, every delivery fails
SIMULATION_LEFT = "it would leave a simulation behind in a project the run did not create (the API cannot delete " \
                  "simulations)"


def rule(code: str, *, title: str, source: str, ref: str, needs: tuple[str, ...] = (), not_in_staging: str = ""):
    """Register a rule; `not_in_staging` says why it must not run against a shared deployment."""
    assert source in SOURCES, source

    def register(fn: Callable[["RuleContext"], None]) -> Callable[["RuleContext"], None]:
        if code in RULES:
            raise RuntimeError(f"two rules with code {code}")
        RULES[code] = Rule(code, fn.__name__, title, source, ref, fn, frozenset(needs), not_in_staging)
        return fn

    return register


# ── the context a rule runs in ──────────────────────────────────────────────


@dataclass
class RuleContext:
    target: Target
    rule: Rule
    settings: RunSettings
    receiver: Any = None  # contracts.receiver.Receiver, for rules that need one
    data: dict[str, Any] = field(default_factory=dict)

    # verdicts
    def fail(self, message: str) -> NoReturn:
        raise RuleViolation(self.rule.code, self.rule.name, message)

    def check(self, condition: Any, message: str) -> None:
        if not condition:
            self.fail(message)

    def skip(self, reason: str) -> NoReturn:
        raise RuleSkip(reason)

    def expect(self, reply: Reply, *statuses: int, what: str = "") -> Reply:
        if reply.status not in statuses:
            expected = " or ".join(str(s) for s in statuses)
            self.fail(f"{what + ': ' if what else ''}expected {expected}, got {reply.describe()}")
        return reply

    def expect_data(self, reply: Reply, *statuses: int, what: str = "") -> Any:
        self.expect(reply, *statuses, what=what)
        if not isinstance(reply.json, dict) or "data" not in reply.json:
            self.fail(f"{what + ': ' if what else ''}success answer without the `data` envelope: {reply.describe()}")
        return reply.data

    def expect_error(self, reply: Reply, *statuses: int, what: str = "") -> Reply:
        self.expect(reply, *statuses, what=what)
        problem = envelope_problem(reply)
        if problem:
            self.fail(f"{what + ': ' if what else ''}{problem}: {reply.describe()}")
        return reply

    # the run
    @property
    def t(self) -> Target:
        return self.target

    @property
    def remote(self) -> bool:
        return not is_loopback(self.target.base_url)

    def wait(self, seconds: float) -> float:
        """How long to wait for something asynchronous (a delivery, a retry, a simulation).

        The embedded mock retries within a second; any other target gets `--webhook-wait` (default 120 s),
        since its backoff is unknown. Waits end as soon as the awaited thing happens.
        """
        return seconds if self.settings.embedded else max(seconds, self.settings.webhook_wait)

    # builders: every creation is registered by the target and cleaned up after the rule
    def name(self, what: str = "x") -> str:
        return f"mx-{what}-{uuid.uuid4().hex[:10]}"

    def project(self) -> dict[str, Any]:
        data = self.expect_data(self.t.post("/projects", json={"name": self.name("project")}), 201,
                                what="setup: POST /projects")
        self.check(isinstance(data, dict) and isinstance(data.get("id"), str), f"setup: project without id: {data}")
        return data

    def routing_config(self, project_id: str, policy: str = "single", config: dict | None = None,
                       name: str | None = None) -> dict[str, Any]:
        body = {"projectId": project_id, "name": name or self.name("rc"), "policy": policy,
                "config": config if config is not None else {"model": "gpt-4o-mini"}}
        data = self.expect_data(self.t.post("/routing-configs", json=body), 201, what="setup: POST /routing-configs")
        return data

    def project_budget(self, project_id: str, period: str, amount_usd: str,
                       what: str = "setup: POST /budgets") -> dict[str, Any]:
        body = {"name": self.name("budget"), "scope_type": "project", "scope_id": project_id, "period": period,
                "amount_usd": amount_usd}
        return self.expect_data(self.t.post("/budgets", json=body), 201, what=what)

    def project_webhook(self, project_id: str, what: str = "setup: POST /webhooks/endpoints") -> dict[str, Any]:
        """A project-scoped endpoint subscribed to `webhook.test`, pointing at the receiver."""
        body = {"name": self.name("hook"), "url": self.webhook_url(), "event_types": ["webhook.test"],
                "project_id": project_id}
        return self.expect_data(self.t.post("/webhooks/endpoints", json=body), 201, what=what)["endpoint"]

    def webhook_url(self) -> str:
        if self.receiver is not None:
            return self.receiver.channel("unused").url
        return DISCARD_URL

    def org_id(self) -> str:
        org = self.t.org_id()
        if org is None:  # a fresh org has no audit entries yet: make one
            self.project()
            org = self.t.org_id()
        if org is None:
            self.skip("the organization id is not discoverable (no `org_id` on audit entries)")
        return org

    def logs(self, limit: int = 200, **params: Any) -> list[dict[str, Any]]:
        data = self.expect_data(self.t.get("/logs", params={"limit": limit, **params}), 200, what="GET /logs")
        self.check(isinstance(data, list), f"GET /logs: `data` is not a list: {dumps(data)}")
        return data

    def logs_or_skip(self) -> list[dict[str, Any]]:
        logs = self.logs()
        if not logs:
            self.skip("the target has no request logs to check against (the API cannot create them)")
        return logs


def envelope_problem(reply: Reply) -> str | None:
    """Why an error answer is not `{"error": "<message>", "code": "<machine code>"}`, or None."""
    body = reply.json
    if not isinstance(body, dict):
        return "error answer is not a JSON object with `error` and `code`"
    if not isinstance(body.get("error"), str) or not body["error"]:
        return "error answer lacks a non-empty string `error`"
    if not isinstance(body.get("code"), str) or not body["code"]:
        return "error answer lacks a non-empty string `code`"
    return None


def contains(text: str, secret: str) -> bool:
    return bool(secret) and secret in text


def iso_now(delta: timedelta = timedelta()) -> str:
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


# Policies used by the scenarios: distinct, valid per the docs.
POLICY_A = ("single", {"model": "gpt-4o-mini"})
POLICY_B = ("single", {"model": "claude-3-5-haiku-20241022"})
POLICY_C = ("fallback", {"attempts": [{"model": "gpt-4o", "timeout_ms": 5000},
                                      {"model": "gpt-4o-mini", "timeout_ms": 5000}]})

# ── authentication ──────────────────────────────────────────────────────────

FAKE_IDS = {"id": "mx_missing_0000000000", "userId": "user_missing_000000", "version": "1"}


def _concrete(template: str) -> str:
    for name, value in FAKE_IDS.items():
        template = template.replace("{" + name + "}", value)
    return template


@rule("MX-AUTH-REQUIRED", source="spec", title="Every operation but the event-type registry answers 401 without a valid key",
      ref="Authentication: Every operation needs auth except `GET /webhooks/event-types`. Missing, malformed, "
          "unknown or revoked key → 401 with the error envelope.")
def auth_required_everywhere(ctx: RuleContext) -> None:
    """DOMAIN.md, Authentication: "Every operation needs auth except `GET /webhooks/event-types`. Missing,
    malformed, unknown or revoked key → 401 with the error envelope." (spec: global `security: BearerAuth`)."""
    credentials = [("no Authorization header", None), ("an unknown bearer key", "mlx_mgmt_" + "0" * 40)]
    malformed = {"Authorization": "Basic bXg6bXg="}
    index = operation_index()
    for op_id, label in sorted(index.labels.items()):
        if op_id == "listWebhookEventTypes":
            continue
        if op_id == "deleteOrg" and ctx.settings.staging:
            continue  # staging never sends a DELETE /orgs/…, not even unauthenticated
        method, template = label.split(" ", 1)
        path = _concrete(template)
        body = {} if method in ("POST", "PATCH", "PUT") or op_id == "deleteBudgetAlert" else None
        cases = credentials if not ctx.settings.staging else credentials[:1]
        for what, token in cases:
            reply = ctx.t.request(method, path, json=body, token=token, guard=False)
            ctx.expect_error(reply, 401, what=f"{label} with {what}")
        if not ctx.settings.staging and op_id in ("listProjects", "createProject", "getAnalytics"):
            reply = ctx.t.request(method, path, json=body, token=None, headers=malformed, guard=False)
            ctx.expect_error(reply, 401, what=f"{label} with a malformed (Basic) Authorization header")


@rule("MX-AUTH-PUBLIC", source="spec", title="The webhook event-type registry needs no key",
      ref="Authentication: Every operation needs auth except `GET /webhooks/event-types` (spec: `security: []`).")
def event_types_are_public(ctx: RuleContext) -> None:
    """DOMAIN.md, Authentication: "Every operation needs auth except `GET /webhooks/event-types`." The spec
    declares `security: []` on that operation."""
    data = ctx.expect_data(ctx.t.get("/webhooks/event-types", token=None), 200,
                           what="GET /webhooks/event-types without a key")
    ctx.check(isinstance(data, list) and data, f"the registry lists no event types: {dumps(data)}")
    types = {item.get("type") for item in data if isinstance(item, dict)}
    ctx.check("webhook.test" in types, f"the registry does not list `webhook.test` (spec): {sorted(map(str, types))}")


@rule("MX-KEY-REVOKE-STOPS", source="spec", title="A new management key works at once; revoked, it stops on the next request",
      ref="Authentication: Keys made by `POST /management-keys` work at once; `DELETE /management-keys/{id}` sets "
          "`revoked_at` and the key stops working on the next request.")
def revoked_management_key_stops_working(ctx: RuleContext) -> None:
    """DOMAIN.md, Authentication: "Keys made by `POST /management-keys` work at once; `DELETE
    /management-keys/{id}` sets `revoked_at` and the key stops working on the next request." """
    created = ctx.expect_data(ctx.t.post("/management-keys", json={"name": ctx.name("key")}), 201,
                              what="POST /management-keys")
    key, key_id = created.get("key"), created.get("id")
    ctx.check(isinstance(key, str) and key, f"POST /management-keys returned no plaintext `key`: {dumps(created)}")
    ctx.expect(ctx.t.get("/projects", token=key), 200, what="GET /projects with the new key (must work at once)")
    revoked = ctx.expect_data(ctx.t.delete(f"/management-keys/{key_id}"), 200, what="DELETE /management-keys/{id}")
    ctx.check(isinstance(revoked, dict) and revoked.get("id") == key_id,
              f"revocation answered {dumps(revoked)}, not the revoked key's id")
    ctx.expect_error(ctx.t.get("/projects", token=key), 401, what="GET /projects with the revoked key")
    listed = ctx.expect_data(ctx.t.get("/management-keys"), 200, what="GET /management-keys")
    mine = [k for k in listed if isinstance(k, dict) and k.get("id") == key_id]
    ctx.check(not mine or mine[0].get("revoked_at"),
              f"the revoked key is listed with revoked_at = {mine[0].get('revoked_at') if mine else None!r}")


@rule("MX-KEY-LAST-USED", source="ours", title="`last_used_at` of a management key moves when it is used",
      ref="Authentication: `last_used_at` moves on use.")
def management_key_last_used_moves(ctx: RuleContext) -> None:
    """DOMAIN.md, Authentication: "`last_used_at` moves on use." (Ours: the spec only has the field.)"""
    created = ctx.expect_data(ctx.t.post("/management-keys", json={"name": ctx.name("key")}), 201,
                              what="POST /management-keys")
    ctx.expect(ctx.t.get("/projects", token=created["key"]), 200, what="GET /projects with the new key")
    listed = ctx.expect_data(ctx.t.get("/management-keys"), 200, what="GET /management-keys")
    mine = [k for k in listed if isinstance(k, dict) and k.get("id") == created["id"]]
    ctx.check(mine and mine[0].get("last_used_at"), f"after use, the key shows last_used_at = "
                                                    f"{mine[0].get('last_used_at') if mine else 'not listed'!r}")


# ── once-only secrets and write-only credentials ────────────────────────────


def _no_secret_anywhere(ctx: RuleContext, secret: str, what: str, replies: list[Reply]) -> None:
    for reply in replies:
        ctx.check(not contains(reply.text, secret), f"{what} appears again in {reply.method} {reply.path}: "
                                                    f"{reply.describe(300)}")


@rule("MX-SECRET-APIKEY-ONCE", source="spec", title="A proxy key's plaintext is returned once; `key_prefix` is its start",
      ref="Once-only secrets: `POST /keys` → plaintext `key` (`mlx_sk_…`) exactly once; `key_prefix` is literally "
          "the first characters of that key. No later response (list, other endpoints) ever contains it.")
def api_key_plaintext_once(ctx: RuleContext) -> None:
    """DOMAIN.md, Once-only secrets: "`POST /keys` → plaintext `key` exactly once; `key_prefix` is literally the
    first characters of that key. No later response (list, other endpoints) ever contains it." Spec, createApiKey:
    "The plaintext key is returned exactly once in the `key` field of the response." """
    project = ctx.project()
    data = ctx.expect_data(ctx.t.post("/keys", json={"projectId": project["id"], "name": ctx.name("key")}), 201,
                           what="POST /keys")
    key, prefix = data.get("key"), data.get("key_prefix")
    ctx.check(isinstance(key, str) and key, f"POST /keys returned no plaintext `key`: {dumps(data)}")
    ctx.check(isinstance(prefix, str) and prefix and key.startswith(prefix),
              f"key_prefix {prefix!r} is not the first characters of the key returned")
    listed = ctx.t.get("/keys", params={"projectId": project["id"]})
    items = ctx.expect_data(listed, 200, what="GET /keys?projectId=…")
    mine = [k for k in items if isinstance(k, dict) and k.get("id") == data.get("id")]
    ctx.check(mine, f"the new key {data.get('id')} is not listed under its project")
    ctx.check("key" not in mine[0], f"GET /keys lists the key with its plaintext `key` field: {dumps(mine[0])}")
    _no_secret_anywhere(ctx, key, "the proxy key's plaintext",
                        [listed, ctx.t.get("/keys"), ctx.t.get(f"/projects/{project['id']}"),
                         ctx.t.get("/audit-logs", params={"resourceId": data["id"], "limit": 200})])


@rule("MX-APIKEY-REVOKE", source="spec", title="Revoking a proxy key marks that key revoked, and only that one",
      ref="Once-only secrets / keys: `DELETE /keys/{id}` revokes the key (spec: \"Revoke an API key\"); it is then "
          "listed with `revoked_at` set.")
def api_key_revocation_recorded(ctx: RuleContext) -> None:
    """Spec, revokeApiKey: "Revoke an API key"; the ApiKey schema carries `revoked_at`. A revoked key must not be
    listed as live; its sibling in the same project, not revoked, must still be."""
    project = ctx.project()
    data, sibling = (ctx.expect_data(ctx.t.post("/keys", json={"projectId": project["id"], "name": ctx.name("key")}),
                                     201, what="POST /keys") for _ in range(2))
    ctx.check(data["id"] != sibling["id"], f"two keys created in a row share the id {data['id']!r}")
    answer = ctx.expect_data(ctx.t.delete(f"/keys/{data['id']}"), 200, what="DELETE /keys/{id}")
    ctx.check(isinstance(answer, dict) and answer.get("id") == data["id"] and answer.get("deleted") is True,
              f"revocation answered {dumps(answer)}; expected {{id: {data['id']}, deleted: true}}")
    items = ctx.expect_data(ctx.t.get("/keys", params={"projectId": project["id"]}), 200, what="GET /keys")
    mine = [k for k in items if isinstance(k, dict) and k.get("id") == data["id"]]
    ctx.check(not mine or mine[0].get("revoked_at"),
              f"the revoked key is still listed as live (revoked_at = {mine[0].get('revoked_at')!r})" if mine else "")
    other = [k for k in items if isinstance(k, dict) and k.get("id") == sibling["id"]]
    ctx.check(other and not other[0].get("revoked_at"),
              f"revoking {data['id']} also revoked (or unlisted) its sibling {sibling['id']}: {dumps(other)}")


@rule("MX-SECRET-MGMTKEY-ONCE", source="spec", title="A management key's plaintext is returned once",
      ref="Once-only secrets: `POST /management-keys` → plaintext `key` once, same rules.")
def management_key_plaintext_once(ctx: RuleContext) -> None:
    """DOMAIN.md, Once-only secrets: "`POST /management-keys` → plaintext `key` once, same rules." Spec,
    createManagementKey: "The plaintext key is returned exactly once in the `key` field"."""
    data = ctx.expect_data(ctx.t.post("/management-keys", json={"name": ctx.name("key")}), 201,
                           what="POST /management-keys")
    key, prefix = data.get("key"), data.get("key_prefix")
    ctx.check(isinstance(key, str) and key, f"POST /management-keys returned no plaintext `key`: {dumps(data)}")
    ctx.check(isinstance(prefix, str) and prefix and key.startswith(prefix),
              f"key_prefix {prefix!r} is not the first characters of the key returned")
    listed = ctx.t.get("/management-keys")
    items = ctx.expect_data(listed, 200, what="GET /management-keys")
    mine = [k for k in items if isinstance(k, dict) and k.get("id") == data.get("id")]
    ctx.check(mine, f"the new management key {data.get('id')} is not listed")
    ctx.check("key" not in mine[0], f"GET /management-keys lists the plaintext `key`: {dumps(mine[0])}")
    _no_secret_anywhere(ctx, key, "the management key's plaintext",
                        [listed, ctx.t.get("/audit-logs", params={"resourceId": data["id"], "limit": 200})])


@rule("MX-SECRET-WEBHOOK-ONCE", source="spec", title="A webhook signing secret is returned once, at creation and rotation",
      ref="Once-only secrets: `POST /webhooks/endpoints` → `signingSecret` once. `rotate` → new `signing_secret` once.")
def webhook_secret_once(ctx: RuleContext) -> None:
    """DOMAIN.md, Once-only secrets: "`POST /webhooks/endpoints` → `signingSecret` once. `rotate` → new
    `signing_secret` once". Spec: "returned exactly once in the response and cannot be retrieved again"."""
    project = ctx.project()
    body = {"name": ctx.name("hook"), "url": ctx.webhook_url(), "event_types": ["webhook.test"],
            "project_id": project["id"]}
    data = ctx.expect_data(ctx.t.post("/webhooks/endpoints", json=body), 201, what="POST /webhooks/endpoints")
    secret = data.get("signingSecret") if isinstance(data, dict) else None
    endpoint = data.get("endpoint") if isinstance(data, dict) else None
    ctx.check(isinstance(secret, str) and secret, f"creation returned no `signingSecret`: {dumps(data)}")
    ctx.check(isinstance(endpoint, dict) and endpoint.get("id"), f"creation returned no `endpoint`: {dumps(data)}")
    eid = endpoint["id"]
    for reply in (ctx.t.get(f"/webhooks/endpoints/{eid}"), ctx.t.get("/webhooks/endpoints"),
                  ctx.t.get("/webhooks/endpoints", params={"projectId": project["id"]})):
        ctx.expect(reply, 200, what=f"{reply.method} {reply.path}")
        ctx.check(not contains(reply.text, secret) and "signingSecret" not in reply.text
                  and "signing_secret" not in reply.text,
                  f"the signing secret is readable again: {reply.describe(300)}")
    rotated = ctx.expect_data(ctx.t.post(f"/webhooks/endpoints/{eid}/rotate"), 200, what="POST …/rotate")
    new = rotated.get("signing_secret") if isinstance(rotated, dict) else None
    ctx.check(isinstance(new, str) and new and new != secret,
              f"rotation returned {dumps(rotated)}; expected a new `signing_secret`")
    for reply in (ctx.t.get(f"/webhooks/endpoints/{eid}"), ctx.t.get("/audit-logs",
                                                                      params={"resourceId": eid, "limit": 200})):
        ctx.check(not contains(reply.text, new) and not contains(reply.text, secret),
                  f"a signing secret is readable again: {reply.describe(300)}")


@rule("MX-PROVIDER-APIKEY-WRITE-ONLY", source="spec", title="A provider's `apiKey` is never echoed",
      ref="Once-only secrets: Provider `apiKey` is write-only: never echoed in any response.")
def provider_api_key_write_only(ctx: RuleContext) -> None:
    """DOMAIN.md, Once-only secrets: "Provider `apiKey` is write-only: never echoed in any response." (Also the
    audit log: "changes (before/after of changed fields, secrets redacted)".)"""
    first, second = f"sk-mx-{uuid.uuid4().hex}", f"sk-mx-{uuid.uuid4().hex}"
    created = ctx.t.post("/providers", json={"provider": "openai", "name": ctx.name("provider"), "apiKey": first})
    data = ctx.expect_data(created, 201, what="POST /providers")
    pid = data.get("id")
    replies = [created, ctx.t.get(f"/providers/{pid}"), ctx.t.get("/providers")]
    replies.append(ctx.t.patch(f"/providers/{pid}", json={"apiKey": second, "name": ctx.name("provider")}))
    ctx.expect(replies[-1], 200, what="PATCH /providers/{id} with a new apiKey")
    replies += [ctx.t.get(f"/providers/{pid}"), ctx.t.get("/audit-logs", params={"resourceId": pid, "limit": 200})]
    for reply in replies:
        for secret in (first, second):
            ctx.check(not contains(reply.text, secret), f"the provider apiKey is echoed by {reply.describe(300)}")
        body = reply.data
        items = body if isinstance(body, list) else [body]
        for item in items:
            if isinstance(item, dict) and item.get("id") == pid:
                ctx.check("apiKey" not in item and "api_key" not in item,
                          f"{reply.method} {reply.path} shows an apiKey field: {dumps(item)}")


# ── routing configs and versions ────────────────────────────────────────────


def _versions(ctx: RuleContext, config_id: str) -> list[dict[str, Any]]:
    data = ctx.expect_data(ctx.t.get(f"/routing-configs/{config_id}/versions"), 200, what="GET …/versions")
    ctx.check(isinstance(data, list), f"versions is not a list: {dumps(data)}")
    return data


@rule("MX-VERSION-HISTORY", source="docs", title="Creation is version 1; the history is ascending, each with created_by",
      ref="Routing configs and versions: Create → version 1 in the history. `versions` list ascending, each with "
          "`created_by` (the acting key/user).")
def version_history_ascending(ctx: RuleContext) -> None:
    """DOMAIN.md, Routing configs and versions: "Create → version 1 in the history." and "`versions` list ascending,
    each with `created_by` (the acting key/user).\""""
    project = ctx.project()
    config = ctx.routing_config(project["id"], *POLICY_A)
    ctx.check(config.get("version") == 1, f"a new routing config has version {config.get('version')!r}, not 1")
    versions = _versions(ctx, config["id"])
    ctx.check([v.get("version") for v in versions] == [1], f"a new config's history is {dumps(versions)}")
    for policy, settings in (POLICY_B, POLICY_C):
        ctx.expect(ctx.t.patch(f"/routing-configs/{config['id']}", json={"policy": policy, "config": settings}),
                   200, what="PATCH policy/config")
    versions = _versions(ctx, config["id"])
    numbers = [v.get("version") for v in versions]
    ctx.check(numbers == sorted(numbers) and numbers[:1] == [1] and len(set(numbers)) == len(numbers),
              f"versions are not listed ascending from 1: {numbers}")
    for version in versions:
        ctx.check(isinstance(version.get("created_by"), str) and version["created_by"],
                  f"version {version.get('version')} has created_by = {version.get('created_by')!r}")
        one = ctx.expect_data(ctx.t.get(f"/routing-configs/{config['id']}/versions/{version['version']}"), 200,
                              what=f"GET …/versions/{version['version']}")
        ctx.check((one.get("policy"), one.get("config")) == (version.get("policy"), version.get("config")),
                  f"GET …/versions/{version['version']} disagrees with the list: {dumps(one)} vs {dumps(version)}")


@rule("MX-VERSION-BUMP", source="spec", title="A PATCH that changes policy or config creates version n+1",
      ref="Routing configs and versions: `PATCH` that changes `policy` or `config` → a new version (n+1) holding the "
          "new policy+config. (Spec: \"Changes to policy or config create a new version automatically.\")")
def patch_policy_bumps_version(ctx: RuleContext) -> None:
    """DOMAIN.md, Routing configs and versions: "`PATCH` that changes `policy` or `config` → a new version (n+1)
    holding the new policy+config." Spec, updateRoutingConfig: "Changes to policy or config create a new version
    automatically.\""""
    project = ctx.project()
    config = ctx.routing_config(project["id"], *POLICY_A)
    for expected, (policy, settings) in ((2, POLICY_B), (3, POLICY_C)):
        data = ctx.expect_data(ctx.t.patch(f"/routing-configs/{config['id']}",
                                           json={"policy": policy, "config": settings}), 200, what="PATCH policy")
        ctx.check(data.get("version") == expected, f"after changing the policy the config is at version "
                                                   f"{data.get('version')!r}, expected {expected}")
        current = ctx.expect_data(ctx.t.get(f"/routing-configs/{config['id']}"), 200, what="GET config")
        ctx.check((current.get("policy"), current.get("config")) == (policy, settings),
                  f"GET shows {current.get('policy')}/{dumps(current.get('config'))} after the PATCH")
        versions = _versions(ctx, config["id"])
        ctx.check(len(versions) == expected and versions[-1].get("version") == expected
                  and (versions[-1].get("policy"), versions[-1].get("config")) == (policy, settings),
                  f"history after PATCH #{expected - 1}: {dumps(versions, 500)}")


@rule("MX-VERSION-NOOP", source="ours", title="A PATCH of name/flags or identical policy+config adds no version",
      ref="Routing configs and versions: `PATCH` of only `name`, `enforce_budgets`, `is_active`, or with identical "
          "policy/config → no new version (ours).")
def patch_without_policy_change_keeps_version(ctx: RuleContext) -> None:
    """DOMAIN.md, Routing configs and versions: "`PATCH` of only `name`, `enforce_budgets`, `is_active`, or with
    identical policy/config → no new version (ours).\""""
    project = ctx.project()
    config = ctx.routing_config(project["id"], *POLICY_A)
    for body in ({"name": ctx.name("renamed")}, {"enforce_budgets": True}, {"is_active": False},
                 {"policy": POLICY_A[0], "config": POLICY_A[1]}):
        data = ctx.expect_data(ctx.t.patch(f"/routing-configs/{config['id']}", json=body), 200, what="PATCH")
        ctx.check(data.get("version") == 1, f"PATCH {dumps(body)} moved the version to {data.get('version')!r}")
    ctx.check(len(_versions(ctx, config["id"])) == 1, "PATCHes without a policy change added versions")


@rule("MX-RESTORE-NEW-VERSION", source="spec", title="Restoring version k creates version n+1 equal to k",
      ref="Routing configs and versions: `POST /{id}/restore {version: k}` → a *new* version n+1 whose policy+config "
          "equal version k's; the config's current policy/config become those.")
def restore_creates_new_version(ctx: RuleContext) -> None:
    """DOMAIN.md: "`POST /{id}/restore {version: k}` → a *new* version n+1 whose policy+config equal version k's;
    the config's current policy/config become those." Spec, restore: "Creates a new version with the restored
    config.\""""
    project = ctx.project()
    config = ctx.routing_config(project["id"], *POLICY_A)
    cid = config["id"]
    ctx.expect(ctx.t.patch(f"/routing-configs/{cid}", json={"policy": POLICY_B[0], "config": POLICY_B[1]}), 200,
               what="PATCH policy")
    data = ctx.expect_data(ctx.t.post(f"/routing-configs/{cid}/restore", json={"version": 1}), 200,
                           what="POST …/restore {version: 1}")
    ctx.check(data.get("version") == 3, f"restoring version 1 of a config at version 2 answered version "
                                        f"{data.get('version')!r}; expected a new version 3")
    ctx.check((data.get("policy"), data.get("config")) == POLICY_A,
              f"after restoring version 1 the config is {data.get('policy')}/{dumps(data.get('config'))}")
    current = ctx.expect_data(ctx.t.get(f"/routing-configs/{cid}"), 200, what="GET config")
    ctx.check((current.get("policy"), current.get("config"), current.get("version")) == (*POLICY_A, 3),
              f"GET after restore shows version {current.get('version')} {current.get('policy')}")
    versions = _versions(ctx, cid)
    ctx.check([v.get("version") for v in versions] == [1, 2, 3],
              f"history after restore is {[v.get('version') for v in versions]}, expected [1, 2, 3]")
    ctx.check((versions[2].get("policy"), versions[2].get("config")) == POLICY_A,
              f"version 3 holds {dumps(versions[2])}, not version 1's policy and config")


@rule("MX-RESTORE-UNKNOWN-404", source="docs", title="Restoring an unknown version is a 404 and changes nothing",
      ref="Routing configs and versions: Unknown k → 404.")
def restore_unknown_version_404(ctx: RuleContext) -> None:
    """DOMAIN.md, Routing configs and versions: "Unknown k → 404.\""""
    project = ctx.project()
    config = ctx.routing_config(project["id"], *POLICY_A)
    ctx.expect_error(ctx.t.post(f"/routing-configs/{config['id']}/restore", json={"version": 99}), 404,
                     what="POST …/restore {version: 99}")
    ctx.check(len(_versions(ctx, config["id"])) == 1, "a failed restore still added a version")


@rule("MX-CONFIG-NAME-UNIQUE", source="docs", title="Routing config names are unique within a project",
      ref="Routing configs and versions: `name` is the slug used as `model: \"@name\"`: unique within a project "
          "(duplicate → 400).")
def config_name_unique_in_project(ctx: RuleContext) -> None:
    """DOMAIN.md: "`name` is the slug used as `model: "@name"`: unique within a project (duplicate → 400)." The
    effective spec documents 409 for it (erratum E3), so either rejection is accepted."""
    first, second = ctx.project(), ctx.project()
    name = ctx.name("dup")
    ctx.routing_config(first["id"], *POLICY_A, name=name)
    reply = ctx.t.post("/routing-configs", json={"projectId": first["id"], "name": name, "policy": POLICY_B[0],
                                                 "config": POLICY_B[1]})
    ctx.expect_error(reply, 400, 409, what="a second config with the same name in the same project")
    ctx.routing_config(second["id"], *POLICY_A, name=name)  # the same name in another project is fine


@rule("MX-POLICY-INVALID-400", source="docs", title="Invalid policy configs are rejected with 400",
      ref="Routing configs and versions: Invalid policy config → 400 on create/patch/dry-run. Dry-run validates "
          "the policy config locally first (400).")
def invalid_policy_config_rejected(ctx: RuleContext) -> None:
    """DOMAIN.md: "Invalid policy config → 400 on create/patch/dry-run." and "Dry-run validates the policy config
    locally first (400)". Spec, dry-run: "Validates the policy config locally before forwarding.\""""
    project = ctx.project()
    invalid = [("single", {}), ("fallback", {"attempts": []}), ("ensemble", {"members": "gpt-4o"})]
    for policy, settings in invalid:
        ctx.expect_error(ctx.t.post("/routing-configs/dry-run", json={"project_id": project["id"], "policy": policy,
                                                                      "config": settings}),
                         400, what=f"dry-run of {policy} {dumps(settings)}")
        ctx.expect_error(ctx.t.post("/routing-configs", json={"projectId": project["id"], "name": ctx.name("bad"),
                                                              "policy": policy, "config": settings}),
                         400, what=f"creating a config with {policy} {dumps(settings)}")
    config = ctx.routing_config(project["id"], *POLICY_A)
    ctx.expect_error(ctx.t.patch(f"/routing-configs/{config['id']}", json={"policy": "single", "config": {}}),
                     400, what="PATCH to single {} (no model)")
    ctx.check(len(_versions(ctx, config["id"])) == 1, "a rejected PATCH still added a version")


@rule("MX-DRYRUN-DECISION", source="docs", title="A dry-run of `single {model}` selects that model and explains it",
      ref="Dry-run: a routing engine evaluates a policy for a request and returns the decision with a trace "
          "(`policy`, `selected_model`, `selected_provider`, `steps`). Policies (docs): `single {model}`.")
def dry_run_single_selects_model(ctx: RuleContext) -> None:
    """DOMAIN.md, Dry-run: the decision comes "with a trace (`policy`, `selected_model`, `selected_provider`,
    `steps[{rule, result, reason}]`)"; Policies (docs): "`single {model, provider_credential_id?}`". Two models
    are asked for in turn, so a target answering one fixed model fails."""
    project = ctx.project()
    for model in ("gpt-4o", MODEL_B):
        body = {"project_id": project["id"], "policy": "single", "config": {"model": model},
                "request": {"model": model, "messages": [{"role": "user", "content": "hello"}]}}
        data = ctx.expect_data(ctx.t.post("/routing-configs/dry-run", json=body), 200,
                               what=f"dry-run of single {model}")
        ctx.check(isinstance(data, dict), f"dry-run answered {dumps(data)}")
        selected = _selected_model(data)
        ctx.check(selected == model, f"dry-run of `single {{model: {model}}}` selected {selected!r}")


# Models of the policy cases: well-known, with public list prices far apart (gpt-4o costs 16x gpt-4o-mini).
MODEL_A, MODEL_B, MODEL_C = "gpt-4o-mini", "claude-3-5-haiku-20241022", "gemini-2.0-flash"


@dataclass(frozen=True)
class PolicyCase:
    """A request routed by a policy, and every model that is a right answer. `@a` and `@b` name two configs of the
    project, `single {MODEL_A}` and `single {MODEL_B}`."""

    what: str
    policy: str
    config: dict[str, Any]
    right: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)
    trace_id: str | None = None
    our_syntax: bool = False  # the condition language is this project's: a target may reject it (inconclusive)


def _refs(ctx: RuleContext, project_id: str) -> dict[str, str]:
    """Two configs of the project to route to: `@a` → single MODEL_A, `@b` → single MODEL_B."""
    return {"@a": "@" + ctx.routing_config(project_id, "single", {"model": MODEL_A}, name=ctx.name("a"))["name"],
            "@b": "@" + ctx.routing_config(project_id, "single", {"model": MODEL_B}, name=ctx.name("b"))["name"]}


def _with_refs(node: Any, refs: dict[str, str]) -> Any:
    if isinstance(node, str):
        for placeholder, slug in refs.items():
            node = node.replace(placeholder, slug)
        return node
    if isinstance(node, dict):
        return {k: _with_refs(v, refs) for k, v in node.items()}
    if isinstance(node, list):
        return [_with_refs(v, refs) for v in node]
    return node


def _judge_dry_runs(ctx: RuleContext, cases: list[PolicyCase]) -> None:
    """Dry-run each case in a new project and check the selected model. A case in our condition language that the
    target rejects with 400 is inconclusive; a rule none of whose cases could be judged is a SKIP."""
    project = ctx.project()
    refs = _refs(ctx, project["id"])
    judged = 0
    for case in cases:
        body = {"project_id": project["id"], "policy": case.policy, "config": _with_refs(case.config, refs),
                "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "route me"}]}}
        if case.tags:
            body["tags"] = case.tags
        if case.trace_id:
            body["trace_id"] = case.trace_id
        reply = ctx.t.post("/routing-configs/dry-run", json=body)
        if reply.status == 400 and case.our_syntax:
            continue
        data = ctx.expect_data(reply, 200, what=f"dry-run of {case.what} ({case.policy} {dumps(body['config'])})")
        selected = _selected_model(data)
        ctx.check(selected in case.right, f"dry-run of {case.what}: {case.policy} {dumps(body['config'])}"
                                          f"{f' with tags {case.tags}' if case.tags else ''} selected {selected!r}; "
                                          f"right: {' or '.join(case.right)}")
        judged += 1
    if not judged:
        ctx.skip("the target rejected every case")


POLICY_CASES = [
    PolicyCase("fallback, nothing failing: the first attempt", "fallback",
               {"attempts": [{"model": MODEL_A, "timeout_ms": 5000}, {"model": MODEL_B, "timeout_ms": 5000}]},
               (MODEL_A,)),
    PolicyCase("fallback, attempts swapped", "fallback",
               {"attempts": [{"model": MODEL_B, "timeout_ms": 5000}, {"model": MODEL_A, "timeout_ms": 5000}]},
               (MODEL_B,)),
    PolicyCase("cost_optimized over one allowed model", "cost_optimized",
               {"quality_tier": "low", "allowed_models": [MODEL_C]}, (MODEL_C,)),
    PolicyCase("cost_optimized over another allowed model", "cost_optimized",
               {"quality_tier": "low", "allowed_models": ["gpt-4o"]}, ("gpt-4o",)),
    PolicyCase("cost_optimized: gpt-4o-mini costs a sixteenth of gpt-4o", "cost_optimized",
               {"quality_tier": "low", "allowed_models": ["gpt-4o", MODEL_A]}, (MODEL_A,)),
    PolicyCase("latency_optimized over one allowed model", "latency_optimized", {"allowed_models": [MODEL_B]},
               (MODEL_B,)),
    PolicyCase("latency_optimized over another allowed model", "latency_optimized", {"allowed_models": [MODEL_C]},
               (MODEL_C,)),
    PolicyCase("round_robin over one model", "round_robin", {"models": [MODEL_C]}, (MODEL_C,)),
    PolicyCase("round_robin over two models", "round_robin", {"models": [MODEL_A, MODEL_B]}, (MODEL_A, MODEL_B)),
    PolicyCase("ensemble of one member", "ensemble", {"members": [{"model": MODEL_B, "weight": 1}]}, (MODEL_B,)),
    PolicyCase("ensemble of two members: one of them", "ensemble",
               {"aggregation": "majority_vote", "members": [{"model": MODEL_A, "weight": 1},
                                                            {"model": MODEL_C, "weight": 1}], "timeout_ms": 5000},
               (MODEL_A, MODEL_C)),
    PolicyCase("ab_test with one variant", "ab_test", {"variants": [{"weight": 100, "config": "@a"}]}, (MODEL_A,)),
    PolicyCase("ab_test with the other variant", "ab_test", {"variants": [{"weight": 100, "config": "@b"}]},
               (MODEL_B,)),
    PolicyCase("ab_test with two variants: one of them", "ab_test",
               {"variants": [{"weight": 50, "config": "@a"}, {"weight": 50, "config": "@b"}]}, (MODEL_A, MODEL_B)),
    PolicyCase("custom_rules, the rule matches", "custom_rules",
               {"rules": [{"if": "tags.tier == 'pro'", "then": "@a"}, {"else": "@b"}]}, (MODEL_A,),
               tags={"tier": "pro"}, our_syntax=True),
    PolicyCase("custom_rules, no rule matches: else", "custom_rules",
               {"rules": [{"if": "tags.tier == 'pro'", "then": "@a"}, {"else": "@b"}]}, (MODEL_B,),
               tags={"tier": "free"}, our_syntax=True),
]


@rule("MX-DRYRUN-POLICIES", source="docs", title="A dry-run of every documented policy selects a model the policy allows",
      ref="Policies (docs): `fallback {attempts}`, `cost_optimized {quality_tier, allowed_models}`, "
          "`latency_optimized`, `ensemble {members}`, `ab_test {variants: [{weight, config: \"@slug\"}]}`, "
          "`custom_rules {rules: [{if, then}, {else}]}` over `tags.<k>`; the spec names `round_robin`.")
def dry_run_every_policy(ctx: RuleContext) -> None:
    """DOMAIN.md, Policies (docs) and Dry-run: each policy is dry-run in cases whose right answer follows from what
    the policy is: with nothing failing a fallback uses its first attempt; a cost- or latency-optimised choice is
    one of its allowed models (the cheaper of gpt-4o and gpt-4o-mini, at public list prices); a round robin, an
    ensemble or an A/B test picks one of its models, members or variants' configs; custom rules route a tagged
    request by the rule that matches, else by `else`. Each family has a second case whose answer differs, so a
    target that ignores the config fails. (The condition syntax `tags.k == 'v'` is this project's: a target
    rejecting it leaves those cases undecided.)"""
    _judge_dry_runs(ctx, POLICY_CASES)


OUR_POLICY_CASES = [
    PolicyCase("ensemble: the heaviest member is reported", "ensemble",
               {"members": [{"model": MODEL_A, "weight": 1}, {"model": MODEL_B, "weight": 3}]}, (MODEL_B,)),
    PolicyCase("ensemble: weights swapped", "ensemble",
               {"members": [{"model": MODEL_A, "weight": 3}, {"model": MODEL_B, "weight": 1}]}, (MODEL_A,)),
    PolicyCase("cascade: the first step answers first", "cascade", {"steps": [{"model": MODEL_C}, {"model": "gpt-4o"}]},
               (MODEL_C,)),
    PolicyCase("cascade: steps swapped", "cascade", {"steps": [{"model": "gpt-4o"}, {"model": MODEL_C}]}, ("gpt-4o",)),
    PolicyCase("cost_optimized at quality high skips a medium model", "cost_optimized",
               {"quality_tier": "high", "allowed_models": [MODEL_A, "gpt-4o"]}, ("gpt-4o",)),
    PolicyCase("latency_optimized: gemini-2.0-flash answers faster than gpt-4o", "latency_optimized",
               {"allowed_models": ["gpt-4o", MODEL_C]}, (MODEL_C,)),
    PolicyCase("custom_rules over an unknown budget: else", "custom_rules",
               {"rules": [{"if": "budget.used_pct > 50", "then": "@a"}, {"else": "@b"}]}, (MODEL_B,)),
    PolicyCase("custom_rules, the first matching rule wins", "custom_rules",
               {"rules": [{"if": "tags.tier == 'pro'", "then": "@b"}, {"if": "tags.tier != 'free'", "then": "@a"},
                          {"else": "@a"}]}, (MODEL_B,), tags={"tier": "pro"}),
]


@rule("MX-DRYRUN-POLICIES-OURS", source="ours", title="Dry-runs follow this project's routing decisions, same input same "
      "decision", ref="Dry-run: a deterministic routing engine; same input + same config → same decision (ours). "
                      "spec/DECISIONS.md and the mock's catalogue: heaviest ensemble member, cascade's first step, "
                      "quality tiers and typical latencies.")
def dry_run_our_routing_decisions(ctx: RuleContext) -> None:
    """DOMAIN.md, Dry-run (ours): "a deterministic routing engine … Same input + same config → same decision." The
    mock's engine reports the heaviest ensemble member, answers a cascade with its first step, ranks models by its
    catalogue's quality tiers and typical latencies, and reads an unknown budget as "no match"; an A/B test and a
    round robin give the same answer to the same trace id."""
    _judge_dry_runs(ctx, OUR_POLICY_CASES)
    project = ctx.project()
    refs = _refs(ctx, project["id"])
    for policy, config in (("ab_test", {"variants": [{"weight": 50, "config": "@a"}, {"weight": 50, "config": "@b"}]}),
                           ("round_robin", {"models": [MODEL_A, MODEL_B, MODEL_C]})):
        body = {"project_id": project["id"], "policy": policy, "config": _with_refs(config, refs),
                "trace_id": f"tr_{uuid.uuid4().hex[:8]}", "request": {"messages": [{"role": "user", "content": "x"}]}}
        picks = {_selected_model(ctx.expect_data(ctx.t.post("/routing-configs/dry-run", json=body), 200,
                                                 what=f"dry-run of {policy}")) for _ in range(3)}
        ctx.check(len(picks) == 1, f"the same {policy} dry-run (same trace id) selected {sorted(map(str, picks))}")


# ── deletion and unknown ids ────────────────────────────────────────────────


@rule("MX-DELETE-THEN-404", source="spec", title="After DELETE a resource is gone: 404 on read and on a second delete",
      ref="Envelopes: `DELETE` answers `{\"data\": {\"id\": ..., \"deleted\": true}}`; unknown id → 404.")
def deleted_resource_is_gone(ctx: RuleContext) -> None:
    """DOMAIN.md, Envelopes, errors, ids: "`DELETE` answers `{"data": {"id": ..., "deleted": true}}`" and "unknown
    or foreign id → 404". A deleted resource is unknown from then on."""
    project = ctx.project()
    provider = ctx.expect_data(ctx.t.post("/providers", json={"provider": "openai", "name": ctx.name("provider"),
                                                              "apiKey": f"sk-mx-{uuid.uuid4().hex}"}),
                               201, what="setup: POST /providers")
    config = ctx.routing_config(project["id"], *POLICY_A)
    budget = ctx.project_budget(project["id"], "monthly", "10.00")
    hook = ctx.project_webhook(project["id"])
    resources = [("/providers", provider["id"], "/providers"), ("/routing-configs", config["id"], "/routing-configs"),
                 ("/budgets", budget["id"], "/budgets"), ("/webhooks/endpoints", hook["id"], "/webhooks/endpoints"),
                 ("/projects", project["id"], "/projects")]
    for base, ident, listing in resources:
        answer = ctx.expect_data(ctx.t.delete(f"{base}/{ident}"), 200, what=f"DELETE {base}/{{id}}")
        ctx.check(isinstance(answer, dict) and answer.get("id") == ident and answer.get("deleted") is True,
                  f"DELETE {base}/{ident} answered {dumps(answer)}; expected {{id: {ident}, deleted: true}}")
        ctx.expect_error(ctx.t.get(f"{base}/{ident}"), 404, what=f"GET {base}/{{id}} after DELETE")
        ctx.expect_error(ctx.t.delete(f"{base}/{ident}"), 404, what=f"a second DELETE {base}/{{id}}")
        listed = ctx.expect_data(ctx.t.get(listing), 200, what=f"GET {listing}")
        ctx.check(not any(isinstance(i, dict) and i.get("id") == ident for i in listed or []),
                  f"GET {listing} still lists the deleted {ident}")


UNKNOWN_ID_READS = [
    "/projects/{id}", "/projects/{id}/decisions/summary", "/providers/{id}", "/routing-configs/{id}",
    "/routing-configs/{id}/versions", "/routing-configs/{id}/versions/1", "/logs/{id}", "/logs/{id}/trace",
    "/budgets/{id}", "/budgets/{id}/events", "/budgets/{id}/alerts", "/webhooks/endpoints/{id}",
    "/webhooks/endpoints/{id}/deliveries", "/webhooks/deliveries/{id}", "/simulations/{id}",
    "/simulations/{id}/results", "/audit-logs/{id}", "/orgs/{id}/members",
]


@rule("MX-UNKNOWN-ID-404", source="spec", title="Unknown or foreign ids are 404 with the error envelope",
      ref="Envelopes, errors, ids: Ids: opaque, prefixed per type; unknown or foreign id → 404.")
def unknown_ids_are_404(ctx: RuleContext) -> None:
    """DOMAIN.md: "Ids: opaque, prefixed per type (docs use `proj_…`, `prov_…`); unknown or foreign id → 404." and
    "Another org's resource is indistinguishable from a missing one (404)." Every `{id}` operation documents 404."""
    for template in UNKNOWN_ID_READS:
        prefix = template.split("/")[1][:4]
        path = template.replace("{id}", f"{prefix}_mxunknown{uuid.uuid4().hex[:8]}")
        ctx.expect_error(ctx.t.get(path), 404, what=f"GET {template} with an unknown id")
    if not ctx.settings.staging:  # staging never sends organization mutations, not even to made-up ids
        ctx.expect_error(ctx.t.patch("/orgs/org_mxunknown0000", json={"name": "mx"}), 404,
                         what="PATCH /orgs/{id} of another (unknown) organization")
        ctx.expect_error(ctx.t.delete("/orgs/org_mxunknown0000"), 404,
                         what="DELETE /orgs/{id} of another (unknown) organization")


@rule("MX-PATCH-PERSISTS", source="spec", title="What a PATCH changes is what the next GET shows",
      ref="Every `PATCH` \"Update[s] a …\" and answers the updated resource (spec); a later read returns it.")
def patch_changes_persist(ctx: RuleContext) -> None:
    """Spec: `PATCH /projects/{id}`, `/providers/{id}`, `/budgets/{id}`, `/webhooks/endpoints/{id}` "Update a …" and
    answer the updated resource; DOMAIN.md, Audit log: the update is a mutation with before/after `changes`."""
    project = ctx.project()
    provider = ctx.expect_data(ctx.t.post("/providers", json={"provider": "openai", "name": ctx.name("provider"),
                                                              "apiKey": f"sk-mx-{uuid.uuid4().hex}"}),
                               201, what="setup: POST /providers")
    budget = ctx.project_budget(project["id"], "monthly", "10.00")
    hook = ctx.project_webhook(project["id"])
    changes = [
        (f"/projects/{project['id']}", {"name": ctx.name("renamed"), "logging_mode": "metadata"},
         lambda d: {"name": d.get("name"), "logging_mode": (d.get("settings") or {}).get("logging_mode")}),
        (f"/providers/{provider['id']}", {"name": ctx.name("renamed")}, lambda d: {"name": d.get("name")}),
        (f"/budgets/{budget['id']}", {"amount_usd": "42.50", "soft_cap_pct": 65, "name": ctx.name("renamed")},
         lambda d: {"amount_usd": d.get("amount_usd"), "soft_cap_pct": d.get("soft_cap_pct"), "name": d.get("name")}),
        (f"/webhooks/endpoints/{hook['id']}", {"name": ctx.name("renamed"), "active": False},
         lambda d: {"name": d.get("name"), "active": d.get("active")}),
    ]
    for path, body, view in changes:
        answered = ctx.expect_data(ctx.t.patch(path, json=body), 200, what=f"PATCH {path}")
        ctx.check(view(answered) == body, f"PATCH {path} {dumps(body)} answered {dumps(view(answered))}")
        read = ctx.expect_data(ctx.t.get(path), 200, what=f"GET {path} after PATCH")
        ctx.check(view(read) == body, f"after PATCH {path} {dumps(body)}, GET shows {dumps(view(read))}")


@rule("MX-MEMBERS", source="spec", title="Invited members can have their role changed and be removed",
      ref="Organizations and members: Invite → 201 and a pending member/invitation; roles owner/admin/member.",
      not_in_staging="it invites members to the organization, changes their roles and removes them")
def member_lifecycle(ctx: RuleContext) -> None:
    """DOMAIN.md, Organizations and members: "Invite → 201 and a pending member/invitation; roles
    owner/admin/member." Spec: `POST /orgs/{id}/members` → 201, `PATCH …/members/{userId}` → the Member,
    `DELETE …/members/{userId}` → the delete envelope."""
    org = ctx.org_id()
    email = f"{ctx.name('member')}@example.com"
    invited = ctx.expect_data(ctx.t.post(f"/orgs/{org}/members", json={"email": email, "role": "member"}), 201,
                              what="POST /orgs/{id}/members")
    members = ctx.expect_data(ctx.t.get(f"/orgs/{org}/members"), 200, what="GET /orgs/{id}/members")
    mine = [m for m in members if isinstance(m, dict) and (m.get("user") or {}).get("email") == email]
    user_id = (invited or {}).get("user_id") or (mine[0].get("user_id") if mine else None)
    if not user_id:
        ctx.skip("the invitation names no user id and the member list does not show the invitee")
    ctx.check(mine, f"the invited {email} is not listed among the members")
    updated = ctx.expect_data(ctx.t.patch(f"/orgs/{org}/members/{user_id}", json={"role": "admin"}), 200,
                              what="PATCH /orgs/{id}/members/{userId}")
    ctx.check(updated.get("role") == "admin", f"changing the role to admin answered {dumps(updated)}")
    answer = ctx.expect_data(ctx.t.delete(f"/orgs/{org}/members/{user_id}"), 200, what="DELETE member")
    ctx.check(answer.get("id") == user_id and answer.get("deleted") is True, f"removal answered {dumps(answer)}")
    members = ctx.expect_data(ctx.t.get(f"/orgs/{org}/members"), 200, what="GET /orgs/{id}/members")
    ctx.check(not any((m.get("user") or {}).get("email") == email for m in members if isinstance(m, dict)),
              f"the removed {email} is still listed")


# ── envelopes ───────────────────────────────────────────────────────────────


@rule("MX-ERROR-ENVELOPE", source="spec", title="Every error is `{error, code}`: 404s, unknown routes, 405, bad JSON",
      ref="Envelopes, errors: Error: `{\"error\": \"<human message>\", \"code\": \"<machine_code>\"}` — for every "
          "error the server produces, including unknown routes, wrong methods (405 with an `Allow` header), "
          "malformed JSON, oversized bodies and internal errors.")
def errors_use_envelope(ctx: RuleContext) -> None:
    """DOMAIN.md: "Error: `{"error": "<human message>", "code": "<machine_code>"}` — for every error the server
    produces, including unknown routes, wrong methods (405 with an `Allow` header), malformed JSON, oversized bodies
    and internal errors." Spec, info: "All error responses return `{ "error": "message", "code": "error_code" }`"."""
    ctx.expect_error(ctx.t.get(f"/projects/proj_mxunknown{uuid.uuid4().hex[:8]}"), 404,
                     what="GET /projects/{id} with an unknown id")
    ctx.expect_error(ctx.t.get(f"/no-such-route-{uuid.uuid4().hex[:6]}"), 404, what="GET of an unknown route")
    reply = ctx.t.request("PUT", "/projects", json={"name": "x"}, guard=False)
    ctx.expect_error(reply, 405, what="PUT /projects (a method the path does not have)")
    allow = reply.headers.get("Allow") or ""
    ctx.check({"GET", "POST"} <= {m.strip().upper() for m in allow.split(",")},
              f"405 on /projects has Allow = {allow!r}; it must list GET and POST (RFC 9110 §15.5.6)")
    ctx.expect_error(ctx.t.post("/projects", content=b'{"name": ', headers={"Content-Type": "application/json"}),
                     400, what="POST /projects with malformed JSON")
    big = ctx.t.post("/projects", content=json.dumps({"name": "x" * (2 * 1024 * 1024)}).encode(),
                     headers={"Content-Type": "application/json"})
    if not big.ok:
        ctx.expect_error(big, big.status, what="POST /projects with a 2 MiB body")


@rule("MX-SUCCESS-ENVELOPE", source="spec", title="Every success wraps its payload in `data`",
      ref="Envelopes: Success: `{\"data\": ...}`. (Spec, info: \"All success responses wrap data in "
          "`{ \"data\": ... }`\".)")
def successes_use_envelope(ctx: RuleContext) -> None:
    """DOMAIN.md, Envelopes: "Success: `{"data": ...}`." Spec, info: "All success responses wrap data in `{ "data":
    ... }`"."""
    for path in ("/projects", "/providers", "/keys", "/routing-configs", "/logs", "/analytics", "/budgets",
                 "/webhooks/endpoints", "/webhooks/event-types", "/simulations", "/audit-logs", "/management-keys"):
        ctx.expect_data(ctx.t.get(path), 200, what=f"GET {path}")


@rule("MX-TIMESTAMPS-Z", source="ours", title="Timestamps are ISO 8601 UTC written with `Z`",
      ref="Envelopes, errors, ids, time: Timestamps: ISO 8601 UTC with `Z`.")
def timestamps_utc_z(ctx: RuleContext) -> None:
    """DOMAIN.md, Envelopes, errors, ids, time: "Timestamps: ISO 8601 UTC with `Z`." (Ours: the spec only says
    "Dates are ISO 8601 strings".)"""
    project = ctx.project()
    replies = [ctx.t.get(f"/projects/{project['id']}"), ctx.t.get("/audit-logs", params={"resourceId": project["id"]}),
               ctx.t.get("/logs", params={"limit": 5})]
    for reply in replies:
        ctx.expect(reply, 200, what=f"{reply.method} {reply.path}")
        for key, value in _timestamps(reply.data):
            ctx.check(value.endswith("Z"), f"{reply.method} {reply.path}: `{key}` = {value!r} is not UTC with `Z`")


def _timestamps(node: Any):
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and (key.endswith("_at") or key == "timestamp"):
                yield key, value
            else:
                yield from _timestamps(value)
    elif isinstance(node, list):
        for item in node:
            yield from _timestamps(item)


# ── logs, filters, paging ───────────────────────────────────────────────────


LOG_FIELDS = {"projectId": "project_id", "status": "status", "endUserId": "end_user_id"}
NO_SUCH = "mx-no-such-value"  # a filter value no resource has


def _matches(log: dict[str, Any], params: dict[str, Any]) -> bool:
    return all(log.get(LOG_FIELDS[k]) == v for k, v in params.items())


@rule("MX-LOGS-FILTERS", source="spec", title="Log filters really filter and combine",
      ref="Logs: filters combine (projectId, endUserId, status).", needs=("logs",))
def log_filters_filter(ctx: RuleContext) -> None:
    """DOMAIN.md, Logs, analytics: "Logs newest first; filters combine". Spec, listLogs: `projectId`, `endUserId`,
    `status` are "Filter by …" parameters.

    Every filter (alone and combined) must return only matching logs, and some when the sample has matching ones.
    Negative probes: a project or end user no log has, and the status no log of the sample has (or, with both
    statuses present, the two statuses) must come back empty or disjoint — a target ignoring the parameter fails.
    If no filter tried excludes any log of the sample, the data is too uniform to tell: SKIP, never PASS."""
    sample = ctx.logs_or_skip()
    project = sample[0]["project_id"]
    status = next((log.get("status") for log in sample if log.get("status") == "error"), sample[0].get("status"))
    user = next((log.get("end_user_id") for log in sample if log.get("end_user_id")), None)
    filters: list[dict[str, Any]] = [{"projectId": project}, {"status": status}, {"projectId": project,
                                                                                   "status": status}]
    if user:
        filters += [{"endUserId": user}, {"endUserId": user, "status": status}]
    excluded_any = False
    for params in filters:
        found = ctx.logs(**params)
        wrong = [log for log in found if not _matches(log, params)]
        if wrong:
            ctx.fail(f"GET /logs?{params} returned {len(wrong)} non-matching logs, e.g. {dumps(wrong[0])}")
        ctx.check(found or not any(_matches(log, params) for log in sample),
                  f"GET /logs?{params} returned nothing though matching logs exist")
        excluded_any = excluded_any or any(not _matches(log, params) for log in sample)
    for params in ({"projectId": f"proj_{NO_SUCH}"}, {"endUserId": NO_SUCH},
                   {"projectId": project, "endUserId": NO_SUCH}):
        found = ctx.logs(**params)
        if found:
            ctx.fail(f"GET /logs?{params} names something no log has, yet returned {len(found)} logs, e.g. "
                     f"{dumps(found[0])}")
    by_status = {value: {log["id"] for log in ctx.logs(status=value)} for value in ("success", "error")}
    ctx.check(not by_status["success"] & by_status["error"],
              f"GET /logs?status=success and ?status=error share {sorted(by_status['success'] & by_status['error'])[:3]}")
    for value, ids in by_status.items():
        if not any(log.get("status") == value for log in sample):
            ctx.check(not ids or len(sample) >= 200, f"no log of the sample has status {value}, yet GET "
                                                     f"/logs?status={value} returned {len(ids)}")
    if not excluded_any:
        ctx.skip("every log of the sample matches every filter tried: the data is too uniform to tell a filter "
                 "from none")


def _all_logs(ctx: RuleContext, cap: int = 2000, **params: Any) -> list[dict[str, Any]] | None:
    """Every log (with the filters), page by page; None when there are more than `cap`."""
    found: list[dict[str, Any]] = []
    while len(found) <= cap:
        page = ctx.logs(limit=200, offset=len(found), **params)
        found += page
        if len(page) < 200:
            return found
    return None


def _pages(ctx: RuleContext, fetch: Callable[[int, int], list[dict[str, Any]]], size: int, upto: int) -> list[str]:
    """Ids of consecutive pages of `size` from offset 0 until `upto` items or a short page."""
    ids: list[str] = []
    while len(ids) < upto:
        page = fetch(size, len(ids))
        ctx.check(len(page) <= size, f"limit={size} returned {len(page)} items")
        ids += [item.get("id") for item in page]
        if len(page) < size:
            break
    return ids


@rule("MX-LOGS-PAGING", source="spec", title="`limit` and `offset` page the logs consistently",
      ref="Logs: `limit` (default 50, docs: max 200) and `offset` page.", needs=("logs",))
def log_paging_consistent(ctx: RuleContext) -> None:
    """DOMAIN.md, Logs: "`limit` (default 50, docs: max 200) and `offset` page." Spec: `limit` "Number of results
    to return" (default 50), `offset` "Number of results to skip".

    Consecutive pages of 1, 3 and 7 concatenate to the first 21 logs, with no item skipped or repeated at a
    boundary; an offset past the end is empty; no `limit` gives 50."""
    for _ in range(3):
        whole = [log["id"] for log in ctx.logs(limit=21)]
        paged = {size: _pages(ctx, lambda limit, offset: ctx.logs(limit=limit, offset=offset), size, len(whole))
                 for size in (1, 3, 7)}
        if [log["id"] for log in ctx.logs(limit=21)] == whole:
            break  # else the logs changed under us; look again
    else:
        ctx.skip("the logs kept changing while paging (another client is writing)")
    everything = _all_logs(ctx)
    past = len(everything) if everything is not None else 10**6
    beyond = ctx.logs(limit=5, offset=past)
    ctx.check(not beyond, f"GET /logs?offset={past} (past the end) returned {len(beyond)} logs")
    if len(whole) < 2:
        ctx.skip(f"the target has {len(whole)} log(s): too few to tell paging from none")
    for size, ids in paged.items():
        ctx.check(ids[:len(whole)] == whole, f"pages of {size} do not concatenate to the first {len(whole)} logs: "
                                             f"{_first_difference(ids, whole)}")
    many = ctx.logs(limit=200)
    default = ctx.expect_data(ctx.t.get("/logs"), 200, what="GET /logs")
    ctx.check(len(default) == min(50, len(many)), f"GET /logs without limit returned {len(default)} logs; the "
                                                  f"documented default is 50 ({len(many)} available)")


def _first_difference(got: list[Any], want: list[Any]) -> str:
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return f"item {i} is {a!r}, expected {b!r} ({len(got)} paged, {len(want)} whole)"
    return f"{len(got)} items paged, {len(want)} expected"


@rule("MX-LOGS-ORDER", source="ours", title="Logs are listed newest first", ref="Logs: Logs newest first.",
      needs=("logs",))
def logs_newest_first(ctx: RuleContext) -> None:
    """DOMAIN.md, Logs: "Logs newest first". (Ours: the spec does not say.) Logs that all carry one timestamp are
    in every order at once: SKIP."""
    logs = ctx.logs_or_skip()
    stamps = [log.get("timestamp") or "" for log in logs]
    if len(set(stamps)) < 2:
        ctx.skip("the logs carry fewer than two distinct timestamps: any order is newest first")
    ctx.check(stamps == sorted(stamps, reverse=True), "GET /logs is not ordered newest first")


# ── scoping of project-level resources ──────────────────────────────────────


@rule("MX-SCOPE-PROJECT-FILTER", source="spec", title="`projectId` filters list only that project's resources",
      ref="Organizations: every resource is scoped; lists take `projectId` (spec: \"Filter by project ID\").")
def project_filters_scope_lists(ctx: RuleContext) -> None:
    """DOMAIN.md, Authentication: "A key belongs to one organization; every resource is scoped to it."; spec: the
    `projectId` query parameter of keys, routing configs, budgets, endpoints and simulations "Filter by project"."""
    a, b = ctx.project(), ctx.project()
    key = ctx.expect_data(ctx.t.post("/keys", json={"projectId": a["id"], "name": ctx.name("key")}), 201,
                          what="setup: POST /keys")
    config = ctx.routing_config(a["id"], *POLICY_A)
    budget = ctx.project_budget(a["id"], "daily", "5.00")
    hook = ctx.project_webhook(a["id"])
    owner = {
        "/keys": (key["id"], lambda i: (i.get("project") or {}).get("id")),
        "/routing-configs": (config["id"], lambda i: i.get("project_id")),
        "/budgets": (budget["id"], lambda i: i.get("scope_id")),
        "/webhooks/endpoints": (hook["id"], lambda i: i.get("project_id")),
    }
    for path, (ident, project_of) in owner.items():
        in_a = ctx.expect_data(ctx.t.get(path, params={"projectId": a["id"]}), 200, what=f"GET {path}?projectId=A")
        ctx.check(any(i.get("id") == ident for i in in_a), f"GET {path}?projectId=A does not list {ident}")
        strays = [i for i in in_a if project_of(i) not in (a["id"], None) or (path != "/webhooks/endpoints"
                                                                           and project_of(i) is None)]
        ctx.check(not strays, f"GET {path}?projectId=A lists other projects' resources: {dumps(strays[:2])}")
        in_b = ctx.expect_data(ctx.t.get(path, params={"projectId": b["id"]}), 200, what=f"GET {path}?projectId=B")
        ctx.check(not any(i.get("id") == ident for i in in_b), f"GET {path}?projectId=B lists A's {ident}")


@rule("MX-ORG-ISOLATION", source="spec", title="Another organization's resources are 404 and never listed",
      ref="Authentication: A key belongs to one organization; every resource is scoped to it. Another org's "
          "resource is indistinguishable from a missing one (404).")
def other_org_cannot_see_resources(ctx: RuleContext) -> None:
    """DOMAIN.md, Authentication: "A key belongs to one organization; every resource is scoped to it. Another
    org's resource is indistinguishable from a missing one (404)." Needs a key of a second organization
    (`--other-token`; the embedded mock provides one)."""
    other = ctx.settings.other_token
    if not other:
        ctx.skip("needs --other-token: a management key of a second organization on the same target")
    project = ctx.project()
    config = ctx.routing_config(project["id"], *POLICY_A)
    entries, _ = _audit(ctx, resourceId=project["id"])
    probes = [("GET", f"/projects/{project['id']}", None), ("PATCH", f"/projects/{project['id']}", {"name": "x"}),
              ("GET", f"/routing-configs/{config['id']}", None), ("GET", f"/routing-configs/{config['id']}/versions",
                                                                  None),
              ("POST", f"/routing-configs/{config['id']}/restore", {"version": 1}),
              ("DELETE", f"/routing-configs/{config['id']}", None), ("DELETE", f"/projects/{project['id']}", None)]
    if entries:
        probes.append(("GET", f"/audit-logs/{entries[0]['id']}", None))
    for method, path, body in probes:
        ctx.expect_error(ctx.t.request(method, path, json=body, token=other, guard=False), 404,
                         what=f"{method} {path} with another organization's key")
    for path in ("/projects", "/routing-configs", f"/routing-configs?projectId={project['id']}"):
        listed = ctx.t.get(path, token=other)
        ctx.expect(listed, 200, what=f"GET {path} with another organization's key")
        ctx.check(project["id"] not in listed.text and config["id"] not in listed.text,
                  f"GET {path} with another organization's key lists this organization's resources")
    current = ctx.expect_data(ctx.t.get(f"/routing-configs/{config['id']}"), 200, what="GET config (own key)")
    ctx.check(current.get("version") == 1, "another organization's requests changed this organization's config")


@rule("MX-WEBHOOK-PROJECT-NULL", source="spec", title="`?projectId=null` lists only org-wide webhook endpoints",
      ref="Webhooks: Endpoints are org-wide (`project_id: null`) or project-scoped; `GET ?projectId=null` lists "
          "only org-wide ones (spec).")
def webhook_listing_null_project(ctx: RuleContext) -> None:
    """DOMAIN.md, Webhooks: "Endpoints are org-wide (`project_id: null`) or project-scoped; `GET ?projectId=null`
    lists only org-wide ones (spec)." Spec: "Pass "null" for org-scoped endpoints only.\""""
    project = ctx.project()
    base = {"url": ctx.webhook_url(), "event_types": ["webhook.test"]}
    org_wide = ctx.expect_data(ctx.t.post("/webhooks/endpoints", json={**base, "name": ctx.name("org")}), 201,
                               what="setup: org-wide endpoint")["endpoint"]
    scoped = ctx.expect_data(ctx.t.post("/webhooks/endpoints", json={**base, "name": ctx.name("proj"),
                                                                     "project_id": project["id"]}),
                             201, what="setup: project endpoint")["endpoint"]
    listed = ctx.expect_data(ctx.t.get("/webhooks/endpoints", params={"projectId": "null"}), 200,
                             what="GET /webhooks/endpoints?projectId=null")
    ids = {i.get("id") for i in listed}
    ctx.check(org_wide["id"] in ids, "?projectId=null does not list the org-wide endpoint")
    ctx.check(scoped["id"] not in ids, "?projectId=null lists a project-scoped endpoint")
    ctx.check(all(i.get("project_id") is None for i in listed),
              f"?projectId=null lists endpoints with a project: {dumps([i for i in listed if i.get('project_id')][:2])}")
    in_project = {i.get("id") for i in ctx.expect_data(ctx.t.get("/webhooks/endpoints",
                                                                 params={"projectId": project["id"]}), 200)}
    ctx.check(scoped["id"] in in_project and org_wide["id"] not in in_project,
              "?projectId=<project> does not list exactly that project's endpoints")


# ── audit log ───────────────────────────────────────────────────────────────


def _audit(ctx: RuleContext, **params: Any) -> tuple[list[dict[str, Any]], Any]:
    reply = ctx.t.get("/audit-logs", params={"limit": 200, **params})
    data = ctx.expect_data(reply, 200, what=f"GET /audit-logs?{params}")
    return data, (reply.json or {}).get("total")


@rule("MX-AUDIT-PER-MUTATION", source="docs", title="Every successful mutation writes an audit entry",
      ref="Audit log: Every successful mutation through the API writes an entry: `resource_type`, `resource_id`, "
          "`action` (`created`, `updated`, `deleted`, `revoked`, `restored`, `rotated`, …), `actor_id`, `changes`, "
          "`occurred_at`.")
def audit_entry_per_mutation(ctx: RuleContext) -> None:
    """DOMAIN.md, Audit log: "Every successful mutation through the API writes an entry: `resource_type`,
    `resource_id`, `action` (`created`, `updated`, `deleted`, `revoked`, `restored`, `rotated`, `promoted`,
    `reset`, …), `actor_id`, `changes` (…), `occurred_at`.\""""
    project = ctx.project()
    pid = project["id"]
    ctx.expect(ctx.t.patch(f"/projects/{pid}", json={"name": ctx.name("renamed")}), 200, what="PATCH /projects/{id}")
    config = ctx.routing_config(pid, *POLICY_A)
    ctx.expect(ctx.t.patch(f"/routing-configs/{config['id']}", json={"policy": POLICY_B[0], "config": POLICY_B[1]}),
               200, what="PATCH routing config")
    ctx.expect(ctx.t.post(f"/routing-configs/{config['id']}/restore", json={"version": 1}), 200, what="restore")
    key = ctx.expect_data(ctx.t.post("/keys", json={"projectId": pid, "name": ctx.name("key")}), 201, what="POST /keys")
    ctx.expect(ctx.t.delete(f"/keys/{key['id']}"), 200, what="DELETE /keys/{id}")
    hook = ctx.project_webhook(pid, what="POST /webhooks/endpoints")
    ctx.expect(ctx.t.post(f"/webhooks/endpoints/{hook['id']}/rotate"), 200, what="rotate")
    ctx.expect(ctx.t.delete(f"/routing-configs/{config['id']}"), 200, what="DELETE routing config")
    expected = [(pid, "created"), (pid, "updated"), (config["id"], "created"), (config["id"], "updated"),
                (config["id"], "restored"), (config["id"], "deleted"), (key["id"], "created"), (key["id"], "revoked"),
                (hook["id"], "created"), (hook["id"], "rotated")]
    for resource_id, action in expected:
        entries, _ = _audit(ctx, resourceId=resource_id)
        hits = [e for e in entries if e.get("resource_id") == resource_id and e.get("action") == action]
        ctx.check(hits, f"no audit entry with action `{action}` for {resource_id}; entries: "
                        f"{[e.get('action') for e in entries]}")
        entry = hits[0]
        for name in ("resource_type", "actor_id", "occurred_at"):
            ctx.check(entry.get(name), f"audit entry {entry.get('id')} lacks `{name}`: {dumps(entry)}")


@rule("MX-AUDIT-TOTAL", source="spec", title="`total` counts every matching audit entry, not just the page",
      ref="Audit log: `total` counts all matches, not just the page. (Spec: \"Total number of matching audit log "
          "entries\".)")
def audit_total_counts_all(ctx: RuleContext) -> None:
    """DOMAIN.md, Audit log: "`GET /audit-logs` filters combine; `total` counts all matches, not just the page."
    Spec: `total` — "Total number of matching audit log entries"."""
    project = ctx.project()
    for _ in range(2):
        ctx.expect(ctx.t.patch(f"/projects/{project['id']}", json={"name": ctx.name("renamed")}), 200, what="PATCH")
    everything, total_all = _audit(ctx, resourceId=project["id"])
    ctx.check(len(everything) >= 3, f"3 mutations of {project['id']} left {len(everything)} audit entries")
    page, total = _audit(ctx, resourceId=project["id"], limit=1)
    ctx.check(len(page) == 1, f"limit=1 returned {len(page)} entries")
    ctx.check(total == len(everything), f"with limit=1, total = {total!r} but {len(everything)} entries match")
    ctx.check(total_all == len(everything), f"with limit=200, total = {total_all!r} but {len(everything)} listed")


@rule("MX-AUDIT-FILTERS", source="spec", title="Audit filters really filter and combine",
      ref="Audit log: `GET /audit-logs` filters combine.")
def audit_filters_combine(ctx: RuleContext) -> None:
    """DOMAIN.md, Audit log: "`GET /audit-logs` filters combine". Spec: `resourceType`, `resourceId`, `action`,
    `actorId` filters."""
    project = ctx.project()
    ctx.expect(ctx.t.patch(f"/projects/{project['id']}", json={"name": ctx.name("renamed")}), 200, what="PATCH")
    entries, _ = _audit(ctx, resourceId=project["id"])
    ctx.check(entries, f"no audit entries for {project['id']}")
    actor = entries[0].get("actor_id")
    checks = [{"resourceId": project["id"], "action": "updated"}, {"resourceType": "project", "action": "created"},
              {"resourceId": project["id"], "actorId": actor}, {"action": "created"}]
    fields = {"resourceId": "resource_id", "resourceType": "resource_type", "action": "action", "actorId": "actor_id"}
    for params in checks:
        found, total = _audit(ctx, **params)
        wrong = [e for e in found if any(e.get(fields[k]) != v for k, v in params.items())]
        if wrong:
            ctx.fail(f"GET /audit-logs?{params} returned non-matching entries, e.g. {dumps(wrong[0])}")
        ctx.check(found, f"GET /audit-logs?{params} returned nothing though {project['id']} has such entries")
    none, total = _audit(ctx, resourceId=project["id"], action="deleted")
    ctx.check(not none and total in (0, None), f"?resourceId=<live project>&action=deleted returned {len(none)} entries")
    for params in ({"resourceId": f"proj_{NO_SUCH}"}, {"actorId": NO_SUCH}, {"resourceType": NO_SUCH},
                   {"action": NO_SUCH}):
        none, total = _audit(ctx, **params)
        ctx.check(not none and total in (0, None), f"GET /audit-logs?{params} names something no entry has, yet "
                                                   f"returned {len(none)} entries (total {total!r})")


@rule("MX-AUDIT-PAGING", source="spec", title="`limit` and `offset` page the audit log; `total` stays the match count",
      ref="Audit log: `GET /audit-logs` filters combine; `total` counts all matches, not just the page. (Spec: "
          "`limit` \"Number of results to return\", `offset` \"Number of results to skip\".)")
def audit_paging_consistent(ctx: RuleContext) -> None:
    """DOMAIN.md, Audit log: "`total` counts all matches, not just the page." Spec: `limit`, `offset` page the
    entries. A project with eight entries is paged by 3: the pages concatenate to the whole with nothing skipped or
    repeated at a boundary, each page says `total` 8, and an offset past the end is empty with `total` still 8."""
    project = ctx.project()
    for _ in range(7):
        ctx.expect(ctx.t.patch(f"/projects/{project['id']}", json={"name": ctx.name("renamed")}), 200, what="PATCH")
    whole, total = _audit(ctx, resourceId=project["id"])
    ids = [e.get("id") for e in whole]
    ctx.check(len(ids) >= 8 and total == len(ids), f"8 mutations of {project['id']} list {len(ids)} entries, "
                                                   f"total {total!r}")
    totals = []

    def page(limit: int, offset: int) -> list[dict[str, Any]]:
        entries, page_total = _audit(ctx, resourceId=project["id"], limit=limit, offset=offset)
        totals.append(page_total)
        return entries

    paged = _pages(ctx, page, 3, len(ids))
    ctx.check(paged == ids, f"pages of 3 do not concatenate to the whole: {_first_difference(paged, ids)}")
    ctx.check(set(totals) == {len(ids)}, f"pages of 3 say total {sorted(set(map(str, totals)))}; "
                                         f"{len(ids)} entries match")
    for offset in (len(ids), len(ids) + 50):
        beyond, beyond_total = _audit(ctx, resourceId=project["id"], limit=3, offset=offset)
        ctx.check(not beyond, f"offset {offset} (past the end of {len(ids)}) returned {len(beyond)} entries")
        ctx.check(beyond_total == len(ids), f"offset {offset} (past the end) says total {beyond_total!r}; "
                                            f"{len(ids)} entries match")


# ── analytics, traces, simulations ──────────────────────────────────────────


def _sum_counts(items: Any) -> int | None:
    if not isinstance(items, list):
        return None
    return sum(int(i.get("request_count") or 0) for i in items if isinstance(i, dict))


def iso_ms(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


EMPTY_WINDOW = ("2001-01-01T00:00:00Z", "2001-01-02T00:00:00Z")  # long before any traffic of this API


def _window_with_traffic(logs: list[dict[str, Any]]) -> tuple[datetime, datetime, list[dict[str, Any]]] | None:
    """A window (start, end] holding some of the logs and, when they span time, not all: from the middle of a gap of
    at least two seconds near the median (else an hour before the oldest) to an hour after the newest. None without
    timestamps."""
    stamped = [(read_timestamp(log.get("timestamp")), log) for log in logs]
    stamped = sorted(((m, log) for m, log in stamped if m is not None and m.tzinfo is not None),
                     key=lambda pair: pair[0])
    if not stamped:
        return None
    moments = [m for m, _ in stamped]
    middle = len(moments) // 2
    gaps = sorted(range(len(moments) - 1), key=lambda i: abs(i - middle))
    gap = next((i for i in gaps if moments[i + 1] - moments[i] >= timedelta(seconds=2)), None)
    start = moments[gap] + (moments[gap + 1] - moments[gap]) / 2 if gap is not None else moments[0] - timedelta(hours=1)
    end = moments[-1] + timedelta(hours=1)
    return start, end, [log for m, log in stamped if start < m <= end]


@rule("MX-ANALYTICS-SUMS", source="docs", title="Analytics add up: breakdowns sum to the totals, totals count the logs",
      ref="Logs, analytics: Analytics and the decision summary are computed from the same logs, so the numbers agree: "
          "`total_requests` = Σ `by_provider.request_count` = Σ `by_model.request_count` = "
          "Σ `time_series.request_count`; `error_rate` = errors / total.", needs=("logs",))
def analytics_breakdowns_sum(ctx: RuleContext) -> None:
    """DOMAIN.md, Logs, analytics, decisions: "Analytics and the decision summary are computed from the same logs,
    so the numbers agree: `total_requests` = Σ `by_provider.request_count` = Σ `by_model.request_count` =
    Σ `time_series.request_count`; `error_rate` = errors / total."

    Besides the sums: a window holding part of the logs counts exactly those logs (all of them, and a project's);
    a window long before any traffic and a project without logs count 0 — a target ignoring the window or the
    project, or answering fixed numbers, fails."""
    logs = ctx.logs_or_skip()
    variants: list[dict[str, Any]] = [{}, {"bucket": "hour"}, {"projectId": logs[0]["project_id"]}]
    for params in variants:
        _analytics_adds_up(ctx, params)
    fresh = ctx.project()
    for params in ({"startTime": EMPTY_WINDOW[0], "endTime": EMPTY_WINDOW[1]}, {"projectId": fresh["id"]}):
        report = _analytics_adds_up(ctx, params)
        ctx.check(report.get("total_requests") == 0, f"GET /analytics?{params} has no traffic to count, yet "
                                                     f"total_requests = {report.get('total_requests')!r}")
    for _ in range(3):
        everything = _all_logs(ctx)
        if everything is None:
            return  # too many logs to count them one by one: the sums above are what can be judged
        window = _window_with_traffic(everything)
        if window is None:
            ctx.fail(f"no log carries an ISO 8601 timestamp: {dumps(everything[0])}")
        start, end, inside = window
        span = {"startTime": iso_ms(start), "endTime": iso_ms(end)}
        project = inside[0]["project_id"] if inside else logs[0]["project_id"]
        cases = [(span, len(inside)),
                 ({**span, "projectId": project}, sum(1 for log in inside if log["project_id"] == project))]
        totals = [_analytics_adds_up(ctx, params).get("total_requests") for params, _ in cases]
        if len(_all_logs(ctx) or []) != len(everything):
            continue  # traffic arrived meanwhile: count again
        for (params, want), got in zip(cases, totals):
            ctx.check(got == want, f"GET /analytics?{params}: total_requests = {got!r}, but {want} logs fall in that "
                                   f"window (of {len(everything)})")
        return
    ctx.skip("the logs kept changing while they were counted")


def _analytics_adds_up(ctx: RuleContext, params: dict[str, Any]) -> dict[str, Any]:
    report = ctx.expect_data(ctx.t.get("/analytics", params=params), 200, what=f"GET /analytics?{params}")
    total = report.get("total_requests")
    ctx.check(isinstance(total, int), f"GET /analytics?{params}: total_requests is {total!r}")
    for part in ("by_provider", "by_model", "time_series"):
        summed = _sum_counts(report.get(part))
        ctx.check(summed is None or summed == total,
                  f"GET /analytics?{params}: Σ {part}.request_count = {summed} but total_requests = {total}")
    errors = report.get("error_count")
    if errors is None and isinstance(report.get("time_series"), list):
        errors = sum(int(b.get("error_count") or 0) for b in report["time_series"] if isinstance(b, dict))
    rate = report.get("error_rate")
    if total and errors is not None and isinstance(rate, (int, float)):
        ctx.check(abs(rate - errors / total) < 1e-4,
                  f"GET /analytics?{params}: error_rate = {rate} but errors/total = {errors}/{total}")
    return report


@rule("MX-TRACE-MATCHES-LOG", source="docs", title="A log's decision trace selects the model the log used",
      ref="Dry-run, replay, decision traces: `GET /logs/{id}/trace` agrees with the log (`selected_model` = "
          "`model_used`).", needs=("logs",))
def trace_agrees_with_log(ctx: RuleContext) -> None:
    """DOMAIN.md, Dry-run, replay, decision traces: "`GET /logs/{id}/trace` agrees with the log (`selected_model`
    = `model_used`)." The logs checked must have used at least two models — else a trace that ignores its log
    would agree by chance: SKIP — and the trace of a log that does not exist is a 404."""
    logs = [log for log in ctx.logs_or_skip() if log.get("model_used")]
    ctx.expect_error(ctx.t.get(f"/logs/log_{NO_SUCH}/trace"), 404, what="GET /logs/{id}/trace of a log that does "
                                                                        "not exist")
    routed = [log for log in logs if log.get("routing_config_name")][:5]
    direct = [log for log in logs if not log.get("routing_config_name")][:5]
    checked = set()
    for log in routed + direct:
        reply = ctx.t.get(f"/logs/{log['id']}/trace")
        if reply.status == 404:
            continue  # deleted meanwhile
        trace = ctx.expect_data(reply, 200, what="GET /logs/{id}/trace")
        ctx.check(isinstance(trace, dict) and trace.get("selected_model") == log["model_used"],
                  f"trace of {log['id']} selects {(trace or {}).get('selected_model')!r} but the log used "
                  f"{log['model_used']!r}")
        checked.add(log["model_used"])
    if len(checked) < 2:
        ctx.skip(f"the logs checked all used {sorted(checked) or 'no'} model(s): a trace that ignores its log would "
                 "agree as well")


def _selected_model(data: Any) -> Any:
    """The model a dry-run or replay answer selected (top level, or in its `trace`)."""
    if not isinstance(data, dict):
        return None
    return data.get("selected_model") or (data.get("trace") or {}).get("selected_model")


REPLAY_MODELS = ("mistral-large-latest", "gemini-2.0-flash", "gpt-4.1-mini")  # two of them differ from the log's


def _replay_cases(log: dict[str, Any], refs: dict[str, str]) -> list[tuple[str, str, dict[str, Any], str]]:
    """(what, policy, config, the model the replay must select) for a log: every documented policy, each naming
    models the log did not use, so a replay that answers the logged decision fails."""
    m, n = [model for model in REPLAY_MODELS if model != log.get("model_used")][:2]
    cases = [
        ("single", "single", {"model": m}, m),
        ("fallback, nothing failing: the first attempt", "fallback",
         {"attempts": [{"model": n, "timeout_ms": 5000}, {"model": m, "timeout_ms": 5000}]}, n),
        ("cost_optimized over one allowed model", "cost_optimized", {"quality_tier": "low", "allowed_models": [m]}, m),
        ("latency_optimized over one allowed model", "latency_optimized", {"allowed_models": [n]}, n),
        ("round_robin over one model", "round_robin", {"models": [m]}, m),
        ("ensemble of one member", "ensemble", {"members": [{"model": n, "weight": 1}]}, n),
        ("ab_test with one variant", "ab_test", {"variants": [{"weight": 100, "config": refs["@m"]}]}, m),
    ]
    tags = log.get("tags") if isinstance(log.get("tags"), dict) else {}
    key, value = next(((k, v) for k, v in tags.items() if isinstance(v, str) and "'" not in v
                       and k.replace("_", "").replace("-", "").isalnum()), (None, None))
    if key is not None:
        rules = [{"if": f"tags.{key} == '{value}'", "then": refs["@m"]}, {"else": refs["@n"]}]
        cases.append((f"custom_rules on the log's tag {key}={value}", "custom_rules", {"rules": rules}, m))
        rules = [{"if": f"tags.{key} == 'mx-no-such-value'", "then": refs["@m"]}, {"else": refs["@n"]}]
        cases.append((f"custom_rules on a value the log's tag {key} does not have", "custom_rules", {"rules": rules}, n))
    return cases


@rule("MX-REPLAY-CURRENT-CONFIG", source="docs", title="Replaying a log routes it through its config as it is now, "
      "whatever the policy",
      ref="Dry-run, replay, decision traces: `POST /logs/{id}/replay` routes the logged request through the "
          "project's *current* config. Policies (docs): single, fallback, cost_optimized, latency_optimized, "
          "ensemble, ab_test, custom_rules (and round_robin, spec).", needs=("logs",),
      not_in_staging="it edits a routing config the run did not create")
def replay_follows_current_config(ctx: RuleContext) -> None:
    """DOMAIN.md, Dry-run, replay, decision traces: "`POST /logs/{id}/replay` routes the logged request through the
    project's *current* config." Spec, replay: "replays it through the current routing config as a dry-run".

    The routing config a log names is switched to each documented policy in turn, in a form whose answer follows
    from the docs and names a model the log did not use (`ab_test` and `custom_rules` route to two `single` configs
    made for the purpose; `custom_rules` matches the log's own tag, then a value it does not have); the log is
    replayed after each switch and must select that model. The config's policy and config are then put back as
    they were (that adds versions). Not run in staging mode: it edits a config the run did not create.
    """
    named = [log for log in ctx.logs_or_skip() if log.get("routing_config_name")]
    if not named:
        ctx.skip("no request log names a routing config")
    for log in named[:20]:
        configs = ctx.expect_data(ctx.t.get("/routing-configs", params={"projectId": log["project_id"]}), 200,
                                  what="GET /routing-configs?projectId=…")
        config = next((c for c in configs or [] if c.get("name") == log["routing_config_name"]), None)
        if config is not None:
            break
    else:
        ctx.skip("no routing config named by a recent log still exists")
    m, n = [model for model in REPLAY_MODELS if model != log.get("model_used")][:2]
    refs = {"@m": "@" + ctx.routing_config(log["project_id"], "single", {"model": m}, name=ctx.name("m"))["name"],
            "@n": "@" + ctx.routing_config(log["project_id"], "single", {"model": n}, name=ctx.name("n"))["name"]}
    original = {"policy": config["policy"], "config": config["config"]}
    try:
        for what, policy, settings, expected in _replay_cases(log, refs):
            ctx.expect(ctx.t.patch(f"/routing-configs/{config['id']}", json={"policy": policy, "config": settings}),
                       200, what=f"PATCH /routing-configs/{{id}} to {policy} {dumps(settings)}")
            reply = ctx.t.post(f"/logs/{log['id']}/replay")
            if reply.status == 502:
                ctx.skip("the target's routing proxy is unreachable (replay answered 502)")
            data = ctx.expect_data(reply, 200, what=f"POST /logs/{{id}}/replay through {what}")
            ctx.check(_selected_model(data) == expected,
                      f"log {log['id']} names config {config['name']!r}, now {what} ({policy} {dumps(settings)}), "
                      f"yet its replay selected {_selected_model(data)!r}; expected {expected!r} (the log used "
                      f"{log.get('model_used')!r})")
    finally:
        ctx.expect(ctx.t.patch(f"/routing-configs/{config['id']}", json=original), 200,
                   what="PATCH /routing-configs/{id} back to its policy and config")


def _project_with_logs(ctx: RuleContext) -> str:
    logs = ctx.logs_or_skip()
    counts: dict[str, int] = {}
    for log in logs:
        counts[log["project_id"]] = counts.get(log["project_id"], 0) + 1
    for project_id, _ in sorted(counts.items(), key=lambda item: -item[1]):
        if ctx.t.get(f"/projects/{project_id}").ok:
            return project_id
    ctx.skip("no existing project has logs")


def _simulation_body(ctx: RuleContext, project_id: str, **extra: Any) -> dict[str, Any]:
    return {"name": ctx.name("sim"), "project_id": project_id, "candidate_policy": POLICY_B[0],
            "candidate_config": POLICY_B[1], "window_start": iso_now(-timedelta(days=7)),
            "window_end": iso_now(timedelta(minutes=1)), **extra}


def _wait_simulation(ctx: RuleContext, sim_id: str) -> dict[str, Any]:
    seen: list[str] = []

    def probe():
        data = ctx.expect_data(ctx.t.get(f"/simulations/{sim_id}"), 200, what="GET /simulations/{id}")
        if data.get("status") not in seen:
            seen.append(data.get("status"))
        return data if data.get("status") in ("completed", "failed", "cancelled") else None

    done = ctx.t.wait_until(probe, timeout=ctx.wait(60) * (5 if ctx.remote else 1), interval=0.2)
    ctx.check(done, f"simulation {sim_id} did not finish in time (statuses seen: {seen})")
    ctx.data["statuses"] = seen
    return done


@rule("MX-ESTIMATE-MATCHES-SIM", source="docs", title="The estimate and a simulation count the project's logs of "
      "the window", ref="Simulations: `request_count` = logs of the project in the window (and filter); "
                        "`GET /simulations/estimate` gives the same number for the same window.",
      needs=("logs",), not_in_staging=SIMULATION_LEFT)
def estimate_matches_simulation(ctx: RuleContext) -> None:
    """DOMAIN.md, Simulations: "`request_count` = logs of the project in the window (and filter); `GET
    /simulations/estimate` gives the same number for the same window."

    The window holds part of the project's logs (from a gap between two of them to after the newest), so a target
    ignoring it counts too many; a window long before any traffic must estimate 0."""
    project_id = _project_with_logs(ctx)
    empty = {"projectId": project_id, "from": EMPTY_WINDOW[0], "to": EMPTY_WINDOW[1]}
    nothing = ctx.expect_data(ctx.t.get("/simulations/estimate", params=empty), 200, what="GET estimate")
    ctx.check(nothing.get("request_count") == 0, f"the estimate for {empty}, long before any traffic, is "
                                                 f"{nothing.get('request_count')!r}")
    for _ in range(3):
        logs = _all_logs(ctx, projectId=project_id)
        window = _window_with_traffic(logs or [])
        if window is None:
            ctx.skip(f"the logs of project {project_id} cannot be counted (too many, or without timestamps)")
        start, end, inside = window
        body = _simulation_body(ctx, project_id, window_start=iso_ms(start), window_end=iso_ms(end))
        span = {"projectId": project_id, "from": body["window_start"], "to": body["window_end"]}
        before = ctx.expect_data(ctx.t.get("/simulations/estimate", params=span), 200, what="GET estimate")
        sim = ctx.expect_data(ctx.t.post("/simulations", json=body), 201, what="POST /simulations")
        after = ctx.expect_data(ctx.t.get("/simulations/estimate", params=span), 200, what="GET estimate")
        ctx.t.post(f"/simulations/{sim['id']}/cancel")
        if before.get("request_count") != after.get("request_count") or len(_all_logs(ctx, projectId=project_id)
                                                                              or []) != len(logs or []):
            continue  # traffic changed meanwhile
        ctx.check(before.get("request_count") == len(inside),
                  f"the estimate for {span} is {before.get('request_count')!r}, but {len(inside)} of the project's "
                  f"{len(logs or [])} logs fall in that window")
        ctx.check(sim.get("request_count") == before["request_count"],
                  f"the estimate for {span} is {before.get('request_count')!r} but the simulation over the same "
                  f"window covers {sim.get('request_count')!r} requests")
        return
    ctx.skip("the project's traffic kept changing")


@rule("MX-SIM-WINDOW-400", source="docs", title="A simulation window that runs backwards is rejected with 400",
      ref="Simulations: Create validates the window (start < end) and the candidate config (400).")
def simulation_window_validated(ctx: RuleContext) -> None:
    """DOMAIN.md, Simulations: "Create validates the window (start < end) and the candidate config (400).\""""
    project = ctx.project()
    body = _simulation_body(ctx, project["id"], window_start=iso_now(), window_end=iso_now(-timedelta(days=2)))
    ctx.expect_error(ctx.t.post("/simulations", json=body), 400, what="a simulation whose window ends before it starts")
    body = _simulation_body(ctx, project["id"], candidate_policy="single", candidate_config={})
    ctx.expect_error(ctx.t.post("/simulations", json=body), 400, what="a simulation with an invalid candidate config")


@rule("MX-SIM-LIFECYCLE", source="docs", title="Simulations run pending → running → completed and cover every request",
      ref="Simulations: Lifecycle `pending → running → completed` (or `failed`), `processed_count` climbing to "
          "`request_count`; summaries for baseline and candidate; `results` per request.",
      needs=("logs",), not_in_staging=SIMULATION_LEFT)
def simulation_lifecycle(ctx: RuleContext) -> None:
    """DOMAIN.md, Simulations: "Lifecycle `pending → running → completed` (or `failed`), `processed_count` climbing
    to `request_count`; summaries (…) for baseline and candidate; `results` per request with both decisions and a
    diff.\""""
    project_id = _project_with_logs(ctx)
    sim = ctx.expect_data(ctx.t.post("/simulations", json=_simulation_body(ctx, project_id)), 201,
                          what="POST /simulations")
    ctx.check(sim.get("status") in ("pending", "running", "completed"), f"a new simulation is {sim.get('status')!r}")
    done = _wait_simulation(ctx, sim["id"])
    ctx.check(done["status"] == "completed", f"simulation ended {done['status']!r}: {dumps(done)}")
    statuses = ctx.data["statuses"]
    order = ["pending", "running", "completed"]
    ctx.check(all(s in order for s in statuses) and statuses == sorted(statuses, key=order.index),
              f"statuses went {statuses}; the lifecycle is pending → running → completed")
    ctx.check(done.get("processed_count") == done.get("request_count"),
              f"completed with processed_count {done.get('processed_count')} of {done.get('request_count')}")
    ctx.check(done.get("baseline_summary") and done.get("candidate_summary"), "a completed simulation lacks summaries")
    results = ctx.expect_data(ctx.t.get(f"/simulations/{sim['id']}/results"), 200, what="GET …/results")
    ctx.check(isinstance(results, list) and len(results) == done.get("request_count"),
              f"{len(results) if isinstance(results, list) else results!r} results for "
              f"{done.get('request_count')} requests")


@rule("MX-SIM-PROMOTE", source="docs", title="Promoting a completed simulation adds a version to its baseline, audited",
      ref="Simulations: `promote` of a completed one applies the candidate to the baseline/production config as a "
          "new version, and is audited.", needs=("logs",), not_in_staging=SIMULATION_LEFT)
def promote_adds_version(ctx: RuleContext) -> None:
    """DOMAIN.md, Simulations: "`promote` of a completed one applies the candidate to the baseline/production
    config as a new version, and is audited.\""""
    project_id = _project_with_logs(ctx)
    baseline = ctx.routing_config(project_id, *POLICY_A)
    sim = ctx.expect_data(ctx.t.post("/simulations", json=_simulation_body(ctx, project_id,
                                                                           baseline_config_id=baseline["id"])),
                          201, what="POST /simulations with a baseline")
    done = _wait_simulation(ctx, sim["id"])
    ctx.check(done["status"] == "completed", f"simulation ended {done['status']!r}")
    ctx.expect(ctx.t.post(f"/simulations/{sim['id']}/promote"), 200, what="POST …/promote")
    config = ctx.expect_data(ctx.t.get(f"/routing-configs/{baseline['id']}"), 200, what="GET baseline config")
    ctx.check(config.get("version") == 2 and (config.get("policy"), config.get("config")) == POLICY_B,
              f"after promotion the baseline is version {config.get('version')} "
              f"{config.get('policy')}/{dumps(config.get('config'))}; expected version 2 with the candidate")
    versions = _versions(ctx, baseline["id"])
    ctx.check(len(versions) == 2, f"the baseline has {len(versions)} versions after promotion")
    audited = [e for rid in (sim["id"], baseline["id"]) for e in _audit(ctx, resourceId=rid)[0]
               if e.get("action") in ("promoted", "updated")]
    ctx.check(audited, "the promotion left no audit entry on the simulation or the config")


# ── budgets ─────────────────────────────────────────────────────────────────


@rule("MX-BUDGET-RESET", source="spec", title="Resetting a budget records a `reset` event (and is audited)",
      ref="Budgets: Events: `soft_cap_reached`, `hard_cap_triggered`, `reset` (spec examples). `reset` zeroes the "
          "spend and records a `reset` event.")
def budget_reset_recorded(ctx: RuleContext) -> None:
    """DOMAIN.md, Budgets: "Events: `soft_cap_reached`, `hard_cap_triggered`, `reset` (spec examples). `reset`
    zeroes the spend and records a `reset` event." Spec, listBudgetEvents: "(soft cap warnings, hard cap triggers,
    resets)"."""
    project = ctx.project()
    budget = ctx.project_budget(project["id"], "monthly", "25.00", what="POST /budgets")
    ctx.expect(ctx.t.post(f"/budgets/{budget['id']}/reset"), 200, what="POST /budgets/{id}/reset")
    events = ctx.expect_data(ctx.t.get(f"/budgets/{budget['id']}/events"), 200, what="GET …/events")
    ctx.check(any(isinstance(e, dict) and e.get("event_type") == "reset" for e in events),
              f"no `reset` event after a reset: {[e.get('event_type') for e in events]}")
    entries, _ = _audit(ctx, resourceId=budget["id"])
    ctx.check(any(e.get("action") == "reset" for e in entries),
              f"the reset is not audited (actions: {[e.get('action') for e in entries]})")


@rule("MX-BUDGET-EVENTS-LIMIT", source="spec", title="`limit` bounds a budget's event list to its first events",
      ref="Budgets: Events: `soft_cap_reached`, `hard_cap_triggered`, `reset`. (Spec, listBudgetEvents: `limit` "
          "\"Number of events to return\", default 50.)")
def budget_events_limit(ctx: RuleContext) -> None:
    """Spec, listBudgetEvents: `limit` — "Number of events to return" (default 50); DOMAIN.md, Budgets: "`reset`
    zeroes the spend and records a `reset` event." Three resets make three events; `limit` 1 and 2 return that many,
    the first of the whole list."""
    project = ctx.project()
    budget = ctx.project_budget(project["id"], "monthly", "25.00", what="POST /budgets")
    for _ in range(3):
        ctx.expect(ctx.t.post(f"/budgets/{budget['id']}/reset"), 200, what="POST /budgets/{id}/reset")
    whole = ctx.expect_data(ctx.t.get(f"/budgets/{budget['id']}/events"), 200, what="GET …/events")
    ids = [e.get("id") for e in whole if isinstance(e, dict)]
    ctx.check(len(ids) >= 3, f"three resets left {len(ids)} events")
    for limit in (1, 2):
        page = ctx.expect_data(ctx.t.get(f"/budgets/{budget['id']}/events", params={"limit": limit}), 200,
                               what=f"GET …/events?limit={limit}")
        ctx.check([e.get("id") for e in page] == ids[:limit],
                  f"GET …/events?limit={limit} returned {[e.get('id') for e in page]}, not the first {limit} of "
                  f"{ids}")


@rule("MX-BUDGET-ALERTS", source="spec", title="Budget alerts are listed once created and gone once deleted by body id",
      ref="Budgets: Alerts: thresholds with email/webhook channel. (Spec: `DELETE /budgets/{id}/alerts` names the "
          "alert by `alertId` in its body.)")
def budget_alert_lifecycle(ctx: RuleContext) -> None:
    """DOMAIN.md, Budgets: "Alerts: thresholds with email/webhook channel". Spec: `POST /budgets/{id}/alerts`
    creates one; `DELETE /budgets/{id}/alerts {alertId}` deletes it (the alert id is in the body)."""
    project = ctx.project()
    budget = ctx.project_budget(project["id"], "monthly", "30.00", what="POST /budgets")
    bid = budget["id"]
    alerts = [ctx.expect_data(ctx.t.post(f"/budgets/{bid}/alerts", json={"threshold_pct": pct, "channel": "webhook",
                                                                         "destination": ctx.webhook_url()}),
                              201, what="POST /budgets/{id}/alerts") for pct in (50, 90)]
    listed = ctx.expect_data(ctx.t.get(f"/budgets/{bid}/alerts"), 200, what="GET /budgets/{id}/alerts")
    ids = {a.get("id") for a in listed}
    ctx.check({a["id"] for a in alerts} <= ids, f"created alerts {[a['id'] for a in alerts]} are not all listed: "
                                                f"{sorted(map(str, ids))}")
    answer = ctx.expect_data(ctx.t.delete(f"/budgets/{bid}/alerts", json={"alertId": alerts[0]["id"]}), 200,
                             what="DELETE /budgets/{id}/alerts {alertId}")
    ctx.check(isinstance(answer, dict) and answer.get("id") == alerts[0]["id"] and answer.get("deleted") is True,
              f"deleting alert {alerts[0]['id']} answered {dumps(answer)}")
    ids = {a.get("id") for a in ctx.expect_data(ctx.t.get(f"/budgets/{bid}/alerts"), 200)}
    ctx.check(alerts[0]["id"] not in ids and alerts[1]["id"] in ids,
              f"after deleting {alerts[0]['id']} the alerts listed are {sorted(map(str, ids))}")
    ctx.expect_error(ctx.t.delete(f"/budgets/{bid}/alerts", json={"alertId": alerts[0]["id"]}), 404,
                     what="deleting the same alert again")


@rule("MX-BUDGET-SOFT-CAP-DEFAULT", source="docs", title="`soft_cap_pct` defaults to 80",
      ref="Budgets: `soft_cap_pct` default 80 (docs).")
def budget_soft_cap_default(ctx: RuleContext) -> None:
    """DOMAIN.md, Budgets: "`soft_cap_pct` default 80 (docs).\""""
    project = ctx.project()
    budget = ctx.project_budget(project["id"], "weekly", "40.00", what="POST /budgets")
    ctx.check(budget.get("soft_cap_pct") == 80, f"a budget created without soft_cap_pct has {budget.get('soft_cap_pct')!r}")


@rule("MX-BUDGET-THRESHOLD-WEBHOOK", source="ours",
      title="A budget alert the spend has already passed is announced by `budget.threshold_reached`",
      ref="Budgets: Alerts: thresholds with email/webhook channel; crossing one emits `budget.threshold_reached` to "
          "webhooks. Ours: thresholds are evaluated when a budget or alert is created, not only on new traffic.",
      needs=("receiver", "logs"),
      not_in_staging="a budget on a project the run did not create could act on that project's traffic")
def passed_threshold_announced(ctx: RuleContext) -> None:
    """DOMAIN.md, Budgets: "Alerts: thresholds with email/webhook channel; crossing one emits
    `budget.threshold_reached` to webhooks." spec/DECISIONS.md: thresholds are evaluated whenever a budget or an
    alert is created or changed, so a threshold the period's spend has already passed is announced at once.

    The management API cannot create spend, so the rule uses a project whose logs cost something this month: a
    monthly budget of 1,000,000 USD (no cap is near) gets a 0 % webhook alert, which its spend has passed. The
    announcement may come through an endpoint subscribed to the event or the alert's own destination; both point at
    the same receiver channel. Not run in staging mode: a budget on a live project could act on its traffic.
    """
    if ctx.receiver is None or getattr(ctx.receiver, "unreachable", None):
        ctx.skip(getattr(ctx.receiver, "unreachable", None) or "no webhook receiver in this run")
    project_id = _project_with_logs(ctx)
    month = datetime.now(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    spent = [log for log in ctx.logs(projectId=project_id)
             if (read_timestamp(log.get("timestamp")) or month) > month and float(log.get("cost_usd") or 0) > 0]
    if not spent:
        ctx.skip(f"project {project_id} has no spend this month, so no threshold can have been passed")
    _, channel = _channel_hook(ctx, project_id, "budget", "budget.threshold_reached")
    budget = ctx.project_budget(project_id, "monthly", "1000000.00")
    ctx.expect_data(ctx.t.post(f"/budgets/{budget['id']}/alerts", json={"threshold_pct": 0, "channel": "webhook",
                                                                          "destination": channel.url}),
                    201, what="POST /budgets/{id}/alerts")

    def announced(received: list) -> bool:
        for got in received:
            try:
                event = json.loads(got.body)
            except ValueError:
                continue
            if (isinstance(event, dict) and event.get("type") == "budget.threshold_reached"
                    and isinstance(event.get("data"), dict) and event["data"].get("budget_id") == budget["id"]):
                return True
        return False

    found = channel.wait_for(announced, ctx.wait(10))
    ctx.check(found, f"budget {budget['id']} (monthly, {len(spent)} logs with cost this month in project "
                     f"{project_id}) got a 0 % webhook alert, but no `budget.threshold_reached` naming it arrived "
                     f"within {ctx.wait(10):.0f}s ({len(channel.snapshot())} other deliveries)")


# ── webhooks, end to end ────────────────────────────────────────────────────


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _channel_hook(ctx: RuleContext, project_id: str, label: str, event_type: str) -> tuple[dict[str, Any], Any]:
    """A project-scoped endpoint subscribed to `event_type`, on a fresh receiver channel: (creation answer, channel)."""
    channel = ctx.receiver.channel(label)
    body = {"name": ctx.name(label), "url": channel.url, "event_types": [event_type], "project_id": project_id}
    data = ctx.expect_data(ctx.t.post("/webhooks/endpoints", json=body), 201, what="setup: POST /webhooks/endpoints")
    return data, channel


def _hook(ctx: RuleContext, label: str) -> tuple[dict[str, Any], str, Any]:
    """A new project's endpoint subscribed to test events only: (endpoint, signing secret, channel)."""
    if ctx.receiver is None:
        ctx.skip("no webhook receiver in this run")
    data, channel = _channel_hook(ctx, ctx.project()["id"], label, "webhook.test")
    return data["endpoint"], data["signingSecret"], channel


def _send_test(ctx: RuleContext, endpoint_id: str) -> dict[str, Any]:
    reply = ctx.t.post(f"/webhooks/endpoints/{endpoint_id}/test")
    return ctx.expect_data(reply, 202, what="POST /webhooks/endpoints/{id}/test")


def _await(ctx: RuleContext, channel, count: int, timeout: float, give_up: Callable[[], str | None] | None = None,
           ) -> list:
    """Wait for `count` deliveries on the channel; `give_up()` may end the wait early with a reason to fail."""
    unreachable = getattr(ctx.receiver, "unreachable", None)
    if unreachable and not channel.snapshot():
        ctx.skip(unreachable)
    deadline = time.monotonic() + timeout
    got = None
    while got is None and time.monotonic() < deadline:
        got = channel.wait_count(count, min(1.0, max(0.0, deadline - time.monotonic())))
        reason = give_up() if got is None and give_up is not None else None
        if reason:
            ctx.fail(reason)
    if got is None:
        have = len(channel.snapshot())
        message = (f"the receiver at {channel.url} got {have} of {count} expected deliveries within {timeout:.0f}s")
        if ctx.remote and have == 0:
            ctx.receiver.unreachable = (message + " — the target cannot reach the receiver (set --webhook-host to "
                                                  "an address it can reach)")
            ctx.skip(ctx.receiver.unreachable)
        ctx.fail(message)
    return got


def _deliveries(ctx: RuleContext, endpoint_id: str) -> list[dict[str, Any]]:
    data = ctx.expect_data(ctx.t.get(f"/webhooks/endpoints/{endpoint_id}/deliveries"), 200, what="GET …/deliveries")
    return data if isinstance(data, list) else []


def _wait_delivery(ctx: RuleContext, delivery_id: str, statuses: tuple[str, ...], timeout: float) -> dict | None:
    def probe():
        data = ctx.t.get(f"/webhooks/deliveries/{delivery_id}").data
        return data if isinstance(data, dict) and data.get("status") in statuses else None

    return ctx.t.wait_until(probe, timeout=timeout, interval=0.1)


@rule("MX-WEBHOOK-TEST-EVENT", source="spec", title="`test` answers 202 and delivers a synthetic `webhook.test` event",
      ref="Webhooks: `test` → 202; enqueues a `webhook.test` event with `data.synthetic = true`, same envelope and "
          "signature as real events (spec). Delivery: `POST` of a JSON envelope `{id, type, created_at, data}`.",
      needs=("receiver",))
def test_event_delivered(ctx: RuleContext) -> None:
    """DOMAIN.md, Webhooks: "`test` → 202; enqueues a `webhook.test` event with `data.synthetic = true`, same envelope
    and signature as real events (spec)." and "Delivery is real HTTP: `POST` of a JSON envelope `{id, type,
    created_at, data}`"; "2xx → `delivered`"."""
    endpoint, _, channel = _hook(ctx, "test")
    answer = _send_test(ctx, endpoint["id"])
    got = _await(ctx, channel, 1, ctx.wait(10))
    try:
        event = json.loads(got[0].body)
    except ValueError:
        ctx.fail(f"the delivery body is not JSON: {got[0].body[:200]!r}")
    ctx.check(isinstance(event, dict) and {"id", "type", "created_at", "data"} <= set(event),
              f"the delivery is not the envelope {{id, type, created_at, data}}: {dumps(event)}")
    ctx.check(event["type"] == "webhook.test", f"the test event has type {event['type']!r}")
    ctx.check(isinstance(event["data"], dict) and event["data"].get("synthetic") is True,
              f"the test event lacks data.synthetic = true: {dumps(event['data'])}")
    delivery_id = answer.get("delivery_id") if isinstance(answer, dict) else None
    if not delivery_id:
        listed = _deliveries(ctx, endpoint["id"])
        delivery_id = listed[0].get("id") if listed else None
    ctx.check(delivery_id, "no delivery is recorded for the test event")
    record = _wait_delivery(ctx, delivery_id, ("delivered",), ctx.wait(10))
    ctx.check(record, f"the delivery {delivery_id} never shows `delivered` though the receiver answered 200")
    ctx.check(record.get("response_status") == 200 and (record.get("attempt_count") or 0) >= 1,
              f"delivered record: response_status {record.get('response_status')!r}, "
              f"attempt_count {record.get('attempt_count')!r}")


@rule("MX-WEBHOOK-SIGNATURE", source="docs", title="Deliveries carry `X-Modelux-Signature` = hex HMAC-SHA256 of the body",
      ref="Webhooks: `X-Modelux-Signature: <hex HMAC-SHA256 of the raw body, keyed with the signing secret>` (docs).",
      needs=("receiver",))
def deliveries_are_signed(ctx: RuleContext) -> None:
    """DOMAIN.md, Webhooks: "`X-Modelux-Signature: <hex HMAC-SHA256 of the raw body, keyed with the signing
    secret>` (docs).\""""
    endpoint, secret, channel = _hook(ctx, "sig")
    _send_test(ctx, endpoint["id"])
    got = _await(ctx, channel, 1, ctx.wait(10))
    signature = got[0].header("X-Modelux-Signature")
    ctx.check(signature, "the delivery has no X-Modelux-Signature header")
    ctx.check(hmac.compare_digest(signature.lower(), sign(secret, got[0].body)),
              "X-Modelux-Signature is not the hex HMAC-SHA256 of the raw body keyed with the endpoint's signing "
              f"secret (got {signature[:16]}…)")


@rule("MX-WEBHOOK-ROTATE", source="spec", title="After rotation deliveries are signed with the new secret only",
      ref="Once-only secrets: `rotate` → new `signing_secret` once; the old one stops signing immediately (the spec; "
          "docs mention a 24 h overlap — spec wins).", needs=("receiver",))
def rotation_switches_signing_secret(ctx: RuleContext) -> None:
    """DOMAIN.md, Once-only secrets: "`rotate` → new `signing_secret` once; the old one stops signing immediately
    (the spec; docs mention a 24 h overlap — spec wins)." Spec, rotate: "The old secret stops working
    immediately.\""""
    endpoint, old, channel = _hook(ctx, "rot")
    rotated = ctx.expect_data(ctx.t.post(f"/webhooks/endpoints/{endpoint['id']}/rotate"), 200, what="POST …/rotate")
    new = rotated.get("signing_secret") if isinstance(rotated, dict) else None
    ctx.check(isinstance(new, str) and new and new != old, f"rotation answered {dumps(rotated)}")
    _send_test(ctx, endpoint["id"])
    got = _await(ctx, channel, 1, ctx.wait(10))
    signature = (got[0].header("X-Modelux-Signature") or "").lower()
    ctx.check(not hmac.compare_digest(signature, sign(old, got[0].body)),
              "after rotation the delivery is still signed with the old secret")
    ctx.check(hmac.compare_digest(signature, sign(new, got[0].body)),
              "after rotation the delivery is not signed with the new secret")


@rule("MX-WEBHOOK-RETRY", source="spec", title="A failed delivery is retried (same payload) until it succeeds",
      ref="Webhooks: 2xx → `delivered`; non-2xx, timeout or connection error → retried with exponential backoff; "
          "after the last attempt → `dead`. Record `response_status`, `attempt_count`, `next_attempt_at`.",
      needs=("receiver",))
def failed_delivery_retried(ctx: RuleContext) -> None:
    """DOMAIN.md, Webhooks: "2xx → `delivered`; non-2xx, timeout or connection error → retried with exponential
    backoff; after the last attempt → `dead` (spec enum). Record `response_status`, `response_body` (truncated),
    `attempt_count`, `next_attempt_at`.\""""
    endpoint, _, channel = _hook(ctx, "retry")
    channel.fail_next(1, 500)
    answer = _send_test(ctx, endpoint["id"])
    delivery_id = answer.get("delivery_id") or (_deliveries(ctx, endpoint["id"]) or [{}])[0].get("id")

    def dead_without_retry() -> str | None:
        record = ctx.t.get(f"/webhooks/deliveries/{delivery_id}").data if delivery_id else None
        if isinstance(record, dict) and record.get("status") in ("dead", "delivered") and len(channel.snapshot()) < 2:
            return (f"after one failed attempt the delivery is `{record.get('status')}` "
                    f"(attempt_count {record.get('attempt_count')!r}) and was never retried")
        return None

    got = _await(ctx, channel, 2, ctx.wait(20), give_up=dead_without_retry)
    ctx.check(got[0].body == got[1].body, "the retry does not carry the same payload as the first attempt")
    record = _wait_delivery(ctx, delivery_id, ("delivered",), ctx.wait(10))
    ctx.check(record, "after a failed first attempt and a successful retry the delivery is not `delivered`")
    ctx.check((record.get("attempt_count") or 0) >= 2 and record.get("response_status") == 200,
              f"after one failure and one success: attempt_count {record.get('attempt_count')!r}, "
              f"response_status {record.get('response_status')!r}")


@rule("MX-WEBHOOK-REPLAY", source="spec", title="Replaying a failed delivery resets it and re-sends the same payload",
      ref="Webhooks: `replay` of a failed/dead delivery → attempt count reset to 0, status `pending`, "
          "`next_attempt_at` = now, same payload re-sent (spec + docs).", needs=("receiver",))
def replay_resends_same_payload(ctx: RuleContext) -> None:
    """DOMAIN.md, Webhooks: "`replay` of a failed/dead delivery → attempt count reset to 0, status `pending`,
    `next_attempt_at` = now, same payload re-sent (spec + docs)." Spec: "Resets the attempt count and schedules the
    next attempt immediately.\""""
    endpoint, _, channel = _hook(ctx, "replay")
    channel.fail_next(1000, 500)
    answer = _send_test(ctx, endpoint["id"])
    first = _await(ctx, channel, 1, ctx.wait(10))
    delivery_id = answer.get("delivery_id") or (_deliveries(ctx, endpoint["id"]) or [{}])[0].get("id")
    failed = _wait_delivery(ctx, delivery_id, ("failed", "dead"), ctx.wait(10))
    ctx.check(failed, f"delivery {delivery_id} never shows `failed` or `dead` after the receiver answered 500")
    ctx.check(failed.get("response_status") == 500, f"a failed delivery records response_status "
                                                    f"{failed.get('response_status')!r}; the receiver answered 500")
    channel.accept_all()
    seen = len(channel.snapshot())
    replayed = ctx.expect_data(ctx.t.post(f"/webhooks/deliveries/{delivery_id}/replay"), 200, what="POST …/replay")
    ctx.check(replayed.get("status") == "pending" and replayed.get("attempt_count") == 0,
              f"replay answered status {replayed.get('status')!r}, attempt_count {replayed.get('attempt_count')!r}; "
              "expected pending and 0")
    got = _await(ctx, channel, seen + 1, ctx.wait(10))
    ctx.check(got[seen].body == first[0].body, "the replay does not re-send the same payload")
    record = _wait_delivery(ctx, delivery_id, ("delivered",), ctx.wait(10))
    ctx.check(record, "the replayed delivery never shows `delivered` though the receiver accepted it")


@rule("MX-WEBHOOK-DELETE-STOPS", source="docs", title="A deleted endpoint receives no further events",
      ref="Webhooks: Only active endpoints receive events; deleting an endpoint stops new deliveries.",
      needs=("receiver",))
def deleted_endpoint_gets_nothing(ctx: RuleContext) -> None:
    """DOMAIN.md, Webhooks: "Only active endpoints receive events; deleting an endpoint stops new deliveries."

    Two endpoints of one project subscribe to `routing_config.created`. A first config reaches both (so the
    event really flows to them); then one endpoint is deleted and a second config is created. Once the other
    endpoint has that second event, and for as long again as that delivery took, the deleted one must have
    received nothing more.
    """
    if ctx.receiver is None:
        ctx.skip("no webhook receiver in this run")
    project = ctx.project()
    doomed, doomed_channel = _channel_hook(ctx, project["id"], "deleted", "routing_config.created")
    doomed_id = doomed["endpoint"]["id"]
    _, control = _channel_hook(ctx, project["id"], "control", "routing_config.created")
    ctx.routing_config(project["id"])
    _await(ctx, control, 1, ctx.wait(10))
    _await(ctx, doomed_channel, 1, ctx.wait(10))
    ctx.expect(ctx.t.delete(f"/webhooks/endpoints/{doomed_id}"), 200, 204,
               what="DELETE /webhooks/endpoints/{id}")
    started = time.monotonic()
    second = ctx.routing_config(project["id"])
    _await(ctx, control, 2, ctx.wait(10))
    took = time.monotonic() - started
    # As long again as the live endpoint needed (at least half a second): a late delivery to the deleted one
    # would arrive in that time. The wait ends at once if one does.
    late = doomed_channel.wait_count(2, max(0.5, took))
    ctx.check(late is None, f"the deleted endpoint {doomed_id} still received an event after its deletion "
                            f"(routing config {second.get('id')!r} was created afterwards): "
                            f"{late[-1].body[:200]!r}" if late else "")


def selected(settings: RunSettings) -> list[Rule]:
    """The rules this run judges, in registry order."""
    return [r for r in RULES.values() if settings.wants_rule(r.code)]
