"""The benchmark scripts that are quick enough to run here still run, on a tiny workload, and print their
tables: a script broken by a change elsewhere is found by the suite, not by whoever next needs its
figures. Their figures are not judged (tests never assert timings); what they count is."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                            timeout=180, cwd=BENCHMARKS.parent)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def test_validation_prints_each_variant_and_its_ratios():
    out = run("validation.py", "--requests", "8", "--repeat", "1")
    rows = {m.group(1): m.groups()[1:] for m in re.finditer(r"^(\S+)\s+(\d+)\s+([\d.]+)x\s+([\d.]+)x$", out, re.M)}
    assert set(rows) == {"validated", "requests-only", "handler-only"}, out
    assert rows["validated"][2] == "1.00"  # each variant against the validated one
    assert max(float(r[1]) for r in rows.values()) == 1.0  # and against the fastest


def test_load_counts_its_requests_and_finds_no_lost_update():
    out = run("load.py", "--seconds", "2", "--clients", "2")
    sent, answered = map(int, re.search(r"(\d+) requests sent, (\d+) answered", out).groups())
    assert sent == answered > 0, out
    assert "lost updates: 0" in out and "5xx: 0" in out and "SIGTERM: exit 0" in out, out
