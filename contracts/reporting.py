"""The run's reports and gate beyond pass/fail: reproductions, baseline, spec coverage, HTML, shards, progress.

Registered by `contracts.plugin` for sessions of the suite. On each worker it tells the recorder
(`contracts.exchanges`) which item runs, turns a failed item's exchanges into its failures (`contracts.repro`: id,
fingerprint, curl lines, what a replay judges) carried on the test report, keeps only this shard's items, and hands
its coverage tallies to the controller. On the controller it gathers the failures, judges them against the
baseline, computes coverage, sets the exit status (only new failures or a coverage below `--min-coverage` fail
a run that has either option), prints its sections after the verdict, and writes the HTML report.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict
from typing import Any, Callable

import pytest

from . import coverage, shard
from .exchanges import RECORDER
from .html_report import write_html
from .observations import OBSERVED
from .options import BY_DEST
from .repro import failures_of
from .rules.core import SuiteError
from .gate import gate, gate_lines
from .settings import RunSettings
from .summary import render_summary, verdict_json


def option(config: pytest.Config, dest: str) -> Any:
    return getattr(config.option, BY_DEST[dest].pytest_dest, None)


def item_kind(nodeid: str) -> str:
    """The kind of a suite item from its node id alone (what an xdist controller knows of items)."""
    if "test_conformance[" in nodeid:
        return "conformance"
    if "stateful" in nodeid.lower():
        return "stateful"
    return "rule"


class ReportingPlugin:
    def __init__(self, config: pytest.Config, suite: Any, is_worker: bool, *, settings: Callable[[], RunSettings],
                 describe: Callable[[pytest.Item], tuple[str, str, str]], in_suite: Callable[[pytest.Item], bool],
                 failure_lines: Callable[[pytest.TestReport], list[str]]):
        self.config = config
        self.suite = suite  # the suite's session plugin: its `results`, `report_extras`
        self.is_worker = is_worker
        # what the plugin knows of the run and its items (passed in: the plugin imports this module)
        self.settings, self.describe, self.in_suite, self.failure_lines = settings, describe, in_suite, failure_lines
        self.started = time.monotonic()
        text = option(config, "shard")
        try:
            self.shard = shard.parse(text) if text else None
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        if option(config, "baseline_update") and not option(config, "baseline"):
            raise pytest.UsageError("--baseline-update needs --baseline FILE (the file to write)")
        self.extras: dict[str, Any] | None = None
        self.totals: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.phase = "starting"
        self._last_progress = 0.0
        self.progress = not is_worker and (bool(option(config, "progress"))
                                           or (os.isatty(1) and not os.environ.get("CI")))
        # stderr as it is now, before pytest captures output around each test: progress shows during a long one
        self._out = os.fdopen(os.dup(2), "w", buffering=1) if self.progress else None

    # ── sharding ────────────────────────────────────────────────────────

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        if self.shard is None:
            return
        kept, dropped = [], []
        for item in items:
            if self.in_suite(item):
                kind, key, _ = self.describe(item)
                (kept if shard.keeps(self.shard, kind, key) else dropped).append(item)
            else:
                kept.append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept

    # ── exchanges of each item, failures of a failed one ────────────────

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        RECORDER.start(item.nodeid)
        try:
            return (yield)
        finally:
            RECORDER.take()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        if not report.failed or call.when == "teardown" or (call.excinfo is not None
                                                            and call.excinfo.errisinstance(SuiteError)):
            return report
        props = dict(item.user_properties)
        if "mx_kind" not in props:
            return report
        settings = self.settings()
        entry = {"kind": props["mx_kind"], "key": props["mx_key"], "details": self.failure_lines(report)}
        documented = coverage.documented(settings.strict_spec)
        arguments = dict(api_url=settings.api_url, token=settings.token, other_token=settings.other_token,
                         documented=lambda label: (documented.get(label) or {}).get("statuses", []))
        try:
            found = failures_of(entry, report.longreprtext or "", list(RECORDER.exchanges), **arguments)
        except Exception as exc:  # noqa: BLE001 — a reproduction must never cost the run its verdict
            found = failures_of(entry, "", [], **arguments)
            for failure in found:
                failure["repro_error"] = f"{type(exc).__name__}: {exc}"
        report.mx_failures = found  # type: ignore[attr-defined]  (travels to the xdist controller)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        found = getattr(report, "mx_failures", None)
        if found:
            entry = self.suite.results.get(report.nodeid)
            if entry is not None:
                entry["failures"] = found
        if report.when == "call" or (report.when == "setup" and not report.passed):
            kind = item_kind(report.nodeid)
            self.done[kind] = self.done.get(kind, 0) + 1
            self.phase = {"conformance": "conformance (schemathesis examples/coverage/fuzzing)",
                          "stateful": "stateful walk", "rule": "domain rules"}[kind]
            self._show_progress()

    # ── progress ────────────────────────────────────────────────────────

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.is_worker or not self.progress:
            return
        self._stop = threading.Event()

        def tick() -> None:  # an item may take minutes (a fuzzed operation): say so every 15 s
            while not self._stop.wait(15):
                self._show_progress(force=True)

        threading.Thread(target=tick, name="mx-progress", daemon=True).start()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.is_worker:
            self._count(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        if not self.totals:
            self._count(ids)

    def _count(self, nodeids) -> None:
        for nodeid in nodeids:
            kind = item_kind(nodeid)
            self.totals[kind] = self.totals.get(kind, 0) + 1

    def _show_progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.progress or (not force and now - self._last_progress < 5):
            return
        self._last_progress = now
        parts = ", ".join(f"{name} {self.done.get(kind, 0)}/{self.totals[kind]}" for kind, name in
                          (("rule", "rules"), ("conformance", "operations"), ("stateful", "stateful"))
                          if self.totals.get(kind))
        elapsed = int(now - self.started)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        lead = ""
        if reporter is not None and threading.current_thread() is threading.main_thread():
            # On a line of its own, not in the middle of pytest's line of dots: pytest ends a file's line itself;
            # with -q its dots run on one line that no public API tells the end of, so start a new one.
            reporter.ensure_newline()
            lead = "\n" if self.config.get_verbosity() < 0 and self.done else ""
        if self._out is not None and not self._out.closed:
            self._out.write(f"{lead}[modelux-contracts] {elapsed // 60}:{elapsed % 60:02d} {self.phase}: {parts} done\n")

    # ── the end of the session ──────────────────────────────────────────

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        data = getattr(node, "workeroutput", {}).get("modelux_parameters")
        if data:
            RECORDER.merge_parameters(data)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker:
            self.config.workeroutput["modelux_parameters"] = RECORDER.parameters_json()
            return
        if getattr(self, "_stop", None) is not None:
            self._stop.set()
            self.phase = "finished"
            self._show_progress(force=True)
            self._out.close()
        results = self.suite.results
        if not results:
            return  # the run stopped before judging anything (a rejected token): nothing to add
        settings = self.settings()
        self.extras = gate(settings.strict_spec, results, {k: dict(v) for k, v in OBSERVED.statuses.items()},
                           RECORDER.parameters_json(), option(self.config, "baseline"),
                           bool(option(self.config, "baseline_update")), option(self.config, "min_coverage"))
        settings_data = {k: v for k, v in asdict(settings).items() if k not in ("token", "other_token")}
        elapsed = time.monotonic() - self.started
        self.extras["verdict_lines"] = (render_summary(settings, results, OBSERVED, elapsed)
                                        + gate_lines(self.extras, option(self.config, "report")))
        self.suite.report_extras.update(
            self.extras, settings=settings_data, observations=OBSERVED.to_json(),
            parameters=RECORDER.parameters_json(), elapsed=elapsed, shard=list(self.shard) if self.shard else None)
        if self.extras["exit_status"] is not None and int(session.exitstatus) in (0, 1, 3):
            session.exitstatus = self.extras["exit_status"]

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        if self.is_worker or self.extras is None:
            return
        for line in gate_lines(self.extras, option(config, "report")):
            markup = {"red": True} if line.startswith(("Gate: FAIL", "  NEW")) else \
                {"green": True} if line.startswith("Gate: PASS") else {}
            terminalreporter.write_line(line, **markup)
        html_path = option(config, "html")
        if html_path:
            write_html(html_path, {**verdict_json(self.settings(), self.suite.results, OBSERVED),
                                   **self.suite.report_extras})
