"""Projects: settings from PATCH, counts in the list, cascading delete."""

from __future__ import annotations

from ..registry import Call, Reply, created, deleted, ok, operation
from ..services import slugify
from ..store import OrgState, Resource, diff, public
from .common import unique_slug

DEFAULT_SETTINGS = {"logging_mode": "full", "semantic_cache": False}


def project_view(org: OrgState, project: Resource, counts: bool = True) -> Resource:
    view = public(project)
    if counts:
        view["api_key_count"] = sum(
            1 for k in org.api_keys.values() if k["_project_id"] == project["id"] and k["revoked_at"] is None
        )
        view["routing_config_count"] = sum(1 for c in org.routing_configs.values() if c["project_id"] == project["id"])
    return view


def new_project(org: OrgState, world, name: str, settings: dict | None = None, created_at: str | None = None) -> Resource:
    project = {
        "id": world.new_id("proj"),
        "name": name,
        "slug": unique_slug(slugify(name), org.projects.slugs),
        "settings": {**DEFAULT_SETTINGS, **(settings or {})},
        "created_at": created_at or world.now_iso(),
    }
    org.projects[project["id"]] = project
    return project


@operation("listProjects")
def list_projects(call: Call) -> Reply:
    return ok([project_view(call.org, p) for p in call.org.projects.values()])


@operation("createProject")
def create_project(call: Call) -> Reply:
    project = new_project(call.org, call.world, call.body["name"])
    call.world.audit(call.org, call.actor, "project", project["id"], "created",
                     {"name": {"before": None, "after": project["name"]}})
    return created(project_view(call.org, project))


@operation("getProject")
def get_project(call: Call) -> Reply:
    return ok(project_view(call.org, call.org.project(call.path["id"])))


@operation("updateProject")
def update_project(call: Call) -> Reply:
    project = call.org.project(call.path["id"])
    before = {"name": project["name"], **project["settings"]}
    if "name" in call.body:
        project["name"] = call.body["name"]
    for setting in ("logging_mode", "semantic_cache"):
        if setting in call.body:
            project["settings"][setting] = call.body[setting]
    after = {"name": project["name"], **project["settings"]}
    changes = diff(before, after, after.keys())
    if changes:
        call.world.audit(call.org, call.actor, "project", project["id"], "updated", changes)
    return ok(project_view(call.org, project))


@operation("deleteProject")
def delete_project(call: Call) -> Reply:
    org = call.org
    project = org.project(call.path["id"])
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
    call.world.audit(org, call.actor, "project", pid, "deleted",
                     metadata={"cascade": {k: len(v) for k, v in removed.items() if v}})
    return deleted(pid)
