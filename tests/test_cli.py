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
