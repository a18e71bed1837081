"""Simulations: the estimate and a simulation count the project's logs of the window, a backwards window is rejected,
a simulation runs to completion over every request, promotion adds a version to its baseline."""

from __future__ import annotations

from datetime import timedelta

from modelux_spec import format_timestamp
from ..target import dumps
from .common import (EMPTY_WINDOW, POLICY_A, POLICY_B, SIMULATION_LEFT, all_logs, audit, iso_now, project_with_logs,
                     simulation_body, versions, wait_simulation, window_with_traffic)
from .context import RuleContext
from .core import rule


@rule("MX-ESTIMATE-MATCHES-SIM", source="docs", title="The estimate and a simulation count the project's logs of "
      "the window", ref="Simulations: `request_count` = logs of the project in the window (and filter); "
                        "`GET /simulations/estimate` gives the same number for the same window.",
      needs=("logs",), not_in_staging=SIMULATION_LEFT)
def estimate_matches_simulation(ctx: RuleContext) -> None:
    """DOMAIN.md, Simulations: "`request_count` = logs of the project in the window (and filter); `GET
    /simulations/estimate` gives the same number for the same window."

    The window holds part of the project's logs (from a gap between two of them to after the newest), so a target
    ignoring it counts too many; a window long before any traffic must estimate 0."""
    project_id = project_with_logs(ctx)
    empty = {"projectId": project_id, "from": EMPTY_WINDOW[0], "to": EMPTY_WINDOW[1]}
    nothing = ctx.data_object(ctx.t.get("/simulations/estimate", params=empty), 200, what="GET estimate")
    ctx.check(nothing.get("request_count") == 0, f"the estimate for {empty}, long before any traffic, is "
                                                 f"{nothing.get('request_count')!r}")
    for _ in range(3):
        logs = all_logs(ctx, projectId=project_id)
        window = window_with_traffic(logs or [])
        if window is None:
            ctx.skip(f"the logs of project {project_id} cannot be counted (too many, or without timestamps)")
        start, end, inside = window
        body = simulation_body(ctx, project_id, window_start=format_timestamp(start), window_end=format_timestamp(end))
        span = {"projectId": project_id, "from": body["window_start"], "to": body["window_end"]}
        before = ctx.data_object(ctx.t.get("/simulations/estimate", params=span), 200, what="GET estimate")
        sim = ctx.data_object(ctx.t.post("/simulations", json=body), 201, what="POST /simulations")
        after = ctx.data_object(ctx.t.get("/simulations/estimate", params=span), 200, what="GET estimate")
        ctx.t.post(f"/simulations/{ctx.ident(sim, 'POST /simulations')}/cancel")
        if before.get("request_count") != after.get("request_count") or len(all_logs(ctx, projectId=project_id)
                                                                              or []) != len(logs or []):
            continue  # traffic changed meanwhile
        ctx.check(before.get("request_count") == len(inside),
                  f"the estimate for {span} is {before.get('request_count')!r}, but {len(inside)} of the project's "
                  f"{len(logs or [])} logs fall in that window")
        ctx.check(sim.get("request_count") == before.get("request_count"),
                  f"the estimate for {span} is {before.get('request_count')!r} but the simulation over the same "
                  f"window covers {sim.get('request_count')!r} requests")
        return
    ctx.skip("the project's traffic kept changing")


@rule("MX-SIM-WINDOW-400", source="docs", title="A simulation window that runs backwards is rejected with 400",
      ref="Simulations: Create validates the window (start < end) and the candidate config (400).")
def simulation_window_validated(ctx: RuleContext) -> None:
    """DOMAIN.md, Simulations: "Create validates the window (start < end) and the candidate config (400).\""""
    project = ctx.project()
    body = simulation_body(ctx, project["id"], window_start=iso_now(), window_end=iso_now(-timedelta(days=2)))
    ctx.expect_error(ctx.t.post("/simulations", json=body), 400, what="a simulation whose window ends before it starts")
    body = simulation_body(ctx, project["id"], candidate_policy="single", candidate_config={})
    ctx.expect_error(ctx.t.post("/simulations", json=body), 400, what="a simulation with an invalid candidate config")


