"""A long fuzz of the mock: schemathesis, every phase, valid and invalid data, until at least N requests.

    .venv/bin/python benchmarks/fuzz.py                    # at least 20,000 requests (a few minutes)
    .venv/bin/python benchmarks/fuzz.py --requests 5000 --seed 3

The seeded mock runs in this process behind a counter (every request's status, whatever sent it);
`schemathesis run` (all phases, `--mode all`, this repository's schemathesis.toml) is pointed at it
again and again, a new seed each round, until the counter passes the target or the deadline does.
Prints the number of requests, the status histogram, the 5xx answers (method, path, status, body)
and schemathesis' own verdict per round. Exits 1 on any 5xx. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "mlx_mgmt_fuzz_benchmark_0123456789"


class Counter:
    """WSGI middleware that counts every answer's status and keeps the first few 5xx."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.statuses: collections.Counter[int] = collections.Counter()
        self.server_errors: list[str] = []

    def __call__(self, environ, start_response):
        def recording_start(status, headers, exc_info=None):
            code = int(status.split()[0])
            with self.lock:
                self.statuses[code] += 1
                if code >= 500 and len(self.server_errors) < 20:
                    self.server_errors.append(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO')}"
                                              f"?{environ.get('QUERY_STRING', '')} -> {status}")
            return start_response(status, headers, exc_info)

        return self.app(environ, recording_start)

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.statuses.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000, help="stop once this many requests were answered")
    parser.add_argument("--max-examples", type=int, default=60, help="schemathesis examples per operation and round")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=1800, help="seconds before giving up (default 30 min)")
    args = parser.parse_args()

    from fixtures.loader import load_world
    from mockserver.app import create_app
    from mockserver.services import MockConfig, Services
    from mockserver.testing import serve_in_thread

    config = MockConfig(token=TOKEN, seed=args.seed, world_seed=args.seed, webhook_backoff=0.2, webhook_timeout=1.0)
    world, org, token = load_world(config)
    services = Services.build(config, world=world, org=org, token=token)
    counter = Counter(create_app(config, services))
    started = time.monotonic()
    rounds = []
    with serve_in_thread(counter) as url:
        seed = args.seed
        while counter.total < args.requests and time.monotonic() - started < args.deadline:
            before = counter.total
            remaining = max(60.0, args.deadline - (time.monotonic() - started))
            done = subprocess.run(
                [str(Path(sys.executable).with_name("schemathesis")), "run", f"{url}/openapi.json",
                 "-H", f"Authorization: Bearer {TOKEN}", "--mode", "all", "--max-examples", str(args.max_examples),
                 "--seed", str(seed), "--workers", "2", "--no-color"],
                cwd=ROOT, capture_output=True, text=True, timeout=remaining, env={**os.environ, "NO_COLOR": "1"})
            summary = [line for line in done.stdout.splitlines() if line.strip().startswith(("=", "No issues", "Failures"))
                       or "passed" in line or "failed" in line][-3:]
            rounds.append((seed, counter.total - before, done.returncode, " | ".join(s.strip() for s in summary)))
            if done.returncode != 0:  # schemathesis' ERRORS and FAILURES sections, as it printed them
                marks = [done.stdout.find(m) for m in ("ERRORS", "FAILURES") if m in done.stdout]
                print(done.stdout[min(marks) if marks else 0:][-8000:], flush=True)
            print(f"round seed={seed}: {counter.total - before} requests, schemathesis exit {done.returncode}",
                  flush=True)
            seed += 1
    services.stop()

    elapsed = time.monotonic() - started
    print(f"\n{counter.total} requests in {elapsed:.0f} s over {len(rounds)} schemathesis round(s) "
          f"(target {args.requests})")
    print("status histogram:")
    for status, count in sorted(counter.statuses.items()):
        print(f"  {status}: {count}")
    errors = sum(count for status, count in counter.statuses.items() if status >= 500)
    print(f"5xx answers: {errors}")
    for line in counter.server_errors:
        print(f"  {line}")
    for seed, count, code, summary in rounds:
        print(f"  schemathesis seed {seed}: {count} requests, exit {code}: {summary}")
    return 1 if errors or counter.total < args.requests else 0


if __name__ == "__main__":
    sys.exit(main())
