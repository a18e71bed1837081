"""Known failures: a baseline file lets a team adopt the gate on a backend that already breaks some rules.

The file lists failures by their stable fingerprint (`rule or check | operation | status`, never ids or timestamps;
`contracts.repro.fingerprint`). Against it a run's failures are *new* (not listed: they fail the run), *known*
(listed: reported, not failing) or, for listed ones this run judged and did not see, *fixed* (remove them from the
file: `--baseline-update` rewrites it with this run's failures).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

FORMAT = 1
FIELDS = ("fingerprint", "id", "check", "operation", "status", "key", "detail")


def load(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a baseline file (none when it does not exist yet)."""
    file = Path(path)
    if not file.exists():
        return []
    data = json.loads(file.read_text())
    entries = data.get("failures", []) if isinstance(data, dict) else data
    return [entry for entry in entries if isinstance(entry, dict) and entry.get("fingerprint")]


def write(path: str | Path, failures: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    entries = sorted({f["fingerprint"]: {k: f.get(k) for k in FIELDS} for f in failures}.values(),
                     key=lambda e: e["fingerprint"])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"format": FORMAT, "failures": entries}, indent=1) + "\n")
    return entries


def classify(failures: list[dict[str, Any]], entries: list[dict[str, Any]], judged: set[str]) -> dict[str, list]:
    """new / known failures of this run, and baseline entries that were `judged` (their test key ran) and did not
    fail: fixed."""
    listed = {e["fingerprint"] for e in entries}
    seen = {f["fingerprint"] for f in failures}
    return {
        "new": [f for f in failures if f["fingerprint"] not in listed],
        "known": [f for f in failures if f["fingerprint"] in listed],
        "fixed": [e for e in entries if e["fingerprint"] not in seen and e.get("key") in judged],
    }


def summary_lines(path: str, verdict: dict[str, list]) -> list[str]:
    new, known, fixed = verdict["new"], verdict["known"], verdict["fixed"]
    lines = ["", f"Baseline {path}: {len(new)} new, {len(known)} known, {len(fixed)} fixed"]
    lines += [f"  NEW    {f['id']}  {f['fingerprint']}" for f in new]
    lines += [f"  KNOWN  {f['id']}  {f['fingerprint']}" for f in known]
    lines += [f"  FIXED  {e['id']}  {e['fingerprint']} (remove it: --baseline-update)" for e in fixed]
    return lines
