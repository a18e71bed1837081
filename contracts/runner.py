"""Running one rule (or model) against the target: profile and staging gates, context, cleanup, the outcome.

`judge_rule` needs no pytest: it returns an `Outcome` (passed, failed with the violation, skipped with the reason,
or a suite error), so the proof tests can judge many broken variants in one process. `run_rule` is the same under
pytest.

Only a `RuleViolation` fails the target — raised by the rule's checks, or by the context's readers when an answer
lacks its documented shape — and a target that stops answering or answers unusably (`TargetUnavailable`, `TargetFault`:
no answer in time, a reset, a redirect, too large an answer). A rule the run's deadline interrupts is not judged
(skipped, saying so). Any other exception from a
rule's code is the suite's own bug: a `SuiteError` naming the rule, the exception and where it was raised, which the
verdict lists apart and which gives the run its own exit status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest

from .exchanges import RECORDER
from .observations import OBSERVED
from .pacing import DeadlineReached
from .rules.context import RuleContext
from .rules.core import Rule, RuleSkip, RuleViolation, SuiteError
from .settings import RunSettings
from .target import StagingRefusal, Target, TargetFault, TargetUnavailable


@dataclass
class Outcome:
    status: str  # "passed" | "failed" | "skipped" | "error" (a suite error: a bug of the suite, not of the target)
    reason: str = ""
    violation: RuleViolation | None = None
    error: SuiteError | None = None

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
    if outcome.error is not None:
        raise outcome.error
    if outcome.violation is not None:
        raise outcome.violation


def judge(ctx: RuleContext, body: Callable[[RuleContext], None]) -> Outcome:
    mark = len(ctx.target.registry.items)
    try:
        body(ctx)
        return Outcome("passed")
    except RuleViolation as exc:
        if ctx.cut_short and ctx.target.pacer.deadline.passed():  # a wait the deadline ended: not a verdict
            return Outcome("skipped", ctx.target.pacer.deadline.reason("not finished"))
        return _failed(exc)
    except DeadlineReached as exc:
        return Outcome("skipped", str(exc))
    except RuleSkip as exc:
        return Outcome("skipped", f"{ctx.rule.code}: {exc}")
    except StagingRefusal as exc:
        return Outcome("skipped", f"{ctx.rule.code}: staging guard: {exc}")
    except TargetFault as exc:
        violation = RuleViolation(ctx.rule.code, ctx.rule.name, str(exc))
        violation.__cause__ = exc
        return _failed(violation)
    except TargetUnavailable as exc:
        violation = RuleViolation(ctx.rule.code, ctx.rule.name, f"the target stopped answering: {exc}")
        violation.__cause__ = exc
        return _failed(violation)
    except Exception as exc:  # noqa: BLE001 — whatever else a rule raises is the suite's own bug
        violations = exc.subgroup(RuleViolation) if isinstance(exc, BaseExceptionGroup) else None
        if violations is not None:  # Hypothesis groups what a model found (a flaky target's inconsistent replays)
            return _failed(_first(violations))
        error = SuiteError(ctx.rule.code, exc)
        error.__cause__ = exc
        return Outcome("error", str(error), error=error)
    finally:
        RECORDER.freeze()  # the cleanup below is not part of what a failure depends on
        created = [item for item in ctx.target.registry.items[mark:] if not item.gone]
        if created:
            report = ctx.target.cleanup(created)
            OBSERVED.left.extend({"kind": item.kind, "id": item.id, "reason": reason}
                                 for item, reason in report.left
                                 if item.kind != "simulation" or ctx.settings.staging)


def _failed(violation: RuleViolation) -> Outcome:
    return Outcome("failed", str(violation), violation)


def _first(group: BaseExceptionGroup) -> RuleViolation:
    found = group.exceptions[0]
    return _first(found) if isinstance(found, BaseExceptionGroup) else found  # type: ignore[return-value]
