"""Deliberately broken variants of the mock, at least one per domain rule of the contract suite.

Each variant breaks ONE thing, almost always by replacing one operation's handler (through
`create_app(..., handlers=...)`); a few break HTTP-level behaviour with a WSGI wrapper or a
configuration (no webhook retries). Most wrap the real handler and bend its answer, so they keep
working as the mock evolves. `tests/test_contracts_proof.py` serves each one and asserts that the
contract suite fails naming `rule`.

Variants never validate their responses against the spec (`validate_responses=False`): a real
broken implementation would not either.

Besides the broken variants: `CONFORMING` holds gateways in front of the mock that answer differently
where the spec allows either answer (a rule must pass them), and `bent_shapes` bends answers out of
their documented shape at random (a rule must fail or skip on them, never crash).
"""

from __future__ import annotations

import io
import json
import random
import re
import secrets
import threading
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any, Callable

from mockserver.errors import Invalid, NotFound
from mockserver.handlers import load_handlers
from mockserver.registry import Call, deleted, ok
from mockserver.domain.world import public

Handler = Callable[[Call], tuple[int, Any]]


@dataclass(frozen=True)
class Variant:
    name: str
    rule: str  # the rule code the suite must name
    breaks: str  # what is broken, in one line
    handlers: dict[str, Callable[[Handler], Handler]] = field(default_factory=dict)  # opId -> wrap(original)
    config: dict[str, Any] = field(default_factory=dict)  # MockConfig overrides
    wsgi: Callable[[Any, str], Any] | None = None
    profile: str = "default"  # "strict" for rules that are our own decisions
    expect: str = "fail"  # "skip": a target whose data is too uniform to judge; the rule must not pass
    # ("pass": not broken at all — a conformant target the rule must not fail, see CONFORMING)

    def handler_table(self) -> dict[str, Handler]:
        table = dict(load_handlers())
        for op_id, wrap in self.handlers.items():
            table[op_id] = wrap(table[op_id])
        return table


def _data(reply: tuple[int, Any]) -> Any:
    return reply[1]["data"]


def _without(call: Call, *params: str) -> Call:
    return replace(call, query={k: v for k, v in call.query.items() if k not in params})


def _after(fn: Callable[[Call, tuple[int, Any]], tuple[int, Any]]) -> Callable[[Handler], Handler]:
    """A wrapper that runs the real handler, then bends its reply."""

    def wrap(original: Handler) -> Handler:
        return lambda call: fn(call, original(call))

    return wrap


def _instead(fn: Callable[[Call, Handler], tuple[int, Any]]) -> Callable[[Handler], Handler]:
    def wrap(original: Handler) -> Handler:
        return lambda call: fn(call, original)

    return wrap


# ── WSGI-level breakages ────────────────────────────────────────────────────


def _auth_ignored_on_projects(app, token: str):
    """GET /projects works without any key (the server fills in its own)."""

    def wsgi(environ, start_response):
        if environ["PATH_INFO"].endswith("/api/manage/v1/projects") and "HTTP_AUTHORIZATION" not in environ:
            environ = {**environ, "HTTP_AUTHORIZATION": f"Bearer {token}"}
        return app(environ, start_response)

    return wsgi


def _event_types_need_auth(app, token: str):
    def wsgi(environ, start_response):
        if environ["PATH_INFO"].endswith("/webhooks/event-types") and "HTTP_AUTHORIZATION" not in environ:
            body = b'{"error":"missing credentials","code":"unauthorized"}'
            start_response("401 UNAUTHORIZED", [("Content-Type", "application/json"),
                                                ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)

    return wsgi


def _dry_run_accepts_invalid(app, token: str):
    """A dry-run of a policy without its required fields is answered 200 with a made-up decision."""

    def wsgi(environ, start_response):
        if environ["PATH_INFO"].endswith("/routing-configs/dry-run") and environ["REQUEST_METHOD"] == "POST":
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ = {**environ, "wsgi.input": io.BytesIO(raw)}
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            if isinstance(body, dict) and body.get("policy") == "single" and not (body.get("config") or {}).get("model"):
                out = json.dumps({"data": {"dry_run": True, "selected_model": "gpt-4o-mini"}}).encode()
                start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
                return [out]
        return app(environ, start_response)

    return wsgi


# ── rewriting answers ───────────────────────────────────────────────────────


def _call(app, environ) -> tuple[str, list[tuple[str, str]], bytes]:
    """The app's whole answer to a request: status line, headers, body."""
    captured: dict[str, Any] = {}

    def capture(status, headers, exc_info=None):
        captured.update(status=status, headers=headers)
        return lambda data: None

    chunks = app(environ, capture)
    try:
        body = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return captured["status"], captured["headers"], body


def _rewriting(app, rewrite: Callable[[int, bytes], bytes | None]):
    """The app, with each answer's body replaced by `rewrite(status, body)` when that is not None."""

    def wsgi(environ, start_response):
        status, headers, body = _call(app, environ)
        new = rewrite(int(status[:3]), body)
        if new is not None:
            body = new
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]

    return wsgi


# ── partial PATCHes of routing configs, decided in front of the mock ────────

_CONFIG_PATH = re.compile(r"^/api/manage/v1/routing-configs/(?!dry-run$)([^/]+)$")


