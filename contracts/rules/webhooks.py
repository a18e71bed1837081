"""Webhooks end to end, through the suite's receiver: test events, signatures, rotation, retries, replay, deletion."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Callable

from ..polling import poll
from ..target import dumps
from .common import channel_hook
from .context import RuleContext, at
from .core import rule


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _signed_with(signature: str | None, secret: str, body: bytes) -> bool:
    """Whether `signature` (an `X-Modelux-Signature` header) is the hex HMAC-SHA256 of `body` keyed with `secret`."""
    return hmac.compare_digest((signature or "").lower().encode(), sign(secret, body).encode())


def _hook(ctx: RuleContext, label: str) -> tuple[dict[str, Any], str, Any]:
    """A new project's endpoint subscribed to test events only: (endpoint, signing secret, channel)."""
    if ctx.receiver is None:
        ctx.skip("no webhook receiver in this run")
    return channel_hook(ctx, ctx.project()["id"], label, "webhook.test")


def _send_test(ctx: RuleContext, endpoint_id: str) -> dict[str, Any]:
    reply = ctx.t.post(f"/webhooks/endpoints/{endpoint_id}/test")
    return ctx.data_object(reply, 202, what="POST /webhooks/endpoints/{id}/test")


def _await(ctx: RuleContext, channel, count: int, timeout: float, give_up: Callable[[], str | None] | None = None,
           ) -> list:
    """Wait for `count` deliveries on the channel; `give_up()` may end the wait early with a reason to fail."""
    unreachable = getattr(ctx.receiver, "unreachable", None)
    if unreachable and not channel.snapshot():
        ctx.skip(unreachable)

    def arrived() -> list | None:
        got = channel.snapshot()
        if len(got) >= count:
            return got
        reason = give_up() if give_up is not None else None
        if reason:
            ctx.fail(reason)
        return None

    # Asks again each second (for `give_up`), or at once when a delivery arrives.
    got = poll(arrived, timeout=timeout, interval=1.0, pause=lambda seconds: channel.wait_count(count, seconds))
    if got is None:
        have = len(channel.snapshot())
        message = (f"the receiver at {channel.url} got {have} of {count} expected deliveries within {timeout:.0f}s")
        if ctx.remote and have == 0:
            ctx.receiver.unreachable = (message + " — the target cannot reach the receiver (set --webhook-host to "
                                                  "an address it can reach)")
            ctx.skip(ctx.receiver.unreachable)
        ctx.fail(message)
    return got


def _deliveries(ctx: RuleContext, endpoint_id: str) -> list[dict[str, Any]]:
    return ctx.data_list(ctx.t.get(f"/webhooks/endpoints/{endpoint_id}/deliveries"), 200, what="GET …/deliveries")


def _delivery_id(ctx: RuleContext, answer: dict[str, Any], endpoint_id: str) -> Any:
    """The delivery a test event made: named by the `test` answer, else the newest of the endpoint's."""
    return answer.get("delivery_id") or at(_deliveries(ctx, endpoint_id), 0, "id")


def _wait_delivery(ctx: RuleContext, delivery_id: str, statuses: tuple[str, ...], timeout: float) -> dict | None:
    def probe() -> dict | None:
        data = ctx.t.get(f"/webhooks/deliveries/{delivery_id}").data
        return data if isinstance(data, dict) and data.get("status") in statuses else None

    return ctx.poll(probe, timeout, interval=0.1)


@rule("MX-WEBHOOK-TEST-EVENT", source="spec", title="`test` answers 202 and delivers a synthetic `webhook.test` event",
      ref="Webhooks: `test` → 202; enqueues a `webhook.test` event with `data.synthetic = true`, same envelope and "
          "signature as real events (spec). Delivery: `POST` of a JSON envelope `{id, type, created_at, data}`.",
      needs=("receiver",))
def test_event_delivered(ctx: RuleContext) -> None:
    """DOMAIN.md, Webhooks: "`test` → 202; enqueues a `webhook.test` event with `data.synthetic = true`, same envelope
    and signature as real events (spec)." and "Delivery is real HTTP: `POST` of a JSON envelope `{id, type,
    created_at, data}`"; "2xx → `delivered`"."""
    endpoint, _, channel = _hook(ctx, "test")
    answer = _send_test(ctx, endpoint["id"])
    got = _await(ctx, channel, 1, ctx.timeout(10))
    try:
        event = json.loads(got[0].body)
    except ValueError:
        ctx.fail(f"the delivery body is not JSON: {got[0].body[:200]!r}")
    ctx.check(isinstance(event, dict) and {"id", "type", "created_at", "data"} <= set(event),
              f"the delivery is not the envelope {{id, type, created_at, data}}: {dumps(event)}")
    ctx.check(event["type"] == "webhook.test", f"the test event has type {event['type']!r}")
    ctx.check(isinstance(event["data"], dict) and event["data"].get("synthetic") is True,
              f"the test event lacks data.synthetic = true: {dumps(event['data'])}")
    delivery_id = _delivery_id(ctx, answer, endpoint["id"])
    ctx.check(delivery_id, "no delivery is recorded for the test event")
    record = _wait_delivery(ctx, delivery_id, ("delivered",), ctx.timeout(10))
    ctx.check(record, f"the delivery {delivery_id} never shows `delivered` though the receiver answered 200")
    ctx.check(record.get("response_status") == 200 and (record.get("attempt_count") or 0) >= 1,
              f"delivered record: response_status {record.get('response_status')!r}, "
              f"attempt_count {record.get('attempt_count')!r}")


