"""Proxy API keys and management keys."""

from __future__ import annotations

from ..domain import keys
from ..registry import Call, Reply, created, deleted, ok, operation


@operation("listApiKeys")
def list_api_keys(call: Call) -> Reply:
    return ok(keys.list_api_keys(call.ctx, call.query.get("projectId")))


@operation("createApiKey")
def create_api_key(call: Call) -> Reply:
    return created(keys.create_api_key(call.ctx, call.body["projectId"], call.body["name"]))


@operation("revokeApiKey")
def revoke_api_key(call: Call) -> Reply:
    return deleted(keys.revoke_api_key(call.ctx, call.path["id"]))


@operation("listManagementKeys")
def list_management_keys(call: Call) -> Reply:
    return ok(keys.list_management_keys(call.ctx))


@operation("createManagementKey")
def create_management_key(call: Call) -> Reply:
    return created(keys.create_management_key(call.ctx, call.body["name"]))


@operation("revokeManagementKey")
def revoke_management_key(call: Call) -> Reply:
    return deleted(keys.revoke_management_key(call.ctx, call.path["id"]))
