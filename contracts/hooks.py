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
