"""`modelux-mock serve` as its users start it: a real process on a loopback port, called over HTTP."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest

from mockserver.server import granian_available
from mockserver.testing import free_port

TOKEN = "mlx_mgmt_cli_test_0123456789"


def start(*args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "mockserver.cli", "serve", "--port", str(port), "--token", TOKEN,
                                *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {process.stderr.read()[-2000:]}")
        try:
            httpx.get(url + "/openapi.json", timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("serve did not answer within 60 s")


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()


SERVERS = ["waitress"] + (["granian"] if granian_available() else [])


@pytest.mark.parametrize("server", SERVERS)
def test_serve_answers_validates_and_stops_on_sigterm(server):
    process, url = start("--server", server, "--empty")
    try:
        api = url + "/api/manage/v1"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        created = httpx.post(api + "/projects", json={"name": "From the CLI"}, headers=headers)
        assert created.status_code == 201, created.text
        listed = httpx.get(api + "/projects", headers=headers).json()["data"]
        assert [p["name"] for p in listed] == ["From the CLI"]
        invalid = httpx.get(api + "/logs", params={"limit": "0"}, headers=headers)
        assert invalid.status_code == 400
        assert invalid.json() == {"error": "invalid request: query parameter 'limit': 0 is less than the minimum of 1",
                                  "code": "validation_failed"}
        assert httpx.get(api + "/projects").status_code == 401
    finally:
        code = stop(process)
    out = process.stdout.read()
    assert f"token:        {TOKEN}" in out
    assert code == 0, process.stderr.read()[-2000:]


def test_serve_boots_the_seeded_world():
    process, url = start()
    try:
        projects = httpx.get(url + "/api/manage/v1/projects", headers={"Authorization": f"Bearer {TOKEN}"})
        assert projects.status_code == 200 and len(projects.json()["data"]) >= 3
        logs = httpx.get(url + "/api/manage/v1/logs", params={"limit": 200},
                         headers={"Authorization": f"Bearer {TOKEN}"}).json()["data"]
        assert len(logs) == 200
    finally:
        assert stop(process) == 0


def token_printed(out: str) -> str:
    return next(line.split()[-1] for line in out.splitlines() if line.strip().startswith("token:"))


def test_without_a_token_each_run_gets_a_random_key(monkeypatch):
    from click.testing import CliRunner

    from fixtures.generator import derive_token
    from mockserver import cli

    monkeypatch.setattr(cli, "serve_app", lambda *args, **kwargs: None)  # everything but listening
    monkeypatch.delenv("MODELUX_MOCK_TOKEN", raising=False)
    runner = CliRunner()
    first = runner.invoke(cli.main, ["serve", "--empty", "--seed", "1"])
    second = runner.invoke(cli.main, ["serve", "--empty", "--seed", "1"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output
    keys = {token_printed(first.output), token_printed(second.output)}
    assert len(keys) == 2 and all(k.startswith("mlx_mgmt_") and len(k) == 49 for k in keys)
    assert derive_token(1) not in keys
    given = runner.invoke(cli.main, ["serve", "--empty", "--token", "mlx_mgmt_mine"])
    assert token_printed(given.output) == "mlx_mgmt_mine"


def test_a_non_loopback_host_is_announced_loudly(monkeypatch):
    from click.testing import CliRunner

    from mockserver import cli

    monkeypatch.setattr(cli, "serve_app", lambda *args, **kwargs: None)
    result = CliRunner().invoke(cli.main, ["serve", "--empty", "--host", "0.0.0.0"])
    assert result.exit_code == 0
    assert "WARNING: listening on 0.0.0.0, not loopback" in result.output
    quiet = CliRunner().invoke(cli.main, ["serve", "--empty", "--host", "127.0.0.1"])
    assert "WARNING" not in quiet.output
    assert [cli.is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost", "0.0.0.0",
                                         "192.168.1.4", "example.com")] == [True] * 5 + [False] * 3


@pytest.mark.parametrize("server", SERVERS)
def test_sigterm_exits_promptly_with_a_delivery_stuck_on_a_silent_receiver(server):
    """A receiver that accepts the connection and never answers holds a delivery attempt open; SIGTERM still
    ends the mock cleanly (exit 0) instead of waiting for it."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the backlog; nothing is ever read or answered
    try:
        process, url = start("--server", server, "--empty", "--webhook-timeout", "30")
        api = url + "/api/manage/v1"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        endpoint = httpx.post(api + "/webhooks/endpoints", headers=headers, json={
            "name": "silent", "url": f"http://127.0.0.1:{silent.getsockname()[1]}/hook",
            "event_types": ["webhook.test"]}).json()["data"]["endpoint"]
        assert httpx.post(api + f"/webhooks/endpoints/{endpoint['id']}/test", headers=headers).status_code == 202
        deadline = time.monotonic() + 10
        while not _backlog_has_connection(silent):  # until the attempt has connected and hangs
            assert time.monotonic() < deadline, "the delivery attempt never reached the receiver"
            time.sleep(0.05)
        assert stop(process) == 0, process.stderr.read()[-2000:]
    finally:
        silent.close()


def _backlog_has_connection(listener) -> bool:
    import select

    readable, _, _ = select.select([listener], [], [], 0)
    return bool(readable)
