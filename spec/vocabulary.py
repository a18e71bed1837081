"""The API's vocabulary: routing policies and their config shapes, webhook event types.

Both the mock (its routing engine, its webhook engine) and the effective spec (errata E11, E12)
read these; nothing here knows about either.
"""

from __future__ import annotations

from typing import Any

POLICIES = (
    "single",
    "round_robin",
    "fallback",
    "cost_optimized",
    "latency_optimized",
    "ensemble",
    "ab_test",
    "cascade",
    "custom_rules",
)

# Event types the mock emits; also the `event_types` vocabulary of endpoints.
EVENT_TYPES = (
    "budget.threshold_reached",
    "budget.exceeded",
    "routing_config.created",
    "routing_config.updated",
    "routing_config.deleted",
    "provider.health_changed",
    "api_key.revoked",
    "request.anomaly_detected",
    "webhook.test",
)

MONEY_PATTERN = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$"
SLUG_REF_PATTERN = r"^@[A-Za-z0-9][A-Za-z0-9._-]*$"

_str = {"type": "string", "minLength": 1}
_model = {"type": "string", "minLength": 1, "maxLength": 200}
_slug_ref = {"type": "string", "pattern": SLUG_REF_PATTERN}
_CONDITION = (
    r"(tags\.[A-Za-z0-9_.-]+ ?(==|!=) ?'[^'\\]*'"
    r"|budget\.used_pct ?(==|!=|>=|<=|>|<) ?-?[0-9]{1,6}(\.[0-9]{1,4})?)"
)
# custom_rules conditions: comparisons over tags.<key> and budget.used_pct joined by and/or.
RULE_PATTERN = rf"^{_CONDITION}( (and|or) {_CONDITION})*$"


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


# Policy config shapes (product docs). Weights are relative, so they need not sum to 100.
POLICY_CONFIG_SCHEMAS: dict[str, dict[str, Any]] = {
    "single": _obj(["model"], model=_model, provider_credential_id={"type": "string"}),
    "round_robin": _obj(
        ["models"], models={"type": "array", "minItems": 1, "maxItems": 20, "items": _model}
    ),
    "fallback": _obj(
        ["attempts"],
        attempts={
            "type": "array",
            "minItems": 1,
            "maxItems": 10,
            "items": _obj(
                ["model"], model=_model, timeout_ms={"type": "integer", "minimum": 1, "maximum": 600000}
            ),
        },
        retry_on={
            "type": "array",
            "items": {"type": "string", "enum": ["timeout", "rate_limit", "server_error", "error"]},
        },
        total_budget_ms={"type": "integer", "minimum": 1, "maximum": 600000},
    ),
    "cost_optimized": _obj(
        ["quality_tier"],
        quality_tier={"type": "string", "enum": ["low", "medium", "high"]},
        allowed_models={"type": "array", "minItems": 1, "maxItems": 50, "items": _model},
    ),
    "latency_optimized": _obj(
        [],
        allowed_models={"type": "array", "minItems": 1, "maxItems": 50, "items": _model},
        max_latency_ms={"type": "integer", "minimum": 1, "maximum": 600000},
    ),
    "ensemble": _obj(
        ["members"],
        aggregation={"type": "string", "enum": ["majority_vote", "best_of", "concat", "first"]},
        members={
            "type": "array",
            "minItems": 1,
            "maxItems": 10,
            "items": _obj(["model"], model=_model, weight={"type": "number", "minimum": 0, "maximum": 100}),
        },
        timeout_ms={"type": "integer", "minimum": 1, "maximum": 600000},
    ),
    "ab_test": _obj(
        ["variants"],
        variants={
            "type": "array",
            "minItems": 1,
            "maxItems": 10,
            "items": _obj(
                ["weight", "config"],
                weight={"type": "number", "exclusiveMinimum": 0, "maximum": 100},
                config=_slug_ref,
            ),
        },
    ),
    "cascade": _obj(
        ["steps"],
        steps={
            "type": "array",
            "minItems": 1,
            "maxItems": 10,
            "items": _obj(
                ["model"], model=_model, min_confidence={"type": "number", "minimum": 0, "maximum": 1}
            ),
        },
    ),
    "custom_rules": _obj(
        ["rules"],
        rules={
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["if", "then"],
                        "properties": {"if": {"type": "string", "pattern": RULE_PATTERN, "maxLength": 500}, "then": _slug_ref},
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "required": ["else"],
                        "properties": {"else": _slug_ref},
                        "additionalProperties": False,
                    },
                ]
            },
        },
    ),
}
