"""A real browser, as a frontend on another origin uses the mock: it signs in with the dashboard's
session, lists projects, creates one and meets a forced 404 — every call a `fetch` with
`credentials: "include"`, no key anywhere in the page.

Chromium comes from Debian's packages (`./run test` installs it when missing), driven by Playwright's
Python package (never `playwright install`). A missing browser fails this test with a message: it is
not skipped.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from mockserver.testing import build_app, free_port, serve_in_thread

from .test_cli import start, stop

CHROMIUM = os.environ.get("MODELUX_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "mlx_mgmt_browser_test_0123456789"

PAGE = b"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>frontend</title></head>
<body><h1>A frontend on another origin</h1></body></html>"""

SCENARIO = """async (mock) => {
  const api = mock + "/api/manage/v1";
  const json = async (r) => ({status: r.status, body: await r.json(), applied: r.headers.get("Preference-Applied")});
  const steps = {};
  steps.signIn = await json(await fetch(mock + "/__mock/session", {method: "POST", credentials: "include",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({email: "owner@example.com"})}));
  steps.pageSeesCookie = document.cookie;
  steps.listed = await json(await fetch(api + "/projects", {credentials: "include"}));
  steps.created = await json(await fetch(api + "/projects", {method: "POST", credentials: "include",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({name: "Made in the browser"})}));
  steps.forced = await json(await fetch(api + "/projects/" + steps.created.body.data.id,
    {credentials: "include", headers: {"Prefer": "code=404"}}));
  steps.again = await json(await fetch(api + "/projects", {credentials: "include"}));
  steps.withoutCookie = await json(await fetch(api + "/projects", {credentials: "omit"}));
  steps.signOut = await json(await fetch(mock + "/__mock/session", {method: "DELETE", credentials: "include"}));
  steps.afterSignOut = await json(await fetch(api + "/projects", {credentials: "include"}));
  return steps;
}"""


def page_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [PAGE]


def launch(playwright, profile: str):
    """Debian's Chromium with a fresh profile (`--user-data-dir`)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install Debian's 'chromium' package (./run test installs it "
                    "when missing); this browser check does not skip", pytrace=False)
    return playwright.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=FLAGS)


def browse(mock_url: str, page_port: int) -> dict:
    """The scenario, run by Chromium on a page served from `page_port`, against the mock at `mock_url`."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a broken install, not a reason to skip
        pytest.fail("the 'playwright' package is missing: install the test extra (pip install -e '.[test]')")
    with serve_in_thread(page_app, port=page_port) as page_url, tempfile.TemporaryDirectory() as profile, \
            sync_playwright() as playwright:
        assert mock_url != page_url
        browser = launch(playwright, profile)
        try:
            page = browser.new_page()
            page.goto(page_url + "/")
            return page.evaluate(SCENARIO, mock_url)
        finally:
            browser.close()


def assert_the_member_went_through(steps: dict, names: list[str]) -> dict:
    """What the page saw, step by step; the project it created."""
    assert steps["signIn"]["status"] == 201, steps["signIn"]
    assert steps["signIn"]["body"]["data"]["email"] == "owner@example.com"
    assert steps["pageSeesCookie"] == ""  # HttpOnly: the page's scripts never read the session
    assert steps["listed"]["status"] == 200
    assert [p["name"] for p in steps["listed"]["body"]["data"]] == names
    assert steps["created"]["status"] == 201, steps["created"]
    created = steps["created"]["body"]["data"]
    assert steps["forced"] == {"status": 404, "applied": "code=404",
                               "body": {"error": f"project '{created['id']}' not found", "code": "not_found"}}
    assert [p["name"] for p in steps["again"]["body"]["data"]] == names + ["Made in the browser"]
    assert steps["withoutCookie"]["status"] == 401
    assert steps["signOut"]["status"] == 200
    assert steps["afterSignOut"]["status"] == 401
    return created


def test_a_page_from_another_origin_signs_in_lists_creates_and_meets_a_forced_404():
    page_port = free_port()
    app, services = build_app(TOKEN, seed_logs=0, cors_origins=[f"http://127.0.0.1:{page_port}"])
    try:
        with serve_in_thread(app) as mock_url:
            steps = browse(mock_url, page_port)
    finally:
        services.stop()
    created = assert_the_member_went_through(steps, ["Support Bot", "Search Assistant"])
    with services.world.lock:  # made by the member, as the audit log says
        assert created["id"] in services.org.projects
        entry = next(a for a in services.org.audit_logs.values() if a["resource_id"] == created["id"])
    assert entry["actor_email"] == "owner@example.com" and entry["actor_id"].startswith("user_")


def test_the_same_page_against_modelux_mock_serve():
    """The mock as `./run mock` starts it (granian where it runs): the same scenario, the same answers."""
    page_port = free_port()
    process, url = start("--empty", "--cors-origin", f"http://127.0.0.1:{page_port}")
    try:
        steps = browse(url, page_port)
    finally:
        stop(process)
    assert_the_member_went_through(steps, [])
