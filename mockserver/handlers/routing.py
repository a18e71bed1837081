"""Routing configs: versions on every policy/config change, restore, dry-run through the engine."""

from __future__ import annotations

from typing import Any

from ..engines.routing import PolicyConfigError, RouteRequest, RoutingError, UnknownConfigError, route, validate_policy
from ..errors import Conflict, Invalid, NotFound, ProxyUnavailable, not_found
from ..registry import Call, Reply, created, deleted, ok, operation
from ..store import OrgState, Resource, public
from .common import require_unique


def check_policy(policy: str, config: dict[str, Any]) -> None:
    try:
        validate_policy(policy, config)
    except PolicyConfigError as exc:
        raise Invalid(f"invalid policy config: {exc}", code="invalid_policy_config")


def resolver(org: OrgState, project_id: str):
    """`@slug` -> (policy, config) of the project's config with that name."""

    def resolve(slug: str):
        name = slug[1:] if slug.startswith("@") else slug
        for config in org.routing_configs.values():
            if config["project_id"] == project_id and config["name"] == name:
                return config["policy"], config["config"]
        return None

    return resolve


def new_routing_config(org: OrgState, world, actor_id: str | None, project_id: str, name: str, policy: str,
                       config: dict[str, Any], created_at: str | None = None, **extra: Any) -> Resource:
    now = created_at or world.now_iso()
    record = {
        "id": world.new_id("rc"),
        "name": name,
        "project_id": project_id,
        "policy": policy,
        "config": config,
        "version": 1,
        "enforce_budgets": extra.get("enforce_budgets", False),
        "is_active": extra.get("is_active", True),
        "created_at": now,
        "updated_at": now,
    }
    org.routing_configs[record["id"]] = record
    org.config_versions[record["id"]] = [
        {"version": 1, "policy": policy, "config": config, "created_at": now, "created_by": actor_id}
    ]
    return record


def add_version(org: OrgState, world, record: Resource, policy: str, config: dict[str, Any], actor_id: str | None,
                created_at: str | None = None) -> Resource:
    versions = org.config_versions[record["id"]]
    version = {
        "version": versions[-1]["version"] + 1,
        "policy": policy,
        "config": config,
        "created_at": created_at or world.now_iso(),
        "created_by": actor_id,
    }
    versions.append(version)
    record.update(policy=policy, config=config, version=version["version"], updated_at=version["created_at"])
    return version


def _siblings(org: OrgState, record: Resource) -> list[Resource]:
    return [c for c in org.routing_configs.values() if c["project_id"] == record["project_id"] and c["id"] != record["id"]]


def _event_data(record: Resource) -> dict[str, Any]:
    return {"routing_config_id": record["id"], "name": record["name"], "project_id": record["project_id"],
            "policy": record["policy"], "version": record["version"]}


@operation("listRoutingConfigs")
def list_routing_configs(call: Call) -> Reply:
    project_id = call.query.get("projectId")
    return ok([public(c) for c in call.org.routing_configs.values()
               if project_id is None or c["project_id"] == project_id])


@operation("createRoutingConfig")
def create_routing_config(call: Call) -> Reply:
    body = call.body
    project = call.org.project(body["projectId"])
    check_policy(body["policy"], body["config"])
    require_unique(body["name"], [c for c in call.org.routing_configs.values() if c["project_id"] == project["id"]],
                   "routing config", f"project '{project['id']}'")
    record = new_routing_config(call.org, call.world, call.actor.id, project["id"], body["name"], body["policy"],
                                body["config"])
    call.world.audit(call.org, call.actor, "routing_config", record["id"], "created",
                     {"name": {"before": None, "after": record["name"]},
                      "policy": {"before": None, "after": record["policy"]},
                      "version": {"before": None, "after": 1}},
                     metadata={"project_id": project["id"]})
    call.world.emit(call.org, "routing_config.created", _event_data(record), project_id=project["id"])
    return created(public(record))


@operation("getRoutingConfig")
def get_routing_config(call: Call) -> Reply:
    return ok(public(call.org.get("routing_configs", call.path["id"])))


