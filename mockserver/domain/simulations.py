"""Simulations: create over a window, watch them run, cancel, promote the candidate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..clock import iso
from ..engines.simulations import select_logs
from ..errors import Conflict, Invalid
from .common import jsonable
from .context import Context
from .logs import moment
from .routing_configs import add_version, check_policy
from .world import OrgState, Resource, World, public


# Retention (spec/DECISIONS.md, "Memory"): simulations (with their results) kept per organization; past it
# the oldest finished one goes first, else the oldest.
MAX_SIMULATIONS = 200
ACTIVE = ("pending", "running")


def forget_old_simulations(org: OrgState) -> None:
    while len(org.simulations) > MAX_SIMULATIONS:
        oldest = next((s for s in org.simulations.values() if s["status"] not in ACTIVE),
                      next(iter(org.simulations.values())))
        del org.simulations[oldest["id"]]
        org.simulation_results.pop(oldest["id"], None)


def new_simulation(org: OrgState, world: World, body: dict, created_at: str | None = None) -> Resource:
    start, end = moment(body["window_start"]), moment(body["window_end"])
    project_id = body.get("project_id")
    selected = select_logs(org.logs.between(project_id, start, end), project_id, start, end, body.get("filter"))
    simulation = {
        "id": world.new_id("sim"),
        "name": body["name"],
        "project_id": project_id,
        "candidate_policy": body["candidate_policy"],
        "candidate_config": body["candidate_config"],
        "baseline_config_id": body.get("baseline_config_id"),
        "window_start": iso(start),
        "window_end": iso(end),
        "filter": jsonable(body.get("filter")),
        "status": "pending",
        "request_count": len(selected),
        "processed_count": 0,
        "baseline_summary": None,
        "candidate_summary": None,
        "error_message": None,
        "created_at": created_at or world.now_iso(),
        "completed_at": None,
        "cancelled_at": None,
        "_log_ids": [entry["id"] for entry in selected],
    }
    org.simulations[simulation["id"]] = simulation
    org.simulation_results[simulation["id"]] = []
    forget_old_simulations(org)
    return simulation


def list_simulations(ctx: Context, project_id: str | None = None) -> list[Resource]:
    found = [s for s in ctx.org.simulations.values() if project_id is None or s["project_id"] == project_id]
    found.sort(key=lambda s: s["created_at"], reverse=True)
    return [public(s) for s in found]


def create_simulation(ctx: Context, body: dict[str, Any]) -> Resource:
    body = dict(body)
    if moment(body["window_start"]) > moment(body["window_end"]):
        raise Invalid("window_start must not be after window_end", code="invalid_window")
    check_policy(body["candidate_policy"], body["candidate_config"])
    if body.get("project_id") is not None:
        ctx.org.project(body["project_id"])
    if body.get("baseline_config_id") is not None:
        baseline = ctx.org.get("routing_configs", body["baseline_config_id"])
        if body.get("project_id") is None:
            body["project_id"] = baseline["project_id"]
        elif baseline["project_id"] != body["project_id"]:
            raise Conflict(f"baseline_config_id '{baseline['id']}' belongs to another project", code="project_mismatch")
    simulation = new_simulation(ctx.org, ctx.world, body)
    ctx.audit("simulation", simulation["id"], "created", {"name": {"before": None, "after": simulation["name"]}},
              metadata={"project_id": simulation["project_id"], "request_count": simulation["request_count"]})
    ctx.runtime.kick_simulations()
    return public(simulation)


def get_simulation(ctx: Context, simulation_id: str) -> Resource:
    return public(ctx.org.get("simulations", simulation_id))


def cancel_simulation(ctx: Context, simulation_id: str) -> Resource:
    simulation = ctx.org.get("simulations", simulation_id)
    if simulation["status"] not in ("pending", "running"):
        raise Conflict(f"only pending or running simulations can be cancelled; this one is {simulation['status']}",
                       code="not_cancellable")
    before = simulation["status"]
    simulation["status"] = "cancelled"
    simulation["cancelled_at"] = ctx.now_iso()
    ctx.audit("simulation", simulation["id"], "cancelled", {"status": {"before": before, "after": "cancelled"}},
              metadata={"processed_count": simulation["processed_count"],
                        "request_count": simulation["request_count"]})
    return public(simulation)


def promotion_target(org: OrgState, simulation: Resource) -> Resource | None:
    """The baseline config, else the project's production config (its active config, oldest first)."""
    if simulation["baseline_config_id"]:
        return org.routing_configs.get(simulation["baseline_config_id"])
    candidates = [c for c in org.routing_configs.values()
                  if c["project_id"] == simulation["project_id"] and c["is_active"]]
    production = [c for c in candidates if c["name"] == "production"]
    return (production or sorted(candidates, key=lambda c: c["created_at"]) or [None])[0]


def promote_simulation(ctx: Context, simulation_id: str) -> dict[str, Any]:
    """The candidate becomes a new version of the baseline (or production) config."""
    org, world = ctx.org, ctx.world
    simulation = org.get("simulations", simulation_id)
    if simulation["status"] != "completed":
        raise Conflict(f"only completed simulations can be promoted; this one is {simulation['status']}",
                       code="not_completed")
    target = promotion_target(org, simulation)
    if target is None:
        raise Conflict("nothing to promote into: the simulation has no baseline config and its project no active "
                       "routing config", code="no_promotion_target")
    before = {"policy": target["policy"], "version": target["version"]}
    version = add_version(org, world, target, simulation["candidate_policy"], simulation["candidate_config"],
                          ctx.actor_id)
    simulation["promoted_at"] = world.now_iso()
    simulation["promoted_to"] = {"routing_config_id": target["id"], "version": version["version"]}
    ctx.audit("simulation", simulation["id"], "promoted",
              metadata={"routing_config_id": target["id"], "version": version["version"]})
    ctx.audit("routing_config", target["id"], "updated",
              {"policy": {"before": before["policy"], "after": target["policy"]},
               "version": {"before": before["version"], "after": target["version"]}},
              metadata={"promoted_from_simulation": simulation["id"]})
    ctx.emit("routing_config.updated",
             {"routing_config_id": target["id"], "name": target["name"], "project_id": target["project_id"],
              "policy": target["policy"], "version": target["version"], "promoted_from_simulation": simulation["id"]},
             project_id=target["project_id"])
    return {"simulation_id": simulation["id"], "routing_config_id": target["id"], "version": version["version"],
            "policy": target["policy"], "promoted_at": simulation["promoted_at"]}


def results(ctx: Context, simulation_id: str) -> list[Resource]:
    simulation = ctx.org.get("simulations", simulation_id)
    return [dict(r) for r in ctx.org.simulation_results.get(simulation["id"], [])]


def estimate(ctx: Context, project_id: str, start: datetime | str, end: datetime | str) -> dict[str, Any]:
    start, end = moment(start), moment(end)
    count = len(select_logs(ctx.org.logs.between(project_id, start, end), project_id, start, end)) \
        if start <= end else 0
    return {"request_count": count, "project_id": project_id, "from": iso(start), "to": iso(end)}
