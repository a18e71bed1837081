"""Webhooks: fan-out of domain events, signed real-HTTP delivery on loopback, retries with
exponential backoff, dead letters, replay, rotation, and the event-type registry.

Live tests run the mock with its dispatcher on a loopback port and the contract suite's receiver
(`contracts.receiver`) on another; they wait with deadlines (`contracts.polling.poll`), never
fixed sleeps. Timing-exact behaviour (backoff doubling, paused/deleted endpoints) is unit-tested
with a ManualClock and a fake sender, so nothing depends on scheduler luck.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from mockserver.app import create_app
from mockserver.clock import ManualClock, parse_iso
from mockserver.engines import webhooks as engine
from mockserver.engines.webhooks import DeliveryPolicy, WebhookEngine
from modelux_spec import EVENT_TYPES
from mockserver.domain.logs import ingest_logs
from mockserver.ids import IdFactory
from mockserver.services import MockConfig, Services, bootstrap_org
from mockserver.domain.world import World
from mockserver.testing import serve_in_thread
from contracts.polling import poll
from contracts.receiver import Receiver

from .conftest import API, TOKEN

START = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)


def hmac_hex(secret: str, body: bytes) -> str:
    """Computed here, independently of the engine's `sign`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Poll `predicate` until it returns something truthy, or fail at the deadline."""
    value = poll(predicate, timeout=timeout, interval=interval)
    if not value:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")
    return value


def arrived(channel, count: int, timeout: float = 10.0) -> list:
    """The channel's deliveries once it has `count` of them, or fail at the deadline."""
    got = channel.wait_count(count, timeout)
    if got is None:
        raise AssertionError(f"receiver saw {len(channel.snapshot())} requests, expected {count} within {timeout}s")
    return got


@pytest.fixture
def receiver():
    """The contract suite's webhook receiver on loopback (one channel per path the test asks for)."""
    with Receiver() as started:
        yield started


class Live:
    def __init__(self, url: str, services: Services):
        self.services = services
        self.http = httpx.Client(base_url=url + API, headers={"Authorization": f"Bearer {TOKEN}"},
                                 trust_env=False, timeout=10)

    def __getattr__(self, name):
        return getattr(self.http, name)

    def ok(self, method: str, path: str, status: int = 200, **kw) -> dict:
        response = self.http.request(method, path, **kw)
        assert response.status_code == status, response.text
        return response.json()["data"]

    def delivery(self, ident: str) -> dict:
        return self.ok("GET", f"/webhooks/deliveries/{ident}")

    def wait_delivery(self, ident: str, status: str, timeout: float = 10.0) -> dict:
        found = {}

        def reached():
            found.update(self.delivery(ident))
            return found["status"] == status

        wait_until(reached, timeout, what=f"delivery {ident} to be {status} (last: {found})")
        return found


@pytest.fixture
def live():
    """The mock with its background dispatcher, served on loopback; fast retries."""
    config = MockConfig(token=TOKEN, seed=11, start_workers=True, webhook_backoff=0.05, webhook_max_attempts=3,
                        webhook_timeout=2.0)
    services = Services.build(config)
    app = create_app(config, services)
    try:
        with serve_in_thread(app) as url:
            client = Live(url, services)
            yield client
            client.http.close()
    finally:
        services.stop()


def new_endpoint(client, url: str, event_types=("webhook.test",), **extra) -> tuple[dict, str]:
    data = client.ok("POST", "/webhooks/endpoints", 201,
                     json={"name": "hook", "url": url, "event_types": list(event_types), **extra})
    return data["endpoint"], data["signingSecret"]


# ── done-when: signed test event, rotation, retries → dead, replay → delivered ─


