"""Budgets, their alerts and events."""

from __future__ import annotations

from ..domain import budgets
from ..registry import Call, Reply, created, deleted, ok, operation


@operation("listBudgets")
def list_budgets(call: Call) -> Reply:
    return ok(budgets.list_budgets(call.ctx, call.query.get("projectId"), call.query.get("scopeType")))


@operation("createBudget")
def create_budget(call: Call) -> Reply:
    return created(budgets.create_budget(call.ctx, call.body))


@operation("getBudget")
def get_budget(call: Call) -> Reply:
    return ok(budgets.get_budget(call.ctx, call.path["id"]))


@operation("updateBudget")
def update_budget(call: Call) -> Reply:
    return ok(budgets.update_budget(call.ctx, call.path["id"], call.body))


@operation("deleteBudget")
def delete_budget(call: Call) -> Reply:
    return deleted(budgets.delete_budget(call.ctx, call.path["id"]))


@operation("resetBudgetSpend")
def reset_budget(call: Call) -> Reply:
    return ok(budgets.reset_budget(call.ctx, call.path["id"]))


@operation("listBudgetEvents")
def list_budget_events(call: Call) -> Reply:
    return ok(budgets.list_budget_events(call.ctx, call.path["id"], call.query.get("limit", 50)))


@operation("listBudgetAlerts")
def list_budget_alerts(call: Call) -> Reply:
    return ok(budgets.list_budget_alerts(call.ctx, call.path["id"]))


@operation("createBudgetAlert")
def create_budget_alert(call: Call) -> Reply:
    body = call.body
    return created(budgets.create_budget_alert(call.ctx, call.path["id"], body["threshold_pct"], body["channel"],
                                               body.get("destination")))


@operation("deleteBudgetAlert")
def delete_budget_alert(call: Call) -> Reply:
    return deleted(budgets.delete_budget_alert(call.ctx, call.path["id"], call.body["alertId"]))
