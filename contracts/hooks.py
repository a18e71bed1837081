"""Schemathesis hooks: what the effective spec cannot say in JSON Schema.

Loaded by `schemathesis.toml` (so a plain `schemathesis run` from this directory knows it)
and by the contract suite.
"""

from __future__ import annotations

import schemathesis

from modelux_spec import read_timestamp


@schemathesis.hook("filter_body").apply_to(operation_id="createSimulation")
def window_in_order(context, body):
    """A simulation window runs forwards: window_start <= window_end (compared as instants)."""
    if not isinstance(body, dict):
        return True
    start, end = read_timestamp(body.get("window_start")), read_timestamp(body.get("window_end"))
    if start is None or end is None:
        return True
    return start <= end


@schemathesis.hook("filter_case").apply_to(operation_id="updateRoutingConfig")
def policy_with_config(context, case):
    """A routing config's PATCH sends `policy` and `config` together, or neither.

    Either alone is a valid request (the upstream spec makes every field optional), but whether the target accepts
    it depends on the config's current policy, which JSON Schema cannot say: a correct 400 would read as a rejected
    valid request. The rule MX-PATCH-PARTIAL judges partial PATCHes instead. A case hook rather than a body hook:
    schemathesis 4.32's coverage phase applies case hooks only.
    """
    body = case.body
    if not isinstance(body, dict):
        return True
    return ("policy" in body) == ("config" in body)

