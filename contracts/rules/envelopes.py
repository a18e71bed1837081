"""Envelopes and time: every error is `{error, code}`, every success wraps `data`, timestamps are UTC with `Z`."""

from __future__ import annotations

import json
import uuid
from typing import Any

from .context import RuleContext
from .core import rule


@rule("MX-ERROR-ENVELOPE", source="spec", title="Every error is `{error, code}`: 404s, unknown routes, 405, bad JSON",
      ref="Envelopes, errors: Error: `{\"error\": \"<human message>\", \"code\": \"<machine_code>\"}` — for every "
          "error the server produces, including unknown routes, wrong methods (405 with an `Allow` header), "
          "malformed JSON, oversized bodies and internal errors.")
def errors_use_envelope(ctx: RuleContext) -> None:
    """DOMAIN.md: "Error: `{"error": "<human message>", "code": "<machine_code>"}` — for every error the server
    produces, including unknown routes, wrong methods (405 with an `Allow` header), malformed JSON, oversized bodies
    and internal errors." Spec, info: "All error responses return `{ "error": "message", "code": "error_code" }`"."""
    ctx.expect_error(ctx.t.get(f"/projects/proj_mxunknown{uuid.uuid4().hex[:8]}"), 404,
                     what="GET /projects/{id} with an unknown id")
    ctx.expect_error(ctx.t.get(f"/no-such-route-{uuid.uuid4().hex[:6]}"), 404, what="GET of an unknown route")
    reply = ctx.t.request("PUT", "/projects", json={"name": "x"}, guard=False)
    ctx.expect_error(reply, 405, what="PUT /projects (a method the path does not have)")
    allow = reply.headers.get("Allow") or ""
    ctx.check({"GET", "POST"} <= {m.strip().upper() for m in allow.split(",")},
              f"405 on /projects has Allow = {allow!r}; it must list GET and POST (RFC 9110 §15.5.6)")
    ctx.expect_error(ctx.t.post("/projects", content=b'{"name": ', headers={"Content-Type": "application/json"}),
                     400, what="POST /projects with malformed JSON")
    big = ctx.t.post("/projects", content=json.dumps({"name": "x" * (2 * 1024 * 1024)}).encode(),
                     headers={"Content-Type": "application/json"})
    if not big.ok:
        ctx.expect_error(big, big.status, what="POST /projects with a 2 MiB body")


@rule("MX-SUCCESS-ENVELOPE", source="spec", title="Every success wraps its payload in `data`",
      ref="Envelopes: Success: `{\"data\": ...}`. (Spec, info: \"All success responses wrap data in "
          "`{ \"data\": ... }`\".)")
def successes_use_envelope(ctx: RuleContext) -> None:
    """DOMAIN.md, Envelopes: "Success: `{"data": ...}`." Spec, info: "All success responses wrap data in `{ "data":
    ... }`"."""
    for path in ("/projects", "/providers", "/keys", "/routing-configs", "/logs", "/analytics", "/budgets",
                 "/webhooks/endpoints", "/webhooks/event-types", "/simulations", "/audit-logs", "/management-keys"):
        ctx.expect_data(ctx.t.get(path), 200, what=f"GET {path}")


@rule("MX-TIMESTAMPS-Z", source="ours", title="Timestamps are ISO 8601 UTC written with `Z`",
      ref="Envelopes, errors, ids, time: Timestamps: ISO 8601 UTC with `Z`.")
def timestamps_utc_z(ctx: RuleContext) -> None:
    """DOMAIN.md, Envelopes, errors, ids, time: "Timestamps: ISO 8601 UTC with `Z`." (Ours: the spec only says
    "Dates are ISO 8601 strings".)"""
    project = ctx.project()
    replies = [ctx.t.get(f"/projects/{project['id']}"), ctx.t.get("/audit-logs", params={"resourceId": project["id"]}),
               ctx.t.get("/logs", params={"limit": 5})]
    for reply in replies:
        ctx.expect(reply, 200, what=f"{reply.method} {reply.path}")
        for key, value in _timestamps(reply.data):
            ctx.check(value.endswith("Z"), f"{reply.method} {reply.path}: `{key}` = {value!r} is not UTC with `Z`")


def _timestamps(node: Any):
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and (key.endswith("_at") or key == "timestamp"):
                yield key, value
            else:
                yield from _timestamps(value)
    elif isinstance(node, list):
        for item in node:
            yield from _timestamps(item)
