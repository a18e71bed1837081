"""pytest plugin of the contract suite: options, fixtures, guards, naming and the verdict summary.

Load it with `-p contracts.plugin` and point pytest at the suite (`contracts/suite`), or run
`modelux-contracts run`, which does both. Importing this module has no side effects; it only
acts on sessions that run the suite's modules (items under `contracts/suite`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from schemathesis.core.failures import FailureGroup

from .conformance import GuardedSession, phase_oracles
from .models import MODEL_CODES, MODEL_RULE
from .observations import OBSERVED
from .options import BY_DEST, OPTIONS, SUITE_DIR, Option, UsageError, settings_from
from .pacing import Deadline, DeadlineReached, Pacer
from .receiver import Receiver
from .redact import SECRETS
from .reporting import ReportingPlugin
from .rules.core import RuleViolation, SuiteError
from .ruleset import RULES, selected
from .settings import RunSettings
from .specs import api_label_map, operation_index
from .summary import (EXIT_INCOMPLETE, EXIT_SUITE_ERROR, SUITE_ERROR, failures, not_judged, render_summary,
                      suite_errors, verdict_json)
from .target import Guard, Registry, Target, TargetFault, TargetUnavailable, is_loopback


# Process-wide state the suite modules read at import time (they build schemathesis schemas then).
SETTINGS: RunSettings | None = None
RUNTIME: dict[str, Any] = {}


def current() -> RunSettings:
    if SETTINGS is None:
        raise RuntimeError("the contract suite runs under its plugin: pytest -p contracts.plugin contracts/suite")
    return SETTINGS


def shared_pacer() -> Pacer:
    return RUNTIME["pacer"]


def shared_registry() -> Registry:
    return RUNTIME["registry"]


def shared_guard() -> Guard:
    return RUNTIME["guard"]


def _target(settings: RunSettings, **shared: Any) -> Target:
    """The suite's client of the target, as the run's settings say (its pacer, and so its deadline, is the shared
    one)."""
    return Target(settings.base_url, settings.token, api_at_root=settings.api_at_root, staging=settings.staging,
                  pacer=shared_pacer(), timeout=settings.request_timeout, **shared)


def conformance_shard() -> tuple[int, int] | None:
    """(K, N) of `--shard K/N`, which `conformance_schema` narrows the phases' operations to; None unsharded."""
    return RUNTIME.get("shard")


def phase_session():
    """The requests session of the schemathesis phases (conformance and stateful share it, and so share what the
    generic oracles remember)."""
    if "session" not in RUNTIME:
        settings = current()
        RUNTIME["session"] = GuardedSession(shared_pacer(), shared_guard(), shared_registry(), settings.staging,
                                           api_url=settings.api_url, oracles=phase_oracles(settings, shared_pacer()),
                                           timeout=settings.request_timeout)
    return RUNTIME["session"]


# ── options ─────────────────────────────────────────────────────────────────


def _pytest_type(option: Option):
    """An argparse type for an option of the table: its values read as the command reads them."""

    def convert(text: str):
        try:
            return option.convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = option.dest
    return convert


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("modelux-contracts", "Modelux Management API contract suite")
    for option in OPTIONS:
        if option.command_only is not None:
            continue
        kwargs: dict[str, Any] = {"dest": option.pytest_dest, "help": option.help, "default": option.initial()}
        if option.kind == "flag":
            kwargs["action"] = "store_true"
        elif option.kind == "choice":
            kwargs["choices"] = option.choices
        elif option.kind in (int, float):
            kwargs["type"] = _pytest_type(option)
        group.addoption(option.pytest_name, **kwargs)


