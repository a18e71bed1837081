"""Webhook endpoints (signing secret once, rotate, test) and their deliveries (replay).

Sending is the engine's job (engines/webhooks.py); these handlers only queue, list and
re-queue. A paused endpoint keeps its queue: re-activating it wakes the dispatcher.
"""

from __future__ import annotations

from ..engines.webhooks import EVENT_TYPE_DESCRIPTIONS
from ..errors import Conflict
from ..registry import Call, Reply, created, deleted, ok, operation
from ..store import OrgState, Resource, public


def new_endpoint(org: OrgState, world, name: str, url: str, event_types: list[str], project_id: str | None,
                 created_at: str | None = None, active: bool = True) -> tuple[Resource, str]:
    secret = world.ids.secret("whsec_", 32)
    endpoint = {
        "id": world.new_id("whep"),
        "name": name,
        "url": url,
        "project_id": project_id,
        "event_types": list(event_types),
        "active": active,
        "created_at": created_at or world.now_iso(),
        "_secret": secret,
    }
    org.webhook_endpoints[endpoint["id"]] = endpoint
    return endpoint, secret


@operation("listWebhookEventTypes")
def list_event_types(call: Call) -> Reply:
    return ok([{"type": t, "description": d} for t, d in EVENT_TYPE_DESCRIPTIONS.items()])


@operation("listWebhookEndpoints")
def list_endpoints(call: Call) -> Reply:
    wanted = call.query.get("projectId")
    if wanted is None:
        found = list(call.org.webhook_endpoints.values())
    elif wanted == "null":
        found = [e for e in call.org.webhook_endpoints.values() if e["project_id"] is None]
    else:
        found = [e for e in call.org.webhook_endpoints.values() if e["project_id"] == wanted]
    return ok([public(e) for e in found])


@operation("createWebhookEndpoint")
def create_endpoint(call: Call) -> Reply:
    body = call.body
    project_id = body.get("project_id")
    if project_id is not None:
        call.org.project(project_id)
    endpoint, secret = new_endpoint(call.org, call.world, body["name"], body["url"], body["event_types"], project_id)
    call.world.audit(call.org, call.actor, "webhook_endpoint", endpoint["id"], "created",
                     {"url": {"before": None, "after": endpoint["url"]},
                      "event_types": {"before": None, "after": endpoint["event_types"]}},
                     metadata={"project_id": project_id})
    return created({"endpoint": public(endpoint), "signingSecret": secret})


@operation("getWebhookEndpoint")
def get_endpoint(call: Call) -> Reply:
    return ok(public(call.org.get("webhook_endpoints", call.path["id"])))


@operation("updateWebhookEndpoint")
def update_endpoint(call: Call) -> Reply:
    endpoint = call.org.get("webhook_endpoints", call.path["id"])
    changes = {}
    for field in ("name", "url", "event_types", "active"):
        if field in call.body and call.body[field] != endpoint[field]:
            changes[field] = {"before": endpoint[field], "after": call.body[field]}
            endpoint[field] = call.body[field]
    if changes:
        call.world.audit(call.org, call.actor, "webhook_endpoint", endpoint["id"], "updated", changes)
        if endpoint["active"]:
            call.services.webhooks.wake()
    return ok(public(endpoint))


@operation("deleteWebhookEndpoint")
def delete_endpoint(call: Call) -> Reply:
    org = call.org
    endpoint = org.get("webhook_endpoints", call.path["id"])
    del org.webhook_endpoints[endpoint["id"]]
    for ident in [k for k, d in org.webhook_deliveries.items() if d["endpoint_id"] == endpoint["id"]]:
        del org.webhook_deliveries[ident]
    call.world.audit(org, call.actor, "webhook_endpoint", endpoint["id"], "deleted", metadata={"url": endpoint["url"]})
    return deleted(endpoint["id"])


@operation("rotateWebhookSecret")
def rotate_secret(call: Call) -> Reply:
    endpoint = call.org.get("webhook_endpoints", call.path["id"])
    endpoint["_secret"] = call.world.ids.secret("whsec_", 32)
    call.world.audit(call.org, call.actor, "webhook_endpoint", endpoint["id"], "rotated", {"signing_secret": True})
    return ok({"signing_secret": endpoint["_secret"]})


@operation("testWebhookEndpoint")
def test_endpoint(call: Call) -> Reply:
    endpoint = call.org.get("webhook_endpoints", call.path["id"])
    data = {"synthetic": True, "endpoint_id": endpoint["id"], "message": "Test event from Modelux"}
    delivery = call.services.webhooks.enqueue(call.org, endpoint, "webhook.test", data)
    call.world.audit(call.org, call.actor, "webhook_endpoint", endpoint["id"], "tested",
                     metadata={"delivery_id": delivery["id"], "event_id": delivery["payload"]["id"]})
    return 202, {"data": {"delivery_id": delivery["id"], "event_id": delivery["payload"]["id"],
                          "event_type": "webhook.test", "status": delivery["status"]}}


@operation("listWebhookDeliveries")
def list_deliveries(call: Call) -> Reply:
    endpoint = call.org.get("webhook_endpoints", call.path["id"])
    found = [d for d in call.org.webhook_deliveries.values() if d["endpoint_id"] == endpoint["id"]]
    # Newest first; within one millisecond the later-queued first (stable sort of the reversed insertion order).
    found = sorted(reversed(found), key=lambda d: d["created_at"], reverse=True)
    return ok([public(d) for d in found])


@operation("getWebhookDelivery")
def get_delivery(call: Call) -> Reply:
    return ok(public(call.org.get("webhook_deliveries", call.path["id"])))


@operation("replayWebhookDelivery")
def replay_delivery(call: Call) -> Reply:
    delivery = call.org.get("webhook_deliveries", call.path["id"])
    if delivery["status"] not in ("failed", "dead"):
        raise Conflict(f"only failed or dead deliveries can be replayed; this one is {delivery['status']}",
                       code="not_replayable")
    if delivery.get("_inflight"):
        raise Conflict("an attempt of this delivery is in progress; replay it once that attempt is recorded",
                       code="not_replayable")
    call.services.webhooks.replay(delivery)
    call.world.audit(call.org, call.actor, "webhook_delivery", delivery["id"], "replayed",
                     metadata={"endpoint_id": delivery["endpoint_id"]})
    return ok(public(delivery))
