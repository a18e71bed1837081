"""Provider credentials: `apiKey` is write-only and never echoed; a new key is verified again."""

from __future__ import annotations

from typing import Any

from ..ids import sha256_hex
from ..tables import touch
from .context import Context
from .logs import credential_reverified
from .world import OrgState, Resource, World, public


def new_provider(org: OrgState, world: World, provider: str, name: str, api_key: str, base_url: str | None = None,
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


def list_providers(ctx: Context) -> list[Resource]:
    return [public(p) for p in ctx.org.providers.values()]


def get_provider(ctx: Context, provider_id: str) -> Resource:
    return public(ctx.org.get("providers", provider_id))


def create_provider(ctx: Context, provider: str, name: str, api_key: str, base_url: str | None) -> Resource:
    record = new_provider(ctx.org, ctx.world, provider, name, api_key, base_url)
    ctx.audit("provider", record["id"], "created", {"name": {"before": None, "after": record["name"]}, "apiKey": True},
              metadata={"provider": record["provider"]})
    return public(record)


def update_provider(ctx: Context, provider_id: str, body: dict[str, Any]) -> Resource:
    """`name`, `baseUrl` and `apiKey` (which re-verifies the credential and says so by webhook)."""
    record = ctx.org.get("providers", provider_id)
    changes: dict[str, Any] = {}
    if "name" in body and body["name"] != record["name"]:
        changes["name"] = {"before": record["name"], "after": body["name"]}
        record["name"] = body["name"]
    if "baseUrl" in body and body["baseUrl"] != record["base_url"]:
        changes["base_url"] = {"before": record["base_url"], "after": body["baseUrl"]}
        record["base_url"] = body["baseUrl"]
    if "apiKey" in body:
        record["_api_key_hash"] = sha256_hex(body["apiKey"])
        record["last_verified_at"] = ctx.now_iso()
        changes["apiKey"] = True
    if changes:
        ctx.audit("provider", record["id"], "updated", changes)
    if "apiKey" in body:
        credential_reverified(ctx.world, ctx.org, record)
    return public(record)


def delete_provider(ctx: Context, provider_id: str) -> str:
    org = ctx.org
    record = org.get("providers", provider_id)
    del org.providers[record["id"]]
    if record["is_default"]:
        # The oldest remaining credential of the same type becomes the default.
        for other in org.providers.values():
            if other["provider"] == record["provider"]:
                touch(other)["is_default"] = True
                break
    ctx.audit("provider", record["id"], "deleted", metadata={"provider": record["provider"]})
    return record["id"]