@rule("MX-WEBHOOK-SIGNATURE", source="docs", title="Deliveries carry `X-Modelux-Signature` = hex HMAC-SHA256 of the body",
      ref="Webhooks: `X-Modelux-Signature: <hex HMAC-SHA256 of the raw body, keyed with the signing secret>` (docs).",
      needs=("receiver",))
def deliveries_are_signed(ctx: RuleContext) -> None:
    """DOMAIN.md, Webhooks: "`X-Modelux-Signature: <hex HMAC-SHA256 of the raw body, keyed with the signing
    secret>` (docs).\""""
    endpoint, secret, channel = _hook(ctx, "sig")
    _send_test(ctx, endpoint["id"])
    got = _await(ctx, channel, 1, ctx.timeout(10))
    signature = got[0].header("X-Modelux-Signature")
    ctx.check(signature, "the delivery has no X-Modelux-Signature header")
    ctx.check(_signed_with(signature, secret, got[0].body),
              "X-Modelux-Signature is not the hex HMAC-SHA256 of the raw body keyed with the endpoint's signing "
              f"secret (got {signature[:16]}…)")


@rule("MX-WEBHOOK-ROTATE", source="spec", title="After rotation deliveries are signed with the new secret only",
      ref="Once-only secrets: `rotate` → new `signing_secret` once; the old one stops signing immediately (the spec; "
          "docs mention a 24 h overlap — spec wins).", needs=("receiver",))
def rotation_switches_signing_secret(ctx: RuleContext) -> None:
    """DOMAIN.md, Once-only secrets: "`rotate` → new `signing_secret` once; the old one stops signing immediately
    (the spec; docs mention a 24 h overlap — spec wins)." Spec, rotate: "The old secret stops working
    immediately.\""""
    endpoint, old, channel = _hook(ctx, "rot")
    rotated = ctx.data_object(ctx.t.post(f"/webhooks/endpoints/{endpoint['id']}/rotate"), 200, what="POST …/rotate")
    new = rotated.get("signing_secret")
    ctx.check(isinstance(new, str) and new and new != old, f"rotation answered {dumps(rotated)}")
    _send_test(ctx, endpoint["id"])
    got = _await(ctx, channel, 1, ctx.timeout(10))
    signature = got[0].header("X-Modelux-Signature")
    ctx.check(not _signed_with(signature, old, got[0].body),
              "after rotation the delivery is still signed with the old secret")
    ctx.check(_signed_with(signature, new, got[0].body),
              "after rotation the delivery is not signed with the new secret")


@rule("MX-WEBHOOK-RETRY", source="spec", title="A failed delivery is retried (same payload) until it succeeds",
      ref="Webhooks: 2xx → `delivered`; non-2xx, timeout or connection error → retried with exponential backoff; "
          "after the last attempt → `dead`. Record `response_status`, `attempt_count`, `next_attempt_at`.",
      needs=("receiver",))
def failed_delivery_retried(ctx: RuleContext) -> None:
    """DOMAIN.md, Webhooks: "2xx → `delivered`; non-2xx, timeout or connection error → retried with exponential
    backoff; after the last attempt → `dead` (spec enum). Record `response_status`, `response_body` (truncated),
    `attempt_count`, `next_attempt_at`.\""""
    endpoint, _, channel = _hook(ctx, "retry")
    channel.fail_next(1, 500)
    answer = _send_test(ctx, endpoint["id"])
    delivery_id = _delivery_id(ctx, answer, endpoint["id"])

    def dead_without_retry() -> str | None:
        record = ctx.t.get(f"/webhooks/deliveries/{delivery_id}").data if delivery_id else None
        if isinstance(record, dict) and record.get("status") in ("dead", "delivered") and len(channel.snapshot()) < 2:
            return (f"after one failed attempt the delivery is `{record.get('status')}` "
                    f"(attempt_count {record.get('attempt_count')!r}) and was never retried")
        return None

    got = _await(ctx, channel, 2, ctx.timeout(20), give_up=dead_without_retry)
    ctx.check(got[0].body == got[1].body, "the retry does not carry the same payload as the first attempt")
    record = _wait_delivery(ctx, delivery_id, ("delivered",), ctx.timeout(10))
    ctx.check(record, "after a failed first attempt and a successful retry the delivery is not `delivered`")
    ctx.check((record.get("attempt_count") or 0) >= 2 and record.get("response_status") == 200,
              f"after one failure and one success: attempt_count {record.get('attempt_count')!r}, "
              f"response_status {record.get('response_status')!r}")


