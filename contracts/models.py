"""Model-based checks: a plain-Python model of what the API should hold, compared after every step.

`RoutingConfigVersions` models one routing config's version history. Hypothesis drives random
sequences of policy changes, renames and restores (valid and unknown versions) against the
target and the model; after every step the target's current config must equal the model's
head, and at the end the whole history must equal the model's. Failures are reported with the
code of the rule they break.
"""

from __future__ import annotations

from typing import Any

import hypothesis
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition, rule,
                                 run_state_machine_as_test)

from .rules.common import POLICY_A, POLICY_B, POLICY_C
from .rules.context import RuleContext, at, objects
from .rules.core import RuleViolation
from .target import dumps

POLICIES = [POLICY_A, POLICY_B, POLICY_C, ("round_robin", {"models": ["gpt-4o-mini", "gemini-2.0-flash"]})]

MODEL_RULE = "MX-VERSION-MODEL"  # the code of the model's own test item; it reports the codes below
MODEL_CODES = ("MX-VERSION-BUMP", "MX-RESTORE-NEW-VERSION", "MX-RESTORE-UNKNOWN-404", "MX-VERSION-HISTORY",
               "MX-VERSION-NOOP")


class RoutingConfigVersions(RuleBasedStateMachine):
    """Versions and restore of one routing config, against a list-of-versions model."""

    ctx: RuleContext  # set by the test before running

    def __init__(self) -> None:
        super().__init__()
        self.versions: list[tuple[str, Any]] = []  # the model: (policy, config) per version, oldest first
        self.config_id: str | None = None

    def violation(self, code: str, message: str) -> RuleViolation:
        return RuleViolation(code, "routing_config_versions_model", message)

    @initialize()
    def create(self) -> None:
        ctx = self.ctx
        project = ctx.project()
        config = ctx.routing_config(project["id"], *POLICY_A)
        self.config_id = ctx.ident(config, "setup: POST /routing-configs")
        self.versions = [POLICY_A]

    def _patch(self, body: dict[str, Any], changes_policy: bool) -> None:
        reply = self.ctx.t.patch(f"/routing-configs/{self.config_id}", json=body)
        if reply.status != 200:
            raise self.violation("MX-VERSION-BUMP", f"PATCH {dumps(body)} failed: {reply.describe()}")
        version = at(reply.data, "version")
        n = len(self.versions)
        head = (body.get("policy"), body.get("config")) if "policy" in body else self.versions[-1]
        if changes_policy:
            if version != n + 1:
                raise self.violation("MX-VERSION-BUMP", f"changing the policy of a config at version {n} "
                                                        f"answered version {version!r}, expected {n + 1}")
            self.versions.append(head)
        elif version == n:
            pass  # no new version: what the mock does (and the strict profile requires)
        elif version == n + 1 and not self.ctx.settings.strict:
            self.versions.append(head)  # allowed outside the strict profile: the spec does not say
        else:
            code = "MX-VERSION-NOOP" if self.ctx.settings.strict else "MX-VERSION-BUMP"
            raise self.violation(code, f"PATCH {dumps(body)} without a policy change moved version {n} to "
                                       f"{version!r}")

    @rule(choice=st.sampled_from(POLICIES))
    def change_policy(self, choice: tuple[str, Any]) -> None:
        policy, settings = choice
        self._patch({"policy": policy, "config": settings}, changes_policy=choice != self.versions[-1])

    @rule(flag=st.booleans())
    def rename_or_flag(self, flag: bool) -> None:
        body = {"enforce_budgets": flag} if flag else {"name": self.ctx.name("renamed")}
        self._patch(body, changes_policy=False)

    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        n = len(self.versions)
        k = data.draw(st.integers(min_value=1, max_value=n + 2), label="version")
        reply = self.ctx.t.post(f"/routing-configs/{self.config_id}/restore", json={"version": k})
        if k > n:
            if reply.status != 404:
                raise self.violation("MX-RESTORE-UNKNOWN-404", f"restoring unknown version {k} of {n} answered "
                                                               f"{reply.describe()}")
            return
        if reply.status != 200 or at(reply.data, "version") != n + 1:
            raise self.violation("MX-RESTORE-NEW-VERSION", f"restoring version {k} of a config at version {n} "
                                                           f"answered {reply.describe()}; expected version {n + 1}")
        self.versions.append(self.versions[k - 1])

    @invariant()
    @precondition(lambda self: self.config_id is not None)
    def current_is_model_head(self) -> None:
        reply = self.ctx.t.get(f"/routing-configs/{self.config_id}")
        expected = (len(self.versions), *self.versions[-1])
        actual = (at(reply.data, "version"), at(reply.data, "policy"), at(reply.data, "config"))
        if reply.status != 200 or actual != expected:
            raise self.violation("MX-VERSION-BUMP", f"GET shows version/policy/config {dumps(actual)}, the model "
                                                    f"expects {dumps(expected)}")

    def teardown(self) -> None:
        if self.config_id is None:
            return
        reply = self.ctx.t.get(f"/routing-configs/{self.config_id}/versions")
        listed = [(v.get("policy"), v.get("config")) for v in objects(reply.data)]
        numbers = [v.get("version") for v in objects(reply.data)]
        if reply.status != 200 or listed != self.versions or numbers != list(range(1, len(self.versions) + 1)):
            raise self.violation("MX-VERSION-HISTORY", f"the history is versions {numbers} "
                                                       f"{dumps(listed, 400)}; the model holds "
                                                       f"{dumps(self.versions, 400)}")


def run_versions_model(ctx: RuleContext, examples: int, steps: int, seed: int | None) -> None:
    machine = type("RoutingConfigVersionsRun", (RoutingConfigVersions,), {"ctx": ctx})
    settings = hypothesis.settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=seed is None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.generate] if ctx.settings.staging else
        [hypothesis.Phase.generate, hypothesis.Phase.shrink],
        print_blob=False,
    )
    if seed is not None:
        machine = hypothesis.seed(seed)(machine)
    run_state_machine_as_test(machine, settings=settings)
