"""Simulations: replay a window of logged traffic through a candidate config, compare to baseline.

`select_logs` is the single definition of "the traffic a simulation covers", shared by
create (request_count) and estimate. `SimulationRunner` advances running simulations in
small chunks so `processed_count` climbs visibly; `step()` does one chunk synchronously.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterable

from ..clock import VirtualClock, iso, parse_iso
from . import catalogue
from ..tables import after_commit
from .worker import Worker
from .routing import RouteRequest, RoutingError, PolicyConfigError, route

log = logging.getLogger("modelux.simulations")
Resource = dict[str, Any]
MICRO = Decimal("0.000001")
CHUNK = 100
# On a virtual clock a simulation runs at this many requests per clock second (at least one second).
VIRTUAL_RATE = 100


def run_seconds(simulation: Resource) -> float:
    """How long a simulation runs on a virtual clock."""
    return max(1.0, simulation["request_count"] / VIRTUAL_RATE)


def matches_filter(entry: Resource, selector: dict[str, Any] | None) -> bool:
    if not selector:
        return True
    for key in ("status", "end_user_id", "routing_config_name"):
        if key in selector and entry.get(key) != selector[key]:
            return False
    if "model" in selector and selector["model"] not in (entry.get("model_used"), entry.get("model_requested")):
        return False
    tags = entry.get("tags") or {}
    return all(tags.get(k) == v for k, v in (selector.get("tags") or {}).items())


def select_logs(logs: Iterable[Resource], project_id: str | None, start: datetime, end: datetime,
                selector: dict[str, Any] | None = None) -> list[Resource]:
    """Logs of the project (any project when None) with start <= timestamp <= end, oldest first."""
    chosen = [
        entry for entry in logs
        if (project_id is None or entry["project_id"] == project_id)
        and start <= parse_iso(entry["timestamp"]) <= end
        and matches_filter(entry, selector)
    ]
    chosen.sort(key=lambda e: (e["timestamp"], e["id"]))
    return chosen


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return float(ordered[index])


def summarize(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate of per-request outcomes: count, cost, latency p50/p95, error rate, model mix."""
    costs = sum((Decimal(o["cost_usd"]) for o in outcomes), Decimal(0))
    latencies = [o["latency_ms"] for o in outcomes if o.get("latency_ms") is not None]
    errors = sum(1 for o in outcomes if o.get("status") == "error")
    models = Counter(o.get("model") or "unknown" for o in outcomes)
    return {
        "request_count": len(outcomes),
        "total_cost_usd": str(costs.quantize(MICRO)),
        "avg_cost_usd": str((costs / len(outcomes)).quantize(MICRO)) if outcomes else "0.000000",
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "error_rate": round(errors / len(outcomes), 6) if outcomes else 0.0,
        "model_distribution": dict(models.most_common()),
    }


def baseline_outcome(entry: Resource) -> dict[str, Any]:
    return {"model": entry.get("model_used"), "provider": entry.get("provider"),
            "cost_usd": entry.get("cost_usd") or "0", "latency_ms": entry.get("latency_ms"),
            "status": entry.get("status")}


def request_of(entry: Resource) -> RouteRequest:
    return RouteRequest(model=entry.get("model_requested"), messages=entry.get("request_messages"),
                        tags=dict(entry.get("tags") or {}), end_user_id=entry.get("end_user_id"),
                        trace_id=entry.get("trace_id"), input_tokens=entry.get("input_tokens"),
                        budget_used_pct=None)


def candidate_outcome(entry: Resource, policy: str, config: dict[str, Any],
                      resolve: Callable[[str], Any]) -> dict[str, Any]:
    """What the candidate would have done with this request (tokens as logged)."""
    try:
        decision = route(policy, config, request_of(entry), resolve=resolve)
    except (RoutingError, PolicyConfigError) as exc:
        return {"model": None, "provider": None, "cost_usd": "0", "latency_ms": None, "status": "error",
                "error": str(exc), "steps": []}
    model = catalogue.get(decision.selected_model)
    cost = catalogue.cost_usd(decision.selected_model, entry.get("input_tokens") or 0, entry.get("output_tokens") or 0)
    same_provider = decision.selected_provider == entry.get("provider")
    failed = entry.get("status") == "error" and same_provider
    return {"model": decision.selected_model, "provider": decision.selected_provider,
            "cost_usd": str(Decimal(cost).quantize(MICRO)),
            "latency_ms": model.typical_latency_ms if model else decision.estimated_latency_ms,
            "status": "error" if failed else "success", "steps": decision.steps}


