"""The verdict of a run: per operation, per rule, spec gaps, coverage, cleanup, suite errors — and its exit status.

Exit statuses of a run (`modelux-contracts run`, and a pytest session of the suite):
0 conformant; 1 not conformant (a violation, or a token the target rejects); 2 usage or configuration error;
3 suite error: a rule of the suite crashed (a bug in modelux-contracts, not in the target) and nothing judged
failed. Violations win over suite errors: a run with both exits 1, and lists both. 124 incomplete: the run's deadline
(`--max-time`) kept tests from being judged, and nothing judged failed or crashed (124, as `timeout(1)` exits).
"""

from __future__ import annotations

from typing import Any

from .observations import Observations
from .oracles import ORACLES
from .pacing import is_deadline_reason
from .ruleset import RULES
from .settings import RunSettings
from .specs import api_label_map, gap_table

EXIT_CONFORMANT, EXIT_VIOLATIONS, EXIT_USAGE, EXIT_SUITE_ERROR = 0, 1, 2, 3
EXIT_INCOMPLETE = 124
SUITE_ERROR = "suite error (a bug in modelux-contracts, not in the target)"
MARK = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "SKIP", "suite_error": "BUG"}


def _rows(results: dict[str, dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return sorted((r for r in results.values() if r["kind"] in kinds), key=lambda r: r["key"])


def failures(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """What the target failed (checks and rules that failed, errors setting them up)."""
    return [r for r in results.values() if r["outcome"] in ("failed", "error")]


def suite_errors(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rules whose own code crashed: bugs of the suite, not judged, never blamed on the target."""
    return [r for r in results.values() if r["outcome"] == "suite_error"]


def not_judged(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """What the run's deadline kept from being judged: not run, or stopped before it finished."""
    return [r for r in results.values() if r["outcome"] == "skipped" and r["details"]
            and is_deadline_reason(r["details"][0])]


def _detail_lines(row: dict[str, Any]) -> list[str]:
    """What a row that did not pass says (the deadline's are listed once, in their own section)."""
    if row["outcome"] == "passed" or row in not_judged({"": row}):
        return []
    return [f"          - {d}" for d in row["details"]]


def _deadline_lines(settings: RunSettings, results: dict[str, dict[str, Any]]) -> list[str]:
    late = sorted(not_judged(results), key=lambda r: r["key"])
    if not late:
        return []
    stopped = [r["key"] for r in late if r["details"][0].startswith("not finished")]
    lines = ["", f"Deadline — --max-time {settings.max_time:g} s reached: {len(late)} of {len(results)} not judged "
                 f"({len(stopped)} stopped before finishing, {len(late) - len(stopped)} not run):"]
    return lines + ["  " + ", ".join(r["key"] for r in late[:40]) + (" …" if len(late) > 40 else "")]


def render_summary(settings: RunSettings, results: dict[str, dict[str, Any]], observed: Observations,
                   elapsed: float) -> list[str]:
    lines = ["", "=" * 24 + " Modelux contract verdict " + "=" * 24]
    where = " (embedded mock)" if settings.embedded else ""
    lines.append(f"Target   {settings.api_url}{where}")
    spec = "pristine upstream spec (--strict-spec)" if settings.strict_spec else "effective spec (upstream + errata)"
    lines.append(f"Judged   against the {spec}; profile {settings.profile}"
                 f"{'; STAGING mode' if settings.staging else ''}"
                 f"{f'; paced {settings.rate_per_min:.0f}/min' if settings.rate_per_min else ''}"
                 f"; seed {settings.seed}; {observed.requests} answers observed in {elapsed:.0f}s")

    conformance = _rows(results, "conformance")
    if conformance:
        phases = ", ".join(p for p in settings.phases if p != "stateful")
        lines += ["", f"Conformance per operation (schemathesis {phases}; max {settings.max_examples} examples):"]
        for row in conformance:
            lines.append(f"  {MARK[row['outcome']]:5} {row['title']:28} {row['key']}")
            lines += _detail_lines(row)
    for row in _rows(results, "stateful"):
        lines += ["", f"Stateful (links between operations): {MARK[row['outcome']]}"]
        lines += _detail_lines(row)
    if observed.oracles:
        judged = ", ".join(f"{code} {observed.oracles.get(code, 0)}" for code in ORACLES
                           if settings.strict or not ORACLES[code].strict_only)
        lines += ["", f"Generic oracles, exchanges of the phases judged: {judged}"]

    rule_rows = _rows(results, "rule", "webhook", "model")
    if rule_rows:
        lines += ["", "Domain rules:"]
        for row in rule_rows:
            rule = RULES.get(row["key"])
            source = f"[{rule.source}]" if rule else "[model]"
            lines.append(f"  {MARK[row['outcome']]:5} {row['key']:30} {source:7} {row['title']}")
            if row["outcome"] != "suite_error":
                lines += _detail_lines(row)

    gaps = sorted(observed.gaps.values(), key=lambda g: (g["operation"], g["status"]))
    if gaps:
        treatment = "FAILURES under --strict-spec" if settings.strict_spec else "not failures (use --strict-spec)"
        lines += ["", f"Spec gaps — answers only the errata document, {treatment}:"]
        for gap in gaps:
            lines.append(f"  {gap['operation']:44} {gap['status']}  x{gap['count']:<5} {gap['erratum']}: "
                         f"{gap['summary'][:70]}")

    never = _never_succeeded(settings, observed, results)
    if never:
        lines += ["", "Operations that never answered 2xx in this run (coverage note, not a verdict):",
                  "  " + ", ".join(never)]

    if settings.staging or observed.left:
        lines += ["", f"Cleanup: {observed.created} created, {observed.cleaned} removed, {len(observed.left)} left"]
        for item in observed.left:
            lines.append(f"  LEFT  {item['kind']} {item['id']}: {item['reason'][:160]}")
    lines += observed.notes and ["", *[f"note: {n}" for n in observed.notes]] or []

    lines += _deadline_lines(settings, results)
    crashed = suite_errors(results)
    if crashed:
        lines += ["", f"Suite errors — {SUITE_ERROR}; these rules were not judged, please report them:"]
        for row in sorted(crashed, key=lambda r: r["key"]):
            lines.append(f"  BUG   {row['key']:30} {row.get('error', '')}")

    failed = failures(results)
    counted = len(results)
    lines.append("")
    errors = f"; and {len(crashed)} {SUITE_ERROR}" if crashed else ""
    late = not_judged(results)
    if late:
        errors += f"; the deadline (--max-time {settings.max_time:g} s) left {len(late)} not judged"
    if failed:
        codes = sorted({d.split(" ")[0].rstrip(":") for r in failed for d in r["details"] if d.startswith("MX-")})
        lines.append(f"Verdict: NOT CONFORMANT — {len(failed)} of {counted} checks failed"
                     + (f"; rules broken: {', '.join(codes)}" if codes else "")
                     + f" (reproduce with --seed {settings.seed}){errors}")
    elif crashed:
        lines.append(f"Verdict: UNDECIDED — no check failed, but {len(crashed)} of {counted} could not be judged: "
                     f"{SUITE_ERROR}: {', '.join(sorted(r['key'] for r in crashed))}")
    elif late:
        lines.append(f"Verdict: INCOMPLETE — the deadline (--max-time {settings.max_time:g} s) was reached: "
                     f"{len(late)} of {counted} not judged; nothing judged failed")
    else:
        lines.append(f"Verdict: CONFORMANT — {counted} check{'' if counted == 1 else 's'}, no failures")
    return lines


def _never_succeeded(settings: RunSettings, observed: Observations, results: dict[str, dict[str, Any]]) -> list[str]:
    labels = api_label_map()
    covered = sum(1 for r in results.values() if r["kind"] == "conformance")
    if settings.rules_only or covered < len(labels) - 1 or not_judged(results):  # a partial run: no coverage note
        return []
    never = []
    for op_id, label in sorted(labels.items(), key=lambda kv: kv[1]):
        counts = observed.statuses.get(label, {})
        if not any(str(s).startswith("2") for s in counts):
            never.append(f"{label}" + (" (never fuzzed)" if op_id == "deleteOrg" else ""))
    return never


def verdict_json(settings: RunSettings, results: dict[str, dict[str, Any]], observed: Observations) -> dict[str, Any]:
    return {
        "target": settings.api_url,
        "embedded": settings.embedded,
        "spec": "pristine" if settings.strict_spec else "effective",
        "profile": settings.profile,
        "staging": settings.staging,
        "conformant": not failures(results) and not suite_errors(results) and not not_judged(results),
        "deadline": {"max_time": settings.max_time, "not_judged": sorted(r["key"] for r in not_judged(results))},
        "suite_errors": [{"rule": r["key"], "error": r.get("error", "")} for r in suite_errors(results)],
        "results": sorted(results.values(), key=lambda r: (r["kind"], r["key"])),
        "spec_gaps": sorted(observed.gaps.values(), key=lambda g: (g["operation"], g["status"])),
        "statuses": {k: dict(v) for k, v in observed.statuses.items()},
        "oracles_judged": dict(observed.oracles),
        "cleanup": {"created": observed.created, "cleaned": observed.cleaned, "left": observed.left},
        "known_gap_table": sorted(f"{op} {status} {gap.erratum}" for (op, status), gap in gap_table().items()),
    }
