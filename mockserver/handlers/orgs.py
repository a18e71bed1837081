"""Organizations and their members."""

from __future__ import annotations

from ..errors import Conflict, not_found
from ..registry import Call, Reply, deleted, ok, operation
from ..store import public
from .common import own_org, patch


@operation("updateOrg")
def update_org(call: Call) -> Reply:
    own_org(call, call.path["id"])
    changes = patch(call.org.org, call.body, {"name": "name", "billing_email": "billing_email"})
    if changes:
        call.world.audit(call.org, call.actor, "organization", call.org.id, "updated", changes)
    return ok(public(call.org.org))


@operation("deleteOrg")
def delete_org(call: Call) -> Reply:
    own_org(call, call.path["id"])
    call.world.remove_org(call.org.id)
    return deleted(call.org.id)


@operation("listMembers")
def list_members(call: Call) -> Reply:
    own_org(call, call.path["id"])
    return ok([public(m) for m in call.org.members.values()])


@operation("inviteMember")
def invite_member(call: Call) -> Reply:
    own_org(call, call.path["id"])
    email = call.body["email"]
    if any((m["user"].get("email") or "").lower() == email.lower() for m in call.org.members.values()):
        raise Conflict(f"'{email}' is already a member or invited", code="already_member")
    world = call.world
    now = world.now_iso()
    user_id = world.new_id("user")
    member = {
        "user_id": user_id,
        "role": call.body["role"],
        "created_at": now,
        "status": "invited",
        "user": {"id": user_id, "name": None, "email": email, "image": None},
    }
    call.org.members[user_id] = member
    invitation = {
        "id": world.new_id("inv"),
        "org_id": call.org.id,
        "user_id": user_id,
        "email": email,
        "role": call.body["role"],
        "status": "pending",
        "invited_by": call.actor.id,
        "created_at": now,
    }
    world.audit(call.org, call.actor, "member", user_id, "invited", {"role": {"before": None, "after": member["role"]}},
                metadata={"email": email})
    return 201, {"data": invitation}


def _owners(call: Call) -> list[str]:
    return [uid for uid, m in call.org.members.items() if m["role"] == "owner"]


@operation("updateMemberRole")
def update_member_role(call: Call) -> Reply:
    own_org(call, call.path["id"])
    member = call.org.get("members", call.path["userId"])
    role = call.body["role"]
    if member["role"] == "owner" and role != "owner" and _owners(call) == [member["user_id"]]:
        raise Conflict("cannot demote the last owner of the organization", code="last_owner")
    changes = patch(member, call.body, {"role": "role"})
    if changes:
        call.world.audit(call.org, call.actor, "member", member["user_id"], "updated", changes)
    return ok(public(member))


@operation("removeMember")
def remove_member(call: Call) -> Reply:
    own_org(call, call.path["id"])
    user_id = call.path["userId"]
    member = call.org.members.get(user_id)
    if member is None:
        raise not_found("member", user_id)
    if member["role"] == "owner" and _owners(call) == [user_id]:
        raise Conflict("cannot remove the last owner of the organization", code="last_owner")
    del call.org.members[user_id]
    call.world.audit(call.org, call.actor, "member", user_id, "deleted")
    return deleted(user_id)
