"""The verdict as one self-contained HTML file (`--html`): inline CSS, no script, no external address.

Verdict first, then the failures with their curl reproduction, the baseline (new, known, fixed), every operation
and rule (with its source and the text it enforces), spec coverage per operation, spec gaps, cleanup and notes.
Everything shown is escaped: a target's answers are hostile input.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any, Iterable

from .ruleset import RULES

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
.verdict{padding:14px 18px;border-radius:8px;font-size:17px;font-weight:600;margin:14px 0}
.ok{background:#e3f6e8;color:#14532d;border:1px solid #9bd8ad}
.bad{background:#fde8e8;color:#7f1d1d;border:1px solid #f3a5a5}
.undecided{background:#fff4d6;color:#713f12;border:1px solid #f0cf7a}
.meta{color:#4b5565;font-size:13px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #e1e4ea;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eef0f4}
.PASS{color:#15803d;font-weight:600}.FAIL,.ERROR,.NEW{color:#b91c1c;font-weight:600}.SKIP{color:#6b7280}
.BUG{color:#a16207;font-weight:600}.KNOWN{color:#a16207;font-weight:600}.FIXED{color:#15803d;font-weight:600}
pre{background:#111827;color:#e5e7eb;padding:10px;border-radius:6px;overflow-x:auto;font-size:12px;white-space:pre}
.failure{background:#fff;border:1px solid #e1e4ea;border-left:4px solid #b91c1c;border-radius:6px;padding:10px 14px;
margin:10px 0}.failure.known{border-left-color:#d97706}code{font-size:12px}.small{font-size:12px;color:#4b5565}
.bar{display:inline-block;height:8px;background:#2563eb;border-radius:4px;vertical-align:middle}
.nowrap{white-space:nowrap}
"""
MARK = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "SKIP", "suite_error": "BUG"}


