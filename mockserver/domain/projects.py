"""Projects: settings, counts in every view, a cascading delete."""

from __future__ import annotations

from typing import Any

from .common import slugify
from .context import Context
from .world import OrgState, Resource, World, diff, public

DEFAULT_SETTINGS = {"logging_mode": "full", "semantic_cache": False}


def project_view(org: OrgState, project: Resource, counts: bool = True) -> Resource:
    view = public(project)
    if counts:
        view["api_key_count"] = sum(
            1 for k in org.api_keys.values() if k["_project_id"] == project["id"] and k["revoked_at"] is None
        )
        view["routing_config_count"] = sum(1 for c in org.routing_configs.values() if c["project_id"] == project["id"])
    return view


def new_project(org: OrgState, world: World, name: str, settings: dict | None = None,
                created_at: str | None = None) -> Resource:
    project = {
        "id": world.new_id("proj"),
        "name": name,
        "slug": org.projects.slugs.free(slugify(name)),
        "settings": {**DEFAULT_SETTINGS, **(settings or {})},
        "created_at": created_at or world.now_iso(),
    }
    org.projects[project["id"]] = project
    return project


def list_projects(ctx: Context) -> list[Resource]:
    return [project_view(ctx.org, p) for p in ctx.org.projects.values()]


def get_project(ctx: Context, project_id: str) -> Resource:
    return project_view(ctx.org, ctx.org.project(project_id))


def create_project(ctx: Context, name: str, settings: dict | None = None) -> Resource:
    project = new_project(ctx.org, ctx.world, name, settings)
    ctx.audit("project", project["id"], "created", {"name": {"before": None, "after": project["name"]}})
    return project_view(ctx.org, project)


def update_project(ctx: Context, project_id: str, body: dict[str, Any], metadata: dict[str, Any] | None = None) -> Resource:
    """Name and settings; `metadata` (why, for the audit entry) is kept with the change."""
    project = ctx.org.project(project_id)
    before = {"name": project["name"], **project["settings"]}
    if "name" in body:
        project["name"] = body["name"]
    for setting in ("logging_mode", "semantic_cache"):
        if setting in body:
            project["settings"][setting] = body[setting]
    after = {"name": project["name"], **project["settings"]}
    changes = diff(before, after, after.keys())
    if changes:
        ctx.audit("project", project["id"], "updated", changes, metadata)
    return project_view(ctx.org, project)


def delete_project(ctx: Context, project_id: str) -> str:
    """The project and everything scoped to it: keys, configs, endpoints and their deliveries, budgets and
    their alerts and events, simulations, logs."""
    org = ctx.org
    project = org.project(project_id)
    pid = project["id"]
    removed = {
        "api_keys": [k for k, v in org.api_keys.items() if v["_project_id"] == pid],
        "routing_configs": [k for k, v in org.routing_configs.items() if v["project_id"] == pid],
        "webhook_endpoints": [k for k, v in org.webhook_endpoints.items() if v["project_id"] == pid],
        "budgets": [k for k, v in org.budgets.items() if v["scope_type"] == "project" and v["scope_id"] == pid],
        "simulations": [k for k, v in org.simulations.items() if v["project_id"] == pid],
        "logs": [log["id"] for log in org.logs.between(pid, None, None)],
    }
    for collection, ids in removed.items():
        store = getattr(org, collection)
        if collection == "logs":
            store.remove_many(ids)
            continue
        for ident in ids:
            del store[ident]
    for ident in removed["routing_configs"]:
        org.config_versions.pop(ident, None)
    for ident in removed["simulations"]:
        org.simulation_results.pop(ident, None)
    budgets = set(removed["budgets"])
    for table in (org.budget_alerts, org.budget_events):
        for ident in [k for k, v in table.items() if v["budget_id"] in budgets]:
            del table[ident]
    endpoints = set(removed["webhook_endpoints"])
    for ident in [k for k, v in org.webhook_deliveries.items() if v["endpoint_id"] in endpoints]:
        del org.webhook_deliveries[ident]
    del org.projects[pid]
    ctx.audit("project", pid, "deleted", metadata={"cascade": {k: len(v) for k, v in removed.items() if v}})
    return pid
