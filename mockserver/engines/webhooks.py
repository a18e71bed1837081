"""Webhook fan-out and delivery: signed POSTs, retries with exponential backoff, dead letters.

Domain events become one delivery per active, subscribed endpoint (project-scoped endpoints
only hear their project). A dispatcher thread sends due deliveries over real HTTP; the
network call happens outside the world lock. Only loopback hosts (plus any explicitly
allowed) are ever contacted: a mock fed random URLs must not send traffic anywhere else, and
environment proxies are ignored so "loopback" really means a direct loopback connection.

Who emits what (`World.emit`, which calls `WebhookEngine.on_event`):

* `routing_config.created|updated|deleted` — handlers/routing.py (create, PATCH, restore,
  delete) and handlers/simulations.py (promote writes a new version);
* `api_key.revoked` — handlers/keys.py;
* `budget.threshold_reached`, `budget.exceeded` — handlers/budgets.py `evaluate_budget`,
  whenever spend crosses the soft cap, an alert threshold, or the amount;
* `provider.health_changed` — handlers/logs.py: `ingest_logs` when a provider's hourly
  error rate flips it between healthy and unhealthy, and `credential_reverified` when a
  credential's key is replaced;
* `request.anomaly_detected` — handlers/logs.py `ingest_logs`, when a project's hourly error
  rate crosses the anomaly threshold;
* `webhook.test` — POST /webhooks/endpoints/{id}/test (sent whatever the subscription).

A paused endpoint (`active: false`) receives nothing: fan-out skips it and the dispatcher holds
deliveries already queued for it (including tests) until it is active again.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable
from urllib.parse import urlsplit

import jsonschema_rs

from modelux_spec import EVENTS, event_schema

from ..clock import iso, parse_iso
from ..tables import after_commit
from .worker import Worker

log = logging.getLogger("modelux.webhooks")

Resource = dict[str, Any]
RESPONSE_BODY_LIMIT = 2048
# Retention (spec/DECISIONS.md, "Memory"): deliveries kept per organization, the oldest dropped first.
MAX_DELIVERIES = 10_000
SIGNATURE_HEADER = "X-Modelux-Signature"
EVENT_HEADER = "X-Modelux-Event"
DELIVERY_HEADER = "X-Modelux-Delivery"

def sign(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of the raw body, keyed with the endpoint's signing secret."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, body), signature)


def host_allowed(url: str, extra_hosts: tuple[str, ...] = ()) -> bool:
    """Loopback literals and `localhost` only, unless a host is explicitly allowed."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    if host in ("localhost", *[h.lower() for h in extra_hosts]):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def subscribed(endpoint: Resource, event_type: str, project_id: str | None) -> bool:
    if not endpoint["active"] or event_type not in endpoint["event_types"]:
        return False
    return endpoint["project_id"] is None or endpoint["project_id"] == project_id


@dataclass
class DeliveryPolicy:
    max_attempts: int = 5
    backoff_seconds: float = 30.0
    timeout_seconds: float = 5.0
    allow_hosts: tuple[str, ...] = ()

    def retry_delay(self, attempt: int) -> float:
        """Exponential: backoff, 2x backoff, 4x backoff, ... after attempts 1, 2, 3, ..."""
        return self.backoff_seconds * (2 ** (attempt - 1))


def new_delivery(ids, endpoint: Resource, event: Resource, now: datetime) -> Resource:
    body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return {
        "id": ids.new("whdel"),
        "endpoint_id": endpoint["id"],
        "event_type": event["type"],
        "status": "pending",
        "payload": event,
        "response_status": None,
        "response_body": None,
        "attempt_count": 0,
        "next_attempt_at": iso(now),
        "created_at": iso(now),
        "delivered_at": None,
        "_body": body.decode("utf-8"),
    }


@functools.lru_cache(maxsize=None)
def _event_validator(event_type: str) -> Any:
    return jsonschema_rs.Draft202012Validator(event_schema(event_type), validate_formats=True)