def _inner(app, environ, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A request of the gateway's own to the app behind it (with the caller's key): status and JSON answer."""
    raw = json.dumps(body).encode() if body is not None else b""
    env = {**environ, "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "CONTENT_LENGTH": str(len(raw)),
           "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(raw)}
    status, _, out = _call(app, env)
    return int(status[:3]), json.loads(out) if out else None


def _reply(start_response, status: int, body: Any) -> list[bytes]:
    raw = json.dumps(body).encode()
    start_response(f"{status} {HTTPStatus(status).phrase}", [("Content-Type", "application/json"),
                                                             ("Content-Length", str(len(raw)))])
    return [raw]


def _partial_patches(mode: str):
    """A gateway in front of the mock that decides what a routing config's PATCH with `policy` alone or `config` alone
    does, whatever the mock itself does with one:

    * "apply": the current policy or config fills in the other, and the mock judges the whole (conforming);
    * "reject": 400, nothing changes (conforming too: the spec is silent on partial PATCHes);
    * "keep-version": `config` alone is stored, but the version stays (broken);
    * "accept-mismatch": `policy` alone is stored even when the config does not fit it (broken).

    What the broken modes "store" is laid over the mock's answers to `GET /routing-configs/{id}`."""

    def wrap(app, token: str):
        stored: dict[str, dict[str, Any]] = {}

        def wsgi(environ, start_response):
            match = _CONFIG_PATH.match(environ["PATH_INFO"])
            method = environ["REQUEST_METHOD"]
            if match is None or method not in ("GET", "PATCH"):
                return app(environ, start_response)
            config_id = match.group(1)
            if method == "GET":
                if config_id not in stored:
                    return app(environ, start_response)
                status, body = _inner(app, environ, "GET", environ["PATH_INFO"])
                if status == 200:
                    body["data"].update(stored[config_id])
                return _reply(start_response, status, body)
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ = {**environ, "wsgi.input": io.BytesIO(raw)}
            try:
                sent = json.loads(raw or b"null")
            except ValueError:
                sent = None
            if not isinstance(sent, dict) or ("policy" in sent) == ("config" in sent):
                return app(environ, start_response)
            if mode == "reject":
                return _reply(start_response, 400, {"error": "send `policy` and `config` together",
                                                    "code": "validation_failed"})
            status, current = _inner(app, environ, "GET", environ["PATH_INFO"])
            if status != 200:
                return _reply(start_response, status, current)
            record = {**current["data"], **stored.get(config_id, {})}
            if mode == "keep-version" and "config" in sent:
                stored.setdefault(config_id, {})["config"] = sent["config"]
                return _reply(start_response, 200, {"data": {**record, "config": sent["config"]}})
            if mode == "accept-mismatch" and "policy" in sent:
                change = {"policy": sent["policy"], "version": record["version"] + 1}
                stored.setdefault(config_id, {}).update(change)
                return _reply(start_response, 200, {"data": {**record, **change}})
            whole = {"policy": record["policy"], "config": record["config"], **sent}
            return _reply(start_response, *_inner(app, environ, "PATCH", environ["PATH_INFO"], whole))

        return wsgi

    return wrap


# ── handler-level breakages ─────────────────────────────────────────────────


def _revoke_mgmt_key_noop(call: Call, original: Handler):
    key = call.org.get("management_keys", call.path["id"])
    return deleted(key["id"])  # answers "revoked", keeps the key working


def _revoke_api_key_noop(call: Call, original: Handler):
    key = call.org.get("api_keys", call.path["id"])
    return deleted(key["id"])


def _store_plaintext(collection: str):
    def fn(call: Call, reply):
        data = _data(reply)
        getattr(call.org, collection)[data["id"]]["key"] = data["key"]  # now every listing shows it
        return reply

    return fn


def _endpoint_shows_secret(call: Call, reply):
    endpoint = call.org.get("webhook_endpoints", call.path["id"])
    _data(reply)["signing_secret"] = endpoint["_secret"]
    return reply


def _provider_echoes_key(call: Call, reply):
    _data(reply)["apiKey"] = call.body["apiKey"]
    return reply


def _versions_newest_first(call: Call, reply):
    return 200, {"data": list(reversed(_data(reply)))}


def _patch_without_version(call: Call, original: Handler):
    record = call.org.get("routing_configs", call.path["id"])
    versions = call.org.config_versions[record["id"]]
    before = len(versions)
    reply = original(call)
    if len(versions) > before:  # the new policy stays, the version does not
        versions.pop()
        record["version"] = versions[-1]["version"]
        _data(reply)["version"] = record["version"]
    return reply


def _every_patch_bumps(call: Call, original: Handler):
    from mockserver.domain.routing_configs import add_version

    record = call.org.get("routing_configs", call.path["id"])
    before = record["version"]
    reply = original(call)
    if record["version"] == before:
        add_version(call.org, call.world, record, record["policy"], record["config"], call.actor.id)
        return ok(public(record))
    return reply


def _restore_rewinds(call: Call, original: Handler):
    record = call.org.get("routing_configs", call.path["id"])
    versions = call.org.config_versions[record["id"]]
    original(call)
    versions.pop()  # no new version: the config just points back at version k
    record["version"] = call.body["version"]
    return ok(public(record))


def _restore_unknown_ok(call: Call, original: Handler):
    try:
        return original(call)
    except NotFound:
        return ok(public(call.org.get("routing_configs", call.path["id"])))


