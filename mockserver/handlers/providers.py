"""Provider credentials: `apiKey` is write-only and never echoed."""

from __future__ import annotations

from ..ids import sha256_hex
from ..registry import Call, Reply, created, deleted, ok, operation
from ..store import OrgState, Resource, public
from .logs import credential_reverified


def new_provider(org: OrgState, world, provider: str, name: str, api_key: str, base_url: str | None = None,
                 created_at: str | None = None) -> Resource:
    now = created_at or world.now_iso()
    is_default = not any(p["provider"] == provider for p in org.providers.values())
    record = {
        "id": world.new_id("prov"),
        "provider": provider,
        "name": name,
        "base_url": base_url,
        "is_default": is_default,
        "created_at": now,
        "last_verified_at": now,
        "_api_key_hash": sha256_hex(api_key),
    }
    org.providers[record["id"]] = record
    return record


@operation("listProviders")
def list_providers(call: Call) -> Reply:
    return ok([public(p) for p in call.org.providers.values()])


@operation("createProvider")
def create_provider(call: Call) -> Reply:
    body = call.body
    record = new_provider(call.org, call.world, body["provider"], body["name"], body["apiKey"], body.get("baseUrl"))
    call.world.audit(call.org, call.actor, "provider", record["id"], "created",
                     {"name": {"before": None, "after": record["name"]}, "apiKey": True},
                     metadata={"provider": record["provider"]})
    return created(public(record))


@operation("getProvider")
def get_provider(call: Call) -> Reply:
    return ok(public(call.org.get("providers", call.path["id"])))


@operation("updateProvider")
def update_provider(call: Call) -> Reply:
    record = call.org.get("providers", call.path["id"])
    body = call.body
    changes = {}
    if "name" in body and body["name"] != record["name"]:
        changes["name"] = {"before": record["name"], "after": body["name"]}
        record["name"] = body["name"]
    if "baseUrl" in body and body["baseUrl"] != record["base_url"]:
        changes["base_url"] = {"before": record["base_url"], "after": body["baseUrl"]}
        record["base_url"] = body["baseUrl"]
    if "apiKey" in body:
        record["_api_key_hash"] = sha256_hex(body["apiKey"])
        record["last_verified_at"] = call.world.now_iso()
        changes["apiKey"] = True
    if changes:
        call.world.audit(call.org, call.actor, "provider", record["id"], "updated", changes)
    if "apiKey" in body:
        credential_reverified(call.world, call.org, record)
    return ok(public(record))


@operation("deleteProvider")
def delete_provider(call: Call) -> Reply:
    org = call.org
    record = org.get("providers", call.path["id"])
    del org.providers[record["id"]]
    if record["is_default"]:
        # The oldest remaining credential of the same type becomes the default.
        for other in org.providers.values():
            if other["provider"] == record["provider"]:
                other["is_default"] = True
                break
    call.world.audit(org, call.actor, "provider", record["id"], "deleted", metadata={"provider": record["provider"]})
    return deleted(record["id"])