def compare(entry: Resource, baseline: dict[str, Any], candidate: dict[str, Any]) -> Resource:
    delta_cost = Decimal(candidate["cost_usd"]) - Decimal(baseline["cost_usd"])
    delta_latency = None
    if baseline.get("latency_ms") is not None and candidate.get("latency_ms") is not None:
        delta_latency = candidate["latency_ms"] - baseline["latency_ms"]
    return {
        "request_id": entry["id"],
        "timestamp": entry["timestamp"],
        "baseline_decision": {k: v for k, v in baseline.items() if k != "steps"},
        "candidate_decision": {k: v for k, v in candidate.items() if k != "steps"},
        "diff": {
            "model_changed": baseline.get("model") != candidate.get("model"),
            "provider_changed": baseline.get("provider") != candidate.get("provider"),
            "cost_delta_usd": str(delta_cost.quantize(MICRO)),
            "latency_delta_ms": delta_latency,
            "status_changed": baseline.get("status") != candidate.get("status"),
        },
    }


def fail(simulation: Resource, now: datetime, message: str) -> None:
    """End a simulation whose run broke off: `failed`, with why in `error_message`."""
    simulation.update(status="failed", completed_at=iso(now), error_message=message)


class SimulationRunner:
    """Advances pending and running simulations in chunks, in the background or by `step()`."""

    def __init__(self, world, resolver_for: Callable[[Any, str | None], Callable[[str], Any]]):
        self.world = world
        self.resolver_for = resolver_for
        self._worker = Worker("simulation-runner", lambda: 0.1, 0.1)

    def kick(self) -> None:
        """Look for work now; inside a request, once its changes are committed."""
        after_commit(lambda: self._worker.wake())

    def step(self, chunk: int = CHUNK) -> bool:
        """Process one chunk (`chunk` requests) of every active simulation; True while work remains."""
        busy = False
        with self.world.lock:
            for org in list(self.world.orgs.values()):
                for simulation in list(org.simulations.values()):
                    if simulation["status"] in ("pending", "running"):
                        try:
                            self._advance(org, simulation, chunk)
                        except Exception as exc:  # one broken simulation must not stall the others
                            log.exception("simulation %s failed", simulation["id"])
                            fail(simulation, self.world.now(org), f"simulation failed: {type(exc).__name__}: {exc}")
                        # One waiting on a virtual clock moves when the clock does (the runner is kicked then).
                        busy = busy or (simulation["status"] in ("pending", "running")
                                        and not isinstance(self.world.clock_of(org), VirtualClock))
        return busy

    def run_all(self, max_steps: int = 100000) -> None:
        for _ in range(max_steps):
            if not self.step():
                return

    def _advance(self, org, simulation: Resource, chunk_size: int = CHUNK) -> None:
        clock = self.world.clock_of(org)
        now = clock.now()
        if simulation["status"] == "pending":
            simulation["status"] = "running"
            simulation["started_at"] = iso(now)
            return
        selected = simulation["_log_ids"]
        done = simulation["processed_count"]
        if isinstance(clock, VirtualClock):  # paced by the clock: done when the clock passes its run time
            elapsed = (now - parse_iso(simulation["started_at"])).total_seconds()
            if elapsed < run_seconds(simulation):
                chunk_size = min(chunk_size, max(0, int(elapsed * VIRTUAL_RATE) - done))
            else:
                chunk_size = len(selected)
                now = parse_iso(simulation["started_at"]) + timedelta(seconds=run_seconds(simulation))
        chunk = selected[done:done + chunk_size]
        resolve = self.resolver_for(org, simulation["project_id"])
        results = org.simulation_results.setdefault(simulation["id"], [])
        for log_id in chunk:
            entry = org.logs.get(log_id)
            if entry is None:  # deleted since creation: nothing to compare
                continue
            baseline = baseline_outcome(entry)
            candidate = candidate_outcome(entry, simulation["candidate_policy"], simulation["candidate_config"], resolve)
            results.append(compare(entry, baseline, candidate))
        simulation["processed_count"] = min(len(selected), done + len(chunk))
        if simulation["processed_count"] >= len(selected) and not self._waits(clock, simulation, now):
            simulation["baseline_summary"] = summarize([r["baseline_decision"] for r in results])
            simulation["candidate_summary"] = summarize([r["candidate_decision"] for r in results])
            simulation["status"] = "completed"
            simulation["completed_at"] = iso(now)

    @staticmethod
    def _waits(clock: Any, simulation: Resource, now: datetime) -> bool:
        """On a virtual clock a simulation is not done before its run time has passed on it."""
        return isinstance(clock, VirtualClock) and \
            (now - parse_iso(simulation["started_at"])).total_seconds() < run_seconds(simulation)

    def start(self, poll_seconds: float = 0.1) -> None:
        """Advance in the background: quickly while work remains, else idle until kicked."""
        self._worker = Worker("simulation-runner", lambda: 0.02 if self.step() else poll_seconds, poll_seconds)
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()
