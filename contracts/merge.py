"""Combining the JSON reports of a sharded run (`--shard K/N`) into one verdict, exit status, JUnit and HTML.

Each shard's report carries its results (with their failures and reproductions), what it observed (statuses,
spec gaps, cleanup, oracle tallies, parameters sent) and its settings; the merge adds them up and judges the whole
exactly as one run's session does (`render_summary`, `reporting.gate`).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .observations import Observations
from .gate import gate, gate_lines
from .settings import RunSettings
from .summary import EXIT_CONFORMANT, EXIT_SUITE_ERROR, EXIT_VIOLATIONS, failures, render_summary, suite_errors, \
    verdict_json

TEST_NAMES = {"conformance": "test_conformance[{key}]", "rule": "test_rule[{key}]", "webhook": "test_webhook[{key}]",
              "model": "test_routing_config_versions_model", "stateful": "runTest"}


class MergeError(ValueError):
    """Reports that cannot be merged (not reports of this suite, or of different runs)."""


def _settings(data: dict[str, Any]) -> RunSettings:
    fields = dict(data)
    fields.update(token="", phases=tuple(fields.get("phases") or ()), rules=tuple(fields.get("rules") or ()))
    return RunSettings(**fields)


def merge_reports(reports: list[dict[str, Any]], *, baseline: str | None = None, baseline_update: bool = False,
                  min_coverage: float | None = None) -> tuple[dict[str, Any], int]:
    """The merged report and its exit status."""
    if not reports:
        raise MergeError("no reports to merge")
    for report in reports:
        if "settings" not in report or "observations" not in report:
            raise MergeError("a report without settings/observations: write shard reports with --report")
    first = reports[0]["settings"]
    for report in reports[1:]:
        other = report["settings"]
        differs = [k for k in ("seed", "profile", "strict_spec", "max_examples", "phases", "rules")
                   if other.get(k) != first.get(k)]
        if differs:
            raise MergeError(f"the shards ran with different options ({', '.join(differs)}): not one run")
    settings = _settings(first)
    observed = Observations()
    parameters: dict[str, set[str]] = {}
    results: dict[str, dict[str, Any]] = {}
    for report in reports:
        observed.merge(report["observations"])
        for label, names in (report.get("parameters") or {}).items():
            parameters.setdefault(label, set()).update(names)
        for entry in report["results"]:
            key = f"{entry['kind']}:{entry['key']}"
            if key in results:
                raise MergeError(f"{key} was judged by two shards: were they run with the same --shard N?")
            results[key] = entry
    params = {label: sorted(names) for label, names in parameters.items()}
    extras = gate(settings.strict_spec, results, {k: dict(v) for k, v in observed.statuses.items()}, params,
                  baseline, baseline_update, min_coverage)
    elapsed = max(float(r.get("elapsed") or 0) for r in reports)
    lines = render_summary(settings, results, observed, elapsed) + gate_lines(extras, None)
    extras["verdict_lines"] = lines
    merged = {**verdict_json(settings, results, observed), **extras, "settings": first,
              "observations": observed.to_json(), "parameters": params, "elapsed": elapsed,
              "shard": None, "merged_from": [r.get("shard") for r in reports]}
    status = extras["exit_status"]
    if status is None:
        status = EXIT_VIOLATIONS if failures(results) else EXIT_SUITE_ERROR if suite_errors(results) \
            else EXIT_CONFORMANT
    merged["exit_status"] = status
    return merged, status


def load(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise MergeError(f"{path}: {exc}") from None


def write_junit(path: str | Path, report: dict[str, Any]) -> None:
    """A JUnit XML of the merged results: one test per operation and per rule, as a run's own."""
    rows = report["results"]
    suite = ET.Element("testsuite", name="modelux-contracts", tests=str(len(rows)),
                       failures=str(sum(r["outcome"] == "failed" for r in rows)),
                       errors=str(sum(r["outcome"] in ("error", "suite_error") for r in rows)),
                       skipped=str(sum(r["outcome"] == "skipped" for r in rows)),
                       time=f"{float(report.get('elapsed') or 0):.1f}")
    for row in rows:
        case = ET.SubElement(suite, "testcase", classname=f"contracts.suite.{row['kind']}",
                             name=TEST_NAMES.get(row["kind"], "{key}").format(key=row["key"]))
        props = ET.SubElement(case, "properties")
        for name, value in (("mx_kind", row["kind"]), ("mx_key", row["key"]), ("mx_title", row.get("title", ""))):
            ET.SubElement(props, "property", name=name, value=str(value))
        text = "\n".join(row.get("details") or [])
        if row["outcome"] == "failed":
            ET.SubElement(case, "failure", message=(row.get("details") or ["failed"])[0][:300]).text = text
        elif row["outcome"] in ("error", "suite_error"):
            ET.SubElement(case, "error", message=(row.get("details") or ["error"])[0][:300]).text = text
        elif row["outcome"] == "skipped":
            ET.SubElement(case, "skipped", message=text[:300])
    root = ET.Element("testsuites", name="modelux-contracts")
    root.append(suite)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
