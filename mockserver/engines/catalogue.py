"""The one model catalogue: names, providers, list prices, latencies and quality tiers.

Every price, latency or tier the mock reports (routing decisions, cost estimates, logs,
simulations) comes from here, so the numbers agree with each other across endpoints.
Prices are public list prices in USD per million tokens (mid-2025), kept as `Decimal`
because money is never a float; latencies are typical end-to-end times for a short answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

QUALITY_TIERS = ("low", "medium", "high")

# Unknown models are priced like a frontier model so estimates err high rather than hide spend.
DEFAULT_INPUT_PRICE_PER_MTOK = Decimal("3.00")
DEFAULT_OUTPUT_PRICE_PER_MTOK = Decimal("15.00")
DEFAULT_LATENCY_MS = 1000

_MTOK = Decimal(1_000_000)


@dataclass(frozen=True)
class Model:
    name: str
    provider: str
    input_price_per_mtok: Decimal
    output_price_per_mtok: Decimal
    typical_latency_ms: int
    quality: str  # "low" | "medium" | "high"
    context_window: int


def _m(name: str, provider: str, inp: str, out: str, latency: int, quality: str, ctx: int) -> Model:
    return Model(name, provider, Decimal(inp), Decimal(out), latency, quality, ctx)


MODELS: tuple[Model, ...] = (
    _m("gpt-4o", "openai", "2.50", "10.00", 900, "high", 128_000),
    _m("gpt-4o-mini", "openai", "0.15", "0.60", 700, "medium", 128_000),
    _m("gpt-4.1", "openai", "2.00", "8.00", 1000, "high", 1_047_576),
    _m("gpt-4.1-mini", "openai", "0.40", "1.60", 750, "medium", 1_047_576),
    _m("o3-mini", "openai", "1.10", "4.40", 4000, "high", 200_000),
    _m("claude-3-5-sonnet-20241022", "anthropic", "3.00", "15.00", 1400, "high", 200_000),
    _m("claude-sonnet-4", "anthropic", "3.00", "15.00", 1500, "high", 200_000),
    _m("claude-3-5-haiku-20241022", "anthropic", "0.80", "4.00", 800, "medium", 200_000),
    _m("claude-opus-4", "anthropic", "15.00", "75.00", 2600, "high", 200_000),
    _m("gemini-1.5-pro", "google", "1.25", "5.00", 1300, "high", 2_097_152),
    _m("gemini-2.0-flash", "google", "0.10", "0.40", 500, "medium", 1_048_576),
    _m("mistral-large-latest", "mistral", "2.00", "6.00", 1100, "high", 131_072),
    _m("mistral-small-latest", "mistral", "0.10", "0.30", 450, "low", 131_072),
    # Meta's open weights, served by Groq (the provider the proxy actually calls).
    _m("llama-3.1-70b-instruct", "groq", "0.59", "0.79", 350, "medium", 131_072),
)

_BY_NAME = {model.name: model for model in MODELS}

# Name prefixes for models the catalogue does not list (custom deployments, new releases).
_PREFIX_PROVIDERS = (
    (("gpt", "o1", "o3"), "openai"),
    (("claude",), "anthropic"),
    (("gemini",), "google"),
    (("mistral",), "mistral"),
    (("llama",), "meta"),
)


def get(name: str) -> Model | None:
    return _BY_NAME.get(name)


def provider_for(name: str) -> str:
    """The catalogue provider, else a guess from the name's prefix, else "custom"."""
    model = get(name)
    if model is not None:
        return model.provider
    lowered = name.lower()
    for prefixes, provider in _PREFIX_PROVIDERS:
        if lowered.startswith(prefixes):
            return provider
    return "custom"


def latency_ms(name: str) -> int:
    model = get(name)
    return model.typical_latency_ms if model is not None else DEFAULT_LATENCY_MS


def cost_usd(model_name: str, input_tokens: int, output_tokens: int) -> Decimal:
    """Exact list-price cost; unknown models use the DEFAULT_* prices above."""
    if input_tokens < 0 or output_tokens < 0:
        raise ValueError("token counts must be non-negative")
    model = get(model_name)
    inp = model.input_price_per_mtok if model else DEFAULT_INPUT_PRICE_PER_MTOK
    out = model.output_price_per_mtok if model else DEFAULT_OUTPUT_PRICE_PER_MTOK
    return (inp * input_tokens + out * output_tokens) / _MTOK


def by_quality(tier: str) -> tuple[Model, ...]:
    """Models of exactly this tier, in catalogue order."""
    if tier not in QUALITY_TIERS:
        raise ValueError(f"unknown quality tier {tier!r}; expected one of {', '.join(QUALITY_TIERS)}")
    return tuple(model for model in MODELS if model.quality == tier)
