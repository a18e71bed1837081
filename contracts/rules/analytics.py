"""Analytics, decision traces and log replay: analytics add up and count the logs of their window, a log's trace
selects the model the log used, a replay routes through the config as it is now."""

from __future__ import annotations

from typing import Any

from modelux_spec import format_timestamp
from ..target import dumps
from .common import EMPTY_WINDOW, NO_SUCH, all_logs, selected_model, window_with_traffic
from .context import RuleContext, at
from .core import rule


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _sum_counts(ctx: RuleContext, items: Any, what: str, name: str = "request_count") -> int | None:
    """Σ `name` over a breakdown (None when the answer has no such breakdown); each count must be an integer."""
    if not isinstance(items, list):
        return None
    counts = [item.get(name) for item in ctx.list_of_objects(items, what)]
    odd = [count for count in counts if count is not None and (type(count) is not int)]
    ctx.check(not odd, f"{what}: `{name}` is {dumps(odd[0]) if odd else ''}, not an integer")
    return sum(count or 0 for count in counts)


@rule("MX-ANALYTICS-SUMS", source="docs", title="Analytics add up: breakdowns sum to the totals, totals count the logs",
      ref="Logs, analytics: Analytics and the decision summary are computed from the same logs, so the numbers agree: "
          "`total_requests` = Σ `by_provider.request_count` = Σ `by_model.request_count` = "
          "Σ `time_series.request_count`; `error_rate` = errors / total.", needs=("logs",))
def analytics_breakdowns_sum(ctx: RuleContext) -> None:
    """DOMAIN.md, Logs, analytics, decisions: "Analytics and the decision summary are computed from the same logs,
    so the numbers agree: `total_requests` = Σ `by_provider.request_count` = Σ `by_model.request_count` =
    Σ `time_series.request_count`; `error_rate` = errors / total."

    Besides the sums: a window holding part of the logs counts exactly those logs (all of them, and a project's);
    a window long before any traffic and a project without logs count 0 — a target ignoring the window or the
    project, or answering fixed numbers, fails."""
    logs = ctx.logs_or_skip()
    variants: list[dict[str, Any]] = [{}, {"bucket": "hour"}, {"projectId": logs[0]["project_id"]}]
    for params in variants:
        _analytics_adds_up(ctx, params)
    fresh = ctx.project()
    for params in ({"startTime": EMPTY_WINDOW[0], "endTime": EMPTY_WINDOW[1]}, {"projectId": fresh["id"]}):
        report = _analytics_adds_up(ctx, params)
        ctx.check(report.get("total_requests") == 0, f"GET /analytics?{params} has no traffic to count, yet "
                                                     f"total_requests = {report.get('total_requests')!r}")
    for _ in range(3):
        everything = all_logs(ctx)
        if everything is None:
            return  # too many logs to count them one by one: the sums above are what can be judged
        window = window_with_traffic(everything)
        if window is None:
            ctx.fail(f"no log carries an ISO 8601 timestamp: {dumps(everything[0])}")
        start, end, inside = window
        span = {"startTime": format_timestamp(start), "endTime": format_timestamp(end)}
        project = inside[0]["project_id"] if inside else logs[0]["project_id"]
        cases = [(span, len(inside)),
                 ({**span, "projectId": project}, sum(1 for log in inside if log["project_id"] == project))]
        totals = [_analytics_adds_up(ctx, params).get("total_requests") for params, _ in cases]
        if len(all_logs(ctx) or []) != len(everything):
            continue  # traffic arrived meanwhile: count again
        for (params, want), got in zip(cases, totals):
            ctx.check(got == want, f"GET /analytics?{params}: total_requests = {got!r}, but {want} logs fall in that "
                                   f"window (of {len(everything)})")
        return
    ctx.skip("the logs kept changing while they were counted")