def _settings_from_options(config: pytest.Config) -> RunSettings:
    values = {option.dest: getattr(config.option, option.pytest_dest) for option in OPTIONS
              if option.command_only is None}
    try:
        return settings_from(values, workers=_worker_count(config),
                             known_rules=lambda code: code in RULES or code == MODEL_RULE, operations=api_label_map())
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def _worker_count(config: pytest.Config) -> int:
    numprocesses = getattr(config.option, "numprocesses", None)
    if isinstance(numprocesses, int) and numprocesses > 0:
        return numprocesses
    if hasattr(config, "workerinput"):
        return int(config.workerinput.get("workercount", 1))
    return 1


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _runs_suite(config: pytest.Config) -> bool:
    """Whether this session runs the suite at all (the plugin stays inert otherwise)."""
    if _is_worker(config):
        return "modelux_settings" in config.workerinput
    if any(str(a).split("::")[0] in ("contracts.suite", "contracts") or str(a).startswith("contracts.suite.")
           for a in config.args):
        return True  # --pyargs contracts.suite
    args = [Path(str(a).split("::")[0]).resolve() for a in config.args]
    return any(SUITE_DIR == a or SUITE_DIR in a.parents or a in SUITE_DIR.parents for a in args)


# ── configuration: settings, the embedded target, xdist hand-over ───────────


def pytest_configure(config: pytest.Config) -> None:
    global SETTINGS
    config.addinivalue_line("markers", "mx_rule(code): a domain rule of the Modelux contract suite")
    if not _runs_suite(config):
        return
    # the embedded mock's openapi-core warns on every request about erratum E16 (allowEmptyValue)
    config.addinivalue_line("filterwarnings", "ignore:Use of allowEmptyValue property is deprecated:DeprecationWarning")
    stack = ExitStack()
    config.stash[_STACK] = stack
    if _is_worker(config):
        SETTINGS = RunSettings(**config.workerinput["modelux_settings"])
    else:
        SETTINGS = _settings_from_options(config)
        if not SETTINGS.base_url:
            # The default target: the mock's public entry for tools, imported only when no --base-url is given.
            from mockserver.testing import new_token, serve_embedded

            embedded = stack.enter_context(serve_embedded(token=SETTINGS.token or new_token()))
            SETTINGS.base_url, SETTINGS.token, SETTINGS.embedded = embedded.base_url, embedded.token, True
            SETTINGS.other_token = embedded.other_token
        elif not SETTINGS.token:
            raise pytest.UsageError("--token (or MODELUX_TOKEN) is required with --base-url")
    SECRETS.add(SETTINGS.token, SETTINGS.other_token)
    per_process_rate = SETTINGS.rate_per_min / max(1, SETTINGS.workers) if SETTINGS.rate_per_min else None
    registry = Registry()
    RUNTIME.update(pacer=Pacer(per_process_rate, deadline=_deadline(config)), registry=registry,
                   guard=Guard(registry, SETTINGS.staging))
    suite = _SuitePlugin(config)
    # Registered first, so its hooks of the same order run after the suite's (its verdict sections follow the verdict).
    reporting = ReportingPlugin(config, suite, _is_worker(config), settings=current, describe=_describe,
                                in_suite=_in_suite, failure_lines=_failure_lines)
    config.pluginmanager.register(reporting, "modelux-contracts-reporting")
    RUNTIME["shard"] = reporting.shard
    config.pluginmanager.register(suite, "modelux-contracts-suite")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHandOver(), "modelux-contracts-xdist")


_STACK = pytest.StashKey[ExitStack]()


def _deadline(config: pytest.Config) -> Deadline:
    """The run's deadline, counted from the controller's start: workers receive it as a wall-clock time."""
    settings = current()
    if settings.max_time is None:
        return Deadline()
    if _is_worker(config):
        return Deadline(settings.max_time, at=time.monotonic() + config.workerinput["modelux_deadline"] - time.time())
    RUNTIME["deadline_wall"] = time.time() + settings.max_time
    return Deadline(settings.max_time)


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = config.stash.get(_STACK, None)
    if stack is not None:
        stack.close()
    junit = getattr(config.option, "xmlpath", None)
    if stack is not None and junit and Path(junit).is_file():  # written by pytest's junitxml at the session's end
        text = Path(junit).read_text()
        if SECRETS.found_in(text):
            Path(junit).write_text(SECRETS.mask(text))