def _duplicate_names(call: Call, original: Handler):
    wanted = call.body["name"]
    reply = original(replace(call, body={**call.body, "name": f"{wanted}-{secrets.token_hex(4)}"}))
    record = call.org.routing_configs[_data(reply)["id"]]
    record["name"] = wanted
    return 201, {"data": public(record)}


def _dry_run_wrong_model(call: Call, reply):
    data = _data(reply)
    data["selected_model"] = "mx-not-the-configured-model"
    if isinstance(data.get("trace"), dict):
        data["trace"]["selected_model"] = "mx-not-the-configured-model"
    return reply


def _delete_provider_keeps_it(call: Call, original: Handler):
    record = call.org.get("providers", call.path["id"])
    return deleted(record["id"])


def _deleted_endpoint_still_subscribed(call: Call, original: Handler):
    """The endpoint is gone from the API, but a copy stays subscribed under another id."""
    endpoint = dict(call.org.get("webhook_endpoints", call.path["id"]))
    reply = original(call)
    ghost = {**endpoint, "id": "ghost_" + endpoint["id"]}
    call.org.webhook_endpoints[ghost["id"]] = ghost
    return reply


def _replay_the_past(call: Call, original: Handler):
    """Replay answers what the log did then, not what its config does now."""
    status, body = original(call)
    log = call.org.get("logs", call.path["id"])
    data = dict(body["data"], selected_model=log.get("model_used"), selected_provider=log.get("provider"))
    return status, {**body, "data": data}


def _alert_not_evaluated(call: Call, original: Handler):
    """A new alert is stored, but thresholds are only evaluated on new traffic (nothing is announced now)."""
    listeners = list(call.world.event_listeners)
    call.world.event_listeners.clear()
    try:
        return original(call)
    finally:
        call.world.event_listeners.extend(listeners)


def _unknown_budget_400(call: Call, original: Handler):
    try:
        return original(call)
    except NotFound:
        raise Invalid("malformed budget id", code="invalid_id")


def _bare_404(call: Call, original: Handler):
    try:
        return original(call)
    except NotFound:
        return 404, {"detail": "Not Found"}


def _bare_list(call: Call, reply):
    return 200, _data(reply)


def _logs_ignore(*params: str):
    def fn(call: Call, original: Handler):
        return original(_without(call, *params))

    return fn


def _logs_oldest_first(call: Call, reply):
    return 200, {"data": list(reversed(_data(reply)))}


def _no_audit_on_create(call: Call, reply):
    project_id = _data(reply)["id"]
    for ident in [k for k, e in call.org.audit_logs.items() if e["resource_id"] == project_id]:
        del call.org.audit_logs[ident]
    return reply


def _audit_total_is_page(call: Call, reply):
    status, body = reply
    return status, {**body, "total": len(body["data"])}


def _webhooks_null_ignored(call: Call, original: Handler):
    if call.query.get("projectId") == "null":
        return original(_without(call, "projectId"))
    return original(call)


def _analytics_by_model_short(call: Call, reply):
    data = _data(reply)
    if len(data.get("by_model") or []) > 1:
        data["by_model"] = data["by_model"][:-1]
    return reply


def _trace_disagrees(call: Call, reply):
    _data(reply)["selected_model"] = "mx-not-the-logged-model"
    return reply


def _estimate_off_by_one(call: Call, reply):
    _data(reply)["request_count"] += 1
    return reply


def _window_unchecked(call: Call, original: Handler):
    body = dict(call.body)
    if body["window_start"] > body["window_end"]:
        body["window_end"] = body["window_start"]
    return original(replace(call, body=body))


def _results_empty(call: Call, reply):
    return 200, {"data": []}


def _promote_noop(call: Call, original: Handler):
    simulation = call.org.get("simulations", call.path["id"])
    return ok({"simulation_id": simulation["id"], "routing_config_id": simulation.get("baseline_config_id"),
               "version": 2, "policy": simulation["candidate_policy"], "promoted_at": call.world.now_iso()})


def _reset_without_event(call: Call, reply):
    event_id = _data(reply).get("event_id")
    call.org.budget_events.pop(event_id, None)
    return reply


def _alert_delete_noop(call: Call, original: Handler):
    call.org.get("budgets", call.path["id"])
    if call.body["alertId"] not in call.org.budget_alerts:
        raise NotFound("alert not found")
    return deleted(call.body["alertId"])


def _soft_cap_default_50(call: Call, original: Handler):
    return original(replace(call, body={"soft_cap_pct": 50, **call.body}))


def _test_event_not_synthetic(call: Call, original: Handler):
    endpoint = call.org.get("webhook_endpoints", call.path["id"])
    delivery = call.services.webhooks.enqueue(call.org, endpoint, "webhook.test",
                                              {"endpoint_id": endpoint["id"], "message": "Test event"})
    return 202, {"data": {"delivery_id": delivery["id"], "event_id": delivery["payload"]["id"],
                          "event_type": "webhook.test", "status": delivery["status"]}}


def _wrong_signing_secret(call: Call, reply):
    _data(reply)["signingSecret"] = "whsec_" + secrets.token_hex(16)  # not the secret deliveries are signed with
    return reply


def _rotate_keeps_old(call: Call, original: Handler):
    endpoint = call.org.get("webhook_endpoints", call.path["id"])
    old = endpoint["_secret"]
    reply = original(call)
    endpoint["_secret"] = old
    return reply


