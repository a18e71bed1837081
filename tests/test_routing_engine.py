"""The routing engine and model catalogue: each policy routes as documented, rejects bad
configs naming the field, and is deterministic (a property over generated configs/requests)."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.engines import catalogue
from mockserver.engines.routing import (
    RESULTS,
    Decision,
    PolicyConfigError,
    RouteRequest,
    RoutingError,
    parse_condition,
    reads_budget,
    route,
    trace_key,
    validate_policy,
)
from modelux_spec.vocabulary import POLICIES, RULE_PATTERN

KNOWN = [m.name for m in catalogue.MODELS]
UNKNOWN = ["acme-llm-7b", "llama-4-scout", "gpt-5-preview"]

# The project's other routing configs, as `resolve("@slug")` sees them.
CONFIGS: dict[str, tuple[str, dict]] = {
    "@cheap": ("single", {"model": "gpt-4o-mini"}),
    "@smart": ("single", {"model": "claude-sonnet-4"}),
    "@chain": ("fallback", {"attempts": [{"model": "acme-llm-7b"}, {"model": "gemini-2.0-flash"}]}),
    "@rr": ("round_robin", {"models": ["gpt-4o", "mistral-large-latest"]}),
    "@exp": ("ab_test", {"variants": [{"weight": 1, "config": "@cheap"}, {"weight": 1, "config": "@rr"}]}),
}
resolve = CONFIGS.get


def request(**kw) -> RouteRequest:
    kw.setdefault("messages", [{"role": "user", "content": "Summarise this ticket for me, please."}])
    return RouteRequest(**kw)


def selected_steps(decision: Decision) -> list[dict]:
    return [s for s in decision.steps if s["result"] in ("selected", "fallback")]


def step(decision: Decision, rule: str) -> dict:
    return next(s for s in decision.steps if s["rule"] == rule)


# ── one valid example per policy ────────────────────────────────────────────


def test_single_selects_the_model_and_its_provider():
    d = route("single", {"model": "gpt-4o", "provider_credential_id": "cred_9"}, request(trace_id="t"))
    assert (d.selected_model, d.selected_provider) == ("gpt-4o", "openai")
    assert step(d, "model")["result"] == "selected"
    assert "cred_9" in step(d, "model")["reason"]


def test_single_unknown_model_infers_provider_from_name():
    d = route("single", {"model": "claude-next"}, request())
    assert (d.selected_model, d.selected_provider) == ("claude-next", "anthropic")
    assert "not in catalogue" in d.steps[0]["reason"]


def test_round_robin_selects_the_model_its_step_names():
    models = ["gpt-4o", "claude-sonnet-4", "gemini-2.0-flash"]
    d = route("round_robin", {"models": models}, request(trace_id="trace-1"))
    [chosen] = [i for i, s in enumerate(d.steps) if s["result"] == "selected"]
    assert d.selected_model == models[chosen]
    assert sum(s["result"] == "skipped" for s in d.steps) == 2


def test_round_robin_spreads_across_models_over_many_trace_ids():
    models = ["gpt-4o", "claude-sonnet-4", "gemini-2.0-flash"]
    config = {"models": models}
    counts = Counter(route("round_robin", config, request(trace_id=f"tr_{i}")).selected_model for i in range(600))
    assert set(counts) == set(models)
    assert all(150 <= n <= 250 for n in counts.values()), counts


def test_fallback_skips_unknown_models_and_selects_the_first_known():
    attempts = [{"model": "acme-llm-7b"}, {"model": "claude-sonnet-4", "timeout_ms": 30000}, {"model": "gpt-4o"}]
    config = {"attempts": attempts}
    d = route("fallback", config, request())
    assert d.selected_model == "claude-sonnet-4"
    assert step(d, "attempts[0]") == {
        "rule": "attempts[0]",
        "result": "skipped",
        "reason": "acme-llm-7b: model not in catalogue",
    }
    assert step(d, "attempts[1]")["result"] == "selected"
    assert step(d, "attempts[2]")["result"] == "skipped"


def test_fallback_with_only_unknown_models_falls_back_to_the_last():
    d = route("fallback", {"attempts": [{"model": "acme-a"}, {"model": "acme-b"}]}, request())
    assert d.selected_model == "acme-b"
    assert step(d, "attempts[1]")["result"] == "fallback"


def test_cost_optimized_picks_the_cheapest_allowed_model_at_the_tier():
    allowed = ["claude-opus-4", "gpt-4o", "mistral-small-latest", "gemini-1.5-pro", "acme-llm-7b"]
    d = route("cost_optimized", {"quality_tier": "high", "allowed_models": allowed}, request(input_tokens=2000))
    assert d.selected_model == "gemini-1.5-pro"
    assert "below high" in step(d, "candidates[2]")["reason"]
    assert "not in catalogue" in step(d, "candidates[4]")["reason"]
    assert len(d.steps) == len(allowed)


def test_cost_optimized_defaults_to_the_whole_catalogue():
    tokens = 5000
    d = route("cost_optimized", {"quality_tier": "medium"}, request(input_tokens=tokens))
    eligible = [m for m in catalogue.MODELS if m.quality in ("medium", "high")]
    cheapest = min(eligible, key=lambda m: catalogue.cost_usd(m.name, tokens, 256))
    assert d.selected_model == cheapest.name
    assert Decimal(d.estimated_cost_usd) == catalogue.cost_usd(cheapest.name, tokens, 256)


def test_cost_optimized_skips_models_whose_context_window_is_too_small():
    config = {"quality_tier": "medium", "allowed_models": ["gpt-4o-mini", "gemini-2.0-flash"]}
    d = route("cost_optimized", config, request(input_tokens=500_000))
    assert d.selected_model == "gemini-2.0-flash"  # gpt-4o-mini is cheaper but holds only 128k tokens
    assert "context window" in step(d, "candidates[0]")["reason"]


def test_latency_optimized_picks_the_fastest_within_the_limit():
    config = {"allowed_models": ["o3-mini", "gpt-4o", "gemini-2.0-flash", "acme-llm-7b"], "max_latency_ms": 1000}
    d = route("latency_optimized", config, request())
    assert d.selected_model == "gemini-2.0-flash"
    assert d.estimated_latency_ms == catalogue.get("gemini-2.0-flash").typical_latency_ms
    assert "exceeds max_latency_ms" in step(d, "candidates[0]")["reason"]


def test_latency_optimized_without_an_eligible_model_falls_back_to_the_fastest():
    d = route("latency_optimized", {"allowed_models": ["o3-mini", "gpt-4o"], "max_latency_ms": 1}, request())
    assert d.selected_model == "gpt-4o"
    assert step(d, "candidates[1]")["result"] == "fallback"


def test_ensemble_reports_the_heaviest_member_and_costs_all_of_them():
    members = [
        {"model": "gpt-4o", "weight": 1},
        {"model": "claude-sonnet-4", "weight": 3},
        {"model": "gemini-1.5-pro", "weight": 3},
    ]
    d = route("ensemble", {"members": members, "aggregation": "best_of"}, request(input_tokens=100))
    assert d.selected_model == "claude-sonnet-4"  # tie with gemini-1.5-pro goes to the first listed
    assert [step(d, f"members[{i}]")["result"] for i in range(3)] == ["matched", "selected", "matched"]
    assert "best_of" in step(d, "aggregation")["reason"]
    assert Decimal(d.estimated_cost_usd) == sum(catalogue.cost_usd(m["model"], 100, 256) for m in members)


def test_ab_test_routes_through_the_chosen_variant():
    d = route("ab_test", {"variants": [{"weight": 100, "config": "@smart"}]}, request(trace_id="x"), resolve)
    assert d.selected_model == "claude-sonnet-4"
    assert step(d, "variants[0]")["result"] == "selected"
    assert step(d, "@smart/model")["result"] == "selected"


def test_ab_test_honours_weights():
    config = {"variants": [{"weight": 90, "config": "@cheap"}, {"weight": 10, "config": "@smart"}]}
    counts = Counter(
        route("ab_test", config, request(trace_id=f"trace-{i}"), resolve).selected_model for i in range(1000)
    )
    assert 850 <= counts["gpt-4o-mini"] <= 950, counts
    assert counts["gpt-4o-mini"] + counts["claude-sonnet-4"] == 1000


def test_ab_test_weights_are_relative():
    percent = {"variants": [{"weight": 90, "config": "@cheap"}, {"weight": 10, "config": "@smart"}]}
    ratio = {"variants": [{"weight": 9, "config": "@cheap"}, {"weight": 1, "config": "@smart"}]}
    for i in range(200):
        req = request(trace_id=f"t{i}")
        a, b = route("ab_test", percent, req, resolve), route("ab_test", ratio, req, resolve)
        assert [s["result"] for s in a.steps] == [s["result"] for s in b.steps]  # same variant chosen


def test_ab_test_without_trace_id_is_sticky_per_end_user():
    config = {"variants": [{"weight": 50, "config": "@cheap"}, {"weight": 50, "config": "@smart"}]}
    seen = set()
    for user in range(60):
        hi = request(end_user_id=f"u{user}", messages=[{"role": "user", "content": "hi"}])
        bye = request(end_user_id=f"u{user}", messages=[{"role": "user", "content": "bye"}])
        a, b = route("ab_test", config, hi, resolve), route("ab_test", config, bye, resolve)
        assert a.selected_model == b.selected_model
        seen.add(a.selected_model)
    assert seen == {"gpt-4o-mini", "claude-sonnet-4"}


def test_ab_test_unknown_slug_is_a_routing_error():
    with pytest.raises(RoutingError, match="config '@missing' not found"):
        route("ab_test", {"variants": [{"weight": 1, "config": "@missing"}]}, request(), resolve)


def test_reference_cycles_stop_with_a_routing_error():
    loop = {"@loop": ("ab_test", {"variants": [{"weight": 1, "config": "@loop"}]})}
    with pytest.raises(RoutingError, match="deep"):
        route("ab_test", loop["@loop"][1], request(), loop.get)


def test_nested_references_route_through_every_level():
    d = route("ab_test", {"variants": [{"weight": 1, "config": "@exp"}]}, request(trace_id="deep"), resolve)
    assert d.selected_model in {"gpt-4o-mini", "gpt-4o", "mistral-large-latest"}
    assert any(s["rule"].startswith("@exp/@") for s in d.steps)


def test_cascade_selects_the_first_step_and_explains_escalation():
    config = {"steps": [{"model": "gpt-4o-mini", "min_confidence": 0.7}, {"model": "gpt-4o"}]}
    d = route("cascade", config, request())
    assert d.selected_model == "gpt-4o-mini"
    assert step(d, "steps[1]") == {
        "rule": "steps[1]",
        "result": "skipped",
        "reason": "escalation only if confidence < 0.7 at steps[0]",
    }


RULES = {
    "rules": [
        {"if": "tags.tier == 'premium'", "then": "@smart"},
        {"if": "budget.used_pct >= 80 and tags.tier != 'premium'", "then": "@cheap"},
        {"else": "@chain"},
    ]
}


@pytest.mark.parametrize(
    "tags, used, model, chosen_rule",
    [
        ({"tier": "premium"}, 95.0, "claude-sonnet-4", "rules[0]"),
        ({"tier": "free"}, 80.0, "gpt-4o-mini", "rules[1]"),
        ({}, 85.5, "gpt-4o-mini", "rules[1]"),
        ({"tier": "free"}, 79.9, "gemini-2.0-flash", "rules[2]"),
        ({"tier": "free"}, None, "gemini-2.0-flash", "rules[2]"),
    ],
)
def test_custom_rules_first_match_wins_else_otherwise(tags, used, model, chosen_rule):
    d = route("custom_rules", RULES, request(tags=tags, budget_used_pct=used), resolve)
    assert d.selected_model == model
    assert step(d, chosen_rule)["result"] in ("matched", "fallback")
    assert "routes via @" in step(d, chosen_rule)["reason"]


def test_custom_rules_and_binds_tighter_than_or():
    def rules(condition: str) -> dict:
        return {"rules": [{"if": condition, "then": "@smart"}, {"else": "@cheap"}]}

    config = rules("tags.a == 'x' or tags.b == 'y' and budget.used_pct > 50")
    assert route("custom_rules", config, request(tags={"a": "x"}), resolve).selected_model == "claude-sonnet-4"
    assert route("custom_rules", config, request(tags={"b": "y"}), resolve).selected_model == "gpt-4o-mini"
    # Grouping is not part of the documented language (the effective spec's pattern), so it is refused.
    with pytest.raises(PolicyConfigError):
        validate_policy("custom_rules", rules("(tags.a == 'x' or tags.b == 'y') and budget.used_pct > 50"))


@settings(max_examples=200, deadline=None)
@given(st.from_regex(RULE_PATTERN, fullmatch=True))
def test_every_condition_the_spec_admits_parses(condition):
    # The effective spec's pattern and the parser describe the same language.
    parse_condition(condition)


def test_custom_rules_without_match_or_else_is_a_routing_error():
    with pytest.raises(RoutingError, match="no custom rule matched"):
        route("custom_rules", {"rules": [{"if": "tags.a == 'x'", "then": "@smart"}]}, request(), resolve)


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os')",
        "__import__('os').system('id')",
        "tags.a == 'x' or __import__('os')",
        "tags.a == 'x'; import os",
        "budget.used_pct > 80 and",
        "tags.tier > 'a'",
        "budget.used_pct == 'high'",
        "tags.tier == premium",
        "(tags.a == 'x'",
        "tags.a == 'x')",
        "open('/etc/passwd')",
        "lambda: 1",
    ],
)
def test_custom_rules_parser_rejects_anything_outside_the_language(expression):
    config = {"rules": [{"if": "tags.a == 'ok'", "then": "@cheap"}, {"if": expression, "then": "@smart"}]}
    with pytest.raises(PolicyConfigError) as caught:
        validate_policy("custom_rules", config)
    assert caught.value.field == "config.rules[1].if"
    assert str(caught.value).startswith("config.rules[1].if: ")


# ── invalid configs name the field ──────────────────────────────────────────


@pytest.mark.parametrize(
    "policy, config, field",
    [
        ("single", {}, "config.model"),
        ("single", {"model": ""}, "config.model"),
        ("single", ["gpt-4o"], "config"),
        ("round_robin", {"models": []}, "config.models"),
        ("fallback", {"attempts": [{"model": "gpt-4o", "timeout_ms": -1}]}, "config.attempts[0].timeout_ms"),
        ("fallback", {"attempts": [{"model": "gpt-4o"}, {"timeout_ms": 5}]}, "config.attempts[1].model"),
        ("fallback", {"attempts": [{"model": "gpt-4o"}], "retry_on": ["sometimes"]}, "config.retry_on[0]"),
        ("cost_optimized", {"quality_tier": "ultra"}, "config.quality_tier"),
        ("latency_optimized", {"max_latency_ms": 0}, "config.max_latency_ms"),
        ("ensemble", {"members": [{"model": "gpt-4o", "weight": 101}]}, "config.members[0].weight"),
        ("ensemble", {"members": [{"model": "gpt-4o"}], "aggregation": "sum"}, "config.aggregation"),
        ("ab_test", {"variants": [{"weight": 50, "config": "support-bot"}]}, "config.variants[0].config"),
        ("ab_test", {"variants": [{"weight": 0, "config": "@a"}]}, "config.variants[0].weight"),
        ("cascade", {"steps": [{"model": "gpt-4o", "min_confidence": 1.5}]}, "config.steps[0].min_confidence"),
        ("custom_rules", {"rules": [{"if": "tags.a == 'x'"}]}, "config.rules[0]"),
        ("custom_rules", {"rules": [{"if": "tags.a = 'x'", "then": "@a"}]}, "config.rules[0].if"),
        ("round_trip", {"model": "gpt-4o"}, "policy"),
    ],
)
def test_invalid_config_raises_naming_the_field(policy, config, field):
    with pytest.raises(PolicyConfigError) as caught:
        route(policy, config, request(), resolve)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_schema_messages_say_what_is_wrong():
    expected = r"^config\.attempts\[0\]\.timeout_ms: -1 is less than the minimum of 1$"
    with pytest.raises(PolicyConfigError, match=expected):
        validate_policy("fallback", {"attempts": [{"model": "gpt-4o", "timeout_ms": -1}]})


def test_an_invalid_referenced_config_is_a_routing_error_not_a_config_error():
    broken = {"@bad": ("single", {"model": ""})}
    with pytest.raises(RoutingError, match="'@bad' is invalid"):
        route("ab_test", {"variants": [{"weight": 1, "config": "@bad"}]}, request(), broken.get)


def test_a_config_edited_in_place_after_routing_is_validated_again():
    config = {"model": "gpt-4o"}
    assert route("single", config, request()).selected_model == "gpt-4o"
    config["model"] = ""  # the same object, now invalid: a remembered "valid" must not apply
    with pytest.raises(PolicyConfigError) as caught:
        route("single", config, request())
    assert caught.value.field == "config.model"
    config["model"] = "gpt-4o-mini"
    assert route("single", config, request()).selected_model == "gpt-4o-mini"


def test_an_invalid_config_is_rejected_every_time():
    config = {"attempts": [{"model": "gpt-4o", "timeout_ms": 0}]}
    for _ in range(3):
        with pytest.raises(PolicyConfigError, match=r"^config\.attempts\[0\]\.timeout_ms: "):
            route("fallback", config, request())


def test_a_valid_config_under_another_policy_is_still_checked_against_that_policy():
    config = {"model": "gpt-4o"}
    route("single", config, request())
    with pytest.raises(PolicyConfigError):
        route("fallback", config, request())


# ── decisions: shape, cost, latency ─────────────────────────────────────────


def test_decision_trace_is_the_spec_shape_and_as_dict_has_everything():
    d = route("single", {"model": "gpt-4o"}, request(), config_name="support-bot")
    assert d.trace() == {
        "policy": "single",
        "selected_model": "gpt-4o",
        "selected_provider": "openai",
        "steps": d.steps,
    }
    full = d.as_dict()
    assert full["config_name"] == "support-bot"
    assert {"estimated_cost_usd", "estimated_latency_ms"} <= set(full)


def test_cost_estimate_uses_given_tokens_or_message_length():
    given_tokens = route("single", {"model": "gpt-4o"}, request(input_tokens=1000))
    assert Decimal(given_tokens.estimated_cost_usd) == catalogue.cost_usd("gpt-4o", 1000, 256)
    from_text = route("single", {"model": "gpt-4o"}, request(messages=[{"role": "user", "content": "x" * 400}]))
    assert Decimal(from_text.estimated_cost_usd) == catalogue.cost_usd("gpt-4o", 100, 256)
    empty = route("single", {"model": "gpt-4o"}, request(messages=[]))
    assert Decimal(empty.estimated_cost_usd) == catalogue.cost_usd("gpt-4o", 1, 256)


# ── the catalogue ───────────────────────────────────────────────────────────


def test_catalogue_prices_give_positive_decimal_costs():
    for model in catalogue.MODELS:
        cost = catalogue.cost_usd(model.name, 1, 1)
        assert isinstance(cost, Decimal) and cost > 0, model.name
        per_mtok = catalogue.cost_usd(model.name, 1_000_000, 1_000_000)
        assert per_mtok == model.input_price_per_mtok + model.output_price_per_mtok
    assert catalogue.cost_usd("acme-llm-7b", 1000, 1000) > 0


def test_catalogue_is_consistent():
    assert len(KNOWN) == len(set(KNOWN)) >= 14
    assert {m.quality for m in catalogue.MODELS} <= set(catalogue.QUALITY_TIERS)
    tiers = [m for tier in catalogue.QUALITY_TIERS for m in catalogue.by_quality(tier)]
    assert sorted(m.name for m in tiers) == sorted(KNOWN)
    for m in catalogue.MODELS:
        assert m.output_price_per_mtok >= m.input_price_per_mtok > 0 and m.typical_latency_ms > 0, m.name
    assert catalogue.get("gpt-4o").provider == "openai" and catalogue.get("nope") is None


@pytest.mark.parametrize(
    "name, provider",
    [
        ("gpt-5", "openai"),
        ("o1-preview", "openai"),
        ("o3-pro", "openai"),
        ("claude-4-haiku", "anthropic"),
        ("gemini-3-ultra", "google"),
        ("mistral-medium", "mistral"),
        ("llama-4-maverick", "meta"),
        ("llama-3.1-70b-instruct", "groq"),  # the catalogue beats the name prefix
        ("qwen-2.5-72b", "custom"),
    ],
)
def test_provider_for(name, provider):
    assert catalogue.provider_for(name) == provider


# ── properties: deterministic, and always a model of the config ─────────────

models = st.sampled_from(KNOWN + UNKNOWN)
model_lists = st.lists(models, min_size=1, max_size=6)
slugs = st.sampled_from(sorted(CONFIGS))
TAG_KEYS = ["tier", "team", "region"]
TAG_VALUES = ["free", "premium", "support", "eu"]

tag_comparisons = st.builds(
    lambda k, op, v: f"tags.{k} {op} '{v}'",
    st.sampled_from(TAG_KEYS),
    st.sampled_from(["==", "!="]),
    st.sampled_from(TAG_VALUES),
)
budget_comparisons = st.builds(
    lambda op, n: f"budget.used_pct {op} {n}",
    st.sampled_from(["==", "!=", ">", ">=", "<", "<="]),
    st.integers(0, 120) | st.floats(0, 120).map(lambda x: round(x, 2)),
)
comparisons = tag_comparisons | budget_comparisons
conditions = st.lists(st.tuples(st.sampled_from(["and", "or"]), comparisons), max_size=3).flatmap(
    lambda rest: comparisons.map(lambda first: first + "".join(f" {op} {c}" for op, c in rest))
)

def items(required: dict, optional: dict, max_size: int):
    return st.lists(st.fixed_dictionaries(required, optional=optional), min_size=1, max_size=max_size)


POLICY_CONFIGS = {
    "single": st.fixed_dictionaries({"model": models}, optional={"provider_credential_id": st.just("cred_1")}),
    "round_robin": st.fixed_dictionaries({"models": model_lists}),
    "fallback": st.fixed_dictionaries(
        {"attempts": items({"model": models}, {"timeout_ms": st.integers(1, 600000)}, 5)},
        optional={"retry_on": st.lists(st.sampled_from(["timeout", "rate_limit", "server_error", "error"]))},
    ),
    "cost_optimized": st.fixed_dictionaries(
        {"quality_tier": st.sampled_from(catalogue.QUALITY_TIERS)}, optional={"allowed_models": model_lists}
    ),
    "latency_optimized": st.fixed_dictionaries(
        {}, optional={"allowed_models": model_lists, "max_latency_ms": st.integers(1, 5000)}
    ),
    "ensemble": st.fixed_dictionaries(
        {"members": items({"model": models}, {"weight": st.integers(0, 100) | st.floats(0, 100)}, 5)},
        optional={
            "aggregation": st.sampled_from(["majority_vote", "best_of", "concat", "first"]),
            "timeout_ms": st.integers(1, 600000),
        },
    ),
    "ab_test": st.fixed_dictionaries(
        {"variants": items({"weight": st.floats(0.01, 100) | st.integers(1, 100), "config": slugs}, {}, 4)}
    ),
    "cascade": st.fixed_dictionaries(
        {"steps": items({"model": models}, {"min_confidence": st.floats(0, 1)}, 4)}
    ),
    "custom_rules": st.builds(
        lambda rules, fallback: {"rules": [*rules, {"else": fallback}]},
        st.lists(st.fixed_dictionaries({"if": conditions, "then": slugs}), max_size=4),
        slugs,
    ),
}

requests = st.builds(
    RouteRequest,
    model=st.none() | st.sampled_from(["gpt-4o", "@support-bot"]),
    messages=st.none() | st.lists(st.fixed_dictionaries({"role": st.just("user"), "content": st.text(max_size=80)})),
    tags=st.dictionaries(st.sampled_from(TAG_KEYS), st.sampled_from(TAG_VALUES), max_size=3),
    end_user_id=st.none() | st.text(min_size=1, max_size=10),
    trace_id=st.none() | st.text(min_size=1, max_size=20),
    input_tokens=st.none() | st.integers(0, 300_000),
    budget_used_pct=st.none() | st.floats(0, 150),
)


def models_of(policy: str, config: dict) -> set[str]:
    """Every model a config (or the configs it references) names; the catalogue if it names none."""
    if policy in ("ab_test", "custom_rules"):
        refs = [v["config"] for v in config.get("variants", [])]
        refs += [rule.get("then") or rule["else"] for rule in config.get("rules", [])]
        return set().union(*(models_of(*CONFIGS[ref]) for ref in refs))
    if policy in ("cost_optimized", "latency_optimized"):
        return set(config.get("allowed_models", KNOWN))
    if policy == "single":
        return {config["model"]}
    key = {"round_robin": "models", "fallback": "attempts", "ensemble": "members", "cascade": "steps"}[policy]
    return {item if isinstance(item, str) else item["model"] for item in config[key]}


def test_every_policy_has_a_generator():
    assert set(POLICY_CONFIGS) == set(POLICIES)


@pytest.mark.parametrize("policy", POLICIES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_routing_is_deterministic_and_selects_a_model_of_the_config(policy, data):
    config = data.draw(POLICY_CONFIGS[policy], label="config")
    req = data.draw(requests, label="request")
    pristine = copy.deepcopy(config), copy.deepcopy(req)

    first = route(policy, config, req, resolve)
    again = route(policy, copy.deepcopy(config), copy.deepcopy(req), resolve)

    assert first == again
    assert (config, req) == pristine, "routing must not mutate its inputs"
    assert first.selected_model in models_of(policy, config)
    assert first.selected_provider == catalogue.provider_for(first.selected_model)
    assert first.policy == policy and first.steps
    assert all(set(s) == {"rule", "result", "reason"} and s["result"] in RESULTS and s["reason"] for s in first.steps)
    assert selected_steps(first), "some step must say which model was chosen"
    assert re.fullmatch(r"\d+(\.\d+)?", first.estimated_cost_usd) and Decimal(first.estimated_cost_usd) > 0
    assert first.estimated_latency_ms > 0


@settings(max_examples=100, deadline=None)
@given(conditions)
def test_generated_conditions_parse(expression):
    parse_condition(expression)


@pytest.mark.parametrize("policy", POLICIES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_memo_changes_no_decision(policy, data):
    """The seeded world routes with a memo of what the policies that read only the token count picked:
    request after request, every decision is the one routing without it gives."""
    config = data.draw(POLICY_CONFIGS[policy], label="config")
    memo: dict = {}
    for req in data.draw(st.lists(requests, min_size=1, max_size=6), label="requests"):
        assert route(policy, config, req, resolve, memo=memo) == route(policy, config, req, resolve)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=POLICY_CONFIGS["custom_rules"], data=st.data())
def test_a_memo_of_custom_rules_tells_apart_what_their_conditions_read(config, data):
    """The memo keeps which custom rule applies by the values its conditions read. Requests that share some of
    them (a tag; a budget of 0, 0.0 or -0.0, which compare equal but read differently) still get the decision
    routing without it gives, whatever else differs."""
    alike = st.builds(
        RouteRequest,
        tags=st.dictionaries(st.sampled_from(TAG_KEYS), st.sampled_from(TAG_VALUES[:2]), max_size=2),
        budget_used_pct=st.sampled_from([None, 0, 0.0, -0.0, 50, 50.0, 80.5, 120.0]),
        trace_id=st.none() | st.sampled_from(["t1", "t2"]),
        input_tokens=st.sampled_from([None, 10, 150_000]),
    )
    memo: dict = {}
    for req in data.draw(st.lists(alike, min_size=2, max_size=12), label="requests"):
        assert route("custom_rules", config, req, resolve, memo=memo) == route("custom_rules", config, req, resolve)


@pytest.mark.parametrize("policy", POLICIES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_requests_of_one_trace_key_get_one_trace(policy, data):
    """The seeded world reuses what routing made of a request for every later one of the same trace key."""
    config = data.draw(POLICY_CONFIGS[policy], label="config")
    memo: dict = {}
    seen: dict[tuple, dict] = {}
    for req in data.draw(st.lists(requests, min_size=1, max_size=8), label="requests"):
        key = trace_key(policy, config, req, resolve, memo)
        trace = route(policy, config, req, resolve).trace()
        if key is not None:
            assert seen.setdefault(key, trace) == trace
        assert (key is None) == (policy in ("round_robin", "ab_test")) or policy == "custom_rules"


def test_reads_budget_where_a_rule_compares_the_budget():
    rules = [{"if": "tags.tier == 'pro' and budget.used_pct >= 90", "then": "@cheap"}, {"else": "@smart"}]
    assert reads_budget("custom_rules", {"rules": rules})
    assert not reads_budget("custom_rules", {"rules": [{"if": "tags.tier == 'pro'", "then": "@cheap"},
                                                       {"else": "@smart"}]})
    assert not reads_budget("single", {"model": "gpt-4o"})


@pytest.mark.parametrize("policy", POLICIES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_config_that_reads_no_budget_routes_alike_at_any_budget(policy, data):
    """What lets the seeded world make a day's traffic before knowing the spend before it."""
    config = data.draw(POLICY_CONFIGS[policy], label="config")
    req = data.draw(requests, label="request")
    other = data.draw(st.none() | st.floats(0, 150), label="other budget")
    if not reads_budget(policy, config):
        assert route(policy, config, req, resolve) == \
            route(policy, config, dataclasses.replace(req, budget_used_pct=other), resolve)
