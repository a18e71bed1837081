"""Spec coverage of a run: which operations, documented status codes and parameters its exchanges exercised.

An operation is exercised when it answered at all; a documented status when some answer had it (`2XX`-style ranges
count any status of the range); a parameter (path, query or header, as the spec declares it) when some request sent
it. Counted from what every exchange of the run observed (`Observations.statuses`, `Recorder.parameters`), per
operation and in total; the total percentage is exercised items over documented items of the three kinds together.
"""

from __future__ import annotations

import functools
from typing import Any

from modelux_spec import operations

from .specs import load_spec

KINDS = ("operations", "statuses", "parameters")


def _resolve(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = target
    return node


@functools.lru_cache(maxsize=2)
def documented(strict_spec: bool = False) -> dict[str, dict[str, list[str]]]:
    """label -> {"statuses": [...], "parameters": ["query:limit", …]} of the spec the run judges by."""
    spec = load_spec(strict_spec)
    table: dict[str, dict[str, list[str]]] = {}
    for path, method, op in operations(spec):
        shared = (spec.get("paths", {}).get(path) or {}).get("parameters") or []
        params = set()
        for param in [*shared, *(op.get("parameters") or [])]:
            param = _resolve(spec, param)
            if isinstance(param, dict) and param.get("in") in ("path", "query", "header") and param.get("name"):
                name = param["name"].lower() if param["in"] == "header" else param["name"]
                if name != "authorization":
                    params.add(f"{param['in']}:{name}")
        table[f"{method.upper()} {path}"] = {"statuses": sorted(str(s) for s in op.get("responses", {})),
                                             "parameters": sorted(params)}
    return table


def _status_hit(documented_status: str, seen: set[str]) -> bool:
    if documented_status.upper().endswith("XX"):
        return any(s.startswith(documented_status[0]) for s in seen)
    return documented_status in seen


def compute(statuses: dict[str, dict[str, int]], parameters: dict[str, list[str]], strict_spec: bool = False
            ) -> dict[str, Any]:
    """The coverage report: per operation and in total."""
    per_operation: dict[str, Any] = {}
    totals = {kind: [0, 0] for kind in KINDS}  # kind -> [exercised, documented]
    for label, doc in sorted(documented(strict_spec).items()):
        seen = {str(s) for s in (statuses.get(label) or {})}
        sent = set(parameters.get(label) or [])
        hit_statuses = [s for s in doc["statuses"] if _status_hit(s, seen)]
        hit_params = [p for p in doc["parameters"] if p in sent]
        per_operation[label] = {
            "exercised": bool(seen),
            "statuses": {"documented": doc["statuses"], "exercised": hit_statuses,
                         "missing": [s for s in doc["statuses"] if s not in hit_statuses]},
            "parameters": {"documented": doc["parameters"], "exercised": hit_params,
                           "missing": [p for p in doc["parameters"] if p not in hit_params]},
        }
        for kind, hit, of in (("operations", int(bool(seen)), 1), ("statuses", len(hit_statuses), len(doc["statuses"])),
                              ("parameters", len(hit_params), len(doc["parameters"]))):
            totals[kind][0] += hit
            totals[kind][1] += of
    exercised = sum(t[0] for t in totals.values())
    of = sum(t[1] for t in totals.values())
    return {
        "total": {kind: {"exercised": t[0], "documented": t[1], "percent": _pct(t[0], t[1])}
                  for kind, t in totals.items()},
        "percent": _pct(exercised, of),
        "operations": per_operation,
    }


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 100.0


def summary_lines(report: dict[str, Any], minimum: float | None = None) -> list[str]:
    total = report["total"]
    parts = ", ".join(f"{kind} {total[kind]['exercised']}/{total[kind]['documented']} ({total[kind]['percent']:g}%)"
                      for kind in KINDS)
    lines = ["", f"Spec coverage: {report['percent']:g}% — {parts}"]
    if minimum is not None:
        met = report["percent"] >= minimum
        lines.append(f"  --min-coverage {minimum:g}%: {'met' if met else 'NOT MET — the run fails'}")
    return lines
