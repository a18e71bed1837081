"""Routing configs: a new version on every policy or config change, restore, dry-run through the engine."""

from __future__ import annotations

from typing import Any, Callable

from ..engines.routing import PolicyConfigError, RouteRequest, RoutingError, UnknownConfigError, route, validate_policy
from ..errors import Conflict, Invalid, NotFound, ProxyUnavailable
from ..tables import touch
from .common import require_unique
from .context import Context
from .world import OrgState, Resource, World, public


# Retention (spec/DECISIONS.md, "Memory"): versions kept per routing config, the oldest dropped first.
MAX_CONFIG_VERSIONS = 1_000


def check_policy(policy: str, config: dict[str, Any], field: str | None = None) -> None:
    """A 400 unless `config` has the shape `policy` documents; `field` names which one the caller changed."""
    try:
        validate_policy(policy, config)
    except PolicyConfigError as exc:
        if field == "policy":
            message = f"policy: the current config does not fit policy '{policy}' ({exc}); send a config with it"
        elif field == "config":
            message = f"config: does not fit the current policy '{policy}': {exc}"
        else:
            message = f"invalid policy config: {exc}"
        raise Invalid(message, code="invalid_policy_config")


def resolver(org: OrgState, project_id: str | None) -> Callable[[str], tuple[str, dict[str, Any]] | None]:
    """`@slug` -> (policy, config) of the project's config with that name."""

    def resolve(slug: str) -> tuple[str, dict[str, Any]] | None:
        if project_id is None:
            return None
        name = slug[1:] if slug.startswith("@") else slug
        for config in org.routing_configs.values():
            if config["project_id"] == project_id and config["name"] == name:
                return config["policy"], config["config"]
        return None

    return resolve