def test_test_event_arrives_signed_and_rotation_switches_the_secret(live, receiver):
    hook = receiver.channel("hook").respond(200, b"ok")
    endpoint, secret = new_endpoint(live, hook.url)
    assert secret.startswith("whsec_")

    answer = live.post(f"/webhooks/endpoints/{endpoint['id']}/test")
    assert answer.status_code == 202
    queued = answer.json()["data"]
    first = arrived(hook, 1)[0]

    envelope = json.loads(first.body)
    assert set(envelope) == {"id", "type", "created_at", "data"}
    assert envelope["type"] == "webhook.test" and envelope["data"]["synthetic"] is True
    assert envelope["id"] == queued["event_id"]
    headers = {k.lower(): v for k, v in first.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-modelux-event"] == "webhook.test"
    assert headers["x-modelux-delivery"] == queued["delivery_id"]
    assert hmac.compare_digest(headers["x-modelux-signature"], hmac_hex(secret, first.body))

    done = live.wait_delivery(queued["delivery_id"], "delivered")
    assert done["attempt_count"] == 1 and done["response_status"] == 200 and done["response_body"] == "ok"
    assert done["delivered_at"] is not None and done["next_attempt_at"] is None
    assert done["payload"] == envelope

    rotated = live.ok("POST", f"/webhooks/endpoints/{endpoint['id']}/rotate")
    new_secret = rotated["signing_secret"]
    assert new_secret != secret
    live.ok("POST", f"/webhooks/endpoints/{endpoint['id']}/test", 202)
    second = arrived(hook, 2)[1]
    signature = {k.lower(): v for k, v in second.headers.items()}["x-modelux-signature"]
    assert signature == hmac_hex(new_secret, second.body)
    assert signature != hmac_hex(secret, second.body), "the old secret must stop signing at once"
    # The secret is shown once: no later response carries it.
    for view in (live.get(f"/webhooks/endpoints/{endpoint['id']}").text, live.get("/webhooks/endpoints").text):
        assert secret not in view and new_secret not in view


def test_failing_receiver_sees_every_retry_then_dead_and_replay_delivers(live, receiver):
    hook = receiver.channel("hook").respond(500, b"receiver exploded")
    endpoint, secret = new_endpoint(live, hook.url)
    queued = live.ok("POST", f"/webhooks/endpoints/{endpoint['id']}/test", 202)

    dead = live.wait_delivery(queued["delivery_id"], "dead")
    seen = arrived(hook, 3)
    assert len(seen) == 3, "max_attempts = 3"
    assert dead["attempt_count"] == 3
    assert dead["response_status"] == 500 and dead["response_body"] == "receiver exploded"
    assert dead["next_attempt_at"] is None and dead["delivered_at"] is None
    # Every attempt carries the same body, signature and delivery id.
    assert len({r.body for r in seen}) == 1
    assert {r.headers["X-Modelux-Delivery"] for r in seen} == {queued["delivery_id"]}
    assert all(r.headers["X-Modelux-Signature"] == hmac_hex(secret, r.body) for r in seen)
    # Backoff 0.05 s then 0.1 s: the gaps grow (never earlier than scheduled; ms-precision timestamps).
    gap1, gap2 = seen[1].at - seen[0].at, seen[2].at - seen[1].at
    assert gap1 >= 0.05 - 0.002 and gap2 >= 0.1 - 0.002

    before = datetime.now(timezone.utc)
    replayed = live.ok("POST", f"/webhooks/deliveries/{queued['delivery_id']}/replay")
    assert replayed["status"] == "pending" and replayed["attempt_count"] == 0
    assert parse_iso(replayed["next_attempt_at"]) <= datetime.now(timezone.utc)
    assert parse_iso(replayed["next_attempt_at"]) >= before - timedelta(milliseconds=2)

    hook.respond(200)
    delivered = live.wait_delivery(queued["delivery_id"], "delivered")
    assert delivered["attempt_count"] == 1 and delivered["response_status"] == 200
    assert hook.snapshot()[-1].body == seen[0].body, "a replay re-sends the same payload"
    assert live.post(f"/webhooks/deliveries/{queued['delivery_id']}/replay").status_code == 409
    audit = live.ok("GET", "/audit-logs", params={"resourceId": queued["delivery_id"], "action": "replayed"})
    assert len(audit) == 1


def test_non_loopback_url_is_recorded_as_not_sent(live, receiver):
    # If this were contacted, the attempt would end in a timeout or connection error instead.
    endpoint, _ = new_endpoint(live, "http://10.255.255.1:9/hook")
    queued = live.ok("POST", f"/webhooks/endpoints/{endpoint['id']}/test", 202)
    dead = live.wait_delivery(queued["delivery_id"], "dead")
    assert dead["attempt_count"] == 3 and dead["response_status"] is None
    assert dead["response_body"].startswith("not sent")


def test_fan_out_reaches_active_subscribed_endpoints_only(live, receiver):
    project = live.ok("POST", "/projects", 201, json={"name": "Shop"})
    active_hook, paused_hook, other_hook = (receiver.channel(label) for label in ("active", "paused", "other"))
    active, _ = new_endpoint(live, active_hook.url, ["routing_config.created"])
    paused, _ = new_endpoint(live, paused_hook.url, ["routing_config.created"])
    live.ok("PATCH", f"/webhooks/endpoints/{paused['id']}", json={"active": False})
    other, _ = new_endpoint(live, other_hook.url, ["api_key.revoked"])

    config = live.ok("POST", "/routing-configs", 201,
                     json={"projectId": project["id"], "name": "bot", "policy": "single", "config": {"model": "gpt-4o"}})
    got = json.loads(arrived(active_hook, 1)[0].body)
    assert got["type"] == "routing_config.created" and got["data"]["routing_config_id"] == config["id"]
    assert live.ok("GET", f"/webhooks/endpoints/{paused['id']}/deliveries") == []
    assert live.ok("GET", f"/webhooks/endpoints/{other['id']}/deliveries") == []
    assert paused_hook.snapshot() == [] and other_hook.snapshot() == []


# ── fan-out and dispatch, deterministic: test client, manual dispatch, fake sender ─


class FakeSender:
    def __init__(self, status: int | None = 200):
        self.status = status
        self.calls: list[tuple[str, bytes, dict]] = []

    def __call__(self, url, body, headers, timeout):
        self.calls.append((url, body, headers))
        return (self.status, "fake") if self.status is not None else (None, "connection error: fake")


@pytest.fixture
def fake(services) -> FakeSender:
    sender = FakeSender()
    services.webhooks.sender = sender
    return sender


def deliveries(api, endpoint_id: str) -> list[dict]:
    response = api.get(f"/webhooks/endpoints/{endpoint_id}/deliveries")
    assert response.status_code == 200
    return response.json["data"]


def endpoint_via(api, url: str, event_types, project_id=None) -> dict:
    body = {"name": "hook", "url": url, "event_types": list(event_types)}
    if project_id:
        body["project_id"] = project_id
    response = api.post("/webhooks/endpoints", json=body)
    assert response.status_code == 201, response.json
    return response.json["data"]["endpoint"]


def test_project_scoped_endpoints_only_hear_their_project(api):
    p1 = api.post("/projects", json={"name": "One"}).json["data"]
    p2 = api.post("/projects", json={"name": "Two"}).json["data"]
    org_wide = endpoint_via(api, "http://127.0.0.1:9/org", ["routing_config.created"])
    first = endpoint_via(api, "http://127.0.0.1:9/p1", ["routing_config.created"], p1["id"])
    second = endpoint_via(api, "http://127.0.0.1:9/p2", ["routing_config.created"], p2["id"])

    config = api.post("/routing-configs", json={"projectId": p1["id"], "name": "bot", "policy": "single",
                                                "config": {"model": "gpt-4o"}}).json["data"]
    assert [d["payload"]["data"]["routing_config_id"] for d in deliveries(api, org_wide["id"])] == [config["id"]]
    assert [d["event_type"] for d in deliveries(api, first["id"])] == ["routing_config.created"]
    assert deliveries(api, second["id"]) == []
    # One event, one id, whichever endpoint it went to.
    assert deliveries(api, org_wide["id"])[0]["payload"]["id"] == deliveries(api, first["id"])[0]["payload"]["id"]
    # ?projectId=null lists only the org-wide endpoint.
    listed = api.get("/webhooks/endpoints?projectId=null").json["data"]
    assert [e["id"] for e in listed] == [org_wide["id"]]


def test_paused_endpoint_holds_its_queue_until_reactivated(api, services, fake):
    endpoint = endpoint_via(api, "http://127.0.0.1:9/hook", ["webhook.test"])
    assert api.patch(f"/webhooks/endpoints/{endpoint['id']}", json={"active": False}).status_code == 200
    queued = api.post(f"/webhooks/endpoints/{endpoint['id']}/test").json["data"]
    assert services.webhooks.deliver_due() == 0 and fake.calls == []
    assert api.get(f"/webhooks/deliveries/{queued['delivery_id']}").json["data"]["status"] == "pending"

    api.patch(f"/webhooks/endpoints/{endpoint['id']}", json={"active": True})
    assert services.webhooks.deliver_due() == 1
    assert len(fake.calls) == 1
    assert api.get(f"/webhooks/deliveries/{queued['delivery_id']}").json["data"]["status"] == "delivered"


def test_deleting_an_endpoint_stops_its_deliveries(api, services, clock, fake):
    fake.status = 503
    endpoint = endpoint_via(api, "http://127.0.0.1:9/hook", ["webhook.test"])
    queued = api.post(f"/webhooks/endpoints/{endpoint['id']}/test").json["data"]
    assert services.webhooks.deliver_due() == 1
    assert api.get(f"/webhooks/deliveries/{queued['delivery_id']}").json["data"]["status"] == "failed"

    assert api.delete(f"/webhooks/endpoints/{endpoint['id']}").status_code == 200
    clock.advance(3600)
    assert services.webhooks.deliver_due() == 0
    assert len(fake.calls) == 1
    assert api.get(f"/webhooks/deliveries/{queued['delivery_id']}").status_code == 404


def test_non_loopback_host_is_never_contacted(api, services, fake):
    endpoint = endpoint_via(api, "https://hooks.example.com/modelux", ["webhook.test"])
    queued = api.post(f"/webhooks/endpoints/{endpoint['id']}/test").json["data"]
    assert services.webhooks.deliver_due() == 1
    assert fake.calls == []
    got = api.get(f"/webhooks/deliveries/{queued['delivery_id']}").json["data"]
    assert got["status"] == "failed" and got["attempt_count"] == 1
    assert got["response_status"] is None and got["response_body"].startswith("not sent")


def test_replay_only_for_failed_or_dead(api, services, fake):
    endpoint = endpoint_via(api, "http://127.0.0.1:9/hook", ["webhook.test"])
    queued = api.post(f"/webhooks/endpoints/{endpoint['id']}/test").json["data"]
    pending = api.post(f"/webhooks/deliveries/{queued['delivery_id']}/replay")
    assert pending.status_code == 409 and pending.json["code"] == "not_replayable"
    services.webhooks.deliver_due()
    delivered = api.post(f"/webhooks/deliveries/{queued['delivery_id']}/replay")
    assert delivered.status_code == 409 and set(delivered.json) == {"error", "code"}
    assert api.post("/webhooks/deliveries/whdel_missing/replay").status_code == 404


def test_deliveries_list_newest_first(api, services):
    endpoint = endpoint_via(api, "http://127.0.0.1:9/hook", ["webhook.test"])
    ids = [api.post(f"/webhooks/endpoints/{endpoint['id']}/test").json["data"]["delivery_id"] for _ in range(3)]
    # Same (manual) clock instant for all three: order is by queueing.
    assert [d["id"] for d in deliveries(api, endpoint["id"])] == ids[::-1]


def test_unknown_event_type_is_rejected(api):
    response = api.post("/webhooks/endpoints", json={"name": "x", "url": "http://127.0.0.1:9/", "event_types":
                                                     ["budget.soft_cap"]})
    assert response.status_code == 400 and set(response.json) == {"error", "code"}


# ── the engine on its own: ManualClock and a fake sender ───────────────────


def engine_world(policy: DeliveryPolicy, sender) -> tuple[World, object, WebhookEngine, ManualClock]:
    clock = ManualClock(START)
    world = World(clock=clock, ids=IdFactory(3))
    org, _ = bootstrap_org(world, "Test Org")
    return world, org, WebhookEngine(world, policy, sender=sender), clock


def add_endpoint(world, org, url="http://127.0.0.1:9/hook", event_types=("webhook.test",), project_id=None,
                 active=True) -> dict:
    endpoint = {"id": world.new_id("whep"), "name": "e", "url": url, "project_id": project_id,
                "event_types": list(event_types), "active": active, "created_at": world.now_iso(),
                "_secret": "whsec_test"}
    org.webhook_endpoints[endpoint["id"]] = endpoint
    return endpoint


def test_retry_delays_double_until_dead():
    sender = FakeSender(status=500)
    world, org, hooks, clock = engine_world(DeliveryPolicy(max_attempts=4, backoff_seconds=10), sender)
    endpoint = add_endpoint(world, org)
    delivery = hooks.enqueue(org, endpoint, "webhook.test", {"synthetic": True})

    delays = []
    for attempt in (1, 2, 3):
        assert hooks.deliver_due() == 1
        assert delivery["status"] == "failed" and delivery["attempt_count"] == attempt
        delay = (parse_iso(delivery["next_attempt_at"]) - clock.now()).total_seconds()
        delays.append(delay)
        assert hooks.seconds_until_due() == pytest.approx(delay)
        clock.advance(delay - 0.5)
        assert hooks.deliver_due() == 0, "not before its time"
        clock.advance(0.5)
    assert delays == [10, 20, 40]
    assert hooks.deliver_due() == 1
    assert delivery["status"] == "dead" and delivery["attempt_count"] == 4 and delivery["next_attempt_at"] is None
    assert hooks.seconds_until_due() is None
    clock.advance(10_000)
    assert hooks.deliver_due() == 0 and len(sender.calls) == 4


def test_record_attempt_outcomes():
    policy = DeliveryPolicy(max_attempts=2, backoff_seconds=1)
    delivery = {"status": "pending", "attempt_count": 0, "next_attempt_at": None, "delivered_at": None}
    engine.record_attempt(delivery, policy, START, None, "x" * 5000)
    assert delivery["status"] == "failed" and len(delivery["response_body"]) == engine.RESPONSE_BODY_LIMIT
    engine.record_attempt(delivery, policy, START, 204, "")
    assert delivery["status"] == "delivered" and delivery["response_status"] == 204
    redirect = {"status": "pending", "attempt_count": 1, "next_attempt_at": None, "delivered_at": None}
    engine.record_attempt(redirect, policy, START, 302, "")
    assert redirect["status"] == "dead", "a redirect is not a 2xx"


def test_signature_is_hmac_of_the_exact_bytes_sent():
    sender = FakeSender()
    world, org, hooks, _ = engine_world(DeliveryPolicy(), sender)
    endpoint = add_endpoint(world, org)
    hooks.enqueue(org, endpoint, "webhook.test", {"synthetic": True, "text": "héllo"})
    hooks.deliver_due()
    _, body, headers = sender.calls[0]
    assert headers["X-Modelux-Signature"] == hmac_hex("whsec_test", body)
    assert engine.verify("whsec_test", body, headers["X-Modelux-Signature"])
    assert not engine.verify("whsec_other", body, headers["X-Modelux-Signature"])
    assert json.loads(body)["data"]["text"] == "héllo"


def test_fan_out_rules_in_the_engine():
    world, org, hooks, _ = engine_world(DeliveryPolicy(), FakeSender())
    org_wide = add_endpoint(world, org, event_types=["budget.exceeded"])
    scoped = add_endpoint(world, org, event_types=["budget.exceeded"], project_id="proj_a")
    add_endpoint(world, org, event_types=["budget.exceeded"], project_id="proj_b")
    add_endpoint(world, org, event_types=["budget.exceeded"], active=False)
    add_endpoint(world, org, event_types=["api_key.revoked"])

    def exceeded(spend: str) -> dict:
        return {"budget_id": "bud_a", "budget_name": "Monthly", "event_type": "budget.exceeded",
                "scope_type": "project", "scope_id": "proj_a", "spend_usd": spend, "amount_usd": "100.00",
                "used_pct": 100.0, "action": "block"}

    made = hooks.on_event(org, "budget.exceeded", exceeded("100.00"), "proj_a")
    assert sorted(d["endpoint_id"] for d in made) == sorted([org_wide["id"], scoped["id"]])
    assert len({d["payload"]["id"] for d in made}) == 1
    org_only = hooks.on_event(org, "budget.exceeded", exceeded("101.00"), None)
    assert [d["endpoint_id"] for d in org_only] == [org_wide["id"]]


def test_host_allow_list():
    assert engine.host_allowed("http://127.0.0.1:8080/x") and engine.host_allowed("http://[::1]/x")
    assert engine.host_allowed("http://localhost/x") and engine.host_allowed("http://127.9.9.9/")
    assert not engine.host_allowed("http://10.0.0.1/") and not engine.host_allowed("https://example.com/")
    assert not engine.host_allowed("http://127.0.0.1.nip.io/")
    assert engine.host_allowed("https://hooks.internal/", ("hooks.internal",))


def test_http_sender_times_out_per_attempt(receiver):
    slow = receiver.channel("slow").respond(200, delay=1.0)
    started = time.monotonic()
    status, body = engine.http_sender(slow.url, b"{}", {"Content-Type": "application/json"}, 0.2)
    assert status is None and body.startswith("timeout")
    assert time.monotonic() - started < 0.9


def test_http_sender_reports_connection_errors():
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]
    status, body = engine.http_sender(f"http://127.0.0.1:{port}/", b"{}", {}, 1.0)
    assert status is None and body.startswith("connection error")


