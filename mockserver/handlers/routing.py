"""Routing configs, their versions and dry-runs."""

from __future__ import annotations

from ..domain import routing_configs as configs
from ..registry import Call, Reply, created, deleted, ok, operation


@operation("listRoutingConfigs")
def list_routing_configs(call: Call) -> Reply:
    return ok(configs.list_routing_configs(call.ctx, call.query.get("projectId")))


@operation("createRoutingConfig")
def create_routing_config(call: Call) -> Reply:
    body = call.body
    return created(configs.create_routing_config(call.ctx, body["projectId"], body["name"], body["policy"],
                                                 body["config"]))


@operation("getRoutingConfig")
def get_routing_config(call: Call) -> Reply:
    return ok(configs.get_routing_config(call.ctx, call.path["id"]))


@operation("updateRoutingConfig")
def update_routing_config(call: Call) -> Reply:
    return ok(configs.update_routing_config(call.ctx, call.path["id"], call.body))


@operation("deleteRoutingConfig")
def delete_routing_config(call: Call) -> Reply:
    return deleted(configs.delete_routing_config(call.ctx, call.path["id"]))


@operation("listRoutingConfigVersions")
def list_versions(call: Call) -> Reply:
    return ok(configs.list_versions(call.ctx, call.path["id"]))


@operation("getRoutingConfigVersion")
def get_version(call: Call) -> Reply:
    return ok(configs.get_version(call.ctx, call.path["id"], call.path["version"]))


@operation("restoreRoutingConfigVersion")
def restore_version(call: Call) -> Reply:
    return ok(configs.restore_version(call.ctx, call.path["id"], call.body["version"]))


@operation("dryRunRoutingConfig")
def dry_run(call: Call) -> Reply:
    return ok(configs.dry_run(call.ctx, call.body))
