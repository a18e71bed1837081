"""Proxy API keys and management keys: plaintext exactly once, hashes only afterwards."""

from __future__ import annotations

from ..errors import Conflict, NotFound
from ..ids import sha256_hex
from ..registry import Call, Reply, created, deleted, ok, operation
from ..store import KEY_PREFIX_LENGTH, OrgState, Resource, public


def api_key_view(org: OrgState, key: Resource) -> Resource:
    view = public(key)
    project = org.projects.get(key["_project_id"])
    view["project"] = {"id": project["id"], "name": project["name"]} if project else None
    return view


def new_api_key(org: OrgState, world, project_id: str, name: str, created_at: str | None = None) -> tuple[Resource, str]:
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


@operation("listApiKeys")
def list_api_keys(call: Call) -> Reply:
    project_id = call.query.get("projectId")
    keys = [k for k in call.org.api_keys.values() if project_id is None or k["_project_id"] == project_id]
    return ok([api_key_view(call.org, k) for k in keys])


@operation("createApiKey")
def create_api_key(call: Call) -> Reply:
    project = call.org.project(call.body["projectId"])
    key, plaintext = new_api_key(call.org, call.world, project["id"], call.body["name"])
    call.world.audit(call.org, call.actor, "api_key", key["id"], "created",
                     {"name": {"before": None, "after": key["name"]}}, metadata={"project_id": project["id"]})
    return created({**api_key_view(call.org, key), "key": plaintext})


@operation("revokeApiKey")
def revoke_api_key(call: Call) -> Reply:
    key = call.org.get("api_keys", call.path["id"])
    if key["revoked_at"] is not None:
        raise NotFound(f"API key '{key['id']}' is already revoked", code="already_revoked")
    key["revoked_at"] = call.world.now_iso()
    call.world.audit(call.org, call.actor, "api_key", key["id"], "revoked",
                     {"revoked_at": {"before": None, "after": key["revoked_at"]}})
    call.world.emit(call.org, "api_key.revoked",
                    {"api_key_id": key["id"], "name": key["name"], "key_prefix": key["key_prefix"],
                     "project_id": key["_project_id"], "revoked_at": key["revoked_at"]},
                    project_id=key["_project_id"])
    return deleted(key["id"])


@operation("listManagementKeys")
def list_management_keys(call: Call) -> Reply:
    return ok([public(k) for k in call.org.management_keys.values()])


@operation("createManagementKey")
def create_management_key(call: Call) -> Reply:
    key, plaintext = call.world.add_management_key(call.org, call.body["name"])
    call.world.audit(call.org, call.actor, "management_key", key["id"], "created",
                     {"name": {"before": None, "after": key["name"]}})
    return created({**public(key), "key": plaintext})


@operation("revokeManagementKey")
def revoke_management_key(call: Call) -> Reply:
    key = call.org.get("management_keys", call.path["id"])
    if key["revoked_at"] is not None:
        raise NotFound(f"management key '{key['id']}' is already revoked", code="already_revoked")
    if key["id"] == call.actor.id:
        raise Conflict("a management key cannot revoke itself; use another key", code="self_revocation")
    key["revoked_at"] = call.world.now_iso()
    call.world.audit(call.org, call.actor, "management_key", key["id"], "revoked",
                     {"revoked_at": {"before": None, "after": key["revoked_at"]}})
    return deleted(key["id"])