def _replay_noop(call: Call, original: Handler):
    return ok(public(call.org.get("webhook_deliveries", call.path["id"])))


def _last_used_never(call: Call, reply):
    for key in _data(reply):
        key["last_used_at"] = None
    return reply


def _project_from_any_org(call: Call, original: Handler):
    for org in call.world.orgs.values():  # forgets that the caller's key belongs to ONE organization
        if call.path["id"] in org.projects:
            return ok(public(org.projects[call.path["id"]]))
    return original(call)


def _budget_patch_not_stored(call: Call, original: Handler):
    budget = call.org.get("budgets", call.path["id"])
    before = dict(budget)
    reply = original(call)  # answers the new values …
    budget.clear()
    budget.update(before)  # … but keeps the old ones
    return reply


def _member_remove_noop(call: Call, original: Handler):
    member = call.org.get("members", call.path["userId"])
    return deleted(member["user_id"])


def _timestamps_with_offset(call: Call, reply):
    data = _data(reply)
    data["created_at"] = data["created_at"].replace("Z", "+00:00")
    return reply


# ── generic oracles ─────────────────────────────────────────────────────────


def _newest_provider(call: Call, original: Handler):
    """A cache that answers the provider fetched last, whatever the id."""
    providers = list(call.org.providers.values())
    return ok(public(providers[-1])) if providers else original(call)


def _newest_log(call: Call, original: Handler):
    newest = max(call.org.logs.values(), key=lambda log: log["timestamp"])
    return ok(public(newest))


def _created_at_is_now(call: Call, reply):
    for project in _data(reply):
        project["created_at"] = call.world.now_iso()  # the list renders "now" instead of the stored stamp
    return reply


def _flags_applied_before_name_check(call: Call, original: Handler):
    # Read from the table directly, not with `org.get`: the change escapes the request's transaction, as it
    # would on a server that writes as it goes and does not roll back.
    record = call.org.routing_configs[call.path["id"]]
    for flag in ("is_active", "enforce_budgets"):
        if flag in call.body:
            record[flag] = call.body[flag]  # stored first; a duplicate name is rejected (409) afterwards
    return original(call)


def _tracebacks_in_400s(app, token: str):
    """400 answers carry the server's stack trace as their message."""
    trace = ('Traceback (most recent call last):\n  File "/srv/modelux/app/handlers.py", line 212, in dispatch\n'
             "    body = schema.validate(raw)\nValueError: request body failed validation")
    leaked = json.dumps({"error": trace, "code": "bad_request"}).encode()
    return _rewriting(app, lambda status, body: leaked if status == 400 else None)


def _foreign_project_forbidden(call: Call, original: Handler):
    """Another organization's project is a 404 too, but with its own code: its existence shows."""
    try:
        return original(call)
    except NotFound:
        if any(call.path["id"] in org.projects for org in call.world.orgs.values()):
            return 404, {"error": "this project belongs to another organization", "code": "forbidden"}
        raise


def _role_not_stored(call: Call, original: Handler):
    member = call.org.get("members", call.path["userId"])
    return ok({**public(member), "role": call.body["role"]})


def _cancel_not_stored(call: Call, original: Handler):
    simulation = call.org.get("simulations", call.path["id"])
    if simulation["status"] not in ("pending", "running"):
        return original(call)
    return ok({**public(simulation), "status": "cancelled", "cancelled_at": call.world.now_iso()})


# ── routing decisions ───────────────────────────────────────────────────────


def _dry_run_with(transform: Callable[[str, dict], dict | None]):
    """Dry-run with the policy config bent by `transform(policy, config)` (None: unchanged)."""

    def fn(call: Call, original: Handler):
        bent = transform(call.body["policy"], call.body["config"])
        if bent is None:
            return original(call)
        return original(replace(call, body={**call.body, "config": bent}))

    return fn


def _fallback_last(policy: str, config: dict) -> dict | None:
    return {**config, "attempts": list(reversed(config["attempts"]))} if policy == "fallback" else None


def _custom_rules_else(policy: str, config: dict) -> dict | None:
    return {**config, "rules": [r for r in config["rules"] if "else" in r]} if policy == "custom_rules" else None


def _ensemble_lightest(policy: str, config: dict) -> dict | None:
    if policy != "ensemble":
        return None
    return {**config, "members": [{**m, "weight": 1 / m["weight"] if m.get("weight") else 0}
                                  for m in config["members"]]}


def _single_fixed(policy: str, config: dict) -> dict | None:
    return {**config, "model": "gpt-4o"} if policy == "single" else None


def _replay_single_only(call: Call, original: Handler):
    """Replay evaluates a `single` config; any other policy gets the log's own decision."""
    from mockserver.domain.logs import current_config_for

    log = call.org.get("logs", call.path["id"])
    config = current_config_for(call.org, log)
    if config is None or config["policy"] == "single":
        return original(call)
    status, body = original(call)
    data = dict(body["data"], selected_model=log.get("model_used"), selected_provider=log.get("provider"))
    data["trace"] = {**data.get("trace", {}), "selected_model": log.get("model_used")}
    return status, {**body, "data": data}


# ── filters, paging, windows ────────────────────────────────────────────────


