"""Organizations and their members: an invited member can have a role changed and be removed."""

from __future__ import annotations

from ..target import dumps
from .context import RuleContext, at
from .core import rule


@rule("MX-MEMBERS", source="spec", title="Invited members can have their role changed and be removed",
      ref="Organizations and members: Invite → 201 and a pending member/invitation; roles owner/admin/member.",
      not_in_staging="it invites members to the organization, changes their roles and removes them")
def member_lifecycle(ctx: RuleContext) -> None:
    """DOMAIN.md, Organizations and members: "Invite → 201 and a pending member/invitation; roles
    owner/admin/member." Spec: `POST /orgs/{id}/members` → 201, `PATCH …/members/{userId}` → the Member,
    `DELETE …/members/{userId}` → the delete envelope."""
    org = ctx.org_id()
    email = f"{ctx.name('member')}@example.com"
    invited = ctx.expect_data(ctx.t.post(f"/orgs/{org}/members", json={"email": email, "role": "member"}), 201,
                              what="POST /orgs/{id}/members")
    members = ctx.data_list(ctx.t.get(f"/orgs/{org}/members"), 200, what="GET /orgs/{id}/members")
    mine = [m for m in members if at(m, "user", "email") == email]
    user_id = at(invited, "user_id") or (mine[0].get("user_id") if mine else None)
    if not user_id:
        ctx.skip("the invitation names no user id and the member list does not show the invitee")
    ctx.check(mine, f"the invited {email} is not listed among the members")
    updated = ctx.data_object(ctx.t.patch(f"/orgs/{org}/members/{user_id}", json={"role": "admin"}), 200,
                              what="PATCH /orgs/{id}/members/{userId}")
    ctx.check(updated.get("role") == "admin", f"changing the role to admin answered {dumps(updated)}")
    answer = ctx.data_object(ctx.t.delete(f"/orgs/{org}/members/{user_id}"), 200, what="DELETE member")
    ctx.check(answer.get("id") == user_id and answer.get("deleted") is True, f"removal answered {dumps(answer)}")
    members = ctx.data_list(ctx.t.get(f"/orgs/{org}/members"), 200, what="GET /orgs/{id}/members")
    ctx.check(not any(at(m, "user", "email") == email for m in members),
              f"the removed {email} is still listed")
