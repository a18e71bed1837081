"""What a team gets from a run besides pass/fail: each failure's reproduction (curl lines, `replay`), a baseline of
known failures, spec coverage, the HTML report, shards merged into one verdict.

The units judge the pieces on made-up exchanges and reports; the end-to-end tests run `modelux-contracts` in
subprocesses against broken variants of the mock served on loopback, with narrow selections (a few rules, one
phase, two examples) to stay fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tests.broken_variants import VARIANTS
from tests.test_browser import launch
from tests.test_contracts_proof import ROOT, output, run_suite, serve, verdict

from contracts import baseline, shard
from contracts.coverage import compute
from contracts.exchanges import Recorder
from contracts.html_report import render_html
from contracts.repro import curl_lines, failures_of, fingerprint, minimal_sequence, still_fails

TOKEN = "mlx_mgmt_secret_of_the_run"


def ex(method: str, path: str, status: int = 200, payload=None, body=None, token=TOKEN, operation=None):
    return {"method": method, "path": path, "query": {}, "body": body, "content": None, "headers": {},
            "token": token, "status": status, "payload": payload, "text": json.dumps(payload),
            "operation": operation or f"{method} {path}", "source": "suite"}


EXCHANGES = [
    ex("GET", "/projects", payload={"data": [{"id": "proj_seeded"}]}),
    ex("POST", "/projects", 201, {"data": {"id": "proj_new"}}, body={"name": "p"}),
    ex("POST", "/projects", 201, {"data": {"id": "proj_other"}}, body={"name": "unrelated"}),
    ex("POST", "/routing-configs", 201, {"data": {"id": "rc_1", "version": 1}},
       body={"projectId": "proj_new", "policy": "single", "config": {"model": "a"}}),
    ex("GET", "/routing-configs/rc_1", payload={"data": {"id": "rc_1"}}),
    ex("PATCH", "/routing-configs/rc_1", 400, {"error": "no", "code": "bad"}, body={"policy": "x"}),
    ex("PATCH", "/projects/proj_other", body={"name": "q"}, payload={"data": {"id": "proj_other"}}),
    ex("GET", "/routing-configs/rc_1/versions", payload={"data": [{"version": 1}]},
       operation="GET /routing-configs/{id}/versions"),
]


def test_the_minimal_sequence_keeps_what_the_failing_exchange_depends_on():
    kept = minimal_sequence(EXCHANGES, len(EXCHANGES) - 1)
    # the creations of the ids it sends, and the mutation of its resource (even a rejected one); not reads,
    # not what concerns other resources
    assert [EXCHANGES[i]["path"] for i in kept] == ["/projects", "/routing-configs", "/routing-configs/rc_1",
                                                    "/routing-configs/rc_1/versions"]
    assert [EXCHANGES[i]["method"] for i in kept] == ["POST", "POST", "PATCH", "GET"]


def test_a_failure_has_a_stable_id_curl_lines_without_the_token_and_ids_read_from_earlier_answers():
    entry = {"kind": "rule", "key": "MX-VERSION-BUMP",
             "details": ["MX-VERSION-BUMP (f): history shows 1 version, expected 2"]}
    found = failures_of(entry, "history", EXCHANGES, api_url="http://h/api", token=TOKEN, other_token=None,
                        documented=lambda label: ["200"])
    assert len(found) == 1
    failure = found[0]
    assert failure["fingerprint"] == fingerprint("MX-VERSION-BUMP", "GET /routing-configs/{id}/versions", 200)
    again = failures_of(entry, "history", EXCHANGES, api_url="http://other/api", token="another", other_token=None,
                        documented=lambda label: ["200"])
    assert again[0]["id"] == failure["id"]  # no ids, timestamps or targets in the id
    text = json.dumps(failure)
    assert TOKEN not in text and '"Authorization: Bearer $MODELUX_TOKEN"' in failure["curl"][1]
    assert failure["curl"][0] == ': "${MODELUX_API:=http://h/api}"'
    assert failure["curl"][2].startswith("V1_1=$(printf") and '"$V1_1"' in failure["curl"][3]  # proj_new, bound
    assert failure["curl"][-1].endswith('"$MODELUX_API"/routing-configs/"$V2_1"/versions')
    assert [step["binds"] for step in failure["steps"]][:2] == [[{"path": ["data", "id"], "value": "proj_new"}],
                                                                [{"path": ["data", "id"], "value": "rc_1"}]]
    assert failure["expect"]["kind"] == "same-answer"


def test_a_rule_expecting_a_status_is_replayed_against_that_status():
    exchanges = [ex("GET", "/budgets/budg_x", 400, {"error": "bad", "code": "invalid_id"},
                    operation="GET /budgets/{id}")]
    entry = {"kind": "rule", "key": "MX-UNKNOWN-ID-404", "details": ["MX-UNKNOWN-ID-404 (f): …"]}
    message = "MX-UNKNOWN-ID-404 (f): GET /budgets/{id}: expected 404, got GET /budgets/budg_x → 400 {}"
    failure = failures_of(entry, message, exchanges, api_url="http://h", token=TOKEN, other_token=None,
                          documented=lambda label: [])[0]
    assert failure["expect"] == {"kind": "status", "expected": [404]}
    assert still_fails(failure["expect"], 400, None, lambda: None)[0]
    assert not still_fails(failure["expect"], 404, None, lambda: None)[0]
    same = {"kind": "same-answer", "status": 200, "body": {"data": {"id": "<varies>", "version": 1}}}
    assert still_fails(same, 200, {"data": {"id": "rc_2", "version": 1}}, lambda: None)[0]
    assert not still_fails(same, 200, {"data": {"id": "rc_2", "version": 2}}, lambda: None)[0]


def test_curl_lines_quote_what_they_send():
    step = ex("POST", "/projects", 201, body={"name": "it's $(rm -rf /) `x`"})
    line = curl_lines([step], "http://h", {TOKEN: "$MODELUX_TOKEN"})[1]
    argv = subprocess.run(["bash", "-c", 'printf "%s\\n" ' + line.split("--data-binary ", 1)[1].split(" -w")[0]],
                          capture_output=True, text=True).stdout.strip()
    assert json.loads(argv) == {"name": "it's $(rm -rf /) `x`"}


def test_the_baseline_separates_new_known_and_fixed(tmp_path):
    failures = [{"fingerprint": "A | GET /x | 400", "id": "1", "key": "A"},
                {"fingerprint": "B | GET /y | 500", "id": "2", "key": "B"}]
    path = tmp_path / "baseline.json"
    baseline.write(path, failures[:1] + [{"fingerprint": "C | GET /z | 200", "id": "3", "key": "C"},
                                         {"fingerprint": "D | GET /w | 200", "id": "4", "key": "D"}])
    verdict = baseline.classify(failures, baseline.load(path), judged={"A", "B", "C"})
    assert [f["id"] for f in verdict["new"]] == ["2"] and [f["id"] for f in verdict["known"]] == ["1"]
    assert [e["id"] for e in verdict["fixed"]] == ["3"]  # D was not judged in this run: not fixed
    assert baseline.load(tmp_path / "missing.json") == []


def test_shards_partition_every_item_once():
    keys = [f"rule:MX-{i}" for i in range(200)] + [f"conformance:GET /x/{i}" for i in range(70)]
    for n in (1, 2, 3, 5):
        owners = [shard.shard_of(key, n) for key in keys]
        assert all(1 <= o <= n for o in owners) and len(set(owners)) == n
    assert shard.parse("2/3") == (2, 3)
    for bad in ("0/2", "3/2", "x", "1/0"):
        with pytest.raises(ValueError):
            shard.parse(bad)


def test_coverage_counts_operations_statuses_and_parameters():
    report = compute({"GET /logs": {"200": 2, "400": 1}}, {"GET /logs": ["query:limit", "query:bogus"]})
    logs = report["operations"]["GET /logs"]
    assert logs["exercised"] and {"200", "400"} <= set(logs["statuses"]["exercised"])
    assert logs["parameters"]["exercised"] == ["query:limit"] and "query:offset" in logs["parameters"]["missing"]
    assert report["total"]["operations"]["exercised"] == 1 and report["total"]["operations"]["documented"] == 67
    assert 0 < report["percent"] < 5


HOSTILE = "<script>alert(1)</script><img src=http://evil.example/x>"


def hostile_report() -> dict:
    """A report whose every text from the target tries to be markup."""
    hostile = HOSTILE
    return {"target": "http://h", "spec": "effective", "profile": "default", "exit_status": 1,
            "verdict_lines": ["Verdict: NOT CONFORMANT — 1 of 1 checks failed"],
            "results": [{"kind": "rule", "key": "MX-VERSION-BUMP", "title": "t", "outcome": "failed",
                         "details": [hostile]}],
            "failures": [{"id": "abc", "fingerprint": hostile, "detail": hostile, "kind": "rule",
                          "key": "MX-VERSION-BUMP", "expect": {"kind": "status", "expected": [404]},
                          "curl": [f"curl '{hostile}'"]}],
            "spec_gaps": [{"operation": "GET /logs", "status": 400, "count": 1, "erratum": "E2",
                           "summary": hostile, "example": hostile}],
            "coverage": compute({}, {})}


def test_the_html_report_is_self_contained_and_escapes_what_the_target_said():
    html = render_html(hostile_report())
    assert "<script" not in html and "evil.example" not in html.replace("http://evil.example/x&gt;", "")
    assert "&lt;script&gt;" in html and "<img" not in html
    assert "src=" not in html.replace("src=http://evil.example", "") and "<link" not in html
    assert html.index("Verdict: NOT CONFORMANT") < html.index("Failures, with their reproduction")
    assert "[spec]" not in html and ">spec<" in html  # the rule's source
    assert "Spec coverage" in html and "Spec gaps" in html


def test_the_html_report_opens_in_a_browser_without_network(tmp_path):
    """Chromium, offline: the page asks for nothing but itself, runs no script and shows every section."""
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "contracts.html"
    page_file.write_text(render_html(hostile_report()))
    asked: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright, str(tmp_path / "profile"))
        try:
            browser.set_offline(True)
            page = browser.new_page()
            page.on("request", lambda request: asked.append(request.url))
            page.on("dialog", lambda dialog: asked.append("dialog: " + dialog.message))
            page.goto(page_file.as_uri())
            headings = page.locator("h2").all_inner_texts()
            verdict = page.locator(".verdict").inner_text()
            shown = page.locator("pre").first.inner_text()
        finally:
            browser.close()
    assert asked == [page_file.as_uri()]
    assert verdict.startswith("Verdict: NOT CONFORMANT")
    assert headings[:2] == ["Failures, with their reproduction", "Domain rules, with their sources"]
    assert {"Spec coverage", "Spec gaps"} <= set(headings)
    assert HOSTILE in shown  # shown as text, never run


# ── end to end ───────────────────────────────────────────────────────────────


def replay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "contracts.cli", "replay", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.slow
def test_a_failure_reproduces_by_its_curl_lines_and_by_replay(tmp_path):
    report = tmp_path / "report.json"
    with serve(VARIANTS["patch-does-not-bump"]) as broken, serve() as intact:
        run = run_suite("--base-url", broken.base_url, "--token", broken.token, "--rules", "MX-VERSION-BUMP",
                        "--phases", "none", "-q", "--report", str(report), "--", "-k", "test_rule")
        assert run.returncode == 1, output(run)
        failure = json.loads(report.read_text())["failures"][0]
        assert failure["fingerprint"] == "MX-VERSION-BUMP | PATCH /routing-configs/{id} | 200"
        assert f"  {failure['id']}  {failure['fingerprint']}" in run.stdout
        assert broken.token not in report.read_text()
        script = "\n".join(failure["curl"])
        by_hand = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                                 env={**os.environ, "MODELUX_TOKEN": broken.token})
        assert by_hand.returncode == 0, by_hand.stderr
        body, status = by_hand.stdout.strip().rsplit("\n", 1)
        assert status == "HTTP 200" and json.loads(body)["data"]["version"] == 1  # not bumped: the failure again
        still = replay(failure["id"], "--report", str(report), "--token", broken.token)
        assert still.returncode == 1 and "STILL FAILS" in still.stdout, still.stdout + still.stderr
        fixed = replay(failure["id"][:6], "--report", str(report), "--base-url", intact.base_url, "--token",
                       intact.token)
        assert fixed.returncode == 0 and "NO LONGER FAILS" in fixed.stdout, fixed.stdout + fixed.stderr
        assert "$.data.version is 2, was 1" in fixed.stdout
        unknown = replay("ffffffff", "--report", str(report), "--token", broken.token)
        assert unknown.returncode == 2 and "no failure 'ffffffff'" in unknown.stderr


@pytest.mark.slow
def test_a_baseline_lets_known_failures_pass_and_fails_new_ones(tmp_path):
    known = tmp_path / "baseline.json"
    rules = ("--rules", "MX-VERSION-BUMP,MX-UNKNOWN-ID-404", "--phases", "none", "-q", "--seed", "1", "--",
             "-k", "test_rule")
    with serve(VARIANTS["patch-does-not-bump"]) as first:
        target = ("--base-url", first.base_url, "--token", first.token)
        plain = run_suite(*target, *rules)
        made = run_suite(*target, "--baseline", str(known), "--baseline-update", *rules)
        again = run_suite(*target, "--baseline", str(known), *rules)
    assert plain.returncode == 1, output(plain)
    assert "[modelux-contracts]" not in plain.stderr  # no terminal, no --progress: quiet
    assert made.returncode == 0 and known.exists(), output(made)
    assert again.returncode == 0 and "Gate: PASS — 0 new failures" in again.stdout, output(again)
    assert "KNOWN" in again.stdout and verdict(again).startswith("Verdict: NOT CONFORMANT")  # listed, not failing
    with serve(VARIANTS["unknown-budget-400"]) as second:
        other = run_suite("--base-url", second.base_url, "--token", second.token, "--baseline", str(known), *rules)
    assert other.returncode == 1 and "Gate: FAIL — 1 new failure" in other.stdout, output(other)
    assert "NEW    " in other.stdout and "MX-UNKNOWN-ID-404 | GET /budgets/{id} | 400" in other.stdout
    assert "FIXED  " in other.stdout and "MX-VERSION-BUMP | PATCH /routing-configs/{id} | 200" in other.stdout


@pytest.mark.slow
def test_min_coverage_fails_a_run_that_exercised_too_little_and_progress_is_shown_when_asked():
    low = run_suite("--rules", "MX-UNKNOWN-ID-404", "--min-coverage", "90", "-q", "--progress")
    assert low.returncode == 1, output(low)
    assert "--min-coverage 90%: NOT MET" in low.stdout and "is below --min-coverage 90%" in low.stdout
    # progress was asked for (no terminal here): phase, items done, elapsed
    assert "[modelux-contracts] 0:0" in low.stderr and "finished: rules 1/1 done" in low.stderr, low.stderr


SELECTION = ("--phases", "examples", "--max-examples", "2", "--seed", "3", "-q", "--",
             "-k", "test_conformance and projects or MX-VERSION or MX-UNKNOWN")


def _checks(report: dict) -> set[tuple[str, str, str]]:
    return {(r["kind"], r["key"], r["outcome"]) for r in report["results"]}


@pytest.mark.slow
@pytest.mark.parametrize("variant", [None, "patch-does-not-bump"])
def test_shards_merged_equal_one_full_run(tmp_path, variant):
    with serve(VARIANTS[variant] if variant else None) as target:
        where = ("--base-url", target.base_url, "--token", target.token)
        full = run_suite(*where, "--report", str(tmp_path / "full.json"), *SELECTION)
        shards = [run_suite(*where, "--shard", f"{k}/2", "--report", str(tmp_path / f"{k}.json"), *SELECTION)
                  for k in (1, 2)]
    merged = subprocess.run([sys.executable, "-m", "contracts.cli", "merge", str(tmp_path / "1.json"),
                             str(tmp_path / "2.json"), "-o", str(tmp_path / "merged.json"), "--junit",
                             str(tmp_path / "merged.xml"), "--html", str(tmp_path / "merged.html")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    whole = json.loads((tmp_path / "full.json").read_text())
    parts = [json.loads((tmp_path / f"{k}.json").read_text()) for k in (1, 2)]
    combined = json.loads((tmp_path / "merged.json").read_text())
    assert all(_checks(part) for part in parts) and not _checks(parts[0]) & _checks(parts[1])
    assert _checks(combined) == _checks(whole), output(merged)
    assert verdict(merged) == verdict(full), output(merged) + output(full)
    assert merged.returncode == full.returncode == (1 if variant else 0), output(merged)
    assert {f["fingerprint"] for f in combined["failures"]} == {f["fingerprint"] for f in whole["failures"]}
    assert (tmp_path / "merged.xml").read_text().count("<testcase") == len(whole["results"])
    assert "Modelux contract verdict" in (tmp_path / "merged.html").read_text()


def test_recorded_headers_of_their_own_are_replayed_and_the_token_never_written_down():
    recorder = Recorder()
    recorder.start("item")
    recorder.record("GET", "/projects?limit=1", headers={"Authorization": "Basic bXg6bXg=", "User-Agent": "x"},
                    token=TOKEN, status=401, payload={"error": "no", "code": "unauthorized"})
    recorder.record("POST", "/webhooks/endpoints", body={"url": f"http://h/?key={TOKEN}"}, token=TOKEN, status=201)
    recorder.record("GET", "/logs", headers={"Authorization": f"Bearer {TOKEN}"}, token=TOKEN, status=200)
    basic, echoed, plain = recorder.take()
    assert plain["token"] == TOKEN and plain["headers"] == {}  # the run's own bearer header is its token
    assert basic["token"] is None and basic["headers"] == {"Authorization": "Basic bXg6bXg="}
    assert basic["query"] == {"limit": "1"} and basic["operation"] == "GET /projects"
    lines = curl_lines([basic, echoed], "http://h", {TOKEN: "$MODELUX_TOKEN"})
    assert "'Authorization: Basic bXg6bXg='" in lines[1] and "Bearer" not in lines[1]
    assert TOKEN not in "".join(lines) and '"$MODELUX_TOKEN"' in lines[2]
    assert recorder.parameters_json()["GET /projects"] == ["query:limit"]
