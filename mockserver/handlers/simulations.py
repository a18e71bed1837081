"""Simulations."""

from __future__ import annotations

from ..domain import simulations
from ..registry import Call, Reply, created, ok, operation


@operation("listSimulations")
def list_simulations(call: Call) -> Reply:
    return ok(simulations.list_simulations(call.ctx, call.query.get("projectId")))


@operation("createSimulation")
def create_simulation(call: Call) -> Reply:
    return created(simulations.create_simulation(call.ctx, call.body))


@operation("getSimulation")
def get_simulation(call: Call) -> Reply:
    return ok(simulations.get_simulation(call.ctx, call.path["id"]))


@operation("cancelSimulation")
def cancel_simulation(call: Call) -> Reply:
    return ok(simulations.cancel_simulation(call.ctx, call.path["id"]))


@operation("promoteSimulation")
def promote_simulation(call: Call) -> Reply:
    return ok(simulations.promote_simulation(call.ctx, call.path["id"]))


@operation("getSimulationResults")
def get_results(call: Call) -> Reply:
    return ok(simulations.results(call.ctx, call.path["id"]))


@operation("estimateSimulation")
def estimate_simulation(call: Call) -> Reply:
    q = call.query
    return ok(simulations.estimate(call.ctx, q["projectId"], q["from"], q["to"]))
