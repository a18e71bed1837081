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
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from . import baseline as baseline_file
from . import coverage, shard
from .exchanges import RECORDER
from .observations import OBSERVED
from .options import BY_DEST
from .repro import failures_of
from .rules.core import SuiteError
from .summary import (EXIT_CONFORMANT, EXIT_SUITE_ERROR, EXIT_VIOLATIONS, failures, render_summary, suite_errors,
                      verdict_json)

REPLAY_HINT = "modelux-contracts replay ID --report REPORT.json --base-url URL --token KEY"


def option(config: pytest.Config, dest: str) -> Any:
    return getattr(config.option, BY_DEST[dest].pytest_dest, None)


def item_kind(nodeid: str) -> str:
    """The kind of a suite item from its node id alone (what an xdist controller knows of items)."""
    if "test_conformance[" in nodeid:
        return "conformance"
    if "stateful" in nodeid.lower():
        return "stateful"
    return "rule"


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
        # a failed item without any recorded failure (it cannot happen, but would never pass silently)
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


class ReportingPlugin:
    def __init__(self, config: pytest.Config, suite: Any, is_worker: bool):
        self.config = config
        self.suite = suite  # the suite's session plugin: its `results`, `report_extras`
        self.is_worker = is_worker
        self.started = time.monotonic()
        text = option(config, "shard")
        try:
            self.shard = shard.parse(text) if text else None
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.extras: dict[str, Any] | None = None
        self.totals: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.phase = "starting"
        self._last_progress = 0.0
        self.progress = bool(option(config, "progress")) or (sys.stdout.isatty() and not os.environ.get("CI"))

    # ── sharding ────────────────────────────────────────────────────────

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        from .plugin import _describe, _in_suite

        if self.shard is None:
            return
        k, n = self.shard
        kept, dropped = [], []
        for item in items:
            if _in_suite(item):
                kind, key, _ = _describe(item)
                (kept if shard.shard_of(f"{kind}:{key}", n) == k else dropped).append(item)
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
        from .plugin import _failure_lines, current

        props = dict(item.user_properties)
        if "mx_kind" not in props:
            return report
        settings = current()
        entry = {"kind": props["mx_kind"], "key": props["mx_key"], "details": _failure_lines(report)}
        documented = coverage.documented(settings.strict_spec)
        report.mx_failures = failures_of(  # type: ignore[attr-defined]  (travels to the xdist controller)
            entry, report.longreprtext or "", list(RECORDER.exchanges), api_url=settings.api_url,
            token=settings.token, other_token=settings.other_token,
            documented=lambda label: (documented.get(label) or {}).get("statuses", []))
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
        sys.stderr.write(f"[modelux-contracts] {elapsed // 60}:{elapsed % 60:02d} {self.phase}: {parts} done\n")
        sys.stderr.flush()

    # ── the end of the session ──────────────────────────────────────────

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        data = getattr(node, "workeroutput", {}).get("modelux_parameters")
        if data:
            RECORDER.merge_parameters(data)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from .plugin import current

        if self.is_worker:
            self.config.workeroutput["modelux_parameters"] = RECORDER.parameters_json()
            return
        if getattr(self, "_stop", None) is not None:
            self._stop.set()
            self.phase = "finished"
            self._show_progress(force=True)
        results = self.suite.results
        if not results:
            return  # the run stopped before judging anything (a rejected token): nothing to add
        settings = current()
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
        from .plugin import current

        if self.is_worker or self.extras is None:
            return
        for line in gate_lines(self.extras, option(config, "report")):
            markup = {"red": True} if line.startswith(("Gate: FAIL", "  NEW")) else \
                {"green": True} if line.startswith("Gate: PASS") else {}
            terminalreporter.write_line(line, **markup)
        html_path = option(config, "html")
        if html_path:
            from .html_report import write_html

            write_html(html_path, {**verdict_json(current(), self.suite.results, OBSERVED), **self.suite.report_extras})
