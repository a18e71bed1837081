"""The contract suite against a hostile target: it ends within its timeouts with a verdict naming what the target did,
never follows a redirect (so never hands the key to another origin), never prints the key, and stops at its deadline.

The target is `tests/hostile_target.py`: the real mock, with one behaviour made hostile on chosen requests. The first
tests drive each of the suite's clients directly (the suite's own, the session of the schemathesis phases, the
oracles' re-reads, schemathesis' transport); the last run the whole `modelux-contracts run` command (forked, as
`tests/forked.py` says; the first-request hang starts it as a new interpreter).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import requests

from contracts.conformance import GuardedSession, build_schema, oracle_reader
from contracts.observations import Observations
from contracts.options import SUITE_DIR
from contracts.plugin import _plain_report
from contracts.pacing import Deadline, DeadlineReached, Pacer
from contracts.redact import MaskedStream, Secrets, masked
from contracts.settings import RunSettings
from contracts.summary import EXIT_INCOMPLETE, render_summary, verdict_json
from contracts.target import Guard, Registry, Target, TargetFault
from tests.forked import run_cli
from tests.hostile_target import HUGE_BYTES, HostileTarget

ROOT = Path(__file__).resolve().parent.parent
API = "/api/manage/v1"
PROJECT = "/projects/proj_anything"
TIMEOUT = 1.0
MARGIN = 20.0  # generous: the machine is shared; what is bounded here would otherwise take minutes


def everything(method: str, path: str) -> bool:
    return True


def target_client(hostile: HostileTarget, pacer: Pacer | None = None) -> Target:
    return Target(hostile.base_url, hostile.token, timeout=TIMEOUT, pacer=pacer, observed=Observations())


def session_of_the_phases(hostile: HostileTarget) -> GuardedSession:
    registry = Registry()
    return GuardedSession(Pacer(None), Guard(registry, False), registry, False, api_url=hostile.base_url + API,
                          timeout=TIMEOUT)


def settings_for(hostile: HostileTarget) -> RunSettings:
    return RunSettings(base_url=hostile.base_url, token=hostile.token, request_timeout=TIMEOUT)


def ask(hostile: HostileTarget, client: str):
    """GET a project through one of the suite's clients, the key sent as an explicit Authorization header."""
    if client == "target":
        return target_client(hostile).get(PROJECT)
    if client == "phases":
        return session_of_the_phases(hostile).request(
            "GET", hostile.base_url + API + PROJECT, allow_redirects=True, timeout=600,  # both overridden
            headers={"Authorization": f"Bearer {hostile.token}"})
    if client == "oracles":
        return oracle_reader(settings_for(hostile), Pacer(None))(PROJECT)
    schema = build_schema(settings_for(hostile))  # schemathesis' own transport, through the phases' session
    case = schema[PROJECT.rsplit("/", 1)[0] + "/{id}"]["GET"].Case(path_parameters={"id": "proj_anything"})
    return case.call(session=session_of_the_phases(hostile))


CLIENTS = ("target", "phases", "oracles", "schemathesis")


# ── each client meets each fault ───────────────────────────────────────────


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("behaviour, says", [
    ("hang", f"did not answer within {TIMEOUT:g} s"),
    ("drip", f"did not answer within {TIMEOUT:g} s"),
    ("drip-headers", f"did not answer within {TIMEOUT:g} s"),
    ("reset", "connection reset by the target mid-answer"),
    ("huge", "answered more than 2 MiB"),
    ("redirect", "a redirect to another origin"),
])
def test_every_client_names_a_fault_within_its_timeout(client, behaviour, says):
    with HostileTarget(behaviour, when=everything) as hostile:
        started = time.monotonic()
        with pytest.raises(TargetFault) as raised:
            ask(hostile, client)
        took = time.monotonic() - started
        other = list(hostile.other_host.requests)
    assert says in str(raised.value) and "GET /projects/proj_anything" in str(raised.value), str(raised.value)
    assert took < 3 * TIMEOUT + MARGIN, took
    assert hostile.token not in str(raised.value)
    assert other == []  # a redirect is never followed: the other origin never hears from the suite


def test_a_redirect_names_the_origin_only():
    with HostileTarget("redirect", when=everything) as hostile:
        with pytest.raises(TargetFault) as raised:
            target_client(hostile).get(PROJECT)
    message = str(raised.value)
    assert f"another origin ({hostile.other_host.url})" in message and "307" in message
    assert "key=" not in message and hostile.token not in message  # the Location's query carried the key


