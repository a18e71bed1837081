"""Dry-runs: a routing engine evaluates a policy for a request and explains its decision; every documented policy
is judged in cases whose right answer follows from the docs, and this project's own decisions in the strict
profile."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from ..target import dumps, replace_strings
from .common import selected_model
from .context import RuleContext
from .core import rule

# Models of the policy cases: well-known, with public list prices far apart (gpt-4o costs 16x gpt-4o-mini).
MODEL_A, MODEL_B, MODEL_C = "gpt-4o-mini", "claude-3-5-haiku-20241022", "gemini-2.0-flash"


@rule("MX-DRYRUN-DECISION", source="docs", title="A dry-run of `single {model}` selects that model and explains it",
      ref="Dry-run: a routing engine evaluates a policy for a request and returns the decision with a trace "
          "(`policy`, `selected_model`, `selected_provider`, `steps`). Policies (docs): `single {model}`.")
def dry_run_single_selects_model(ctx: RuleContext) -> None:
    """DOMAIN.md, Dry-run: the decision comes "with a trace (`policy`, `selected_model`, `selected_provider`,
    `steps[{rule, result, reason}]`)"; Policies (docs): "`single {model, provider_credential_id?}`". Two models
    are asked for in turn, so a target answering one fixed model fails."""
    project = ctx.project()
    for model in ("gpt-4o", MODEL_B):
        body = {"project_id": project["id"], "policy": "single", "config": {"model": model},
                "request": {"model": model, "messages": [{"role": "user", "content": "hello"}]}}
        data = ctx.data_object(ctx.t.post("/routing-configs/dry-run", json=body), 200,
                               what=f"dry-run of single {model}")
        selected = selected_model(data)
        ctx.check(selected == model, f"dry-run of `single {{model: {model}}}` selected {selected!r}")


@dataclass(frozen=True)
class PolicyCase:
    """A request routed by a policy, and every model that is a right answer. `@a` and `@b` name two configs of the
    project, `single {MODEL_A}` and `single {MODEL_B}`."""

    what: str
    policy: str
    config: dict[str, Any]
    right: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)
    trace_id: str | None = None
    our_syntax: bool = False  # the condition language is this project's: a target may reject it (inconclusive)


def _refs(ctx: RuleContext, project_id: str) -> dict[str, str]:
    """Two configs of the project to route to: `@a` → single MODEL_A, `@b` → single MODEL_B."""
    refs = {}
    for placeholder, model in (("@a", MODEL_A), ("@b", MODEL_B)):
        config = ctx.routing_config(project_id, "single", {"model": model}, name=ctx.name(placeholder[1:]))
        refs[placeholder] = "@" + ctx.field(config, "name", str, what="setup: POST /routing-configs")
    return refs


def _judge_dry_runs(ctx: RuleContext, cases: list[PolicyCase]) -> None:
    """Dry-run each case in a new project and check the selected model. A case in our condition language that the
    target rejects with 400 is inconclusive; a rule none of whose cases could be judged is a SKIP."""
    project = ctx.project()
    refs = _refs(ctx, project["id"])
    judged = 0
    for case in cases:
        body = {"project_id": project["id"], "policy": case.policy, "config": replace_strings(case.config, refs),
                "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "route me"}]}}
        if case.tags:
            body["tags"] = case.tags
        if case.trace_id:
            body["trace_id"] = case.trace_id
        reply = ctx.t.post("/routing-configs/dry-run", json=body)
        if reply.status == 400 and case.our_syntax:
            continue
        data = ctx.expect_data(reply, 200, what=f"dry-run of {case.what} ({case.policy} {dumps(body['config'])})")
        selected = selected_model(data)
        ctx.check(selected in case.right, f"dry-run of {case.what}: {case.policy} {dumps(body['config'])}"
                                          f"{f' with tags {case.tags}' if case.tags else ''} selected {selected!r}; "
                                          f"right: {' or '.join(case.right)}")
        judged += 1
    if not judged:
        ctx.skip("the target rejected every case")


POLICY_CASES = [
    PolicyCase("fallback, nothing failing: the first attempt", "fallback",
               {"attempts": [{"model": MODEL_A, "timeout_ms": 5000}, {"model": MODEL_B, "timeout_ms": 5000}]},
               (MODEL_A,)),
    PolicyCase("fallback, attempts swapped", "fallback",
               {"attempts": [{"model": MODEL_B, "timeout_ms": 5000}, {"model": MODEL_A, "timeout_ms": 5000}]},
               (MODEL_B,)),
    PolicyCase("cost_optimized over one allowed model", "cost_optimized",
               {"quality_tier": "low", "allowed_models": [MODEL_C]}, (MODEL_C,)),
    PolicyCase("cost_optimized over another allowed model", "cost_optimized",
               {"quality_tier": "low", "allowed_models": ["gpt-4o"]}, ("gpt-4o",)),
    PolicyCase("cost_optimized: gpt-4o-mini costs a sixteenth of gpt-4o", "cost_optimized",
               {"quality_tier": "low", "allowed_models": ["gpt-4o", MODEL_A]}, (MODEL_A,)),
    PolicyCase("latency_optimized over one allowed model", "latency_optimized", {"allowed_models": [MODEL_B]},
               (MODEL_B,)),
    PolicyCase("latency_optimized over another allowed model", "latency_optimized", {"allowed_models": [MODEL_C]},
               (MODEL_C,)),
    PolicyCase("round_robin over one model", "round_robin", {"models": [MODEL_C]}, (MODEL_C,)),
    PolicyCase("round_robin over two models", "round_robin", {"models": [MODEL_A, MODEL_B]}, (MODEL_A, MODEL_B)),
    PolicyCase("ensemble of one member", "ensemble", {"members": [{"model": MODEL_B, "weight": 1}]}, (MODEL_B,)),
    PolicyCase("ensemble of two members: one of them", "ensemble",
               {"aggregation": "majority_vote", "members": [{"model": MODEL_A, "weight": 1},
                                                            {"model": MODEL_C, "weight": 1}], "timeout_ms": 5000},
               (MODEL_A, MODEL_C)),
    PolicyCase("ab_test with one variant", "ab_test", {"variants": [{"weight": 100, "config": "@a"}]}, (MODEL_A,)),
    PolicyCase("ab_test with the other variant", "ab_test", {"variants": [{"weight": 100, "config": "@b"}]},
               (MODEL_B,)),
    PolicyCase("ab_test with two variants: one of them", "ab_test",
               {"variants": [{"weight": 50, "config": "@a"}, {"weight": 50, "config": "@b"}]}, (MODEL_A, MODEL_B)),
    PolicyCase("custom_rules, the rule matches", "custom_rules",
               {"rules": [{"if": "tags.tier == 'pro'", "then": "@a"}, {"else": "@b"}]}, (MODEL_A,),
               tags={"tier": "pro"}, our_syntax=True),
    PolicyCase("custom_rules, no rule matches: else", "custom_rules",
               {"rules": [{"if": "tags.tier == 'pro'", "then": "@a"}, {"else": "@b"}]}, (MODEL_B,),
               tags={"tier": "free"}, our_syntax=True),
]


@rule("MX-DRYRUN-POLICIES", source="docs", title="A dry-run of every documented policy selects a model the policy allows",
      ref="Policies (docs): `fallback {attempts}`, `cost_optimized {quality_tier, allowed_models}`, "
          "`latency_optimized`, `ensemble {members}`, `ab_test {variants: [{weight, config: \"@slug\"}]}`, "
          "`custom_rules {rules: [{if, then}, {else}]}` over `tags.<k>`; the spec names `round_robin`.")
def dry_run_every_policy(ctx: RuleContext) -> None:
    """DOMAIN.md, Policies (docs) and Dry-run: each policy is dry-run in cases whose right answer follows from what
    the policy is: with nothing failing a fallback uses its first attempt; a cost- or latency-optimised choice is
    one of its allowed models (the cheaper of gpt-4o and gpt-4o-mini, at public list prices); a round robin, an
    ensemble or an A/B test picks one of its models, members or variants' configs; custom rules route a tagged
    request by the rule that matches, else by `else`. Each family has a second case whose answer differs, so a
    target that ignores the config fails. (The condition syntax `tags.k == 'v'` is this project's: a target
    rejecting it leaves those cases undecided.)"""
    _judge_dry_runs(ctx, POLICY_CASES)


OUR_POLICY_CASES = [
    PolicyCase("ensemble: the heaviest member is reported", "ensemble",
               {"members": [{"model": MODEL_A, "weight": 1}, {"model": MODEL_B, "weight": 3}]}, (MODEL_B,)),
    PolicyCase("ensemble: weights swapped", "ensemble",
               {"members": [{"model": MODEL_A, "weight": 3}, {"model": MODEL_B, "weight": 1}]}, (MODEL_A,)),
    PolicyCase("cascade: the first step answers first", "cascade", {"steps": [{"model": MODEL_C}, {"model": "gpt-4o"}]},
               (MODEL_C,)),
    PolicyCase("cascade: steps swapped", "cascade", {"steps": [{"model": "gpt-4o"}, {"model": MODEL_C}]}, ("gpt-4o",)),
    PolicyCase("cost_optimized at quality high skips a medium model", "cost_optimized",
               {"quality_tier": "high", "allowed_models": [MODEL_A, "gpt-4o"]}, ("gpt-4o",)),
    PolicyCase("latency_optimized: gemini-2.0-flash answers faster than gpt-4o", "latency_optimized",
               {"allowed_models": ["gpt-4o", MODEL_C]}, (MODEL_C,)),
    PolicyCase("custom_rules over an unknown budget: else", "custom_rules",
               {"rules": [{"if": "budget.used_pct > 50", "then": "@a"}, {"else": "@b"}]}, (MODEL_B,)),
    PolicyCase("custom_rules, the first matching rule wins", "custom_rules",
               {"rules": [{"if": "tags.tier == 'pro'", "then": "@b"}, {"if": "tags.tier != 'free'", "then": "@a"},
                          {"else": "@a"}]}, (MODEL_B,), tags={"tier": "pro"}),
]


@rule("MX-DRYRUN-POLICIES-OURS", source="ours", title="Dry-runs follow this project's routing decisions, same input same "
      "decision", ref="Dry-run: a deterministic routing engine; same input + same config → same decision (ours). "
                      "spec/DECISIONS.md and the mock's catalogue: heaviest ensemble member, cascade's first step, "
                      "quality tiers and typical latencies.")
def dry_run_our_routing_decisions(ctx: RuleContext) -> None:
    """DOMAIN.md, Dry-run (ours): "a deterministic routing engine … Same input + same config → same decision." The
    mock's engine reports the heaviest ensemble member, answers a cascade with its first step, ranks models by its
    catalogue's quality tiers and typical latencies, and reads an unknown budget as "no match"; an A/B test and a
    round robin give the same answer to the same trace id."""
    _judge_dry_runs(ctx, OUR_POLICY_CASES)
    project = ctx.project()
    refs = _refs(ctx, project["id"])
    for policy, config in (("ab_test", {"variants": [{"weight": 50, "config": "@a"}, {"weight": 50, "config": "@b"}]}),
                           ("round_robin", {"models": [MODEL_A, MODEL_B, MODEL_C]})):
        body = {"project_id": project["id"], "policy": policy, "config": replace_strings(config, refs),
                "trace_id": f"tr_{uuid.uuid4().hex[:8]}", "request": {"messages": [{"role": "user", "content": "x"}]}}
        picks = [selected_model(ctx.expect_data(ctx.t.post("/routing-configs/dry-run", json=body), 200,
                                                what=f"dry-run of {policy}")) for _ in range(3)]
        ctx.check(all(pick == picks[0] for pick in picks),
                  f"the same {policy} dry-run (same trace id) selected {sorted(set(map(str, picks)))}")
