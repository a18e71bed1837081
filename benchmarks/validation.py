"""What validation costs: requests per second with and without response validation.

Prints each variant's throughput and its ratio to the fastest, side by side. Variants:
  validated      request + response validated against the effective spec (the default)
  requests-only  request validated, response validation off (--no-validate-responses)
  handler-only   the handler called directly with pre-parsed input (no HTTP, no validation)
In process (Flask's test client), so it isolates what validation costs; benchmarks/serving.py measures
the same over real HTTP against Prism. Run: .venv/bin/python benchmarks/validation.py [--requests N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from mockserver.app import create_app
from mockserver.handlers import load_handlers
from mockserver.registry import Call
from mockserver.services import MockConfig, Services
from mockserver.domain.world import Actor

TOKEN = "mlx_mgmt_bench"
API = "/api/manage/v1"


def workload(client, n: int) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for i in range(n):
        if i % 4 == 0:
            client.post(f"{API}/projects", json={"name": f"Bench {i}"}, headers=headers)
        elif i % 4 == 1:
            client.get(f"{API}/projects", headers=headers)
        elif i % 4 == 2:
            client.get(f"{API}/audit-logs", query_string={"limit": 20}, headers=headers)
        else:
            client.get(f"{API}/webhooks/event-types")


def run_app(n: int, validate: bool) -> float:
    config = MockConfig(token=TOKEN, seed=1, start_workers=False, validate_responses=validate)
    services = Services.build(config)
    app = create_app(config, services)
    client = app.test_client()
    start = time.perf_counter()
    workload(client, n)
    return n / (time.perf_counter() - start)


def run_handlers(n: int) -> float:
    config = MockConfig(token=TOKEN, seed=1, start_workers=False)
    services = Services.build(config)
    handlers = load_handlers()
    actor = Actor(id=next(iter(services.org.management_keys)))

    def call(op: str, body=None, query=None):
        with services.world.lock:
            return handlers[op](Call(world=services.world, org=services.org, actor=actor, body=body,
                                     query=query or {}, runtime=services))

    start = time.perf_counter()
    for i in range(n):
        if i % 4 == 0:
            call("createProject", {"name": f"Bench {i}"})
        elif i % 4 == 1:
            call("listProjects")
        elif i % 4 == 2:
            call("listAuditLogs", query={"limit": 20})
        else:
            call("listWebhookEventTypes")
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = {
        "validated": statistics.median(run_app(args.requests, True) for _ in range(args.repeat)),
        "requests-only": statistics.median(run_app(args.requests, False) for _ in range(args.repeat)),
        "handler-only": statistics.median(run_handlers(args.requests) for _ in range(args.repeat)),
    }
    fastest = max(results.values())
    print(f"{args.requests} requests x {args.repeat} runs (median), Flask test client")
    print(f"{'variant':<15}{'req/s':>10}{'vs fastest':>12}{'vs validated':>14}")
    for name, rate in results.items():
        print(f"{name:<15}{rate:>10.0f}{rate / fastest:>11.2f}x{rate / results['validated']:>13.2f}x")


if __name__ == "__main__":
    main()
