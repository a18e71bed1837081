"""The mock proxy's routing engine: which model a routing config picks for a request, and why.

Dry-run, replay, decision traces and simulations all ask this one function, so they agree.
It is pure: no Flask, no I/O, no clock, no global random. Anything that must look random
(round-robin slots, A/B buckets) is a SHA-256 of the trace id (or the request), so the same
request and config always give the same Decision, across processes and restarts (Python's
`hash()` is salted per process and would not).

Every choice leaves a step `{rule, result, reason}`, including what was skipped and why, so
a trace answers "why this model?" without reading this code.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Union

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from modelux_spec import POLICIES, POLICY_CONFIG_SCHEMAS
from . import catalogue

MAX_DEPTH = 5  # "@slug" references followed at most this deep (catches reference cycles)
DEFAULT_OUTPUT_TOKENS = 256
DEFAULT_AGGREGATION = "majority_vote"
RESULTS = ("selected", "skipped", "matched", "not_matched", "fallback", "error")

Config = dict[str, Any]
Resolver = Callable[[str], Union[tuple[str, Config], None]]
_VALIDATORS = {policy: Draft202012Validator(schema) for policy, schema in POLICY_CONFIG_SCHEMAS.items()}


class PolicyConfigError(ValueError):
    """The policy or its config is invalid (a 400); `field` is the path, e.g. config.attempts[0].model."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class RoutingError(ValueError):
    """A valid config cannot route this request: missing or cyclic "@slug", or no rule applies."""


class UnknownConfigError(RoutingError):
    """A `@slug` names no routing config of the project."""


@dataclass
class RouteRequest:
    model: str | None = None  # what the client asked for: "@support-bot" or "gpt-4o"
    messages: list[dict] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    end_user_id: str | None = None
    trace_id: str | None = None
    input_tokens: int | None = None  # None: estimated from the message text
    budget_used_pct: float | None = None  # None: unknown, so budget conditions are false

    def __post_init__(self) -> None:
        if self.tags is None:  # callers pass body.get("tags") straight through
            self.tags = {}


@dataclass
class Decision:
    policy: str
    selected_model: str
    selected_provider: str
    steps: list[dict]
    config_name: str | None = None
    estimated_cost_usd: str = "0"  # decimal string, exact
    estimated_latency_ms: int = 0

    def trace(self) -> dict:
        """The spec's DecisionTrace."""
        return {
            "policy": self.policy,
            "selected_model": self.selected_model,
            "selected_provider": self.selected_provider,
            "steps": [dict(step) for step in self.steps],
        }

    def as_dict(self) -> dict:
        return asdict(self)


# ── validation ──────────────────────────────────────────────────────────────


def validate_policy(policy: str, config: Config) -> None:
    """Raise PolicyConfigError unless `config` has the documented shape of `policy`."""
    if not isinstance(policy, str) or policy not in POLICIES:
        raise PolicyConfigError("policy", f"policy: {policy!r} is not one of {', '.join(POLICIES)}")
    error = best_match(_VALIDATORS[policy].iter_errors(config))
    if error is not None:
        raise _schema_error(error)
    if policy == "custom_rules":
        for i, rule in enumerate(config["rules"]):
            if "if" in rule:
                try:
                    parse_condition(rule["if"])
                except RuleSyntaxError as exc:
                    path = f"config.rules[{i}].if"
                    raise PolicyConfigError(path, f"{path}: {exc}") from None


def ensure_valid(policy: str, config: Config) -> None:
    """`validate_policy`, remembering which configs already passed, by content.

    Routing re-checks its config on every call (stored configs can be edited at any time), and
    schema validation costs ~40x what serialising a config does, so seeding or simulating 100k
    requests would mostly re-prove the same handful of configs valid. The key is the config's
    canonical JSON, not its identity, so an edited config is validated afresh; invalid configs are
    never remembered (`lru_cache` does not cache exceptions).
    """
    try:
        canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):  # not plain JSON: validate it, remember nothing
        validate_policy(policy, config)
        return
    _validate_canonical(policy, canonical)


@lru_cache(maxsize=1024)
def _validate_canonical(policy: str, canonical: str) -> None:
    validate_policy(policy, json.loads(canonical))


