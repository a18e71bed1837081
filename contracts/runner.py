"""Running one rule (or model) against the target: profile and staging gates, context, cleanup."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from .observations import OBSERVED
from .rules import Rule, RuleContext, RuleSkip, RuleViolation
from .settings import RunSettings
from .target import StagingRefusal, Target


def run_rule(rule: Rule, target: Target, settings: RunSettings, receiver: Any = None) -> None:
    if rule.strict_only and not settings.strict:
        pytest.skip(f"{rule.code} checks one of this project's own decisions (source: ours); it runs only with "
                    "--profile strict")
    if settings.staging and not rule.staging:
        pytest.skip(f"{rule.code} is not run in staging mode: {rule.not_in_staging}")
    _run(RuleContext(target, rule, settings, receiver), lambda ctx: rule.fn(ctx))


def run_scenario(code: str, target: Target, settings: RunSettings, body: Callable[[RuleContext], None]) -> None:
    """A scenario that reports several rule codes itself (model-based checks)."""
    rule = Rule(code, body.__name__ if hasattr(body, "__name__") else code, code, "docs", "", body)
    _run(RuleContext(target, rule, settings), body)


def _run(ctx: RuleContext, body: Callable[[RuleContext], None]) -> None:
    mark = len(ctx.target.registry.items)
    try:
        body(ctx)
    except RuleSkip as exc:
        pytest.skip(f"{ctx.rule.code}: {exc}")
    except StagingRefusal as exc:
        pytest.skip(f"{ctx.rule.code}: staging guard: {exc}")
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        # The target answered 2xx with a body this rule cannot read (a list where an object belongs, a
        # missing field): that is the target breaking the rule's premise, reported under its code.
        raise RuleViolation(ctx.rule.code, ctx.rule.name,
                            f"an answer does not have the documented shape ({type(exc).__name__}: {exc})") from exc
    finally:
        created = [item for item in ctx.target.registry.items[mark:] if not item.gone]
        if created:
            report = ctx.target.cleanup(created)
            OBSERVED.left.extend({"kind": item.kind, "id": item.id, "reason": reason}
                                 for item, reason in report.left
                                 if item.kind != "simulation" or ctx.settings.staging)
