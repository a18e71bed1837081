"""Domain rules: one test per rule of DOMAIN.md (`test_rule[MX-VERSION-BUMP]`), plus model-based checks."""

from __future__ import annotations

import pytest

from contracts.models import MODEL_CODES, MODEL_RULE, run_versions_model
from contracts.plugin import current
from contracts.ruleset import selected
from contracts.runner import run_rule, run_scenario

SETTINGS = current()
RULES = [r for r in selected(SETTINGS) if "receiver" not in r.needs]


@pytest.mark.parametrize("rule", [pytest.param(r, id=r.code, marks=pytest.mark.mx_rule(r.code, title=r.title))
                                  for r in RULES])
def test_rule(rule, mx_target, mx_settings):
    run_rule(rule, mx_target, mx_settings)


if not SETTINGS.rules or set(SETTINGS.rules) & {*MODEL_CODES, MODEL_RULE}:

    @pytest.mark.mx_rule(MODEL_RULE, kind="model",
                         title="Model of routing-config versions (bump, restore, history) over random sequences")
    def test_routing_config_versions_model(mx_target, mx_settings):
        examples = 3 if mx_settings.staging else max(5, min(25, mx_settings.max_examples // 4))
        run_scenario(MODEL_RULE, mx_target, mx_settings,
                     lambda ctx: run_versions_model(ctx, examples=examples, steps=8, seed=mx_settings.seed))
