"""Provider credentials."""

from __future__ import annotations

from ..domain import providers
from ..registry import Call, Reply, created, deleted, ok, operation


@operation("listProviders")
def list_providers(call: Call) -> Reply:
    return ok(providers.list_providers(call.ctx))


@operation("createProvider")
def create_provider(call: Call) -> Reply:
    body = call.body
    return created(providers.create_provider(call.ctx, body["provider"], body["name"], body["apiKey"],
                                             body.get("baseUrl")))


@operation("getProvider")
def get_provider(call: Call) -> Reply:
    return ok(providers.get_provider(call.ctx, call.path["id"]))


@operation("updateProvider")
def update_provider(call: Call) -> Reply:
    return ok(providers.update_provider(call.ctx, call.path["id"], call.body))


@operation("deleteProvider")
def delete_provider(call: Call) -> Reply:
    return deleted(providers.delete_provider(call.ctx, call.path["id"]))