def _logs_unfiltered_when_empty(call: Call, original: Handler):
    """A "helpful" fallback: a filter that matches nothing returns the unfiltered page."""
    reply = original(call)
    if not _data(reply):
        return original(_without(call, "projectId", "endUserId", "status"))
    return reply


def _logs_one_example(call: Call, original: Handler):
    """Like a static mock: one example log, whatever the filters and the page."""
    return ok(_data(original(replace(call, query={"limit": 1})))[:1])


def _logs_offset_clamped(call: Call, original: Handler):
    """An offset past the end is clamped to the last page."""
    counting = _without(call, "limit", "offset")
    total = 0
    while True:
        page = _data(original(replace(counting, query={**counting.query, "limit": 200, "offset": total})))
        total += len(page)
        if len(page) < 200:
            break
    limit = call.query.get("limit", 50)
    if call.query.get("offset", 0) >= total:
        return original(replace(call, query={**call.query, "offset": max(0, total - limit)}))
    return original(call)


def _logs_single_newest(call: Call, reply):
    return 200, {"data": _data(reply)[:1]}


def _audit_skips_at_boundary(call: Call, original: Handler):
    offset = call.query.get("offset", 0)
    return original(replace(call, query={**call.query, "offset": offset + 1})) if offset else original(call)


def _audit_unknown_resource_ignored(call: Call, original: Handler):
    wanted = call.query.get("resourceId")
    if wanted is not None and not any(e["resource_id"] == wanted for e in call.org.audit_logs.values()):
        return original(_without(call, "resourceId"))
    return original(call)


def _trace_of_newest_for_unknown(call: Call, original: Handler):
    try:
        return original(call)
    except NotFound:
        newest = max(call.org.logs.values(), key=lambda log: log["timestamp"])
        return original(replace(call, path={"id": newest["id"]}))


def _estimate_whole_project(call: Call, reply):
    _data(reply)["request_count"] = sum(1 for log in call.org.logs.values()
                                        if log["project_id"] == call.query["projectId"])
    return reply


def _revoke_whole_project(call: Call, reply):
    key = call.org.api_keys[_data(reply)["id"]]
    for other in call.org.api_keys.values():  # the WHERE clause names the project, not the key
        if other["_project_id"] == key["_project_id"] and other["revoked_at"] is None:
            other["revoked_at"] = key["revoked_at"]
    return reply


