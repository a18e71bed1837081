"""The API's vocabulary: routing policies and their config shapes, webhook event types.

Both the mock (its routing engine, its webhook engine) and the effective spec (errata E11, E12)
read these; nothing here knows about either.
"""

from __future__ import annotations

from dataclasses import dataclass
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

# ── webhook events ───────────────────────────────────────────────────────────
# The envelope of every delivery is documented (docs: `{id, type, created_at, data}`); the shape of
# `data` per type is ours, except `webhook.test`'s `synthetic: true` (spec). The mock validates every
# event it emits, seeded or live, against these; the effective spec documents them (erratum E18).

_ts = {"type": "string", "format": "date-time"}
_id = {"type": "string", "minLength": 1}
_nullable_id = {"type": ["string", "null"]}


def _data(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


_BUDGET = dict(
    budget_id=_id, budget_name={"type": "string"}, event_type={"type": "string"},
    scope_type={"type": "string", "enum": ["org", "project", "end_user"]}, scope_id=_nullable_id,
    spend_usd={"type": "string"}, amount_usd={"type": "string"}, used_pct={"type": "number"},
)
_CONFIG = dict(
    routing_config_id=_id, name={"type": "string"}, project_id=_id, policy={"type": "string"},
    version={"type": "integer", "minimum": 1},
)
_HEALTH = {"type": "string", "enum": ["healthy", "unhealthy"]}


@dataclass(frozen=True)
class EventType:
    description: str
    data: dict[str, Any]  # JSON Schema of the event's `data`


EVENTS: dict[str, EventType] = {
    "budget.threshold_reached": EventType(
        "A budget's spend reached its soft cap or one of its alert thresholds.",
        _data(["budget_id", "budget_name", "event_type", "scope_type", "scope_id", "spend_usd", "amount_usd",
               "used_pct", "threshold_pct"],
              **_BUDGET, threshold_pct={"type": "number"}, alert_id={"type": "string"},
              channel={"type": "string", "enum": ["email", "webhook"]}, destination={"type": ["string", "null"]}),
    ),
    "budget.exceeded": EventType(
        "A budget's spend reached its amount; the hard-cap action applies.",
        _data(["budget_id", "budget_name", "event_type", "scope_type", "scope_id", "spend_usd", "amount_usd",
               "used_pct", "action"],
              **_BUDGET, action={"type": "string", "enum": ["block", "downgrade"]},
              downgrade_to={"type": ["string", "null"]}),
    ),
    "routing_config.created": EventType("A routing config was created.", _data(list(_CONFIG), **_CONFIG)),
    "routing_config.updated": EventType(
        "A routing config changed (new version, restore, name or flags).",
        _data(list(_CONFIG), **_CONFIG, changed={"type": "array", "items": {"type": "string"}},
              restored_from_version={"type": "integer"}, promoted_from_simulation={"type": "string"}),
    ),
    "routing_config.deleted": EventType("A routing config was deleted.", _data(list(_CONFIG), **_CONFIG)),
    "provider.health_changed": EventType(
        "A provider credential became healthy or unhealthy: its traffic's hourly error rate crossed the "
        "threshold (`reason: error_rate`), or its key was replaced and verified again "
        "(`reason: credential_reverified`).",
        {"oneOf": [
            _data(["provider", "status", "previous_status", "reason", "window_start", "window_end", "request_count",
                   "error_count", "error_rate", "threshold", "min_requests", "provider_credential_ids"],
                  provider={"type": "string"}, status=_HEALTH, previous_status=_HEALTH,
                  reason={"const": "error_rate"}, window_start=_ts, window_end=_ts,
                  request_count={"type": "integer"}, error_count={"type": "integer"}, error_rate={"type": "number"},
                  threshold={"type": "number"}, min_requests={"type": "integer"},
                  provider_credential_ids={"type": "array", "items": {"type": "string"}}),
            _data(["provider", "status", "previous_status", "reason", "provider_credential_id", "name", "verified_at"],
                  provider={"type": "string"}, status=_HEALTH, previous_status=_HEALTH,
                  reason={"const": "credential_reverified"}, provider_credential_id=_id, name={"type": "string"},
                  verified_at=_ts),
        ]},
    ),
    "api_key.revoked": EventType(
        "A proxy API key was revoked.",
        _data(["api_key_id", "name", "key_prefix", "project_id", "revoked_at"], api_key_id=_id,
              name={"type": "string"}, key_prefix={"type": "string"}, project_id=_id, revoked_at=_ts),
    ),
    "request.anomaly_detected": EventType(
        "A project's traffic showed an anomaly: its hourly error rate reached the threshold.",
        _data(["kind", "project_id", "window_start", "window_end", "request_count", "error_count", "error_rate",
               "threshold", "min_requests", "sample_log_ids"],
              kind={"const": "error_rate_spike"}, project_id=_id, window_start=_ts, window_end=_ts,
              request_count={"type": "integer"}, error_count={"type": "integer"}, error_rate={"type": "number"},
              threshold={"type": "number"}, min_requests={"type": "integer"},
              sample_log_ids={"type": "array", "maxItems": 5, "items": {"type": "string"}}),
    ),
    "webhook.test": EventType(
        "A synthetic event sent by the test endpoint (data.synthetic = true).",
        _data(["synthetic"], synthetic={"const": True}, endpoint_id=_id, message={"type": "string"}),
    ),
}

# Event types the mock emits; also the `event_types` vocabulary of endpoints.
EVENT_TYPES = tuple(EVENTS)

# The envelope every delivery POSTs (docs), with its `data` per type.
EVENT_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "type", "created_at", "data"],
    "properties": {"id": _id, "type": {"type": "string", "enum": list(EVENT_TYPES)}, "created_at": _ts,
                   "data": {"type": "object"}},
}


def event_schema(event_type: str) -> dict[str, Any]:
    """The whole delivered document of one event type: the envelope with that type's `data`."""
    return {**EVENT_ENVELOPE, "properties": {**EVENT_ENVELOPE["properties"], "type": {"const": event_type},
                                             "data": EVENTS[event_type].data}}

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
