"""What a rule is, how it is registered, and how its run can end.

A rule is one small function of a `RuleContext`, registered with `@rule(code, …)` under a stable code (`MX-…`), a
`source` ("spec", "docs" or "ours") and the line of DOMAIN.md it enforces. Its run ends in one of three ways besides
passing: `RuleViolation` (the target broke the rule), `RuleSkip` (the rule cannot be judged against this target,
and says why) — and any other exception, which is a bug of the suite itself and is reported as a `SuiteError`, never
as a violation by the target.
"""

from __future__ import annotations

import sysconfig
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..settings import SOURCES

RuleFunction = Callable[[Any], None]  # a function of a `contracts.rules.context.RuleContext`

SUITE_ROOT = Path(__file__).resolve().parent.parent  # the `contracts` package


class RuleViolation(AssertionError):
    """The target broke a domain rule."""

    def __init__(self, code: str, name: str, message: str):
        super().__init__(f"{code} ({name}): {message}")
        self.code = code
        self.name = name
        self.message = message


class RuleSkip(Exception):
    """The rule cannot be judged against this target (say why); never a pass."""


class SuiteError(Exception):
    """A rule's own code crashed: a bug in modelux-contracts, not in the target.

    Raised by the runner for any exception from rule code that is not a verdict (`RuleViolation`, `RuleSkip`) or a
    refusal of the staging guard; carries the rule code, the exception and where in the suite it was raised.
    """

    def __init__(self, code: str, error: BaseException):
        self.code = code
        self.error = error
        self.where = crash_site(error)
        super().__init__(f"{code}: suite error (a bug in modelux-contracts, not in the target): "
                         f"{type(error).__name__}: {error} at {self.where}")

    def describe(self) -> str:
        return f"{type(self.error).__name__}: {self.error} at {self.where}"


def crash_site(error: BaseException) -> str:
    """`path:line in function` of the innermost frame of code that is not a library's (the rule's own, or the
    suite's) in the exception's traceback; the innermost frame of all when every frame is a library's."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "an unknown place"
    ours = [f for f in frames if _suite_code(Path(f.filename).resolve())]
    frame = (ours or frames)[-1]
    return f"{_shown(Path(frame.filename).resolve())}:{frame.lineno} in {frame.name}"


_LIBRARIES = {Path(sysconfig.get_paths()[name]).resolve() for name in ("stdlib", "platstdlib", "purelib", "platlib")}


def _suite_code(path: Path) -> bool:
    return path.is_relative_to(SUITE_ROOT) or not any(path.is_relative_to(lib) for lib in _LIBRARIES)


def _shown(path: Path) -> str:
    for base in (SUITE_ROOT.parent, Path.cwd()):
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return str(path)


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    title: str
    source: str  # "spec" | "docs" | "ours"
    ref: str  # the DOMAIN.md line (or spec text) the rule enforces
    fn: RuleFunction
    needs: frozenset[str] = frozenset()  # "receiver", "logs"
    not_in_staging: str = ""  # why the rule is not run in staging mode ("" = it is safe there)
    also: tuple[str, ...] = ()  # other codes a scenario may report

    @property
    def strict_only(self) -> bool:
        return self.source == "ours"

    @property
    def staging(self) -> bool:
        return not self.not_in_staging

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip()


# Every registered rule, in registration order (`contracts.ruleset` imports the area modules that fill it).
RULES: dict[str, Rule] = {}


def rule(code: str, *, title: str, source: str, ref: str, needs: tuple[str, ...] = (), not_in_staging: str = ""):
    """Register a rule; `not_in_staging` says why it must not run against a shared deployment."""
    assert source in SOURCES, source

    def register(fn: RuleFunction) -> RuleFunction:
        if code in RULES:
            raise RuntimeError(f"two rules with code {code}")
        RULES[code] = Rule(code, fn.__name__, title, source, ref, fn, frozenset(needs), not_in_staging)
        return fn

    return register