@pytest.mark.parametrize("library", ["requests", "httpx"])
def test_the_http_libraries_drop_authorization_when_a_redirect_changes_origin(library):
    """Belt and braces: even a client told to follow redirects (the suite's never are) does not carry an explicit
    Authorization header to another origin."""
    with HostileTarget("redirect", when=everything) as hostile:
        url, headers = hostile.base_url + API + PROJECT, {"Authorization": f"Bearer {hostile.token}"}
        if library == "requests":
            followed = requests.get(url, headers=headers, timeout=5, allow_redirects=True)
        else:
            followed = httpx.get(url, headers=headers, timeout=5, follow_redirects=True)
        assert followed.status_code == 200 and len(hostile.other_host.requests) == 1
        assert not hostile.other_host.saw_authorization


@pytest.mark.parametrize("client", ["target", "phases"])
def test_a_huge_answer_is_never_held_whole(client):
    with HostileTarget("huge", when=everything) as hostile:
        tracemalloc.start()
        try:
            with pytest.raises(TargetFault, match="more than 2 MiB"):
                ask(hostile, client)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < HUGE_BYTES / 2, f"peak {peak} bytes while reading a {HUGE_BYTES}-byte answer"


def test_after_a_fault_the_phases_do_not_wait_for_the_same_operation_again():
    """Hypothesis replays a failing example: a hanging operation is not asked again, the fault is raised at once."""
    with HostileTarget("hang", when=everything) as hostile:
        session = session_of_the_phases(hostile)
        url = hostile.base_url + API + PROJECT
        with pytest.raises(TargetFault):
            session.request("GET", url)
        started = time.monotonic()
        with pytest.raises(TargetFault, match="did not answer"):
            session.request("GET", hostile.base_url + API + "/projects/proj_other")
        assert time.monotonic() - started < TIMEOUT / 2 and hostile.hostile_answers == 1


def test_answers_that_are_not_json_say_so():
    with HostileTarget("invalid-json", when=everything) as hostile:
        reply = target_client(hostile).get(PROJECT)
    assert reply.json is None and "not valid JSON (Content-Type application/json)" in reply.describe()
    with HostileTarget("wrong-type", when=everything) as hostile:
        reply = target_client(hostile).get(PROJECT)
    assert "not JSON (Content-Type text/html" in reply.describe()


# ── the deadline ────────────────────────────────────────────────────────────


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_deadline_stops_sending_but_lets_cleanup_finish_within_its_grace():
    clock = Clock()
    deadline = Deadline(10, grace=5, clock=clock)
    pacer = Pacer(None, clock=clock, sleep=clock.sleep, deadline=deadline)
    assert pacer.send(lambda: httpx.Response(200)).status_code == 200 and deadline.bound(30) == 10
    clock.now += 10
    with pytest.raises(DeadlineReached, match=r"not finished: the run's deadline \(--max-time 10 s\) was reached"):
        pacer.send(lambda: httpx.Response(200))
    with deadline.cleaning():
        assert pacer.send(lambda: httpx.Response(200)).status_code == 200 and deadline.bound(30) == 5
        clock.now += 5
        with pytest.raises(DeadlineReached, match="grace time of cleanup ran out"):
            pacer.send(lambda: httpx.Response(200))


def test_a_429_is_never_waited_for_past_the_deadline():
    clock = Clock()
    pacer = Pacer(None, clock=clock, sleep=clock.sleep, deadline=Deadline(30, clock=clock))
    with pytest.raises(DeadlineReached):
        pacer.send(lambda: httpx.Response(429, headers={"Retry-After": "300"}))
    assert clock.now == pytest.approx(130)  # it slept until the deadline, not the 300 s asked


def test_a_request_the_deadline_cuts_short_is_not_judged():
    with HostileTarget("hang", when=everything) as hostile:
        target = target_client(hostile, Pacer(None, deadline=Deadline(0.5)))
        target.timeout = 60
        started = time.monotonic()
        with pytest.raises(DeadlineReached):
            target.get(PROJECT)
    assert time.monotonic() - started < 0.5 + MARGIN


def test_a_fixture_the_deadline_interrupts_leaves_its_test_not_run():
    item = SimpleNamespace(path=SUITE_DIR / "test_rules.py")
    report = pytest.TestReport("t", ("test_rules.py", 0, "t"), {}, "failed", "DeadlineReached…", "setup")
    reached = DeadlineReached(Deadline(5).reason("not finished"))
    _plain_report(item, SimpleNamespace(excinfo=SimpleNamespace(value=reached)), report)
    assert report.skipped and report.longrepr[2] == f"Skipped: {reached}"


