"""Webhooks end to end: the suite's receiver, an endpoint pointing at it, test events, signatures,
rotation, retries and replay (`test_webhook[MX-WEBHOOK-SIGNATURE]`)."""

from __future__ import annotations

import pytest

from contracts.plugin import current
from contracts.ruleset import selected
from contracts.runner import run_rule

SETTINGS = current()
RULES = [r for r in selected(SETTINGS) if "receiver" in r.needs]


@pytest.mark.parametrize("rule", [pytest.param(r, id=r.code, marks=pytest.mark.mx_rule(r.code, kind="webhook",
                                                                                        title=r.title))
                                  for r in RULES])
def test_webhook(rule, mx_target, mx_settings, mx_receiver):
    run_rule(rule, mx_target, mx_settings, receiver=mx_receiver)