def new_routing_config(org: OrgState, world: World, actor_id: str | None, project_id: str, name: str, policy: str,
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


def add_version(org: OrgState, world: World, record: Resource, policy: str, config: dict[str, Any],
                actor_id: str | None, created_at: str | None = None) -> Resource:
    versions = touch(org.config_versions[record["id"]])
    touch(record)  # a promotion's target is found by a scan, not fetched with `org.get`
    version = {
        "version": versions[-1]["version"] + 1,
        "policy": policy,
        "config": config,
        "created_at": created_at or world.now_iso(),
        "created_by": actor_id,
    }
    versions.append(version)
    del versions[:-MAX_CONFIG_VERSIONS]
    record.update(policy=policy, config=config, version=version["version"], updated_at=version["created_at"])
    return version


def event_data(record: Resource) -> dict[str, Any]:
    return {"routing_config_id": record["id"], "name": record["name"], "project_id": record["project_id"],
            "policy": record["policy"], "version": record["version"]}


def _siblings(org: OrgState, record: Resource) -> list[Resource]:
    return [c for c in org.routing_configs.values()
            if c["project_id"] == record["project_id"] and c["id"] != record["id"]]


def list_routing_configs(ctx: Context, project_id: str | None = None) -> list[Resource]:
    return [public(c) for c in ctx.org.routing_configs.values() if project_id is None or c["project_id"] == project_id]


def get_routing_config(ctx: Context, config_id: str) -> Resource:
    return public(ctx.org.get("routing_configs", config_id))


def create_routing_config(ctx: Context, project_id: str, name: str, policy: str, config: dict[str, Any],
                          enforce_budgets: bool = False, is_active: bool = True) -> Resource:
    project = ctx.org.project(project_id)
    check_policy(policy, config)
    require_unique(name, [c for c in ctx.org.routing_configs.values() if c["project_id"] == project["id"]],
                   "routing config", f"project '{project['id']}'")
    record = new_routing_config(ctx.org, ctx.world, ctx.actor_id, project["id"], name, policy, config,
                                enforce_budgets=enforce_budgets, is_active=is_active)
    ctx.audit("routing_config", record["id"], "created",
              {"name": {"before": None, "after": record["name"]}, "policy": {"before": None, "after": record["policy"]},
               "version": {"before": None, "after": 1}}, metadata={"project_id": project["id"]})
    ctx.emit("routing_config.created", event_data(record), project_id=project["id"])
    return public(record)


def update_routing_config(ctx: Context, config_id: str, body: dict[str, Any]) -> Resource:
    """A PATCH: `policy` and `config` together, or either alone (`config` alone keeps the policy and must fit
    it; `policy` alone keeps the config, which must fit the new policy). A changed pair is a new version;
    `name`, `enforce_budgets` and `is_active` are not."""
    org = ctx.org
    record = org.get("routing_configs", config_id)
    policy, config = body.get("policy", record["policy"]), body.get("config", record["config"])
    if "policy" in body or "config" in body:
        alone = None if ("policy" in body) == ("config" in body) else ("policy" if "policy" in body else "config")
        check_policy(policy, config, field=alone)
    if "name" in body and body["name"] != record["name"]:
        require_unique(body["name"], _siblings(org, record), "routing config", f"project '{record['project_id']}'")
    changes: dict[str, Any] = {}
    for field in ("name", "enforce_budgets", "is_active"):
        if field in body and body[field] != record[field]:
            changes[field] = {"before": record[field], "after": body[field]}
            record[field] = body[field]
    if (policy, config) != (record["policy"], record["config"]):
        before = {"policy": record["policy"], "config": record["config"], "version": record["version"]}
        add_version(org, ctx.world, record, policy, config, ctx.actor_id)
        for field, old in before.items():
            if record[field] != old:
                changes[field] = {"before": old, "after": record[field]}
    if changes:
        record["updated_at"] = ctx.now_iso()
        ctx.audit("routing_config", record["id"], "updated", changes)
        ctx.emit("routing_config.updated", {**event_data(record), "changed": sorted(changes)},
                 project_id=record["project_id"])
    return public(record)


def delete_routing_config(ctx: Context, config_id: str) -> str:
    org = ctx.org
    record = org.get("routing_configs", config_id)
    del org.routing_configs[record["id"]]
    org.config_versions.pop(record["id"], None)
    ctx.audit("routing_config", record["id"], "deleted",
              metadata={"name": record["name"], "project_id": record["project_id"]})
    ctx.emit("routing_config.deleted", event_data(record), project_id=record["project_id"])
    return record["id"]


def list_versions(ctx: Context, config_id: str) -> list[Resource]:
    record = ctx.org.get("routing_configs", config_id)
    return [dict(v) for v in ctx.org.config_versions[record["id"]]]


def _version(org: OrgState, record: Resource, number: int) -> Resource:
    for version in org.config_versions[record["id"]]:
        if version["version"] == number:
            return version
    raise NotFound(f"routing config '{record['id']}' has no version {number}")


def get_version(ctx: Context, config_id: str, number: int) -> Resource:
    record = ctx.org.get("routing_configs", config_id)
    return dict(_version(ctx.org, record, number))


def restore_version(ctx: Context, config_id: str, number: int) -> Resource:
    """A new version whose policy and config are those of version `number`."""
    org = ctx.org
    record = org.get("routing_configs", config_id)
    source = _version(org, record, number)
    before = record["version"]
    add_version(org, ctx.world, record, source["policy"], source["config"], ctx.actor_id)
    ctx.audit("routing_config", record["id"], "restored", {"version": {"before": before, "after": record["version"]}},
              metadata={"restored_from_version": source["version"]})
    ctx.emit("routing_config.updated", {**event_data(record), "restored_from_version": source["version"]},
             project_id=record["project_id"])
    return public(record)


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


def dry_run_payload(project_id: str, decision: Any, request: RouteRequest) -> dict[str, Any]:
    return {
        "dry_run": True,
        "project_id": project_id,
        **decision.as_dict(),
        "trace_id": request.trace_id,
        "trace": decision.trace(),
    }


def dry_run(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    project = ctx.org.project(body["project_id"])
    check_policy(body["policy"], body["config"])
    if ctx.runtime.proxy_unreachable:
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
    decision = run_route(ctx.org, project["id"], body["policy"], body["config"], request)
    return dry_run_payload(project["id"], decision, request)