V = Variant
VARIANTS: dict[str, Variant] = {v.name: v for v in [
    V("auth-ignored-on-projects", "MX-AUTH-REQUIRED", "GET /projects answers 200 without a key",
      wsgi=_auth_ignored_on_projects),
    V("event-types-need-auth", "MX-AUTH-PUBLIC", "GET /webhooks/event-types demands a key", wsgi=_event_types_need_auth),
    V("revoked-management-key-still-works", "MX-KEY-REVOKE-STOPS", "revocation answers 200 but the key keeps working",
      handlers={"revokeManagementKey": _instead(_revoke_mgmt_key_noop)}),
    V("last-used-never-moves", "MX-KEY-LAST-USED", "management keys always show last_used_at null",
      handlers={"listManagementKeys": _after(_last_used_never)}, profile="strict"),
    V("api-key-list-leaks-plaintext", "MX-SECRET-APIKEY-ONCE", "GET /keys shows the plaintext key",
      handlers={"createApiKey": _after(_store_plaintext("api_keys"))}),
    V("api-key-revoke-not-recorded", "MX-APIKEY-REVOKE", "DELETE /keys/{id} answers 200 but the key stays live",
      handlers={"revokeApiKey": _instead(_revoke_api_key_noop)}),
    V("management-key-list-leaks-plaintext", "MX-SECRET-MGMTKEY-ONCE", "GET /management-keys shows the plaintext",
      handlers={"createManagementKey": _after(_store_plaintext("management_keys"))}),
    V("webhook-secret-readable", "MX-SECRET-WEBHOOK-ONCE", "GET /webhooks/endpoints/{id} shows the signing secret",
      handlers={"getWebhookEndpoint": _after(_endpoint_shows_secret)}),
    V("provider-echoes-apikey", "MX-PROVIDER-APIKEY-WRITE-ONLY", "POST /providers echoes apiKey",
      handlers={"createProvider": _after(_provider_echoes_key)}),
    V("versions-newest-first", "MX-VERSION-HISTORY", "the version history is listed newest first",
      handlers={"listRoutingConfigVersions": _after(_versions_newest_first)}),
    V("patch-does-not-bump", "MX-VERSION-BUMP", "PATCH of policy/config changes the config but adds no version",
      handlers={"updateRoutingConfig": _instead(_patch_without_version)}),
    V("rename-bumps-version", "MX-VERSION-NOOP", "every PATCH adds a version, even a rename",
      handlers={"updateRoutingConfig": _instead(_every_patch_bumps)}, profile="strict"),
    V("partial-patch-keeps-version", "MX-PATCH-PARTIAL", "a PATCH of `config` alone is stored but adds no version",
      wsgi=_partial_patches("keep-version")),
    V("partial-patch-accepts-mismatch", "MX-PATCH-PARTIAL", "a PATCH of `policy` alone is stored though the config "
      "does not fit it", wsgi=_partial_patches("accept-mismatch")),
    # answers without their documented shape: a violation by the target, never a crash of the suite
    V("versions-in-an-object", "MX-VERSION-HISTORY", "the version history is an object holding the list",
      handlers={"listRoutingConfigVersions": _after(lambda call, reply: (200, {"data": {"versions": _data(reply)}}))}),
    V("budget-created-in-a-list", "MX-BUDGET-SOFT-CAP-DEFAULT", "POST /budgets answers the new budget inside a list",
      handlers={"createBudget": _after(lambda call, reply: (201, {"data": [_data(reply)]}))}),
    V("restore-rewinds", "MX-RESTORE-NEW-VERSION", "restore points back at version k instead of adding n+1",
      handlers={"restoreRoutingConfigVersion": _instead(_restore_rewinds)}),
    V("restore-unknown-ok", "MX-RESTORE-UNKNOWN-404", "restoring an unknown version answers 200",
      handlers={"restoreRoutingConfigVersion": _instead(_restore_unknown_ok)}),
    V("duplicate-config-names", "MX-CONFIG-NAME-UNIQUE", "two configs of a project may share a name",
      handlers={"createRoutingConfig": _instead(_duplicate_names)}),
    V("dry-run-accepts-invalid", "MX-POLICY-INVALID-400", "dry-run of `single` without a model answers 200",
      wsgi=_dry_run_accepts_invalid),
    V("dry-run-wrong-model", "MX-DRYRUN-DECISION", "dry-run selects a model the policy does not name",
      handlers={"dryRunRoutingConfig": _after(_dry_run_wrong_model)}),
    V("delete-leaves-provider", "MX-DELETE-THEN-404", "DELETE /providers/{id} answers 200, the provider stays",
      handlers={"deleteProvider": _instead(_delete_provider_keeps_it)}),
    V("unknown-budget-400", "MX-UNKNOWN-ID-404", "an unknown budget id is a 400",
      handlers={"getBudget": _instead(_unknown_budget_400)}),
    V("bare-404", "MX-ERROR-ENVELOPE", "GET /projects/{unknown} answers 404 without the error envelope",
      handlers={"getProject": _instead(_bare_404)}),
    V("bare-list", "MX-SUCCESS-ENVELOPE", "GET /providers answers a bare list", handlers={"listProviders": _after(_bare_list)}),
    V("logs-project-filter-ignored", "MX-LOGS-FILTERS", "GET /logs ignores projectId",
      handlers={"listLogs": _instead(_logs_ignore("projectId"))}),
    V("logs-offset-ignored", "MX-LOGS-PAGING", "GET /logs ignores offset",
      handlers={"listLogs": _instead(_logs_ignore("offset"))}),
    V("logs-oldest-first", "MX-LOGS-ORDER", "GET /logs lists oldest first", handlers={"listLogs": _after(_logs_oldest_first)},
      profile="strict"),
    V("configs-ignore-project", "MX-SCOPE-PROJECT-FILTER", "GET /routing-configs ignores projectId",
      handlers={"listRoutingConfigs": _instead(_logs_ignore("projectId"))}),
    V("project-visible-across-orgs", "MX-ORG-ISOLATION", "GET /projects/{id} finds projects of any organization",
      handlers={"getProject": _instead(_project_from_any_org)}),
    V("webhooks-null-ignored", "MX-WEBHOOK-PROJECT-NULL", "GET /webhooks/endpoints?projectId=null lists all",
      handlers={"listWebhookEndpoints": _instead(_webhooks_null_ignored)}),
    V("no-audit-on-create", "MX-AUDIT-PER-MUTATION", "creating a project writes no audit entry",
      handlers={"createProject": _after(_no_audit_on_create)}),
    V("audit-total-is-page", "MX-AUDIT-TOTAL", "audit `total` counts the page only",
      handlers={"listAuditLogs": _after(_audit_total_is_page)}),
    V("audit-action-filter-ignored", "MX-AUDIT-FILTERS", "GET /audit-logs ignores action",
      handlers={"listAuditLogs": _instead(_logs_ignore("action"))}),
    V("analytics-by-model-short", "MX-ANALYTICS-SUMS", "by_model misses a model, so it does not sum to the total",
      handlers={"getAnalytics": _after(_analytics_by_model_short)}),
    V("trace-disagrees", "MX-TRACE-MATCHES-LOG", "a log's trace selects another model than the log used",
      handlers={"getDecisionTrace": _after(_trace_disagrees)}),
    V("estimate-off-by-one", "MX-ESTIMATE-MATCHES-SIM", "the estimate counts one request more than a simulation",
      handlers={"estimateSimulation": _after(_estimate_off_by_one)}),
    V("simulation-window-unchecked", "MX-SIM-WINDOW-400", "a backwards simulation window is accepted",
      handlers={"createSimulation": _instead(_window_unchecked)}),
    V("simulation-results-empty", "MX-SIM-LIFECYCLE", "a completed simulation has no per-request results",
      handlers={"getSimulationResults": _after(_results_empty)}),
    V("promote-does-nothing", "MX-SIM-PROMOTE", "promote answers 200 but adds no version",
      handlers={"promoteSimulation": _instead(_promote_noop)}),
    V("reset-without-event", "MX-BUDGET-RESET", "resetting a budget records no `reset` event",
      handlers={"resetBudgetSpend": _after(_reset_without_event)}),
    V("alert-delete-ignored", "MX-BUDGET-ALERTS", "DELETE /budgets/{id}/alerts answers 200, the alert stays",
      handlers={"deleteBudgetAlert": _instead(_alert_delete_noop)}),
    V("soft-cap-default-50", "MX-BUDGET-SOFT-CAP-DEFAULT", "soft_cap_pct defaults to 50",
      handlers={"createBudget": _instead(_soft_cap_default_50)}),
    V("budget-patch-not-stored", "MX-PATCH-PERSISTS", "PATCH /budgets/{id} answers the change but does not keep it",
      handlers={"updateBudget": _instead(_budget_patch_not_stored)}),
    V("member-remove-ignored", "MX-MEMBERS", "removing a member answers 200 but the member stays",
      handlers={"removeMember": _instead(_member_remove_noop)}),
    V("test-event-not-synthetic", "MX-WEBHOOK-TEST-EVENT", "the test event lacks data.synthetic",
      handlers={"testWebhookEndpoint": _instead(_test_event_not_synthetic)}),
    V("wrong-signature", "MX-WEBHOOK-SIGNATURE", "deliveries are signed with a secret the client was never given",
      handlers={"createWebhookEndpoint": _after(_wrong_signing_secret)}),
    V("rotate-keeps-old-secret", "MX-WEBHOOK-ROTATE", "rotate returns a new secret but keeps signing with the old",
      handlers={"rotateWebhookSecret": _instead(_rotate_keeps_old)}),
    V("no-retries", "MX-WEBHOOK-RETRY", "a failed delivery is never retried", config={"webhook_max_attempts": 1}),
    V("replay-does-nothing", "MX-WEBHOOK-REPLAY", "replay answers 200 but resets and re-sends nothing",
      handlers={"replayWebhookDelivery": _instead(_replay_noop)}),
    V("deleted-endpoint-delivers", "MX-WEBHOOK-DELETE-STOPS", "a deleted endpoint still receives new events",
      handlers={"deleteWebhookEndpoint": _instead(_deleted_endpoint_still_subscribed)}),
    V("replay-the-past", "MX-REPLAY-CURRENT-CONFIG", "log replay answers the log's own decision, not the current config's",
      handlers={"replayLog": _instead(_replay_the_past)}),
    V("alert-not-evaluated", "MX-BUDGET-THRESHOLD-WEBHOOK", "an alert the spend has passed is not announced",
      handlers={"createBudgetAlert": _instead(_alert_not_evaluated)}, profile="strict"),
    V("timestamps-with-offset", "MX-TIMESTAMPS-Z", "GET /projects/{id} writes created_at with +00:00",
      handlers={"getProject": _after(_timestamps_with_offset)}, profile="strict"),
    # generic oracles
    V("provider-get-answers-newest", "MX-BY-ID", "GET /providers/{id} answers the newest provider, whatever the id",
      handlers={"getProvider": _instead(_newest_provider)}),
    V("project-list-rewrites-created-at", "MX-IMMUTABLE-FIELDS", "GET /projects renders created_at as now",
      handlers={"listProjects": _after(_created_at_is_now)}),
    V("rejected-patch-keeps-flags", "MX-REJECTED-NO-EFFECT", "a PATCH rejected for a duplicate name keeps its "
      "valid flags", handlers={"updateRoutingConfig": _instead(_flags_applied_before_name_check)}),
    V("errors-carry-traceback", "MX-ERROR-NO-LEAK", "400 answers carry a Python traceback", wsgi=_tracebacks_in_400s,
      profile="strict"),
    V("foreign-project-forbidden-code", "MX-FOREIGN-LIKE-UNKNOWN", "another organization's project is a 404 with its "
      "own code", handlers={"getProject": _instead(_foreign_project_forbidden)}),
    V("member-role-not-stored", "MX-MUTATION-PERSISTS", "a member's role change is answered but not stored",
      handlers={"updateMemberRole": _instead(_role_not_stored)}),
    V("cancel-not-stored", "MX-MUTATION-PERSISTS", "a simulation's cancel is answered but not stored",
      handlers={"cancelSimulation": _instead(_cancel_not_stored)}),
    # routing decisions
    V("dry-run-single-fixed-model", "MX-DRYRUN-DECISION", "a dry-run of `single` always selects gpt-4o",
      handlers={"dryRunRoutingConfig": _instead(_dry_run_with(_single_fixed))}),
    V("dry-run-fallback-picks-last", "MX-DRYRUN-POLICIES", "a dry-run of `fallback` selects the last attempt",
      handlers={"dryRunRoutingConfig": _instead(_dry_run_with(_fallback_last))}),
    V("dry-run-custom-rules-always-else", "MX-DRYRUN-POLICIES", "a dry-run of `custom_rules` always takes `else`",
      handlers={"dryRunRoutingConfig": _instead(_dry_run_with(_custom_rules_else))}),
    V("dry-run-ensemble-lightest", "MX-DRYRUN-POLICIES-OURS", "an ensemble reports its lightest member",
      handlers={"dryRunRoutingConfig": _instead(_dry_run_with(_ensemble_lightest))}, profile="strict"),
    V("replay-single-only", "MX-REPLAY-CURRENT-CONFIG", "replay follows a `single` config, else answers the log's "
      "own decision", handlers={"replayLog": _instead(_replay_single_only)}),
    # filters, paging, windows: negative probes
    V("logs-filter-falls-back-to-all", "MX-LOGS-FILTERS", "a log filter matching nothing returns the unfiltered page",
      handlers={"listLogs": _instead(_logs_unfiltered_when_empty)}),
    V("logs-one-example", "MX-LOGS-FILTERS", "one example log, whatever the filters (a static mock)",
      handlers={"listLogs": _instead(_logs_one_example)}),
    V("logs-offset-past-end-clamped", "MX-LOGS-PAGING", "an offset past the end returns the last page",
      handlers={"listLogs": _instead(_logs_offset_clamped)}),
    V("audit-pages-skip-at-boundary", "MX-AUDIT-PAGING", "each audit page after the first skips one entry",
      handlers={"listAuditLogs": _instead(_audit_skips_at_boundary)}),
    V("audit-unknown-resource-ignored", "MX-AUDIT-FILTERS", "a resourceId no entry has is ignored",
      handlers={"listAuditLogs": _instead(_audit_unknown_resource_ignored)}),
    V("budget-events-limit-ignored", "MX-BUDGET-EVENTS-LIMIT", "GET /budgets/{id}/events ignores limit",
      handlers={"listBudgetEvents": _instead(_logs_ignore("limit"))}),
    V("analytics-ignores-window", "MX-ANALYTICS-SUMS", "analytics ignore startTime and endTime",
      handlers={"getAnalytics": _instead(_logs_ignore("startTime", "endTime"))}),
    V("trace-of-unknown-log", "MX-TRACE-MATCHES-LOG", "a log that does not exist gets the newest log's trace",
      handlers={"getDecisionTrace": _instead(_trace_of_newest_for_unknown)}),
    V("estimate-ignores-window", "MX-ESTIMATE-MATCHES-SIM", "the estimate counts the project's logs of any time",
      handlers={"estimateSimulation": _after(_estimate_whole_project)}),
    V("api-key-revoke-whole-project", "MX-APIKEY-REVOKE", "revoking one key revokes every key of its project",
      handlers={"revokeApiKey": _after(_revoke_whole_project)}),
    # uniform data: one log, so no rule may pass on it
    V("logs-uniform-trace", "MX-TRACE-MATCHES-LOG", "a single log: its trace agrees by chance",
      handlers={"listLogs": _after(_logs_single_newest)}, expect="skip"),
    V("logs-uniform-order", "MX-LOGS-ORDER", "a single log: it is in any order", profile="strict",
      handlers={"listLogs": _after(_logs_single_newest)}, expect="skip"),
]}


