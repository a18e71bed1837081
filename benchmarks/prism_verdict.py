"""The contract suite's verdict on Prism 5.16 serving `spec/openapi.yaml` at its root.

    python benchmarks/prism_verdict.py                  # summary: verdict, failed rules and why, what did not fail
    python benchmarks/prism_verdict.py --full           # the suite's whole verdict as it printed it
    python benchmarks/prism_verdict.py --max-examples 5 --seed 1

Prism answers every request from the spec's examples and stores nothing, so a fair judge must find it NOT
CONFORMANT for the reasons a reader expects — any token accepted, data that does not persist, filters ignored —
and must not let a rule pass merely because Prism's data is uniform (one example log satisfies every filter).
Prism is installed with npm into a cache folder on first use (`benchmarks/peers.py`); without node and npm the
script says so and exits 2. The run is `modelux-contracts run --base-url <prism> --api-at-root`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.peers import serve_prism  # noqa: E402


def judge_prism(max_examples: int, seed: int, extra: list[str]) -> tuple[subprocess.CompletedProcess, dict, float]:
    with serve_prism() as url, tempfile.TemporaryDirectory() as tmp:
        if url is None:
            print("Prism is not available here (needs node and npm, see benchmarks/peers.py)")
            sys.exit(2)
        report = Path(tmp) / "verdict.json"
        cmd = [sys.executable, "-m", "contracts.cli", "run", "-q", "--base-url", url, "--api-at-root",
               "--token", "mlx_mgmt_" + "1" * 40, "--other-token", "mlx_mgmt_" + "2" * 40,
               "--max-examples", str(max_examples), "--seed", str(seed), "--webhook-wait", "3",
               "--report", str(report), *extra]
        started = time.monotonic()
        result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        elapsed = time.monotonic() - started
        verdict = json.loads(report.read_text()) if report.exists() else {}
    return result, verdict, elapsed


def summary(result: subprocess.CompletedProcess, verdict: dict, elapsed: float) -> list[str]:
    rows = verdict.get("results", [])
    lines = [f"Prism 5.16 (spec/openapi.yaml at its root), judged in {elapsed:.0f}s, exit {result.returncode}"]
    lines += [line for line in result.stdout.splitlines() if line.startswith("Verdict:")][-1:]
    operations = [r for r in rows if r["kind"] == "conformance"]
    failed_ops = [r for r in operations if r["outcome"] == "failed"]
    lines.append(f"Conformance: {len(failed_ops)} of {len(operations)} operations failed")
    checks: dict[str, int] = {}
    for row in failed_ops:
        for detail in row["details"]:
            checks[detail[:90]] = checks.get(detail[:90], 0) + 1
    lines += [f"  x{count:<3} {detail}" for detail, count in sorted(checks.items(), key=lambda kv: -kv[1])[:15]]
    for kind in ("stateful",):
        for row in (r for r in rows if r["kind"] == kind):
            lines.append(f"Stateful: {row['outcome'].upper()}" + (f" — {row['details'][0][:150]}" if row["details"]
                                                                   else ""))
    rules = [r for r in rows if r["kind"] in ("rule", "webhook", "model")]
    lines.append("Domain rules:")
    for outcome in ("failed", "skipped", "passed"):
        chosen = sorted((r for r in rules if r["outcome"] == outcome), key=lambda r: r["key"])
        lines.append(f"  {outcome.upper()} ({len(chosen)})")
        for row in chosen:
            why = row["details"][0][:170] if row["details"] and outcome != "passed" else row["title"]
            lines.append(f"    {row['key']:28} {why}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--full", action="store_true", help="print the suite's own verdict in full")
    parser.add_argument("extra", nargs="*", help="more `modelux-contracts run` options (after --)")
    args = parser.parse_args()
    result, verdict, elapsed = judge_prism(args.max_examples, args.seed, args.extra)
    if args.full:
        print(result.stdout[result.stdout.find("=" * 24):])
    print("\n".join(summary(result, verdict, elapsed)))
    return 0 if result.returncode == 1 and verdict.get("conformant") is False else 1


if __name__ == "__main__":
    sys.exit(main())
