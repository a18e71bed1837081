"""Forced answers: any status an operation documents, with a body valid for it, changing nothing.

What Prism does with `Prefer: code=404` (or `__code=404`), for a stateful mock: an error status
answers the error envelope with the message the real workflow would write (`project 'proj_x' not
found`, `cannot remove the last owner of the organization`); a success status answers from the live
world where a read can (the real handler of a GET: reads change nothing), else a body built from the
documented schema (`generate.py`) with the request's own values where they fit (a forced `201` on
`POST /projects {"name": "Beta"}` shows `"name": "Beta"`). No handler that writes is ever called.
Every forced answer is validated against the effective spec like a real one.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import orjson
from werkzeug.wrappers import Response
from modelux_spec import resolve

from ..compiled import Operation
from ..errors import ApiError, Invalid, MockBug
from ..registry import Call
from .generate import PATH_PREFIXES, Generator
from .prefer import Preferences

log = logging.getLogger("modelux.mock")

# The resource a path segment before `{param}` names (for a forced 404's message).
KINDS = {
    "projects": "project", "providers": "provider", "keys": "API key", "management-keys": "management key",
    "routing-configs": "routing config", "versions": "routing config version", "budgets": "budget",
    "alerts": "budget alert", "endpoints": "webhook endpoint", "deliveries": "webhook delivery",
    "simulations": "simulation", "logs": "log", "orgs": "organization", "members": "member",
}
# A forced 409 says what the workflow's own conflict says (mockserver/domain).
CONFLICTS = {
    "inviteMember": ("'{email}' is already a member or invited", "already_member"),
    "updateMemberRole": ("cannot demote the last owner of the organization", "last_owner"),
    "removeMember": ("cannot remove the last owner of the organization", "last_owner"),
    "createRoutingConfig": ("a routing config named '{name}' already exists in this project", "name_taken"),
    "updateRoutingConfig": ("a routing config named '{name}' already exists in this project", "name_taken"),
    "createSimulation": ("baseline_config_id '{baseline_config_id}' belongs to another project", "project_mismatch"),
    "cancelSimulation": ("only pending or running simulations can be cancelled; this one is completed",
                         "not_cancellable"),
    "promoteSimulation": ("only completed simulations can be promoted; this one is running", "not_completed"),
    "replayWebhookDelivery": ("only failed or dead deliveries can be replayed; this one is delivered",
                              "not_replayable"),
    "updateBudget": ("hard_cap_action 'downgrade' needs downgrade_to; this budget has none",
                     "downgrade_without_model"),
    "revokeManagementKey": ("a management key cannot revoke itself; use another key", "self_revocation"),
    "dryRunRoutingConfig": ("routing failed: no rule matched the request and the config has no else",
                            "routing_failed"),
    "replayLog": ("routing failed: no rule matched the request and the config has no else", "routing_failed"),
}


def documented_statuses(op: Operation) -> list[int]:
    return sorted(int(status) for status in op.responses if status.isdigit())


def describe(op: Operation) -> str:
    return f"{op.operation_id} ({op.method.upper()} {op.template})"


def choose_status(op: Operation, prefs: Preferences) -> int:
    """The status to answer: the one asked for, which the operation must document, else its first success."""
    documented = documented_statuses(op)
    if prefs.code is None:
        return next(s for s in documented if 200 <= s < 300)
    if prefs.code not in documented and "default" not in op.responses:
        listed = ", ".join(map(str, documented))
        raise Invalid(f"{prefs.source} code={prefs.code} is not documented for {describe(op)}; documented: {listed}",
                      code="undocumented_status")
    return prefs.code


def error_body(op: Operation, status: int, call: Call, retry_after: int = 1) -> dict[str, str]:
    """The envelope a real answer of this status would carry."""
    body = call.body if isinstance(call.body, dict) else {}
    if status == 400:
        required = (op.body_schema or {}).get("required") or []
        if required:
            return {"error": f"invalid request: body: '{required[0]}' is a required property",
                    "code": "validation_failed"}
        queried = [p for p in op.parameters if p.location == "query"]
        if queried:
            return {"error": f"invalid request: query parameter '{queried[0].name}': value is not valid",
                    "code": "validation_failed"}
        return {"error": "invalid request", "code": "validation_failed"}
    if status == 401:
        return {"error": "unknown or revoked management key", "code": "invalid_credentials"}
    if status == 404:
        return {"error": missing_message(op, call), "code": "not_found"}
    if status == 409:
        message, code = CONFLICTS.get(op.operation_id, ("the request conflicts with the current state", "conflict"))
        values = {"email": body.get("email", "someone@example.com"), "name": body.get("name", "production"),
                  "baseline_config_id": body.get("baseline_config_id", "rc_0")}
        return {"error": message.format(**values), "code": code}
    if status == 429:
        return {"error": f"rate limit exceeded; retry after {retry_after} s", "code": "rate_limited"}
    if status == 502:
        return {"error": "the routing proxy is unreachable", "code": "proxy_unreachable"}
    return {"error": f"answer {status} of {op.operation_id}", "code": f"status_{status}"}


def missing_message(op: Operation, call: Call) -> str:
    segments = [s for s in op.template.split("/") if s]
    for i in range(len(segments) - 1, 0, -1):
        if segments[i].startswith("{"):
            ident = call.path.get(segments[i][1:-1], "")
            kind = KINDS.get(segments[i - 1], segments[i - 1].rstrip("s").replace("-", " "))
            return f"{kind} '{ident}' not found"
    body = call.body if isinstance(call.body, dict) else {}
    for field, kind in (("projectId", "project"), ("project_id", "project"), ("routing_config_id", "routing config"),
                        ("baseline_config_id", "routing config")):
        if body.get(field):
            return f"{kind} '{body[field]}' not found"
    return f"no such {segments[0].rstrip('s').replace('-', ' ') if segments else 'resource'}"


class ForcedAnswers:
    """Builds and validates forced answers for one effective spec."""

    def __init__(self, spec: dict[str, Any], oracle: Any, validate: bool = True):
        self.spec = spec
        self.oracle = oracle
        self.validate = validate

    def answer(self, op: Operation, prefs: Preferences, call: Call, request: Any,
               handlers: dict[str, Callable[[Call], tuple[int, Any]]], headers: dict[str, str]) -> tuple[int, Any]:
        """(status, payload) of the forced answer; a 400 when the preferences cannot be honoured."""
        status = choose_status(op, prefs)
        if op.responses.get(str(status)) is None and str(status) in op.responses:
            payload: Any = None
        elif status >= 400:
            payload = error_body(op, status, call, int(headers.get("Retry-After", "1")))
        else:
            payload = self.success(op, status, prefs, call, handlers)
        self.check(op, status, payload, request)
        return status, payload

    # ── success bodies ─────────────────────────────────────────────────

    def example(self, op: Operation, status: int, name: str) -> Any:
        media = self.media(op, status)
        examples = {key: resolve(self.spec, value) for key, value in (media.get("examples") or {}).items()}
        if name in examples and "value" in examples[name]:
            return examples[name]["value"]
        listed = ", ".join(sorted(examples)) or "none"
        raise Invalid(f"no example named '{name}' for the {status} answer of {describe(op)}; its examples: {listed}",
                      code="unknown_example")

    def media(self, op: Operation, status: int) -> dict[str, Any]:
        response = resolve(self.spec, op.raw["responses"].get(str(status), {}))
        return (response.get("content") or {}).get("application/json") or {}

    def success(self, op: Operation, status: int, prefs: Preferences, call: Call,
                handlers: dict[str, Callable[[Call], tuple[int, Any]]]) -> Any:
        if prefs.example is not None:
            return self.example(op, status, prefs.example)
        if not prefs.dynamic and op.method == "get":
            live = self.live(op, status, call, handlers)
            if live is not None:
                return live
        schema = op.responses[str(status)].schema
        segments = [s for s in op.template.split("/") if s]
        generator = Generator(dynamic=bool(prefs.dynamic), seed=prefs.seed,
                              id_prefix=PATH_PREFIXES.get(segments[0] if segments else "", "id"), now=call.world.now())
        payload = generator.instance(schema)
        merged = self.with_request_values(op, payload, call)
        return merged if op.responses[str(status)].is_valid(merged) else payload

    def live(self, op: Operation, status: int, call: Call,
             handlers: dict[str, Callable[[Call], tuple[int, Any]]]) -> Any:
        """The real answer of a read, when it has the forced status (reads change nothing)."""
        try:
            with call.world.lock:
                real_status, payload = handlers[op.operation_id](call)
        except ApiError:
            return None
        return payload if real_status == status else None

    @staticmethod
    def with_request_values(op: Operation, payload: Any, call: Call) -> Any:
        """The generated record with the request's path id and body fields where the record has them."""
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            return payload
        data = dict(payload["data"])
        if "id" in call.path and "id" in data and op.template.endswith("{id}"):
            data["id"] = call.path["id"]
        if isinstance(call.body, dict):
            for key, value in call.body.items():
                if key in data and isinstance(value, (str, int, float, bool)) and not isinstance(data[key], (dict, list)):
                    data[key] = value
        return {**payload, "data": data}

    def check(self, op: Operation, status: int, payload: Any, request: Any) -> None:
        if not self.validate or op.response_accepted(status, payload):
            return
        body = orjson.dumps(payload)
        problems = self.oracle.response_problems(request, Response(body, status=status, mimetype="application/json"),
                                                 as_get=request.method == "HEAD")
        if problems:
            log.error("forced answer of %s violates the spec: %s", op.operation_id, problems)
            raise MockBug(f"mock bug: forced {status} of {op.operation_id} violates the spec: {problems}")
