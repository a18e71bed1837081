"""Organizations and their members; a new organization with its owner and first management key."""

from __future__ import annotations

from typing import Any

from ..errors import Conflict, not_found
from .common import patch, slugify
from .context import Context
from .world import OrgState, Resource, World, public


def bootstrap_org(world: World, name: str, token: str | None = None, owner_email: str = "owner@example.com",
                  owner_name: str = "Org Owner") -> tuple[OrgState, str]:
    """An organization with one owner and one management key (the given token, or a new one)."""
    now = world.now_iso()
    org = world.add_org({
        "id": world.new_id("org"),
        "name": name,
        "slug": slugify(name),
        "plan": "pro",
        "billing_email": owner_email,
        "created_at": now,
    })
    user_id = world.new_id("user")
    org.members[user_id] = {
        "user_id": user_id,
        "role": "owner",
        "created_at": now,
        "user": {"id": user_id, "name": owner_name, "email": owner_email, "image": None},
    }
    key, plaintext = world.add_management_key(org, "Bootstrap key", plaintext=token)
    key["_email"] = owner_email
    return org, plaintext


def own_org(ctx: Context, org_id: str) -> None:
    """Another organization's id is indistinguishable from a missing one."""
    if org_id != ctx.org.id:
        raise not_found("organization", org_id)


def update_org(ctx: Context, org_id: str, body: dict[str, Any]) -> Resource:
    own_org(ctx, org_id)
    changes = patch(ctx.org.org, body, {"name": "name", "billing_email": "billing_email"})
    if changes:
        ctx.audit("organization", ctx.org.id, "updated", changes)
    return public(ctx.org.org)


def delete_org(ctx: Context, org_id: str) -> str:
    own_org(ctx, org_id)
    ctx.world.remove_org(ctx.org.id)
    return ctx.org.id


def list_members(ctx: Context, org_id: str) -> list[Resource]:
    own_org(ctx, org_id)
    return [public(m) for m in ctx.org.members.values()]


def invite_member(ctx: Context, org_id: str, email: str, role: str) -> Resource:
    """A pending member and the invitation that names it."""
    own_org(ctx, org_id)
    if any((m["user"].get("email") or "").lower() == email.lower() for m in ctx.org.members.values()):
        raise Conflict(f"'{email}' is already a member or invited", code="already_member")
    now = ctx.now_iso()
    user_id = ctx.world.new_id("user")
    ctx.org.members[user_id] = {
        "user_id": user_id,
        "role": role,
        "created_at": now,
        "status": "invited",
        "user": {"id": user_id, "name": None, "email": email, "image": None},
    }
    invitation = {
        "id": ctx.world.new_id("inv"),
        "org_id": ctx.org.id,
        "user_id": user_id,
        "email": email,
        "role": role,
        "status": "pending",
        "invited_by": ctx.actor_id,
        "created_at": now,
    }
    ctx.audit("member", user_id, "invited", {"role": {"before": None, "after": role}}, metadata={"email": email})
    return invitation


def _owners(org: OrgState) -> list[str]:
    return [uid for uid, m in org.members.items() if m["role"] == "owner"]


def update_member_role(ctx: Context, org_id: str, user_id: str, role: str) -> Resource:
    own_org(ctx, org_id)
    member = ctx.org.get("members", user_id)
    if member["role"] == "owner" and role != "owner" and _owners(ctx.org) == [member["user_id"]]:
        raise Conflict("cannot demote the last owner of the organization", code="last_owner")
    changes = patch(member, {"role": role}, {"role": "role"})
    if changes:
        ctx.audit("member", member["user_id"], "updated", changes)
    return public(member)


def remove_member(ctx: Context, org_id: str, user_id: str) -> str:
    own_org(ctx, org_id)
    member = ctx.org.members.get(user_id)
    if member is None:
        raise not_found("member", user_id)
    if member["role"] == "owner" and _owners(ctx.org) == [user_id]:
        raise Conflict("cannot remove the last owner of the organization", code="last_owner")
    del ctx.org.members[user_id]
    ctx.audit("member", user_id, "deleted")
    return user_id
