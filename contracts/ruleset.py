"""Every rule a run can judge, in one registry: the domain rules of each area (`contracts.rules.*`) and the probe
rules of the generic oracles (`contracts.rules.probes`). Import rules from here; the modules that define them
import nothing of it.

The order below is the order of `modelux-contracts rules`, of the verdict and of the runs.
"""

from __future__ import annotations

# Importing an area registers its rules: in this order.
from .rules import auth, keys, routing, dryrun, resources, orgs, envelopes, logs  # noqa: I001
from .rules import scoping, audit, analytics, simulations, budgets, webhooks, probes  # noqa: I001
from .rules.core import RULES, Rule
from .settings import RunSettings

AREAS = (auth, keys, routing, dryrun, resources, orgs, envelopes, logs, scoping, audit, analytics, simulations,
         budgets, webhooks, probes)


def selected(settings: RunSettings) -> list[Rule]:
    """The rules this run judges, in registry order."""
    return [r for r in RULES.values() if settings.wants_rule(r.code)]


__all__ = ["AREAS", "RULES", "Rule", "selected"]
