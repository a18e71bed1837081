"""Schemathesis hooks: what the effective spec cannot say in JSON Schema.

Loaded by `schemathesis.toml` (so a plain `schemathesis run` from this directory knows it)
and by the contract suite.
"""

from __future__ import annotations

from datetime import datetime

import schemathesis


def parse_moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@schemathesis.hook("filter_body").apply_to(operation_id="createSimulation")
def window_in_order(context, body):
    """A simulation window runs forwards: window_start <= window_end (compared as instants)."""
    if not isinstance(body, dict):
        return True
    start, end = parse_moment(body.get("window_start")), parse_moment(body.get("window_end"))
    if start is None or end is None or (start.tzinfo is None) != (end.tzinfo is None):
        return True
    return start <= end