def _e(value: Any) -> str:
    return escape(str(value if value is not None else ""), quote=True)


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """A table of already escaped cells."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _verdict(report: dict[str, Any]) -> tuple[str, str, str]:
    lines = report.get("verdict_lines") or []
    verdict = next((ln for ln in reversed(lines) if ln.startswith("Verdict:")), "Verdict: (none)")
    gate = next((ln for ln in lines if ln.startswith("Gate:")), "")
    status = report.get("exit_status")
    if status is None:
        status = 0 if verdict.startswith("Verdict: CONFORMANT") else 1 if "NOT CONFORMANT" in verdict else 3
    return verdict, gate, {0: "ok", 1: "bad"}.get(status, "undecided")


def _failures(report: dict[str, Any]) -> str:
    failures = report.get("failures") or []
    if not failures:
        return "<p>No failures.</p>"
    known = {f["fingerprint"] for f in (report.get("baseline") or {}).get("known", [])}
    parts = []
    for failure in failures:
        tag = "KNOWN" if failure["fingerprint"] in known else "NEW" if report.get("baseline") else "FAIL"
        expect = failure.get("expect") or {}
        judged = {"status": f"status one of {', '.join(map(str, expect.get('expected', [])))}",
                  "no-server-error": "no 5xx answer", "schema": "the answer matches its schema",
                  "same-answer": f"the answer differs from the failing one ({expect.get('status')})"}.get(
                      expect.get("kind"), "—")
        parts.append(
            f"<div class='failure{' known' if tag == 'KNOWN' else ''}' id='f-{_e(failure['id'])}'>"
            f"<b class='{tag}'>{tag}</b> <code>{_e(failure['id'])}</code> — <b>{_e(failure['fingerprint'])}</b>"
            f"<div>{_e(failure.get('detail'))}</div>"
            f"<div class='small'>in {_e(failure.get('kind'))} <code>{_e(failure.get('key'))}</code>; "
            f"a replay passes when: {_e(judged)}; replay: <code>modelux-contracts replay {_e(failure['id'])} "
            f"--report REPORT.json --base-url URL --token KEY</code></div>"
            f"<pre>{_e(chr(10).join(failure.get('curl') or []))}</pre></div>")
    return "".join(parts)


def _baseline(report: dict[str, Any]) -> str:
    baseline = report.get("baseline")
    if not baseline:
        return ""
    rows = [[f"<span class='{kind.upper()}'>{kind.upper()}</span>", f"<code>{_e(f.get('id'))}</code>",
             _e(f.get("fingerprint"))] for kind in ("new", "known", "fixed") for f in baseline.get(kind, [])]
    return (f"<h2>Baseline</h2><p>{_e(baseline['path'])}: {len(baseline['new'])} new, {len(baseline['known'])} "
            f"known, {len(baseline['fixed'])} fixed. Only new failures fail the run.</p>"
            + (_table(["", "id", "fingerprint"], rows) if rows else ""))


def _results(report: dict[str, Any]) -> str:
    rows = report.get("results") or []
    operations = [r for r in rows if r["kind"] in ("conformance", "stateful")]
    rules = [r for r in rows if r["kind"] in ("rule", "webhook", "model")]

    def details(row: dict[str, Any]) -> str:
        if row["outcome"] == "passed":
            return ""
        return "<br>".join(_e(d) for d in row.get("details") or [])

    html = ""
    if operations:
        html += "<h2>Operations (schemathesis phases and the stateful walk)</h2>" + _table(
            ["", "operation", "operationId", "details"],
            [[f"<span class='{MARK[r['outcome']]}'>{MARK[r['outcome']]}</span>", _e(r["key"]), _e(r.get("title")),
              details(r)] for r in operations])
    if rules:
        out = []
        for r in rules:
            rule = RULES.get(r["key"])
            source = rule.source if rule else "model"
            ref = rule.ref if rule else ""
            out.append([f"<span class='{MARK[r['outcome']]}'>{MARK[r['outcome']]}</span>",
                        f"<code class='nowrap'>{_e(r['key'])}</code>",
                        _e(source), _e(r.get("title")) + (f"<div class='small'>{_e(ref)}</div>" if ref else ""),
                        details(r)])
        html += "<h2>Domain rules, with their sources</h2>" + _table(["", "code", "source", "rule", "details"], out)
    return html


def _coverage(report: dict[str, Any]) -> str:
    cov = report.get("coverage")
    if not cov:
        return ""
    total = cov["total"]
    minimum = (report.get("min_coverage") or {}).get("minimum")
    head = (f"<p><b>{cov['percent']:g}%</b> of what the spec documents was exercised"
            + (f" (--min-coverage {minimum:g}%: {'met' if report['min_coverage']['met'] else 'NOT MET'})"
               if minimum is not None else "") + ": "
            + ", ".join(f"{kind} {t['exercised']}/{t['documented']} ({t['percent']:g}%)" for kind, t in total.items())
            + "</p>")
    rows = []
    for label, op in cov["operations"].items():
        st, pa = op["statuses"], op["parameters"]
        share = len(st["exercised"]) / len(st["documented"]) if st["documented"] else 1
        rows.append([("<span class='PASS'>yes</span>" if op["exercised"] else "<span class='FAIL'>no</span>"),
                     _e(label),
                     f"<span class='nowrap'><span class='bar' style='width:{int(share * 60)}px'></span> "
                     f"{len(st['exercised'])}/{len(st['documented'])}</span>",
                     _e(", ".join(st["missing"])), f"{len(pa['exercised'])}/{len(pa['documented'])}",
                     _e(", ".join(pa["missing"]))])
    return "<h2>Spec coverage</h2>" + head + _table(
        ["exercised", "operation", "statuses", "statuses never seen", "parameters", "parameters never sent"], rows)


def _gaps(report: dict[str, Any]) -> str:
    gaps = report.get("spec_gaps") or []
    strict = report.get("spec") == "pristine"
    text = ("failures under --strict-spec" if strict else "not failures (use --strict-spec)")
    if not gaps:
        return "<h2>Spec gaps</h2><p>None observed.</p>"
    return (f"<h2>Spec gaps</h2><p>Answers only the errata document: {_e(text)}.</p>"
            + _table(["operation", "status", "count", "erratum", "summary", "example"],
                     [[_e(g["operation"]), _e(g["status"]), _e(g["count"]), _e(g["erratum"]), _e(g["summary"]),
                       f"<code>{_e(g.get('example'))}</code>"] for g in gaps]))


def _rest(report: dict[str, Any]) -> str:
    html = ""
    errors = report.get("suite_errors") or []
    if errors:
        html += "<h2>Suite errors (bugs in modelux-contracts, not in the target)</h2>" + _table(
            ["rule", "error"], [[_e(e["rule"]), _e(e["error"])] for e in errors])
    cleanup = report.get("cleanup") or {}
    if cleanup.get("left") or report.get("staging"):
        html += (f"<h2>Cleanup</h2><p>{_e(cleanup.get('created'))} created, {_e(cleanup.get('cleaned'))} removed, "
                 f"{len(cleanup.get('left') or [])} left</p>" + _table(
                     ["kind", "id", "reason"], [[_e(i["kind"]), _e(i["id"]), _e(i["reason"])]
                                                for i in cleanup.get("left") or []]))
    lines = report.get("verdict_lines") or []
    html += f"<h2>The verdict as printed</h2><pre>{_e(chr(10).join(lines))}</pre>"
    return html


def render_html(report: dict[str, Any]) -> str:
    verdict, gate, tone = _verdict(report)
    settings = report.get("settings") or {}
    meta = (f"Target {_e(report.get('target'))}{' (embedded mock)' if report.get('embedded') else ''} · judged against "
            f"the {_e(report.get('spec'))} spec · profile {_e(report.get('profile'))} · seed {_e(settings.get('seed'))}"
            + (f" · shards merged: {_e(report.get('merged_from'))}" if report.get("merged_from") else "")
            + (f" · shard {_e('/'.join(map(str, report['shard'])))}" if report.get("shard") else ""))
    body = (f"<h1>Modelux contract verdict</h1><div class='meta'>{meta}</div>"
            f"<div class='verdict {tone}'>{_e(verdict)}" + (f"<br>{_e(gate)}" if gate else "") + "</div>"
            f"<h2>Failures, with their reproduction</h2>{_failures(report)}{_baseline(report)}"
            f"{_results(report)}{_coverage(report)}{_gaps(report)}{_rest(report)}")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<title>Modelux contract verdict</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main></body></html>")


def write_html(path: str | Path, report: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(render_html(report), encoding="utf-8")