def check_event(event: Resource) -> None:
    """A mock bug, raised loudly, unless the event has its type's documented shape (`modelux_spec.EVENTS`)."""
    if event.get("type") not in EVENTS:
        raise ValueError(f"mock bug: unknown webhook event type {event.get('type')!r}")
    problems = [f"{'/'.join(map(str, e.instance_path)) or 'event'}: {e.message}"
                for e in _event_validator(event["type"]).iter_errors(event)]
    if problems:
        raise ValueError(f"mock bug: a {event['type']} event does not have its documented shape: "
                         + "; ".join(problems[:3]))


def new_event(ids, event_type: str, data: dict[str, Any], now: datetime) -> Resource:
    event = {"id": ids.new("evt"), "type": event_type, "created_at": iso(now), "data": data}
    check_event(event)
    return event


def record_attempt(delivery: Resource, policy: DeliveryPolicy, now: datetime, status: int | None,
                   body: str | None) -> None:
    """Apply one attempt's outcome: delivered, failed (retry scheduled) or dead."""
    delivery["attempt_count"] += 1
    delivery["response_status"] = status
    delivery["response_body"] = body[:RESPONSE_BODY_LIMIT] if body is not None else None
    if status is not None and 200 <= status < 300:
        delivery.update(status="delivered", delivered_at=iso(now), next_attempt_at=None)
    elif delivery["attempt_count"] >= policy.max_attempts:
        delivery.update(status="dead", next_attempt_at=None)
    else:
        delay = policy.retry_delay(delivery["attempt_count"])
        delivery.update(status="failed", next_attempt_at=iso(now + timedelta(seconds=delay)))


def replay(delivery: Resource, now: datetime) -> None:
    """Same payload again: attempts reset, pending, due now."""
    delivery.update(status="pending", attempt_count=0, next_attempt_at=iso(now), delivered_at=None)


def is_due(delivery: Resource, now: datetime) -> bool:
    return (delivery["status"] in ("pending", "failed") and delivery["next_attempt_at"] is not None
            and not delivery.get("_inflight") and parse_iso(delivery["next_attempt_at"]) <= now)


def waiting(delivery: Resource) -> bool:
    """Queued for a future attempt (pending or failed with a next attempt)."""
    return delivery["status"] in ("pending", "failed") and delivery["next_attempt_at"] is not None


Sender = Callable[[str, bytes, dict[str, str], float], tuple[int | None, str | None]]


def http_sender(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str | None]:
    """One POST; (status, body) or (None, why it failed). Never via an environment proxy.

    httpx is imported on the first delivery, not at boot: it is a tenth of the mock's import time.
    """
    import httpx

    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout, follow_redirects=False,
                              trust_env=False)
    except httpx.TimeoutException:
        return None, f"timeout after {timeout}s"
    except httpx.HTTPError as exc:
        return None, f"connection error: {type(exc).__name__}: {exc}"
    return response.status_code, response.text