@rule("MX-WEBHOOK-REPLAY", source="spec", title="Replaying a failed delivery resets it and re-sends the same payload",
      ref="Webhooks: `replay` of a failed/dead delivery → attempt count reset to 0, status `pending`, "
          "`next_attempt_at` = now, same payload re-sent (spec + docs).", needs=("receiver",))
def replay_resends_same_payload(ctx: RuleContext) -> None:
    """DOMAIN.md, Webhooks: "`replay` of a failed/dead delivery → attempt count reset to 0, status `pending`,
    `next_attempt_at` = now, same payload re-sent (spec + docs)." Spec: "Resets the attempt count and schedules the
    next attempt immediately.\""""
    endpoint, _, channel = _hook(ctx, "replay")
    channel.fail_next(1000, 500)
    answer = _send_test(ctx, endpoint["id"])
    first = _await(ctx, channel, 1, ctx.timeout(10))
    delivery_id = _delivery_id(ctx, answer, endpoint["id"])
    failed = _wait_delivery(ctx, delivery_id, ("failed", "dead"), ctx.timeout(10))
    ctx.check(failed, f"delivery {delivery_id} never shows `failed` or `dead` after the receiver answered 500")
    ctx.check(failed.get("response_status") == 500, f"a failed delivery records response_status "
                                                    f"{failed.get('response_status')!r}; the receiver answered 500")
    channel.accept_all()
    seen = len(channel.snapshot())
    replayed = ctx.data_object(ctx.t.post(f"/webhooks/deliveries/{delivery_id}/replay"), 200, what="POST …/replay")
    ctx.check(replayed.get("status") == "pending" and replayed.get("attempt_count") == 0,
              f"replay answered status {replayed.get('status')!r}, attempt_count {replayed.get('attempt_count')!r}; "
              "expected pending and 0")
    got = _await(ctx, channel, seen + 1, ctx.timeout(10))
    ctx.check(got[seen].body == first[0].body, "the replay does not re-send the same payload")
    record = _wait_delivery(ctx, delivery_id, ("delivered",), ctx.timeout(10))
    ctx.check(record, "the replayed delivery never shows `delivered` though the receiver accepted it")


@rule("MX-WEBHOOK-DELETE-STOPS", source="docs", title="A deleted endpoint receives no further events",
      ref="Webhooks: Only active endpoints receive events; deleting an endpoint stops new deliveries.",
      needs=("receiver",))
def deleted_endpoint_gets_nothing(ctx: RuleContext) -> None:
    """DOMAIN.md, Webhooks: "Only active endpoints receive events; deleting an endpoint stops new deliveries."

    Two endpoints of one project subscribe to `routing_config.created`. A first config reaches both (so the
    event really flows to them); then one endpoint is deleted and a second config is created. Once the other
    endpoint has that second event, and for as long again as that delivery took, the deleted one must have
    received nothing more.
    """
    if ctx.receiver is None:
        ctx.skip("no webhook receiver in this run")
    project = ctx.project()
    doomed, _, doomed_channel = channel_hook(ctx, project["id"], "deleted", "routing_config.created")
    doomed_id = doomed["id"]
    _, _, control = channel_hook(ctx, project["id"], "control", "routing_config.created")
    ctx.routing_config(project["id"])
    _await(ctx, control, 1, ctx.timeout(10))
    _await(ctx, doomed_channel, 1, ctx.timeout(10))
    ctx.expect(ctx.t.delete(f"/webhooks/endpoints/{doomed_id}"), 200, 204,
               what="DELETE /webhooks/endpoints/{id}")
    started = time.monotonic()
    second = ctx.routing_config(project["id"])
    _await(ctx, control, 2, ctx.timeout(10))
    took = time.monotonic() - started
    # As long again as the live endpoint needed (at least half a second): a late delivery to the deleted one
    # would arrive in that time. The wait ends at once if one does.
    late = doomed_channel.wait_count(2, max(0.5, took))
    ctx.check(late is None, f"the deleted endpoint {doomed_id} still received an event after its deletion "
                            f"(routing config {second.get('id')!r} was created afterwards): "
                            f"{late[-1].body[:200]!r}" if late else "")