@operation("updateRoutingConfig")
def update_routing_config(call: Call) -> Reply:
    org, body = call.org, call.body
    record = org.get("routing_configs", call.path["id"])
    if "policy" in body:
        check_policy(body["policy"], body["config"])
    if "name" in body and body["name"] != record["name"]:
        require_unique(body["name"], _siblings(org, record), "routing config", f"project '{record['project_id']}'")
    changes: dict[str, Any] = {}
    for field in ("name", "enforce_budgets", "is_active"):
        if field in body and body[field] != record[field]:
            changes[field] = {"before": record[field], "after": body[field]}
            record[field] = body[field]
    if "policy" in body and (body["policy"], body["config"]) != (record["policy"], record["config"]):
        before = {"policy": record["policy"], "config": record["config"], "version": record["version"]}
        add_version(org, call.world, record, body["policy"], body["config"], call.actor.id)
        for field, old in before.items():
            if record[field] != old:
                changes[field] = {"before": old, "after": record[field]}
    if changes:
        record["updated_at"] = call.world.now_iso()
        call.world.audit(org, call.actor, "routing_config", record["id"], "updated", changes)
        call.world.emit(org, "routing_config.updated", {**_event_data(record), "changed": sorted(changes)},
                        project_id=record["project_id"])
    return ok(public(record))


@operation("deleteRoutingConfig")
def delete_routing_config(call: Call) -> Reply:
    org = call.org
    record = org.get("routing_configs", call.path["id"])
    del org.routing_configs[record["id"]]
    org.config_versions.pop(record["id"], None)
    call.world.audit(org, call.actor, "routing_config", record["id"], "deleted",
                     metadata={"name": record["name"], "project_id": record["project_id"]})
    call.world.emit(org, "routing_config.deleted", _event_data(record), project_id=record["project_id"])
    return deleted(record["id"])


@operation("listRoutingConfigVersions")
def list_versions(call: Call) -> Reply:
    record = call.org.get("routing_configs", call.path["id"])
    return ok([dict(v) for v in call.org.config_versions[record["id"]]])


def _version(org: OrgState, record: Resource, number: int) -> Resource:
    for version in org.config_versions[record["id"]]:
        if version["version"] == number:
            return version
    raise NotFound(f"routing config '{record['id']}' has no version {number}")


@operation("getRoutingConfigVersion")
def get_version(call: Call) -> Reply:
    record = call.org.get("routing_configs", call.path["id"])
    return ok(dict(_version(call.org, record, call.path["version"])))


@operation("restoreRoutingConfigVersion")
def restore_version(call: Call) -> Reply:
    org = call.org
    record = org.get("routing_configs", call.path["id"])
    source = _version(org, record, call.body["version"])
    before = record["version"]
    add_version(org, call.world, record, source["policy"], source["config"], call.actor.id)
    call.world.audit(org, call.actor, "routing_config", record["id"], "restored",
                     {"version": {"before": before, "after": record["version"]}},
                     metadata={"restored_from_version": source["version"]})
    call.world.emit(org, "routing_config.updated", {**_event_data(record), "restored_from_version": source["version"]},
                    project_id=record["project_id"])
    return ok(public(record))


def run_route(org: OrgState, project_id: str, policy: str, config: dict[str, Any], request: RouteRequest,
              config_name: str | None = None):
    try:
        return route(policy, config, request, resolve=resolver(org, project_id), config_name=config_name)
    except PolicyConfigError as exc:
        raise Invalid(f"invalid policy config: {exc}", code="invalid_policy_config")
    except UnknownConfigError as exc:
        raise NotFound(f"routing failed: {exc}", code="config_not_found")
    except RoutingError as exc:
        # Valid input the project's current configs cannot route (no rule matched, a cycle).
        raise Conflict(f"routing failed: {exc}", code="routing_failed")


def dry_run_payload(project_id: str, decision, request: RouteRequest) -> dict[str, Any]:
    return {
        "dry_run": True,
        "project_id": project_id,
        **decision.as_dict(),
        "trace_id": request.trace_id,
        "trace": decision.trace(),
    }


@operation("dryRunRoutingConfig")
def dry_run(call: Call) -> Reply:
    body = call.body
    project = call.org.project(body["project_id"])
    check_policy(body["policy"], body["config"])
    if call.services.config.proxy_unreachable:
        raise ProxyUnavailable("the routing proxy is unreachable (mock started with --proxy-unreachable)")
    sample = body.get("request") or {}
    request = RouteRequest(
        model=sample.get("model") if isinstance(sample.get("model"), str) else None,
        messages=sample.get("messages") if isinstance(sample.get("messages"), list) else None,
        tags=dict(body.get("tags") or {}),
        end_user_id=body.get("end_user_id"),
        trace_id=body.get("trace_id"),
        input_tokens=None,
        budget_used_pct=None,
    )
    decision = run_route(call.org, project["id"], body["policy"], body["config"], request)
    return ok(dry_run_payload(project["id"], decision, request))