# Breakages the generic oracles must find inside the schemathesis phases (not only in their probe rules), where
# path ids are made up: an answer about the newest log for any id, a list that rewrites creation stamps,
# another organization's project told apart from an unknown one, and stack traces in 400s (strict profile).
PHASES_VARIANT = V("oracle-breakages-in-the-phases", "MX-BY-ID", "four breakages the generic oracles judge",
                   handlers={"getLog": _instead(_newest_log), "listProjects": _after(_created_at_is_now),
                             "getProject": _instead(_foreign_project_forbidden)},
                   wsgi=_tracebacks_in_400s, profile="strict")
PHASES_CODES = ("MX-BY-ID", "MX-IMMUTABLE-FIELDS", "MX-FOREIGN-LIKE-UNKNOWN", "MX-ERROR-NO-LEAK")



# Conforming targets a rule must pass (never broken): a partial PATCH may be applied, or rejected with 400.
CONFORMING: dict[str, Variant] = {v.name: v for v in [
    V("partial-patch-applied", "MX-PATCH-PARTIAL", "a PATCH of `policy` or `config` alone is applied as a whole",
      wsgi=_partial_patches("apply"), expect="pass"),
    V("partial-patch-rejected", "MX-PATCH-PARTIAL", "a PATCH of `policy` or `config` alone is a 400",
      wsgi=_partial_patches("reject"), expect="pass"),
]}


