"""Webhook endpoints and their deliveries."""

from __future__ import annotations

from ..domain import webhooks
from ..registry import Call, Reply, created, deleted, ok, operation


@operation("listWebhookEventTypes")
def list_event_types(call: Call) -> Reply:
    return ok(webhooks.event_types())


@operation("listWebhookEndpoints")
def list_endpoints(call: Call) -> Reply:
    return ok(webhooks.list_endpoints(call.ctx, call.query.get("projectId")))


@operation("createWebhookEndpoint")
def create_endpoint(call: Call) -> Reply:
    body = call.body
    return created(webhooks.create_endpoint(call.ctx, body["name"], body["url"], body["event_types"],
                                            body.get("project_id")))


@operation("getWebhookEndpoint")
def get_endpoint(call: Call) -> Reply:
    return ok(webhooks.get_endpoint(call.ctx, call.path["id"]))


@operation("updateWebhookEndpoint")
def update_endpoint(call: Call) -> Reply:
    return ok(webhooks.update_endpoint(call.ctx, call.path["id"], call.body))


@operation("deleteWebhookEndpoint")
def delete_endpoint(call: Call) -> Reply:
    return deleted(webhooks.delete_endpoint(call.ctx, call.path["id"]))


@operation("rotateWebhookSecret")
def rotate_secret(call: Call) -> Reply:
    return ok(webhooks.rotate_secret(call.ctx, call.path["id"]))


@operation("testWebhookEndpoint")
def test_endpoint(call: Call) -> Reply:
    return 202, {"data": webhooks.test_endpoint(call.ctx, call.path["id"])}


@operation("listWebhookDeliveries")
def list_deliveries(call: Call) -> Reply:
    return ok(webhooks.list_deliveries(call.ctx, call.path["id"]))


@operation("getWebhookDelivery")
def get_delivery(call: Call) -> Reply:
    return ok(webhooks.get_delivery(call.ctx, call.path["id"]))


@operation("replayWebhookDelivery")
def replay_delivery(call: Call) -> Reply:
    return ok(webhooks.replay_delivery(call.ctx, call.path["id"]))