# ── the registry: exactly the types the mock emits ───────────────────────────


def test_registry_matches_the_vocabulary(api):
    response = api.get("/webhooks/event-types", token="")
    assert response.status_code == 200
    assert [t["type"] for t in response.json["data"]] == list(EVENT_TYPES)


def test_every_registered_type_is_emitted_by_some_code_path(api, services, clock):
    """Drive each emitting path (HTTP API and log ingestion) and collect what fans out."""
    world, org = services.world, services.org
    hub = endpoint_via(api, "http://127.0.0.1:9/all", EVENT_TYPES)
    project = api.post("/projects", json={"name": "Everything"}).json["data"]

    config = api.post("/routing-configs", json={"projectId": project["id"], "name": "bot", "policy": "single",
                                                "config": {"model": "gpt-4o"}}).json["data"]
    api.patch(f"/routing-configs/{config['id']}", json={"policy": "single", "config": {"model": "gpt-4o-mini"}})
    api.delete(f"/routing-configs/{config['id']}")
    key = api.post("/keys", json={"projectId": project["id"], "name": "k"}).json["data"]
    api.delete(f"/keys/{key['id']}")
    api.post("/budgets", json={"name": "cap", "scope_type": "org", "period": "daily", "amount_usd": "1.00"})
    api.post(f"/webhooks/endpoints/{hub['id']}/test")

    base = clock.now() - timedelta(minutes=30)
    logs = [{"id": f"log_{i:03d}", "project_id": project["id"], "timestamp": base + timedelta(seconds=i),
             "status": "error" if i % 2 else "success", "provider": "openai", "model_requested": "gpt-4o",
             "model_used": "gpt-4o", "cost_usd": "0.10", "input_tokens": 10, "output_tokens": 5}
            for i in range(20)]
    ingest_logs(world, org, logs)

    emitted = {d["event_type"] for d in deliveries(api, hub["id"])}
    assert emitted == set(EVENT_TYPES), f"never emitted: {set(EVENT_TYPES) - emitted}"
