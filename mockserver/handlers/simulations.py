"""Simulations: create over a window, watch them run, cancel, promote the candidate."""

from __future__ import annotations

from ..clock import as_utc, iso
from ..engines.simulations import select_logs
from ..errors import Conflict, Invalid
from ..registry import Call, Reply, created, ok, operation
from ..store import OrgState, Resource, public
from .common import jsonable
from .routing import add_version, check_policy


def new_simulation(org: OrgState, world, body: dict, created_at: str | None = None) -> Resource:
    start, end = as_utc(body["window_start"]), as_utc(body["window_end"])
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
    return simulation


@operation("listSimulations")
def list_simulations(call: Call) -> Reply:
    project_id = call.query.get("projectId")
    found = [s for s in call.org.simulations.values() if project_id is None or s["project_id"] == project_id]
    found.sort(key=lambda s: s["created_at"], reverse=True)
    return ok([public(s) for s in found])


@operation("createSimulation")
def create_simulation(call: Call) -> Reply:
    body = dict(call.body)
    if as_utc(body["window_start"]) > as_utc(body["window_end"]):
        raise Invalid("window_start must not be after window_end", code="invalid_window")
    check_policy(body["candidate_policy"], body["candidate_config"])
    if body.get("project_id") is not None:
        call.org.project(body["project_id"])
    if body.get("baseline_config_id") is not None:
        baseline = call.org.get("routing_configs", body["baseline_config_id"])
        if body.get("project_id") is None:
            body["project_id"] = baseline["project_id"]
        elif baseline["project_id"] != body["project_id"]:
            raise Conflict(f"baseline_config_id '{baseline['id']}' belongs to another project", code="project_mismatch")
    simulation = new_simulation(call.org, call.world, body)
    call.world.audit(call.org, call.actor, "simulation", simulation["id"], "created",
                     {"name": {"before": None, "after": simulation["name"]}},
                     metadata={"project_id": simulation["project_id"], "request_count": simulation["request_count"]})
    call.services.simulations.kick()
    return created(public(simulation))


@operation("getSimulation")
def get_simulation(call: Call) -> Reply:
    return ok(public(call.org.get("simulations", call.path["id"])))


@operation("cancelSimulation")
def cancel_simulation(call: Call) -> Reply:
    simulation = call.org.get("simulations", call.path["id"])
    if simulation["status"] not in ("pending", "running"):
        raise Conflict(f"only pending or running simulations can be cancelled; this one is {simulation['status']}",
                       code="not_cancellable")
    before = simulation["status"]
    simulation["status"] = "cancelled"
    simulation["cancelled_at"] = call.world.now_iso()
    call.world.audit(call.org, call.actor, "simulation", simulation["id"], "cancelled",
                     {"status": {"before": before, "after": "cancelled"}},
                     metadata={"processed_count": simulation["processed_count"],
                               "request_count": simulation["request_count"]})
    return ok(public(simulation))


def promotion_target(org: OrgState, simulation: Resource) -> Resource | None:
    """The baseline config, else the project's production config (its active config, oldest first)."""
    if simulation["baseline_config_id"]:
        return org.routing_configs.get(simulation["baseline_config_id"])
    candidates = [c for c in org.routing_configs.values()
                  if c["project_id"] == simulation["project_id"] and c["is_active"]]
    production = [c for c in candidates if c["name"] == "production"]
    return (production or sorted(candidates, key=lambda c: c["created_at"]) or [None])[0]


@operation("promoteSimulation")
def promote_simulation(call: Call) -> Reply:
    org, world = call.org, call.world
    simulation = org.get("simulations", call.path["id"])
    if simulation["status"] != "completed":
        raise Conflict(f"only completed simulations can be promoted; this one is {simulation['status']}",
                       code="not_completed")
    target = promotion_target(org, simulation)
    if target is None:
        raise Conflict("nothing to promote into: the simulation has no baseline config and its project no active "
                       "routing config", code="no_promotion_target")
    before = {"policy": target["policy"], "version": target["version"]}
    version = add_version(org, world, target, simulation["candidate_policy"], simulation["candidate_config"],
                          call.actor.id)
    simulation["promoted_at"] = world.now_iso()
    simulation["promoted_to"] = {"routing_config_id": target["id"], "version": version["version"]}
    world.audit(org, call.actor, "simulation", simulation["id"], "promoted",
                metadata={"routing_config_id": target["id"], "version": version["version"]})
    world.audit(org, call.actor, "routing_config", target["id"], "updated",
                {"policy": {"before": before["policy"], "after": target["policy"]},
                 "version": {"before": before["version"], "after": target["version"]}},
                metadata={"promoted_from_simulation": simulation["id"]})
    world.emit(org, "routing_config.updated",
               {"routing_config_id": target["id"], "name": target["name"], "project_id": target["project_id"],
                "policy": target["policy"], "version": target["version"], "promoted_from_simulation": simulation["id"]},
               project_id=target["project_id"])
    return ok({"simulation_id": simulation["id"], "routing_config_id": target["id"], "version": version["version"],
               "policy": target["policy"], "promoted_at": simulation["promoted_at"]})


@operation("getSimulationResults")
def get_results(call: Call) -> Reply:
    simulation = call.org.get("simulations", call.path["id"])
    return ok([dict(r) for r in call.org.simulation_results.get(simulation["id"], [])])


@operation("estimateSimulation")
def estimate_simulation(call: Call) -> Reply:
    q = call.query
    start, end = as_utc(q["from"]), as_utc(q["to"])
    count = len(select_logs(call.org.logs.between(q["projectId"], start, end), q["projectId"], start, end)) \
        if start <= end else 0
    return ok({"request_count": count, "project_id": q["projectId"], "from": iso(start), "to": iso(end)})
