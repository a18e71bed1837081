"""Proof that the contract suite finds what it claims to find.

* Every deliberately broken variant of the mock (`broken_variants.py`, at least one per domain rule and per
  generic oracle) is judged by its rule, which must fail naming it — or, for a variant whose data is too uniform
  to judge, must not pass (SKIP). These verdicts are computed in this process (`contracts.runner.judge_rule`, the
  function the suite's pytest items call), one mock per variant; a few variants also go through the whole
  `modelux-contracts run` command, and the generic oracles are shown failing a variant inside the schemathesis
  phases themselves.
* The intact mock passes a full run (all schemathesis phases and all rules, small example counts),
  and the strict profile.
* Honest verdicts: undocumented-but-sensible answers are reported as spec gaps (not failures) unless
  `--strict-spec`; a rule that is only our decision fails only the strict profile; a token the target
  rejects fails the run with a clear message; an unreachable target is a configuration error (2); a rule
  whose own code crashes is a suite error (3), never a violation by the target, and answers bent out of
  their documented shape are violations, never crashes of the suite.
* Where the spec allows two answers (a partial PATCH applied, or rejected with 400), a target giving either
  passes.
* The API root is the URL given (a gateway prefix, an origin's root with `--api-at-root`).
* Staging mode leaves what it did not create alone and cleans up what it did.

Suite runs are `python -m contracts.cli run` in processes of their own (forked from a server that has imported
the command, `tests/forked.py`) against a mock served on loopback here.
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from tests.broken_variants import CONFORMING, PHASES_CODES, PHASES_VARIANT, VARIANTS, Variant, bent_shapes
from tests.forked import run_cli

from mockserver.testing import serve_embedded
from contracts.observations import Observations
from contracts.oracles import ORACLES
from contracts.receiver import Receiver
from contracts.ruleset import RULES
from contracts.runner import Outcome, judge_rule
from contracts.settings import RunSettings
from contracts.target import Target

pytestmark = pytest.mark.slow  # end to end: mocks on loopback, suite runs in subprocesses (about 3 minutes in all)

ROOT = Path(__file__).resolve().parent.parent
# Variants are independent (each has its own mock): judge a few at once.
PARALLEL = max(2, min(4, os.cpu_count() or 2))


def run_suite(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return run_cli("run", *args, timeout=timeout, cwd=ROOT)


def output(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-3000:]}"


def verdict(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stdout.splitlines() if line.startswith("Verdict:")]
    return lines[-1] if lines else ""


def serve(variant: Variant | None = None, **config):
    if variant is None:
        return serve_embedded(**config)
    return serve_embedded(handlers=variant.handler_table() if variant.handlers else None, wsgi_wrapper=variant.wsgi,
                          validate_responses=False, **{**variant.config, **config})


def test_every_rule_and_oracle_has_a_broken_variant():
    covered = {v.rule for v in VARIANTS.values() if v.expect == "fail"}
    assert set(RULES) <= covered, f"rules without a broken variant: {sorted(set(RULES) - covered)}"
    assert set(ORACLES) <= set(RULES), "every generic oracle has a probe rule of its code"


def judge_variant(variant: Variant) -> Outcome:
    """The variant's rule, judged in this process against the variant served on loopback."""
    with serve(variant) as served:
        return judge_all([RULES[variant.rule]], served, variant.profile)[variant.rule]


def judge_all(rules, served, profile: str = "default") -> dict[str, Outcome]:
    """Each rule judged in turn against one target served on loopback, as the suite's items do."""
    settings = RunSettings(base_url=served.base_url, token=served.token, other_token=served.other_token,
                           embedded=True, profile=profile)
    target = Target(served.base_url, served.token, observed=Observations())
    receiver = Receiver().start() if any("receiver" in rule.needs for rule in rules) else None
    try:
        target.discover_identity()
        return {rule.code: judge_rule(rule, target, settings, receiver=receiver) for rule in rules}
    finally:
        target.close()
        if receiver is not None:
            receiver.stop()