def _analytics_adds_up(ctx: RuleContext, params: dict[str, Any]) -> dict[str, Any]:
    report = ctx.data_object(ctx.t.get("/analytics", params=params), 200, what=f"GET /analytics?{params}")
    total = report.get("total_requests")
    ctx.check(isinstance(total, int), f"GET /analytics?{params}: total_requests is {total!r}")
    for part in ("by_provider", "by_model", "time_series"):
        summed = _sum_counts(ctx, report.get(part), f"GET /analytics?{params}: `{part}`")
        ctx.check(summed is None or summed == total,
                  f"GET /analytics?{params}: Σ {part}.request_count = {summed} but total_requests = {total}")
    errors = report.get("error_count")
    if errors is None and isinstance(report.get("time_series"), list):
        errors = _sum_counts(ctx, report["time_series"], f"GET /analytics?{params}: `time_series`", "error_count")
    rate = report.get("error_rate")
    if total and _is_number(errors) and _is_number(rate):
        ctx.check(abs(rate - errors / total) < 1e-4,
                  f"GET /analytics?{params}: error_rate = {rate} but errors/total = {errors}/{total}")
    return report


@rule("MX-TRACE-MATCHES-LOG", source="docs", title="A log's decision trace selects the model the log used",
      ref="Dry-run, replay, decision traces: `GET /logs/{id}/trace` agrees with the log (`selected_model` = "
          "`model_used`).", needs=("logs",))
def trace_agrees_with_log(ctx: RuleContext) -> None:
    """DOMAIN.md, Dry-run, replay, decision traces: "`GET /logs/{id}/trace` agrees with the log (`selected_model`
    = `model_used`)." The logs checked must have used at least two models — else a trace that ignores its log
    would agree by chance: SKIP — and the trace of a log that does not exist is a 404."""
    logs = [log for log in ctx.logs_or_skip() if isinstance(log.get("model_used"), str) and log["model_used"]]
    ctx.expect_error(ctx.t.get(f"/logs/log_{NO_SUCH}/trace"), 404, what="GET /logs/{id}/trace of a log that does "
                                                                        "not exist")
    routed = [log for log in logs if log.get("routing_config_name")][:5]
    direct = [log for log in logs if not log.get("routing_config_name")][:5]
    checked = set()
    for log in routed + direct:
        reply = ctx.t.get(f"/logs/{log['id']}/trace")
        if reply.status == 404:
            continue  # deleted meanwhile
        trace = ctx.expect_data(reply, 200, what="GET /logs/{id}/trace")
        ctx.check(at(trace, "selected_model") == log["model_used"],
                  f"trace of {log['id']} selects {at(trace, 'selected_model')!r} but the log used "
                  f"{log['model_used']!r}")
        checked.add(log["model_used"])
    if len(checked) < 2:
        ctx.skip(f"the logs checked all used {sorted(checked) or 'no'} model(s): a trace that ignores its log would "
                 "agree as well")


REPLAY_MODELS = ("mistral-large-latest", "gemini-2.0-flash", "gpt-4.1-mini")  # two of them differ from the log's


def _replay_cases(log: dict[str, Any], refs: dict[str, str]) -> list[tuple[str, str, dict[str, Any], str]]:
    """(what, policy, config, the model the replay must select) for a log: every documented policy, each naming
    models the log did not use, so a replay that answers the logged decision fails."""
    m, n = [model for model in REPLAY_MODELS if model != log.get("model_used")][:2]
    cases = [
        ("single", "single", {"model": m}, m),
        ("fallback, nothing failing: the first attempt", "fallback",
         {"attempts": [{"model": n, "timeout_ms": 5000}, {"model": m, "timeout_ms": 5000}]}, n),
        ("cost_optimized over one allowed model", "cost_optimized", {"quality_tier": "low", "allowed_models": [m]}, m),
        ("latency_optimized over one allowed model", "latency_optimized", {"allowed_models": [n]}, n),
        ("round_robin over one model", "round_robin", {"models": [m]}, m),
        ("ensemble of one member", "ensemble", {"members": [{"model": n, "weight": 1}]}, n),
        ("ab_test with one variant", "ab_test", {"variants": [{"weight": 100, "config": refs["@m"]}]}, m),
    ]
    tags = log.get("tags") if isinstance(log.get("tags"), dict) else {}
    key, value = next(((k, v) for k, v in tags.items() if isinstance(v, str) and "'" not in v
                       and k.replace("_", "").replace("-", "").isalnum()), (None, None))
    if key is not None:
        rules = [{"if": f"tags.{key} == '{value}'", "then": refs["@m"]}, {"else": refs["@n"]}]
        cases.append((f"custom_rules on the log's tag {key}={value}", "custom_rules", {"rules": rules}, m))
        rules = [{"if": f"tags.{key} == 'mx-no-such-value'", "then": refs["@m"]}, {"else": refs["@n"]}]
        cases.append((f"custom_rules on a value the log's tag {key} does not have", "custom_rules", {"rules": rules}, n))
    return cases