class WebhookEngine:
    """Fan-out on domain events and a dispatcher that sends what is due."""

    def __init__(self, world, policy: DeliveryPolicy, sender: Sender = http_sender):
        self.world = world
        self.policy = policy
        self.sender = sender
        self._worker = Worker("webhook-dispatcher", lambda: 0.25, 0.25)
        world.event_listeners.append(self.on_event)

    # ── fan-out ─────────────────────────────────────────────────────────

    def on_event(self, org, event_type: str, data: dict[str, Any], project_id: str | None) -> list[Resource]:
        now = self.world.now(org)
        targets = [e for e in org.webhook_endpoints.values() if subscribed(e, event_type, project_id)]
        if not targets:
            return []
        event = new_event(self.world.ids, event_type, data, now)
        return [self._add(org, endpoint, event, now) for endpoint in targets]

    def enqueue(self, org, endpoint: Resource, event_type: str, data: dict[str, Any]) -> Resource:
        now = self.world.now(org)
        return self._add(org, endpoint, new_event(self.world.ids, event_type, data, now), now)

    def _add(self, org, endpoint: Resource, event: Resource, now: datetime) -> Resource:
        delivery = new_delivery(self.world.ids, endpoint, event, now)
        org.webhook_deliveries[delivery["id"]] = delivery
        org.webhook_deliveries.keep_latest(MAX_DELIVERIES)
        self.wake()
        return delivery

    def replay(self, delivery: Resource) -> None:
        replay(delivery, self.world.now())
        self.wake()

    # ── delivery ────────────────────────────────────────────────────────

    def deliver_due(self) -> int:
        """Attempt every due delivery once; returns how many were attempted.

        Attempts run concurrently (a slow receiver only delays itself, bounded by the
        per-attempt timeout), outside the world lock; each outcome is recorded under it.
        """
        with self.world.lock:
            batch = []
            for org in self.world.orgs.values():
                now = self.world.now(org)  # each organization's own clock decides what is due
                for delivery in org.webhook_deliveries.values():
                    endpoint = org.webhook_endpoints.get(delivery["endpoint_id"])
                    if endpoint is not None and endpoint["active"] and is_due(delivery, now):
                        delivery["_inflight"] = True
                        # The secret is read now: an attempt is signed with the current secret.
                        batch.append((org.id, delivery, endpoint["url"], endpoint["_secret"]))
        if not batch:
            return 0

        def attempt(item: tuple[str, Resource, str, str]) -> None:
            org_id, delivery, url, secret = item
            try:
                status, text = self._send(delivery, url, secret)
            except Exception as exc:  # a broken sender is a failed attempt, not a stuck delivery
                log.exception("webhook delivery %s failed unexpectedly", delivery["id"])
                status, text = None, f"delivery error: {type(exc).__name__}: {exc}"
            with self.world.lock:
                delivery.pop("_inflight", None)
                record_attempt(delivery, self.policy, self.world.now(org_id), status, text)

        if len(batch) == 1:
            attempt(batch[0])
        else:
            with ThreadPoolExecutor(max_workers=min(8, len(batch)), thread_name_prefix="webhook-send") as pool:
                list(pool.map(attempt, batch))
        return len(batch)

    def seconds_until_due(self) -> float | None:
        """Clock seconds until the next queued attempt (0 if one is due), None if nothing waits."""
        with self.world.lock:
            waits = [(parse_iso(d["next_attempt_at"]) - self.world.now(org)).total_seconds()
                     for org in self.world.orgs.values() for d in org.webhook_deliveries.values()
                     if waiting(d) and not d.get("_inflight")
                     and (org.webhook_endpoints.get(d["endpoint_id"]) or {}).get("active")]
        if not waits:
            return None
        return max(0.0, min(waits))

    def _send(self, delivery: Resource, url: str, secret: str) -> tuple[int | None, str | None]:
        if not host_allowed(url, self.policy.allow_hosts):
            return None, "not sent: the mock only delivers to loopback hosts (see --webhook-allow-host)"
        body = delivery["_body"].encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "modelux-mock-webhooks/1",
            SIGNATURE_HEADER: sign(secret, body),
            EVENT_HEADER: delivery["event_type"],
            DELIVERY_HEADER: delivery["id"],
        }
        return self.sender(url, body, headers, self.policy.timeout_seconds)

    # ── background loop ─────────────────────────────────────────────────

    def wake(self) -> None:
        """Look at the queue now (an endpoint was re-activated, a delivery queued or replayed); inside a
        request, once its changes are committed."""
        after_commit(lambda: self._worker.wake())

    def start(self, poll_seconds: float = 0.25) -> None:
        """Run the dispatcher: sleeps until the next attempt is due (at most `poll_seconds`)."""

        def tick() -> float:
            self.deliver_due()
            due_in = self.seconds_until_due()
            return poll_seconds if due_in is None else min(poll_seconds, due_in)

        self._worker = Worker("webhook-dispatcher", tick, poll_seconds)
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()