class _XdistHandOver:
    """The controller decides settings (and starts the embedded mock); workers inherit them."""

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        data = asdict(current())
        data["rules"], data["phases"] = list(data["rules"]), list(data["phases"])
        node.workerinput["modelux_settings"] = data
        node.workerinput["workercount"] = current().workers
        if "deadline_wall" in RUNTIME:
            node.workerinput["modelux_deadline"] = RUNTIME["deadline_wall"]

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        data = getattr(node, "workeroutput", {}).get("modelux")
        if data:
            OBSERVED.merge(data)


# ── the session: guards, collection, fixtures, results ──────────────────────


KIND_ORDER = {"rule": 0, "model": 1, "webhook": 2, "conformance": 3, "stateful": 4}


class _SuitePlugin:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.results: dict[str, dict[str, Any]] = {}
        self.started = time.monotonic()
        self._heartbeat: threading.Thread | None = None
        self.report_extras: dict[str, Any] = {}  # what `contracts.reporting` adds to the JSON report

    # guard: a target that rejects the token must not "pass"
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if _is_worker(self.config):
            return
        settings = current()
        target = _target(settings)
        try:
            reply = target.get("/projects", guard=False)
        except TargetFault as exc:
            pytest.exit(f"modelux-contracts: NOT CONFORMANT: {SECRETS.mask(str(exc))}. The run stops here.",
                        returncode=1)
        except TargetUnavailable as exc:
            pytest.exit(f"modelux-contracts: cannot reach the target at {settings.api_url}: {exc}",
                        returncode=2)
        finally:
            target.close()
        if reply.status in (401, 403):
            pytest.exit(
                f"modelux-contracts: NOT CONFORMANT (or misconfigured): the target rejected the management key on "
                f"GET /projects with {reply.status}. Every check would only see 401s, so the run stops here "
                f"instead of passing. Check --token. Answer: {SECRETS.mask(reply.text[:200])}", returncode=1)
        if not reply.ok:
            pytest.exit(f"modelux-contracts: GET /projects with the management key answered {reply.status}, not 200; "
                        f"the target is not usable: {SECRETS.mask(reply.text[:200])}", returncode=1)
        if shared_pacer().paced and not _is_worker(self.config):
            self._start_heartbeat()

    def _start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(30):
                pacer = shared_pacer()
                sys.stderr.write(f"\n[modelux-contracts] {time.monotonic() - self.started:.0f}s: {pacer.sent} requests "
                                 f"sent, paced at {pacer.rate_per_min:.0f}/min, {pacer.throttled} throttled (429)\n")
                sys.stderr.flush()

        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=beat, name="mx-heartbeat", daemon=True)
        self._heartbeat.start()

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        settings = current()
        name = collection_path.name
        if name == "test_conformance.py" and (settings.rules_only or not {"examples", "coverage", "fuzzing"}
                                              & set(settings.phases)):
            return True
        if name == "test_stateful.py" and (settings.rules_only or "stateful" not in settings.phases):
            return True
        if name in ("test_rules.py", "test_webhooks.py") and settings.rules_only:
            chosen = selected(settings)
            if name == "test_webhooks.py":
                return not any("receiver" in r.needs for r in chosen) or None
            model = bool(set(settings.rules) & {*MODEL_CODES, MODEL_RULE})
            return not (model or any("receiver" not in r.needs for r in chosen)) or None
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        for index, item in enumerate(items):
            if not _in_suite(item):
                continue
            kind, key, title = _describe(item)
            if kind == "conformance" and item.nodeid.endswith("::" + item.originalname):
                items[index] = item = _named_after_its_name(item)
            item.user_properties.extend([("mx_kind", kind), ("mx_key", key), ("mx_title", title)])
            if config.pluginmanager.hasplugin("xdist") and kind in ("rule", "model", "webhook", "stateful"):
                # One worker runs the scenarios in order; the stateful walk (which may delete seeded projects)
                # comes after the rules that read them. Conformance items spread over the other workers.
                item.add_marker(pytest.mark.xdist_group("modelux-scenarios"))
        items.sort(key=lambda it: KIND_ORDER.get(_describe(it)[0], 9) if _in_suite(it) else -1)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Past the run's deadline, what is left is not run (and says why)."""
        deadline = shared_pacer().deadline
        if _in_suite(item) and deadline.passed():
            pytest.skip(deadline.reason())

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        """A rule that crashed is a suite error: its report says so, for the verdict and the exit status. A fault of
        the target is reported by what the target did, without a traceback of the suite; no report shows a key."""
        report = yield
        if call.excinfo is not None and call.excinfo.errisinstance(SuiteError):
            error = call.excinfo.value
            report.user_properties.append(("mx_suite_error", error.describe()))
        _plain_report(item, call, report)
        report.sections = [(name, SECRETS.mask(text)) for name, text in report.sections]
        return report

    @pytest.hookimpl(trylast=True)
    def pytest_exception_interact(self, node: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
        """Schemathesis formats its failures again here, with their traceback: the plain report once more."""
        _plain_report(node, call, report)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if "mx_kind" not in props:
            return
        if report.when != "call" and not (report.failed or report.skipped):
            return
        entry = self.results.setdefault(report.nodeid, {"kind": props["mx_kind"], "key": props["mx_key"],
                                                        "title": props.get("mx_title", ""), "outcome": "passed",
                                                        "details": []})
        suite_error = props.get("mx_suite_error")
        if report.failed and suite_error:
            entry.update(outcome="suite_error", error=suite_error, details=[f"{SUITE_ERROR}: {suite_error}"])
        elif report.failed:
            entry["outcome"] = "failed" if report.when == "call" else "error"
            entry["details"] = _failure_lines(report)
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"
            entry["details"] = [_skip_reason(report)]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if getattr(self, "_stop", None) is not None:
            self._stop.set()
        if _is_worker(self.config):
            self.config.workeroutput["modelux"] = OBSERVED.to_json()
            return
        if exitstatus == pytest.ExitCode.TESTS_FAILED and not failures(self.results) and suite_errors(self.results):
            # Only rules crashed: the suite's own bug, an exit status of its own (violations win over it).
            session.exitstatus = EXIT_SUITE_ERROR
        elif exitstatus == pytest.ExitCode.OK and not_judged(self.results):
            session.exitstatus = EXIT_INCOMPLETE  # the deadline kept something from being judged; nothing failed

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        if _is_worker(config):
            return
        settings = current()
        for line in render_summary(settings, self.results, OBSERVED, time.monotonic() - self.started):
            line = SECRETS.mask(line)
            markup = {"red": True} if line.startswith(("FAIL", "ERROR", "Verdict: NOT")) else \
                {"green": True} if line.startswith("Verdict: CONFORMANT") else {}
            terminalreporter.write_line(line, **markup)
        if settings.notes:
            for note in settings.notes:
                terminalreporter.write_line(f"note: {note}")
        report_path = getattr(config.option, BY_DEST["report"].pytest_dest)
        if report_path:
            Path(report_path).parent.mkdir(parents=True, exist_ok=True)
            Path(report_path).write_text(SECRETS.mask(json.dumps({**verdict_json(settings, self.results, OBSERVED),
                                                                  **self.report_extras}, indent=1)))


def _named_after_its_name(item: pytest.Item) -> pytest.Item:
    """The same schemathesis test, made again under its own name.

    Schemathesis names each operation's item `test_conformance[POST /projects]` but gives it the original name
    `test_conformance`, from which pytest 9 builds the node id: every operation would share one node id (and one
    JUnit name), which pytest-xdist cannot schedule. `from_parent` without an original name builds the node id from
    the item's own name; the item's public attributes carry everything else over.
    """
    return type(item).from_parent(item.parent, name=item.name, callobj=item.obj, test_func=item.test_function,
                                  test_name=item.test_name, operation_label=item.operation_label,
                                  operation_tags=item.operation_tags)


def _plain_report(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
    """A failure the target caused reads as what the target did, without the suite's traceback: a fault (no answer in
    time, a reset, a redirect…), a rule it broke that way, what schemathesis' checks found (and how to reproduce it).
    No report shows a key."""
    error = call.excinfo.value if call.excinfo is not None else None
    if report.failed and _in_suite(item) and isinstance(error, DeadlineReached):  # e.g. setting up a fixture
        report.outcome, report.longrepr = "skipped", (str(item.path), 0, f"Skipped: {error}")
    elif report.failed and _in_suite(item) and error is not None:
        fault = _target_fault(error)
        if fault is not None:
            report.longrepr = str(fault)
        elif isinstance(error, (FailureGroup, RuleViolation)):  # what the target did, and any falsifying example
            report.longrepr = "\n".join([str(error), *getattr(error, "__notes__", ())])
    if report.longrepr is not None and SECRETS.found_in(str(report.longrepr)):
        report.longrepr = SECRETS.mask(str(report.longrepr))


def _target_fault(error: BaseException | None) -> TargetUnavailable | None:
    """The target's fault behind a test's exception (Hypothesis may group it with others), or None."""
    if isinstance(error, TargetUnavailable):
        return error
    if isinstance(error, BaseExceptionGroup):
        return next((f for f in map(_target_fault, error.exceptions) if f is not None), None)
    return None


def _in_suite(item: pytest.Item) -> bool:
    return SUITE_DIR in Path(str(item.path)).resolve().parents


def _describe(item: pytest.Item) -> tuple[str, str, str]:
    """(kind, key, title) of a suite item: the operation or rule it judges."""
    label = getattr(item, "operation_label", None)
    if label:
        op_id = {v: k for k, v in operation_index().labels.items()}.get(label, "")
        return "conformance", label, op_id
    marker = item.get_closest_marker("mx_rule")
    if marker is not None:
        rule_kind = marker.kwargs.get("kind", "rule")
        return rule_kind, marker.args[0], marker.kwargs.get("title", "")
    if "stateful" in item.nodeid.lower():
        return "stateful", "stateful links", "schemathesis state machine over inferred links"
    return "other", item.name, ""


_CODE_LINE = re.compile(r"\b(MX-[A-Z0-9-]+[A-Z0-9]) \(([a-z0-9_]+)\): (.+)")
_ST_TITLE = re.compile(r"^[\s|+-]*- ((?:ST\d+ )?[A-Z][^\n]{3,120})$", re.M)
_CUSTOM = re.compile(r"(MX-[A-Z0-9-]+[A-Z0-9]): ([^\n]{0,200})")


def _failure_lines(report: pytest.TestReport) -> list[str]:
    text = report.longreprtext or ""
    lines: list[str] = []
    for match in _CODE_LINE.finditer(text):
        line = f"{match.group(1)} ({match.group(2)}): {match.group(3)[:300]}"
        if line not in lines:
            lines.append(line)
    if not lines:
        for match in _ST_TITLE.finditer(text):
            title = match.group(1).strip()
            if title not in lines and not title.startswith("Reproduce"):
                lines.append(title)
        for match in _CUSTOM.finditer(text):
            line = f"{match.group(1)}: {match.group(2)}"
            if line not in lines:
                lines.append(line)
    if not lines:
        last = [ln for ln in text.strip().splitlines() if ln.strip()]
        lines = [last[-1][:300]] if last else ["failed"]
    return lines[:6]


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")[:300]


# ── fixtures ────────────────────────────────────────────────────────────────


@pytest.fixture(scope="session")
def mx_settings() -> RunSettings:
    return current()


@pytest.fixture(scope="session")
def mx_target(mx_settings: RunSettings):
    """The suite's client of the target; at the end, cleans up what the run created (staging: everything)."""
    target = _target(mx_settings, registry=shared_registry(), guard=shared_guard())
    target.discover_identity()
    yield target
    if mx_settings.staging:
        report = target.cleanup()
        OBSERVED.left.extend({"kind": item.kind, "id": item.id, "reason": reason} for item, reason in report.left)
    target.close()


@pytest.fixture(scope="session")
def mx_receiver(mx_settings: RunSettings):
    """The webhook receiver, started on first use."""
    host = mx_settings.webhook_host
    bind = "127.0.0.1" if host is None or is_loopback(f"http://{host}") else "0.0.0.0"
    receiver = Receiver(bind_host=bind, port=mx_settings.webhook_port, public_host=host or "127.0.0.1").start()
    yield receiver
    receiver.stop()
