"""Load and memory: 8 concurrent clients mixing reads and writes against `modelux-mock serve` for a while.

    .venv/bin/python benchmarks/load.py                      # 120 s, 8 clients
    .venv/bin/python benchmarks/load.py --seconds 30 --clients 4 --max-requests 20000

The mock runs as users start it (a subprocess on loopback, seeded world, granian where it runs, a
random key via --token). Each client loops until the time or the request budget is spent, drawing
from: reads (projects, logs, analytics, audit, one routing config), PATCHes of one shared routing
config (each with a config no other sends, so each success is exactly one new version), creates and
deletes of projects and of API keys. Afterwards it checks for lost updates:

* the shared config's versions are contiguous and end at 1 + the successful PATCHes (the last
  1,000 are kept: spec/DECISIONS.md, "Memory"), and every PATCH answered a different version;
* projects and active API keys number exactly what was there plus what was created minus what
  was deleted;

and for deadlock: any request that takes longer than --deadline seconds. Prints the requests sent,
the status histogram, the 5xx, the lost updates, latency p50/p99 and the resident memory (VmRSS of
the mock's processes) at start and end. Exits 1 on any 5xx, lost update, transport error or
deadlock. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import free_port, wait_until_up  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
API = "/api/manage/v1"
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku-20241022")
KEPT_VERSIONS = 1_000  # mockserver.domain.routing_configs.MAX_CONFIG_VERSIONS


def rss_kib(pid: int) -> int:
    """VmRSS of a process and of its descendants (granian serves from a forked child), in KiB."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


class Tally:
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.lock = threading.Lock()
        self.statuses: collections.Counter[int] = collections.Counter()
        self.by_action: collections.Counter[str] = collections.Counter()
        self.server_errors: list[str] = []
        self.transport_errors: list[str] = []
        self.overdue: list[str] = []
        self.latencies: list[float] = []
        self.patch_versions: list[int] = []
        self.created = collections.Counter()
        self.deleted = collections.Counter()
        self.sent = 0

    def take(self) -> bool:
        """Reserve one request of the budget."""
        with self.lock:
            if self.sent >= self.budget:
                return False
            self.sent += 1
            return True


def client_loop(n: int, clients: int, base: str, token: str, shared: dict, tally: Tally, until: float,
                deadline: float, seed: int) -> None:
    rng = random.Random(seed * 1000 + n)
    counter = itertools.count(1)
    mine: dict[str, list[str]] = {"projects": [], "keys": []}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base + API, headers=headers, timeout=deadline) as client:

        def call(action: str, method: str, path: str, **kwargs) -> httpx.Response | None:
            if not tally.take():
                return None
            started = time.monotonic()
            try:
                response = client.request(method, path, **kwargs)
            except httpx.TimeoutException:
                with tally.lock:
                    tally.overdue.append(f"{method} {path}: no answer within {deadline} s")
                return None
            except httpx.HTTPError as exc:
                with tally.lock:
                    tally.transport_errors.append(f"{method} {path}: {type(exc).__name__}: {exc}")
                return None
            elapsed = time.monotonic() - started
            with tally.lock:
                tally.statuses[response.status_code] += 1
                tally.by_action[action] += 1
                tally.latencies.append(elapsed)
                if response.status_code >= 500 and len(tally.server_errors) < 20:
                    tally.server_errors.append(f"{method} {path} -> {response.status_code} {response.text[:300]}")
            return response

        while time.monotonic() < until and tally.sent < tally.budget:
            roll = rng.random()
            if roll < 0.55:
                path = rng.choice(["/projects", "/logs?limit=50", "/analytics", "/audit-logs?limit=20",
                                   f"/routing-configs/{shared['config']}", "/keys", "/budgets"])
                call("read", "GET", path)
            elif roll < 0.70:
                timeout_ms = 1 + n + clients * next(counter)  # no other PATCH sends this config (max 600000)
                body = {"config": {"attempts": [{"model": rng.choice(MODELS), "timeout_ms": timeout_ms}]}}
                response = call("patch", "PATCH", f"/routing-configs/{shared['config']}", json=body)
                if response is not None and response.status_code == 200:
                    with tally.lock:
                        tally.patch_versions.append(response.json()["data"]["version"])
            elif roll < 0.80:
                response = call("create", "POST", "/projects", json={"name": f"load {n}-{next(counter)}"})
                if response is not None and response.status_code == 201:
                    mine["projects"].append(response.json()["data"]["id"])
                    with tally.lock:
                        tally.created["projects"] += 1
            elif roll < 0.87:
                response = call("create", "POST", "/keys", json={"projectId": shared["project"], "name": f"k{n}"})
                if response is not None and response.status_code == 201:
                    mine["keys"].append(response.json()["data"]["id"])
                    with tally.lock:
                        tally.created["keys"] += 1
            else:
                kind = "projects" if rng.random() < 0.6 else "keys"
                if not mine[kind]:
                    continue
                ident = mine[kind].pop(rng.randrange(len(mine[kind])))
                response = call("delete", "DELETE", f"/{kind}/{ident}")
                if response is not None and response.status_code == 200:
                    with tally.lock:
                        tally.deleted[kind] += 1


