"""Scoping and isolation: `projectId` filters scope the lists, another organization's resources are 404 and never
listed, `?projectId=null` lists only org-wide webhook endpoints."""

from __future__ import annotations

from typing import Any

from ..target import dumps
from .common import POLICY_A, audit
from .context import RuleContext, at, id_set
from .core import rule


def _endpoint(ctx: RuleContext, body: dict[str, Any], what: str) -> dict[str, Any]:
    created = ctx.data_object(ctx.t.post("/webhooks/endpoints", json=body), 201, what=what)
    endpoint = ctx.field(created, "endpoint", dict, what=what)
    ctx.ident(endpoint, f"{what}: `endpoint`")
    return endpoint


@rule("MX-SCOPE-PROJECT-FILTER", source="spec", title="`projectId` filters list only that project's resources",
      ref="Organizations: every resource is scoped; lists take `projectId` (spec: \"Filter by project ID\").")
def project_filters_scope_lists(ctx: RuleContext) -> None:
    """DOMAIN.md, Authentication: "A key belongs to one organization; every resource is scoped to it."; spec: the
    `projectId` query parameter of keys, routing configs, budgets, endpoints and simulations "Filter by project"."""
    a, b = ctx.project(), ctx.project()
    key = ctx.data_object(ctx.t.post("/keys", json={"projectId": a["id"], "name": ctx.name("key")}), 201,
                          what="setup: POST /keys")
    ctx.ident(key, "setup: POST /keys")
    config = ctx.routing_config(a["id"], *POLICY_A)
    budget = ctx.project_budget(a["id"], "daily", "5.00")
    hook = ctx.project_webhook(a["id"])
    owner = {
        "/keys": (key["id"], lambda i: at(i, "project", "id")),
        "/routing-configs": (config["id"], lambda i: i.get("project_id")),
        "/budgets": (budget["id"], lambda i: i.get("scope_id")),
        "/webhooks/endpoints": (hook["id"], lambda i: i.get("project_id")),
    }
    for path, (ident, project_of) in owner.items():
        in_a = ctx.data_list(ctx.t.get(path, params={"projectId": a["id"]}), 200, what=f"GET {path}?projectId=A")
        ctx.check(any(i.get("id") == ident for i in in_a), f"GET {path}?projectId=A does not list {ident}")
        strays = [i for i in in_a if project_of(i) not in (a["id"], None) or (path != "/webhooks/endpoints"
                                                                           and project_of(i) is None)]
        ctx.check(not strays, f"GET {path}?projectId=A lists other projects' resources: {dumps(strays[:2])}")
        in_b = ctx.data_list(ctx.t.get(path, params={"projectId": b["id"]}), 200, what=f"GET {path}?projectId=B")
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
    entries, _ = audit(ctx, resourceId=project["id"])
    probes = [("GET", f"/projects/{project['id']}", None), ("PATCH", f"/projects/{project['id']}", {"name": "x"}),
              ("GET", f"/routing-configs/{config['id']}", None), ("GET", f"/routing-configs/{config['id']}/versions",
                                                                  None),
              ("POST", f"/routing-configs/{config['id']}/restore", {"version": 1}),
              ("DELETE", f"/routing-configs/{config['id']}", None), ("DELETE", f"/projects/{project['id']}", None)]
    if entries:
        probes.append(("GET", f"/audit-logs/{ctx.ident(entries[0], 'GET /audit-logs: an entry')}", None))
    for method, path, body in probes:
        ctx.expect_error(ctx.t.request(method, path, json=body, token=other, guard=False), 404,
                         what=f"{method} {path} with another organization's key")
    for path in ("/projects", "/routing-configs", f"/routing-configs?projectId={project['id']}"):
        listed = ctx.t.get(path, token=other)
        ctx.expect(listed, 200, what=f"GET {path} with another organization's key")
        ctx.check(project["id"] not in listed.text and config["id"] not in listed.text,
                  f"GET {path} with another organization's key lists this organization's resources")
    current = ctx.data_object(ctx.t.get(f"/routing-configs/{config['id']}"), 200, what="GET config (own key)")
    ctx.check(current.get("version") == 1, "another organization's requests changed this organization's config")


@rule("MX-WEBHOOK-PROJECT-NULL", source="spec", title="`?projectId=null` lists only org-wide webhook endpoints",
      ref="Webhooks: Endpoints are org-wide (`project_id: null`) or project-scoped; `GET ?projectId=null` lists "
          "only org-wide ones (spec).")
def webhook_listing_null_project(ctx: RuleContext) -> None:
    """DOMAIN.md, Webhooks: "Endpoints are org-wide (`project_id: null`) or project-scoped; `GET ?projectId=null`
    lists only org-wide ones (spec)." Spec: "Pass "null" for org-scoped endpoints only.\""""
    project = ctx.project()
    base = {"url": ctx.webhook_url(), "event_types": ["webhook.test"]}
    org_wide, scoped = (_endpoint(ctx, body, what) for body, what in (
        ({**base, "name": ctx.name("org")}, "setup: org-wide endpoint"),
        ({**base, "name": ctx.name("proj"), "project_id": project["id"]}, "setup: project endpoint")))
    listed = ctx.data_list(ctx.t.get("/webhooks/endpoints", params={"projectId": "null"}), 200,
                           what="GET /webhooks/endpoints?projectId=null")
    ids = id_set(listed)
    ctx.check(org_wide["id"] in ids, "?projectId=null does not list the org-wide endpoint")
    ctx.check(scoped["id"] not in ids, "?projectId=null lists a project-scoped endpoint")
    ctx.check(all(i.get("project_id") is None for i in listed),
              f"?projectId=null lists endpoints with a project: {dumps([i for i in listed if i.get('project_id')][:2])}")
    in_project = id_set(ctx.data_list(ctx.t.get("/webhooks/endpoints", params={"projectId": project["id"]}), 200))
    ctx.check(scoped["id"] in in_project and org_wide["id"] not in in_project,
              "?projectId=<project> does not list exactly that project's endpoints")
