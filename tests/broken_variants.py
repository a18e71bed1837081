"""Deliberately broken variants of the mock, at least one per domain rule of the contract suite.

Each variant breaks ONE thing, almost always by replacing one operation's handler (through
`create_app(..., handlers=...)`); a few break HTTP-level behaviour with a WSGI wrapper or a
configuration (no webhook retries). Most wrap the real handler and bend its answer, so they keep
working as the mock evolves. `tests/test_contracts_proof.py` serves each one and asserts that the
contract suite fails naming `rule`.

Variants never validate their responses against the spec (`validate_responses=False`): a real
broken implementation would not either.
"""

from __future__ import annotations

import io
import json
import secrets
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from mockserver.errors import Invalid, NotFound
from mockserver.registry import Call, deleted, load_handlers, ok
from mockserver.store import public

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
    from mockserver.handlers.routing import add_version

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
    reply = original(call)
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
]}