def bent_shapes(seed: int, rate: float = 0.2):
    """A gateway that bends a share of the successful answers out of their documented shape, at random (seeded):
    somewhere inside `data` (`data` itself included), a field is dropped or a value becomes one of another JSON type.
    No rule may crash on such answers: each is a violation by the target, or a skip (tests/test_contracts_proof.py)."""
    others: list[Any] = [None, 0, 1.5, True, "x", [], {}, [1], {"x": 1}]

    def bend(rng: random.Random, payload: Any) -> Any:
        if not isinstance(payload, dict) or "data" not in payload or rng.random() >= rate:
            return None
        node, key = payload, "data"  # walk down to a random place
        while True:
            value = node[key]
            steps = sorted(value) if isinstance(value, dict) else list(range(len(value))) if isinstance(value, list) \
                else []
            if not steps or rng.random() < 0.4:
                break
            node, key = value, rng.choice(steps)
        if isinstance(node, dict) and key != "data" and rng.random() < 0.5:
            del node[key]
        else:
            node[key] = rng.choice([other for other in others if type(other) is not type(node[key])])
        return payload

    def wrap(app, token: str):
        rng, lock = random.Random(seed), threading.Lock()

        def rewrite(status: int, body: bytes) -> bytes | None:
            if not 200 <= status < 300 or not body.startswith(b"{"):
                return None
            with lock:
                bent = bend(rng, json.loads(body))
            return json.dumps(bent).encode() if bent is not None else None

        return _rewriting(app, rewrite)

    return wrap
