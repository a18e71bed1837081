"""How long the mock takes to answer after it starts, how much memory it holds, and how fast
it reads a heavy world.

    .venv/bin/python benchmarks/boot.py                       # the figures below, side by side
    .venv/bin/python benchmarks/boot.py --repeat 3            # best boot of three
    .venv/bin/python benchmarks/boot.py --source /tmp/old     # the same figures for another checkout
    .venv/bin/python benchmarks/boot.py --stages              # where an in-process boot spends its time
    .venv/bin/python benchmarks/boot.py --against /tmp/old --repeat 3   # boots of both, alternately, and the ratio

"Boot" is what a user waits for: `modelux-mock serve` is started as a subprocess on a free
loopback port and a `GET /projects` is polled (with a deadline, no fixed sleeps) until it
answers 200; the time from process start to that answer is reported, with the server's resident
memory then (VmRSS) and its peak (VmHWM). At `--scale 100000` the script then times the reads
a dashboard makes: `GET /analytics` (windows, projects, hourly and daily buckets), `GET /budgets`
and `GET /logs?limit=200` (with filters and offsets), over a keep-alive connection, and prints
p50/p99 per operation. Reads run twice: against the server as users run it (responses
validated) and with `--no-validate-responses`, which isolates the handlers' own cost from
response validation.

Every figure is printed next to its goal and the baseline measured before the scale work
(commit 8453f40, 2 cores). Boot times vary with the machine (and, on a shared one, from minute
to minute): `--against` boots this checkout and another one alternately and prints the ratio,
which carries from one machine to another where a time does not. Not part of the test suite:
tests never assert timings.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOKEN = "mlx_mgmt_bootbenchmark0000000000000000000000"
SCALE = 100_000
BASE = "/api/manage/v1"

# Goals; baseline measured with this script (`--source` a checkout of commit 8453f40,
# before the scale work) on the same 2-core machine. Seconds; (p50, p99) in ms; memory in MB.
GOALS = {"default_boot_s": 1.5, "scale_boot_s": 4.0, "read_p50_ms": 50.0}
BASELINE = {
    "default_boot_s": 1.24, "default_rss_mb": 87, "default_peak_mb": 87,
    "scale_boot_s": 12.57, "scale_rss_mb": 312, "scale_peak_mb": 334,
    "getAnalytics": (133.1, 1185.1), "listBudgets": (387.3, 1069.7), "listLogs": (89.6, 100.5),
}


# ── a server in a subprocess ────────────────────────────────────────────────


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`modelux-mock serve` of `source` on a free loopback port, stopped on exit."""

    def __init__(self, source: str, extra: list[str]):
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        env = dict(os.environ, PYTHONPATH=source)
        command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", str(self.port), "--token", TOKEN, *extra]
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=source, env=env, stdout=subprocess.DEVNULL, stderr=self.log)

    def wait_ready(self, deadline_s: float = 180.0) -> float:
        """Seconds from process start to the first 200 of `GET /projects`."""
        stop = self.started + deadline_s
        while time.perf_counter() < stop:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log.read().decode()[-2000:]}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", f"{BASE}/projects", headers={"Authorization": f"Bearer {TOKEN}"})
                status = connection.getresponse().status
                connection.close()
                if status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.005)  # polling interval, not a wait for readiness: the deadline bounds it
        raise RuntimeError(f"server did not answer within {deadline_s} s")

    def memory_mb(self) -> tuple[float, float]:
        """(resident now, peak resident) of the server process, from /proc."""
        fields = {}
        with open(f"/proc/{self.process.pid}/status") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                fields[name] = value.strip()
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Client:
    """One keep-alive connection, as a dashboard's fetches would use."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path: str) -> tuple[float, object]:
        started = time.perf_counter()
        self.connection.request("GET", BASE + path, headers={"Authorization": f"Bearer {TOKEN}"})
        response = self.connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
        return elapsed, json.loads(body)["data"]


# ── the reads ───────────────────────────────────────────────────────────────

FIRST_READS = {"listLogs": "/logs?limit=200", "getAnalytics": "/analytics", "listBudgets": "/budgets"}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def read_variants(client: Client) -> dict[str, list[str]]:
    """The GETs a dashboard makes, by operation: windows aligned and not, per project, filters, deep pages."""
    _, projects = client.get("/projects")
    _, newest = client.get("/logs?limit=1")
    project = projects[0]["id"]
    other = projects[-1]["id"]
    anchor = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    week = _iso(anchor - timedelta(days=7))
    ragged = _iso(anchor - timedelta(days=12, minutes=17, seconds=31, milliseconds=250))
    day = _iso(anchor - timedelta(hours=30, minutes=5))
    end = _iso(anchor - timedelta(hours=2, minutes=41))
    _, users = client.get(f"/logs?limit=200&projectId={project}")
    user = next((log["end_user_id"] for log in users if log["end_user_id"]), newest[0]["end_user_id"])
    return {
        "getAnalytics": [
            "/analytics",
            f"/analytics?bucket=hour&startTime={day}",
            f"/analytics?projectId={project}&startTime={week}&bucket=hour",
            f"/analytics?startTime={ragged}&endTime={end}&bucket=day",
            f"/analytics?projectId={other}&startTime={ragged}&endTime={end}&bucket=hour",
        ],
        "listBudgets": ["/budgets", "/budgets?scopeType=project", f"/budgets?projectId={project}"],
        "listLogs": [
            "/logs?limit=200",
            "/logs?limit=200&offset=20000",
            f"/logs?limit=200&projectId={project}&status=error",
            f"/logs?limit=200&projectId={other}&offset=1000",
            f"/logs?limit=200&endUserId={user}",
            "/logs?limit=200&status=error&offset=400",
        ],
    }


def time_reads(client: Client, variants: dict[str, list[str]], count: int) -> dict[str, tuple[float, float]]:
    """p50 and p99 (ms) of `count` GETs per operation, cycling through its variants."""
    out = {}
    for operation, paths in variants.items():
        client.get(paths[0])  # warm-up
        samples = sorted(client.get(paths[i % len(paths)])[0] * 1000 for i in range(count))
        out[operation] = (statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))])
    return out


# ── in-process stages (where a boot spends its time) ────────────────────────


def stages(source: str, scale: int | None) -> dict:
    code = f"""
