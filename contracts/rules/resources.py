"""Resources in general: a deleted resource is gone, an unknown id is a 404, what a PATCH changes is what the next
read shows."""

from __future__ import annotations

import uuid
from typing import Any

from ..target import dumps
from .common import POLICY_A, UNKNOWN_ID_READS
from .context import RuleContext, at
from .core import rule


def _provider(ctx: RuleContext) -> dict[str, Any]:
    body = {"provider": "openai", "name": ctx.name("provider"), "apiKey": f"sk-mx-{uuid.uuid4().hex}"}
    provider = ctx.data_object(ctx.t.post("/providers", json=body), 201, what="setup: POST /providers")
    ctx.ident(provider, "setup: POST /providers")
    return provider


@rule("MX-DELETE-THEN-404", source="spec", title="After DELETE a resource is gone: 404 on read and on a second delete",
      ref="Envelopes: `DELETE` answers `{\"data\": {\"id\": ..., \"deleted\": true}}`; unknown id → 404.")
def deleted_resource_is_gone(ctx: RuleContext) -> None:
    """DOMAIN.md, Envelopes, errors, ids: "`DELETE` answers `{"data": {"id": ..., "deleted": true}}`" and "unknown
    or foreign id → 404". A deleted resource is unknown from then on."""
    project = ctx.project()
    provider = _provider(ctx)
    config = ctx.routing_config(project["id"], *POLICY_A)
    budget = ctx.project_budget(project["id"], "monthly", "10.00")
    hook = ctx.project_webhook(project["id"])
    resources = [("/providers", provider["id"], "/providers"), ("/routing-configs", config["id"], "/routing-configs"),
                 ("/budgets", budget["id"], "/budgets"), ("/webhooks/endpoints", hook["id"], "/webhooks/endpoints"),
                 ("/projects", project["id"], "/projects")]
    for base, ident, listing in resources:
        answer = ctx.data_object(ctx.t.delete(f"{base}/{ident}"), 200, what=f"DELETE {base}/{{id}}")
        ctx.check(answer.get("id") == ident and answer.get("deleted") is True,
                  f"DELETE {base}/{ident} answered {dumps(answer)}; expected {{id: {ident}, deleted: true}}")
        ctx.expect_error(ctx.t.get(f"{base}/{ident}"), 404, what=f"GET {base}/{{id}} after DELETE")
        ctx.expect_error(ctx.t.delete(f"{base}/{ident}"), 404, what=f"a second DELETE {base}/{{id}}")
        listed = ctx.data_list(ctx.t.get(listing), 200, what=f"GET {listing}")
        ctx.check(not any(i.get("id") == ident for i in listed),
                  f"GET {listing} still lists the deleted {ident}")


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
    provider = _provider(ctx)
    budget = ctx.project_budget(project["id"], "monthly", "10.00")
    hook = ctx.project_webhook(project["id"])
    changes = [
        (f"/projects/{project['id']}", {"name": ctx.name("renamed"), "logging_mode": "metadata"},
         lambda d: {"name": d.get("name"), "logging_mode": at(d, "settings", "logging_mode")}),
        (f"/providers/{provider['id']}", {"name": ctx.name("renamed")}, lambda d: {"name": d.get("name")}),
        (f"/budgets/{budget['id']}", {"amount_usd": "42.50", "soft_cap_pct": 65, "name": ctx.name("renamed")},
         lambda d: {"amount_usd": d.get("amount_usd"), "soft_cap_pct": d.get("soft_cap_pct"), "name": d.get("name")}),
        (f"/webhooks/endpoints/{hook['id']}", {"name": ctx.name("renamed"), "active": False},
         lambda d: {"name": d.get("name"), "active": d.get("active")}),
    ]
    for path, body, view in changes:
        answered = ctx.data_object(ctx.t.patch(path, json=body), 200, what=f"PATCH {path}")
        ctx.check(view(answered) == body, f"PATCH {path} {dumps(body)} answered {dumps(view(answered))}")
        read = ctx.data_object(ctx.t.get(path), 200, what=f"GET {path} after PATCH")
        ctx.check(view(read) == body, f"after PATCH {path} {dumps(body)}, GET shows {dumps(view(read))}")
