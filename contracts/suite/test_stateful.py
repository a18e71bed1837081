"""Stateful: schemathesis walks the links it infers between operations (create → read → update → delete …).

The state machine overrides `call` (pacing, the staging guard), `after_call` — calling `super()`,
without which schemathesis' use-after-free and resource-availability checks silently stop working —
and `validate_response` (to remember failures, see below). `DELETE /orgs/{id}` is excluded from the
walk (`contracts.conformance.NEVER_FUZZED`); revoking the management key in use is refused by the guard
(and answered 409 by the mock anyway).

A target's state is external to Hypothesis: the same choices can meet different responses (more
resources, other links available), Hypothesis notices and raises `Flaky`, ending that run early. Like
schemathesis' own runner, the test then fails only if a check failed during the walk (it re-raises
that failure); otherwise it starts a fresh Hypothesis run (the next seed: `--seed` + the run's number, applied
with Hypothesis' `@seed`) until `max_examples` scenarios have run in total. The summary says how many
scenarios ran in how many Hypothesis runs.
"""

from __future__ import annotations

import hypothesis
import pytest
from hypothesis.errors import Flaky
from schemathesis.core.failures import FailureGroup

from contracts import checks
from contracts.conformance import build_schema
from contracts.observations import OBSERVED
from contracts.pacing import DeadlineReached
from contracts.plugin import current, phase_session
from contracts.target import StagingRefusal

SETTINGS = current()
checks.STATE.update(strict_profile=SETTINGS.strict, strict_spec=SETTINGS.strict_spec)
schema = build_schema(SETTINGS)
SESSION = phase_session()
FAILURES: list[BaseException] = []
SCENARIOS = [0]
MAX_RUNS = 25


class StatefulLinks(schema.as_state_machine()):
    def get_call_kwargs(self, case):
        return {"session": SESSION}

    def call(self, case, **kwargs):
        try:
            return super().call(case, **kwargs)
        except StagingRefusal:
            hypothesis.reject()  # not a failure: this step would touch what the run did not create
        except DeadlineReached as exc:
            pytest.skip(str(exc))  # the run's deadline: the walk stops, not judged

    def after_call(self, response, case):
        super().after_call(response, case)  # keeps the scenario recorder that stateful checks rely on

    def teardown(self):
        SCENARIOS[0] += 1
        super().teardown()

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        try:
            super().validate_response(response, case, additional_checks=additional_checks, **kwargs)
        except FailureGroup as exc:
            FAILURES.append(exc)
            raise


class TestStateful(StatefulLinks.TestCase):
    settings = hypothesis.settings(StatefulLinks.TestCase.settings, max_examples=SETTINGS.max_examples,
                                   database=None)

    def runTest(self) -> None:
        wanted, runs, flaky = SETTINGS.max_examples, 0, 0
        base = SETTINGS.seed if SETTINGS.seed is not None else 0
        while runs < MAX_RUNS and SCENARIOS[0] < wanted:
            hypothesis.seed(base + runs)(StatefulLinks)  # Hypothesis' `@seed` for a state machine, once per run
            self.settings = hypothesis.settings(type(self).settings, max_examples=wanted - SCENARIOS[0])
            runs += 1
            try:
                super().runTest()
                break
            except (Flaky, AssertionError) as exc:
                if isinstance(exc, FailureGroup) or not (isinstance(exc, Flaky) or _inconsistent_replay(exc)):
                    raise
                if FAILURES:
                    raise FAILURES[0] from None
                flaky += 1  # no check failed: start a fresh run
        OBSERVED.note(f"stateful: {SCENARIOS[0]} scenarios in {runs} Hypothesis run(s)"
                      + (f"; {flaky} ended early on inconsistent replay against the live target (not a failure)"
                         if flaky else ""))


def _inconsistent_replay(exc: BaseException) -> bool:
    try:
        from schemathesis.engine.errors import is_inconsistent_replay
    except ImportError:  # pragma: no cover
        return False
    return is_inconsistent_replay(exc)