@pytest.fixture(scope="module")
def variant_outcomes(request) -> dict[str, Outcome]:
    """Every selected variant's verdict, computed a few at a time."""
    if hasattr(request.config, "workerinput"):  # under xdist each test judges its own variant
        return {}
    selected = [item.callspec.params["variant"] for item in request.session.items
                if getattr(item, "originalname", "") == "test_rule_fails_its_broken_variant"]
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return dict(zip((v.name for v in selected), pool.map(judge_variant, selected)))


@pytest.mark.parametrize("variant", list(VARIANTS.values()), ids=lambda v: f"{v.rule}:{v.name}")
def test_rule_fails_its_broken_variant(variant: Variant, variant_outcomes):
    outcome = variant_outcomes.get(variant.name) or judge_variant(variant)
    if variant.expect == "skip":
        assert outcome.status == "skipped", f"{variant.rule} {outcome.status} on {variant.breaks}: {outcome.reason}"
        return
    assert outcome.status == "failed", f"{variant.rule} {outcome.status} on {variant.breaks}: {outcome.reason}"
    assert outcome.code == variant.rule, outcome.reason


@pytest.mark.parametrize("name", sorted(CONFORMING))
def test_a_conforming_target_passes_where_the_spec_allows_either_answer(name):
    variant = CONFORMING[name]
    outcome = judge_variant(variant)
    assert outcome.status == "passed", f"{variant.rule} {outcome.status} on {variant.breaks}: {outcome.reason}"


@pytest.mark.parametrize("seed", [1, 2])
def test_answers_bent_out_of_shape_are_violations_never_suite_errors(seed):
    """Every rule (strict profile) against a target bending a fifth of its successful answers out of their
    documented shape, at random (anywhere in `data`): each rule passes, fails or skips — none crashes."""
    with serve(Variant("bent-shapes", "", "answers out of shape", wsgi=bent_shapes(seed))) as served:
        outcomes = judge_all(list(RULES.values()), served, "strict")
    crashed = {code: outcome.reason for code, outcome in outcomes.items() if outcome.status == "error"}
    assert not crashed, crashed
    assert sum(outcome.status == "failed" for outcome in outcomes.values()) >= 10  # the bends did bite


def test_a_rule_that_crashes_is_a_suite_error_with_its_own_exit_status():
    """A rule of the suite whose own code raises KeyError (tests/contracts_buggy_rule.py): exit 3 and a section of
    its own, naming the rule, the exception and where; with a violation in the same run, the violation wins (1)."""
    buggy = ("--", "-p", "tests.contracts_buggy_rule")
    alone = run_suite("--rules", "MX-TEST-BUGGY", "-q", *buggy)
    assert alone.returncode == 3, output(alone)
    assert "Suite errors — suite error (a bug in modelux-contracts, not in the target)" in alone.stdout, output(alone)
    assert "BUG   MX-TEST-BUGGY" in alone.stdout and "KeyError: 'projets' at tests/contracts_buggy_rule.py:" in \
        alone.stdout, output(alone)
    assert verdict(alone).startswith("Verdict: UNDECIDED") and "FAIL  MX-TEST-BUGGY" not in alone.stdout
    variant = VARIANTS["patch-does-not-bump"]
    with serve(variant) as target:
        both = run_suite("--base-url", target.base_url, "--token", target.token, "--rules",
                         "MX-TEST-BUGGY,MX-VERSION-BUMP", "-q", *buggy)
    assert both.returncode == 1, output(both)
    assert "FAIL  MX-VERSION-BUMP" in both.stdout and "BUG   MX-TEST-BUGGY" in both.stdout, output(both)
    assert verdict(both).startswith("Verdict: NOT CONFORMANT") and "MX-VERSION-BUMP" in verdict(both)
    assert "suite error" in verdict(both), output(both)


