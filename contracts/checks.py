"""Checks added to schemathesis' own, run on every response of the conformance and stateful phases.

Besides the envelope and secret checks below, one check per generic oracle (`contracts.oracles`) reports what
the phases' session found on that exchange (`mx_answer_is_about_the_id_asked`, …).

Importing this module registers them with schemathesis (globally, so only the suite's modules
import it). Each failure message starts with the code of the domain rule it enforces, so a
conformance failure names the same rule a scenario would.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis import CheckContext, Case, Response

from modelux_spec import read_timestamp
from .observations import OBSERVED
from .oracles import ORACLES
from .specs import gap_table, operation_index

# Set by the suite before the checks run.
STATE: dict[str, Any] = {"strict_profile": False, "strict_spec": False}

_LABEL_TO_ID = {label: op_id for op_id, label in operation_index().labels.items()}
SECRET_CREATIONS = {"createApiKey", "createManagementKey", "createWebhookEndpoint", "rotateWebhookSecret"}


def operation_id(case: Case) -> str | None:
    return _LABEL_TO_ID.get(case.operation.label)


def _json(response: Response) -> Any:
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return None


@schemathesis.check
def mx_observe(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Never fails: counts answers per operation and files answers only the errata document as spec gaps."""
    op_id = operation_id(case)
    OBSERVED.status(case.operation.label, response.status_code)
    gap = gap_table().get((op_id or "", str(response.status_code)))
    if gap is not None:
        OBSERVED.gap(gap.operation_id, case.operation.label, response.status_code, gap.erratum, gap.summary,
                     f"{case.method.upper()} {case.formatted_path}"[:200])
    return None


@schemathesis.check
def mx_error_envelope(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """MX-ERROR-ENVELOPE: every error answer is `{"error": "<message>", "code": "<machine code>"}`."""
    if response.status_code < 400:
        return None
    body = _json(response)
    if not (isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
            and isinstance(body.get("code"), str) and body["code"]):
        raise AssertionError(f"MX-ERROR-ENVELOPE: a {response.status_code} answer is not the error envelope "
                             f"{{error, code}}: {response.text[:300]}")
    return None


@schemathesis.check
def mx_success_envelope(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """MX-SUCCESS-ENVELOPE: every 2xx JSON answer wraps its payload in `data`."""
    if not 200 <= response.status_code < 300 or case.method.upper() == "HEAD" or not response.content:
        return None
    body = _json(response)
    if not (isinstance(body, dict) and "data" in body):
        raise AssertionError(f"MX-SUCCESS-ENVELOPE: a {response.status_code} answer lacks the `data` envelope: "
                             f"{response.text[:300]}")
    return None


def _walk(node: Any, path: str = "$"):
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, f"{path}[{i}]")


@schemathesis.check
def mx_no_secret_echo(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Write-only and once-only secrets never come back: provider `apiKey`, key plaintexts, signing secrets."""
    if not 200 <= response.status_code < 300:
        return None
    body = _json(response)
    if body is None:
        return None
    op_id = operation_id(case) or ""
    for path, key, value in _walk(body):
        # Provider credentials surface only in provider answers and audit entries; elsewhere an
        # `apiKey` can only be a client's own free-form data (a policy config) echoed back.
        if key in ("apiKey", "api_key") and value not in (None, True, "[redacted]") \
                and ("Provider" in op_id or "AuditLog" in op_id):
            raise AssertionError(f"MX-PROVIDER-APIKEY-WRITE-ONLY: {case.operation.label} echoes `{key}` at {path}")
        if op_id in SECRET_CREATIONS:
            continue
        if key == "key" and isinstance(value, str) and op_id in ("listApiKeys", "listManagementKeys"):
            code = "MX-SECRET-APIKEY-ONCE" if op_id == "listApiKeys" else "MX-SECRET-MGMTKEY-ONCE"
            raise AssertionError(f"{code}: {case.operation.label} lists a plaintext `key` at {path}")
        if key in ("signingSecret", "signing_secret", "secret") and isinstance(value, str) and value \
                and op_id.endswith(("WebhookEndpoint", "WebhookEndpoints")):
            raise AssertionError(f"MX-SECRET-WEBHOOK-ONCE: {case.operation.label} shows `{key}` at {path}")
    return None


@schemathesis.check
def mx_timestamps_utc(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """MX-TIMESTAMPS-Z (ours, strict profile): timestamps are ISO 8601 UTC with `Z`."""
    if not STATE["strict_profile"] or not 200 <= response.status_code < 300:
        return None
    body = _json(response)
    for path, key, value in _walk(body):
        if isinstance(value, str) and (key.endswith("_at") or key in ("timestamp", "window_start", "window_end")) \
                and read_timestamp(value) is not None and not value.endswith("Z"):
            raise AssertionError(f"MX-TIMESTAMPS-Z: {case.operation.label} has {path}.{key} = {value!r}; "
                                 "timestamps are UTC with `Z` (strict profile)")
    return None


def _oracle_check(code: str):
    """The schemathesis check of one generic oracle: the session judged the exchange, this reports it."""

    def check(ctx: CheckContext, response: Response, case: Case) -> bool | None:
        for finding in getattr(response.request, "mx_findings", None) or ():
            if finding.code == code:
                raise AssertionError(str(finding))
        return None

    check.__name__ = check.__qualname__ = f"mx_{ORACLES[code].name}"
    check.__doc__ = f"{code}: {ORACLES[code].title}."
    return schemathesis.check(check)


ORACLE_CHECKS = {code: _oracle_check(code) for code in ORACLES}
