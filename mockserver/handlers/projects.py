"""Projects."""

from __future__ import annotations

from ..domain import projects
from ..registry import Call, Reply, created, deleted, ok, operation


@operation("listProjects")
def list_projects(call: Call) -> Reply:
    return ok(projects.list_projects(call.ctx))


@operation("createProject")
def create_project(call: Call) -> Reply:
    return created(projects.create_project(call.ctx, call.body["name"]))


@operation("getProject")
def get_project(call: Call) -> Reply:
    return ok(projects.get_project(call.ctx, call.path["id"]))


@operation("updateProject")
def update_project(call: Call) -> Reply:
    return ok(projects.update_project(call.ctx, call.path["id"], call.body))


@operation("deleteProject")
def delete_project(call: Call) -> Reply:
    return deleted(projects.delete_project(call.ctx, call.path["id"]))