def _schema_error(error: ValidationError) -> PolicyConfigError:
    parts = list(error.absolute_path)
    message = error.message
    if error.validator == "required":  # name the missing field, not its parent
        parts.append(next(name for name in error.validator_value if name not in error.instance))
    elif error.validator == "oneOf":  # jsonschema's "not valid under any" names no field at all
        shapes = " or ".join("{" + ", ".join(s.get("required", [])) + "}" for s in error.validator_value)
        message = f"must have exactly the keys {shapes}"
    path = "config" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    return PolicyConfigError(path, f"{path}: {message}")


# ── custom_rules conditions: a tiny language, parsed, never eval'd ──────────
#
#   expr := and_expr ("or" and_expr)*      and_expr := atom ("and" atom)*
#   atom := "(" expr ")" | tags.<key> (== | !=) 'text' | budget.used_pct (== != > >= < <=) number
#
# A missing tag equals no string; an unknown budget makes budget comparisons false.

BUDGET_FIELD = "budget.used_pct"
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>'[^']*'|"[^"]*")|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|>=|<=|>|<)
    |(?P<paren>[()])|(?P<word>[A-Za-z_][A-Za-z0-9_.-]*))""",
    re.VERBOSE,
)
_COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_TAG_OPS = ("==", "!=")


class RuleSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Comparison:
    field: str  # "tags.<key>" | "budget.used_pct"
    op: str
    value: str | float


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple[Any, ...]


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while text[pos:].strip():
        match = _TOKEN.match(text, pos)
        if match is None:
            at = len(text) - len(text[pos:].lstrip())
            raise RuleSyntaxError(f"unexpected character {text[at]!r} at position {at}")
        out.append((match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup)))
        pos = match.end()
    return out


@lru_cache(maxsize=1024)
def parse_condition(text: str) -> Comparison | BoolOp:
    """Parse a custom_rules `if` expression or raise RuleSyntaxError saying where and why.

    The result is immutable, so parses are shared (routing evaluates the same few conditions
    for every request); syntax errors are raised each time, never cached.
    """
    tokens, i = _tokens(text), 0

    def take(what: str) -> tuple[str, str, int]:
        nonlocal i
        if i >= len(tokens):
            raise RuleSyntaxError(f"expected {what} but the expression ended")
        i += 1
        return tokens[i - 1]

    def chain(keyword: str, operand: Callable[[], Any]) -> Any:
        nonlocal i
        items = [operand()]
        while i < len(tokens) and tokens[i][:2] == ("word", keyword):
            i += 1
            items.append(operand())
        return items[0] if len(items) == 1 else BoolOp(keyword, tuple(items))

    def expr() -> Any:
        return chain("or", lambda: chain("and", atom))

    def atom() -> Any:
        kind, name, pos = take("a comparison")
        if (kind, name) == ("paren", "("):
            inner = expr()
            if take("')'")[1] != ")":
                raise RuleSyntaxError(f"expected ')' to close '(' at position {pos}")
            return inner
        is_tag = kind == "word" and name.startswith("tags.") and len(name) > 5
        if not (is_tag or (kind, name) == ("word", BUDGET_FIELD)):
            raise RuleSyntaxError(f"unknown field {name!r} at position {pos}; use tags.<key> or {BUDGET_FIELD}")
        op_kind, op, op_pos = take("a comparison operator")
        allowed = _TAG_OPS if is_tag else tuple(_COMPARE)
        if op_kind != "op" or op not in allowed:
            raise RuleSyntaxError(f"{name} takes {' '.join(allowed)}; got {op!r} at position {op_pos}")
        value_kind, raw, value_pos = take("a value")
        if value_kind == ("str" if is_tag else "num"):
            return Comparison(name, op, raw[1:-1] if is_tag else float(raw))
        wanted = "a quoted string" if is_tag else "a number"
        raise RuleSyntaxError(f"{name} compares with {wanted}; got {raw!r} at position {value_pos}")

    result = expr()
    if i < len(tokens):
        raise RuleSyntaxError(f"unexpected {tokens[i][1]!r} at position {tokens[i][2]}")
    return result


def evaluate_condition(expr: Comparison | BoolOp, tags: dict[str, str], budget_used_pct: float | None) -> bool:
    if isinstance(expr, BoolOp):
        results = (evaluate_condition(operand, tags, budget_used_pct) for operand in expr.operands)
        return all(results) if expr.op == "and" else any(results)
    if expr.field == BUDGET_FIELD:
        return budget_used_pct is not None and _COMPARE[expr.op](float(budget_used_pct), expr.value)
    value = tags.get(expr.field[len("tags."):])
    return expr.op == "!=" if value is None else _COMPARE[expr.op](value, expr.value)


def reads_budget(policy: str, config: Config) -> bool:
    """Whether routing by this (valid) config reads the request's `budget_used_pct`: a custom rule
    compares `budget.used_pct` (the configs it routes via are configs of their own)."""
    return policy == "custom_rules" and BUDGET_FIELD in _rule_fields(config)


def _rule_fields(config: Config) -> tuple[str, ...]:
    """Every field the conditions of a (valid) custom_rules config read, each once."""
    return tuple(dict.fromkeys(name for rule in config["rules"] if "if" in rule
                               for name in _fields(parse_condition(rule["if"]))))


@lru_cache(maxsize=1024)
def _fields(expr: Comparison | BoolOp) -> tuple[str, ...]:
    if isinstance(expr, Comparison):
        return (expr.field,)
    return tuple(dict.fromkeys(name for operand in expr.operands for name in _fields(operand)))


# ── routing ─────────────────────────────────────────────────────────────────


@dataclass
class _Ctx:
    request: RouteRequest
    resolve: Resolver
    depth: int
    input_tokens: int
    output_tokens: int = DEFAULT_OUTPUT_TOKENS
    checked: bool = False
    memo: dict | None = None

    def cost(self, model: str) -> Decimal:
        return catalogue.cost_usd(model, self.input_tokens, self.output_tokens)


@dataclass
class _Pick:
    """A policy's answer; provider/cost/latency default to the selected model's."""

    model: str
    steps: list[dict]
    provider: str | None = None
    cost: Decimal | None = None
    latency_ms: int | None = None


def _no_configs(slug: str) -> tuple[str, Config] | None:
    return None


def route(
    policy: str,
    config: Config,
    request: RouteRequest,
    resolve: Resolver = _no_configs,
    config_name: str | None = None,
    depth: int = 0,
    checked: bool = False,
    memo: dict | None = None,
) -> Decision:
    """Validate, then evaluate `policy`/`config` for `request`. Same inputs, same Decision.

    `resolve("@slug")` gives (policy, config) of another routing config of the project, or None.
    Raises PolicyConfigError (invalid config) or RoutingError (valid config, no route).
    `checked=True` skips validation: the caller has validated `config` and every config
    `resolve` can return (the seeded world routes 100k requests through a handful of configs).
    `memo`: a dict keeping what the policies that read nothing of a request but (some) its token
    count (`_READS`) pick, here and in the configs this one routes via, by policy, config object
    and token count; and which custom rule applies, by the values its conditions read. Only for
    callers whose configs neither change nor go while the memo lives (the seeded world's plan); a
    Decision's steps may then be shared, so they are read-only.
    """
    if depth > MAX_DEPTH:
        where = f"config '@{config_name}'" if config_name else "this config"
        raise RoutingError(f"{where} is more than {MAX_DEPTH} references deep (a reference cycle?)")
    if not checked:
        ensure_valid(policy, config)
    given = request.input_tokens
    tokens = max(0, given) if given is not None else estimate_tokens(request.messages)
    ctx = _Ctx(request, resolve, depth, tokens, checked=checked, memo=memo)
    key = _memo_key(memo, policy, config, tokens) if memo is not None else None
    if key is None:
        pick = _POLICIES[policy](config, ctx)
    else:
        pick = memo.get(key)
        if pick is None:
            pick = memo[key] = _POLICIES[policy](config, ctx)
    cost = pick.cost if pick.cost is not None else ctx.cost(pick.model)
    return Decision(
        policy=policy,
        selected_model=pick.model,
        selected_provider=pick.provider or catalogue.provider_for(pick.model),
        steps=pick.steps,
        config_name=config_name,
        estimated_cost_usd=format(cost.normalize(), "f"),
        estimated_latency_ms=catalogue.latency_ms(pick.model) if pick.latency_ms is None else pick.latency_ms,
    )


def estimate_tokens(messages: list[dict] | None) -> int:
    """About four characters per token, at least one: good enough to rank prices."""

    def length(content: Any) -> int:
        if isinstance(content, str):
            return len(content)
        if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
            return sum(length(part.get("text") if isinstance(part, dict) else part) for part in content)
        return 0

    chars = sum(length(m.get("content")) for m in messages or () if isinstance(m, dict))
    return max(1, -(-chars // 4))


def _step(rule: str, result: str, reason: str) -> dict:
    return {"rule": rule, "result": result, "reason": reason}


@lru_cache(maxsize=1024)
def _about(model: str) -> str:
    known = catalogue.get(model)
    if known is None:
        return f"{model}: not in catalogue, provider {catalogue.provider_for(model)} inferred from its name"
    return f"{model}: {known.provider}, {known.quality} quality, ~{known.typical_latency_ms} ms"


def _hash(salt: str, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}:{key}".encode("utf-8", "surrogatepass")).digest()[:8], "big")


def _sticky_key(request: RouteRequest, *, by_user: bool = False) -> tuple[str, str]:
    """What a "random" choice hashes: the trace id, else (A/B only) the end user, else the request."""
    if request.trace_id:
        return "trace_id", request.trace_id
    if by_user and request.end_user_id:
        return "end_user_id", request.end_user_id
    content = {
        "model": request.model,
        "messages": request.messages,
        "tags": request.tags,
        "end_user_id": request.end_user_id,
    }
    return "request content", json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))


def _usd(amount: Decimal) -> str:
    return "$" + format(amount.normalize(), "f")


def _single(config: Config, ctx: _Ctx) -> _Pick:
    model, credential = config["model"], config.get("provider_credential_id")
    reason = f"the configured model ({_about(model)})"
    if credential:
        reason += f"; provider credential {credential}"
    return _Pick(model, [_step("model", "selected", reason)])


def _round_robin(config: Config, ctx: _Ctx) -> _Pick:
    models = config["models"]
    label, key = _sticky_key(ctx.request)
    n = len(models)
    slot = _hash("round_robin", key) % n
    steps = [
        _step(f"models[{i}]", "selected", f"slot {slot} = sha256({label}) mod {n} ({_about(m)})")
        if i == slot
        else _step(f"models[{i}]", "skipped", f"not this request's slot (slot {slot} of {n})")
        for i, m in enumerate(models)
    ]
    return _Pick(models[slot], steps)


def _fallback(config: Config, ctx: _Ctx) -> _Pick:
    attempts = config["attempts"]
    known = [i for i, a in enumerate(attempts) if catalogue.get(a["model"])]
    chosen = known[0] if known else len(attempts) - 1
    retry_on = ", ".join(config.get("retry_on") or ["any error"])
    steps = []
    for i, attempt in enumerate(attempts):
        rule = f"attempts[{i}]"
        if i == chosen and known:
            timeout = f", timeout {attempt['timeout_ms']} ms" if "timeout_ms" in attempt else ""
            reason = f"first attempt with a catalogued model ({_about(attempt['model'])}{timeout})"
            steps.append(_step(rule, "selected", reason))
        elif i == chosen:
            steps.append(_step(rule, "fallback", "no attempt names a catalogued model; the last attempt is used"))
        elif i not in known:
            steps.append(_step(rule, "skipped", f"{attempt['model']}: model not in catalogue"))
        else:
            steps.append(_step(rule, "skipped", f"standby: tried only after an earlier attempt fails on {retry_on}"))
    if "total_budget_ms" in config:
        reason = f"all attempts together stop after {config['total_budget_ms']} ms"
        steps.append(_step("total_budget_ms", "matched", reason))
    return _Pick(attempts[chosen]["model"], steps)


def _optimize(
    candidates: list[str],
    ctx: _Ctx,
    why_not: Callable[[catalogue.Model], str | None],
    score: Callable[[str], Any],
    show: Callable[[Any], str],
    goal: str,
) -> _Pick:
    """Best-scoring eligible candidate (ties: first listed); every other candidate says why not."""
    reasons: dict[int, str] = {}
    for i, name in enumerate(candidates):
        model = catalogue.get(name)
        if model is None:
            reasons[i] = f"{name}: model not in catalogue"
        elif model.context_window < ctx.input_tokens:
            reasons[i] = f"{name}: {ctx.input_tokens} input tokens exceed its context window of {model.context_window}"
        elif (why := why_not(model)) is not None:
            reasons[i] = f"{name}: {why}"
    eligible = [i for i in range(len(candidates)) if i not in reasons]
    pool = eligible or [i for i, name in enumerate(candidates) if catalogue.get(name)] or [0]
    scores: dict[str, Any] = {}  # score is pure; each candidate is scored once

    def scored(name: str) -> Any:
        found = scores.get(name)
        if found is None:
            found = scores[name] = score(name)
        return found

    best = min(pool, key=lambda i: (scored(candidates[i]), i))
    winner = candidates[best]
    steps = []
    for i, name in enumerate(candidates):
        rule = f"candidates[{i}]"
        if i == best and eligible:
            steps.append(_step(rule, "selected", f"{goal}: {name} at {show(scored(name))}"))
        elif i == best:
            reason = f"no candidate is eligible, so the best of the rest is used ({reasons[i]})"
            steps.append(_step(rule, "fallback", reason))
        elif i in reasons:
            steps.append(_step(rule, "skipped", reasons[i]))
        else:
            steps.append(_step(rule, "skipped", f"{name} at {show(scored(name))}, not better than {winner}"))
    return _Pick(winner, steps)


_RANK = {tier: i for i, tier in enumerate(catalogue.QUALITY_TIERS)}
_ALL_MODELS = [model.name for model in catalogue.MODELS]


def _cost_optimized(config: Config, ctx: _Ctx) -> _Pick:
    tier = config["quality_tier"]
    return _optimize(
        config.get("allowed_models", _ALL_MODELS),
        ctx,
        lambda m: f"quality {m.quality} is below {tier}" if _RANK[m.quality] < _RANK[tier] else None,
        ctx.cost,
        lambda cost: f"{_usd(cost)} for {ctx.input_tokens} input + {ctx.output_tokens} output tokens",
        f"cheapest at quality {tier} or better",
    )


def _latency_optimized(config: Config, ctx: _Ctx) -> _Pick:
    limit = config.get("max_latency_ms")
    return _optimize(
        config.get("allowed_models", _ALL_MODELS),
        ctx,
        lambda m: f"typical {m.typical_latency_ms} ms exceeds max_latency_ms {limit}"
        if limit is not None and m.typical_latency_ms > limit
        else None,
        catalogue.latency_ms,
        lambda ms: f"typical {ms} ms",
        "lowest typical latency" + (f" within {limit} ms" if limit is not None else ""),
    )


def _ensemble(config: Config, ctx: _Ctx) -> _Pick:
    """All members answer in parallel: cost is their sum, latency the slowest; the heaviest is reported."""
    members = config["members"]
    weights = [float(m.get("weight", 1)) for m in members]
    best = max(range(len(members)), key=lambda i: (weights[i], -i))
    aggregation = config.get("aggregation", DEFAULT_AGGREGATION)
    steps = [_step("aggregation", "matched", f"{aggregation}: every member answers, answers are combined")]
    for i, member in enumerate(members):
        if i == best:
            reason = f"highest weight {weights[i]:g} (ties go to the first listed); reported as the selected model"
        else:
            reason = f"weight {weights[i]:g}; answers alongside {members[best]['model']}"
        steps.append(_step(f"members[{i}]", "selected" if i == best else "matched", reason))
    models = [m["model"] for m in members]
    latency = max(catalogue.latency_ms(m) for m in models)
    if "timeout_ms" in config:
        reason = f"members still running after {config['timeout_ms']} ms are dropped"
        steps.append(_step("timeout_ms", "matched", reason))
        latency = min(latency, config["timeout_ms"])
    return _Pick(models[best], steps, cost=sum((ctx.cost(m) for m in models), Decimal(0)), latency_ms=latency)


def _follow(slug: str, ctx: _Ctx, steps: list[dict], via: int) -> _Pick:
    """Route through the config "@slug" chosen by steps[via]; its steps follow ours, prefixed "@slug/"."""
    target = ctx.resolve(slug)
    if target is None:
        raise UnknownConfigError(f"config '{slug}' not found")
    policy, config = target
    try:
        inner = route(policy, config, ctx.request, ctx.resolve, config_name=slug[1:], depth=ctx.depth + 1,
                      checked=ctx.checked, memo=ctx.memo)
    except PolicyConfigError as exc:
        raise RoutingError(f"config '{slug}' is invalid: {exc}") from None
    steps[via]["reason"] += f"; routes via {slug} ({policy})"
    nested = [{**step, "rule": f"{slug}/{step['rule']}"} for step in inner.steps]
    return _Pick(
        inner.selected_model,
        steps + nested,
        inner.selected_provider,
        Decimal(inner.estimated_cost_usd),
        inner.estimated_latency_ms,
    )


def _ab_test(config: Config, ctx: _Ctx) -> _Pick:
    variants = config["variants"]
    total = sum(v["weight"] for v in variants)
    label, key = _sticky_key(ctx.request, by_user=True)
    bucket = _hash("ab_test", key) / 2**64  # uniform in [0, 1)
    low, chosen, steps = 0.0, None, []
    for i, variant in enumerate(variants):
        high = 1.0 if i == len(variants) - 1 else low + variant["weight"] / total
        span = f"[{low:.4f}, {high:.4f})"
        if chosen is None and low <= bucket < high:
            chosen = i
            reason = f"sha256({label}) bucket {bucket:.4f} in {span}, weight {variant['weight']:g} of {total:g}"
            steps.append(_step(f"variants[{i}]", "selected", reason))
        else:
            steps.append(_step(f"variants[{i}]", "skipped", f"variant weight bucket {bucket:.4f} not in {span}"))
        low = high
    return _follow(variants[chosen]["config"], ctx, steps, chosen)


def _cascade(config: Config, ctx: _Ctx) -> _Pick:
    stages = config["steps"]
    steps = [_step("steps[0]", "selected", f"cheapest step runs first ({_about(stages[0]['model'])})")]
    for i in range(1, len(stages)):
        threshold = stages[i - 1].get("min_confidence", "min_confidence")
        steps.append(_step(f"steps[{i}]", "skipped", f"escalation only if confidence < {threshold} at steps[{i - 1}]"))
    return _Pick(stages[0]["model"], steps)


def _custom_rules(config: Config, ctx: _Ctx) -> _Pick:
    memo = ctx.memo
    key = _rules_key(memo, config, ctx.request) if memo is not None else None
    if key is None:
        target, chosen, steps = _rules_outcome(config, ctx.request)
    else:
        found = memo.get(key)
        if found is None:
            found = memo[key] = _rules_outcome(config, ctx.request)
        target, chosen, shared = found
        steps = list(shared)
        steps[chosen] = dict(shared[chosen])  # `_follow` adds to its reason
    return _follow(target, ctx, steps, chosen)


_KEYABLE = (str, int, float, bool, type(None))


def _rules_key(memo: dict, config: Config, request: RouteRequest) -> tuple | None:
    """Where `memo` keeps which rule of `config` applies to a request, and the steps saying so: by the
    values of every field its conditions read (None: a value of a type whose text may not tell it apart)."""
    fields = memo.get(("fields", id(config)))
    if fields is None:
        fields = memo[("fields", id(config))] = _rule_fields(config)
    values = []
    for name in fields:
        value = request.budget_used_pct if name == BUDGET_FIELD else request.tags.get(name[len("tags."):])
        if type(value) not in _KEYABLE:
            return None
        values.append((type(value), repr(value)))
    return "custom_rules", id(config), tuple(values)


def _rules_outcome(config: Config, request: RouteRequest) -> tuple[str, int, list[dict]]:
    """(the config the rules route to, the index of the rule that says so, a step per rule)."""
    steps: list[dict] = []
    target: str | None = None
    chosen, first_else = -1, None
    for i, rule in enumerate(config["rules"]):
        rule_name = f"rules[{i}]"
        if "else" in rule:
            why = "else applies only when no rule matches" if first_else is None else "only the first else applies"
            first_else = i if first_else is None else first_else
            steps.append(_step(rule_name, "skipped", why))
        elif target is not None:
            steps.append(_step(rule_name, "skipped", "an earlier rule matched"))
        else:
            expr = parse_condition(rule["if"])
            matched = evaluate_condition(expr, request.tags, request.budget_used_pct)
            values = ", ".join(_show_field(name, request) for name in _fields(expr))
            reason = f"{rule['if']} is {'true' if matched else 'false'} ({values})"
            steps.append(_step(rule_name, "matched" if matched else "not_matched", reason))
            if matched:
                target, chosen = rule["then"], i
    if target is None:
        if first_else is None:
            raise RoutingError("no custom rule matched and there is no else rule")
        target, chosen = config["rules"][first_else]["else"], first_else
        steps[chosen] = _step(f"rules[{chosen}]", "fallback", "no rule matched, so the else rule applies")
    return target, chosen, steps


def _show_field(name: str, request: RouteRequest) -> str:
    if name == BUDGET_FIELD:
        used = request.budget_used_pct
        return f"{name} unknown" if used is None else f"{name}={used:g}"
    value = request.tags.get(name[len("tags."):])
    return f"{name} unset" if value is None else f"{name}={value!r}"


# The policies whose pick depends on the config alone (False) or on it and the request's token
# count (True): their evaluators read nothing else of the request and route via no other config.
_READS = {"single": False, "fallback": False, "cascade": False, "ensemble": True, "cost_optimized": True,
          "latency_optimized": True}


def _memo_key(memo: dict, policy: str, config: Config, tokens: int) -> tuple | None:
    """Where `memo` keeps the pick of `policy`/`config` for a request of `tokens` tokens (None: not kept)."""
    reads = _READS.get(policy)
    if reads is None:
        return None
    if not reads:
        return policy, id(config)
    if policy == "latency_optimized":  # the count counts only where it exceeds a candidate's context window
        window = memo.get(("window", id(config)))
        if window is None:
            known = [m.context_window for m in map(catalogue.get, config.get("allowed_models", _ALL_MODELS)) if m]
            window = memo[("window", id(config))] = min(known, default=0)
        if tokens <= window:
            return policy, id(config)
    return policy, id(config), tokens


def trace_key(policy: str, config: Config, request: RouteRequest, resolve: Resolver, memo: dict,
              depth: int = 0) -> tuple | None:
    """A key shared only by requests that `route(..., memo=memo)` gives the same trace (policy,
    selected model and provider, steps) while `resolve` answers the same: what `memo` keeps a
    policy's pick by (`_memo_key`), or for custom rules the key of the rule that applies
    (`_rules_key`) with the key of the config it routes via. None for the policies whose choice
    hashes the request (round_robin, ab_test), and where no custom rule applies. For callers of
    `route` with a memo (see there), to reuse what it made of an earlier request.
    """
    if depth > MAX_DEPTH:
        return None
    if policy == "custom_rules":
        key = _rules_key(memo, config, request)
        if key is None:
            return None
        found = memo.get(key)
        if found is None:
            try:
                found = memo[key] = _rules_outcome(config, request)
            except RoutingError:
                return None
        target = resolve(found[0])
        inner = trace_key(*target, request, resolve, memo, depth + 1) if target is not None else None
        return None if inner is None else (key, inner)
    given = request.input_tokens
    tokens = max(0, given) if given is not None else estimate_tokens(request.messages)
    return _memo_key(memo, policy, config, tokens)


_POLICIES: dict[str, Callable[[Config, _Ctx], _Pick]] = {
    "single": _single,
    "round_robin": _round_robin,
    "fallback": _fallback,
    "cost_optimized": _cost_optimized,
    "latency_optimized": _latency_optimized,
    "ensemble": _ensemble,
    "ab_test": _ab_test,
    "cascade": _cascade,
    "custom_rules": _custom_rules,
}
assert set(_POLICIES) == set(POLICIES), "every documented policy has exactly one evaluator"