@rule("MX-SIM-LIFECYCLE", source="docs", title="Simulations run pending → running → completed and cover every request",
      ref="Simulations: Lifecycle `pending → running → completed` (or `failed`), `processed_count` climbing to "
          "`request_count`; summaries for baseline and candidate; `results` per request.",
      needs=("logs",), not_in_staging=SIMULATION_LEFT)
def simulation_lifecycle(ctx: RuleContext) -> None:
    """DOMAIN.md, Simulations: "Lifecycle `pending → running → completed` (or `failed`), `processed_count` climbing
    to `request_count`; summaries (…) for baseline and candidate; `results` per request with both decisions and a
    diff.\""""
    project_id = project_with_logs(ctx)
    sim = ctx.data_object(ctx.t.post("/simulations", json=simulation_body(ctx, project_id)), 201,
                          what="POST /simulations")
    ctx.ident(sim, "POST /simulations")
    ctx.check(sim.get("status") in ("pending", "running", "completed"), f"a new simulation is {sim.get('status')!r}")
    done = wait_simulation(ctx, sim["id"])
    ctx.check(done["status"] == "completed", f"simulation ended {done['status']!r}: {dumps(done)}")
    statuses = ctx.data["statuses"]
    order = ["pending", "running", "completed"]
    ctx.check(all(s in order for s in statuses) and statuses == sorted(statuses, key=order.index),
              f"statuses went {statuses}; the lifecycle is pending → running → completed")
    ctx.check(done.get("processed_count") == done.get("request_count"),
              f"completed with processed_count {done.get('processed_count')} of {done.get('request_count')}")
    ctx.check(done.get("baseline_summary") and done.get("candidate_summary"), "a completed simulation lacks summaries")
    results = ctx.expect_data(ctx.t.get(f"/simulations/{sim['id']}/results"), 200, what="GET …/results")
    ctx.check(isinstance(results, list) and len(results) == done.get("request_count"),
              f"{len(results) if isinstance(results, list) else results!r} results for "
              f"{done.get('request_count')} requests")


@rule("MX-SIM-PROMOTE", source="docs", title="Promoting a completed simulation adds a version to its baseline, audited",
      ref="Simulations: `promote` of a completed one applies the candidate to the baseline/production config as a "
          "new version, and is audited.", needs=("logs",), not_in_staging=SIMULATION_LEFT)
def promote_adds_version(ctx: RuleContext) -> None:
    """DOMAIN.md, Simulations: "`promote` of a completed one applies the candidate to the baseline/production
    config as a new version, and is audited.\""""
    project_id = project_with_logs(ctx)
    baseline = ctx.routing_config(project_id, *POLICY_A)
    sim = ctx.data_object(ctx.t.post("/simulations", json=simulation_body(ctx, project_id,
                                                                           baseline_config_id=baseline["id"])),
                          201, what="POST /simulations with a baseline")
    ctx.ident(sim, "POST /simulations with a baseline")
    done = wait_simulation(ctx, sim["id"])
    ctx.check(done["status"] == "completed", f"simulation ended {done['status']!r}")
    ctx.expect(ctx.t.post(f"/simulations/{sim['id']}/promote"), 200, what="POST …/promote")
    config = ctx.data_object(ctx.t.get(f"/routing-configs/{baseline['id']}"), 200, what="GET baseline config")
    ctx.check(config.get("version") == 2 and (config.get("policy"), config.get("config")) == POLICY_B,
              f"after promotion the baseline is version {config.get('version')} "
              f"{config.get('policy')}/{dumps(config.get('config'))}; expected version 2 with the candidate")
    history = versions(ctx, baseline["id"])
    ctx.check(len(history) == 2, f"the baseline has {len(history)} versions after promotion")
    audited = [e for rid in (sim["id"], baseline["id"]) for e in audit(ctx, resourceId=rid)[0]
               if e.get("action") in ("promoted", "updated")]
    ctx.check(audited, "the promotion left no audit entry on the simulation or the config")