@rule("MX-REPLAY-CURRENT-CONFIG", source="docs", title="Replaying a log routes it through its config as it is now, "
      "whatever the policy",
      ref="Dry-run, replay, decision traces: `POST /logs/{id}/replay` routes the logged request through the "
          "project's *current* config. Policies (docs): single, fallback, cost_optimized, latency_optimized, "
          "ensemble, ab_test, custom_rules (and round_robin, spec).", needs=("logs",),
      not_in_staging="it edits a routing config the run did not create")
def replay_follows_current_config(ctx: RuleContext) -> None:
    """DOMAIN.md, Dry-run, replay, decision traces: "`POST /logs/{id}/replay` routes the logged request through the
    project's *current* config." Spec, replay: "replays it through the current routing config as a dry-run".

    The routing config a log names is switched to each documented policy in turn, in a form whose answer follows
    from the docs and names a model the log did not use (`ab_test` and `custom_rules` route to two `single` configs
    made for the purpose; `custom_rules` matches the log's own tag, then a value it does not have); the log is
    replayed after each switch and must select that model. The config's policy and config are then put back as
    they were (that adds versions). Not run in staging mode: it edits a config the run did not create.
    """
    named = [log for log in ctx.logs_or_skip() if log.get("routing_config_name")]
    if not named:
        ctx.skip("no request log names a routing config")
    for log in named[:20]:
        configs = ctx.data_list(ctx.t.get("/routing-configs", params={"projectId": log["project_id"]}), 200,
                                what="GET /routing-configs?projectId=…")
        config = next((c for c in configs if c.get("name") == log["routing_config_name"]), None)
        if config is not None:
            break
    else:
        ctx.skip("no routing config named by a recent log still exists")
    what = "GET /routing-configs?projectId=…: the config a log names"
    config_id, config_name = ctx.ident(config, what), ctx.field(config, "name", str, what=what)
    original = {"policy": ctx.field(config, "policy", what=what), "config": ctx.field(config, "config", what=what)}
    m, n = [model for model in REPLAY_MODELS if model != log.get("model_used")][:2]
    refs = {}
    for placeholder, model in (("@m", m), ("@n", n)):
        made = ctx.routing_config(log["project_id"], "single", {"model": model}, name=ctx.name(placeholder[1:]))
        refs[placeholder] = "@" + ctx.field(made, "name", str, what="setup: POST /routing-configs")
    try:
        for what, policy, settings, expected in _replay_cases(log, refs):
            ctx.expect(ctx.t.patch(f"/routing-configs/{config_id}", json={"policy": policy, "config": settings}),
                       200, what=f"PATCH /routing-configs/{{id}} to {policy} {dumps(settings)}")
            reply = ctx.t.post(f"/logs/{log['id']}/replay")
            if reply.status == 502:
                ctx.skip("the target's routing proxy is unreachable (replay answered 502)")
            data = ctx.expect_data(reply, 200, what=f"POST /logs/{{id}}/replay through {what}")
            ctx.check(selected_model(data) == expected,
                      f"log {log['id']} names config {config_name!r}, now {what} ({policy} {dumps(settings)}), "
                      f"yet its replay selected {selected_model(data)!r}; expected {expected!r} (the log used "
                      f"{log.get('model_used')!r})")
    finally:
        ctx.expect(ctx.t.patch(f"/routing-configs/{config_id}", json=original), 200,
                   what="PATCH /routing-configs/{id} back to its policy and config")
