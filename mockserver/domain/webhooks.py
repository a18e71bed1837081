"""Webhook endpoints (signing secret once, rotate, test) and their deliveries (replay).

Sending is the engine's job (engines/webhooks.py); these workflows queue, list and re-queue
through the runtime. A paused endpoint keeps its queue: re-activating it wakes the dispatcher.
"""

from __future__ import annotations

from typing import Any

from modelux_spec import EVENTS

from ..errors import Conflict
from .context import Context
from .world import OrgState, Resource, World, public


def new_endpoint(org: OrgState, world: World, name: str, url: str, event_types: list[str], project_id: str | None,
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


def event_types() -> list[dict[str, str]]:
    return [{"type": name, "description": event.description} for name, event in EVENTS.items()]


def list_endpoints(ctx: Context, project_id: str | None = None) -> list[Resource]:
    """All endpoints; `project_id` "null" means the org-wide ones only (spec)."""
    endpoints = ctx.org.webhook_endpoints.values()
    if project_id is None:
        found = list(endpoints)
    elif project_id == "null":
        found = [e for e in endpoints if e["project_id"] is None]
    else:
        found = [e for e in endpoints if e["project_id"] == project_id]
    return [public(e) for e in found]


def create_endpoint(ctx: Context, name: str, url: str, event_types: list[str], project_id: str | None) -> dict:
    """The endpoint and its signing secret: the only time the secret is shown."""
    if project_id is not None:
        ctx.org.project(project_id)
    endpoint, secret = new_endpoint(ctx.org, ctx.world, name, url, event_types, project_id)
    ctx.audit("webhook_endpoint", endpoint["id"], "created",
              {"url": {"before": None, "after": endpoint["url"]},
               "event_types": {"before": None, "after": endpoint["event_types"]}},
              metadata={"project_id": project_id})
    return {"endpoint": public(endpoint), "signingSecret": secret}


def get_endpoint(ctx: Context, endpoint_id: str) -> Resource:
    return public(ctx.org.get("webhook_endpoints", endpoint_id))


def update_endpoint(ctx: Context, endpoint_id: str, body: dict[str, Any], metadata: dict[str, Any] | None = None) -> Resource:
    """Name, url, event types, active; `metadata` (why, for the audit entry) is kept with the change."""
    endpoint = ctx.org.get("webhook_endpoints", endpoint_id)
    changes = {}
    for field in ("name", "url", "event_types", "active"):
        if field in body and body[field] != endpoint[field]:
            changes[field] = {"before": endpoint[field], "after": body[field]}
            endpoint[field] = body[field]
    if changes:
        ctx.audit("webhook_endpoint", endpoint["id"], "updated", changes, metadata)
        if endpoint["active"]:
            ctx.runtime.wake_webhooks()
    return public(endpoint)


def delete_endpoint(ctx: Context, endpoint_id: str) -> str:
    org = ctx.org
    endpoint = org.get("webhook_endpoints", endpoint_id)
    del org.webhook_endpoints[endpoint["id"]]
    for ident in [k for k, d in org.webhook_deliveries.items() if d["endpoint_id"] == endpoint["id"]]:
        del org.webhook_deliveries[ident]
    ctx.audit("webhook_endpoint", endpoint["id"], "deleted", metadata={"url": endpoint["url"]})
    return endpoint["id"]


def rotate_secret(ctx: Context, endpoint_id: str) -> dict[str, str]:
    """A new signing secret, shown once; the old one stops signing at once (spec)."""
    endpoint = ctx.org.get("webhook_endpoints", endpoint_id)
    endpoint["_secret"] = ctx.world.ids.secret("whsec_", 32)
    ctx.audit("webhook_endpoint", endpoint["id"], "rotated", {"signing_secret": True})
    return {"signing_secret": endpoint["_secret"]}


def test_endpoint(ctx: Context, endpoint_id: str) -> dict[str, Any]:
    """Queue a synthetic `webhook.test` event for this endpoint alone."""
    endpoint = ctx.org.get("webhook_endpoints", endpoint_id)
    data = {"synthetic": True, "endpoint_id": endpoint["id"], "message": "Test event from Modelux"}
    delivery = ctx.runtime.enqueue_webhook(ctx.org, endpoint, "webhook.test", data)
    ctx.audit("webhook_endpoint", endpoint["id"], "tested",
              metadata={"delivery_id": delivery["id"], "event_id": delivery["payload"]["id"]})
    return {"delivery_id": delivery["id"], "event_id": delivery["payload"]["id"], "event_type": "webhook.test",
            "status": delivery["status"]}


def list_deliveries(ctx: Context, endpoint_id: str) -> list[Resource]:
    endpoint = ctx.org.get("webhook_endpoints", endpoint_id)
    found = [d for d in ctx.org.webhook_deliveries.values() if d["endpoint_id"] == endpoint["id"]]
    # Newest first; within one millisecond the later-queued first (stable sort of the reversed insertion order).
    found = sorted(reversed(found), key=lambda d: d["created_at"], reverse=True)
    return [public(d) for d in found]


def get_delivery(ctx: Context, delivery_id: str) -> Resource:
    return public(ctx.org.get("webhook_deliveries", delivery_id))


def replay_delivery(ctx: Context, delivery_id: str) -> Resource:
    delivery = ctx.org.get("webhook_deliveries", delivery_id)
    if delivery["status"] not in ("failed", "dead"):
        raise Conflict(f"only failed or dead deliveries can be replayed; this one is {delivery['status']}",
                       code="not_replayable")
    if delivery.get("_inflight"):
        raise Conflict("an attempt of this delivery is in progress; replay it once that attempt is recorded",
                       code="not_replayable")
    ctx.runtime.replay_delivery(delivery)
    ctx.audit("webhook_delivery", delivery["id"], "replayed", metadata={"endpoint_id": delivery["endpoint_id"]})
    return public(delivery)