import json, resource, sys, time
sys.path.insert(0, {source!r})
started = time.perf_counter()
from fixtures.loader import load_world
from mockserver.app import create_app
from mockserver.services import MockConfig, Services
imported = time.perf_counter()
config = MockConfig(world_seed=1, seed=1, scale={scale!r}, start_workers=False)
world, org, token = load_world(config)
generated = time.perf_counter()
create_app(config, Services.build(config, world=world, org=org, token=token))
ready = time.perf_counter()
print(json.dumps({{"logs": len(org.logs), "import_s": imported - started, "world_s": generated - imported,
                  "app_s": ready - generated, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=source)
    return json.loads(output.stdout.strip().splitlines()[-1])


# ── report ──────────────────────────────────────────────────────────────────


def _fmt(value, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def boot(source: str, extra: list[str], repeat: int) -> tuple[float, float, float]:
    best = None
    for _ in range(repeat):
        with Server(source, extra) as server:
            seconds = server.wait_ready()
            rss, peak = server.memory_mb()
        if best is None or seconds < best[0]:
            best = (seconds, rss, peak)
    assert best is not None
    return best


def against(source: str, other: str, repeat: int) -> None:
    """Boot both checkouts alternately, `repeat` times each, and print the fastest of each and their ratio."""
    print(f"against: {other}   (alternately, fastest of {repeat} each)")
    print(f"\n{'boot to first answer':<28} {'this':>8} {'against':>8} {'ratio':>6} {'RSS MB':>13} {'peak MB':>13}")
    for label, extra in (("default seeded world", []), (f"--scale {SCALE}", ["--scale", str(SCALE)])):
        best: dict[str, tuple[float, float, float]] = {}
        for _ in range(repeat):
            for checkout in (source, other):
                found = boot(checkout, extra, 1)
                if checkout not in best or found[0] < best[checkout][0]:
                    best[checkout] = found
        (mine, rss, peak), (theirs, their_rss, their_peak) = best[source], best[other]
        print(f"{label:<28} {mine:>7.2f}s {theirs:>7.2f}s {mine / theirs:>6.2f} {rss:>6.0f}/{their_rss:<6.0f} "
              f"{peak:>6.0f}/{their_peak:<6.0f}")
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=ROOT, help="checkout to measure (default: this one)")
    parser.add_argument("--repeat", type=int, default=1, help="boots per world; the fastest is reported")
    parser.add_argument("--requests", type=int, default=50, help="GETs per operation at --scale 100000")
    parser.add_argument("--stages", action="store_true", help="also time import / world / app in process")
    parser.add_argument("--against", metavar="CHECKOUT",
                        help="only boot this checkout and CHECKOUT alternately (--repeat times each) and print the ratios")
    args = parser.parse_args()
    source = os.path.abspath(args.source)
    print(f"source: {source}   cores: {os.cpu_count()}   python: {sys.version.split()[0]}")
    if args.against:
        against(source, os.path.abspath(args.against), args.repeat)
        return

    print(f"\n{'boot to first answer':<28} {'now':>8} {'goal':>8} {'baseline':>9} {'RSS MB':>8} {'peak MB':>8} "
          f"{'baseline RSS/peak':>18}")
    for label, key, extra in (("default seeded world", "default", []),
                              (f"--scale {SCALE}", "scale", ["--scale", str(SCALE)])):
        seconds, rss, peak = boot(source, extra, args.repeat)
        base = f"{_fmt(BASELINE[key + '_rss_mb'], '.0f')}/{_fmt(BASELINE[key + '_peak_mb'], '.0f')}"
        print(f"{label:<28} {seconds:>7.2f}s {GOALS[key + '_boot_s']:>7.1f}s {_fmt(BASELINE[key + '_boot_s']):>8}s "
              f"{rss:>8.0f} {peak:>8.0f} {base:>18}")
        sys.stdout.flush()

    for validated in (True, False):
        extra = ["--scale", str(SCALE)] + ([] if validated else ["--no-validate-responses"])
        with Server(source, extra) as server:
            server.wait_ready()
            client = Client(server.port)
            # The first of each read after boot (an index may be built on first use).
            first = {operation: client.get(path)[0] * 1000 for operation, path in FIRST_READS.items()}
            figures = time_reads(client, read_variants(client), args.requests)
            rss, peak = server.memory_mb()
        title = "responses validated" if validated else "--no-validate-responses"
        print(f"\nreads at --scale {SCALE}, {args.requests} each ({title}; server RSS {rss:.0f} MB, peak {peak:.0f} MB)")
        print(f"{'operation':<14} {'first ms':>9} {'p50 ms':>8} {'p99 ms':>8} {'goal p50':>9} {'baseline p50/p99':>17}")
        for operation, (p50, p99) in figures.items():
            base = BASELINE[operation] if validated else (None, None)
            print(f"{operation:<14} {first[operation]:>9.1f} {p50:>8.1f} {p99:>8.1f} {GOALS['read_p50_ms']:>8.0f}  "
                  f"{_fmt(base[0], '.0f'):>8}/{_fmt(base[1], '.0f')}")
        sys.stdout.flush()

    if args.stages:
        print(f"\n{'in process':<14} {'logs':>7} {'import s':>9} {'world s':>8} {'app s':>6} {'max RSS MB':>11}")
        for scale in (None, SCALE):
            s = stages(source, scale)
            print(f"{'scale ' + str(scale or 'default'):<14} {s['logs']:>7} {s['import_s']:>9.2f} {s['world_s']:>8.2f} "
                  f"{s['app_s']:>6.2f} {s['max_rss_mb']:>11.0f}")


if __name__ == "__main__":
    main()