@pytest.mark.parametrize("name", ["patch-does-not-bump", "wrong-signature", "rejected-patch-keeps-flags"])
def test_the_command_fails_a_broken_variant_naming_its_rule(name):
    variant = VARIANTS[name]
    with serve(variant) as target:
        result = run_suite("--base-url", target.base_url, "--token", target.token, "--other-token", target.other_token,
                           "--rules", variant.rule, "--profile", variant.profile, "--webhook-wait", "20", "-q")
    assert result.returncode == 1, output(result)
    assert f"FAIL  {variant.rule}" in result.stdout, output(result)
    assert variant.rule in verdict(result), output(result)
    # The failure reads as what the target did, not as a stack through the suite's own code.
    assert "contracts/runner.py" not in result.stdout and "raise RuleViolation" not in result.stdout, output(result)


def test_the_generic_oracles_judge_the_exchanges_of_the_phases():
    with serve(PHASES_VARIANT) as target:
        result = run_suite("--base-url", target.base_url, "--token", target.token, "--other-token", target.other_token,
                           "--profile", "strict", "--phases", "examples,coverage", "--max-examples", "3", "--seed", "5",
                           "--operations", "projects|logs", "-q", "-k", "test_conformance and (projects or logs)")
    assert result.returncode == 1, output(result)
    for code in PHASES_CODES:
        assert code in verdict(result), output(result)
    assert "FAIL  getLog" in result.stdout and "FAIL  getProject " in result.stdout, output(result)


def mounted_at(prefix: str):
    """The mock behind a gateway that serves the API at `prefix` (`""`: the origin's root)."""

    def wrap(app, token):
        def wsgi(environ, start_response):
            path = environ["PATH_INFO"]
            if not (path == prefix or path.startswith(prefix + "/")):
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not here"]
            return app({**environ, "PATH_INFO": "/api/manage/v1" + path[len(prefix):]}, start_response)

        return wsgi

    return wrap


def test_a_base_url_with_a_path_is_the_api_root():
    with serve_embedded(wsgi_wrapper=mounted_at("/gw/modelux")) as target:
        result = run_suite("--base-url", target.base_url + "/gw/modelux", "--token", target.token, "--phases",
                           "examples,coverage", "--max-examples", "2", "--seed", "3", "--operations", "projects", "-q",
                           "-k", "test_conformance and projects")
    assert result.returncode == 0, output(result)
    assert f"Target   {target.base_url}/gw/modelux\n" in result.stdout, output(result)
    judged = dict(part.rsplit(" ", 1) for part in
                  result.stdout.split("exchanges of the phases judged: ", 1)[1].splitlines()[0].split(", "))
    assert int(judged["MX-MUTATION-PERSISTS"]) > 0 and int(judged["MX-IMMUTABLE-FIELDS"]) > 0, output(result)


def test_api_at_root_says_the_origin_is_the_api_root():
    with serve_embedded(wsgi_wrapper=mounted_at("")) as target:
        bare = run_suite("--base-url", target.base_url, "--token", target.token, "--rules", "MX-VERSION-BUMP", "-q")
        result = run_suite("--base-url", target.base_url, "--api-at-root", "--token", target.token, "--rules",
                           "MX-VERSION-BUMP,MX-WEBHOOK-SIGNATURE", "-q")
    # a bare origin gets the spec's /api/manage/v1, which this gateway does not serve
    assert bare.returncode == 1 and "GET /projects with the management key answered 404" in bare.stdout, output(bare)
    assert result.returncode == 0, output(result)
    assert "PASS  MX-WEBHOOK-SIGNATURE" in result.stdout, output(result)


@pytest.mark.longest
def test_intact_mock_passes_a_full_strict_run_and_writes_junit(tmp_path):
    """Every phase, rule and oracle in the strict profile: what the default profile judges is a part of it (the
    versions model is only more lenient there)."""
    junit = tmp_path / "contracts.xml"
    result = run_suite("--profile", "strict", "--max-examples", "5", "--seed", "7", "--junit", str(junit), "-q")
    assert result.returncode == 0, output(result)
    assert verdict(result).startswith("Verdict: CONFORMANT"), output(result)
    assert "SKIP  MX-VERSION-NOOP" not in result.stdout and "SKIP  MX-ERROR-NO-LEAK" not in result.stdout
    cases = {case.get("name") for case in ET.parse(junit).getroot().iter("testcase")}
    assert "test_conformance[POST /projects]" in cases and "test_conformance[GET /logs]" in cases
    assert {f"test_rule[{code}]" for code in ("MX-VERSION-BUMP", "MX-AUDIT-TOTAL", "MX-BY-ID")} <= cases
    assert "test_webhook[MX-WEBHOOK-SIGNATURE]" in cases and "runTest" in cases
    operations = {c for c in cases if c.startswith("test_conformance[")}
    assert len(operations) == 66, sorted(operations)  # 67 operations, DELETE /orgs/{id} never fuzzed