def counts(base: str, token: str) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {token}"}
    projects = httpx.get(base + API + "/projects", headers=headers, timeout=60).json()["data"]
    keys = httpx.get(base + API + "/keys", headers=headers, timeout=60).json()["data"]
    return {"projects": len(projects), "keys": sum(1 for k in keys if k["revoked_at"] is None)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="how long the clients run (default 120)")
    parser.add_argument("--max-requests", type=int, default=500_000, help="request budget across all clients")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds after which a request counts as stuck")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    token = "mlx_mgmt_" + secrets.token_hex(20)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, "-m", "mockserver.cli", "serve", "--port", str(port), "--token", token,
                                "--seed", str(args.seed)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not wait_until_up(base + "/openapi.json"):
            print(f"the mock did not start: {process.stderr.read().decode()[-2000:]}")
            return 2
        headers = {"Authorization": f"Bearer {token}"}
        project = httpx.post(base + API + "/projects", headers=headers, json={"name": "load shared"}).json()["data"]
        config = httpx.post(base + API + "/routing-configs", headers=headers, json={
            "projectId": project["id"], "name": "shared", "policy": "fallback",
            "config": {"attempts": [{"model": "gpt-4o-mini", "timeout_ms": 1}]}}).json()["data"]
        shared = {"project": project["id"], "config": config["id"]}
        before = counts(base, token)
        rss_start = rss_kib(process.pid)
        tally = Tally(args.max_requests)
        started = time.monotonic()
        until = started + args.seconds
        threads = [threading.Thread(target=client_loop, name=f"client-{n}",
                                    args=(n, args.clients, base, token, shared, tally, until, args.deadline,
                                          args.seed))
                   for n in range(args.clients)]
        for thread in threads:
            thread.start()
        peak = rss_start
        while any(thread.is_alive() for thread in threads):
            time.sleep(1.0)
            peak = max(peak, rss_kib(process.pid))
        elapsed = time.monotonic() - started
        rss_end = rss_kib(process.pid)

        after = counts(base, token)
        versions = [v["version"] for v in httpx.get(base + API + f"/routing-configs/{config['id']}/versions",
                                                    headers=headers, timeout=60).json()["data"]]
        current = httpx.get(base + API + f"/routing-configs/{config['id']}", headers=headers).json()["data"]["version"]
    finally:
        process.terminate()
        try:
            code = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            code = None

    patches = len(tally.patch_versions)
    expected_last = 1 + patches
    expected_versions = list(range(max(1, expected_last - KEPT_VERSIONS + 1), expected_last + 1))
    lost = []
    if versions != expected_versions or current != expected_last:
        lost.append(f"routing config versions: {len(versions)} kept, {versions[:1]}..{versions[-1:]}, current "
                    f"{current}; expected {expected_versions[0]}..{expected_last} after {patches} PATCHes")
    if len(set(tally.patch_versions)) != patches:
        lost.append(f"{patches - len(set(tally.patch_versions))} PATCHes answered a version another PATCH had")
    for kind in ("projects", "keys"):
        expected = before[kind] + tally.created[kind] - tally.deleted[kind]
        if after[kind] != expected:
            lost.append(f"{kind}: {after[kind]} found, expected {before[kind]} + {tally.created[kind]} created - "
                        f"{tally.deleted[kind]} deleted = {expected}")

    answered = sum(tally.statuses.values())
    latencies = sorted(tally.latencies)
    server_errors = sum(count for status, count in tally.statuses.items() if status >= 500)
    print(f"{args.clients} clients, {elapsed:.0f} s, {os.cpu_count()} cores: {tally.sent} requests sent, "
          f"{answered} answered ({answered / elapsed:.0f}/s)")
    print("by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.by_action.items())))
    print("status histogram: " + ", ".join(f"{status}: {count}" for status, count in sorted(tally.statuses.items())))
    print(f"5xx: {server_errors}")
    for line in tally.server_errors:
        print(f"  {line}")
    if latencies:
        print(f"latency p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
              f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms, max {latencies[-1] * 1000:.0f} ms")
    print(f"PATCHes of one routing config: {patches} succeeded, versions kept {versions[0]}..{versions[-1]} "
          f"(current {current})")
    print(f"projects: {before['projects']} + {tally.created['projects']} created - {tally.deleted['projects']} "
          f"deleted = {after['projects']}; active API keys: {before['keys']} + {tally.created['keys']} - "
          f"{tally.deleted['keys']} = {after['keys']}")
    print(f"lost updates: {len(lost)}")
    for line in lost:
        print(f"  {line}")
    print(f"stuck requests (over {args.deadline:.0f} s, deadlock): {len(tally.overdue)}")
    for line in tally.overdue[:10]:
        print(f"  {line}")
    print(f"transport errors: {len(tally.transport_errors)}")
    for line in tally.transport_errors[:10]:
        print(f"  {line}")
    print(f"RSS of the mock: {rss_start / 1024:.0f} MB at start, {rss_end / 1024:.0f} MB at end "
          f"(peak {peak / 1024:.0f} MB)")
    print(f"SIGTERM: exit {code}")
    failed = server_errors or lost or tally.overdue or tally.transport_errors or code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
