"""How long a full default contract run takes against the embedded mock, with and without xdist.

    python benchmarks/contracts_time.py                 # workers 1 and 2, default settings
    python benchmarks/contracts_time.py --workers 1 2 4 --max-examples 100 --seed 1

Each run is `modelux-contracts run` (all schemathesis phases, all domain rules, the default 100
examples per operation) in a fresh process, against the mock the suite embeds. The budget
is under 10 minutes on 2 cores; the script says whether each run met it and exits 1 if one did not
(or if a run was not conformant).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_SECONDS = 600
ROOT = Path(__file__).resolve().parent.parent


def run_once(workers: int, max_examples: int | None, seed: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "verdict.json"
        cmd = [sys.executable, "-m", "contracts.cli", "run", "-q", "--workers", str(workers), "--report", str(report)]
        if max_examples:
            cmd += ["--max-examples", str(max_examples)]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        started = time.monotonic()
        result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        elapsed = time.monotonic() - started
        verdict = json.loads(report.read_text()) if report.exists() else {}
    tail = [line for line in result.stdout.splitlines() if line.startswith("Verdict:")]
    return {"workers": workers, "seconds": round(elapsed, 1), "exit": result.returncode,
            "verdict": tail[-1] if tail else result.stdout[-500:],
            "requests": sum(sum(v.values()) for v in verdict.get("statuses", {}).values())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--max-examples", type=int, default=None, help="default: the suite's default (100)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"contract suite, full default run against the embedded mock ({os.cpu_count()} CPUs visible)")
    worst = 0
    for workers in args.workers:
        outcome = run_once(workers, args.max_examples, args.seed)
        ok = outcome["exit"] == 0 and outcome["seconds"] < BUDGET_SECONDS
        worst = max(worst, 0 if ok else 1)
        print(f"  workers={workers}: {outcome['seconds']:7.1f}s  {outcome['requests']:6d} answers  exit {outcome['exit']}  "
              f"{'within' if outcome['seconds'] < BUDGET_SECONDS else 'OVER'} the {BUDGET_SECONDS // 60}-minute budget")
        print(f"             {outcome['verdict']}")
    return worst


if __name__ == "__main__":
    sys.exit(main())
