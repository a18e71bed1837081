"""A deliberately buggy rule: its own code raises KeyError. Loaded into a suite run with
`-p tests.contracts_buggy_rule`, it shows that a crash of the suite is reported as a suite error (exit status 3),
never as a violation by the target (tests/test_contracts_proof.py)."""

from __future__ import annotations

from contracts.rules.context import RuleContext
from contracts.rules.core import rule
from contracts.ruleset import RULES

CODE = "MX-TEST-BUGGY"

if CODE not in RULES:

    @rule(CODE, source="spec", title="A rule whose own code crashes", ref="tests: a bug of the suite, on purpose")
    def crashes_on_its_own(ctx: RuleContext) -> None:
        """Spec: nothing — it reads the target correctly, then a key it never set."""
        seen = {"projects": ctx.data_list(ctx.t.get("/projects"), 200, what="GET /projects")}
        ctx.check(seen["projets"], "never reached")  # the typo is the suite's bug
