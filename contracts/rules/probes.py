"""Probe rules of the generic oracles: each drives the target through the exchanges its oracle is about.

The oracles (`contracts.oracles`) judge every exchange of the schemathesis phases, where ids are mostly made up
and a successful action is rare. The probe rule of each oracle (same code) makes sure it also meets real
resources: it creates its own, sends the requests the oracle is about through a `Probe` — the run's client with
that one oracle judging every exchange — and fails with the oracle's finding. A probe that found nothing to
judge is a SKIP, never a PASS.
"""

from __future__ import annotations

import uuid
from functools import partialmethod
from typing import Any

from ..oracles import ORACLES, Exchange, OracleRun
from ..target import Reply
from .common import POLICY_A, POLICY_B, UNKNOWN_ID_READS, project_with_logs, simulation_body, wait_simulation
from .context import DISCARD_URL, RuleContext, at, objects
from .core import RuleSkip, rule


class Probe:
    """The target, with the probe rule's oracle judging every exchange sent through it."""

    def __init__(self, ctx: RuleContext):
        self.ctx = ctx
        self.code = ctx.rule.code
        self.run = OracleRun(self._read, strict=True, other_token=ctx.settings.other_token, only={self.code},
                             mirror_limit=1_000)

    def _read(self, path: str, token: str | None = None, query: Any = None) -> Exchange:
        reply = self.ctx.t.get(path, params=query, token=token or True)
        return Exchange("GET", path, reply.status, reply.json, reply.text, query=dict(query or {}),
                        foreign=bool(token))

    def send(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
             token: str | bool | None = True, content: bytes | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        before = self.run.before(method, path, json, foreign=isinstance(token, str))
        reply = self.ctx.t.request(method, path, json=json, params=params, token=token, content=content,
                                   headers=headers)
        exchange = Exchange(method, path, reply.status, reply.json, reply.text, body=json, query=dict(params or {}),
                            before=before, foreign=isinstance(token, str))
        for finding in self.run.after(exchange):
            self.ctx.fail(finding.message)
        return reply

    get = partialmethod(send, "GET")
    post = partialmethod(send, "POST")
    patch = partialmethod(send, "PATCH")
    delete = partialmethod(send, "DELETE")

    def created(self, path: str, body: dict[str, Any], *, key: str = "id") -> dict[str, Any]:
        data = self.ctx.data_object(self.post(path, json=body), 201, what=f"setup: POST {path}")
        item = self.ctx.field(data, "endpoint", dict, what=f"setup: POST {path}") if key == "endpoint" else data
        self.ctx.ident(item, f"setup: POST {path}")
        return item

    def done(self) -> None:
        """End of the probe: it must have judged something."""
        if not self.run.tally[self.code]:
            self.ctx.skip(f"the target gave {self.code} nothing to judge in this probe's exchanges")


def _oracle_rule(code: str, *, not_in_staging: str = "", needs: tuple[str, ...] = ()):
    """Register a probe rule under its oracle's code, source and reference."""
    found = ORACLES[code]
    return rule(code, title=found.title, source=found.source, ref=found.ref, not_in_staging=not_in_staging,
                needs=needs)


class World:
    """The resources a probe makes (two of each kind where a mix-up between two would show)."""

    def __init__(self, probe: Probe, distinct: bool = False):
        self.p, ctx = probe, probe.ctx
        name = ctx.name
        self.projects = [self.p.created("/projects", {"name": name("project")}) for _ in range(2)]
        pid = self.projects[0]["id"]
        self.providers = [self.p.created("/providers", {"provider": "openai", "name": name("provider"),
                                                        "apiKey": f"sk-mx-{uuid.uuid4().hex}"}) for _ in range(2)]
        self.configs = [self.p.created("/routing-configs", {"projectId": pid, "name": name("rc"), "policy": policy,
                                                            "config": config}) for policy, config in (POLICY_A, POLICY_B)]
        self.budgets = [self.p.created("/budgets", {"name": name("budget"), "scope_type": "project",
                                                    "scope_id": project["id"], "period": "monthly",
                                                    "amount_usd": "10.00"}) for project in self.projects]
        self.endpoints = [self.p.created("/webhooks/endpoints", {"name": name("hook"), "url": ctx.webhook_url(),
                                                                 "event_types": ["webhook.test"],
                                                                 "project_id": project["id"]}, key="endpoint")
                          for project in self.projects]
        self.key = self.p.created("/keys", {"projectId": pid, "name": name("key")})
        if distinct:
            for kind, pair in (("projects", self.projects), ("providers", self.providers), ("configs", self.configs),
                               ("budgets", self.budgets), ("endpoints", self.endpoints)):
                if pair[0]["id"] == pair[1]["id"]:
                    ctx.skip(f"two {kind} created in a row got the same id {pair[0]['id']!r}: the target's answers "
                             "are too uniform to tell one resource from another")

    def update_each(self) -> None:
        """One PATCH of every resource made (a new name; a budget's amount)."""
        ctx = self.p.ctx
        for base, items in (("/projects", self.projects), ("/providers", self.providers),
                            ("/routing-configs", self.configs), ("/webhooks/endpoints", self.endpoints)):
            for item in items:
                self.p.patch(f"{base}/{item['id']}", json={"name": ctx.name("renamed")})
        for budget in self.budgets:
            self.p.patch(f"/budgets/{budget['id']}", json={"amount_usd": "12.00"})

    def reads(self) -> list[str]:
        """Every by-id read of what was made (and of the target's logs, audit entries and simulations)."""
        ctx = self.p.ctx
        paths = []
        for project in self.projects:
            paths += [f"/projects/{project['id']}", f"/projects/{project['id']}/decisions/summary"]
        paths += [f"/providers/{p['id']}" for p in self.providers]
        for config in self.configs:
            paths += [f"/routing-configs/{config['id']}", f"/routing-configs/{config['id']}/versions",
                      f"/routing-configs/{config['id']}/versions/1"]
        for budget in self.budgets:
            paths += [f"/budgets/{budget['id']}", f"/budgets/{budget['id']}/events", f"/budgets/{budget['id']}/alerts"]
        for endpoint in self.endpoints:
            paths += [f"/webhooks/endpoints/{endpoint['id']}", f"/webhooks/endpoints/{endpoint['id']}/deliveries"]
        for listing, template in (("/logs", "/logs/{}"), ("/audit-logs", "/audit-logs/{}"),
                                  ("/simulations", "/simulations/{}")):
            items = objects(ctx.t.get(listing, params={"limit": 2} if listing != "/simulations" else None).data)
            paths += [template.format(i["id"]) for i in items[:2] if isinstance(i.get("id"), str) and i["id"]]
        return paths


@_oracle_rule("MX-BY-ID")
def probe_answers_about_the_id_asked(ctx: RuleContext) -> None:
    """Spec: every by-id operation answers the resource its path names. Two resources of each kind are made and
    each is read, updated and acted on by id, so an answer about the other one (or about any fixed one) shows."""
    p = Probe(ctx)
    world = World(p)
    for path in world.reads():
        p.get(path)
    world.update_each()
    for config in world.configs:
        p.post(f"/routing-configs/{config['id']}/restore", json={"version": 1})
    for budget in world.budgets:
        p.post(f"/budgets/{budget['id']}/alerts", json={"threshold_pct": 50, "channel": "webhook",
                                                         "destination": ctx.webhook_url()})
        p.get(f"/budgets/{budget['id']}/alerts")
        p.post(f"/budgets/{budget['id']}/reset")
        p.get(f"/budgets/{budget['id']}/events")
    for endpoint in world.endpoints:
        p.post(f"/webhooks/endpoints/{endpoint['id']}/test")
        p.get(f"/webhooks/endpoints/{endpoint['id']}/deliveries")
    p.done()


@_oracle_rule("MX-IMMUTABLE-FIELDS")
def probe_immutable_fields(ctx: RuleContext) -> None:
    """Spec: no operation changes a resource's creation stamp, creator, key prefix or parent. Each kind is
    created, read, listed, updated (and a config's policy changed and restored), all through the oracle. Two
    creations answered with one id leave nothing to tell apart: SKIP."""
    p = Probe(ctx)
    world = World(p, distinct=True)
    p.post("/management-keys", json={"name": ctx.name("key")})
    for config in world.configs:
        p.patch(f"/routing-configs/{config['id']}", json={"policy": "single", "config": {"model": "gpt-4o"}})
        p.post(f"/routing-configs/{config['id']}/restore", json={"version": 1})
    for path in world.reads():
        p.get(path)
    world.update_each()
    for listing in ("/projects", "/providers", "/routing-configs", "/budgets", "/webhooks/endpoints", "/keys",
                    "/management-keys", "/audit-logs", "/logs"):
        p.get(listing)
    for path in world.reads():
        p.get(path)
    p.done()


@_oracle_rule("MX-REJECTED-NO-EFFECT")
def probe_rejected_requests_change_nothing(ctx: RuleContext) -> None:
    """Spec: a 4xx answer is a rejection. Each resource gets requests that mix valid changes with one invalid
    field (or name something missing, or carry no valid key); whatever the target answers 4xx must leave the
    resource as it was. A target that does not show accepted changes either cannot be judged: SKIP."""
    p = Probe(ctx)
    world = World(p, distinct=True)
    project, provider, config = world.projects[0], world.providers[0], world.configs[0]
    budget, endpoint = world.budgets[0], world.endpoints[0]
    for path in (f"/projects/{project['id']}", f"/routing-configs/{config['id']}"):
        accepted = ctx.name("accepted")
        ctx.expect(ctx.t.patch(path, json={"name": accepted}), 200, what=f"setup: PATCH {path}")
        if at(ctx.t.get(path).data, "name") != accepted:
            ctx.skip(f"GET {path} does not show an accepted rename either: a rejected request's effect could not "
                     "be seen")
    alert = ctx.data_object(p.post(f"/budgets/{budget['id']}/alerts", json={
        "threshold_pct": 50, "channel": "webhook", "destination": ctx.webhook_url()}), 201, what="setup: alert")
    ctx.ident(alert, "setup: alert")
    for path in world.reads():
        p.get(path)  # the oracle knows what it may compare from here on
    renamed = ctx.name("renamed")
    attempts = [
        ("PATCH", f"/projects/{project['id']}", {"name": renamed, "logging_mode": "everything"}),
        ("PATCH", f"/providers/{provider['id']}", {"name": renamed, "baseUrl": 12}),
        ("PATCH", f"/routing-configs/{config['id']}", {"name": renamed, "policy": "single", "config": {}}),
        ("PATCH", f"/routing-configs/{config['id']}", {"name": renamed, "is_active": "sometimes"}),
        ("PATCH", f"/routing-configs/{config['id']}", {"name": world.configs[1]["name"], "is_active": False,
                                                       "enforce_budgets": True}),  # a name the project has: 409
        ("POST", f"/routing-configs/{config['id']}/restore", {"version": 999}),
        ("PATCH", f"/budgets/{budget['id']}", {"name": renamed, "soft_cap_pct": "high"}),
        ("POST", f"/budgets/{budget['id']}/alerts", {"threshold_pct": "half", "channel": "webhook",
                                                    "destination": ctx.webhook_url()}),
        ("DELETE", f"/budgets/{budget['id']}/alerts", {"alertId": f"balert_mxunknown{uuid.uuid4().hex[:8]}"}),
        ("PATCH", f"/webhooks/endpoints/{endpoint['id']}", {"name": renamed, "event_types": "webhook.test"}),
    ]
    for method, path, body in attempts:
        p.send(method, path, json=body)
    for token in (None, "mlx_mgmt_" + "0" * 40):  # no key, an unknown key: 401, and nothing applied
        p.patch(f"/projects/{project['id']}", json={"name": renamed}, token=token)
        p.delete(f"/budgets/{budget['id']}/alerts", json={"alertId": alert["id"]}, token=token)
        p.delete(f"/webhooks/endpoints/{endpoint['id']}", token=token)
    if not ctx.settings.staging:
        org = ctx.org_id()
        p.get(f"/orgs/{org}/members")
        invited = p.post(f"/orgs/{org}/members", json={"email": f"{ctx.name('member')}@example.com",
                                                       "role": "member"})
        user_id = at(invited.data, "user_id") if invited.ok else None
        if user_id:
            p.get(f"/orgs/{org}/members")
            p.patch(f"/orgs/{org}/members/{user_id}", json={"role": "emperor"})
        finished = [s for s in objects(ctx.t.get("/simulations").data)
                    if s.get("status") in ("completed", "failed", "cancelled") and isinstance(s.get("id"), str)][:1]
        for simulation in finished:
            p.get(f"/simulations/{simulation['id']}")
            p.post(f"/simulations/{simulation['id']}/cancel")
    p.done()


@_oracle_rule("MX-ERROR-NO-LEAK")
def probe_errors_leak_nothing(ctx: RuleContext) -> None:
    """DOMAIN.md, Envelopes: an error is `{"error": "<human message>", "code": …}`. Ours (strict profile): errors of
    every kind — malformed and invalid bodies, unknown ids and routes, wrong methods, invalid queries, a policy the
    parser cannot read — carry a human message, not the server's insides."""
    p = Probe(ctx)
    project = p.created("/projects", {"name": ctx.name("project")})
    json_header = {"Content-Type": "application/json"}
    p.post("/projects", content=b'{"name": ', headers=json_header)
    p.post("/projects", content=b"\xff\xfe not json", headers=json_header)
    p.post("/projects", json={"name": 5})
    p.post("/projects", json=[{"name": "x"}])
    p.post("/budgets", json={})
    p.post("/routing-configs", json={"projectId": project["id"], "name": ctx.name("rc"), "policy": "single",
                                     "config": {"model": 5}})
    p.post("/routing-configs/dry-run", json={"project_id": project["id"], "policy": "custom_rules", "config": {
        "rules": [{"if": "tags.tier === 'pro' and (", "then": "@nowhere"}]}})
    p.post("/routing-configs/dry-run", json={"project_id": project["id"], "policy": "ab_test", "config": {
        "variants": [{"weight": 1, "config": "@mx-missing"}]}})
    p.get("/logs", params={"limit": "many", "status": "AAA"})
    p.get("/analytics", params={"startTime": "yesterday"})
    p.get(f"/projects/proj_mxunknown{uuid.uuid4().hex[:8]}")
    p.patch(f"/budgets/bud_mxunknown{uuid.uuid4().hex[:8]}", json={"name": "x"})
    p.get(f"/no-such-route-{uuid.uuid4().hex[:6]}")
    p.send("PUT", "/projects", json={"name": "x"})
    p.get("/projects", token="mlx_mgmt_" + "0" * 40)
    p.done()


@_oracle_rule("MX-FOREIGN-LIKE-UNKNOWN")
def probe_foreign_ids_look_unknown(ctx: RuleContext) -> None:
    """DOMAIN.md, Authentication: "Another org's resource is indistinguishable from a missing one (404)." Every
    by-id read is asked for an unknown id; the oracle asks the same of a real id of this organization with the
    other organization's key (`--other-token`) and compares status, envelope and error code."""
    if not ctx.settings.other_token:
        ctx.skip("needs --other-token: a management key of a second organization on the same target")
    p = Probe(ctx)
    world = World(p)
    for path in world.reads():
        p.get(path)
    p.get("/audit-logs", params={"limit": 5})
    p.get("/management-keys")
    ctx.org_id()
    p.get("/audit-logs", params={"limit": 1})  # the org id, from an entry
    templates = UNKNOWN_ID_READS + ["/orgs/{id}/members"]
    for template in dict.fromkeys(templates):
        prefix = template.split("/")[1][:4]
        p.get(template.replace("{id}", f"{prefix}_mxunknown{uuid.uuid4().hex[:8]}"))
    p.done()


@_oracle_rule("MX-MUTATION-PERSISTS")
def probe_mutations_persist(ctx: RuleContext) -> None:
    """Spec: every PATCH and action answers the new state. Each is sent once — updates of every resource, restore,
    reset, alerts, revocations, rotation, test events, delivery replay, and (outside staging) a member's invitation,
    role change and removal, a simulation's cancel and promotion — and the oracle reads each target back."""
    p = Probe(ctx)
    world = World(p)
    project, provider, config, budget = world.projects[0], world.providers[0], world.configs[0], world.budgets[0]
    endpoint = world.endpoints[0]
    p.patch(f"/projects/{project['id']}", json={"name": ctx.name("renamed"), "logging_mode": "metadata"})
    p.patch(f"/providers/{provider['id']}", json={"name": ctx.name("renamed")})
    p.patch(f"/routing-configs/{config['id']}", json={"name": ctx.name("renamed"), "enforce_budgets": True})
    p.patch(f"/routing-configs/{config['id']}", json={"policy": POLICY_B[0], "config": POLICY_B[1]})
    p.post(f"/routing-configs/{config['id']}/restore", json={"version": 1})
    p.patch(f"/budgets/{budget['id']}", json={"amount_usd": "42.50", "soft_cap_pct": 65})
    p.post(f"/budgets/{budget['id']}/reset")
    alert_id = at(p.post(f"/budgets/{budget['id']}/alerts", json={"threshold_pct": 75, "channel": "webhook",
                                                                    "destination": ctx.webhook_url()}).data, "id")
    if alert_id:
        p.delete(f"/budgets/{budget['id']}/alerts", json={"alertId": alert_id})
    p.patch(f"/webhooks/endpoints/{endpoint['id']}", json={"name": ctx.name("renamed"), "active": False})
    p.patch(f"/webhooks/endpoints/{endpoint['id']}", json={"active": True})
    p.post(f"/webhooks/endpoints/{endpoint['id']}/rotate")
    p.post(f"/webhooks/endpoints/{endpoint['id']}/test")
    p.delete(f"/keys/{world.key['id']}")
    key = p.created("/management-keys", {"name": ctx.name("key")})
    p.delete(f"/management-keys/{key['id']}")
    _replay_a_failed_delivery(ctx, p, project["id"])
    if not ctx.settings.staging:
        org = ctx.org_id()
        invited = p.post(f"/orgs/{org}/members", json={"email": f"{ctx.name('member')}@example.com",
                                                       "role": "member"})
        user_id = at(invited.data, "user_id") if invited.ok else None
        if user_id:
            p.patch(f"/orgs/{org}/members/{user_id}", json={"role": "admin"})
            p.delete(f"/orgs/{org}/members/{user_id}")
        _cancel_and_promote(ctx, p)
    p.delete(f"/routing-configs/{world.configs[1]['id']}")
    p.delete(f"/providers/{world.providers[1]['id']}")
    p.delete(f"/budgets/{world.budgets[1]['id']}")
    p.delete(f"/webhooks/endpoints/{world.endpoints[1]['id']}")
    p.delete(f"/projects/{world.projects[1]['id']}")
    p.done()


def _replay_a_failed_delivery(ctx: RuleContext, p: Probe, project_id: str) -> None:
    """A test event to an endpoint at the discard port fails; once it has, it is replayed."""
    hook = p.created("/webhooks/endpoints", {"name": ctx.name("hook"), "url": DISCARD_URL,
                                             "event_types": ["webhook.test"], "project_id": project_id},
                     key="endpoint")
    delivery_id = at(p.post(f"/webhooks/endpoints/{hook['id']}/test").data, "delivery_id")
    if not delivery_id:
        return

    def settled():
        data = ctx.t.get(f"/webhooks/deliveries/{delivery_id}").data
        return data.get("status") if isinstance(data, dict) and data.get("status") != "pending" else None

    if ctx.poll(settled, ctx.timeout(10), interval=0.1) in ("failed", "dead"):
        p.post(f"/webhooks/deliveries/{delivery_id}/replay")


def _cancel_and_promote(ctx: RuleContext, p: Probe) -> None:
    """A simulation is cancelled, another runs to completion and is promoted (simulations cannot be deleted, so
    not in staging runs)."""
    try:
        project_id = project_with_logs(ctx)
    except RuleSkip:  # no project with logs: the rest of the probe still counts
        return
    baseline = ctx.routing_config(project_id, *POLICY_A)
    for _ in range(3):  # a simulation can finish before its cancel arrives (409): then another one
        running = p.created("/simulations", simulation_body(ctx, project_id))
        if p.post(f"/simulations/{running['id']}/cancel").ok:
            break
    promoted = p.created("/simulations", simulation_body(ctx, project_id, baseline_config_id=baseline["id"]))
    if wait_simulation(ctx, promoted["id"]).get("status") == "completed":
        p.post(f"/simulations/{promoted['id']}/promote")