def _row(kind: str, key: str, outcome: str, details: list[str]) -> dict:
    return {"kind": kind, "key": key, "title": key, "outcome": outcome, "details": details}


def test_a_verdict_says_what_the_deadline_left_not_judged():
    settings = RunSettings(base_url="http://h", token="t", max_time=30, seed=1, phases=("examples",))
    late = Deadline(30).reason()
    results = {"a": _row("rule", "MX-VERSION-BUMP", "passed", []),
               "b": _row("rule", "MX-AUDIT-TOTAL", "skipped", [late]),
               "c": _row("conformance", "GET /logs", "skipped", [Deadline(30).reason("not finished")])}
    lines = render_summary(settings, results, Observations(), 31)
    assert lines[-1] == ("Verdict: INCOMPLETE — the deadline (--max-time 30 s) was reached: 2 of 3 not judged; "
                         "nothing judged failed")
    assert any(line.startswith("Deadline — --max-time 30 s reached: 2 of 3 not judged (1 stopped before finishing, "
                               "1 not run)") for line in lines)
    assert late not in "\n".join(lines)  # listed once, in its section, not under every row
    report = verdict_json(settings, results, Observations())
    assert not report["conformant"] and report["deadline"]["not_judged"] == ["GET /logs", "MX-AUDIT-TOTAL"]
    results["d"] = _row("rule", "MX-BY-ID", "failed", ["MX-BY-ID (x): wrong"])
    verdict = render_summary(settings, results, Observations(), 31)[-1]
    assert verdict.startswith("Verdict: NOT CONFORMANT") and "left 2 not judged" in verdict


# ── keys ────────────────────────────────────────────────────────────────────


def test_keys_are_masked_to_their_prefix():
    secrets = Secrets()
    secrets.add("mlx_mgmt_0123456789abcdef", "short", None)
    assert masked("mlx_mgmt_0123456789abcdef") == "mlx_mgmt_***" and masked("0123456789abcdef") == "0123***"
    assert secrets.mask("Bearer mlx_mgmt_0123456789abcdef, short") == "Bearer mlx_mgmt_***, short"
    out = io.StringIO()
    MaskedStream(out, secrets).write("key=mlx_mgmt_0123456789abcdef\n")
    assert out.getvalue() == "key=mlx_mgmt_***\n"


# ── the whole command ───────────────────────────────────────────────────────

# (behaviour, how the run is narrowed, what the verdict must say)
RULES_RUN = ("--rules", "MX-PATCH-PERSISTS")
PHASES_RUN = ("--phases", "examples,fuzzing", "--max-examples", "5", "--operations", "projects", "-k",
              "test_conformance and GET and projects")
COMMAND_CASES = [
    ("hang", RULES_RUN, "did not answer within 2 s"),
    ("drip", RULES_RUN, "did not answer within 2 s"),
    ("drip-headers", RULES_RUN, "did not answer within 2 s"),
    ("reset", RULES_RUN, "connection reset by the target mid-answer"),
    ("invalid-json", RULES_RUN, "not valid JSON (Content-Type application/json)"),
    ("huge", RULES_RUN, "answered more than 2 MiB"),
    ("storm", RULES_RUN, "→ 50"),
    ("redirect", RULES_RUN, "a redirect to another origin"),
    ("wrong-type", RULES_RUN, "not JSON (Content-Type text/html"),
    ("hang", PHASES_RUN, "did not answer within 2 s"),
    ("drip", PHASES_RUN, "did not answer within 2 s"),
    ("reset", PHASES_RUN, "connection reset by the target mid-answer"),
    ("invalid-json", PHASES_RUN, "JSON deserialization error"),
    ("huge", PHASES_RUN, "answered more than 2 MiB"),
    ("storm", PHASES_RUN, "Server error"),
    ("redirect", PHASES_RUN, "a redirect to another origin"),
    ("wrong-type", PHASES_RUN, "Undocumented Content-Type"),
]


def run_command(hostile: HostileTarget, tmp_path: Path, *args: str, timeout: float = 300):
    junit, report = tmp_path / "contracts.xml", tmp_path / "verdict.json"
    started = time.monotonic()
    result = run_cli("run", "--base-url", hostile.base_url, "--token", hostile.token, "--junit", str(junit),
                     "--report", str(report), "-q", *args, timeout=timeout, cwd=ROOT)
    took = time.monotonic() - started
    written = {"stdout": result.stdout, "stderr": result.stderr, "junit": junit.read_text(),
               "report": report.read_text()}
    return result, took, written


