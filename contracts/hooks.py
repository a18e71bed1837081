"""Schemathesis hooks: what the effective spec cannot say in JSON Schema.

Loaded by `schemathesis.toml` (so a plain `schemathesis run` from this directory knows it)
and by the contract suite.
"""

from __future__ import annotations

import schemathesis
from schemathesis.openapi.checks import EnsureResourceAvailability
from schemathesis.specs.openapi.checks import ensure_resource_availability
from schemathesis.specs.openapi.coverage import _schema as coverage_schema

from modelux_spec import read_timestamp

# Absolute URLs that are URIs, and strings a loose URL pattern would admit that are not (a space, `<`, `{`, a bad
# escape, a backslash): see `uri_patterns_imply_the_format`.
URI_PROBES = (
    ("https://example.com", "http://example.com/path", "https://example.com:8443/hooks?x=1"),
    ("http://exa mple.com/", "http:// example.com", "http://example.com/a b", "http://example.com/<path>",
     "http://example.com/{x}", "http://example.com/%zz", "https://example.com/a\\b", "http://example.com/`"),
)


def uri_patterns_imply_the_format() -> None:
    """Tell schemathesis' coverage phase when a `pattern` admits only URIs, as it knows for `uuid` and `date`.

    For a string with `format` and `pattern` (E13 gives the webhook `url` an absolute-URL pattern beside the upstream
    `format: uri`) the phase wants a value that matches the pattern yet is not of the format. When the pattern admits
    only URIs there is none, and schemathesis finds that out by drawing and filtering until it gives up: about six
    seconds of every run. It skips that search for a pattern that admits its format's valid probes and none of the
    near misses; these are the probes for `uri` (`tests/test_contracts_units.py` shows every string E13's pattern
    admits is a URI, and that a pattern admitting non-URIs still gets its negative case). Where a later schemathesis
    keeps its probes elsewhere, nothing changes but the time the phase takes.
    """
    probes = getattr(coverage_schema, "_FORMAT_PROBES", None)
    if isinstance(probes, dict):
        probes.setdefault("uri", URI_PROBES)


uri_patterns_imply_the_format()


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



@schemathesis.check
def created_resource_available(ctx, response, case):
    """Schemathesis' `ensure_resource_availability` (ST302: a resource just created answers 404), except when the
    project the resource belongs to was deleted in between: a routing config, key, budget, endpoint or simulation
    may go with its project (the mock's choice, DECISIONS.md), and schemathesis counts only a DELETE of the
    resource's own path or of a path above it. The configuration turns the original off where this one runs."""
    try:
        return ensure_resource_availability(ctx, response, case)
    except EnsureResourceAvailability:
        if _owning_project_deleted(ctx, case):
            return None
        raise


def _owning_project_deleted(ctx, case) -> bool:
    # The scenario's history is reached as the built-in check reaches it (`ctx.internals`, which schemathesis does
    # not promise to keep for custom checks: pyproject pins schemathesis to 4.32, and tests exercise this path).
    recorder = ctx.internals.recorder
    parent = recorder.find_parent(case_id=case.id) if recorder is not None else None
    parent_response = recorder.find_response(case_id=parent.id) if parent is not None else None
    if parent_response is None:
        return False
    try:
        created = parent_response.json()
    except ValueError:
        return False
    body = parent.body if isinstance(parent.body, dict) else {}
    project = (created.get("project_id") if isinstance(created, dict) else None) or body.get("projectId")
    if not project:
        return False
    for prior in recorder.find_all_cases():
        if prior.method.upper() == "DELETE" and prior.operation.path == "/projects/{id}" and \
                (prior.path_parameters or {}).get("id") == project:
            answer = recorder.find_response(case_id=prior.id)
            if answer is not None and 200 <= answer.status_code < 300:
                return True
    return False