def test_intact_mock_passes_the_default_profile():
    result = run_suite("--phases", "none", "-q")
    assert result.returncode == 0, output(result)
    assert "SKIP  MX-VERSION-NOOP" in result.stdout and "runs only with --profile strict" in result.stdout


def test_our_decisions_fail_only_the_strict_profile():
    variant = VARIANTS["rename-bumps-version"]
    with serve(variant) as target:
        result = run_suite("--base-url", target.base_url, "--token", target.token, "--rules", "MX-VERSION-NOOP,"
                           "MX-VERSION-BUMP,MX-VERSION-HISTORY", "-q")
    assert result.returncode == 0, output(result)
    assert "SKIP  MX-VERSION-NOOP" in result.stdout


def test_spec_gaps_are_their_own_category_unless_strict_spec():
    with serve() as target:
        args = ("--base-url", target.base_url, "--token", target.token, "--phases", "coverage", "--operations", "logs",
                "-q", "-k", "test_conformance and GET and logs and not trace and not replay")
        lenient = run_suite(*args)
        strict = run_suite("--strict-spec", *args)
    assert lenient.returncode == 0, output(lenient)
    assert "Spec gaps" in lenient.stdout and "GET /logs" in lenient.stdout and "E2" in lenient.stdout, output(lenient)
    assert strict.returncode == 1, output(strict)
    assert "FAILURES under --strict-spec" in strict.stdout, output(strict)
    assert "Undocumented status code" in strict.stdout, output(strict)


def test_rejected_token_fails_with_a_clear_message():
    with serve() as target:
        result = run_suite("--base-url", target.base_url, "--token", "mlx_mgmt_not_the_right_key", "-q")
    assert result.returncode == 1, output(result)
    assert "rejected the management key" in result.stdout, output(result)


def test_unreachable_target_is_a_configuration_error():
    result = run_suite("--base-url", "http://127.0.0.1:9", "--token", "mlx_mgmt_x", "-q")
    assert result.returncode == 2, output(result)
    assert "cannot reach the target" in result.stdout, output(result)


def test_staging_mode_spares_what_it_did_not_create_and_cleans_up():
    with serve() as target:
        headers = {"Authorization": f"Bearer {target.token}"}
        api = target.base_url + "/api/manage/v1"

        def inventory() -> dict[str, set[str]]:
            return {path: {item["id"] for item in httpx.get(api + path, headers=headers).json()["data"]}
                    for path in ("/projects", "/routing-configs", "/management-keys", "/providers", "/budgets",
                                 "/webhooks/endpoints", "/keys")}

        before = inventory()
        result = run_suite("--base-url", target.base_url, "--token", target.token, "--staging", "--rate", "6000",
                           "--max-examples", "3", "-q")
        after = inventory()
        assert httpx.get(api + "/projects", headers=headers).status_code == 200  # the run's key still works
    assert result.returncode == 0, output(result)
    assert "Cleanup:" in result.stdout and " 0 left" in result.stdout, output(result)
    assert "STAGING mode" in result.stdout
    # Deliveries of the run's own endpoints are the run's: the guard lets it replay them.
    assert "PASS  MX-WEBHOOK-REPLAY" in result.stdout, output(result)
    for path, ids in before.items():
        assert ids <= after[path], f"staging run removed {sorted(ids - after[path])} from {path}"
    grown = {path: sorted(after[path] - before[path]) for path in before if after[path] - before[path]}
    # Revoked keys stay listed (revoked); everything else the run made is gone.
    assert set(grown) <= {"/management-keys", "/keys"}, grown
