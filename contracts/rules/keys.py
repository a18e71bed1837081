"""Keys and once-only secrets: plaintext keys and signing secrets are shown once, provider keys never; revoking a
proxy key revokes that key only."""

from __future__ import annotations

import uuid

from ..target import Reply, dumps
from .common import contains, listed_as_revoked
from .context import RuleContext
from .core import rule


def _no_secret_anywhere(ctx: RuleContext, secret: str, what: str, replies: list[Reply]) -> None:
    for reply in replies:
        ctx.check(not contains(reply.text, secret), f"{what} appears again in {reply.method} {reply.path}: "
                                                    f"{reply.describe(300)}")


def _plaintext_and_prefix(ctx: RuleContext, created: dict, what: str) -> str:
    """The plaintext `key` of a creation answer, checked to start with its `key_prefix`."""
    key, prefix = ctx.field(created, "key", str, what=f"{what} (the plaintext)"), created.get("key_prefix")
    ctx.check(isinstance(prefix, str) and prefix and key.startswith(prefix),
              f"key_prefix {prefix!r} is not the first characters of the key returned")
    return key


@rule("MX-SECRET-APIKEY-ONCE", source="spec", title="A proxy key's plaintext is returned once; `key_prefix` is its start",
      ref="Once-only secrets: `POST /keys` → plaintext `key` (`mlx_sk_…`) exactly once; `key_prefix` is literally "
          "the first characters of that key. No later response (list, other endpoints) ever contains it.")
def api_key_plaintext_once(ctx: RuleContext) -> None:
    """DOMAIN.md, Once-only secrets: "`POST /keys` → plaintext `key` exactly once; `key_prefix` is literally the
    first characters of that key. No later response (list, other endpoints) ever contains it." Spec, createApiKey:
    "The plaintext key is returned exactly once in the `key` field of the response." """
    project = ctx.project()
    data = ctx.data_object(ctx.t.post("/keys", json={"projectId": project["id"], "name": ctx.name("key")}), 201,
                           what="POST /keys")
    key, key_id = _plaintext_and_prefix(ctx, data, "POST /keys"), ctx.ident(data, "POST /keys")
    listed = ctx.t.get("/keys", params={"projectId": project["id"]})
    items = ctx.data_list(listed, 200, what="GET /keys?projectId=…")
    mine = [k for k in items if k.get("id") == key_id]
    ctx.check(mine, f"the new key {key_id} is not listed under its project")
    ctx.check("key" not in mine[0], f"GET /keys lists the key with its plaintext `key` field: {dumps(mine[0])}")
    _no_secret_anywhere(ctx, key, "the proxy key's plaintext",
                        [listed, ctx.t.get("/keys"), ctx.t.get(f"/projects/{project['id']}"),
                         ctx.t.get("/audit-logs", params={"resourceId": key_id, "limit": 200})])


@rule("MX-APIKEY-REVOKE", source="spec", title="Revoking a proxy key marks that key revoked, and only that one",
      ref="Once-only secrets / keys: `DELETE /keys/{id}` revokes the key (spec: \"Revoke an API key\"); it is then "
          "listed with `revoked_at` set.")
def api_key_revocation_recorded(ctx: RuleContext) -> None:
    """Spec, revokeApiKey: "Revoke an API key"; the ApiKey schema carries `revoked_at`. A revoked key must not be
    listed as live; its sibling in the same project, not revoked, must still be."""
    project = ctx.project()
    key_id, sibling_id = (ctx.ident(ctx.data_object(ctx.t.post("/keys", json={"projectId": project["id"],
                                                                               "name": ctx.name("key")}),
                                                    201, what="POST /keys"), "POST /keys") for _ in range(2))
    ctx.check(key_id != sibling_id, f"two keys created in a row share the id {key_id!r}")
    answer = ctx.data_object(ctx.t.delete(f"/keys/{key_id}"), 200, what="DELETE /keys/{id}")
    ctx.check(answer.get("id") == key_id and answer.get("deleted") is True,
              f"revocation answered {dumps(answer)}; expected {{id: {key_id}, deleted: true}}")
    items = ctx.data_list(ctx.t.get("/keys", params={"projectId": project["id"]}), 200, what="GET /keys")
    listed_as_revoked(ctx, items, key_id)
    other = [k for k in items if k.get("id") == sibling_id]
    ctx.check(other and not other[0].get("revoked_at"),
              f"revoking {key_id} also revoked (or unlisted) its sibling {sibling_id}: {dumps(other)}")


@rule("MX-SECRET-MGMTKEY-ONCE", source="spec", title="A management key's plaintext is returned once",
      ref="Once-only secrets: `POST /management-keys` → plaintext `key` once, same rules.")
def management_key_plaintext_once(ctx: RuleContext) -> None:
    """DOMAIN.md, Once-only secrets: "`POST /management-keys` → plaintext `key` once, same rules." Spec,
    createManagementKey: "The plaintext key is returned exactly once in the `key` field"."""
    data = ctx.management_key()
    key, key_id = _plaintext_and_prefix(ctx, data, "POST /management-keys"), data["id"]
    listed = ctx.t.get("/management-keys")
    items = ctx.data_list(listed, 200, what="GET /management-keys")
    mine = [k for k in items if k.get("id") == key_id]
    ctx.check(mine, f"the new management key {key_id} is not listed")
    ctx.check("key" not in mine[0], f"GET /management-keys lists the plaintext `key`: {dumps(mine[0])}")
    _no_secret_anywhere(ctx, key, "the management key's plaintext",
                        [listed, ctx.t.get("/audit-logs", params={"resourceId": key_id, "limit": 200})])


@rule("MX-SECRET-WEBHOOK-ONCE", source="spec", title="A webhook signing secret is returned once, at creation and rotation",
      ref="Once-only secrets: `POST /webhooks/endpoints` → `signingSecret` once. `rotate` → new `signing_secret` once.")
def webhook_secret_once(ctx: RuleContext) -> None:
    """DOMAIN.md, Once-only secrets: "`POST /webhooks/endpoints` → `signingSecret` once. `rotate` → new
    `signing_secret` once". Spec: "returned exactly once in the response and cannot be retrieved again"."""
    project = ctx.project()
    body = {"name": ctx.name("hook"), "url": ctx.webhook_url(), "event_types": ["webhook.test"],
            "project_id": project["id"]}
    what = "POST /webhooks/endpoints"
    data = ctx.data_object(ctx.t.post("/webhooks/endpoints", json=body), 201, what=what)
    secret = ctx.field(data, "signingSecret", str, what=what)
    eid = ctx.ident(ctx.field(data, "endpoint", dict, what=what), f"{what}: `endpoint`")
    for reply in (ctx.t.get(f"/webhooks/endpoints/{eid}"), ctx.t.get("/webhooks/endpoints"),
                  ctx.t.get("/webhooks/endpoints", params={"projectId": project["id"]})):
        ctx.expect(reply, 200, what=f"{reply.method} {reply.path}")
        ctx.check(not contains(reply.text, secret) and "signingSecret" not in reply.text
                  and "signing_secret" not in reply.text,
                  f"the signing secret is readable again: {reply.describe(300)}")
    rotated = ctx.data_object(ctx.t.post(f"/webhooks/endpoints/{eid}/rotate"), 200, what="POST …/rotate")
    new = rotated.get("signing_secret")
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
    pid = ctx.ident(ctx.data_object(created, 201, what="POST /providers"), "POST /providers")
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
