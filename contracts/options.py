"""The options of a contract run, declared once.

`OPTIONS` is the one table: the command's options (`modelux-contracts run`, click), the plugin's pytest options
(`pytest_addoption`), the pytest command line the command builds (`pytest_args`) and the `RunSettings` a session
runs with (`settings_from`) are all made from it. Flag names, environment variables and defaults live here only.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from .settings import (DEFAULT_MAX_EXAMPLES, DEFAULT_REQUEST_TIMEOUT, PHASES, PROFILES, STAGING_MAX_EXAMPLES,
                       STAGING_RATE_PER_MIN, RunSettings, finds_operation)

SUITE_DIR = Path(__file__).resolve().parent / "suite"
PYTEST_INI = SUITE_DIR / "pytest.ini"


@dataclass(frozen=True)
class Option:
    flag: str  # the command's flag, e.g. "--base-url"
    dest: str  # its value's name: the command's parameter, `mx_<dest>` in pytest's namespace
    help: str
    kind: type | str = str  # str, int, float, "flag" (a switch), "choice" or "path" (of a file to write)
    default: Any = None
    envvar: str | None = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    short: str | None = None  # the command's short flag, e.g. "-w"
    pytest_flag: str | None = None  # the pytest option's flag, when it is not `flag` (a clash with pytest's own)
    command_only: Callable[[Any], list[str]] | None = None  # no pytest option: the command passes this instead
    setting: bool = False  # copied as is into the `RunSettings` field named `dest`

    @property
    def pytest_name(self) -> str:
        return self.pytest_flag or self.flag

    @property
    def pytest_dest(self) -> str:
        return f"mx_{self.dest}"

    def initial(self) -> Any:
        """The default, read from the environment variable when it is set."""
        if self.envvar and os.environ.get(self.envvar):
            return self.convert(os.environ[self.envvar])
        return self.default

    def convert(self, text: Any) -> Any:
        """A value of this option from its text; ValueError (saying why) when it is not one."""
        if text is None or self.kind in (str, "flag", "path"):
            return text
        if self.kind == "choice":
            if text not in self.choices:
                raise ValueError(f"{text!r} is not one of {', '.join(self.choices)}")
            return text
        try:
            value = self.kind(text)  # type: ignore[operator]
        except (TypeError, ValueError):
            raise ValueError(f"{text!r} is not {'an integer' if self.kind is int else 'a number'}") from None
        if self.minimum is not None and value < self.minimum or self.maximum is not None and value > self.maximum:
            bounds = (f"between {self.minimum:g} and {self.maximum:g}" if self.maximum is not None
                      else f"at least {self.minimum:g}")
            raise ValueError(f"{text} is not {bounds}")
        return value

    def to_pytest(self, value: Any) -> list[str]:
        """The pytest command-line arguments for this option's value (none for an unset one)."""
        if self.command_only is not None:
            return self.command_only(value) if value not in (None, False) else []
        if self.kind == "flag":
            return [self.pytest_name] if value else []
        return [self.pytest_name, str(value)] if value is not None else []


def _junit(path: str) -> list[str]:
    return ["--junitxml", path, "-o", "junit_family=xunit2", "-o", "junit_suite_name=modelux-contracts"]


def _workers(value: str) -> list[str]:
    if value in ("0", "1"):
        return []
    if value != "auto" and not value.isdigit():
        raise ValueError(f"--workers takes a number or 'auto', not {value!r}")
    return ["-n", str(os.cpu_count() or 2) if value == "auto" else value, "--dist", "loadgroup"]


