"""Serving speed: the validated mock side by side with Prism 5.16 and with itself unvalidated.

    .venv/bin/python benchmarks/serving.py                     # 8 connections, 2 rounds of 6 s
    .venv/bin/python benchmarks/serving.py --duration 10 --rounds 3 --connections 16

One run, one machine, one load generator (wrk, from Debian's `wrk` package), three targets:
  mock            `modelux-mock serve` (seeded world), every request and response validated
  mock-unchecked  the same server with validation off, requests and responses (`--no-validate`)
  prism           `prism mock spec/openapi.yaml` (Prism 5.16, installed with npm into a cache
                  folder on first use; without node/npm the script says so and leaves it out)
and three scenarios: GET /projects (a list), GET /projects/{id} (one), POST /projects (create).
Rounds interleave the targets, so drift on the machine touches each alike; the reported figure is
the median round. Prints req/s, p50 and p99 latency and non-2xx answers per target and scenario,
then the ratios the goals are stated in: mock vs prism (goal >= 3x) and mock vs mock-unchecked
(goal >= 0.7x), with the goal p99 < 20 ms. Not part of the test suite; tests never assert timings.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import free_port, serve_prism, wait_until_up  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "mlx_mgmt_serving_benchmark"
MOCK = [sys.executable, "-m", "mockserver.cli", "serve", "--token", TOKEN, "--seed", "1",
        "--anchor", "2026-11-01T00:00:00Z"]
POST_SCRIPT = """
-- Requests are formatted once, up front: building one per call would load the load generator itself.
local requests = {}
local count = 20000
local n = 0
init = function(args)
  for i = 1, count do
    local body = '{"name":"Benchmark project ' .. i .. '"}'
    requests[i] = wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %s"}, body)
  end
end
request = function()
  n = n %% count + 1
  return requests[n]
end
"""


@contextmanager
def serve_mock(*extra: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([*MOCK, "--port", str(port), *extra], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_up(base + "/openapi.json"):
            raise RuntimeError(f"the mock did not start: {process.stderr.read().decode()[-2000:]}")
        yield base + "/api/manage/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def wrk(url: str, *, seconds: float, connections: int, script: Path | None) -> dict:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {TOKEN}"]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {p: _ms(re.search(rf"^\s+{p}%\s+(\S+)", out, re.M).group(1)) for p in ("50", "99")}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rate, "p50": latency["50"], "p99": latency["99"], "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(1) if errors else ""}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def first_project(api: str) -> str:
    data = httpx.get(api + "/projects", headers={"Authorization": f"Bearer {TOKEN}"}).json()["data"]
    return data[0]["id"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=6, help="seconds per round (default 6)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--no-prism", action="store_true", help="leave Prism out")
    parser.add_argument("--threads", type=int, help="the mock's --threads (default: its own default)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: `apt-get install wrk` (Debian's package), then run this again.")
        return 2

    with ExitStack() as stack:
        threads = ("--threads", str(args.threads)) if args.threads else ()
        targets = {"mock": stack.enter_context(serve_mock(*threads)),
                   "mock-unchecked": stack.enter_context(serve_mock("--no-validate", *threads))}
        prism = None if args.no_prism else stack.enter_context(serve_prism())
        if prism is None:
            print("Prism 5.16 is not available (needs node and npm); comparing the mock with itself unvalidated.")
        else:
            targets["prism"] = prism
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        post = tmp / "post.lua"
        post.write_text(POST_SCRIPT % TOKEN)
        scenarios = {
            "GET /projects": lambda api: (api + "/projects", None),
            "GET /projects/{id}": lambda api: (api + "/projects/" + first_project(api), None),
            "POST /projects": lambda api: (api + "/projects", post),
        }
        results: dict[tuple[str, str], list[dict]] = {}
        for scenario, make in scenarios.items():  # every GET round runs before the first POST
            urls = {name: make(api) for name, api in targets.items()}
            for _ in range(args.rounds):
                for name, (url, script) in urls.items():
                    results.setdefault((scenario, name), []).append(
                        wrk(url, seconds=args.duration, connections=args.connections, script=script))

    print(f"\n{args.connections} connections, {args.rounds} rounds of {args.duration} s (median round), "
          f"{os.cpu_count()} cores, wrk -t2")
    print(f"{'scenario':<20}{'target':<16}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    summary = {}
    for (scenario, name), rounds in results.items():
        median = sorted(rounds, key=lambda r: r["rps"])[len(rounds) // 2]
        summary[(scenario, name)] = median
        print(f"{scenario:<20}{name:<16}{median['rps']:>9.0f}{median['p50']:>9.2f}{median['p99']:>9.2f}"
              f"{sum(r['non2xx'] for r in rounds):>9}" + (f"  socket errors: {median['socket_errors']}"
                                                          if median["socket_errors"] else ""))
    print("\nratios (goal: mock >= 3x prism, mock >= 0.7x mock-unchecked, mock p99 < 20 ms, 0 non-2xx)")
    verdicts = []
    for scenario in scenarios:
        mock = summary[(scenario, "mock")]
        line = f"{scenario:<20}"
        checks = [mock["p99"] < 20, sum(r["non2xx"] for r in results[(scenario, "mock")]) == 0]
        if (scenario, "prism") in summary:
            ratio = mock["rps"] / summary[(scenario, "prism")]["rps"]
            line += f"vs prism {ratio:5.2f}x   "
            checks.append(ratio >= 3)
        unchecked = mock["rps"] / summary[(scenario, "mock-unchecked")]["rps"]
        checks.append(unchecked >= 0.7)
        line += f"vs unchecked {unchecked:5.2f}x   p99 {mock['p99']:.1f} ms   " + ("met" if all(checks) else "NOT MET")
        verdicts.append(all(checks))
        print(line)
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