def verdict_section(stdout: str) -> str:
    return stdout.split("Modelux contract verdict", 1)[-1]


def assert_no_traceback_and_no_key(hostile: HostileTarget, written: dict[str, str]) -> None:
    for name, text in written.items():
        assert hostile.token not in text, f"the key is in the {name}"
        for trace in ("Traceback (most recent call last)", "Exception Group Traceback", "direct cause",
                      "INTERNALERROR"):
            assert trace not in text, f"{trace!r} in the {name}:\n{text[-3000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("behaviour, narrowed, says", COMMAND_CASES,
                         ids=[f"{b}-{'rules' if n is RULES_RUN else 'phases'}" for b, n, _ in COMMAND_CASES])
def test_the_command_judges_a_hostile_target(behaviour, narrowed, says, tmp_path):
    with HostileTarget(behaviour) as hostile:
        result, took, written = run_command(hostile, tmp_path, "--request-timeout", "2", *narrowed)
        other = list(hostile.other_host.requests)
        hostile_answers = hostile.hostile_answers
    shown = f"exit {result.returncode} in {took:.1f}s\n{result.stdout[-5000:]}\n{result.stderr[-2000:]}"
    assert result.returncode == 1, shown
    assert hostile_answers >= 1, shown
    assert says in verdict_section(result.stdout) and "Verdict: NOT CONFORMANT" in result.stdout, shown
    assert took < 2 * 3 + 60, shown  # a few requests at their 2 s limit, and a start of the suite, on a busy machine
    assert_no_traceback_and_no_key(hostile, written)
    assert other == [], other  # nothing, and so no Authorization, ever reached the other origin
    assert json.loads(written["report"])["conformant"] is False


@pytest.mark.slow
def test_the_command_stops_at_its_deadline_and_still_cleans_up(tmp_path):
    """A staging run whose rule meets a dripping answer: --max-time cuts that request short, the rule is not judged,
    what the rule created is removed after the deadline, and the reports say INCOMPLETE (exit 124)."""
    with HostileTarget("drip") as hostile:
        before = _project_names(hostile)
        result, took, written = run_command(hostile, tmp_path, "--staging", "--rate", "6000", "--request-timeout",
                                            "120", "--max-time", "12", *RULES_RUN)
        after = _project_names(hostile)
    shown = f"exit {result.returncode} in {took:.1f}s\n{result.stdout[-5000:]}\n{result.stderr[-2000:]}"
    assert result.returncode == EXIT_INCOMPLETE, shown
    assert "Verdict: INCOMPLETE — the deadline (--max-time 12 s) was reached: 1 of 1 not judged" in result.stdout, shown
    assert "Deadline — --max-time 12 s reached" in result.stdout and " 0 left" in result.stdout, shown
    assert after == before, "what the run created is removed after its deadline"
    assert took < 12 + 60, shown  # not the 120 s the dripping request was allowed
    assert_no_traceback_and_no_key(hostile, written)
    assert json.loads(written["report"])["deadline"]["not_judged"] == ["MX-PATCH-PERSISTS"]
    assert "the run's deadline (--max-time 12 s) was reached" in written["junit"]


def _project_names(hostile: HostileTarget) -> set[str]:
    answer = httpx.get(hostile.base_url + API + "/projects", headers={"Authorization": f"Bearer {hostile.token}"})
    return {project["name"] for project in answer.json()["data"]}


@pytest.mark.slow
def test_a_target_that_hangs_from_the_first_request_fails_the_run_at_once():
    with HostileTarget("hang", when=everything) as hostile:
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "contracts.cli", "run", "--base-url", hostile.base_url,
                                 "--token", hostile.token, "--request-timeout", "1", "-q"], cwd=ROOT,
                                capture_output=True, text=True, timeout=300)
        took = time.monotonic() - started
    shown = f"exit {result.returncode} in {took:.1f}s\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}"
    assert result.returncode == 1 and took < 1 + 60, shown
    assert "NOT CONFORMANT: GET /projects did not answer within 1 s" in result.stdout + result.stderr, shown
    assert_no_traceback_and_no_key(hostile, {"stdout": result.stdout, "stderr": result.stderr})