OPTIONS: tuple[Option, ...] = (
    Option("--base-url", "base_url", "The API root: a URL with a path is used as given, a bare origin gets the "
           "spec's /api/manage/v1. Default: the embedded mock, in process.", envvar="MODELUX_BASE_URL", setting=True),
    Option("--api-at-root", "api_at_root", "The API sits at the root of the --base-url origin: nothing is appended.",
           kind="flag", default=False, setting=True),
    Option("--token", "token", "Management key of the target (env MODELUX_TOKEN).", envvar="MODELUX_TOKEN",
           setting=True),
    Option("--other-token", "other_token", "Management key of a second organization on the same target: enables "
           "the organization-isolation rule (env MODELUX_OTHER_TOKEN). The embedded mock provides one.",
           envvar="MODELUX_OTHER_TOKEN", setting=True),
    Option("--junit", "junit", "Write a JUnit XML report (one test per operation and per rule).", kind="path",
           command_only=_junit),
    Option("--workers", "workers", "Parallel workers (pytest-xdist); a number or 'auto'.", default="1", short="-w",
           command_only=_workers),
    Option("--max-examples", "max_examples", f"Examples per operation and stateful scenarios (default "
           f"{DEFAULT_MAX_EXAMPLES}; {STAGING_MAX_EXAMPLES} in staging mode).", kind=int, minimum=1),
    Option("--seed", "seed", "Seed, to reproduce a run (a random one is chosen and printed otherwise).", kind=int,
           pytest_flag="--contract-seed"),
    Option("--webhook-host", "webhook_host", "Host name the target uses to reach the built-in webhook receiver "
           "(default 127.0.0.1).", setting=True),
    Option("--webhook-port", "webhook_port", "Port of the webhook receiver (default: any free port).", kind=int,
           default=0, minimum=0, maximum=65535, setting=True),
    Option("--webhook-wait", "webhook_wait", "Seconds to wait for a delivery or a retry from a remote target.",
           kind=float, default=120.0, minimum=1, setting=True),
    Option("--strict-spec", "strict_spec", "Judge against the pristine upstream spec (spec gaps fail).", kind="flag",
           default=False, setting=True),
    Option("--staging", "staging", "Staging mode: paced, never touches what the run did not create, cleans up after "
           "itself.", kind="flag", default=False, setting=True),
    Option("--rate", "rate", f"Requests per minute (default: unpaced; {STAGING_RATE_PER_MIN:.0f} with --staging).",
           kind=float, minimum=0.1),
    Option("--profile", "profile", "strict: also check this project's own decisions (rules of source ours).",
           kind="choice", default="default", choices=PROFILES, setting=True),
    Option("--rules", "rules", "Only these rule codes, comma-separated (no schemathesis phases)."),
    Option("--phases", "phases", f"Schemathesis phases, comma-separated (default: {','.join(PHASES)}; `none` runs "
           "only the domain rules)."),
    Option("--operations", "operations", "Only the operations whose `METHOD /path` or operationId this regular "
           "expression finds (e.g. '^GET /logs', 'projects|budgets'), in the schemathesis phases; the domain rules "
           "and the stateful walk are not narrowed.", setting=True),
    Option("--request-timeout", "request_timeout", "Seconds one request may take, to connect and to answer in full; "
           "longer is a violation by the target.", kind=float, default=DEFAULT_REQUEST_TIMEOUT, minimum=0.1,
           setting=True),
    Option("--max-time", "max_time", "Seconds the whole run may take: then it stops, cleans up what it created and "
           "reports what it did not judge.", kind=float, minimum=1, setting=True),
    Option("--report", "report", "Write the verdict (per operation, per rule, spec gaps, cleanup) as JSON here.",
           kind="path", pytest_flag="--contract-report"),
    # Reporting and gating (contracts/reporting.py): reproductions, baseline, coverage, HTML, shards, progress.
    Option("--html", "html", "Write the verdict as one self-contained HTML file here.", kind="path",
           pytest_flag="--contract-html"),
    Option("--baseline", "baseline", "A file of known failures (by fingerprint): only new ones fail the run; the "
           "verdict lists new, known and fixed ones.", pytest_flag="--contract-baseline"),
    Option("--baseline-update", "baseline_update", "Write this run's failures to the --baseline file.", kind="flag",
           default=False, pytest_flag="--contract-baseline-update"),
    Option("--min-coverage", "min_coverage", "Fail the run when its spec coverage (operations, documented statuses "
           "and parameters exercised) is below this percentage.", kind=float, minimum=0, maximum=100,
           pytest_flag="--contract-min-coverage"),
    Option("--shard", "shard", "Run only shard K of N (K/N): operations and rules are split deterministically; "
           "`modelux-contracts merge` combines the shards' --report files.", pytest_flag="--contract-shard"),
    Option("--progress", "progress", "Report progress (phase, items done, elapsed) even when the output is not a "
           "terminal.", kind="flag", default=False, pytest_flag="--contract-progress"),
)
BY_DEST = {option.dest: option for option in OPTIONS}
# RunSettings fields no option sets as is: derived below from the options, or by the session.
DERIVED_SETTINGS = ("rate_per_min", "max_examples", "seed", "phases", "rules", "workers", "embedded", "notes")


