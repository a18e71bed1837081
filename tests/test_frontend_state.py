"""The frontend kit, part 2, over real HTTP: reset, snapshots, the virtual clock, sandboxes, the request
journal and `--state` persistence — each with its bad input (a clear 4xx that changes nothing)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from contracts.polling import poll
from contracts.receiver import Receiver
from mockserver.clock import VirtualClock, iso, parse_iso
from mockserver.frontend.clock import parse_duration
from mockserver.testing import free_port

from .test_frontend import API, AUTH, TOKEN, envelope, mock

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def ok(response: httpx.Response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()["data"]


def control(m, method: str, path: str, token: str = TOKEN, headers: dict[str, str] | None = None,
            **kw) -> httpx.Response:
    return m.client.request(method, "/__mock" + path, headers={"Authorization": f"Bearer {token}", **(headers or {})},
                            **kw)


def api(m, method: str, path: str, token: str = TOKEN, **kw) -> httpx.Response:
    return m.client.request(method, API + path, headers={"Authorization": f"Bearer {token}"}, **kw)


def names(m, token: str = TOKEN) -> set[str]:
    return {p["name"] for p in ok(api(m, "GET", "/projects", token))}


def wait_until(probe, timeout: float = 5.0, what: str = "condition"):
    value = poll(probe, timeout=timeout, interval=0.02)
    assert value, f"timed out after {timeout}s waiting for {what}"
    return value


def stays(probe, seconds: float = 0.4) -> bool:
    """`probe()` holds for `seconds` of polling (what does not happen without the clock)."""
    return poll(lambda: not probe(), timeout=seconds, interval=0.05) is None


# ── reset ────────────────────────────────────────────────────────────────────────────────────────


def test_reset_brings_back_the_boot_world_of_the_callers_organization_only():
    with mock() as m:
        boot = names(m)
        other = m.services.other_token
        ok(api(m, "POST", "/projects", json={"name": "Made after boot"}), 201)
        ok(api(m, "POST", "/projects", other, json={"name": "Other org's new project"}), 201)
        key = ok(api(m, "POST", "/management-keys", json={"name": "later"}), 201)
        assert names(m) == boot | {"Made after boot"}

        reset = ok(control(m, "POST", "/reset"))
        assert reset["org_id"] == m.services.org.id and reset["reset"] is True
        assert names(m) == boot
        assert "Other org's new project" in names(m, other), "another organization is not reset"
        assert api(m, "GET", "/projects", key["key"]).status_code == 401, "a key made after boot is gone"
        assert api(m, "POST", "/projects", json={"name": "Made after boot"}).status_code == 201, \
            "the world works on after a reset"
        envelope(m.client.post("/__mock/reset"), 401, "missing_credentials")


def test_a_large_worlds_boot_state_is_kept_before_its_first_change(monkeypatch):
    import mockserver.frontend.snapshots as snapshots

    monkeypatch.setattr(snapshots, "EAGER_LOGS", 5)  # the embedded world has 20 logs: "large"
    with mock() as m:
        states = m.frontend.states
        assert m.services.org.id in states._pending, "not frozen at boot"
        boot = names(m)
        ok(api(m, "POST", "/projects", json={"name": "First change"}), 201)
        assert not states._pending
        ok(control(m, "POST", "/reset"))
        assert names(m) == boot


# ── snapshots ─────────────────────────────────────────────────────────────────────────────────────


def test_snapshots_save_list_restore_and_delete():
    with mock(max_snapshots=2) as m:
        ok(api(m, "POST", "/projects", json={"name": "Before"}), 201)
        saved = ok(control(m, "POST", "/snapshots", json={"name": "before-change"}), 201)
        assert saved["name"] == "before-change" and saved["counts"]["projects"] == len(names(m))
        state = names(m)
        ok(api(m, "POST", "/projects", json={"name": "After"}), 201)
        project = next(p for p in ok(api(m, "GET", "/projects")) if p["name"] == "Before")
        ok(api(m, "DELETE", f"/projects/{project['id']}"))
        assert names(m) == state - {"Before"} | {"After"}

        restored = ok(control(m, "POST", "/snapshots/before-change/restore"))
        assert restored["restored"] is True and names(m) == state
        assert [s["name"] for s in ok(control(m, "GET", "/snapshots"))] == ["before-change"]
        assert control(m, "GET", "/snapshots", m.services.other_token).json()["data"] == [], \
            "snapshots are the organization's own"
        envelope(control(m, "POST", "/snapshots/before-change/restore", m.services.other_token), 404, "not_found")

        ok(control(m, "POST", "/snapshots", json={"name": "before-change"}))  # the same name: replaced, 200
        ok(control(m, "POST", "/snapshots", json={"name": "second"}), 201)
        envelope(control(m, "POST", "/snapshots", json={"name": "third"}), 409, "too_many_snapshots")
        ok(control(m, "DELETE", "/snapshots/second"))
        envelope(control(m, "DELETE", "/snapshots/second"), 404, "not_found")
        assert [s["name"] for s in ok(control(m, "GET", "/snapshots"))] == ["before-change"]


def test_bad_snapshot_requests_are_400s_and_change_nothing():
    with mock() as m:
        before = m.world_view()
        for body in ({"name": "has space"}, {"name": ""}, {"name": "../etc"}, {"name": "x" * 65}, {"name": 7},
                     {}, {"name": "ok", "extra": 1}, ["name"]):
            response = control(m, "POST", "/snapshots", json=body)
            assert response.status_code == 400, (body, response.text)
        envelope(control(m, "POST", "/snapshots", content=b"{", headers={"Content-Type": "application/json"}),
                 400, "malformed_json")
        envelope(control(m, "POST", "/snapshots/-bad/restore"), 400, "invalid_snapshot_name")
        envelope(control(m, "POST", "/snapshots/missing/restore"), 404, "not_found")
        assert ok(control(m, "GET", "/snapshots")) == []
        assert m.world_view() == before


# ── the virtual clock ─────────────────────────────────────────────────────────────────────────────


def test_the_clock_reads_advances_and_sets_and_new_records_follow_it():
    with mock() as m:
        real = ok(control(m, "GET", "/clock"))
        assert real["mode"] == "real"
        assert abs(parse_iso(real["now"]) - datetime.now(timezone.utc)) < timedelta(seconds=5)

        moved = ok(control(m, "POST", "/clock/advance", json={"by": "P1D"}))
        assert moved["mode"] == "virtual"
        start = parse_iso(moved["now"])
        assert start - parse_iso(real["now"]) >= timedelta(days=1)
        assert stays(lambda: ok(control(m, "GET", "/clock"))["now"] == moved["now"]), "a virtual clock is frozen"
        assert parse_iso(ok(control(m, "POST", "/clock/advance", json={"by": 90}))["now"]) == start + timedelta(seconds=90)
        assert parse_iso(ok(control(m, "POST", "/clock/advance", json={"by": "PT1H30M"}))["now"]) == \
            start + timedelta(seconds=90, hours=1, minutes=30)
        target = "2030-01-01T00:00:00.000Z"
        assert ok(control(m, "POST", "/clock/set", json={"now": target}))["now"] == target
        project = ok(api(m, "POST", "/projects", json={"name": "Born in 2030"}), 201)
        assert project["created_at"] == target
        used = next(k for k in ok(api(m, "GET", "/management-keys")) if k["last_used_at"])
        assert used["last_used_at"] == target

        other = ok(control(m, "GET", "/clock", m.services.other_token))
        assert other["mode"] == "real", "each organization has its own clock"


def test_bad_clock_moves_are_400s_and_leave_it_where_it_was():
    with mock(clock=VirtualClock(T0)) as m:
        assert ok(control(m, "GET", "/clock")) == {"org_id": m.services.org.id, "now": iso(T0), "mode": "virtual"}
        backwards = envelope(control(m, "POST", "/clock/set", json={"now": "2026-03-10T11:59:59Z"}), 400,
                             "clock_backwards")
        assert "cannot go backwards" in backwards and iso(T0) in backwards
        month = envelope(control(m, "POST", "/clock/advance", json={"by": "P1M"}), 400, "validation_failed")
        assert "P30D" in month
        for body in ({"by": -5}, {"by": "1 hour"}, {"by": "PT"}, {"by": True}, {"by": None}, {"by": "P99999D"},
                     {"seconds": 5}, {"by": "PT1H", "x": 1}):
            envelope(control(m, "POST", "/clock/advance", json=body), 400)
        for body in ({"now": "yesterday"}, {"now": 5}, {}, {"now": "9999-12-31T23:59:59Z"}):
            envelope(control(m, "POST", "/clock/set", json=body), 400)
        assert ok(control(m, "GET", "/clock"))["now"] == iso(T0)


def test_durations_parse_as_iso_8601_or_seconds():
    assert parse_duration("PT1H") == timedelta(hours=1)
    assert parse_duration("p1dt12h") == timedelta(days=1, hours=12)
    assert parse_duration("P2W") == timedelta(weeks=2)
    assert parse_duration("PT0.5S") == timedelta(seconds=0.5)
    assert parse_duration(30) == timedelta(seconds=30)
    for bad in ("P", "PT", "P1Y", "1H", "PT1H2D", "", -1, float("nan")):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_advancing_the_clock_by_the_backoff_delivers_a_pending_retry_at_once():
    with Receiver() as receiver, mock(clock=VirtualClock(T0), webhook_backoff=30.0) as m:
        hook = receiver.channel("hook").respond(500, b"down")
        endpoint = ok(api(m, "POST", "/webhooks/endpoints", json={
            "name": "hook", "url": hook.url, "event_types": ["webhook.test"]}), 201)["endpoint"]
        queued = ok(api(m, "POST", f"/webhooks/endpoints/{endpoint['id']}/test"), 202)

        def delivery():
            return ok(api(m, "GET", f"/webhooks/deliveries/{queued['delivery_id']}"))

        failed = wait_until(lambda: (d := delivery())["attempt_count"] == 1 and d, what="the first attempt")
        assert failed["status"] == "failed"
        assert parse_iso(failed["next_attempt_at"]) == T0 + timedelta(seconds=30), "backoff on the virtual clock"
        assert stays(lambda: delivery()["attempt_count"] == 1), "real time passing does not bring the retry"

        hook.respond(200, b"ok")
        ok(control(m, "POST", "/clock/advance", json={"by": "PT30S"}))
        delivered = wait_until(lambda: (d := delivery())["status"] == "delivered" and d, timeout=2.0,
                               what="the retry after the clock moved")
        assert delivered["attempt_count"] == 2 and delivered["delivered_at"] == iso(T0 + timedelta(seconds=30))
        assert len(hook.snapshot()) == 2


def test_advancing_past_a_budget_period_resets_its_spend():
    with mock(clock=VirtualClock(T0)) as m:  # the seeded logs lie in the three days before T0
        budget = ok(api(m, "POST", "/budgets", json={"name": "Daily", "scope_type": "org", "amount_usd": "1000.00",
                                                     "period": "daily"}), 201)
        spent = ok(api(m, "GET", f"/budgets/{budget['id']}"))
        assert float(spent["current_spend_usd"]) > 0
        assert spent["period_resets_at"] == "2026-03-11T00:00:00.000Z"

        ok(control(m, "POST", "/clock/set", json={"now": "2026-03-10T23:59:59Z"}))
        assert ok(api(m, "GET", f"/budgets/{budget['id']}"))["current_spend_usd"] == spent["current_spend_usd"]
        ok(control(m, "POST", "/clock/advance", json={"by": "PT1S"}))
        after = ok(api(m, "GET", f"/budgets/{budget['id']}"))
        assert float(after["current_spend_usd"]) == 0
        assert after["period_start"] == "2026-03-11T00:00:00.000Z"
        assert after["period_resets_at"] == "2026-03-12T00:00:00.000Z"


def test_a_simulation_completes_once_the_clock_passes_its_run_time():
    with mock(clock=VirtualClock(T0)) as m:
        project = ok(api(m, "GET", "/projects"))[0]
        simulation = ok(api(m, "POST", "/simulations", json={
            "name": "cheaper", "project_id": project["id"], "candidate_policy": "single",
            "candidate_config": {"model": "gpt-4o-mini"}, "window_start": iso(T0 - timedelta(days=4)),
            "window_end": iso(T0)}), 201)
        count = simulation["request_count"]
        assert 0 < count < 100, "a run of one clock second (100 requests a second, at least one second)"

        def current():
            return ok(api(m, "GET", f"/simulations/{simulation['id']}"))

        wait_until(lambda: current()["status"] == "running", what="the simulation to start")
        assert stays(lambda: current()["status"] == "running"), "real time does not finish it"
        ok(control(m, "POST", "/clock/advance", json={"by": 0.5}))
        wait_until(lambda: current()["processed_count"] == count, what="half a clock second of work")
        assert stays(lambda: current()["status"] == "running"), "not done before its run time"
        ok(control(m, "POST", "/clock/advance", json={"by": "PT1M"}))
        done = wait_until(lambda: (s := current())["status"] == "completed" and s, timeout=3.0,
                          what="completion after the clock passed the run time")
        assert done["processed_count"] == count and done["candidate_summary"]["request_count"] == count
        assert done["completed_at"] == iso(T0 + timedelta(seconds=1))


# ── sandboxes ─────────────────────────────────────────────────────────────────────────────────────


def test_a_sandbox_is_an_isolated_copy_with_its_own_key_session_clock_and_snapshots():
    with mock() as m:
        boot = names(m)
        sandbox = ok(control(m, "POST", "/sandboxes", json={"name": "worker-1"}), 201)
        token = sandbox["token"]
        assert sandbox["origin"] == "copy" and sandbox["parent_org_id"] == m.services.org.id
        assert sandbox["id"] != m.services.org.id and token.startswith("mlx_mgmt_")
        assert names(m, token) == boot
        ok(api(m, "POST", "/projects", token, json={"name": "Sandbox only"}), 201)
        assert "Sandbox only" not in names(m) and "Sandbox only" in names(m, token)
        assert ok(api(m, "GET", f"/orgs/{sandbox['id']}/members", token))
        assert api(m, "GET", f"/orgs/{m.services.org.id}/members", token).status_code in (403, 404)

        # its own clock, snapshots and reset
        ok(control(m, "POST", "/clock/advance", token, json={"by": "P7D"}))
        assert ok(control(m, "GET", "/clock"))["mode"] == "real"
        ok(control(m, "POST", "/snapshots", token, json={"name": "mine"}), 201)
        assert ok(control(m, "GET", "/snapshots")) == []
        ok(control(m, "POST", "/reset", token))
        assert names(m, token) == boot and ok(control(m, "GET", "/clock", token))["mode"] == "real"

        # a session of its own: named by org_id; the email alone still signs in to the boot organization
        email = sandbox["sign_in"]["email"]
        jar = httpx.Client(base_url=m.url)
        signed = ok(jar.post("/__mock/session", json={"email": email, "org_id": sandbox["id"]}), 201)
        assert signed["org_id"] == sandbox["id"]
        assert {p["name"] for p in ok(jar.get(API + "/projects"))} == names(m, token)
        plain = ok(httpx.post(m.url + "/__mock/session", json={"email": email}), 201)
        assert plain["org_id"] == m.services.org.id

        listed = ok(control(m, "GET", "/sandboxes"))
        assert [s["id"] for s in listed] == [sandbox["id"]]
        assert ok(control(m, "GET", "/sandboxes", m.services.other_token)) == []
        envelope(control(m, "DELETE", f"/sandboxes/{sandbox['id']}", m.services.other_token), 404, "not_found")
        ok(control(m, "DELETE", f"/sandboxes/{sandbox['id']}"))
        assert api(m, "GET", "/projects", token).status_code == 401
        assert jar.get(API + "/projects").status_code == 401
        assert ok(control(m, "GET", "/sandboxes")) == []
        jar.close()


def test_sandboxes_empty_or_of_another_seed_and_bad_requests_change_nothing():
    with mock(max_sandboxes=2, scale=60) as m:
        empty = ok(control(m, "POST", "/sandboxes", json={"empty": True, "clock": "2026-01-01T00:00:00Z"}), 201)
        assert names(m, empty["token"]) == set()
        assert ok(control(m, "GET", "/clock", empty["token"]))["now"] == "2026-01-01T00:00:00.000Z"
        copy = ok(control(m, "POST", "/sandboxes", json={"clock": "2026-01-02T00:00:00Z"}), 201)
        keys = ok(api(m, "GET", "/management-keys", copy["token"]))
        assert next(k for k in keys if k["id"] == copy["key_id"])["created_at"] == "2026-01-02T00:00:00.000Z"
        ok(control(m, "DELETE", f"/sandboxes/{copy['id']}"))
        envelope(control(m, "POST", "/sandboxes", empty["token"]), 403, "sandbox_in_sandbox")
        seeded = ok(control(m, "POST", "/sandboxes", json={"seed": 5}), 201)
        assert seeded["origin"] == "seed:5" and len(names(m, seeded["token"])) > 0
        envelope(control(m, "POST", "/sandboxes"), 409, "too_many_sandboxes")

        ok(control(m, "DELETE", f"/sandboxes/{seeded['id']}"))
        orgs = set(m.services.world.orgs)
        for body in ({"seed": "5"}, {"seed": -1}, {"empty": "yes"}, {"empty": True, "seed": 1}, {"colour": "red"},
                     {"name": ""}, {"clock": "tomorrow"}, [1]):
            envelope(control(m, "POST", "/sandboxes", json=body), 400, "validation_failed")
        envelope(control(m, "DELETE", "/sandboxes/org_missing"), 404, "not_found")
        assert set(m.services.world.orgs) == orgs


def test_four_clients_each_with_a_sandbox_never_see_one_anothers_data():
    with mock() as m:
        errors: list[str] = []

        def worker(n: int) -> None:
            client = httpx.Client(base_url=m.url, timeout=30)
            try:
                for round_ in range(3):
                    sandbox = ok(client.post("/__mock/sandboxes", headers=AUTH, json={"name": f"w{n}"}), 201)
                    headers = {"Authorization": f"Bearer {sandbox['token']}"}
                    mine: set[str] = set()
                    base = {p["id"] for p in ok(client.get(API + "/projects", headers=headers))}
                    for i in range(6):
                        created = ok(client.post(API + "/projects", headers=headers,
                                                 json={"name": f"w{n}-r{round_}-p{i}"}), 201)
                        mine.add(created["id"])
                        if i % 2:
                            ok(client.delete(API + f"/projects/{created['id']}", headers=headers))
                            mine.discard(created["id"])
                        seen = {p["id"]: p["name"] for p in ok(client.get(API + "/projects", headers=headers))}
                        strangers = [name for name in seen.values() if name.startswith("w") and
                                     not name.startswith(f"w{n}-")]
                        if strangers or set(seen) != base | mine:
                            errors.append(f"worker {n} saw {strangers or seen}")
                    ok(client.delete(f"/__mock/sandboxes/{sandbox['id']}", headers=AUTH))
            except Exception as exc:  # reported below, in the test's thread
                errors.append(f"worker {n}: {exc!r}")
            finally:
                client.close()

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        assert ok(control(m, "GET", "/sandboxes")) == []
        assert not any(name.startswith("w") and "-r" in name for name in names(m))


# ── the request journal ───────────────────────────────────────────────────────────────────────────


def test_the_journal_keeps_requests_and_answers_with_secrets_redacted_and_filters_them():
    with mock(journal_size=5) as m:
        ok(api(m, "GET", "/projects"))
        created = ok(api(m, "POST", "/webhooks/endpoints", json={
            "name": "h", "url": "http://127.0.0.1:9/x", "event_types": ["webhook.test"]}), 201)
        assert created["signingSecret"].startswith("whsec_")
        api(m, "GET", "/projects/proj_missing")
        entries = ok(control(m, "GET", "/requests"))
        assert [(e["method"], e["status"]) for e in entries] == [("GET", 404), ("POST", 201), ("GET", 200)]
        posted = entries[1]
        assert posted["path"] == API + "/webhooks/endpoints" and posted["duration_ms"] >= 0
        assert posted["request"]["body"]["name"] == "h"
        assert posted["response"]["body"]["data"]["signingSecret"] == "[redacted]"
        text = json.dumps(entries)
        assert created["signingSecret"] not in text and TOKEN not in text and "Authorization" not in text

        assert [e["status"] for e in ok(control(m, "GET", "/requests", params={"status": "4xx"}))] == [404]
        assert [e["method"] for e in ok(control(m, "GET", "/requests", params={"method": "post"}))] == ["POST"]
        assert len(ok(control(m, "GET", "/requests", params={"path": "/projects"}))) == 2
        assert len(ok(control(m, "GET", "/requests", params={"path": "missing"}))) == 1
        assert len(ok(control(m, "GET", "/requests", params={"limit": "1"}))) == 1
        assert ok(control(m, "GET", "/requests", m.services.other_token)) == [], "the journal is the org's own"
        for params in ({"status": "abc"}, {"limit": "0"}, {"method": "G E T"}, {"colour": "red"}):
            envelope(control(m, "GET", "/requests", params=params), 400, "validation_failed")

        for _ in range(6):
            api(m, "GET", "/projects")
        assert len(ok(control(m, "GET", "/requests"))) == 5, "bounded by --journal-size"
        assert ok(control(m, "DELETE", "/requests"))["cleared"] == 5
        assert ok(control(m, "GET", "/requests")) == []

        key = ok(api(m, "POST", "/management-keys", json={"name": "k"}), 201)
        shown = ok(control(m, "GET", "/requests"))[0]["response"]["body"]["data"]
        assert shown["key"] == "[redacted]" and key["key"] not in json.dumps(shown)


# ── --state ───────────────────────────────────────────────────────────────────────────────────────


def serving(url: str) -> bool:
    try:
        return httpx.get(url + "/openapi.json", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def in_file(path: str, text: str) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            return text in handle.read()
    except FileNotFoundError:
        return False


def test_a_state_file_survives_sigkill_with_every_change_older_than_a_second(tmp_path):
    state = str(tmp_path / "world.json")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "mockserver.cli", "serve", "--port", str(port), "--token", TOKEN,
            "--server", "waitress", "--state", state]
    process = subprocess.Popen(args + ["--empty"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: serving(url), timeout=30, what="the mock to serve")
        client = httpx.Client(base_url=url + API, headers=AUTH, trust_env=False)
        project = ok(client.post("/projects", json={"name": "Kept across a crash"}), 201)
        key = ok(client.post("/management-keys", json={"name": "second key"}), 201)
        wait_until(lambda: in_file(state, key["id"]), timeout=3, what="the change in the state file")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        client.close()
    finally:
        if process.poll() is None:
            process.kill()
    document = json.loads(open(state, encoding="utf-8").read())
    assert document["format"] == "modelux-mock-world" and document["token"] is None
    assert TOKEN not in json.dumps(document) and key["key"] not in json.dumps(document), "no plaintext key"
    assert not [name for name in os.listdir(tmp_path) if name != "world.json"], "no temporary file left"

    restarted = subprocess.Popen(args + ["--empty"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: serving(url), timeout=30, what="the mock to serve again")
        client = httpx.Client(base_url=url + API, headers=AUTH, trust_env=False)
        assert project["id"] in {p["id"] for p in ok(client.get("/projects"))}
        other = httpx.get(url + API + "/projects", headers={"Authorization": f"Bearer {key['key']}"})
        assert other.status_code == 200, "keys made before the crash still work"
        made = ok(client.post("/projects", json={"name": "After the restart"}), 201)
        assert made["id"] != project["id"]
        client.close()
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=15) == 0
    finally:
        if restarted.poll() is None:
            restarted.kill()
    assert in_file(state, "After the restart"), "written at shutdown"
    banner = restarted.stdout.read()
    assert "state:        " in banner and "resumed, --empty ignored" in banner


def test_serve_flags_reach_the_clock_sandboxes_snapshots_and_journal():
    from click.testing import CliRunner

    from mockserver import cli
    from tests.test_cli import TOKEN as CLI_TOKEN
    from tests.test_cli import start, stop

    process, url = start("--server", "waitress", "--empty", "--clock", "virtual@2026-05-01T08:00:00Z",
                         "--max-sandboxes", "1", "--max-snapshots", "1", "--journal-size", "2")
    try:
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {CLI_TOKEN}"}, trust_env=False)
        clock = ok(client.get("/__mock/clock"))
        made = ok(client.post(API + "/projects", json={"name": "p"}), 201)
        for _ in range(3):
            client.get(API + "/projects")
        journal = ok(client.get("/__mock/requests"))
        ok(client.post("/__mock/sandboxes"), 201)
        too_many = client.post("/__mock/sandboxes")
        ok(client.post("/__mock/snapshots", json={"name": "a"}), 201)
        too_many_snapshots = client.post("/__mock/snapshots", json={"name": "b"})
        client.close()
    finally:
        assert stop(process) == 0
    assert clock == {"org_id": clock["org_id"], "now": "2026-05-01T08:00:00.000Z", "mode": "virtual"}
    assert made["created_at"] == "2026-05-01T08:00:00.000Z"
    assert len(journal) == 2
    assert too_many.status_code == 409 and too_many_snapshots.status_code == 409

    bad = CliRunner().invoke(cli.main, ["serve", "--empty", "--clock", "virtual@someday"])
    assert bad.exit_code == 2 and "not an ISO 8601 timestamp" in bad.output
    bad = CliRunner().invoke(cli.main, ["serve", "--empty", "--clock", "frozen"])
    assert bad.exit_code == 2 and "expected real, virtual" in bad.output


def test_the_state_file_follows_what_the_engines_change_without_a_request(tmp_path):
    from mockserver.domain.orgs import bootstrap_org
    from mockserver.domain.world import World
    from mockserver.frontend.persistence import StateFile

    world = World()
    org, token = bootstrap_org(world, "Acme", TOKEN)
    org.simulations["sim_1"] = {"id": "sim_1", "status": "running", "processed_count": 0}
    path = str(tmp_path / "state.json")
    state = StateFile(path, world, org, token, delay=0.1)
    state.start()
    try:
        wait_until(lambda: in_file(path, '"processed_count": 0'), what="the first write")
        with world.lock:  # as the simulation runner would
            org.simulations["sim_1"].update(status="completed", processed_count=7)
        wait_until(lambda: in_file(path, '"processed_count": 7'), what="the engine's change written")
    finally:
        state.stop()
    assert TOKEN not in open(path, encoding="utf-8").read()
