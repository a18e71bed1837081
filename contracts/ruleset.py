"""Every rule a run can judge: the domain rules (`contracts.rules`) and the probe rules of the generic oracles
(`contracts.probes`), in one registry. Import rules from here; the modules that define them import nothing of it."""

from __future__ import annotations

from . import probes  # noqa: F401  (registers the probe rules, after the domain rules)
from .rules import RULES, Rule, selected

__all__ = ["RULES", "Rule", "selected"]