def pytest_args(*, verbose: int = 1, extra: tuple[str, ...] = (), **values: Any) -> list[str]:
    """The pytest command line for the command's option values (also used by the proof tests)."""
    unknown = set(values) - set(BY_DEST)
    if unknown:
        raise TypeError(f"unknown options: {sorted(unknown)}")
    args = ["-c", str(PYTEST_INI), "--rootdir", str(SUITE_DIR), "-p", "contracts.plugin", str(SUITE_DIR),
            "--tb=short", "-W", "ignore::DeprecationWarning", "-p", "no:faker", "-p", "no:anyio"]
    args.append("-v" if verbose else "-q")
    if verbose > 1:
        args.append("-v")
    for option in OPTIONS:
        args += option.to_pytest(values.get(option.dest, option.default))
    return args + list(extra)


class UsageError(ValueError):
    """Options that do not make a run."""


def settings_from(values: Mapping[str, Any], workers: int = 1, known_rules: Callable[[str], bool] = lambda _: True,
                  operations: Mapping[str, str] | None = None) -> RunSettings:
    """The settings of a run from its option values (by `dest`; missing ones take their defaults). `operations`
    (operationId -> `METHOD /path`) lets `--operations` be refused when it finds none of them."""
    get = lambda dest: values.get(dest, BY_DEST[dest].default)  # noqa: E731
    _check_operations(get("operations"), operations)
    staging = bool(get("staging"))
    rules = tuple(c.strip().upper() for c in (get("rules") or "").split(",") if c.strip())
    phases = tuple(p.strip() for p in (get("phases") or ",".join(PHASES)).split(",") if p.strip() not in ("", "none"))
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise UsageError(f"unknown phase(s) {sorted(unknown)}; choose from {', '.join(PHASES)}")
    if staging and get("phases") is None:
        phases = ("examples", "fuzzing")  # no coverage sweep and no stateful walk at 60 requests a minute
    missing = [c for c in rules if not known_rules(c)]
    if missing:
        raise UsageError(f"unknown rule code(s): {', '.join(missing)} (see `modelux-contracts rules`)")
    seed = get("seed") if get("seed") is not None else random.SystemRandom().randrange(2**31)  # printed, reproducible
    rate = get("rate") if get("rate") is not None else (STAGING_RATE_PER_MIN if staging else None)
    plain = {option.dest: get(option.dest) for option in OPTIONS if option.setting}
    plain.update(base_url=plain["base_url"] or "", token=plain["token"] or "", staging=staging)
    return RunSettings(**plain, rate_per_min=rate, seed=seed, phases=phases, rules=rules, workers=workers,
                       max_examples=get("max_examples") or (STAGING_MAX_EXAMPLES if staging else DEFAULT_MAX_EXAMPLES))


def _check_operations(pattern: str | None, operations: Mapping[str, str] | None) -> None:
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"--operations {pattern!r} is not a regular expression: {exc}") from None
    if operations is not None and not any(finds_operation(pattern, label, op_id)
                                          for op_id, label in operations.items()):
        raise UsageError(f"--operations {pattern!r} finds no operation (they read like 'GET /projects/{{id}}' or "
                         "'getProject')")


def settings_fields_covered() -> set[str]:
    """RunSettings fields the table or the derivation above accounts for (a test keeps it complete)."""
    return {option.dest for option in OPTIONS if option.setting} | set(DERIVED_SETTINGS)


__all__ = ["OPTIONS", "Option", "UsageError", "pytest_args", "settings_from", "settings_fields_covered"]
