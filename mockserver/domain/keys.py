"""Proxy API keys and management keys: plaintext exactly once, hashes only afterwards."""

from __future__ import annotations

from ..errors import Conflict, NotFound
from ..ids import sha256_hex
from .context import Context
from .world import KEY_PREFIX_LENGTH, OrgState, Resource, World, public


def api_key_view(org: OrgState, key: Resource) -> Resource:
    view = public(key)
    project = org.projects.get(key["_project_id"])
    view["project"] = {"id": project["id"], "name": project["name"]} if project else None
    return view


def new_api_key(org: OrgState, world: World, project_id: str, name: str,
                created_at: str | None = None) -> tuple[Resource, str]:
    plaintext = world.ids.secret("mlx_sk_")
    key = {
        "id": world.new_id("key"),
        "key_prefix": plaintext[:KEY_PREFIX_LENGTH],
        "name": name,
        "created_at": created_at or world.now_iso(),
        "last_used_at": None,
        "revoked_at": None,
        "_project_id": project_id,
        "_hash": sha256_hex(plaintext),
    }
    org.api_keys[key["id"]] = key
    return key, plaintext


def list_api_keys(ctx: Context, project_id: str | None = None) -> list[Resource]:
    return [api_key_view(ctx.org, k) for k in ctx.org.api_keys.values()
            if project_id is None or k["_project_id"] == project_id]


def create_api_key(ctx: Context, project_id: str, name: str) -> Resource:
    """The new key's view with its plaintext `key`: the only time it is shown."""
    project = ctx.org.project(project_id)
    key, plaintext = new_api_key(ctx.org, ctx.world, project["id"], name)
    ctx.audit("api_key", key["id"], "created", {"name": {"before": None, "after": key["name"]}},
              metadata={"project_id": project["id"]})
    return {**api_key_view(ctx.org, key), "key": plaintext}


def revoke_api_key(ctx: Context, key_id: str) -> str:
    key = ctx.org.get("api_keys", key_id)
    if key["revoked_at"] is not None:
        raise NotFound(f"API key '{key['id']}' is already revoked", code="already_revoked")
    key["revoked_at"] = ctx.now_iso()
    ctx.audit("api_key", key["id"], "revoked", {"revoked_at": {"before": None, "after": key["revoked_at"]}})
    ctx.emit("api_key.revoked", {"api_key_id": key["id"], "name": key["name"], "key_prefix": key["key_prefix"],
                                 "project_id": key["_project_id"], "revoked_at": key["revoked_at"]},
             project_id=key["_project_id"])
    return key["id"]


def list_management_keys(ctx: Context) -> list[Resource]:
    return [public(k) for k in ctx.org.management_keys.values()]


def create_management_key(ctx: Context, name: str) -> Resource:
    """The new key with its plaintext `key`, shown this once; it acts for the person whose key made it."""
    key, plaintext = ctx.world.add_management_key(ctx.org, name)
    if ctx.actor is not None and ctx.actor.email:
        key["_email"] = ctx.actor.email
    ctx.audit("management_key", key["id"], "created", {"name": {"before": None, "after": key["name"]}})
    return {**public(key), "key": plaintext}


def revoke_management_key(ctx: Context, key_id: str) -> str:
    key = ctx.org.get("management_keys", key_id)
    if key["revoked_at"] is not None:
        raise NotFound(f"management key '{key['id']}' is already revoked", code="already_revoked")
    if key["id"] == ctx.actor_id:
        raise Conflict("a management key cannot revoke itself; use another key", code="self_revocation")
    key["revoked_at"] = ctx.now_iso()
    ctx.audit("management_key", key["id"], "revoked", {"revoked_at": {"before": None, "after": key["revoked_at"]}})
    return key["id"]
