"""Organizations and their members; a new organization with its owner and first management key."""

from __future__ import annotations

from typing import Any

from ..errors import Conflict, not_found
from ..tables import touch
from .common import patch, slugify
from .context import Context
from .world import Actor, OrgState, Resource, World, public


def new_org(world: World, name: str, billing_email: str, plan: str = "pro") -> OrgState:
    now = world.now_iso()
    return world.add_org({
        "id": world.new_id("org"),
        "name": name,
        "slug": slugify(name),
        "plan": plan,
        "billing_email": billing_email,
        "created_at": now,
    })


def new_member(org: OrgState, world: World, role: str, email: str, name: str | None = None,
               image: str | None = None, invited: bool = False) -> Resource:
    """A member of `org` from now on; `invited`: a pending invitation until they accept it."""
    user_id = world.new_id("user")
    member: Resource = {"user_id": user_id, "role": role, "created_at": world.now_iso()}
    if invited:
        member["status"] = "invited"
    member["user"] = {"id": user_id, "name": name, "email": email, "image": image}
    org.members[user_id] = member
    return member


def bootstrap_org(world: World, name: str, token: str | None = None, owner_email: str = "owner@example.com",
                  owner_name: str = "Org Owner") -> tuple[OrgState, str]:
    """An organization with one owner and one management key (the given token, or a new one)."""
    org = new_org(world, name, owner_email)
    new_member(org, world, "owner", owner_email, owner_name)
    key, plaintext = world.add_management_key(org, "Bootstrap key", plaintext=token)
    key["_email"] = owner_email
    return org, plaintext


def found_org(world: World, name: str, billing_email: str, owner_email: str, owner_name: str,
              owner_image: str | None = None, plan: str = "pro") -> tuple[OrgState, Actor]:
    """A new organization and the person who founds it, its first owner; audited as created by them."""
    org = new_org(world, name, billing_email, plan)
    owner = new_member(org, world, "owner", owner_email, owner_name, owner_image)
    actor = Actor(id=owner["user_id"], email=owner_email)
    world.audit(org, actor, "organization", org.id, "created", {"name": {"before": None, "after": name}},
                metadata={"plan": plan})
    return org, actor


def own_org(ctx: Context, org_id: str) -> None:
    """Another organization's id is indistinguishable from a missing one."""
    if org_id != ctx.org.id:
        raise not_found("organization", org_id)


def update_org(ctx: Context, org_id: str, body: dict[str, Any]) -> Resource:
    own_org(ctx, org_id)
    changes = patch(touch(ctx.org.org), body, {"name": "name", "billing_email": "billing_email"})
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
    member = new_member(ctx.org, ctx.world, role, email, invited=True)
    user_id, now = member["user_id"], member["created_at"]
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


def accept_invitation(ctx: Context, org_id: str, user_id: str, name: str, image: str | None = None) -> Resource:
    """The invited person (`ctx.actor`) joins: the name and picture are theirs, the membership starts now."""
    own_org(ctx, org_id)
    member = ctx.org.get("members", user_id)
    if member.get("status") != "invited":
        raise Conflict(f"member '{user_id}' has no pending invitation", code="not_invited")
    del member["status"]
    member["created_at"] = ctx.now_iso()
    member["user"].update(name=name, image=image)
    ctx.audit("member", user_id, "joined", {"status": {"before": "invited", "after": "active"}})
    return public(member)


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
