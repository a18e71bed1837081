"""What the reports add to a run's verdict, and the exit status they imply: every failure with its reproduction,
spec coverage (and `--min-coverage`), the baseline's new, known and fixed failures. Shared by a run's session
(`contracts.reporting`) and by `modelux-contracts merge`.
"""

from __future__ import annotations

from typing import Any

from . import baseline as baseline_file
from . import coverage
from .summary import EXIT_CONFORMANT, EXIT_SUITE_ERROR, EXIT_VIOLATIONS, failures, suite_errors

REPLAY_HINT = "modelux-contracts replay ID --report REPORT.json --base-url URL --token KEY"


def gate(settings_strict_spec: bool, results: dict[str, dict[str, Any]], statuses: dict[str, dict[str, int]],
         parameters: dict[str, list[str]], baseline_path: str | None, update: bool, min_coverage: float | None,
         ) -> dict[str, Any]:
    """Everything the reports add to the verdict, and the exit status it implies (None: leave pytest's)."""
    every = [f for entry in results.values() for f in entry.get("failures") or ()]
    extras: dict[str, Any] = {"failures": every,
                              "coverage": coverage.compute(statuses, parameters, settings_strict_spec)}
    failed = bool(failures(results))
    if baseline_path:
        if update:
            baseline_file.write(baseline_path, every)
        judged = {entry["key"] for entry in results.values() if entry["outcome"] in ("passed", "failed", "error")}
        verdict = baseline_file.classify(every, baseline_file.load(baseline_path), judged)
        extras["baseline"] = {"path": baseline_path, "updated": update, **verdict}
        # a failed item with no failure record (a run stopped mid-way) counts as new: it never passes silently
        failed = bool(verdict["new"]) or any(not entry.get("failures") for entry in failures(results))
    below = min_coverage is not None and extras["coverage"]["percent"] < min_coverage
    extras["min_coverage"] = {"minimum": min_coverage, "met": not below} if min_coverage is not None else None
    exit_status = None
    if baseline_path or min_coverage is not None:
        exit_status = (EXIT_VIOLATIONS if failed or below else EXIT_SUITE_ERROR if suite_errors(results)
                       else EXIT_CONFORMANT)
    extras["exit_status"] = exit_status
    return extras


def gate_lines(extras: dict[str, Any], report_path: str | None) -> list[str]:
    """What the reports add to the printed verdict."""
    lines: list[str] = []
    shown = extras["failures"]
    if shown:
        hint = REPLAY_HINT.replace("REPORT.json", report_path or "REPORT.json")
        lines += ["", f"Failures, each with its minimal request sequence (replay one: {hint}):"]
        for failure in shown[:20]:
            lines.append(f"  {failure['id']}  {failure['fingerprint']}")
            lines += [f"      {line}" for line in failure["curl"]] if len(shown) <= 5 else []
        if len(shown) > 20:
            lines.append(f"  … and {len(shown) - 20} more (see the JSON or HTML report)")
    lines += coverage.summary_lines(extras["coverage"], (extras.get("min_coverage") or {}).get("minimum"))
    if extras.get("baseline"):
        lines += baseline_file.summary_lines(extras["baseline"]["path"], extras["baseline"])
    if extras.get("exit_status") is not None:
        new = len(extras["baseline"]["new"]) if extras.get("baseline") else None
        why = []
        if extras.get("baseline"):
            why.append(f"{new} new failure{'' if new == 1 else 's'}")
        else:
            count = len(extras["failures"])
            why.append(f"{count} failure{'' if count == 1 else 's'}")
        if extras.get("min_coverage"):
            why.append(f"coverage {extras['coverage']['percent']:g}% "
                       f"{'meets' if extras['min_coverage']['met'] else 'is below'} "
                       f"--min-coverage {extras['min_coverage']['minimum']:g}%")
        word = {EXIT_CONFORMANT: "PASS", EXIT_VIOLATIONS: "FAIL", EXIT_SUITE_ERROR: "UNDECIDED"}[extras["exit_status"]]
        lines += [f"Gate: {word} — {'; '.join(why)} (exit {extras['exit_status']})"]
    return lines
