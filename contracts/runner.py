"""Running one rule (or model) against the target: profile and staging gates, context, cleanup.

`judge_rule` needs no pytest: it returns an `Outcome` (passed, failed with the violation, skipped with the
reason), so the proof tests can judge many broken variants in one process. `run_rule` is the same under pytest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest

from .observations import OBSERVED
from .rules import Rule, RuleContext, RuleSkip, RuleViolation
from .settings import RunSettings
from .target import StagingRefusal, Target


@dataclass
class Outcome:
    status: str  # "passed" | "failed" | "skipped"
    reason: str = ""
    violation: RuleViolation | None = None

    @property
    def code(self) -> str | None:
        return self.violation.code if self.violation is not None else None


def gate(rule: Rule, settings: RunSettings) -> str | None:
    """Why this run does not judge the rule at all, or None."""
    if rule.strict_only and not settings.strict:
        return (f"{rule.code} checks one of this project's own decisions (source: ours); it runs only with "
                "--profile strict")
    if settings.staging and not rule.staging:
        return f"{rule.code} is not run in staging mode: {rule.not_in_staging}"
    return None


def judge_rule(rule: Rule, target: Target, settings: RunSettings, receiver: Any = None) -> Outcome:
    reason = gate(rule, settings)
    if reason:
        return Outcome("skipped", reason)
    return judge(RuleContext(target, rule, settings, receiver), lambda ctx: rule.fn(ctx))


def run_rule(rule: Rule, target: Target, settings: RunSettings, receiver: Any = None) -> None:
    _report(judge_rule(rule, target, settings, receiver))


def run_scenario(code: str, target: Target, settings: RunSettings, body: Callable[[RuleContext], None]) -> None:
    """A scenario that reports several rule codes itself (model-based checks)."""
    rule = Rule(code, body.__name__ if hasattr(body, "__name__") else code, code, "docs", "", body)
    _report(judge(RuleContext(target, rule, settings), body))


def _report(outcome: Outcome) -> None:
    if outcome.status == "skipped":
        pytest.skip(outcome.reason)
    if outcome.violation is not None:
        raise outcome.violation


def judge(ctx: RuleContext, body: Callable[[RuleContext], None]) -> Outcome:
    mark = len(ctx.target.registry.items)
    try:
        body(ctx)
        return Outcome("passed")
    except RuleViolation as exc:
        return Outcome("failed", str(exc), exc)
    except RuleSkip as exc:
        return Outcome("skipped", f"{ctx.rule.code}: {exc}")
    except StagingRefusal as exc:
        return Outcome("skipped", f"{ctx.rule.code}: staging guard: {exc}")
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        # The target answered 2xx with a body this rule cannot read (a list where an object belongs, a
        # missing field): that is the target breaking the rule's premise, reported under its code.
        violation = RuleViolation(ctx.rule.code, ctx.rule.name,
                                  f"an answer does not have the documented shape ({type(exc).__name__}: {exc})")
        violation.__cause__ = exc
        return Outcome("failed", str(violation), violation)
    finally:
        created = [item for item in ctx.target.registry.items[mark:] if not item.gone]
        if created:
            report = ctx.target.cleanup(created)
            OBSERVED.left.extend({"kind": item.kind, "id": item.id, "reason": reason}
                                 for item, reason in report.left
                                 if item.kind != "simulation" or ctx.settings.staging)
