"""Bodies built from a response schema, for forced answers nothing in the world can fill.

Static (the default): every documented property, the first enum value or variant, one item per
list, plain realistic values — the same body each time. Dynamic (`Prefer: dynamic=true`, as in
Prism): values drawn at random (seedable with `Prefer: seed=`), optional properties sometimes left
out, lists of one to three items. Either way the result is checked against the compiled validator
by the caller; the schemas of this spec use types, enums, consts, formats, bounds, `allOf` and
`oneOf`, which is what this reads.
"""

from __future__ import annotations

import random
import string
from datetime import datetime, timedelta, timezone
from typing import Any

from modelux_spec import format_timestamp

# Id prefixes by field name (spec/DECISIONS.md: ids are prefixed per type).
ID_PREFIXES = {
    "project_id": "proj", "provider_credential_id": "prov", "api_key_id": "key", "routing_config_id": "rc",
    "baseline_config_id": "rc", "budget_id": "bud", "alert_id": "balert", "endpoint_id": "whep", "org_id": "org",
    "user_id": "user", "event_id": "evt", "delivery_id": "whdel", "simulation_id": "sim", "request_id": "log",
    "log_id": "log", "resource_id": "proj", "actor_id": "mk", "userId": "user", "created_by": "mk",
    "invited_by": "mk", "alertId": "balert",
}
# The kind of record an operation's path names first, for its own `id`.
PATH_PREFIXES = {
    "projects": "proj", "providers": "prov", "keys": "key", "management-keys": "mk", "routing-configs": "rc",
    "budgets": "bud", "webhooks": "whep", "simulations": "sim", "logs": "log", "audit-logs": "aud", "orgs": "org",
    "analytics": "an", "decisions": "dec",
}
WORDS = ("support", "search", "assistant", "billing", "router", "staging", "production", "summary", "chat", "eval")


