"""A seeded mock holding one of every resource a writing operation acts on, and one valid request per
writing operation of the spec: shared by the rollback tests and the hostile-input corpus."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fixtures.generator import Generated
from fixtures.loader import dump_world
from mockserver.app import served_spec
from mockserver.clock import iso
from mockserver.engines.webhooks import record_attempt
from mockserver.testing import build_app
from modelux_spec import EVENT_TYPES

TOKEN = "mlx_mgmt_transactions_0123456789"
API = "/api/manage/v1"
COMPILED, _, _ = served_spec()
WRITES = sorted(op.operation_id for (template, method), op in COMPILED.operations.items() if method != "get")


class World:
    """A seeded mock with one of every resource a writing operation acts on, and ids to name them."""

    def __init__(self) -> None:
        self.app, self.services = build_app(TOKEN, start_workers=False)
        self.client = self.app.test_client()
        self.sent: list[str] = []
        self.services.webhooks.sender = lambda url, body, headers, timeout: (self.sent.append(url), (500, "no"))[1]
        org = self.services.org
        self.org_id = org.id
        self.projects = list(org.projects)
        self.config = next(iter(org.routing_configs))
        self.log = next(iter(org.logs))
        post = self.created
        self.provider = post("/providers", {"provider": "openai", "name": "main", "apiKey": "sk-1"})["id"]
        post("/providers", {"provider": "openai", "name": "backup", "apiKey": "sk-2"})
        self.api_key = post("/keys", {"projectId": self.projects[0], "name": "ci"})["id"]
        self.management_key = post("/management-keys", {"name": "second"})["id"]
        self.budget = post("/budgets", {"name": "b", "scope_type": "project", "scope_id": self.projects[0],
                                        "period": "monthly", "amount_usd": "1000.00"})["id"]
        self.alert = post(f"/budgets/{self.budget}/alerts", {"threshold_pct": 90, "channel": "email",
                                                              "destination": "a@example.com"})["id"]
        self.endpoint = post("/webhooks/endpoints", {"name": "all", "url": "http://127.0.0.1:9/hook",
                                                     "event_types": sorted(EVENT_TYPES)})["endpoint"]["id"]
        self.member = post(f"/orgs/{self.org_id}/members", {"email": "new@example.com", "role": "member"})["user_id"]
        self.patch(f"/routing-configs/{self.config}", {"config": {"attempts": [{"model": "gpt-4o", "timeout_ms": 5000}]}})
        now = self.services.world.now()
        window = {"window_start": iso(now - timedelta(days=4)), "window_end": iso(now)}
        sim = {"name": "s", "project_id": self.projects[0], "candidate_policy": "single",
               "candidate_config": {"model": "gpt-4o-mini"}, **window}
        self.done = post("/simulations", sim)["id"]
        self.services.simulations.run_all()
        self.pending = post("/simulations", sim)["id"]
        # a failed delivery to replay; afterwards nothing is due, so a later send is the request's doing
        self.delivery = post(f"/webhooks/endpoints/{self.endpoint}/test", None, status=202)["delivery_id"]
        with self.services.world.lock:
            for delivery in org.webhook_deliveries.values():
                record_attempt(delivery, self.services.webhooks.policy, now, 500, "no")
                delivery.update(status="dead", next_attempt_at=None)

    def call(self, method: str, path: str, body: Any = None):
        kwargs = {} if body is None else {"json": body}
        return self.client.open(API + path, method=method, headers={"Authorization": f"Bearer {TOKEN}"}, **kwargs)

    def created(self, path: str, body: Any, status: int = 201) -> dict:
        response = self.call("POST", path, body)
        assert response.status_code == status, response.get_data(as_text=True)
        return response.json["data"]

    def patch(self, path: str, body: Any) -> None:
        response = self.call("PATCH", path, body)
        assert response.status_code == 200, response.get_data(as_text=True)

    def export(self) -> str:
        """The organization as `modelux-mock export` writes it, plus the world-level maps a request can change.
        A management key's `last_used_at` is left out: authentication marks the key used, before the request's
        transaction, whatever the request then does."""
        services = self.services
        with services.world.lock:
            document = dump_world(Generated(services.world, services.org, services.token, {}))
            for key in document["management_keys"]:
                key.pop("last_used_at")
            document["world"] = {"orgs": list(services.world.orgs), "key_index": dict(services.world._key_index)}
            return json.dumps(document, sort_keys=False)


def requests_of(w: World) -> dict[str, tuple[str, str, Any]]:
    """One valid request per writing operation: (method, path, body)."""
    p0, p1 = w.projects
    now = w.services.world.now()
    return {
        "createBudget": ("POST", "/budgets", {"name": "n", "scope_type": "org", "period": "daily", "amount_usd": "0.01"}),
        "deleteBudget": ("DELETE", f"/budgets/{w.budget}", None),
        "updateBudget": ("PATCH", f"/budgets/{w.budget}", {"amount_usd": "0.01", "name": "renamed"}),
        "deleteBudgetAlert": ("DELETE", f"/budgets/{w.budget}/alerts", {"alertId": w.alert}),
        "createBudgetAlert": ("POST", f"/budgets/{w.budget}/alerts", {"threshold_pct": 1, "channel": "webhook",
                                                                      "destination": "http://127.0.0.1:9/x"}),
        "resetBudgetSpend": ("POST", f"/budgets/{w.budget}/reset", None),
        "createApiKey": ("POST", "/keys", {"projectId": p1, "name": "k"}),
        "revokeApiKey": ("DELETE", f"/keys/{w.api_key}", None),
        "replayLog": ("POST", f"/logs/{w.log}/replay", None),
        "createManagementKey": ("POST", "/management-keys", {"name": "third"}),
        "revokeManagementKey": ("DELETE", f"/management-keys/{w.management_key}", None),
        "deleteOrg": ("DELETE", f"/orgs/{w.org_id}", None),
        "updateOrg": ("PATCH", f"/orgs/{w.org_id}", {"name": "Renamed", "billing_email": "b@example.com"}),
        "inviteMember": ("POST", f"/orgs/{w.org_id}/members", {"email": "other@example.org", "role": "admin"}),
        "removeMember": ("DELETE", f"/orgs/{w.org_id}/members/{w.member}", None),
        "updateMemberRole": ("PATCH", f"/orgs/{w.org_id}/members/{w.member}", {"role": "admin"}),
        "createProject": ("POST", "/projects", {"name": "Support Bot"}),
        "deleteProject": ("DELETE", f"/projects/{p0}", None),
        "updateProject": ("PATCH", f"/projects/{p0}", {"name": "x", "logging_mode": "metadata",
                                                       "semantic_cache": True}),
        "createProvider": ("POST", "/providers", {"provider": "anthropic", "name": "a", "apiKey": "sk-3"}),
        "deleteProvider": ("DELETE", f"/providers/{w.provider}", None),
        "updateProvider": ("PATCH", f"/providers/{w.provider}", {"name": "n", "apiKey": "sk-4"}),
        "createRoutingConfig": ("POST", "/routing-configs", {"projectId": p0, "name": "new", "policy": "single",
                                                             "config": {"model": "gpt-4o"}}),
        "dryRunRoutingConfig": ("POST", "/routing-configs/dry-run", {"project_id": p0, "policy": "single",
                                                                     "config": {"model": "gpt-4o"}}),
        "deleteRoutingConfig": ("DELETE", f"/routing-configs/{w.config}", None),
        "updateRoutingConfig": ("PATCH", f"/routing-configs/{w.config}", {"policy": "single",
                                                                          "config": {"model": "gpt-4o"},
                                                                          "name": "renamed"}),
        "restoreRoutingConfigVersion": ("POST", f"/routing-configs/{w.config}/restore", {"version": 1}),
        "createSimulation": ("POST", "/simulations", {
            "name": "n", "project_id": p1, "candidate_policy": "single", "candidate_config": {"model": "gpt-4o"},
            "window_start": iso(now - timedelta(days=1)), "window_end": iso(now)}),
        "cancelSimulation": ("POST", f"/simulations/{w.pending}/cancel", None),
        "promoteSimulation": ("POST", f"/simulations/{w.done}/promote", None),
        "replayWebhookDelivery": ("POST", f"/webhooks/deliveries/{w.delivery}/replay", None),
        "createWebhookEndpoint": ("POST", "/webhooks/endpoints", {"name": "e", "url": "http://127.0.0.1:9/e",
                                                                  "event_types": ["webhook.test"]}),
        "deleteWebhookEndpoint": ("DELETE", f"/webhooks/endpoints/{w.endpoint}", None),
        "updateWebhookEndpoint": ("PATCH", f"/webhooks/endpoints/{w.endpoint}", {"name": "n", "active": False}),
        "rotateWebhookSecret": ("POST", f"/webhooks/endpoints/{w.endpoint}/rotate", None),
        "testWebhookEndpoint": ("POST", f"/webhooks/endpoints/{w.endpoint}/test", None),
    }
