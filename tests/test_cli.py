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


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "reuse-port"])
@pytest.mark.parametrize("server", SERVERS)
def test_a_taken_port_is_an_error_before_the_world_is_built(server, reuse_port):
    """Whatever holds the port (granian itself binds with SO_REUSEPORT, which would let a second server share
    it), serve says so and exits 1 at once, without a traceback, before it builds or announces a world; the
    holder keeps the port."""
    import socket

    holder = socket.socket()
    if reuse_port:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen(8)
    port = holder.getsockname()[1]
    try:
        result = subprocess.run([sys.executable, "-m", "mockserver.cli", "serve", "--server", server, "--port",
                                 str(port), "--token", TOKEN], capture_output=True, text=True, timeout=60)
        assert result.returncode == 1, result.stderr[-2000:]
        assert result.stderr.strip() == (f"Error: port {port} on 127.0.0.1 is in use: another server (an earlier "
                                         "mock, maybe) is listening there; stop it or choose another --port")
        assert result.stdout == ""  # no world announced
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # still the holder's
        accepted, _ = holder.accept()
        accepted.close()
    finally:
        holder.close()


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie nobody reaped has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not granian_available(), reason="granian forks a worker only where it runs")
def test_granians_worker_ends_when_the_server_process_is_killed():
    """SIGKILL on the process a user started (an IDE's stop button, the OOM killer) takes its worker with it: no
    orphan goes on answering from the old world on the port, which a new mock then binds alone."""
    import socket

    process, url = start("--server", "granian", "--empty")
    try:
        with open(f"/proc/{process.pid}/task/{process.pid}/children") as children:
            workers = [int(pid) for pid in children.read().split()]
        assert len(workers) == 1
        process.kill()
        process.wait(timeout=20)
        deadline = time.monotonic() + 20
        while _alive(workers[0]):
            assert time.monotonic() < deadline, "granian's worker outlived the server process"
            time.sleep(0.05)
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(httpx.TransportError):
            httpx.get(url + "/openapi.json", timeout=2)
        probe = socket.socket()
        probe.bind(("127.0.0.1", port))  # nothing holds it any more, not even with SO_REUSEPORT
        probe.close()
    finally:
        if process.poll() is None:
            process.kill()