class Generator:
    def __init__(self, dynamic: bool = False, seed: Any = None, id_prefix: str = "id",
                 now: datetime | None = None):
        self.dynamic = dynamic
        self.rng = random.Random(seed if seed is not None else (None if dynamic else 0))
        self.id_prefix = id_prefix
        # On the hour: a seeded body stays the same body for an hour, whatever the clock's seconds.
        self.now = (now or datetime.now(timezone.utc)).replace(minute=0, second=0, microsecond=0)

    def instance(self, schema: Any, name: str = "") -> Any:
        if not isinstance(schema, dict):
            return None
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            choices = [v for v in schema["enum"] if v is not None] or list(schema["enum"])
            return self.rng.choice(choices) if self.dynamic else choices[0]
        if "allOf" in schema:
            merged: Any = None
            for part in schema["allOf"]:
                value = self.instance(part, name)
                merged = {**merged, **value} if isinstance(merged, dict) and isinstance(value, dict) else value
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            if rest.get("properties") or rest.get("type"):
                value = self.instance(rest, name)
                merged = {**merged, **value} if isinstance(merged, dict) and isinstance(value, dict) else merged
            return merged
        for key in ("oneOf", "anyOf"):
            if key in schema:
                variants = schema[key]
                variant = self.rng.choice(variants) if self.dynamic else variants[0]
                rest = {k: v for k, v in schema.items() if k != key}
                return self.instance({"allOf": [rest, variant]} if rest.get("properties") else variant, name)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or ["null"]
            kind = self.rng.choice(kinds) if self.dynamic else kinds[0]
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        return getattr(self, f"_{kind}")(schema, name)

    # ── by type ────────────────────────────────────────────────────────

    def _null(self, schema: dict, name: str) -> None:
        return None

    def _object(self, schema: dict, name: str) -> dict[str, Any]:
        required = set(schema.get("required") or ())
        out: dict[str, Any] = {}
        for prop, sub in (schema.get("properties") or {}).items():
            if prop not in required and prop != "data" and self.dynamic and self.rng.random() < 0.2:
                continue
            out[prop] = self.instance(sub, prop)
        return out

    def _array(self, schema: dict, name: str) -> list[Any]:
        low = schema.get("minItems", 0)
        high = schema.get("maxItems", 3)
        count = self.rng.randint(max(low, 1), max(min(high, 3), low, 1)) if self.dynamic else max(low, min(1, high))
        return [self.instance(schema.get("items", {}), name.rstrip("s")) for _ in range(count)]

    def _boolean(self, schema: dict, name: str) -> bool:
        return self.rng.random() < 0.5 if self.dynamic else True

    def _integer(self, schema: dict, name: str) -> int:
        low = schema.get("minimum", 0)
        if "exclusiveMinimum" in schema:
            low = max(low, int(schema["exclusiveMinimum"]) + 1)
        high = schema.get("maximum", max(low, 0) + (100 if name.endswith("pct") else 1000))
        if "exclusiveMaximum" in schema:
            high = min(high, int(schema["exclusiveMaximum"]) - 1)
        low, high = int(low), int(high)
        return self.rng.randint(low, high) if self.dynamic else min(max(low, 1), high)

    def _number(self, schema: dict, name: str) -> float:
        low = float(schema.get("minimum", 0))
        high = float(schema.get("maximum", 1 if "rate" in name else 100 if name.endswith("pct") else low + 1000))
        value = self.rng.uniform(low, high) if self.dynamic else low + (high - low) / 4
        return round(value, 4)

    def _string(self, schema: dict, name: str) -> str:
        fmt = schema.get("format")
        if fmt == "date-time":
            moment = self.now - timedelta(minutes=self.rng.randint(0, 7 * 24 * 60) if self.dynamic else 60)
            return format_timestamp(moment)
        if fmt == "email":
            return f"{self._word()}@example.com"
        if fmt == "uri":
            return f"https://example.com/hooks/{self._word()}"
        text = self._named(name)
        low = schema.get("minLength", 0)
        high = schema.get("maxLength")
        if len(text) < low:
            text += "x" * (low - len(text))
        if high is not None:
            text = text[:high]
        return text

    # ── realistic text ─────────────────────────────────────────────────

    def _word(self) -> str:
        return self.rng.choice(WORDS) if self.dynamic else WORDS[0]

    def _suffix(self, length: int = 16) -> str:
        alphabet = string.ascii_lowercase + string.digits
        if not self.dynamic:
            return ("0123456789abcdefghijklmnopqrstuvwxyz" * 2)[:length]
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def _named(self, name: str) -> str:
        if name == "id":
            return f"{self.id_prefix}_{self._suffix()}"
        if name in ID_PREFIXES:
            return f"{ID_PREFIXES[name]}_{self._suffix()}"
        if name.endswith("_id"):
            return f"{name[:-3]}_{self._suffix()}"
        if name.endswith("_usd"):
            cents = self.rng.randint(0, 500_000) if self.dynamic else 1250
            return f"{cents // 100}.{cents % 100:02d}"
        if name in ("key_prefix",):
            return "mlx_sk_" + self._suffix(5)
        if name in ("key",):
            return "mlx_sk_" + self._suffix(40)
        if name in ("signingSecret", "signing_secret"):
            return "whsec_" + self._suffix(40)
        if name in ("model", "model_used", "model_requested", "selected_model", "downgrade_to"):
            return self.rng.choice(("gpt-4o-mini", "claude-3-5-haiku-20241022")) if self.dynamic else "gpt-4o-mini"
        if name in ("provider", "selected_provider"):
            return self.rng.choice(("openai", "anthropic")) if self.dynamic else "openai"
        if name in ("name", "slug", "routing_config_name", "budget_name"):
            return f"{self._word()}-{self.rng.randint(1, 99) if self.dynamic else 1}"
        if name in ("error", "message", "error_message", "reason"):
            return "upstream timeout"
        return self._word()
