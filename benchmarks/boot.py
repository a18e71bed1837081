"""How long a seeded world takes to boot, and how much memory it holds.

    .venv/bin/python benchmarks/boot.py                  # default world and --scale 100000
    .venv/bin/python benchmarks/boot.py --scale 2500 --scale 20000 --repeat 3

Each measurement runs in a fresh interpreter (imports included, nothing cached), so "boot"
is what `modelux-mock serve --seed N` pays before it listens: importing the mock, generating
the world, attaching the engines and building the app. Memory is measured in a second run
under tracemalloc (which slows Python down, so its time is not reported): the peak of
Python allocations while booting, plus the process's maximum resident set size.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def boot_once(seed: int, scale: int | None, anchor: str | None, trace_memory: bool) -> dict:
    """Boot in this process; the timings and memory of each stage."""
    import tracemalloc

    if trace_memory:
        tracemalloc.start()
    started = time.perf_counter()
    from fixtures.loader import load_world
    from mockserver.app import create_app
    from mockserver.services import MockConfig, Services

    imported = time.perf_counter()
    config = MockConfig(world_seed=seed, seed=seed, scale=scale, anchor=anchor, start_workers=False)
    world, org, token = load_world(config)
    generated = time.perf_counter()
    services = Services.build(config, world=world, org=org, token=token)
    create_app(config, services)
    ready = time.perf_counter()
    result = {
        "scale": scale,
        "logs": len(org.logs),
        "import_s": round(imported - started, 3),
        "world_s": round(generated - imported, 3),
        "app_s": round(ready - generated, 3),
        "boot_s": round(ready - started, 3),
    }
    if trace_memory:
        result["peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
    result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def in_child(seed: int, scale: int | None, anchor: str | None, trace_memory: bool) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--child", "--seed", str(seed)]
    if scale is not None:
        command += ["--scale", str(scale)]
    if anchor:
        command += ["--anchor", anchor]
    if trace_memory:
        command.append("--trace-memory")
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=int, action="append",
                        help="requests to seed; repeatable (default: the default world and 100000)")
    parser.add_argument("--anchor", help="anchor time (ISO 8601; default: the current UTC hour)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per scale; the best is reported")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trace-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, ROOT)
        scale = args.scale[0] if args.scale else None
        print(json.dumps(boot_once(args.seed, scale, args.anchor, args.trace_memory)))
        return
    scales = args.scale or [None, 100_000]
    print(f"{'requests':>9} {'import s':>9} {'world s':>8} {'app s':>6} {'boot s':>7} {'peak MB':>8} {'max RSS MB':>11}")
    for scale in scales:
        timed = min((in_child(args.seed, scale, args.anchor, False) for _ in range(max(1, args.repeat))),
                    key=lambda r: r["boot_s"])
        memory = in_child(args.seed, scale, args.anchor, True)
        print(f"{timed['logs']:>9} {timed['import_s']:>9.2f} {timed['world_s']:>8.2f} {timed['app_s']:>6.2f} "
              f"{timed['boot_s']:>7.2f} {memory['peak_mb']:>8.1f} {memory['max_rss_mb']:>11.1f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
