"""Organizations and their members."""

from __future__ import annotations

from ..domain import orgs
from ..registry import Call, Reply, created, deleted, ok, operation


@operation("updateOrg")
def update_org(call: Call) -> Reply:
    return ok(orgs.update_org(call.ctx, call.path["id"], call.body))


@operation("deleteOrg")
def delete_org(call: Call) -> Reply:
    return deleted(orgs.delete_org(call.ctx, call.path["id"]))


@operation("listMembers")
def list_members(call: Call) -> Reply:
    return ok(orgs.list_members(call.ctx, call.path["id"]))


@operation("inviteMember")
def invite_member(call: Call) -> Reply:
    return created(orgs.invite_member(call.ctx, call.path["id"], call.body["email"], call.body["role"]))


@operation("updateMemberRole")
def update_member_role(call: Call) -> Reply:
    return ok(orgs.update_member_role(call.ctx, call.path["id"], call.path["userId"], call.body["role"]))


@operation("removeMember")
def remove_member(call: Call) -> Reply:
    return deleted(orgs.remove_member(call.ctx, call.path["id"], call.path["userId"]))
