"""Authentication: every operation but one needs a valid management key; keys work at once and stop when revoked."""

from __future__ import annotations

from ..specs import operation_index
from ..target import dumps
from .common import listed_as_revoked
from .context import RuleContext, id_set
from .core import rule

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
    data = ctx.data_list(ctx.t.get("/webhooks/event-types", token=None), 200,
                         what="GET /webhooks/event-types without a key")
    ctx.check(data, f"the registry lists no event types: {dumps(data)}")
    types = id_set(data, "type")
    ctx.check("webhook.test" in types, f"the registry does not list `webhook.test` (spec): {sorted(map(str, types))}")


@rule("MX-KEY-REVOKE-STOPS", source="spec", title="A new management key works at once; revoked, it stops on the next request",
      ref="Authentication: Keys made by `POST /management-keys` work at once; `DELETE /management-keys/{id}` sets "
          "`revoked_at` and the key stops working on the next request.")
def revoked_management_key_stops_working(ctx: RuleContext) -> None:
    """DOMAIN.md, Authentication: "Keys made by `POST /management-keys` work at once; `DELETE
    /management-keys/{id}` sets `revoked_at` and the key stops working on the next request." """
    created = ctx.management_key()
    key, key_id = created["key"], created["id"]
    ctx.expect(ctx.t.get("/projects", token=key), 200, what="GET /projects with the new key (must work at once)")
    revoked = ctx.data_object(ctx.t.delete(f"/management-keys/{key_id}"), 200, what="DELETE /management-keys/{id}")
    ctx.check(revoked.get("id") == key_id, f"revocation answered {dumps(revoked)}, not the revoked key's id")
    ctx.expect_error(ctx.t.get("/projects", token=key), 401, what="GET /projects with the revoked key")
    listed_as_revoked(ctx, ctx.data_list(ctx.t.get("/management-keys"), 200, what="GET /management-keys"), key_id)


@rule("MX-KEY-LAST-USED", source="ours", title="`last_used_at` of a management key moves when it is used",
      ref="Authentication: `last_used_at` moves on use.")
def management_key_last_used_moves(ctx: RuleContext) -> None:
    """DOMAIN.md, Authentication: "`last_used_at` moves on use." (Ours: the spec only has the field.)"""
    created = ctx.management_key()
    key, key_id = created["key"], created["id"]
    ctx.expect(ctx.t.get("/projects", token=key), 200, what="GET /projects with the new key")
    listed = ctx.data_list(ctx.t.get("/management-keys"), 200, what="GET /management-keys")
    mine = [k for k in listed if k.get("id") == key_id]
    ctx.check(mine and mine[0].get("last_used_at"), f"after use, the key shows last_used_at = "
                                                    f"{mine[0].get('last_used_at') if mine else 'not listed'!r}")
